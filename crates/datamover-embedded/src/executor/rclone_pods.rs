//! The real pods: rclone child processes.

use super::{Pod, PodRunner};
use crate::cluster::Embedded;
use crate::rclone::{self, Plan};
use datamover::job::{self, Job};
use datamover::progress::SyncProgress;
use datamover::time;
use datamover::types::{DataMover, HOST_PATH_ANNOTATION, PersistentVolumeClaim, Secret, Verify};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

/// Runs a Job's pod as `rclone sync <clone dir>/ <destination>`, with the secret's values
/// and the Job's `env` (`ADD_TIMESTAMP_PREFIX`, the CA bundle's, `additionalEnv`) as its
/// environment, as `envFrom` and `env` give a pod (a `valueFrom` of the Job's own secret
/// included). With `ADD_TIMESTAMP_PREFIX=true` the destination gains the
/// `YYYY-MM-DD-HHMMSS` folder of the Job's creation time, the same for every retry. The
/// Job's [`STATS_ENV`](datamover::job::STATS_ENV) is the kubelet's business (rclone's
/// statistics in the termination message): here rclone's statistics are read from its
/// stderr, so those variables are left out.
#[derive(Debug, Clone)]
pub struct RclonePods {
    pub(super) cluster: Embedded,
    /// What each succeeded prune pod decided, by Job uid, until the worker takes it.
    pub(super) selections: super::prune_pods::Selections,
}

impl RclonePods {
    /// Pods over the embedded backend's store, volumes and rclone binary.
    #[must_use]
    pub fn new(cluster: Embedded) -> Self {
        Self {
            cluster,
            selections: super::prune_pods::Selections::default(),
        }
    }

    /// The name and decoded values of the secret `job`'s pod takes its environment from.
    pub(super) fn secret_values(
        &self,
        job: &Job,
    ) -> Result<(String, BTreeMap<String, String>), String> {
        let ns = &job.metadata.namespace;
        let secret_name = job.secret_name().ok_or("the Job names no secret")?;
        let secret = self
            .cluster
            .store
            .object::<Secret>(ns, secret_name)
            .ok_or_else(|| format!("the secret {ns}/{secret_name} does not exist"))?;
        let values = secret
            .values()
            .map_err(|key| format!("secret {secret_name}: data.{key} is not valid base64 text"))?;
        Ok((secret_name.to_owned(), values))
    }

    /// The source directory and the plan of `job`'s pod.
    fn plan(&self, job: &Job) -> Result<(std::path::PathBuf, Plan), String> {
        let ns = &job.metadata.namespace;
        let store = &self.cluster.store;
        let container = job.container().ok_or("the Job has no container")?;
        let (secret_name, values) = self.secret_values(job)?;
        let claim = job.claim_name().ok_or("the Job mounts no volume")?;
        let pvc = store
            .object::<PersistentVolumeClaim>(ns, claim)
            .ok_or_else(|| format!("the PVC {ns}/{claim} does not exist"))?;
        let mut prefixed = false;
        let mut extra = Vec::new();
        for e in container.env.iter().filter(|e| !job::is_stats_env(e)) {
            if e.name == "ADD_TIMESTAMP_PREFIX" {
                prefixed = e.value == "true";
            } else if e.name == job::VERIFY_ENV {
                // The executor's own instruction, not rclone's.
            } else if let Some(value) = env_value(e, &secret_name, &values)? {
                extra.push((e.name.clone(), value));
            }
        }
        let prefix = prefixed.then(|| {
            time::prefix(
                time::parse_rfc3339(&job.metadata.creation_timestamp).unwrap_or_else(time::now_ms),
            )
        });
        let plan = Plan::new(&values, &extra, prefix.as_deref())
            .map_err(|e| format!("secret {secret_name}: {e}"))?;
        // A clone lives under the volumes dir; a source read directly (`copyMethod:
        // Direct`) may be a host path, checked against its roots as a clone's source is.
        if let Some(host) = pvc.metadata.annotations.get(HOST_PATH_ANNOTATION) {
            self.cluster.policy.check_host_path(host)?;
        }
        Ok((self.cluster.volume_dir(&pvc), plan))
    }
}

