//! The phases in order: the job created, its progress mirrored, pending and
//! wait-for-first-consumer clones.

use crate::helpers::*;
use datamover::backend::CloneState;
use datamover::progress::SyncProgress;
use datamover::reconciler::reconcile;
use std::sync::Arc;
use tokio::time::Instant;

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
