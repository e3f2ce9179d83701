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
        clone: dm.sync_claim().to_owned(),
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

/// `CreatingPod`: create the sync Job and return; on later visits (the Job's status
/// changes bring the DataMover back) mirror its progress, and move on once it ends.
async fn sync<C: Cluster>(mut dm: DataMover, ctx: &Context<C>) -> Result<Action, ReconcileError> {
    let ns = dm.metadata.namespace.clone();
    let name = job::job_name(&dm.metadata.name, &dm.metadata.uid);
    let Some(job) = ctx.cluster.job(&ns, &name) else {
        return create_job(dm, ctx).await;
    };
    let before = (dm.status.attempts, dm.status.progress);
    let failed_before = dm.status.failed_attempts;
    mirror(&mut dm.status, &job);
    // A pod that failed its check after the sync: counted once its failure is stored, as
    // it happens (embedded); or all at once when the Job has ended, where the backend
    // reads them only then (Kubernetes: `failed_checks`).
    let verify_failed = job.status.failed_checks.is_none()
        && dm.status.failed_attempts > failed_before
        && job.status.last_pod_error.starts_with(VERIFY_FAILED);
    let failed_checks = job.status.failed_checks.unwrap_or(u32::from(verify_failed));
    match job.outcome() {
        None => {
            if (dm.status.attempts, dm.status.progress) != before || verify_failed {
                dm = ctx.cluster.write_status(&dm).await?;
                count_moved(ctx, &dm, before);
            }
            if verify_failed {
                ctx.metrics.datamover_verify(&ns, Outcome::Failure, None);
            }
            Ok(Action::await_change())
        }
        Some(JobOutcome::Complete) => {
            let took = elapsed(&dm.status);
            let last = dm.status.progress.take().unwrap_or_default();
            dm.status.bytes_transferred = last.bytes;
            dm.status.files_transferred = last.files;
            let msg = format!("synced to {}", dm.status.destination);
            condition(&mut dm.status, "Synced", true, "SyncSucceeded", &msg);
            let verified = verified(&mut dm.status, dm.spec.verify, last.verified_ms);
            // A snapshot is deleted after the sync, whatever becomes of the PVC made from it.
            let cleanup = dm.spec.delete_pvc_after_backup || dm.spec.is_snapshot();
            if cleanup {
                enter(&mut dm.status, phase::CLEANING_UP);
            } else {
                enter(&mut dm.status, phase::COMPLETED);
                complete(&mut dm.status);
            }
            let mut counted = dm.clone();
            counted.status.progress = Some(last);
            dm = ctx.cluster.write_status(&dm).await?;
            count_moved(ctx, &counted, before);
            let m = &ctx.metrics;
            m.datamover_data_sync(&ns, Outcome::Success);
            for _ in 0..job.status.failed_checks.unwrap_or_default() {
                m.datamover_verify(&ns, Outcome::Failure, None);
            }
            if let Some(ms) = verified {
                m.datamover_verify(&ns, Outcome::Success, Some(Duration::from_millis(ms)));
            }
            m.datamover_phase_finished(phase::CREATING_POD, &ns, Outcome::Success, took);
            if cleanup {
                m.datamover_phase_started(phase::CLEANING_UP, &ns);
            }
            drop(dm);
            Ok(Action::await_change())
        }
        Some(JobOutcome::Failed(message)) => {
            let message = with_pod_error(message, &job.status.last_pod_error);
            let took = elapsed(&dm.status);
            let progress = dm.status.progress.take();
            let mut counted = dm.clone();
            counted.status.progress = progress;
            condition(&mut dm.status, "Synced", false, "SyncFailed", &message);
            fail(&mut dm.status, "BackoffLimitExceeded", &message);
            ctx.cluster.write_status(&dm).await?;
            count_moved(ctx, &counted, before);
            for _ in 0..failed_checks {
                ctx.metrics.datamover_verify(&ns, Outcome::Failure, None);
            }
            ctx.metrics.datamover_data_sync(&ns, Outcome::Failure);
            ctx.metrics
                .datamover_phase_finished(phase::CREATING_POD, &ns, Outcome::Failure, took);
            Ok(Action::await_change())
        }
    }
}

