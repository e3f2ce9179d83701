//! `copyMethod: Snapshot`: in `CreatingClonedPVC`, once the clone is named, one reconcile
//! takes a `VolumeSnapshot` of the source under the clone's name and records it (the
//! `Snapshotted` condition; the status write's watch event brings the next step); the next
//! makes the clone from it ([`Cluster::clone_pvc`]) and goes on as a clone. After the sync,
//! `CleaningUp` deletes the snapshot (and the clone, with `deletePvcAfterBackup`).

use super::{Context, ReconcileError, condition, fail_phase};
use crate::backend::{Cluster, ClusterError};
use crate::types::{DataMover, DataMoverStatus, PersistentVolumeClaim};
use tmc_runtime::Action;

/// The condition that records the snapshot taken.
pub const SNAPSHOTTED: &str = "Snapshotted";

/// Whether the snapshot of this run was taken (and recorded).
pub(super) fn taken(status: &DataMoverStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == SNAPSHOTTED && c.status == "True")
}

/// Takes the snapshot `name` of `source` and records it; returns.
pub(super) async fn take<C: Cluster>(
    mut dm: DataMover,
    ctx: &Context<C>,
    source: &PersistentVolumeClaim,
    name: &str,
) -> Result<Action, ReconcileError> {
    let ns = dm.metadata.namespace.clone();
    let class = dm.spec.volume_snapshot_class_name.clone();
    match ctx
        .cluster
        .snapshot_pvc(&ns, source, name, class.as_deref())
        .await
    {
        Ok(()) => {
            let msg = format!(
                "took the VolumeSnapshot {name} of {}{}",
                source.metadata.name,
                class.map(|c| format!(" (class {c})")).unwrap_or_default()
            );
            condition(&mut dm.status, SNAPSHOTTED, true, "SnapshotCreated", &msg);
            ctx.cluster.write_status(&dm).await?;
            Ok(Action::await_change())
        }
        Err(e) if e.is_retryable() => Err(e.into()),
        Err(e) => fail_phase(dm, ctx, "SnapshotFailed", &e.to_string()).await,
    }
}

/// `CleaningUp`: the snapshot (with `copyMethod: Snapshot`) and the clone (with
/// `deletePvcAfterBackup`) deleted; the `CleanedUp` condition's reason and message.
pub(super) async fn clean_up<C: Cluster>(
    dm: &DataMover,
    cluster: &C,
) -> Result<(&'static str, String), ClusterError> {
    let ns = &dm.metadata.namespace;
    let clone = &dm.status.restored_pvc_name;
    let snapshot = dm.spec.is_snapshot();
    if snapshot {
        cluster.delete_snapshot(ns, clone).await?;
    }
    if dm.spec.delete_pvc_after_backup {
        cluster.delete_pvc(ns, clone).await?;
    }
    Ok(match (snapshot, dm.spec.delete_pvc_after_backup) {
        (true, true) => (
            "CloneDeleted",
            format!("deleted the VolumeSnapshot {clone} and the PVC {clone} made from it"),
        ),
        (true, false) => (
            "SnapshotDeleted",
            format!("deleted the VolumeSnapshot {clone}; kept the PVC {clone} made from it"),
        ),
        _ => ("CloneDeleted", format!("deleted the cloned PVC {clone}")),
    })
}
