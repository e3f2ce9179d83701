//! One Job's life in the executor: its pods, one after the other.

use super::{ExecutorConfig, PodRunner, Stop};
use crate::store::{EmbeddedStore, StoreError};
use datamover::job::Job;
use datamover::progress::SyncProgress;
use datamover::time;
use datamover::types::Condition;
use std::sync::Arc;
use std::time::Duration;
use tmc_runtime::ObjectKey;
use tokio::sync::{Semaphore, watch};

pub(super) struct Worker<R> {
    pub(super) store: Arc<EmbeddedStore>,
    pub(super) runner: Arc<R>,
    pub(super) config: ExecutorConfig,
    pub(super) slots: Arc<Semaphore>,
    pub(super) key: ObjectKey,
    pub(super) uid: String,
    pub(super) stop: watch::Receiver<Option<Stop>>,
}

/// The longest wait between two attempts of a status write the disk refused.
const WRITE_RETRY_MAX: Duration = Duration::from_secs(30);

/// The worker ends: the Job finished, was deleted, or the executor stops.
struct Done;

fn condition(job: &mut Job, type_: &str, reason: &str, message: &str) {
    job.status.conditions.push(Condition {
        type_: type_.into(),
        status: "True".into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: time::rfc3339(time::now_ms()),
    });
}

impl<R: PodRunner> Worker<R> {
    pub(super) async fn run(mut self) {
        while self.step().await.is_ok() {}
    }

    /// The Job as stored now, if it is still ours and unfinished.
    fn current(&self) -> Result<Job, Done> {
        let ns = self.key.namespace().unwrap_or("default");
        match self.store.object::<Job>(ns, self.key.name()) {
            Some(job) if job.metadata.uid == self.uid && job.outcome().is_none() => Ok(job),
            _ => Err(Done),
        }
    }

