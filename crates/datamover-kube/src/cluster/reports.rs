//! A finished Job's report: its final transfer statistics, how long the check after its
//! sync took when one passed ([`datamover::verify::verified_ms`]), and, for a failed Job,
//! the last error rclone (or the check) printed, scrubbed of the Job's secret values; read
//! once from the termination message of its last pod (found by the Job controller's
//! `job-name` label), by a task of its own: never in the Job watch, so a slow or hanging
//! pod list stalls no other Job's events.
//!
//! A Job that finishes while its owner waits for it (a DataMover in `CreatingPod`, a
//! restore whose claim is not bound yet) is *held* while its report is read: it reads as
//! still running (its `Complete` or `Failed` condition held back) and its event is not
//! sent. Once the report is in, the Job is sent again, its owner reconciled, and the report
//! is in the Job's `status.progress` (and `status.lastPodError`). When the pods cannot be
//! listed, the Job is released without a report (a later event of it reads again, if its
//! owner still waits).
//!
//! A report lives as long as its Job: it is dropped when the Job is deleted (its watch
//! event, or a relist without it), and a Job recreated under the same name (another uid)
//! never reads its predecessor's.

use super::{KubeCluster, convert, write};
use crate::reflect::{Cached, key_of};
use datamover::job::{Job as SyncJob, JobOutcome};
use datamover::progress::SyncProgress;
use datamover::types::Secret;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ListParams;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use tmc_runtime::ObjectKey;

/// The reports of the cached Jobs, by Job.
#[derive(Debug, Default)]
pub(super) struct Reports(RwLock<HashMap<ObjectKey, Report>>);

#[derive(Debug)]
struct Report {
    /// The Job's uid: a Job recreated under the same name has a report of its own.
    uid: String,
    /// `None` while it is being read.
    read: Option<Read>,
}

/// What the last pod's termination message said.
#[derive(Debug, Default, PartialEq)]
struct Read {
    stats: Option<SyncProgress>,
    error: Option<String>,
    /// A prune Job's decision (its last `"msg":"retention"` line).
    retention: Option<datamover::schedule::retention::Selection>,
    /// The pods that failed their check after the sync ([`datamover::verify`]).
    failed_checks: u32,
}

fn uid(meta: &ObjectMeta) -> &str {
    meta.uid.as_deref().unwrap_or_default()
}

impl Reports {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ObjectKey, Report>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the Job `meta` describes is held: its report is being read.
    pub(super) fn holds(&self, meta: &ObjectMeta) -> bool {
        self.read()
            .get(&key_of(meta))
            .is_some_and(|r| r.uid == uid(meta) && r.read.is_none())
    }

    /// The Job as the reconciler reads it: with its report, or, while that is read, as
    /// still running.
    pub(super) fn apply(&self, meta: &ObjectMeta, job: &mut SyncJob) {
        let reports = self.read();
        let Some(report) = reports.get(&key_of(meta)).filter(|r| r.uid == uid(meta)) else {
            return;
        };
        match &report.read {
            None => {
                job.status
                    .conditions
                    .retain(|c| c.type_ != "Complete" && c.type_ != "Failed");
                job.status.completion_time.clear();
            }
            Some(read) => {
                if let Some(stats) = read.stats {
                    job.status.progress = Some(stats);
                }
                if let Some(error) = &read.error {
                    job.status.last_pod_error.clone_from(error);
                }
                if let Some(selection) = &read.retention {
                    job.status.retention = Some(selection.clone());
                }
                job.status.failed_checks = Some(read.failed_checks);
            }
        }
    }

    /// Drops the report of the Job with `key` (it was deleted).
    pub(super) fn remove(&self, key: &ObjectKey) {
        write(&self.0).remove(key);
    }

    /// How many Jobs have a report, read or being read.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.read().len()
    }
}