/// How a pod's error starts when the check after its sync failed ([`crate::verify`] words
/// it so, on both backends).
pub const VERIFY_FAILED: &str = crate::verify::FAILED;

/// Records the check of a completed sync in `status` (`verifiedAt` and the `Verified`
/// condition) when `spec.verify` asked for one; the milliseconds it took when it passed.
fn verified(status: &mut DataMoverStatus, mode: Verify, ms: Option<u64>) -> Option<u64> {
    if mode.is_none() {
        return None;
    }
    match ms {
        Some(ms) => {
            status.verified_at = time::rfc3339(time::now_ms());
            #[allow(clippy::cast_precision_loss)] // milliseconds, shown to a tenth
            let msg = format!(
                "the {} check found no difference ({:.1} s)",
                mode.as_str(),
                ms as f64 / 1000.0
            );
            condition(status, "Verified", true, "Verified", &msg);
            Some(ms)
        }
        None => {
            let msg = "the sync pod reported no check: its report (the termination message of the Job's last pod) could not be read";
            condition(status, "Verified", false, "NotVerified", msg);
            None
        }
    }
}

/// A failed Job's message with rclone's words (the last pod's error), unless it has them
/// already: the embedded executor's `Failed` condition names the last pod's error, the
/// Kubernetes Job controller's says only `Job has reached the specified backoff limit`.
fn with_pod_error(message: String, pod_error: &str) -> String {
    if pod_error.is_empty() || message.contains(pod_error) {
        message
    } else {
        format!("{message}; rclone: {pod_error}")
    }
}

/// The DataMover's view of its Job: pods started and failed, live progress, the last
/// pod's error.
fn mirror(status: &mut DataMoverStatus, job: &Job) {
    status.attempts = job.pods();
    status.failed_attempts = job.status.failed;
    status.progress = job.status.progress;
    if job.status.failed > 0 && job.outcome().is_none() {
        let message = format!(
            "pod {} of {} failed: {}",
            job.status.failed,
            job.spec.backoff_limit + 1,
            job.status.last_pod_error
        );
        status.last_error.clone_from(&job.status.last_pod_error);
        condition(status, "Synced", false, "PodFailed", &message);
    }
}

/// Counts what the Job moved since the status `before` was written, once the status that
/// says so is stored (a new pod starts over from 0).
fn count_moved<C: Cluster>(
    ctx: &Context<C>,
    dm: &DataMover,
    (attempts, progress): (u32, Option<SyncProgress>),
) {
    let Some(now) = dm.status.progress else {
        return;
    };
    let base = progress
        .filter(|_| attempts == dm.status.attempts)
        .unwrap_or_default();
    let (bytes, files) = (
        now.bytes.saturating_sub(base.bytes),
        now.files.saturating_sub(base.files),
    );
    if bytes > 0 || files > 0 {
        ctx.metrics
            .datamover_transferred(&dm.metadata.namespace, bytes, files);
    }
}