    /// Writes `job`'s status; `Done` when the Job is gone. A write the disk refuses (see
    /// [`StoreError::Write`]) is retried, 1 s doubling to [`WRITE_RETRY_MAX`], until it is
    /// stored or the worker is stopped: a pod's start or end is not lost to a full disk.
    async fn write(&self, job: &Job) -> Result<Job, Done> {
        let mut wait = Duration::from_secs(1);
        loop {
            let attempt = job.clone();
            match self.store.write(move |s| s.update_status(&attempt)).await {
                Ok(job) => return Ok(job),
                Err(StoreError::NotFound { .. }) => return Err(Done),
                Err(e @ StoreError::Write(_)) => {
                    tracing::warn!(job = %self.key, error = %e, retry_in = ?wait,
                        "cannot write the Job's status; retrying");
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = Self::stopped(&mut stop) => return Err(Done),
                    }
                    wait = (wait * 2).min(WRITE_RETRY_MAX);
                }
                Err(e) => {
                    // Only this worker writes the Job's status: a conflict or a database
                    // error is not ours to resolve; the next step re-reads.
                    tracing::error!(job = %self.key, error = %e, "cannot write the Job's status");
                    return Err(Done);
                }
            }
        }
    }

    /// Writes a running pod's progress tick; `None` when the disk refused it: the tick is
    /// dropped (logged), the sync goes on, and a later tick or the pod's end writes again.
    async fn write_progress(&self, job: &Job) -> Result<Option<Job>, Done> {
        let tick = job.clone();
        match self.store.write(move |s| s.update_status(&tick)).await {
            Ok(job) => Ok(Some(job)),
            Err(e @ StoreError::Write(_)) => {
                tracing::warn!(job = %self.key, error = %e, "a progress tick was dropped: the store cannot write");
                Ok(None)
            }
            Err(StoreError::NotFound { .. }) => Err(Done),
            Err(e) => {
                tracing::error!(job = %self.key, error = %e, "cannot write the Job's status");
                Err(Done)
            }
        }
    }

    /// Resolves when the executor tells this worker to stop.
    async fn stopped(stop: &mut watch::Receiver<Option<Stop>>) -> Stop {
        match stop.wait_for(Option::is_some).await {
            Ok(reason) => reason.unwrap_or(Stop::Shutdown),
            Err(_) => Stop::Shutdown,
        }
    }

    /// Counts a failed pod; past `backoffLimit` the Job fails.
    async fn fail_pod(&self, mut job: Job, error: &str) -> Result<Job, Done> {
        job.status.active = 0;
        job.status.failed += 1;
        job.status.last_pod_error = error.to_owned();
        let failed = job.status.failed;
        if failed > job.spec.backoff_limit {
            let message = format!(
                "{failed} pods failed, backoffLimit is {}; the last one: {error}",
                job.spec.backoff_limit
            );
            condition(&mut job, "Failed", "BackoffLimitExceeded", &message);
            tracing::warn!(job = %self.key, %message, "sync job failed");
            self.write(&job).await?;
            return Err(Done);
        }
        tracing::info!(job = %self.key, failed, error, "sync pod failed; retrying after backoff");
        self.write(&job).await
    }

    /// One pod, from waiting for its turn to its end.
    async fn step(&mut self) -> Result<(), Done> {
        let mut job = self.current()?;
        if job.status.active > 0 {
            // Its pod was lost with a previous operator process.
            self.runner.stop_left_behind(&job, self.config.grace).await;
            job = self
                .fail_pod(job, "the pod was lost: the operator stopped while it ran")
                .await?;
        }
        if job.status.failed > 0 {
            let wait = self.config.backoff_after(job.status.failed);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = Self::stopped(&mut self.stop) => return Err(Done),
            }
        }
        let slots = Arc::clone(&self.slots);
        let _slot = tokio::select! {
            slot = slots.acquire() => slot.map_err(|_| Done)?,
            _ = Self::stopped(&mut self.stop) => return Err(Done),
        };
        let mut job = self.current()?;
        let (progress_tx, mut progress_rx) = watch::channel(SyncProgress::default());
        let mut pod = match self.runner.start(&job, progress_tx) {
            Ok(pod) => pod,
            Err(e) => {
                self.fail_pod(job, &e).await?;
                return Ok(());
            }
        };
        job.status.active = 1;
        if job.status.start_time.is_empty() {
            job.status.start_time = time::rfc3339(time::now_ms());
        }
        job.status.progress = Some(SyncProgress::default());
        job = self.write(&job).await?;
        tracing::info!(job = %self.key, pod = job.pods(), pid = ?pod.pid, "sync pod started");

        let mut tick = tokio::time::interval(self.config.progress_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let exit = loop {
            tokio::select! {
                exit = &mut pod.exit => break exit,
                _ = tick.tick() => {
                    if progress_rx.has_changed().unwrap_or(false) {
                        let mut tick = job.clone();
                        tick.status.progress = Some(*progress_rx.borrow_and_update());
                        if let Some(written) = self.write_progress(&tick).await? {
                            job = written;
                        }
                    }
                }
                reason = Self::stopped(&mut self.stop) => {
                    if let Some(pid) = pod.pid {
                        crate::rclone::signal(pid, nix::sys::signal::Signal::SIGTERM);
                    }
                    // Past the grace period, dropping the pod kills it.
                    let _ = tokio::time::timeout(self.config.grace, &mut pod.exit).await;
                    drop(pod);
                    if reason == Stop::Shutdown {
                        // Not the pod's fault: the next start runs a new one.
                        if let Ok(mut job) = self.current() {
                            job.status.active = 0;
                            let _ = self.write(&job).await;
                        }
                    }
                    return Err(Done);
                }
            }
        };
        let mut job = self.current()?;
        job.status.active = 0;
        match exit {
            Ok(last) => {
                job.status.progress = Some(last);
                job.status.retention = self.runner.take_selection(&job);
                job.status.succeeded += 1;
                job.status.completion_time = time::rfc3339(time::now_ms());
                condition(&mut job, "Complete", "Completed", "the sync pod succeeded");
                self.write(&job).await?;
                tracing::info!(job = %self.key, bytes = last.bytes, files = last.files, "sync job complete");
                Err(Done)
            }
            Err(e) => {
                job.status.progress = Some(*progress_rx.borrow());
                self.fail_pod(job, &e).await.map(drop)
            }
        }
    }
}
