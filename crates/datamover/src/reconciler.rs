//! The phase machine: `""` → `CreatingClonedPVC` → `ClonedPVCReady` → `CreatingPod` →
//! (`CleaningUp` with `deletePvcAfterBackup` or `copyMethod: Snapshot`) → `Completed`; any
//! step can end in `Failed`. With `copyMethod: Snapshot`, `CreatingClonedPVC` takes a
//! `VolumeSnapshot` of the source first (one reconcile), then makes the clone from it.
//!
//! Each reconcile advances one step and writes the status; the write's watch event brings
//! the next step. Metrics are recorded only after the write that makes a step durable, so
//! a conflict (retried) never counts twice. Phase start times live in the status, so
//! durations are right across restarts.

use crate::backend::{CloneState, Cluster, ClusterError, SyncRequest};
use crate::job::{self, Job, JobOutcome};
use crate::progress::SyncProgress;
use crate::time;
use crate::types::*;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::{
    Classify, DataMoverStatus as Op, ErrorClass, ErrorKind, MetricsCollector, Outcome,
};
use tmc_runtime::{Action, ErrorPolicy, Retry};

pub mod snapshot;
mod sync;

pub use sync::{VERIFY_FAILED, check_overlap};
use sync::{prepare_sync, sync};

/// The phases.
pub mod phase {
    /// Cloning the source PVC.
    pub const CREATING_CLONED_PVC: &str = "CreatingClonedPVC";
    /// The clone is bound.
    pub const CLONED_PVC_READY: &str = "ClonedPVCReady";
    /// The sync job runs.
    pub const CREATING_POD: &str = "CreatingPod";
    /// Deleting the clone.
    pub const CLEANING_UP: &str = "CleaningUp";
    /// Done.
    pub const COMPLETED: &str = "Completed";
    /// Failed; `status.lastError` says why.
    pub const FAILED: &str = "Failed";
}

/// What the reconciler needs.
#[derive(Debug)]
pub struct Context<C> {
    /// The cluster.
    pub cluster: Arc<C>,
    /// Where `datamover_*` metrics go.
    pub metrics: MetricsCollector,
}

/// Why a reconcile did not finish its step; the runtime retries with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A status write lost a race: retried at once with fresh data.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store or a volume failed.
    #[error("{0}")]
    Cluster(String),
    /// The operator lacks a permission (HTTP 403); the message names the verb and resource.
    #[error("{0}")]
    Forbidden(String),
    /// The cluster was unreachable or overloaded; nothing was decided.
    #[error("{message}")]
    Transient {
        /// What kind of failure, for the error metrics.
        kind: ErrorKind,
        /// What happened.
        message: String,
        /// How long the server asked us to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },
}

impl ReconcileError {
    /// How long the cluster asked us to wait before trying again, if it said.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Classify for ReconcileError {
    fn classify(&self) -> ErrorClass {
        match self {
            Self::Conflict(_) => ErrorKind::ResourceConflict.into(),
            Self::Cluster(_) => ErrorKind::Internal.into(),
            Self::Forbidden(_) => ErrorKind::Forbidden.into(),
            Self::Transient { kind, .. } => (*kind).into(),
        }
    }
}

impl From<ClusterError> for ReconcileError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Conflict(c) => Self::Conflict(c),
            ClusterError::Transient {
                kind,
                message,
                retry_after,
            } => Self::Transient {
                kind,
                message,
                retry_after,
            },
            e @ ClusterError::Forbidden { .. } => Self::Forbidden(e.to_string()),
            other => Self::Cluster(other.to_string()),
        }
    }
}

/// The error policy of the DataMover controller: the controller's backoff, but never
/// sooner than the cluster's `Retry-After`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryAfterPolicy;

impl<K> ErrorPolicy<K, ReconcileError> for RetryAfterPolicy {
    fn on_error(&self, _object: Arc<K>, error: &ReconcileError, retry: Retry) -> Action {
        Action::requeue(retry.backoff.max(error.retry_after().unwrap_or_default()))
    }
}

fn elapsed(status: &DataMoverStatus) -> Duration {
    Duration::from_millis(time::now_ms().saturating_sub(status.phase_started_at_ms))
}

fn condition(status: &mut DataMoverStatus, type_: &str, ok: bool, reason: &str, message: &str) {
    crate::conditions::set(&mut status.conditions, type_, ok, reason, message);
}

fn enter(status: &mut DataMoverStatus, next: &str) {
    status.phase = next.into();
    status.phase_started_at_ms = time::now_ms();
}

