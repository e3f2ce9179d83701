//! The prune Job on Kubernetes ([`datamover::schedule::retention`]): the one Job builder's
//! prune Job, its container running [`PRUNE_SCRIPT`] in the rclone image, created by the
//! schedule reconciler and deleted once its outcome is in the schedule's status.

use super::{KubeCluster, cached};
use crate::objects;
use crate::reflect::Cached;
use datamover::backend::ClusterError;
use datamover::job::Job as SyncJob;
use datamover::schedule::retention;
use datamover::types::DataMover;
use k8s_openapi::api::batch::v1::Job;
use kube::api::DeleteParams;

/// The prune container's command: list the destination's folders (`rclone lsf
/// --dirs-only`, the destination read from the secret as the sync and restore Jobs read
/// it), select with restic's rules (`RETENTION`, the newest backup `NEWEST_BACKUP` kept,
/// `EXCLUDED_BACKUPS` and names that are not `YYYY-MM-DD-HHMMSS` never candidates: the
/// rules of [`retention::select`], in awk), `rclone purge` each folder pruned unless
/// `DRY_RUN=true`, and leave what it decided as the last JSON line of the termination
/// message (`{"msg":"retention","retention":{"kept":[...],"pruned":[...]}}`).
pub const PRUNE_SCRIPT: &str = concat!(
    destination_script!(),
    r#"folders=$(rclone lsf --dirs-only "$base")
decisions=$(printf '%s\n' "$folders" | sort -r | awk '
function days(y, m, d,   yy, era, yoe, mp, doy, doe) {
  yy = y - (m <= 2 ? 1 : 0); era = int(yy / 400); yoe = yy - era * 400
  mp = (m + 9) % 12; doy = int((153 * mp + 2) / 5) + d - 1
  doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
  return era * 146097 + doe - 719468
}
function valid(y, m, d, H, M, S,   dim) {
  if (m < 1 || m > 12 || d < 1 || H > 23 || M > 59 || S > 59) return 0
  dim = 31
  if (m == 4 || m == 6 || m == 9 || m == 11) dim = 30
  if (m == 2) dim = ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : 28
  return d <= dim
}
BEGIN {
  n = split(ENVIRON["EXCLUDED_BACKUPS"], ex, " ")
  for (i = 1; i <= n; i++) excluded[ex[i]] = 1
  n = split(ENVIRON["RETENTION"], rules, ",")
  for (i = 1; i <= n; i++) { split(rules[i], kv, "="); left[kv[1]] = kv[2] + 0 }
  newest = ENVIRON["NEWEST_BACKUP"]; first = 1
}
{
  name = $0; sub(/\/$/, "", name)
  if (name !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]-[0-9][0-9][0-9][0-9][0-9][0-9]$/) next
  if ((name in excluded) || (name in seen)) next
  y = substr(name, 1, 4) + 0; m = substr(name, 6, 2) + 0; d = substr(name, 9, 2) + 0
  if (!valid(y, m, d, substr(name, 12, 2) + 0, substr(name, 14, 2) + 0, substr(name, 16, 2) + 0)) next
  seen[name] = 1
  k = (first || name == newest); first = 0
  if (left["keepLast"] > 0) { left["keepLast"]--; k = 1 }
  dn = days(y, m, d)
  b["keepHourly"] = "h" substr(name, 1, 13); b["keepDaily"] = "d" substr(name, 1, 10)
  b["keepWeekly"] = "w" (dn - ((dn + 3) % 7 + 7) % 7); b["keepMonthly"] = "m" substr(name, 1, 7)
  for (r in b) if (left[r] > 0 && last[r] != b[r]) { left[r]--; last[r] = b[r]; k = 1 }
  print (k ? "keep " : "prune ") name
}')
kept=$(printf '%s\n' "$decisions" | sed -n 's/^keep //p')
pruned=$(printf '%s\n' "$decisions" | sed -n 's/^prune //p')
if [ "${DRY_RUN:-false}" != true ]; then
  for name in $pruned; do rclone purge "$base/$name"; done
fi
list() { printf '%s\n' "$1" | awk 'NF { printf "%s\"%s\"", (n++ ? "," : ""), $0 }'; }
printf '{"level":"notice","msg":"retention","retention":{"kept":[%s],"pruned":[%s]}}\n' \
  "$(list "$kept")" "$(list "$pruned")" >> "${RCLONE_LOG_FILE:-/dev/termination-log}"
"#
);

