//! The job executor: on the embedded backend, the stand-in for Kubernetes' Job controller
//! and kubelet.
//!
//! It watches the store's Jobs and runs each unfinished Job's pods, one at a time per Job
//! and at most [`ExecutorConfig::max_concurrent_syncs`] in all, through a [`PodRunner`]
//! (the real one, [`RclonePods`], runs rclone as a child process). It is the only writer
//! of a Job's status:
//!
//! - a pod starts: `active: 1`, `startTime`, progress reset;
//! - while it runs: its progress every [`ExecutorConfig::progress_interval`] (bytes and
//!   files so far, totals once rclone knows them, rate, ETA);
//! - it succeeds: `succeeded: 1`, `completionTime`, condition `Complete`;
//! - it fails: `failed + 1` and `lastPodError`; the next pod starts after the Job
//!   controller's backoff (10 s, doubled, capped at 6 minutes); past `backoffLimit`
//!   failures, condition `Failed` (reason `BackoffLimitExceeded`, the last pod's error).
//!
//! A Job found `active` when the executor starts had its pod lost with the previous
//! operator process: leftovers of it are stopped (SIGTERM, then SIGKILL), the lost pod is
//! counted as failed, and another starts after the backoff, so two pods of one Job never
//! run at once. A deleted Job (its DataMover deleted: the store cascades) has its pod
//! stopped the same way, within [`ExecutorConfig::grace`]. At shutdown running pods are
//! stopped and their Jobs left `active: 0` without a failure, so the next start runs a new
//! pod without spending a retry.
//!
//! No crate fits here: this is the embedded backend's own kubelet, a few hundred lines over
//! tokio's process and timer primitives.

mod prune_pods;
mod rclone_pods;
mod worker;

pub use rclone_pods::RclonePods;

use crate::store::EmbeddedStore;
use datamover::job::Job;
use datamover::progress::SyncProgress;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tmc_runtime::{Event, ObjectKey, Resource};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How the executor runs pods.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Pods running at once, over all Jobs. Default 8.
    pub max_concurrent_syncs: usize,
    /// The wait before the second pod; doubled before each next one. Default 10 s, as the
    /// Job controller.
    pub backoff: Duration,
    /// The cap on that wait. Default 6 minutes, as the Job controller.
    pub max_backoff: Duration,
    /// How often a running pod's progress is written to its Job. Default 2 s.
    pub progress_interval: Duration,
    /// How long a pod asked to stop (SIGTERM) has before it is killed. Default 3 s.
    pub grace: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            max_concurrent_syncs: 8,
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(360),
            progress_interval: Duration::from_secs(2),
            grace: Duration::from_secs(3),
        }
    }
}

impl ExecutorConfig {
    /// The wait before the pod that follows the `failed`-th failure.
    ///
    /// ```
    /// use datamover_embedded::executor::ExecutorConfig;
    /// use std::time::Duration;
    /// let c = ExecutorConfig::default();
    /// let waits: Vec<u64> = (1..=7).map(|n| c.backoff_after(n).as_secs()).collect();
    /// assert_eq!(waits, [10, 20, 40, 80, 160, 320, 360]);
    /// ```
    #[must_use]
    pub fn backoff_after(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(30);
        self.backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }
}

/// A running pod.
pub struct Pod {
    /// Its process id, for a graceful stop (SIGTERM); `None` when it has none.
    pub pid: Option<u32>,
    /// Resolves when the pod ends: its final progress, or why it failed. Dropping it kills
    /// the pod.
    pub exit: Pin<Box<dyn Future<Output = Result<SyncProgress, String>> + Send>>,
}

impl std::fmt::Debug for Pod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pod")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// Runs a Job's pods: the kubelet's part.
pub trait PodRunner: Send + Sync + 'static {
    /// Starts one pod of `job`, publishing its progress on `progress` as it runs.
    ///
    /// # Errors
    /// Why the pod could not start (a missing secret or volume, an invalid destination,
    /// rclone missing): counted as a failed pod.
    fn start(&self, job: &Job, progress: watch::Sender<SyncProgress>) -> Result<Pod, String>;

    /// Stops whatever a previous operator process left running for `job`, and returns
    /// once it is gone.
    fn stop_left_behind(&self, job: &Job, grace: Duration) -> impl Future<Output = ()> + Send;

    /// What a succeeded prune pod of `job` decided, taken once (written to the Job's
    /// `status.retention`); `None` for every other pod.
    fn take_selection(&self, job: &Job) -> Option<datamover::schedule::retention::Selection> {
        let _ = job;
        None
    }
}

/// Why a Job's worker is told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The Job was deleted: stop its pod; nothing to write.
    Deleted,
    /// The operator shuts down: stop the pod, leave the Job to be resumed.
    Shutdown,
}

/// The job executor. See the [module docs](self).
pub struct Executor<R> {
    store: Arc<EmbeddedStore>,
    runner: Arc<R>,
    config: ExecutorConfig,
}

impl<R> std::fmt::Debug for Executor<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<R: PodRunner> Executor<R> {
    /// An executor of `store`'s Jobs, running pods with `runner`.
    #[must_use]
    pub fn new(store: Arc<EmbeddedStore>, runner: R, config: ExecutorConfig) -> Self {
        Self {
            store,
            runner: Arc::new(runner),
            config,
        }
    }

    /// Runs until `shutdown` completes, then stops every running pod (within the grace
    /// period) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut events = self.store.watch::<Job>();
        let slots = Arc::new(Semaphore::new(self.config.max_concurrent_syncs.max(1)));
        let mut workers = Workers::default();
        let mut tasks = JoinSet::new();
        for job in self.store.objects::<Job>(None) {
            self.ensure(&job, &slots, &mut workers, &mut tasks);
        }
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = events.recv() => match event {
                    Some(Event::Applied(job)) => self.ensure(&job, &slots, &mut workers, &mut tasks),
                    Some(Event::Deleted(key)) => {
                        if let Some((_, stop)) = workers.remove(&key) {
                            let _ = stop.send(Some(Stop::Deleted));
                        }
                    }
                    None => break,
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        for (_, stop) in workers.values() {
            let _ = stop.send(Some(Stop::Shutdown));
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Starts a worker for `job` unless it is finished or already has one.
    fn ensure(
        &self,
        job: &Job,
        slots: &Arc<Semaphore>,
        workers: &mut Workers,
        tasks: &mut JoinSet<()>,
    ) {
        let key = job.key();
        let running = workers
            .get(&key)
            .is_some_and(|(uid, stop)| *uid == job.metadata.uid && !stop.is_closed());
        if running || job.outcome().is_some() {
            return;
        }
        let (stop_tx, stop_rx) = watch::channel(None);
        workers.insert(key.clone(), (job.metadata.uid.clone(), stop_tx));
        let worker = worker::Worker {
            store: Arc::clone(&self.store),
            runner: Arc::clone(&self.runner),
            config: self.config.clone(),
            slots: Arc::clone(slots),
            key,
            uid: job.metadata.uid.clone(),
            stop: stop_rx,
        };
        tasks.spawn(worker.run());
    }
}

/// Each Job's worker: the Job's uid and the worker's stop signal.
type Workers = HashMap<ObjectKey, (String, watch::Sender<Option<Stop>>)>;

#[cfg(test)]
mod tests;