/// Reconciles one DataMover one step.
///
/// # Errors
/// [`ReconcileError`] when a write conflicts or the cluster fails; the step is retried.
pub async fn reconcile<C: Cluster>(
    object: Arc<DataMover>,
    ctx: Arc<Context<C>>,
) -> Result<Action, ReconcileError> {
    let ns = object.metadata.namespace.clone();
    // The runtime hands the object as it was queued; act on the latest.
    let Some(mut dm) = ctx.cluster.datamover(&ns, &object.metadata.name) else {
        return Ok(Action::await_change());
    };
    let m = &ctx.metrics;
    match dm.status.phase.as_str() {
        "" if dm.spec.is_direct() => return start_direct(dm, &ctx).await,
        "" => {
            dm.status.start_time = time::rfc3339(time::now_ms());
            enter(&mut dm.status, phase::CREATING_CLONED_PVC);
            let msg = if dm.spec.is_snapshot() {
                "snapshotting the source volume"
            } else {
                "cloning the source volume"
            };
            condition(&mut dm.status, "Ready", false, "InProgress", msg);
            ctx.cluster.write_status(&dm).await?;
            m.datamover_phase_started(phase::CREATING_CLONED_PVC, &ns);
        }
        phase::CREATING_CLONED_PVC => return create_clone(dm, &ctx).await,
        phase::CLONED_PVC_READY => {
            enter(&mut dm.status, phase::CREATING_POD);
            ctx.cluster.write_status(&dm).await?;
            m.datamover_phase_started(phase::CREATING_POD, &ns);
        }
        phase::CREATING_POD => return sync(dm, &ctx).await,
        phase::CLEANING_UP => {
            let took = elapsed(&dm.status);
            match snapshot::clean_up(&dm, ctx.cluster.as_ref()).await {
                Ok((reason, message)) => {
                    enter(&mut dm.status, phase::COMPLETED);
                    condition(&mut dm.status, "CleanedUp", true, reason, &message);
                    complete(&mut dm.status);
                    ctx.cluster.write_status(&dm).await?;
                    m.datamover_cleanup(&ns, Outcome::Success);
                    m.datamover_phase_finished(phase::CLEANING_UP, &ns, Outcome::Success, took);
                }
                Err(e) if e.is_retryable() => return Err(e.into()),
                Err(e) => {
                    fail(&mut dm.status, "CleanupFailed", &e.to_string());
                    ctx.cluster.write_status(&dm).await?;
                    m.datamover_cleanup(&ns, Outcome::Failure);
                    m.datamover_phase_finished(phase::CLEANING_UP, &ns, Outcome::Failure, took);
                }
            }
        }
        _ => {} // Completed, Failed: nothing to do until the spec changes.
    }
    Ok(Action::await_change())
}

/// `copyMethod: Direct`: no clone; straight to `CreatingPod`, the Job reading the source PVC.
/// `deletePvcAfterBackup` is refused (at apply, and here for objects that did not pass
/// through it): the PVC to delete would be the source.
async fn start_direct<C: Cluster>(
    mut dm: DataMover,
    ctx: &Context<C>,
) -> Result<Action, ReconcileError> {
    let ns = dm.metadata.namespace.clone();
    dm.status.start_time = time::rfc3339(time::now_ms());
    enter(&mut dm.status, phase::CREATING_POD);
    let refusal = if dm.spec.delete_pvc_after_backup {
        Some(("InvalidSpec", DIRECT_DELETES_NOTHING.to_owned()))
    } else if ctx.cluster.pvc(&ns, &dm.spec.source_pvc).is_none() {
        let msg = format!("the source PVC {ns}/{} does not exist", dm.spec.source_pvc);
        Some(("SourcePVCNotFound", msg))
    } else {
        prepare_sync(&dm, ctx).err()
    };
    if let Some((reason, msg)) = refusal {
        fail(&mut dm.status, reason, &msg);
        ctx.cluster.write_status(&dm).await?;
        ctx.metrics
            .datamover_phase_started(phase::CREATING_POD, &ns);
        ctx.metrics.datamover_phase_finished(
            phase::CREATING_POD,
            &ns,
            Outcome::Failure,
            Duration::ZERO,
        );
        return Ok(Action::await_change());
    }
    let msg = format!(
        "syncing the source volume {} directly (copyMethod: Direct)",
        dm.spec.source_pvc
    );
    condition(&mut dm.status, "Ready", false, "InProgress", &msg);
    ctx.cluster.write_status(&dm).await?;
    ctx.metrics
        .datamover_phase_started(phase::CREATING_POD, &ns);
    Ok(Action::await_change())
}

/// Why `copyMethod: Direct` and `deletePvcAfterBackup: true` do not go together.
pub const DIRECT_DELETES_NOTHING: &str = "copyMethod: Direct syncs the source volume itself, so there is no clone to delete: remove deletePvcAfterBackup (or set copyMethod: Clone)";

