//! The schedule reconciler's retention step. It never waits: it creates the prune Job and
//! returns; the Job's end brings the schedule back (it owns the Job), and the next step
//! records the outcome in `status.retention`, counts it once the status write succeeded,
//! and deletes the finished Job.
//!
//! A prune Job starts after a run succeeded (the newest successful run not yet pruned
//! after), and only while no run of the schedule and no other prune Job is active.

use super::{AFTER_RUN_ANNOTATION, DRY_RUN_ENV, RetentionStatus, excluded, folder_of, prune_job};
use crate::job::{Job, JobOutcome};
use crate::reconciler::ReconcileError;
use crate::schedule::DataMoverSchedule;
use crate::schedule::reconciler::ScheduleCluster;
use crate::time;
use crate::types::DataMover;
use tmc_metrics::MetricsCollector;

/// What one step decided, counted and cleaned up by [`Retained::finish`] once the status
/// that says so is written.
#[derive(Debug, Default)]
pub(crate) struct Retained {
    /// Finished prune Jobs, recorded: deleted.
    finished: Vec<Job>,
    /// Backups deleted by the prune Jobs recorded in this step.
    pruned: u64,
    /// Backups the last prune recorded in this step kept.
    retained: Option<u64>,
    /// Prunes recorded as failed in this step.
    failures: u64,
}

impl Retained {
    /// Counts what the step recorded and deletes the finished prune Jobs.
    pub(crate) async fn finish<C: ScheduleCluster>(
        self,
        schedule: &DataMoverSchedule,
        cluster: &C,
        metrics: &MetricsCollector,
    ) {
        let (ns, name) = (&schedule.metadata.namespace, &schedule.metadata.name);
        if let Some(retained) = self.retained {
            metrics.datamover_schedule_pruned(name, ns, self.pruned, retained);
        }
        for _ in 0..self.failures {
            metrics.datamover_schedule_prune_failed(name, ns);
        }
        for job in &self.finished {
            if let Err(e) = cluster.delete_prune_job(job).await {
                // Recorded already: the next step deletes it without counting it again.
                tracing::warn!(job = %job.metadata.name, error = %e, "cannot delete the finished prune Job");
            }
        }
    }
}

fn after_run(job: &Job) -> String {
    job.metadata
        .annotations
        .get(AFTER_RUN_ANNOTATION)
        .cloned()
        .unwrap_or_default()
}

fn is_dry_run(job: &Job) -> bool {
    job.container()
        .and_then(|c| c.env.iter().find(|e| e.name == DRY_RUN_ENV))
        .is_some_and(|e| e.value == "true")
}

/// One retention step of `schedule` (its status updated in place); `newest` is its newest
/// successful run, `now` the clock's Unix milliseconds.
///
/// # Errors
/// [`ReconcileError`] when creating the prune Job fails in a way worth retrying.
pub(crate) async fn step<C: ScheduleCluster>(
    schedule: &mut DataMoverSchedule,
    newest: Option<&DataMover>,
    cluster: &C,
    now: u64,
) -> Result<Retained, ReconcileError> {
    let mut out = Retained::default();
    let mut jobs = cluster.prune_jobs(&schedule.metadata.namespace, &schedule.metadata.uid);
    jobs.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name)
            .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
    let mut running = false;
    for job in jobs.iter() {
        let Some(outcome) = job.outcome() else {
            running = true;
            continue;
        };
        let run = after_run(job);
        let recorded = schedule
            .status
            .retention
            .as_ref()
            .is_some_and(|r| r.after_run == run);
        if !recorded {
            let ended = if job.status.completion_time.is_empty() {
                time::rfc3339(now)
            } else {
                job.status.completion_time.clone()
            };
            let mut status = RetentionStatus {
                after_run: run,
                last_prune_time: ended,
                dry_run: is_dry_run(job),
                ..RetentionStatus::default()
            };
            match outcome {
                JobOutcome::Complete => {
                    let selection = job.status.retention.clone().unwrap_or_default();
                    if !status.dry_run {
                        out.pruned += selection.pruned.len() as u64;
                    }
                    out.retained = Some(selection.kept.len() as u64);
                    (status.kept, status.pruned) = (selection.kept, selection.pruned);
                }
                JobOutcome::Failed(reason) => {
                    out.failures += 1;
                    status.error = format!("the prune Job {} failed: {reason}", job.metadata.name);
                }
            }
            schedule.status.retention = Some(status);
        }
        out.finished.push(job.clone());
    }
    let Some(rules) = schedule.spec.retention.clone() else {
        return Ok(out);
    };
    let Some(run) = newest else {
        return Ok(out);
    };
    let done = |name: &str| {
        schedule
            .status
            .retention
            .as_ref()
            .is_some_and(|r| r.after_run == name)
            || jobs.iter().any(|j| after_run(j) == name)
    };
    if running
        || !schedule.status.active.is_empty()
        || !schedule.spec.add_timestamp_prefix
        || done(&run.metadata.name)
        || folder_of(run).is_none()
    {
        return Ok(out);
    }
    let excluded = excluded(schedule, &cluster.all_datamovers());
    let mut job = prune_job(schedule, &rules, run, &excluded);
    job.metadata
        .annotations
        .insert(AFTER_RUN_ANNOTATION.into(), run.metadata.name.clone());
    match cluster.create_prune_job(job).await {
        Ok((job, created)) => {
            if created {
                tracing::info!(schedule = %schedule.metadata.name, job = %job.metadata.name, after = %run.metadata.name, "prune Job started");
            }
        }
        Err(e) if e.is_retryable() => return Err(e.into()),
        Err(e) => {
            out.failures += 1;
            schedule.status.retention = Some(RetentionStatus {
                after_run: run.metadata.name.clone(),
                last_prune_time: time::rfc3339(now),
                dry_run: rules.dry_run,
                error: e.to_string(),
                ..RetentionStatus::default()
            });
        }
    }
    Ok(out)
}