impl KubeCluster {
    /// Starts reading the report of the Job `object` when it finished while its owner
    /// waits and has none yet; returns at once.
    pub(super) fn observe_job(&self, object: &Job) {
        let key = key_of(&object.metadata);
        let uid = uid(&object.metadata).to_owned();
        let reports = &self.inner.reports;
        let known = reports.read().get(&key).map(|r| r.uid == uid);
        match known {
            // Read, or being read: once per Job.
            Some(true) => return,
            // A predecessor's, under the same name.
            Some(false) => reports.remove(&key),
            None => {}
        }
        let Some(job) = convert::<SyncJob>(object) else {
            return;
        };
        let Some(outcome) = job.outcome() else {
            return;
        };
        let owner_waits = job.metadata.owners("DataMover").iter().any(|k| {
            datamover::backend::Cluster::datamover(
                self,
                k.namespace().unwrap_or_default(),
                k.name(),
            )
            .is_some_and(|dm| dm.status.phase == datamover::reconciler::phase::CREATING_POD)
        });
        let restore_waits = datamover::populator::job::is_restore(&job)
            && job
                .metadata
                .owners("PersistentVolumeClaim")
                .iter()
                .any(|k| {
                    datamover::backend::Cluster::pvc(
                        self,
                        k.namespace().unwrap_or_default(),
                        k.name(),
                    )
                    .is_some_and(|p| p.status.phase != "Bound")
                });
        // A schedule records its prune once, from the Job as it reads it: held until the
        // decision the pod left is in.
        let prune_done =
            datamover::schedule::retention::is_prune(&job) && outcome == JobOutcome::Complete;
        if !owner_waits && !restore_waits && !prune_done {
            return;
        }
        let failed = matches!(outcome, JobOutcome::Failed(_));
        write(&reports.0).insert(
            key.clone(),
            Report {
                uid: uid.clone(),
                read: None,
            },
        );
        let this = self.clone();
        tokio::spawn(async move {
            // rclone's words may carry the secret's values (the bucket in a remote's
            // name): scrubbed before they reach a status, an Event or a log, with the
            // secret as cached once the Secret cache has listed (a Job's event may come
            // before that, at start).
            let secrets = if failed {
                Secret::reflected(&this).wait_synced().await;
                this.secret_values(&job)
            } else {
                Vec::new()
            };
            let (namespace, name) = (&job.metadata.namespace, &job.metadata.name);
            let read = this.read_report(namespace, name, failed, &secrets).await;
            this.deliver(&key, &uid, read);
        });
    }

    /// The values of the secret `job`'s pods take their environment from (none when it is
    /// gone or unreadable: then there is nothing of it to scrub that the operator knows).
    fn secret_values(&self, job: &SyncJob) -> Vec<String> {
        job.secret_name()
            .and_then(|name| {
                datamover::backend::Cluster::secret(self, &job.metadata.namespace, name)
            })
            .and_then(|secret| secret.values().ok())
            .map(|values| values.into_values().collect())
            .unwrap_or_default()
    }

    /// The report of Job `name`, from its last pod; `None` when the pods cannot be listed.
    async fn read_report(
        &self,
        namespace: &str,
        name: &str,
        failed: bool,
        secrets: &[String],
    ) -> Option<Read> {
        let api = self.ns::<core::Pod>(namespace);
        let lp = ListParams::default().labels(&format!("job-name={name}"));
        match self.call("list-pods", || api.list(&lp)).await {
            Ok(pods) => Some(report(&pods.items, failed, secrets)),
            Err(e) => {
                tracing::warn!(error = %e, job = %format!("{namespace}/{name}"), "cannot read the sync pod's statistics");
                None
            }
        }
    }

    /// Keeps what was read of the Job `key` (unless it was deleted, or replaced, meanwhile)
    /// and sends the Job again, so its owner is reconciled with it.
    fn deliver(&self, key: &ObjectKey, uid: &str, read: Option<Read>) {
        {
            let mut reports = write(&self.inner.reports.0);
            if reports.get(key).is_none_or(|r| r.uid != uid) {
                return;
            }
            match read {
                Some(read) => {
                    if let Some(r) = reports.get_mut(key) {
                        r.read = Some(read);
                    }
                }
                None => {
                    reports.remove(key);
                }
            }
        }
        SyncJob::reflected(self).resend(key, self);
    }
}