fn complete(status: &mut DataMoverStatus) {
    status.completion_time = time::rfc3339(time::now_ms());
    status.last_error.clear();
    condition(status, "Ready", true, "Completed", "the backup completed");
}

fn fail(status: &mut DataMoverStatus, reason: &str, message: &str) {
    enter(status, phase::FAILED);
    status.completion_time = time::rfc3339(time::now_ms());
    status.last_error = message.into();
    condition(status, "Ready", false, reason, message);
}

/// Fails the current phase: status first, then its failure metric.
async fn fail_phase<C: Cluster>(
    mut dm: DataMover,
    ctx: &Context<C>,
    reason: &str,
    message: &str,
) -> Result<Action, ReconcileError> {
    let phase = dm.status.phase.clone();
    let took = elapsed(&dm.status);
    fail(&mut dm.status, reason, message);
    ctx.cluster.write_status(&dm).await?;
    ctx.metrics
        .datamover_phase_finished(&phase, &dm.metadata.namespace, Outcome::Failure, took);
    Ok(Action::await_change())
}

async fn create_clone<C: Cluster>(
    mut dm: DataMover,
    ctx: &Context<C>,
) -> Result<Action, ReconcileError> {
    let ns = dm.metadata.namespace.clone();
    let Some(source) = ctx.cluster.pvc(&ns, &dm.spec.source_pvc) else {
        let msg = format!("the source PVC {ns}/{} does not exist", dm.spec.source_pvc);
        return fail_phase(dm, ctx, "SourcePVCNotFound", &msg).await;
    };
    if let Err((reason, msg)) = prepare_sync(&dm, ctx) {
        return fail_phase(dm, ctx, reason, &msg).await;
    }
    if dm.status.restored_pvc_name.is_empty() {
        // Name the clone once, durably and uniquely, so a restart reuses it instead of
        // cloning twice, and two DataMovers of one PVC never share a clone.
        dm = ctx
            .cluster
            .claim_clone_name(&dm, time::now_ms() / 1000)
            .await?;
    }
    let clone = dm.status.restored_pvc_name.clone();
    if dm.spec.is_snapshot() && !snapshot::taken(&dm.status) {
        return snapshot::take(dm, ctx, &source, &clone).await;
    }
    let (reason, message) = match ctx.cluster.clone_pvc(&ns, &source, &clone).await {
        Ok(CloneState::Bound) if dm.spec.is_snapshot() => (
            "CloneBound",
            format!(
                "provisioned {clone} from the VolumeSnapshot {clone} of {}",
                dm.spec.source_pvc
            ),
        ),
        Ok(CloneState::Bound) => (
            "CloneBound",
            format!("cloned {} into {clone}", dm.spec.source_pvc),
        ),
        Ok(CloneState::WaitsForConsumer) => (
            "WaitForFirstConsumer",
            format!(
                "cloning {} into {clone}: its storage class binds it when the sync Job's pod is scheduled",
                dm.spec.source_pvc
            ),
        ),
        Ok(CloneState::Pending) => return await_bind(dm, ctx, &clone).await,
        Err(e) if e.is_retryable() => return Err(e.into()),
        Err(e) => return fail_phase(dm, ctx, "CloneFailed", &e.to_string()).await,
    };
    let took = elapsed(&dm.status);
    enter(&mut dm.status, phase::CLONED_PVC_READY);
    condition(&mut dm.status, "Cloned", true, reason, &message);
    ctx.cluster.write_status(&dm).await?;
    ctx.metrics
        .datamover_phase_finished(phase::CREATING_CLONED_PVC, &ns, Outcome::Success, took);
    Ok(Action::await_change())
}

/// The clone exists but is not bound: return, and let its watch event (it is owned by
/// the DataMover) bring us back; fail once it stayed unbound past the bind timeout.
async fn await_bind<C: Cluster>(
    dm: DataMover,
    ctx: &Context<C>,
    clone: &str,
) -> Result<Action, ReconcileError> {
    let timeout = ctx.cluster.bind_timeout();
    let waited = elapsed(&dm.status);
    if waited >= timeout {
        let hint = if dm.spec.is_snapshot() {
            "is the VolumeSnapshot ready, and does the storage class restore snapshots?"
        } else {
            "does the storage class support cloning?"
        };
        let msg = format!(
            "the clone {}/{clone} is not Bound after {}s ({hint})",
            dm.metadata.namespace,
            timeout.as_secs()
        );
        return fail_phase(dm, ctx, "CloneNotBound", &msg).await;
    }
    // Come back at the deadline even if no watch event does.
    Ok(Action::requeue(timeout - waited))
}