/// The prune Job as the API server receives it: `described` (a
/// [`prune_job`](retention::prune_job)) with its container running [`PRUNE_SCRIPT`].
///
/// # Errors
/// A message when the description does not read as a `batch/v1` Job (an
/// `additionalEnv[].valueFrom` that is not an `EnvVarSource`).
pub fn prune_job_object(
    described: &SyncJob,
    additional_env: &[datamover::types::EnvVar],
) -> Result<Job, String> {
    let what = format!(
        "DataMoverSchedule {}: spec",
        described
            .metadata
            .labels
            .get(datamover::schedule::SCHEDULE_LABEL)
            .map_or("", String::as_str)
    );
    let mut job = objects::to_kube(described, &what, additional_env)?;
    let pod = job
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .ok_or("the prune Job has no pod template")?;
    for c in &mut pod.containers {
        c.command = Some(vec!["/bin/sh".into(), "-c".into(), PRUNE_SCRIPT.into()]);
    }
    Ok(job)
}

impl KubeCluster {
    /// The cached prune Jobs in `namespace` owned by the schedule with `uid`.
    pub(super) fn cached_prune_jobs(&self, namespace: &str, uid: &str) -> Vec<SyncJob> {
        self.inner
            .jobs
            .state()
            .iter()
            .filter(|j| {
                j.metadata.namespace.as_deref() == Some(namespace)
                    && objects::owned_by(&j.metadata, uid)
            })
            .filter_map(|j| <SyncJob as Cached>::convert(j, self))
            .filter(retention::is_prune)
            .collect()
    }

    /// Every cached DataMover.
    pub(super) fn cached_datamovers(&self) -> Vec<DataMover> {
        self.inner
            .datamovers
            .state()
            .iter()
            .filter_map(|o| <DataMover as Cached>::convert(o, self))
            .collect()
    }

    /// Creates (or adopts) the prune Job `job`.
    pub(super) async fn create_prune(&self, job: SyncJob) -> Result<(SyncJob, bool), ClusterError> {
        let ns = job.metadata.namespace.clone();
        let owner = job
            .metadata
            .owner_references
            .first()
            .map(|r| r.uid.clone())
            .unwrap_or_default();
        let schedule: Option<datamover::schedule::DataMoverSchedule> = job
            .metadata
            .owner_references
            .first()
            .and_then(|r| cached(self, &ns, &r.name));
        let env = schedule.map(|s| s.spec.additional_env).unwrap_or_default();
        let object = prune_job_object(&job, &env)
            .map_err(|e| ClusterError::Sync(format!("creating the prune job: {e}")))?;
        let api = self.ns::<Job>(&ns);
        let (created, fresh) = self
            .create_or_adopt(
                &api,
                &object,
                ("DataMoverSchedule", &owner),
                ("create-job", "get-job"),
                "creating the prune job",
                ClusterError::Sync,
            )
            .await?;
        let readable = <SyncJob as Cached>::convert(&created, self)
            .ok_or_else(|| ClusterError::Sync("the created Job is unreadable".into()))?;
        self.inner.jobs.remember(created);
        Ok((readable, fresh))
    }

    /// Deletes a finished prune Job (background: its pods after it).
    pub(super) async fn delete_prune(&self, job: &SyncJob) -> Result<(), ClusterError> {
        let (ns, name) = (&job.metadata.namespace, &job.metadata.name);
        let api = self.ns::<Job>(ns);
        let dp = DeleteParams::background();
        match self.call("delete-job", || api.delete(name, &dp)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(crate::api::cluster_error(
                &e,
                ns,
                &format!("deleting the finished prune Job {ns}/{name}"),
                ClusterError::Sync,
            )),
        }
    }
}

#[cfg(test)]
mod tests;
