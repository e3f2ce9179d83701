//! The phase machine: `""` → `CreatingClonedPVC` → `ClonedPVCReady` → `CreatingPod` →
//! (`CleaningUp` with `deletePvcAfterBackup`) → `Completed`; any step can end in `Failed`.
//!
//! Each reconcile advances one step and writes the status; the write's watch event brings
//! the next step. Metrics are recorded only after the write that makes a step durable, so
//! a conflict (retried) never counts twice. Phase start times live in the status, so
//! durations are right across restarts.

use crate::backend::{Cluster, ClusterError, SyncRequest};
use crate::time;
use crate::types::*;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::{
    Classify, DataMoverStatus as Op, ErrorClass, ErrorKind, MetricsCollector, Outcome,
};
use tmc_runtime::Action;

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

/// Sync attempts in all, as the original Job's `backoffLimit: 2`.
pub const MAX_ATTEMPTS: u32 = 3;

/// What the reconciler needs.
#[derive(Debug)]
pub struct Context<C> {
    /// The cluster.
    pub cluster: Arc<C>,
    /// Where `datamover_*` metrics go.
    pub metrics: MetricsCollector,
    /// The wait after the first failed attempt; doubled after each (Kubernetes Jobs use 10 s).
    pub job_backoff: Duration,
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
    /// The cluster was unreachable or overloaded; nothing was decided.
    #[error("{1}")]
    Transient(ErrorKind, String),
}

impl Classify for ReconcileError {
    fn classify(&self) -> ErrorClass {
        match self {
            Self::Conflict(_) => ErrorKind::ResourceConflict.into(),
            Self::Cluster(_) => ErrorKind::Internal.into(),
            Self::Transient(kind, _) => (*kind).into(),
        }
    }
}

impl From<ClusterError> for ReconcileError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Conflict(c) => Self::Conflict(c.to_string()),
            ClusterError::Transient { kind, message } => Self::Transient(kind, message),
            other => Self::Cluster(other.to_string()),
        }
    }
}

fn elapsed(status: &DataMoverStatus) -> Duration {
    Duration::from_millis(time::now_ms().saturating_sub(status.phase_started_at_ms))
}

