//! Destinations: an overlap with another DataMover fails before its job, a rerun of the same
//! backup is not an overlap, prefixed DataMovers on one base get different seconds.

use crate::helpers::*;
use datamover::job::{self, Job};
use datamover::reconciler::reconcile;
use std::sync::Arc;

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