/// The report in the termination message of the last of `pods` that has one; for a
/// `failed` Job, the last error rclone printed there ([`datamover::progress::last_error`]:
/// a JSON error line, or the plain line it prints when it cannot start), every one of
/// `secrets` scrubbed.
fn report(pods: &[core::Pod], failed: bool, secrets: &[String]) -> Read {
    let last = pods
        .iter()
        .filter_map(|p| {
            Some((
                p.metadata.creation_timestamp.clone(),
                termination_message(p)?,
            ))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, message)| message);
    let error = last
        .as_deref()
        .filter(|_| failed)
        .and_then(datamover::progress::last_error)
        .map(|e| datamover::progress::scrub(&e, secrets.iter().map(String::as_str)));
    let retention = last.as_deref().and_then(prune_decision);
    let verified_ms = last.as_deref().and_then(datamover::verify::verified_ms);
    let mut stats = last.as_deref().and_then(datamover::progress::final_stats);
    // A check that passed after the sync (`spec.verify`): its milliseconds, for the
    // reconciler's `status.verifiedAt`, `Verified` condition and `datamover_verify_*`.
    if let Some(ms) = verified_ms {
        stats.get_or_insert_default().verified_ms = Some(ms);
    }
    Read {
        stats,
        error,
        retention,
        failed_checks: failed_checks(pods),
    }
}

/// How many of `pods` failed their check after the sync: a failed container whose
/// termination message's last error is a check's ([`datamover::verify::FAILED`]).
fn failed_checks(pods: &[core::Pod]) -> u32 {
    let failed = |p: &&core::Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.name == "rclone")
            .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
            .any(|t| t.exit_code != 0)
    };
    let checks = pods
        .iter()
        .filter(failed)
        .filter_map(termination_message)
        .filter_map(|m| datamover::progress::last_error(&m))
        .filter(|e| e.starts_with(datamover::verify::FAILED))
        .count();
    u32::try_from(checks).unwrap_or(u32::MAX)
}

/// The decision a prune pod left as its last `"msg":"retention"` JSON line.
fn prune_decision(message: &str) -> Option<datamover::schedule::retention::Selection> {
    message
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter(|v| v["msg"] == "retention")
        .find_map(|v| serde_json::from_value(v["retention"].clone()).ok())
}

