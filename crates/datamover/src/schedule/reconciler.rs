//! The schedule's reconcile, with Kubernetes CronJob semantics (`concurrencyPolicy: Forbid`,
//! no `startingDeadlineSeconds`):
//!
//! - the children are the DataMovers the schedule owns; a child is active until it is
//!   `Completed` or `Failed`. A child that leaves `status.active` finished is counted once
//!   (`datamover_schedule_runs_total`), after the status write that says so;
//! - finished children beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` are
//!   deleted, oldest first (with their clones);
//! - unless `suspend`, the scheduled times since the last one handled are due: the latest
//!   starts (a DataMover named `<schedule>-<unix minutes>`, so a retried or restarted
//!   reconcile adopts it instead of starting a second), the earlier ones are *missed*
//!   (counted: after downtime at most one run starts). While a child is active the due run
//!   is *skipped* (counted, and shown in `status.skippedRuns` and `status.message`);
//! - a new value of the [`TRIGGER_ANNOTATION`] starts one run at once
//!   (`<schedule>-now-<unix seconds>`), suspended or not, or is skipped (and counted) while
//!   a run is active; `status.lastManualTrigger` records the value answered;
//! - it returns at once, asking to be requeued at the next scheduled time; a child's
//!   change brings it back sooner ([`Controller::owns`](tmc_runtime::Controller::owns)).

use super::clock::Clock;
use super::cron::CronSchedule;
use super::{
    DataMoverSchedule, ObjectReference, SCHEDULE_LABEL, SCHEDULED_AT_ANNOTATION, TRIGGER_ANNOTATION,
};
use crate::backend::ClusterError;
use crate::job::Job;
use crate::reconciler::{ReconcileError, phase};
use crate::time;
use crate::types::{API_VERSION, DataMover, DataMoverSpec, ObjectMeta, OwnerReference};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::{DataMoverStatus as Op, MetricsCollector, Outcome, ScheduleSkip};
use tmc_runtime::Action;

/// What the schedule reconciler needs from a cluster.
pub trait ScheduleCluster: Send + Sync + 'static {
    /// The current schedule.
    fn schedule(&self, namespace: &str, name: &str) -> Option<DataMoverSchedule>;
    /// The DataMovers in `namespace` owned by the object with `uid`.
    fn owned(&self, namespace: &str, uid: &str) -> Vec<DataMover>;
    /// Creates a DataMover; `true` with it when this call created it, `false` when one
    /// with its name existed (adopted).
    ///
    /// # Errors
    /// [`ClusterError`] when it cannot be stored.
    fn create_datamover(
        &self,
        dm: DataMover,
    ) -> impl Future<Output = Result<(DataMover, bool), ClusterError>> + Send;
    /// Deletes a finished DataMover and what it owns (its clone, its Job). Idempotent.
    ///
    /// # Errors
    /// [`ClusterError`] when the store or the volume fails.
    fn delete_datamover(
        &self,
        dm: &DataMover,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// Writes the schedule's status (optimistic: its resourceVersion must be current).
    ///
    /// # Errors
    /// [`ClusterError::Conflict`] when stale.
    fn write_status(
        &self,
        schedule: &DataMoverSchedule,
    ) -> impl Future<Output = Result<DataMoverSchedule, ClusterError>> + Send;
    /// The prune Jobs ([`retention`](super::retention)) in `namespace` owned by the
    /// schedule with `uid`. None by default: a backend that runs no prune Jobs.
    fn prune_jobs(&self, namespace: &str, uid: &str) -> Vec<Job> {
        let _ = (namespace, uid);
        Vec::new()
    }
    /// Every DataMover, in all namespaces: the folders they wrote are never pruned.
    fn all_datamovers(&self) -> Vec<DataMover> {
        Vec::new()
    }
    /// Creates a prune Job and returns at once; `true` with it when this call created it,
    /// `false` when it existed (adopted). By default it refuses: the backend runs none.
    ///
    /// # Errors
    /// [`ClusterError`] when it cannot be created.
    fn create_prune_job(
        &self,
        job: Job,
    ) -> impl Future<Output = Result<(Job, bool), ClusterError>> + Send {
        let name = job.metadata.name;
        async move {
            Err(ClusterError::Sync(format!(
                "this backend cannot run the prune Job {name}: spec.retention is not supported here yet"
            )))
        }
    }
    /// Deletes a finished prune Job. Idempotent.
    ///
    /// # Errors
    /// [`ClusterError`] when the store fails.
    fn delete_prune_job(&self, job: &Job) -> impl Future<Output = Result<(), ClusterError>> + Send {
        let _ = job;
        async { Ok(()) }
    }
}

