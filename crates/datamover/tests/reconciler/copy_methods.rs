//! Copy methods: `Direct` syncs the source itself, refuses `deletePvcAfterBackup`; `Snapshot`
//! without snapshots fails naming the fix.

use crate::helpers::*;

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
