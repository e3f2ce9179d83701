//! `CreatingPod`: the sync's request from the secret, the Job (created once, after the
//! [overlap rule](crate::overlap)), its progress mirrored into the status, and what its end
//! means (the check after the sync, the counts moved, the last pod's error).

use super::*;

/// The sync request for `dm` and its destination, or why it cannot run (a condition reason
/// and a message): the secret is missing, undecodable, or names no destination.
pub(super) fn prepare_sync<C: Cluster>(
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

pub(super) fn sync_request(dm: &DataMover, secret: &Secret) -> Result<SyncRequest, String> {
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
pub(super) async fn sync<C: Cluster>(
    mut dm: DataMover,
    ctx: &Context<C>,
) -> Result<Action, ReconcileError> {
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
pub(super) fn verified(status: &mut DataMoverStatus, mode: Verify, ms: Option<u64>) -> Option<u64> {
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
pub(super) fn with_pod_error(message: String, pod_error: &str) -> String {
    if pod_error.is_empty() || message.contains(pod_error) {
        message
    } else {
        format!("{message}; rclone: {pod_error}")
    }
}

/// The DataMover's view of its Job: pods started and failed, live progress, the last
/// pod's error.
pub(super) fn mirror(status: &mut DataMoverStatus, job: &Job) {
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
pub(super) fn count_moved<C: Cluster>(
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
pub(super) async fn create_job<C: Cluster>(
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
            // The timestamp folder is the one the Job's pods write into, as the backend
            // knows it (none when they name it themselves: the destination's base).
            if request.prefix.is_some() {
                request.prefix = ctx.cluster.sync_folder(&job);
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
/// the folder of another timestamp-prefixed DataMover's Job on the same base
/// ([`Cluster::sync_folder`], else its creation second) is this very second's, so this
/// one's `YYYY-MM-DD-HHMMSS` folder would be the same: wait for the next second. (On
/// Kubernetes, without `spec.verify`, the rclone image names the folder when its pod
/// starts, so there the wait narrows the window rather than closing it.)
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
        .filter_map(|job| {
            cluster
                .sync_folder(&job)
                .or_else(|| time::parse_rfc3339(&job.metadata.creation_timestamp).map(time::prefix))
        })
        .any(|theirs| theirs == folder);
    Ok(same_second.then(|| Duration::from_millis(1_000 - now % 1_000 + 10)))
}