fn condition(status: &mut DataMoverStatus, type_: &str, ok: bool, reason: &str, message: &str) {
    let now = time::rfc3339(time::now_ms());
    let value = if ok { "True" } else { "False" };
    match status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != value {
                c.last_transition_time = now;
            }
            c.status = value.into();
            c.reason = reason.into();
            c.message = message.into();
        }
        None => status.conditions.push(Condition {
            type_: type_.into(),
            status: value.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now,
        }),
    }
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
        "" => {
            dm.status.start_time = time::rfc3339(time::now_ms());
            enter(&mut dm.status, phase::CREATING_CLONED_PVC);
            condition(
                &mut dm.status,
                "Ready",
                false,
                "InProgress",
                "cloning the source volume",
            );
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
            let clone = dm.status.restored_pvc_name.clone();
            match ctx.cluster.delete_pvc(&ns, &clone).await {
                Ok(()) => {
                    enter(&mut dm.status, phase::COMPLETED);
                    condition(
                        &mut dm.status,
                        "CleanedUp",
                        true,
                        "CloneDeleted",
                        &format!("deleted the cloned PVC {clone}"),
                    );
                    complete(&mut dm.status);
                    ctx.cluster.write_status(&dm).await?;
                    m.datamover_cleanup(&ns, Outcome::Success);
                    m.datamover_phase_finished(phase::CLEANING_UP, &ns, Outcome::Success, took);
                }
                Err(ClusterError::Conflict(e)) => {
                    return Err(ReconcileError::Conflict(e.to_string()));
                }
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

fn complete(status: &mut DataMoverStatus) {
    status.completion_time = time::rfc3339(time::now_ms());
    status.last_error.clear();
    condition(status, "Ready", true, "Completed", "the backup completed");
}

fn fail(status: &mut DataMoverStatus, reason: &str, message: &str) {
    enter(status, phase::FAILED);
    status.completion_time = time::rfc3339(time::now_ms());
    status.last_error = message.into();
    status.sync_pid = None;
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
    match ctx.cluster.clone_pvc(&ns, &source, &clone).await {
        Ok(()) => {
            let took = elapsed(&dm.status);
            enter(&mut dm.status, phase::CLONED_PVC_READY);
            condition(
                &mut dm.status,
                "Cloned",
                true,
                "CloneBound",
                &format!("cloned {} into {clone}", dm.spec.source_pvc),
            );
            ctx.cluster.write_status(&dm).await?;
            ctx.metrics.datamover_phase_finished(
                phase::CREATING_CLONED_PVC,
                &ns,
                Outcome::Success,
                took,
            );
            Ok(Action::await_change())
        }
        Err(e @ (ClusterError::Conflict(_) | ClusterError::Transient { .. })) => Err(e.into()),
        Err(e) => fail_phase(dm, ctx, "CloneFailed", &e.to_string()).await,
    }
}

/// The sync request for `dm` and its destination, or why it cannot run (a condition reason
/// and a message): the secret is missing, undecodable, or names no destination.
fn prepare_sync<C: Cluster>(
    dm: &DataMover,
    ctx: &Context<C>,
) -> Result<(SyncRequest, String), (&'static str, String)> {
    let (ns, name) = (&dm.metadata.namespace, &dm.spec.secret_name);
    let secret = ctx.cluster.secret(ns, name).ok_or_else(|| {
        (
            "SecretNotFound",
            format!("the secret {ns}/{name} does not exist"),
        )
    })?;
    let request = sync_request(dm, &secret).map_err(|msg| ("InvalidSecret", msg))?;
    let destination = ctx
        .cluster
        .check_sync(&request)
        .map_err(|msg| ("InvalidSecret", format!("secret {ns}/{name}: {msg}")))?;
    Ok((request, destination))
}

fn sync_request(dm: &DataMover, secret: &Secret) -> Result<SyncRequest, String> {
    let values = secret.values().map_err(|key| {
        format!(
            "secret {}: data.{key} is not valid base64 text",
            secret.metadata.name
        )
    })?;
    let prefix_ms = if dm.status.phase_started_at_ms > 0 {
        dm.status.phase_started_at_ms
    } else {
        time::now_ms()
    };
    Ok(SyncRequest {
        namespace: dm.metadata.namespace.clone(),
        clone: dm.status.restored_pvc_name.clone(),
        secret: values,
        extra_env: dm
            .spec
            .additional_env
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect(),
        prefix: dm
            .spec
            .add_timestamp_prefix
            .then(|| time::prefix(prefix_ms)),
        marker: dm.metadata.uid.clone(),
    })
}

async fn sync<C: Cluster>(mut dm: DataMover, ctx: &Context<C>) -> Result<Action, ReconcileError> {
    let ns = dm.metadata.namespace.clone();
    let m = &ctx.metrics;
    if let Some(pid) = dm.status.sync_pid.take() {
        // A previous operator process died during this sync: make sure it is gone.
        ctx.cluster.stop_stale_sync(pid, &dm.metadata.uid).await;
        dm = ctx.cluster.write_status(&dm).await?;
    }
    if dm.status.failed_attempts >= MAX_ATTEMPTS {
        return sync_failed(dm, ctx).await;
    }
    let (request, destination) = match prepare_sync(&dm, ctx) {
        Ok(prepared) => prepared,
        Err((reason, msg)) => return fail_phase(dm, ctx, reason, &msg).await,
    };
    dm.status.destination = destination;
    dm.status.attempts += C::ATTEMPTS_PER_RUN;
    dm = ctx.cluster.write_status(&dm).await?;
    m.datamover_pod_creation(&ns, Op::Started);

    let (pid_tx, mut pid_rx) = tokio::sync::oneshot::channel();
    let run = ctx.cluster.run_sync(request, move |pid| {
        let _ = pid_tx.send(pid);
    });
    let mut run = std::pin::pin!(run);
    // Record the job's pid durably as soon as it exists, then wait for the job.
    let started = tokio::select! {
        biased;
        pid = &mut pid_rx => match pid {
            Ok(pid) => Ok(pid),
            Err(_) => Err((&mut run).await),
        },
        result = &mut run => Err(result),
    };
    let result = match started {
        Ok(pid) => {
            m.datamover_pod_creation(&ns, Op::Success);
            dm.status.sync_pid = Some(pid);
            dm = ctx.cluster.write_status(&dm).await?;
            run.await
        }
        Err(result) => {
            // Finished, or failed to start, before the pid was seen.
            let spawned = pid_rx.try_recv().is_ok();
            m.datamover_pod_creation(&ns, if spawned { Op::Success } else { Op::Failure });
            result
        }
    };
    dm.status.sync_pid = None;
    match result {
        Ok(progress) => {
            let took = elapsed(&dm.status);
            dm.status.bytes_transferred = progress.bytes;
            dm.status.files_transferred = progress.files;
            let msg = format!("synced to {}", dm.status.destination);
            condition(&mut dm.status, "Synced", true, "SyncSucceeded", &msg);
            let cleanup = dm.spec.delete_pvc_after_backup;
            if cleanup {
                enter(&mut dm.status, phase::CLEANING_UP);
            } else {
                enter(&mut dm.status, phase::COMPLETED);
                complete(&mut dm.status);
            }
            ctx.cluster.write_status(&dm).await?;
            m.datamover_data_sync(&ns, Outcome::Success);
            m.datamover_transferred(&ns, progress.bytes, progress.files);
            m.datamover_phase_finished(phase::CREATING_POD, &ns, Outcome::Success, took);
            if cleanup {
                m.datamover_phase_started(phase::CLEANING_UP, &ns);
            }
            Ok(Action::await_change())
        }
        Err(e @ (ClusterError::Conflict(_) | ClusterError::Transient { .. })) => Err(e.into()),
        Err(e) => {
            dm.status.failed_attempts += C::ATTEMPTS_PER_RUN;
            dm.status.last_error = e.to_string();
            let failed = dm.status.failed_attempts;
            condition(
                &mut dm.status,
                "Synced",
                false,
                "SyncFailed",
                &format!("attempt {failed} of {MAX_ATTEMPTS} failed: {e}"),
            );
            if failed >= MAX_ATTEMPTS {
                return sync_failed(dm, ctx).await;
            }
            ctx.cluster.write_status(&dm).await?;
            Ok(Action::requeue(ctx.job_backoff * 2u32.pow(failed - 1)))
        }
    }
}

async fn sync_failed<C: Cluster>(
    mut dm: DataMover,
    ctx: &Context<C>,
) -> Result<Action, ReconcileError> {
    let ns = dm.metadata.namespace.clone();
    let took = elapsed(&dm.status);
    let message = format!(
        "the sync failed {MAX_ATTEMPTS} times; last error: {}",
        dm.status.last_error
    );
    fail(&mut dm.status, "BackoffLimitExceeded", &message);
    ctx.cluster.write_status(&dm).await?;
    ctx.metrics.datamover_data_sync(&ns, Outcome::Failure);
    ctx.metrics
        .datamover_phase_finished(phase::CREATING_POD, &ns, Outcome::Failure, took);
    Ok(Action::await_change())
}