/// The termination message of a pod's sync container, if it terminated with one.
fn termination_message(pod: &core::Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == "rclone")?
        .state
        .as_ref()?
        .terminated
        .as_ref()?
        .message
        .clone()
        .filter(|m| !m.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::sync::Arc;
    use tmc_runtime::{Event, Store};
    use tokio::sync::Notify;

    /// A finished sync Job of DataMover `nightly`.
    fn finished(name: &str) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": "default", "resourceVersion": "31",
                            "uid": format!("uid-{name}"),
                            "ownerReferences": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                                "kind": "DataMover", "name": "nightly", "uid": "uid-nightly",
                                "controller": true}]},
               "spec": {"template": {"spec": {"containers": [{"name": "rclone", "image": "rclone"}]}}},
               "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})
    }

    fn list(kind: &str, items: &[Value]) -> Value {
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "40"}, "items": items})
    }

    fn lines(values: &[Value]) -> kube::client::Body {
        let text: String = values.iter().map(|v| format!("{v}\n")).collect();
        kube::client::Body::from(text.into_bytes())
    }

    /// The API server: nightly waits in `CreatingPod` for its two Jobs, whose pods list
    /// with final statistics. No Job is listed; the first Job watch, once `gaps[0]` is
    /// notified, adds both Jobs, finished; the second, once `gaps[1]` is, deletes `first`
    /// and ends in 410 Gone; the relist has no Job (`second` went while no watch ran).
    /// Every other watch stays open.
    fn serve(gaps: [Arc<Notify>; 2]) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        tokio::spawn(async move {
            let (mut job_watches, mut held) = (0, Vec::new());
            let stats = r#"{"level":"notice","msg":"done","stats":{"bytes":4096,"transfers":3}}"#;
            while let Some((request, send)) = handle.next_request().await {
                let path = request.uri().path().to_owned();
                let watch = request
                    .uri()
                    .query()
                    .unwrap_or_default()
                    .contains("watch=true");
                let body = match (path.as_str(), watch) {
                    ("/apis/batch/v1/jobs", true) if job_watches < 2 => {
                        let added = |name| json!({"type": "ADDED", "object": finished(name)});
                        let gone = json!({"type": "ERROR", "object": {"kind": "Status",
                            "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "code": 410, "reason": "Expired", "message": "too old"}});
                        let events = if job_watches == 0 {
                            vec![added("first"), added("second")]
                        } else {
                            vec![
                                json!({"type": "DELETED", "object": finished("first")}),
                                gone,
                            ]
                        };
                        let gap = Arc::clone(&gaps[job_watches]);
                        job_watches += 1;
                        tokio::spawn(async move {
                            gap.notified().await;
                            send.send_response(http::Response::new(lines(&events)));
                        });
                        continue;
                    }
                    (_, true) => {
                        held.push(send);
                        continue;
                    }
                    ("/apis/datamover.a-cup-of.coffee/v1alpha1/datamovers", false) => list(
                        "DataMoverList",
                        &[json!({
                            "apiVersion": "datamover.a-cup-of.coffee/v1alpha1", "kind": "DataMover",
                            "metadata": {"name": "nightly", "namespace": "default", "uid": "uid-nightly",
                                         "resourceVersion": "10"},
                            "spec": {"sourcePvc": "data", "secretName": "creds"},
                            "status": {"phase": "CreatingPod"}})],
                    ),
                    ("/api/v1/namespaces/default/pods", false) => list(
                        "PodList",
                        &[json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "pod", "namespace": "default"},
                        "status": {"containerStatuses": [{"name": "rclone", "ready": false,
                            "restartCount": 0, "image": "", "imageID": "",
                            "state": {"terminated": {"exitCode": 0, "message": stats}}}]}})],
                    ),
                    _ => list("List", &[]),
                };
                send.send_response(http::Response::new(lines(&[body])));
            }
        });
        kube::Client::new(service, "default")
    }

    /// A Job's report is dropped when the Job goes: deleted under the watch, or missing
    /// from a relist after 410 Gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_jobs_report_goes_with_the_job() {
        let gaps = [Arc::new(Notify::new()), Arc::new(Notify::new())];
        let metrics = tmc_metrics::Metrics::builder()
            .upkeep_interval(None)
            .build()
            .unwrap();
        let client = serve([Arc::clone(&gaps[0]), Arc::clone(&gaps[1])]);
        let cluster = KubeCluster::new(client, metrics.collector(), crate::Options::default());
        let mut events = Store::<SyncJob>::watch(&cluster);
        let _watches = cluster.spawn_watches();
        cluster.wait_synced().await;
        // nightly is cached, waiting: its Jobs finish.
        gaps[0].notify_one();
        // Both reports read: each Job is sent again, with its statistics.
        let mut read = Vec::new();
        while read.len() < 2 {
            match tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
                .await
                .unwrap()
                .unwrap()
            {
                Event::Applied(job) if job.status.progress.is_some() => {
                    read.push(job.metadata.name.clone());
                }
                _ => {}
            }
        }
        read.sort();
        assert_eq!(read, ["first", "second"]);
        assert_eq!(cluster.inner.reports.len(), 2);

        gaps[1].notify_one();
        let mut deleted = Vec::new();
        while deleted.len() < 2 {
            match tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
                .await
                .unwrap()
                .unwrap()
            {
                Event::Deleted(key) => deleted.push(key.to_string()),
                Event::Applied(_) => {}
            }
        }
        assert_eq!(deleted, ["default/first", "default/second"]);
        assert_eq!(cluster.inner.reports.len(), 0, "no report outlives its Job");
    }
}