impl RclonePods {
    /// A restore Job's pod: `rclone copy <destination>/<RESTORE_PATH> <staging dir>`; the
    /// restore reconciler renames the staging dir to the PVC's directory as it binds the
    /// PVC, so the PVC's directory holds either
    /// nothing or the whole backup.
    fn start_restore(
        &self,
        job: &Job,
        progress: watch::Sender<SyncProgress>,
    ) -> Result<Pod, String> {
        let ns = &job.metadata.namespace;
        let container = job.container().ok_or("the Job has no container")?;
        let (secret_name, values) = self.secret_values(job)?;
        let claim = job.claim_name().ok_or("the Job mounts no volume")?;
        let mut path = None;
        let mut extra = Vec::new();
        for e in container.env.iter().filter(|e| !job::is_stats_env(e)) {
            if e.name == datamover::populator::job::RESTORE_PATH_ENV {
                path = Some(e.value.clone());
            } else if let Some(value) = env_value(e, &secret_name, &values)? {
                extra.push((e.name.clone(), value));
            }
        }
        let path = path.ok_or("the restore Job has no RESTORE_PATH")?;
        datamover::populator::check_path(&path).map_err(|e| format!("RESTORE_PATH: {e}"))?;
        crate::policy::check_env(&extra)?;
        let plan = Plan::new(&values, &extra, Some(path.trim_end_matches('/')))
            .map_err(|e| format!("secret {secret_name}: {e}"))?;
        let staging = self.cluster.volumes.restore_staging(ns, claim);
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)
            .map_err(|e| format!("creating {}: {e}", staging.display()))?;
        let child =
            rclone::spawn_restore(&self.cluster.rclone, &plan, &staging, &job.metadata.uid)?;
        let pid = child.id();
        // The PVC the Job fills (its owner): the copy lands only while it still exists.
        let (store, ns, claim) = (self.cluster.store.clone(), ns.clone(), claim.to_owned());
        let owner_uid = job
            .metadata
            .owner_references
            .first()
            .map(|r| r.uid.clone())
            .unwrap_or_default();
        Ok(Pod {
            pid,
            exit: Box::pin(async move {
                let copied = rclone::follow(child, &plan, &progress).await.map_err(|e| {
                    if e.contains("directory not found") {
                        format!(
                            "the backup {path:?} does not exist at {}: check spec.path of the DataMoverPopulator ({e})",
                            plan.scrub(&plan.destination)
                        )
                    } else {
                        e
                    }
                });
                let copied = match copied {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tokio::fs::remove_dir_all(&staging).await;
                        return Err(e);
                    }
                };
                if store
                    .object::<PersistentVolumeClaim>(&ns, &claim)
                    .is_none_or(|p| p.metadata.uid != owner_uid)
                {
                    let _ = tokio::fs::remove_dir_all(&staging).await;
                    return Err(format!(
                        "the PVC {ns}/{claim} was deleted during its restore; the copy is removed"
                    ));
                }
                // The whole copy waits in the staging dir: the restore reconciler moves it
                // into the PVC's directory in the step that makes the PVC `Bound`.
                Ok(copied)
            }),
        })
    }
}

/// The value a kubelet gives the Job's `env` entry `var`: its `value`, or, for a
/// `valueFrom.secretKeyRef` to the Job's own secret (the CA bundle's,
/// [`ca_bundle_env`](datamover::job::ca_bundle_env)), that key's value; `None` when an
/// optional key is missing (the variable is not set, as on Kubernetes).
///
/// # Errors
/// A message naming the variable for any other `valueFrom` (`additionalEnv` has none on
/// this backend: apply refuses it), or a missing key that is not optional.
pub(super) fn env_value(
    var: &datamover::types::EnvVar,
    secret_name: &str,
    values: &BTreeMap<String, String>,
) -> Result<Option<String>, String> {
    let Some(from) = &var.value_from else {
        return Ok(Some(var.value.clone()));
    };
    let field = |k: &str| from.pointer(&format!("/secretKeyRef/{k}")).cloned();
    let unsupported = || {
        format!(
            "env {}: valueFrom {from} is not supported by the embedded backend (only a key of the Job's own secret {secret_name})",
            var.name
        )
    };
    if field("name").as_ref().and_then(serde_json::Value::as_str) != Some(secret_name) {
        return Err(unsupported());
    }
    let key = field("key")
        .and_then(|k| k.as_str().map(str::to_owned))
        .ok_or_else(unsupported)?;
    match values.get(&key) {
        Some(value) => Ok(Some(value.clone())),
        None if field("optional") == Some(serde_json::Value::Bool(true)) => Ok(None),
        None => Err(format!(
            "env {}: the secret {secret_name} has no key {key}",
            var.name
        )),
    }
}