/// What the schedule reconciler needs.
#[derive(Debug)]
pub struct ScheduleContext<C> {
    /// The cluster.
    pub cluster: Arc<C>,
    /// The wall clock (tests: [`TokioClock`](super::clock::TokioClock)).
    pub clock: Arc<dyn Clock>,
    /// Where the `datamover_schedule_*` metrics go.
    pub metrics: MetricsCollector,
}

/// The DataMover spec a schedule makes, under the schedule's own name and kind (what the
/// apply-time policy checks).
#[must_use]
pub fn as_datamover(schedule: &DataMoverSchedule) -> DataMover {
    let s = &schedule.spec;
    DataMover {
        api_version: API_VERSION.into(),
        kind: super::KIND.into(),
        metadata: ObjectMeta {
            name: schedule.metadata.name.clone(),
            namespace: schedule.metadata.namespace.clone(),
            ..ObjectMeta::default()
        },
        spec: DataMoverSpec {
            source_pvc: s.source_pvc.clone(),
            secret_name: s.secret_name.clone(),
            add_timestamp_prefix: s.add_timestamp_prefix,
            delete_pvc_after_backup: s.delete_pvc_after_backup,
            additional_env: s.additional_env.clone(),
            image: s.image.clone(),
            copy_method: s.copy_method,
            volume_snapshot_class_name: s.volume_snapshot_class_name.clone(),
            verify: s.verify,
        },
        status: crate::types::DataMoverStatus::default(),
    }
}

/// The name of the run scheduled at `at_ms`: `<schedule>-<unix minutes>`, as CronJob names
/// its Jobs (the schedule's name cut to 52 characters).
///
/// ```
/// // 2026-11-30T12:00:00Z
/// assert_eq!(datamover::schedule::reconciler::run_name("nightly", 1_796_040_000_000), "nightly-29934000");
/// ```
#[must_use]
pub fn run_name(schedule: &str, at_ms: u64) -> String {
    let base: String = schedule.chars().take(52).collect();
    format!("{}-{}", base.trim_end_matches(['-', '.']), at_ms / 60_000)
}

/// The DataMover of the run scheduled at `at_ms`, owned by `schedule`.
#[must_use]
pub fn run_for(schedule: &DataMoverSchedule, at_ms: u64) -> DataMover {
    let mut dm = as_datamover(schedule);
    dm.kind = "DataMover".into();
    dm.metadata.name = run_name(&schedule.metadata.name, at_ms);
    dm.metadata
        .labels
        .insert(SCHEDULE_LABEL.into(), schedule.metadata.name.clone());
    dm.metadata
        .annotations
        .insert(SCHEDULED_AT_ANNOTATION.into(), time::rfc3339(at_ms));
    dm.metadata.owner_references = vec![OwnerReference {
        api_version: API_VERSION.into(),
        kind: super::KIND.into(),
        name: schedule.metadata.name.clone(),
        uid: schedule.metadata.uid.clone(),
        controller: true,
        block_owner_deletion: true,
    }];
    dm
}

fn reference(dm: &DataMover) -> ObjectReference {
    ObjectReference {
        api_version: API_VERSION.into(),
        kind: "DataMover".into(),
        name: dm.metadata.name.clone(),
        namespace: dm.metadata.namespace.clone(),
        uid: dm.metadata.uid.clone(),
    }
}

/// How a child ended, or `None` while it runs.
fn outcome(dm: &DataMover) -> Option<Outcome> {
    match dm.status.phase.as_str() {
        phase::COMPLETED => Some(Outcome::Success),
        phase::FAILED => Some(Outcome::Failure),
        _ => None,
    }
}

/// When a child was scheduled (its annotation), else created: the history's order.
fn scheduled_at(dm: &DataMover) -> u64 {
    dm.metadata
        .annotations
        .get(SCHEDULED_AT_ANNOTATION)
        .or(Some(&dm.metadata.creation_timestamp))
        .and_then(|t| time::parse_rfc3339(t))
        .unwrap_or(0)
}

fn ms(text: &str) -> Option<u64> {
    time::parse_rfc3339(text)
}

/// What a reconcile counts once its status write succeeded.
#[derive(Default)]
struct Counts {
    finished: Vec<Outcome>,
    skipped: u64,
    missed: u64,
}

