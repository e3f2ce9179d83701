//! The phase machine on a scripted cluster: every path, with the exact counters, and proof
//! that no reconcile waits (tokio's clock is paused and never advances during one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
struct Scripted {
    dm: Mutex<Option<DataMover>>,
    jobs: Mutex<HashMap<String, Job>>,
    version: Mutex<u64>,
    clone_fails: Option<&'static str>,
    create_job_fails: Option<&'static str>,
    delete_fails: Option<&'static str>,
    jobs_created: Mutex<u32>,
    /// Where a new clone stands (`Bound` when `None`).
    clone_state: Mutex<Option<CloneState>>,
    /// `None`: the default bind timeout.
    bind_timeout: Option<std::time::Duration>,
    /// Other DataMovers and schedules that exist (same secret, so the same destination).
    others: Vec<DataMover>,
}

impl Scripted {
    fn with(dm: DataMover) -> Self {
        Self {
            dm: Mutex::new(Some(dm)),
            ..Self::default()
        }
    }

    fn dm(&self) -> DataMover {
        self.dm.lock().unwrap().clone().unwrap()
    }

    fn job(&self) -> Job {
        self.jobs.lock().unwrap().values().next().cloned().unwrap()
    }

    /// What the Job controller would write.
    fn set_job_status(&self, f: impl FnOnce(&mut Job)) {
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

fn datamover(cleanup: bool) -> DataMover {
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

struct Harness {
    cluster: Arc<Scripted>,
    ctx: Arc<Context<Scripted>>,
    metrics: tmc_metrics::Metrics,
}

impl Harness {
    fn new(cluster: Scripted) -> Self {
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
    async fn step(&self) -> String {
        let before = Instant::now();
        let action = reconcile(Arc::new(self.cluster.dm()), Arc::clone(&self.ctx))
            .await
            .unwrap();
        assert_eq!(Instant::now(), before, "a reconcile waited");
        assert_eq!(action, Action::await_change());
        self.cluster.dm().status.phase
    }

    /// The `datamover_*` sample lines, histograms left out, sorted.
    fn counters(&self) -> Vec<String> {
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

    fn condition(&self, type_: &str) -> Condition {
        self.cluster
            .dm()
            .status
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)
            .unwrap()
    }
}

fn complete(job: &mut Job, bytes: u64) {
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

#[tokio::test(start_paused = true)]
async fn the_reconciler_should_create_the_job_return_mirror_its_progress_and_move_on_when_it_completes()
 {
    let h = Harness::new(Scripted::with(datamover(true)));
    assert_eq!(h.step().await, "CreatingClonedPVC");
    assert_eq!(h.step().await, "ClonedPVCReady");
    assert_eq!(h.step().await, "CreatingPod");
    // Creates the Job and returns.
    assert_eq!(h.step().await, "CreatingPod");
    assert_eq!(h.cluster.dm().status.job_name, "nightly-sync-0a1b2c3d");
    // While the Job runs, reconciles mirror it and change nothing else.
    h.cluster.set_job_status(|j| {
        j.status.active = 1;
        j.status.progress = Some(SyncProgress {
            bytes: 1000,
            total_bytes: Some(4000),
            ..SyncProgress::default()
        });
    });
    assert_eq!(h.step().await, "CreatingPod");
    assert_eq!(h.step().await, "CreatingPod");
    let status = h.cluster.dm().status;
    assert_eq!(status.progress.unwrap().bytes, 1000);
    assert_eq!(status.attempts, 1);
    assert_eq!(*h.cluster.jobs_created.lock().unwrap(), 1, "one Job");
    // A failed pod, then a second that completes.
    h.cluster.set_job_status(|j| {
        j.status.active = 0;
        j.status.failed = 1;
        j.status.last_pod_error = "rclone exited with 1".into();
        j.status.progress = Some(SyncProgress {
            bytes: 500,
            ..SyncProgress::default()
        });
    });
    assert_eq!(h.step().await, "CreatingPod");
    assert_eq!(
        h.condition("Synced").message,
        "pod 1 of 3 failed: rclone exited with 1"
    );
    h.cluster.set_job_status(|j| complete(j, 4000));
    assert_eq!(h.step().await, "CleaningUp");
    assert_eq!(h.step().await, "Completed");
    let status = h.cluster.dm().status;
    assert_eq!((status.attempts, status.failed_attempts), (2, 1));
    assert_eq!(
        (status.bytes_transferred, status.files_transferred),
        (4000, 3)
    );
    assert_eq!(status.progress, None);
    assert_eq!(
        h.counters(),
        [
            // 1000 while pod 1 ran, its last 500 did not grow it; then pod 2's 4000.
            r#"datamover_bytes_transferred_total{namespace="default"} 5000"#,
            r#"datamover_cleanup_operations_total{status="success",namespace="default"} 1"#,
            r#"datamover_data_sync_operations_total{status="success",namespace="default"} 1"#,
            r#"datamover_files_transferred_total{namespace="default"} 3"#,
            r#"datamover_operations_total{phase="CleaningUp",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CleaningUp",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="success",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 1"#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_clone_that_fails_should_fail_the_datamover_and_count_the_phase_failure() {
    let h = Harness::new(Scripted {
        clone_fails: Some("the source volume is not a directory"),
        ..Scripted::with(datamover(false))
    });
    assert_eq!(h.step().await, "CreatingClonedPVC");
    assert_eq!(h.step().await, "Failed");
    let ready = h.condition("Ready");
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        ("CloneFailed", "the source volume is not a directory")
    );
    assert_eq!(
        h.counters(),
        [
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_that_cannot_be_created_should_fail_the_datamover_and_count_the_pod_creation_failure()
{
    let h = Harness::new(Scripted {
        create_job_fails: Some("jobs.batch is forbidden"),
        ..Scripted::with(datamover(false))
    });
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "Failed",
    ] {
        assert_eq!(h.step().await, expected);
    }
    let ready = h.condition("Ready");
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        (
            "JobCreationFailed",
            "cannot create the sync Job: jobs.batch is forbidden"
        )
    );
    assert_eq!(
        h.counters(),
        [
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="failure",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 1"#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_sync_that_fails_for_good_should_fail_the_datamover_with_the_last_pods_error() {
    let h = Harness::new(Scripted::with(datamover(true)));
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "CreatingPod",
    ] {
        assert_eq!(h.step().await, expected);
    }
    h.cluster.set_job_status(|j| {
        j.status.failed = 3;
        j.status.last_pod_error = "connection refused".into();
        j.status.conditions.push(Condition {
            type_: "Failed".into(),
            status: "True".into(),
            reason: "BackoffLimitExceeded".into(),
            message: "3 pods failed, backoffLimit is 2; the last one: connection refused".into(),
            ..Condition::default()
        });
    });
    assert_eq!(h.step().await, "Failed");
    let status = h.cluster.dm().status;
    assert_eq!((status.attempts, status.failed_attempts), (3, 3));
    assert_eq!(
        status.last_error,
        "BackoffLimitExceeded: 3 pods failed, backoffLimit is 2; the last one: connection refused"
    );
    assert_eq!(h.condition("Ready").reason, "BackoffLimitExceeded");
    // Failed is final: nothing more happens, nothing more is counted.
    assert_eq!(h.step().await, "Failed");
    assert_eq!(
        h.counters(),
        [
            r#"datamover_data_sync_operations_total{status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 1"#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cleanup_that_fails_should_fail_the_datamover_and_count_the_cleanup_failure() {
    let h = Harness::new(Scripted {
        delete_fails: Some("removing the clone: permission denied"),
        ..Scripted::with(datamover(true))
    });
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "CreatingPod",
    ] {
        assert_eq!(h.step().await, expected);
    }
    h.cluster.set_job_status(|j| complete(j, 10));
    assert_eq!(h.step().await, "CleaningUp");
    assert_eq!(h.step().await, "Failed");
    let ready = h.condition("Ready");
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        ("CleanupFailed", "removing the clone: permission denied")
    );
    assert_eq!(h.cluster.job().outcome(), Some(job::JobOutcome::Complete));
    assert_eq!(
        h.counters(),
        [
            r#"datamover_bytes_transferred_total{namespace="default"} 10"#,
            r#"datamover_cleanup_operations_total{status="failure",namespace="default"} 1"#,
            r#"datamover_data_sync_operations_total{status="success",namespace="default"} 1"#,
            r#"datamover_files_transferred_total{namespace="default"} 3"#,
            r#"datamover_operations_total{phase="CleaningUp",status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CleaningUp",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="success",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 1"#,
        ]
    );
}

/// A clone that is not bound yet: the reconcile returns at once, requeued no later than
/// the bind timeout; the clone's watch event brings it back once it binds.
#[tokio::test(start_paused = true)]
async fn a_pending_clone_should_return_at_once_and_move_on_when_it_binds() {
    let cluster = Scripted::with(datamover(false));
    *cluster.clone_state.lock().unwrap() = Some(CloneState::Pending);
    let h = Harness::new(cluster);
    assert_eq!(h.step().await, "CreatingClonedPVC");
    let before = Instant::now();
    let action = reconcile(Arc::new(h.cluster.dm()), Arc::clone(&h.ctx))
        .await
        .unwrap();
    assert_eq!(Instant::now(), before, "a reconcile waited");
    let requeue = action.requeue_after().unwrap();
    assert!(
        requeue <= datamover::backend::DEFAULT_BIND_TIMEOUT,
        "{requeue:?}"
    );
    assert_eq!(h.cluster.dm().status.phase, "CreatingClonedPVC");
    *h.cluster.clone_state.lock().unwrap() = Some(CloneState::Bound);
    assert_eq!(h.step().await, "ClonedPVCReady");
    assert_eq!(h.condition("Cloned").reason, "CloneBound");
}

/// A clone whose storage class binds on first use gets its Job without waiting for Bound.
#[tokio::test(start_paused = true)]
async fn a_wait_for_first_consumer_clone_should_get_its_job_before_it_binds() {
    let cluster = Scripted::with(datamover(false));
    *cluster.clone_state.lock().unwrap() = Some(CloneState::WaitsForConsumer);
    let h = Harness::new(cluster);
    assert_eq!(h.step().await, "CreatingClonedPVC");
    assert_eq!(h.step().await, "ClonedPVCReady");
    assert_eq!(h.condition("Cloned").reason, "WaitForFirstConsumer");
    assert_eq!(h.step().await, "CreatingPod");
    assert_eq!(h.step().await, "CreatingPod");
    assert_eq!(*h.cluster.jobs_created.lock().unwrap(), 1);
}

/// A clone still unbound at the bind timeout fails the DataMover, counted once.
#[tokio::test(start_paused = true)]
async fn a_clone_unbound_past_the_timeout_should_fail_the_datamover() {
    let cluster = Scripted {
        bind_timeout: Some(std::time::Duration::ZERO),
        ..Scripted::with(datamover(false))
    };
    *cluster.clone_state.lock().unwrap() = Some(CloneState::Pending);
    let h = Harness::new(cluster);
    assert_eq!(h.step().await, "CreatingClonedPVC");
    assert_eq!(h.step().await, "Failed");
    let dm = h.cluster.dm();
    assert_eq!(h.condition("Ready").reason, "CloneNotBound");
    assert!(
        dm.status.last_error.contains("is not Bound after 0s"),
        "{}",
        dm.status.last_error
    );
    assert!(h.counters().contains(
        &r#"datamover_operations_total{phase="CreatingClonedPVC",status="failure",namespace="default"} 1"#.to_owned()
    ), "{:?}", h.counters());
}

#[tokio::test(start_paused = true)]
async fn a_sync_whose_destination_overlaps_another_datamovers_should_fail_before_its_job() {
    let mut other = datamover(false);
    other.metadata.name = "backup-a".into();
    other.spec.source_pvc = "a".into();
    let h = Harness::new(Scripted {
        others: vec![other],
        ..Scripted::with(datamover(false))
    });
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "Failed",
    ] {
        assert_eq!(h.step().await, expected);
    }
    let ready = h.condition("Ready");
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        (
            "DestinationOverlap",
            "destination remote:backups overlaps DataMover default/backup-a (remote:backups): rclone sync makes its target equal to the source, so a sync of one would delete what the other wrote; choose a destination apart from it (two objects with addTimestampPrefix: true may share one base), or delete DataMover default/backup-a first"
        )
    );
    assert_eq!(*h.cluster.jobs_created.lock().unwrap(), 0, "no Job");
}

#[tokio::test(start_paused = true)]
async fn a_rerun_of_the_same_backup_is_not_an_overlap() {
    let mut earlier = datamover(false);
    earlier.metadata.name = "nightly-yesterday".into();
    let h = Harness::new(Scripted {
        others: vec![earlier],
        ..Scripted::with(datamover(false))
    });
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "CreatingPod",
    ] {
        assert_eq!(h.step().await, expected);
    }
    assert_eq!(*h.cluster.jobs_created.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn prefixed_datamovers_on_one_base_get_jobs_in_different_seconds() {
    let mut other = datamover(false);
    other.metadata.name = "backup-a".into();
    other.spec.source_pvc = "a".into();
    other.spec.add_timestamp_prefix = true;
    other.metadata.uid = "1e2f3a4b-uid".into();
    let mut mine = datamover(false);
    mine.spec.add_timestamp_prefix = true;
    let h = Harness::new(Scripted {
        others: vec![other],
        ..Scripted::with(mine)
    });
    for expected in ["CreatingClonedPVC", "ClonedPVCReady", "CreatingPod"] {
        assert_eq!(h.step().await, expected);
    }
    // Away from a second's end (the wall clock, not tokio's), so this reconcile runs in the
    // second the other Job was created in.
    while datamover::time::now_ms() % 1_000 > 800 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut job = Job::default();
    job.metadata.name = job::job_name("backup-a", "1e2f3a4b-uid");
    job.metadata.creation_timestamp = datamover::time::rfc3339(datamover::time::now_ms());
    h.cluster
        .jobs
        .lock()
        .unwrap()
        .insert(job.metadata.name.clone(), job);
    // The other's Job was created this second: its folder would be this one's too.
    let action = reconcile(Arc::new(h.cluster.dm()), Arc::clone(&h.ctx))
        .await
        .unwrap();
    let wait = action.requeue_after().expect("a requeue within the second");
    assert!(wait <= std::time::Duration::from_millis(1_010), "{wait:?}");
    assert_eq!(*h.cluster.jobs_created.lock().unwrap(), 0, "no Job yet");
    assert_eq!(h.cluster.dm().status.phase, "CreatingPod");
}

#[tokio::test(start_paused = true)]
async fn copy_method_direct_syncs_the_source_itself_with_no_clone_and_no_cleanup() {
    let mut dm = datamover(false);
    dm.spec.copy_method = datamover::types::CopyMethod::Direct;
    let h = Harness::new(Scripted {
        clone_fails: Some("no clone may be made"),
        delete_fails: Some("nothing may be deleted"),
        ..Scripted::with(dm)
    });
    assert_eq!(h.step().await, "CreatingPod");
    assert_eq!(
        h.condition("Ready").message,
        "syncing the source volume data directly (copyMethod: Direct)"
    );
    assert_eq!(h.step().await, "CreatingPod");
    assert_eq!(
        h.cluster.job().claim_name(),
        Some("data"),
        "the Job reads the source"
    );
    h.cluster.set_job_status(|j| complete(j, 10));
    assert_eq!(h.step().await, "Completed");
    let status = h.cluster.dm().status;
    assert_eq!(status.restored_pvc_name, "", "no clone was named");
    assert!(
        !h.counters()
            .iter()
            .any(|l| l.contains("CreatingClonedPVC") || l.contains("cleanup")),
        "{:?}",
        h.counters()
    );
}

#[tokio::test(start_paused = true)]
async fn copy_method_direct_with_delete_pvc_after_backup_fails_before_anything() {
    let mut dm = datamover(true);
    dm.spec.copy_method = datamover::types::CopyMethod::Direct;
    let h = Harness::new(Scripted::with(dm));
    assert_eq!(h.step().await, "Failed");
    let ready = h.condition("Ready");
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        ("InvalidSpec", datamover::reconciler::DIRECT_DELETES_NOTHING)
    );
    assert_eq!(*h.cluster.jobs_created.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_verified_sync_records_its_check_and_a_failed_check_is_counted() {
    let mut dm = datamover(false);
    dm.spec.verify = datamover::types::Verify::Checksum;
    let h = Harness::new(Scripted::with(dm));
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "CreatingPod",
    ] {
        assert_eq!(h.step().await, expected);
    }
    let job = h.cluster.job();
    let env = &job.container().unwrap().env;
    assert_eq!(
        (env[1].name.as_str(), env[1].value.as_str()),
        ("VERIFY", "checksum")
    );
    // The first pod's check finds a difference; the second pod's passes.
    h.cluster.set_job_status(|j| {
        j.status.failed = 1;
        j.status.last_pod_error =
            "verification (checksum) found 1 difference between what was read and what landed: a.bin differs".into();
    });
    assert_eq!(h.step().await, "CreatingPod");
    h.cluster.set_job_status(|j| {
        complete(j, 10);
        j.status.progress.as_mut().unwrap().verified_ms = Some(400);
    });
    assert_eq!(h.step().await, "Completed");
    let verified = h.condition("Verified");
    assert_eq!(
        (verified.status.as_str(), verified.message.as_str()),
        ("True", "the checksum check found no difference (0.4 s)")
    );
    assert!(!h.cluster.dm().status.verified_at.is_empty());
    let text = h.metrics.render();
    for line in [
        r#"datamover_verify_operations_total{status="failure",namespace="default"} 1"#,
        r#"datamover_verify_operations_total{status="success",namespace="default"} 1"#,
        r#"datamover_verify_duration_seconds_count{namespace="default"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

/// `copyMethod: Snapshot` where no `VolumeSnapshot` can be taken (a cluster without
/// `snapshot_pvc`, as the embedded backend): failed before anything is created, the
/// reason naming the fix.
#[tokio::test(start_paused = true)]
async fn copy_method_snapshot_without_snapshots_fails_naming_the_fix() {
    let mut dm = datamover(false);
    dm.spec.copy_method = datamover::types::CopyMethod::Snapshot;
    let h = Harness::new(Scripted::with(dm));
    assert_eq!(h.step().await, "CreatingClonedPVC");
    assert_eq!(h.step().await, "Failed");
    let ready = h.condition("Ready");
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        (
            "SnapshotFailed",
            "copyMethod: Snapshot needs the Kubernetes backend (VolumeSnapshots): on one machine give Clone (the default: sync a clone of the source) or Direct (sync the source itself)"
        )
    );
    assert_eq!(*h.cluster.jobs_created.lock().unwrap(), 0);
}