impl PodRunner for RclonePods {
    fn start(&self, job: &Job, progress: watch::Sender<SyncProgress>) -> Result<Pod, String> {
        if datamover::populator::job::is_restore(job) {
            return self.start_restore(job, progress);
        }
        if datamover::schedule::retention::is_prune(job) {
            return self.start_prune(job);
        }
        let (source, plan) = self.plan(job)?;
        if !source.is_dir() {
            return Err(format!(
                "the volume {} is not a directory",
                source.display()
            ));
        }
        // Checked at apply, and again here: a root removed across a restart, a symlink
        // swapped in, or a secret edited since must not let this pod's sync delete anything.
        crate::policy::check_local_destination(
            &self.cluster.policy,
            &plan.destination,
            &plan.env,
            &source,
        )?;
        let owner = job
            .metadata
            .owner_references
            .iter()
            .find(|o| o.kind == "DataMover")
            .and_then(|o| {
                self.cluster
                    .store
                    .object::<DataMover>(&job.metadata.namespace, &o.name)
            });
        // The first pod starts right after the reconciler checked the overlap rule to
        // create its Job; a retry (or a pod after a restart) may start much later.
        if let Some(dm) = owner.filter(|_| job.status.failed > 0) {
            datamover::reconciler::check_overlap(&self.cluster, &dm)?;
        }
        let verify = job
            .container()
            .and_then(|c| c.env.iter().find(|e| e.name == job::VERIFY_ENV))
            .map_or(Verify::None, |e| Verify::from_env(&e.value));
        let uid = job.metadata.uid.clone();
        let rclone_bin = self.cluster.rclone.clone();
        let child = rclone::spawn(&rclone_bin, &source, &plan, &uid)?;
        let pid = child.id();
        Ok(Pod {
            pid,
            exit: Box::pin(async move {
                let mut synced = rclone::follow(child, &plan, &progress).await?;
                if verify != Verify::None {
                    let ms =
                        crate::verify::check(&rclone_bin, &source, &plan, verify, &uid).await?;
                    synced.verified_ms = Some(ms);
                }
                Ok(synced)
            }),
        })
    }

    async fn stop_left_behind(&self, job: &Job, grace: Duration) {
        rclone::stop_left_behind(&job.metadata.uid, grace).await;
    }

    fn take_selection(&self, job: &Job) -> Option<datamover::schedule::retention::Selection> {
        self.selections.take(&job.metadata.uid)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use datamover::types::EnvVar;

    /// The CA bundle's `RCLONE_CA_CERT` takes the secret's `AWS_CA_BUNDLE`, as a kubelet
    /// would; without that key it is not set at all; any other source is refused by name.
    #[test]
    fn a_jobs_secret_key_ref_reads_the_jobs_own_secret() {
        let [cert, empty] = job::ca_bundle_env("creds");
        let values = BTreeMap::from([("AWS_CA_BUNDLE".to_owned(), "/etc/ca.pem".to_owned())]);
        assert_eq!(
            env_value(&cert, "creds", &values).unwrap().as_deref(),
            Some("/etc/ca.pem")
        );
        assert_eq!(env_value(&cert, "creds", &BTreeMap::new()).unwrap(), None);
        assert_eq!(
            env_value(&empty, "creds", &values).unwrap().as_deref(),
            Some("")
        );
        let mut required = cert.clone();
        required.value_from = Some(serde_json::json!(
            {"secretKeyRef": {"name": "creds", "key": "AWS_CA_BUNDLE"}}
        ));
        assert_eq!(
            env_value(&required, "creds", &BTreeMap::new()).unwrap_err(),
            "env RCLONE_CA_CERT: the secret creds has no key AWS_CA_BUNDLE"
        );
        assert_eq!(
            env_value(&cert, "other", &values).unwrap_err(),
            r#"env RCLONE_CA_CERT: valueFrom {"secretKeyRef":{"key":"AWS_CA_BUNDLE","name":"creds","optional":true}} is not supported by the embedded backend (only a key of the Job's own secret other)"#
        );
        assert_eq!(
            env_value(&EnvVar::new("A", "b"), "creds", &values)
                .unwrap()
                .as_deref(),
            Some("b")
        );
    }
}