/// Reconciles one schedule one step. See the [module docs](self).
///
/// # Errors
/// [`ReconcileError`] when a write conflicts or the cluster fails; the step is retried.
pub async fn reconcile<C: ScheduleCluster>(
    object: Arc<DataMoverSchedule>,
    ctx: Arc<ScheduleContext<C>>,
) -> Result<Action, ReconcileError> {
    let (ns, name) = (&object.metadata.namespace, &object.metadata.name);
    let Some(mut schedule) = ctx.cluster.schedule(ns, name) else {
        return Ok(Action::await_change());
    };
    let now = ctx.clock.now_ms();
    let before = schedule.status.clone();
    let mut counts = Counts::default();
    let children = ctx.cluster.owned(ns, &schedule.metadata.uid);

    // Children that were active and have finished since: counted once the status says so.
    for r in &before.active {
        if let Some(o) = children
            .iter()
            .find(|c| c.metadata.uid == r.uid)
            .and_then(outcome)
        {
            counts.finished.push(o);
        }
    }
    let mut active: Vec<&DataMover> = children.iter().filter(|c| outcome(c).is_none()).collect();
    active.sort_by_key(|c| (scheduled_at(c), c.metadata.name.clone()));
    let status = &mut schedule.status;
    status.active = active.iter().map(|c| reference(c)).collect();
    for c in children
        .iter()
        .filter(|c| outcome(c) == Some(Outcome::Success))
    {
        let done = ms(&c.status.completion_time).unwrap_or_else(|| scheduled_at(c));
        if ms(&status.last_successful_time).is_none_or(|t| done > t) {
            status.last_successful_time = time::rfc3339(done);
        }
        if let Some(verified) = ms(&c.status.verified_at)
            .filter(|v| ms(&status.last_verified_time).is_none_or(|t| *v > t))
        {
            status.last_verified_time = time::rfc3339(verified);
        }
    }
    let newest_success = children
        .iter()
        .filter(|c| outcome(c) == Some(Outcome::Success))
        .max_by_key(|c| (scheduled_at(c), c.metadata.name.clone()))
        .cloned();
    let (successful, failed) = prune(&schedule, &children, &ctx).await?;
    let status = &mut schedule.status;
    (status.successful_jobs, status.failed_jobs) = (successful, failed);

    let cron = match CronSchedule::parse(&schedule.spec.schedule) {
        Ok(c) => Some(c),
        Err(e) => {
            schedule.status.message = format!("spec.schedule: {e}");
            None
        }
    };
    let mut requeue = None;
    if let Some(cron) = cron.filter(|_| !schedule.spec.suspend) {
        run_due(&mut schedule, &cron, now, &ctx, &mut counts).await?;
        requeue = cron
            .next_after(now)
            .map(|next| Duration::from_millis(next - now));
    }
    run_now(&mut schedule, now, &ctx, &mut counts).await?;
    schedule.status.active_jobs = u32::try_from(schedule.status.active.len()).unwrap_or(u32::MAX);
    let retained = super::retention::reconcile::step(
        &mut schedule,
        newest_success.as_ref(),
        &*ctx.cluster,
        now,
    )
    .await?;
    if schedule.status != before {
        ctx.cluster.write_status(&schedule).await?;
    }
    retained
        .finish(&schedule, &*ctx.cluster, &ctx.metrics)
        .await;
    let m = &ctx.metrics;
    for o in counts.finished {
        let op = match o {
            Outcome::Success => Op::Success,
            Outcome::Failure => Op::Failure,
        };
        m.datamover_schedule_run(name, ns, op);
    }
    m.datamover_schedule_skipped(name, ns, ScheduleSkip::Active, counts.skipped);
    m.datamover_schedule_skipped(name, ns, ScheduleSkip::Missed, counts.missed);
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// Starts (or skips) the latest due run; counts the earlier ones as missed.
async fn run_due<C: ScheduleCluster>(
    schedule: &mut DataMoverSchedule,
    cron: &CronSchedule,
    now: u64,
    ctx: &ScheduleContext<C>,
    counts: &mut Counts,
) -> Result<(), ReconcileError> {
    let status = &schedule.status;
    let handled = [&status.last_schedule_time, &status.last_skipped_time]
        .into_iter()
        .filter_map(|t| ms(t))
        .max()
        .or_else(|| ms(&schedule.metadata.creation_timestamp))
        .unwrap_or(now);
    let (due, count) = cron.due_between(handled, now, 1);
    let Some(&at) = due.last() else {
        return Ok(());
    };
    let missed = count.saturating_sub(1);
    let wanted = run_name(&schedule.metadata.name, at);
    let own_run = schedule.status.active.iter().any(|r| r.name == wanted);
    if !schedule.status.active.is_empty() && !own_run {
        let status = &mut schedule.status;
        status.skipped_runs += 1;
        status.missed_runs += missed;
        status.last_skipped_time = time::rfc3339(at);
        let running: Vec<&str> = status.active.iter().map(|r| r.name.as_str()).collect();
        status.message = format!(
            "skipped the run of {}: the previous run ({}) is still active",
            time::rfc3339(at),
            running.join(", ")
        );
        counts.skipped += 1;
        counts.missed += missed;
        return Ok(());
    }
    let (dm, created) = ctx.cluster.create_datamover(run_for(schedule, at)).await?;
    let (ns, name) = (&schedule.metadata.namespace, &schedule.metadata.name);
    if created {
        // The DataMover is the durable record: counted once, however often the status
        // write below is retried.
        ctx.metrics.datamover_schedule_run(name, ns, Op::Started);
        tracing::info!(schedule = %format!("{ns}/{name}"), datamover = %dm.metadata.name, scheduled = %time::rfc3339(at), missed, "scheduled run started");
    }
    let status = &mut schedule.status;
    if !own_run {
        status.active.push(reference(&dm));
    }
    status.last_schedule_time = time::rfc3339(at);
    status.missed_runs += missed;
    counts.missed += missed;
    status.message = if missed > 0 {
        format!(
            "started the run of {}; {missed} earlier run(s) were missed while the operator was down",
            time::rfc3339(at)
        )
    } else {
        String::new()
    };
    Ok(())
}

/// The run a new value of [`TRIGGER_ANNOTATION`] asks for: started at once (suspended or
/// not: it is an explicit request), or skipped while a run is active, like a scheduled one.
async fn run_now<C: ScheduleCluster>(
    schedule: &mut DataMoverSchedule,
    now: u64,
    ctx: &ScheduleContext<C>,
    counts: &mut Counts,
) -> Result<(), ReconcileError> {
    let Some(trigger) = schedule
        .metadata
        .annotations
        .get(TRIGGER_ANNOTATION)
        .filter(|t| !t.is_empty() && **t != schedule.status.last_manual_trigger)
        .cloned()
    else {
        return Ok(());
    };
    if !schedule.status.active.is_empty() {
        let status = &mut schedule.status;
        status.skipped_runs += 1;
        status.last_manual_trigger = trigger;
        let running: Vec<&str> = status.active.iter().map(|r| r.name.as_str()).collect();
        status.message = format!(
            "skipped the manual run: the previous run ({}) is still active",
            running.join(", ")
        );
        counts.skipped += 1;
        return Ok(());
    }
    let mut run = run_for(schedule, now);
    run.metadata.name = manual_run_name(&schedule.metadata.name, now);
    run.metadata
        .annotations
        .insert(TRIGGER_ANNOTATION.into(), trigger.clone());
    let (dm, created) = ctx.cluster.create_datamover(run).await?;
    let (ns, name) = (&schedule.metadata.namespace, &schedule.metadata.name);
    if created {
        ctx.metrics.datamover_schedule_run(name, ns, Op::Started);
        tracing::info!(schedule = %format!("{ns}/{name}"), datamover = %dm.metadata.name, %trigger, "manual run started");
    }
    let status = &mut schedule.status;
    status.active.push(reference(&dm));
    status.last_schedule_time = time::rfc3339(now);
    status.last_manual_trigger = trigger;
    status.message = format!("started a manual run, {}", dm.metadata.name);
    Ok(())
}

/// The name of a run started by hand at `at_ms`: `<schedule>-now-<unix seconds>` (the
/// schedule's name cut to 48 characters), apart from the scheduled runs' names.
///
/// ```
/// assert_eq!(
///     datamover::schedule::reconciler::manual_run_name("nightly", 1_796_040_000_000),
///     "nightly-now-1796040000"
/// );
/// ```
#[must_use]
pub fn manual_run_name(schedule: &str, at_ms: u64) -> String {
    let base: String = schedule.chars().take(48).collect();
    format!("{}-now-{}", base.trim_end_matches(['-', '.']), at_ms / 1000)
}

/// Deletes finished children beyond the history limits, oldest first; the successful and
/// failed children kept.
async fn prune<C: ScheduleCluster>(
    schedule: &DataMoverSchedule,
    children: &[DataMover],
    ctx: &ScheduleContext<C>,
) -> Result<(u32, u32), ReconcileError> {
    let mut kept = [0u32; 2];
    for (i, (wanted, limit)) in [
        (Outcome::Success, schedule.successful_history()),
        (Outcome::Failure, schedule.failed_history()),
    ]
    .into_iter()
    .enumerate()
    {
        let mut finished: Vec<&DataMover> = children
            .iter()
            .filter(|c| outcome(c) == Some(wanted))
            .collect();
        finished.sort_by_key(|c| (scheduled_at(c), c.metadata.name.clone()));
        let excess = finished.len().saturating_sub(limit as usize);
        for old in &finished[..excess] {
            ctx.cluster.delete_datamover(old).await?;
            tracing::info!(datamover = %old.metadata.name, "deleted a finished run beyond the history limit");
        }
        kept[i] = u32::try_from(finished.len() - excess).unwrap_or(u32::MAX);
    }
    Ok((kept[0], kept[1]))
}
