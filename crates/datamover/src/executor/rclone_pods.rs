//! The real pods: rclone child processes.

use super::{Pod, PodRunner};
use crate::backend::Embedded;
use crate::job::{Job, SyncProgress};
use crate::rclone::{self, Plan};
use crate::time;
use std::time::Duration;
use tokio::sync::watch;

/// Runs a Job's pod as `rclone sync <clone dir>/ <destination>`, with the secret's values,
/// `ADD_TIMESTAMP_PREFIX` and `additionalEnv` as its environment (as `envFrom` and `env`
/// give a pod). With `ADD_TIMESTAMP_PREFIX=true` the destination gains the
/// `YYYY-MM-DD-HHMMSS` folder of the Job's creation time, the same for every retry.
#[derive(Debug, Clone)]
pub struct RclonePods {
    cluster: Embedded,
}

impl RclonePods {
    /// Pods over the embedded backend's store, volumes and rclone binary.
    #[must_use]
    pub fn new(cluster: Embedded) -> Self {
        Self { cluster }
    }

    /// The source directory and the plan of `job`'s pod.
    fn plan(&self, job: &Job) -> Result<(std::path::PathBuf, Plan), String> {
        let ns = &job.metadata.namespace;
        let store = &self.cluster.store;
        let container = job.container().ok_or("the Job has no container")?;
        let secret_name = job.secret_name().ok_or("the Job names no secret")?;
        let secret = store
            .secret(ns, secret_name)
            .ok_or_else(|| format!("the secret {ns}/{secret_name} does not exist"))?;
        let values = secret
            .values()
            .map_err(|key| format!("secret {secret_name}: data.{key} is not valid base64 text"))?;
        let claim = job.claim_name().ok_or("the Job mounts no volume")?;
        let pvc = store
            .pvc(ns, claim)
            .ok_or_else(|| format!("the PVC {ns}/{claim} does not exist"))?;
        let mut prefixed = false;
        let mut extra = Vec::new();
        for e in &container.env {
            if e.name == "ADD_TIMESTAMP_PREFIX" {
                prefixed = e.value == "true";
            } else {
                extra.push((e.name.clone(), e.value.clone()));
            }
        }
        let prefix = prefixed.then(|| {
            time::prefix(
                time::parse_rfc3339(&job.metadata.creation_timestamp).unwrap_or_else(time::now_ms),
            )
        });
        let plan = Plan::new(&values, &extra, prefix.as_deref())
            .map_err(|e| format!("secret {secret_name}: {e}"))?;
        Ok((self.cluster.volume_dir(&pvc), plan))
    }
}

impl PodRunner for RclonePods {
    fn start(&self, job: &Job, progress: watch::Sender<SyncProgress>) -> Result<Pod, String> {
        let (source, plan) = self.plan(job)?;
        if !source.is_dir() {
            return Err(format!(
                "the volume {} is not a directory",
                source.display()
            ));
        }
        let child = rclone::spawn(&self.cluster.rclone, &source, &plan, &job.metadata.uid)?;
        let pid = child.id();
        Ok(Pod {
            pid,
            exit: Box::pin(async move { rclone::follow(child, &plan, &progress).await }),
        })
    }

    async fn stop_left_behind(&self, job: &Job, grace: Duration) {
        rclone::stop_left_behind(&job.metadata.uid, grace).await;
    }
}