/// No Job yet: check the secret, create the Job, and return; its status brings us back.
async fn create_job<C: Cluster>(
    mut dm: DataMover,
    ctx: &Context<C>,
) -> Result<Action, ReconcileError> {
    let ns = dm.metadata.namespace.clone();
    let (mut request, mut destination) = match prepare_sync(&dm, ctx) {
        Ok(prepared) => prepared,
        Err((reason, msg)) => return fail_phase(dm, ctx, reason, &msg).await,
    };
    // Prefixed syncs check and create one at a time, so two on one base see each other's
    // Job and never share a timestamp folder.
    let serial = if dm.spec.add_timestamp_prefix {
        Some(PREFIXED_JOB_CREATION.lock().await)
    } else {
        None
    };
    match check_overlap(ctx.cluster.as_ref(), &dm) {
        Ok(None) => {}
        Ok(Some(wait)) => return Ok(Action::requeue(wait)),
        Err(msg) => {
            drop(serial);
            return fail_phase(dm, ctx, "DestinationOverlap", &msg).await;
        }
    }
    let m = &ctx.metrics;
    let created = ctx.cluster.create_job(&dm).await;
    drop(serial);
    match created {
        Ok((job, created)) => {
            // The Job is the durable record: counted once, however often this status
            // write is retried.
            if created {
                m.datamover_pod_creation(&ns, Op::Started);
                m.datamover_pod_creation(&ns, Op::Success);
            }
            // The timestamp folder is the Job's creation second, as its pod names it.
            let created = time::parse_rfc3339(&job.metadata.creation_timestamp);
            if let (Some(ms), Some(_)) = (created, &request.prefix) {
                request.prefix = Some(time::prefix(ms));
                if let Ok(d) = ctx.cluster.check_sync(&request) {
                    destination = d;
                }
            }
            dm.status.destination = destination;
            dm.status.job_name.clone_from(&job.metadata.name);
            let msg = format!("the sync Job {} is running", job.metadata.name);
            condition(&mut dm.status, "Synced", false, "JobCreated", &msg);
            mirror(&mut dm.status, &job);
            ctx.cluster.write_status(&dm).await?;
            Ok(Action::await_change())
        }
        Err(e) if e.is_retryable() => Err(e.into()),
        Err(e) => {
            m.datamover_pod_creation(&ns, Op::Started);
            m.datamover_pod_creation(&ns, Op::Failure);
            let msg = format!("cannot create the sync Job: {e}");
            fail_phase(dm, ctx, "JobCreationFailed", &msg).await
        }
    }
}

/// Held while a timestamp-prefixed sync is checked and its Job created (see
/// [`check_overlap`]).
static PREFIXED_JOB_CREATION: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The [overlap rule](crate::overlap) for `dm`'s sync, right before its Job is created (and,
/// on the embedded backend, before each of its pods starts): `Err` with the refusal when its
/// target overlaps where another live DataMover or schedule writes; `Ok(Some(wait))` when
/// another timestamp-prefixed DataMover on the same base created its Job in this very
/// second, so this one's `YYYY-MM-DD-HHMMSS` folder would be the same: wait for the next
/// second. (On Kubernetes the rclone image names the folder when its pod starts, so there
/// the wait narrows the window rather than closing it.)
///
/// # Errors
/// The refusal, naming the other object and its destination.
pub fn check_overlap<C: Cluster>(cluster: &C, dm: &DataMover) -> Result<Option<Duration>, String> {
    let ns = &dm.metadata.namespace;
    let Some(secret) = cluster.secret(ns, &dm.spec.secret_name) else {
        return Ok(None); // nothing to sync to: the sync fails on its own with the reason
    };
    let locate = |v: &_, e: &[_]| cluster.locate(v, e);
    let Ok(location) = crate::overlap::locate_mover(dm, &secret, locate) else {
        return Ok(None); // no destination this rule can place: the sync says why on its own
    };
    let candidate = crate::overlap::Claim::new(dm, location);
    let movers = cluster.movers();
    let others = |v: &_, e: &[_]| cluster.locate_other(v, e);
    let claims = crate::overlap::claims(&movers, |ns, n| cluster.secret(ns, n), others);
    crate::overlap::check(&candidate, &claims)?;
    if !candidate.timestamped {
        return Ok(None);
    }
    let now = time::now_ms();
    let folder = time::prefix(now);
    let same_second = claims
        .iter()
        .filter(|c| {
            c.kind == candidate.kind
                && (&c.namespace, &c.name) != (ns, &dm.metadata.name)
                && c.timestamped
                && c.location == candidate.location
        })
        .filter_map(|c| {
            movers.iter().find(|m| {
                crate::overlap::Claim::kind_of(m) == c.kind
                    && (&m.metadata.namespace, &m.metadata.name) == (&c.namespace, &c.name)
            })
        })
        .filter_map(|other| {
            let name = job::job_name(&other.metadata.name, &other.metadata.uid);
            cluster.job(&other.metadata.namespace, &name)
        })
        .filter_map(|job| time::parse_rfc3339(&job.metadata.creation_timestamp))
        .any(|created| time::prefix(created) == folder);
    Ok(same_second.then(|| Duration::from_millis(1_000 - now % 1_000 + 10)))
}
