//! The scripted cluster the reconciler runs against, a DataMover to reconcile, and the
//! harness that reconciles it and reads the counters.

use datamover::backend::{CloneState, Cluster, ClusterError, SyncRequest};
use datamover::job::{self, Job};
use datamover::progress::SyncProgress;
use datamover::reconciler::{Context, reconcile};
use datamover::types::{Condition, DataMover, PersistentVolumeClaim, Secret};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tmc_runtime::Action;
use tokio::time::Instant;

/// A cluster held in memory whose failures are scripted.
#[derive(Default)]
pub(crate) struct Scripted {
    pub(crate) dm: Mutex<Option<DataMover>>,
    pub(crate) jobs: Mutex<HashMap<String, Job>>,
    pub(crate) version: Mutex<u64>,
    pub(crate) clone_fails: Option<&'static str>,
    pub(crate) create_job_fails: Option<&'static str>,
    pub(crate) delete_fails: Option<&'static str>,
    pub(crate) jobs_created: Mutex<u32>,
    /// Where a new clone stands (`Bound` when `None`).
    pub(crate) clone_state: Mutex<Option<CloneState>>,
    /// `None`: the default bind timeout.
    pub(crate) bind_timeout: Option<std::time::Duration>,
    /// Other DataMovers and schedules that exist (same secret, so the same destination).
    pub(crate) others: Vec<DataMover>,
}

impl Scripted {
    pub(crate) fn with(dm: DataMover) -> Self {
        Self {
            dm: Mutex::new(Some(dm)),
            ..Self::default()
        }
    }

    pub(crate) fn dm(&self) -> DataMover {
        self.dm.lock().unwrap().clone().unwrap()
    }

    pub(crate) fn job(&self) -> Job {
        self.jobs.lock().unwrap().values().next().cloned().unwrap()
    }

    /// What the Job controller would write.
    pub(crate) fn set_job_status(&self, f: impl FnOnce(&mut Job)) {
        let mut jobs = self.jobs.lock().unwrap();
        f(jobs.values_mut().next().unwrap());
    }
}

impl Cluster for Scripted {
    fn datamover(&self, _: &str, _: &str) -> Option<DataMover> {
        self.dm.lock().unwrap().clone()
    }

    async fn write_status(&self, dm: &DataMover) -> Result<DataMover, ClusterError> {
        let mut stored = self.dm.lock().unwrap();
        let current = stored.as_mut().unwrap();
        assert_eq!(
            current.metadata.resource_version, dm.metadata.resource_version,
            "writes carry the current version"
        );
        let mut version = self.version.lock().unwrap();
        *version += 1;
        current.status = dm.status.clone();
        current.metadata.resource_version = version.to_string();
        Ok(current.clone())
    }

    async fn claim_clone_name(&self, dm: &DataMover, secs: u64) -> Result<DataMover, ClusterError> {
        let mut claimed = dm.clone();
        claimed.status.restored_pvc_name = format!("{}-cloned-{secs}", dm.spec.source_pvc);
        self.write_status(&claimed).await
    }

    fn pvc(&self, namespace: &str, name: &str) -> Option<PersistentVolumeClaim> {
        let mut pvc = PersistentVolumeClaim::default();
        pvc.metadata.name = name.into();
        pvc.metadata.namespace = namespace.into();
        pvc.status.phase = "Bound".into();
        Some(pvc)
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        let mut secret = Secret::default();
        secret.metadata.name = name.into();
        secret.metadata.namespace = namespace.into();
        secret
            .string_data
            .insert("DESTINATION".into(), "remote:backups".into());
        Some(secret)
    }

    async fn clone_pvc(
        &self,
        _: &str,
        _: &PersistentVolumeClaim,
        _: &str,
    ) -> Result<CloneState, ClusterError> {
        match self.clone_fails {
            Some(e) => Err(ClusterError::Volume(e.into())),
            None => Ok(self
                .clone_state
                .lock()
                .unwrap()
                .unwrap_or(CloneState::Bound)),
        }
    }

    fn bind_timeout(&self) -> std::time::Duration {
        self.bind_timeout
            .unwrap_or(datamover::backend::DEFAULT_BIND_TIMEOUT)
    }

    async fn delete_pvc(&self, _: &str, _: &str) -> Result<(), ClusterError> {
        match self.delete_fails {
            Some(e) => Err(ClusterError::Volume(e.into())),
            None => Ok(()),
        }
    }

    fn check_sync(&self, _: &SyncRequest) -> Result<String, String> {
        Ok("remote:backups".into())
    }

    fn job(&self, _: &str, name: &str) -> Option<Job> {
        self.jobs.lock().unwrap().get(name).cloned()
    }

    fn movers(&self) -> Vec<DataMover> {
        let mut all = self.others.clone();
        all.extend(self.dm.lock().unwrap().clone());
        all
    }

    async fn create_job(&self, dm: &DataMover) -> Result<(Job, bool), ClusterError> {
        if let Some(e) = self.create_job_fails {
            return Err(ClusterError::Sync(e.into()));
        }
        let job = job::sync_job(dm);
        *self.jobs_created.lock().unwrap() += 1;
        self.jobs
            .lock()
            .unwrap()
            .insert(job.metadata.name.clone(), job.clone());
        Ok((job, true))
    }
}

pub(crate) fn datamover(cleanup: bool) -> DataMover {
    let mut dm = DataMover::default();
    dm.metadata.name = "nightly".into();
    dm.metadata.namespace = "default".into();
    dm.metadata.uid = "0a1b2c3d-uid".into();
    dm.metadata.resource_version = "0".into();
    dm.spec.source_pvc = "data".into();
    dm.spec.secret_name = "creds".into();
    dm.spec.delete_pvc_after_backup = cleanup;
    dm
}

pub(crate) struct Harness {
    pub(crate) cluster: Arc<Scripted>,
    pub(crate) ctx: Arc<Context<Scripted>>,
    pub(crate) metrics: tmc_metrics::Metrics,
}

impl Harness {
    pub(crate) fn new(cluster: Scripted) -> Self {
        let metrics = tmc_metrics::Metrics::builder()
            .upkeep_interval(None)
            .build()
            .unwrap();
        let cluster = Arc::new(cluster);
        let ctx = Arc::new(Context {
            cluster: Arc::clone(&cluster),
            metrics: metrics.collector(),
        });
        Self {
            cluster,
            ctx,
            metrics,
        }
    }

    /// One reconcile; it must not wait: the paused clock stays where it was.
    pub(crate) async fn step(&self) -> String {
        let before = Instant::now();
        let action = reconcile(Arc::new(self.cluster.dm()), Arc::clone(&self.ctx))
            .await
            .unwrap();
        assert_eq!(Instant::now(), before, "a reconcile waited");
        assert_eq!(action, Action::await_change());
        self.cluster.dm().status.phase
    }

    /// The `datamover_*` sample lines, histograms left out, sorted.
    pub(crate) fn counters(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .metrics
            .render()
            .lines()
            .filter(|l| l.starts_with("datamover_") && !l.starts_with("datamover_phase_duration"))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    pub(crate) fn condition(&self, type_: &str) -> Condition {
        self.cluster
            .dm()
            .status
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)
            .unwrap()
    }
}

pub(crate) fn complete(job: &mut Job, bytes: u64) {
    job.status.active = 0;
    job.status.succeeded = 1;
    job.status.progress = Some(SyncProgress {
        bytes,
        total_bytes: Some(bytes),
        files: 3,
        ..SyncProgress::default()
    });
    job.status.conditions.push(Condition {
        type_: "Complete".into(),
        status: "True".into(),
        ..Condition::default()
    });
}
