//! The manager: controllers and background tasks run together, each controller started
//! once its stores are ready, all stopped by one cancellation within one grace deadline.

use crate::panic::CatchUnwind;
use crate::report::{ControllerReport, ManagerReport, TaskFailure};
use crate::store::Ready;
use crate::{
    Action, Backoff, ConfigError, Controller, ErrorPolicy, ReconcileRequest, Resource,
    ShutdownReport, Store,
};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tmc_metrics::MetricsCollector;
use tokio::sync::watch;
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Turns a registered controller, given the grace deadline and the shutdown token, into
/// its readiness and its (not yet polled) run.
type StartController =
    Box<dyn FnOnce(Duration, CancellationToken) -> (Ready, BoxFuture<ShutdownReport>) + Send>;

/// Turns a registered task, given the shutdown token, into its future.
type StartTask = Box<dyn FnOnce(CancellationToken) -> BoxFuture<Result<(), String>> + Send>;

enum Runnable {
    Controller(String, StartController),
    Task(String, StartTask),
}

impl Runnable {
    fn name(&self) -> &str {
        match self {
            Self::Controller(name, _) | Self::Task(name, _) => name,
        }
    }
}

/// Runs controllers and background tasks as one, in the spirit of controller-runtime's
/// Manager: register them, then [`run`](Self::run) until a shutdown signal.
///
/// * **Readiness**: each controller starts only once every store it reads is
///   [ready](Store::ready) ([`Controller::ready`]); tasks start at once.
///   [`readiness`](Self::readiness) turns true once every controller has started.
/// * **One shutdown**: the signal given to `run`, a [`shutdown_token`](Self::shutdown_token)
///   cancelled anywhere, or a task failing (an `Err` or a panic) cancels the one
///   [`CancellationToken`] every controller and task watches.
/// * **One grace deadline**: after the cancel, in-flight reconciles and tasks have
///   [`grace`](Self::grace) to finish (it replaces each controller's
///   [`shutdown_deadline`](Controller::shutdown_deadline)); the rest are cancelled and
///   named in the [`ManagerReport`].
/// * **Shared defaults**: [`controller`](Self::controller) builds controllers with the
///   manager's [`backoff`](Self::backoff) and [`metrics`](Self::metrics).
///
/// See the [crate documentation](crate#running-controllers-together) for an example.
pub struct Manager {
    grace: Duration,
    backoff: Option<Backoff>,
    collector: Option<MetricsCollector>,
    token: CancellationToken,
    ready: Arc<watch::Sender<bool>>,
    runnables: Vec<Runnable>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.runnables.iter().map(Runnable::name).collect();
        f.debug_struct("Manager")
            .field("grace", &self.grace)
            .field("backoff", &self.backoff)
            .field("runnables", &names)
            .finish_non_exhaustive()
    }
}

impl Default for Manager {
    fn default() -> Self {
        Self::new()
    }
}

impl Manager {
    /// A manager with nothing registered, a 30 s grace deadline and no defaults.
    #[must_use]
    pub fn new() -> Self {
        Self {
            grace: Duration::from_secs(30),
            backoff: None,
            collector: None,
            token: CancellationToken::new(),
            ready: Arc::new(watch::Sender::new(false)),
            runnables: Vec::new(),
        }
    }

    /// How long in-flight reconciles and tasks may take to finish once shutdown begins;
    /// the rest are cancelled and reported. Default 30 s.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The backoff of the controllers made by [`controller`](Self::controller).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the field out of range (see [`Backoff::validate`]).
    pub fn backoff(mut self, backoff: Backoff) -> Result<Self, ConfigError> {
        backoff.validate()?;
        self.backoff = Some(backoff);
        Ok(self)
    }

    /// Where the controllers made by [`controller`](Self::controller) record their metrics.
    #[must_use]
    pub fn metrics(mut self, collector: MetricsCollector) -> Self {
        self.collector = Some(collector);
        self
    }

    /// A controller named `name` over `store`, with the manager's backoff and metrics when
    /// set; configure it further, then [`add`](Self::add) it.
    #[must_use]
    pub fn controller<K: Resource>(
        &self,
        name: impl Into<String>,
        store: impl Store<K>,
    ) -> Controller<K> {
        let mut controller = Controller::new(name, store);
        if let Some(backoff) = self.backoff {
            controller = controller.with_backoff(backoff);
        }
        if let Some(collector) = &self.collector {
            controller = controller.metrics(collector.clone());
        }
        controller
    }

    /// Registers a controller. It starts once its stores are ready, stops at shutdown, and
    /// its shutdown deadline becomes the manager's [`grace`](Self::grace).
    pub fn add<K, S, P, E>(&mut self, controller: Controller<K, S, P>) -> &mut Self
    where
        K: Resource,
        S: Service<ReconcileRequest<K>, Response = Action, Error = E> + Clone + Send + 'static,
        S::Future: Send,
        E: fmt::Display + Send + 'static,
        P: ErrorPolicy<K, E>,
    {
        let name = controller.name().to_owned();
        let start: StartController = Box::new(move |grace, token: CancellationToken| {
            let ready = controller.ready();
            let run = controller
                .shutdown_deadline(grace)
                .run(token.cancelled_owned());
            (ready, Box::pin(run))
        });
        self.runnables.push(Runnable::Controller(name, start));
        self
    }

    /// Registers a background task (a census loop, a provisioner, a server): `start` is
    /// called at [`run`](Self::run) with the shutdown token, and its future should end soon
    /// after the token is cancelled (`token.run_until_cancelled(fut)` drops a loop there).
    /// It may return `()` or a `Result`; an `Err` or a panic stops the manager and is
    /// reported, an end without error leaves the rest running. A task still running at the
    /// grace deadline is aborted and reported.
    pub fn task<F, Fut>(&mut self, name: impl Into<String>, start: F) -> &mut Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutcome,
    {
        let start: StartTask =
            Box::new(move |token| Box::pin(async move { start(token).await.into_result() }));
        self.runnables.push(Runnable::Task(name.into(), start));
        self
    }

    /// The token every controller and task stops on: cancel it to shut everything down
    /// (e.g. when a leader lease is lost); pass `token.cancelled_owned()` to anything else
    /// that should stop with them.
    #[must_use]
    pub fn shutdown_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Whether every registered controller has started (its stores ready); false again
    /// once shutdown begins. For a readiness probe.
    #[must_use]
    pub fn readiness(&self) -> Readiness {
        Readiness(self.ready.subscribe())
    }

    /// Starts every task, and every controller once its stores are ready; runs until
    /// `shutdown` completes (a signal, a channel, any future) or the
    /// [token](Self::shutdown_token) is cancelled (a task failing cancels it); then
    /// cancels the token, waits up to the [grace deadline](Self::grace), aborts the tasks
    /// still running, and reports.
    pub async fn run<F: Future>(self, shutdown: F) -> ManagerReport {
        let Self {
            grace,
            token,
            ready,
            runnables,
            ..
        } = self;
        let tracker = TaskTracker::new();
        let total = runnables
            .iter()
            .filter(|r| matches!(r, Runnable::Controller(..)))
            .count();
        let waiting = Arc::new(AtomicUsize::new(total));
        if total == 0 {
            ready.send_replace(true);
        }
        let mut controllers = Vec::new();
        let mut tasks = Vec::new();
        for runnable in runnables {
            match runnable {
                Runnable::Controller(name, start) => {
                    let started = Arc::new(AtomicBool::new(false));
                    let (stores_ready, run) = start(grace, token.clone());
                    let up = Started {
                        flag: Arc::clone(&started),
                        waiting: Arc::clone(&waiting),
                        ready: Arc::clone(&ready),
                        token: token.clone(),
                    };
                    let handle = tracker.spawn(guarded(
                        name.clone(),
                        token.clone(),
                        controller(name.clone(), stores_ready, run, up),
                    ));
                    controllers.push((name, started, handle));
                }
                Runnable::Task(name, start) => {
                    let run = start(token.clone());
                    let handle = tracker.spawn(guarded(name.clone(), token.clone(), run));
                    tasks.push((name, handle));
                }
            }
        }
        tracker.close();
        tracing::info!(controllers = controllers.len(), tasks = tasks.len(), grace = ?grace, "manager started");

        tokio::select! {
            _ = shutdown => tracing::info!("manager shutting down: signalled"),
            () = token.cancelled() => tracing::info!("manager shutting down: token cancelled"),
        }
        token.cancel();
        ready.send_replace(false);
        let drained = tokio::time::timeout(grace, tracker.wait()).await.is_ok();
        let mut report = ManagerReport::default();
        if !drained {
            for (name, handle) in &tasks {
                if !handle.is_finished() {
                    handle.abort();
                    report.tasks_cut_off.push(name.clone());
                }
            }
        }
        for (name, started, handle) in controllers {
            // A controller ends by itself at its own deadline (the grace): no abort here.
            let outcome = joined(handle.await);
            let shutdown = match outcome {
                Ok(shutdown) => shutdown,
                Err(error) => {
                    report.failed.push(TaskFailure {
                        name: name.clone(),
                        error,
                    });
                    ShutdownReport::default()
                }
            };
            report.controllers.push(ControllerReport {
                name,
                started: started.load(Ordering::Acquire),
                report: shutdown,
            });
        }
        for (name, handle) in tasks {
            match handle.await {
                Err(e) if e.is_cancelled() => {} // cut off, listed above
                outcome => {
                    if let Err(error) = joined(outcome) {
                        report.failed.push(TaskFailure { name, error });
                    }
                }
            }
        }
        if report.is_clean() {
            tracing::info!("manager stopped");
        } else {
            tracing::warn!(%report, "manager stopped with work cut off or failed");
        }
        report
    }
}

/// Marks one controller started, and the manager ready once the last one is.
struct Started {
    flag: Arc<AtomicBool>,
    waiting: Arc<AtomicUsize>,
    ready: Arc<watch::Sender<bool>>,
    token: CancellationToken,
}

impl Started {
    fn mark(self) {
        self.flag.store(true, Ordering::Release);
        if self.waiting.fetch_sub(1, Ordering::AcqRel) == 1 && !self.token.is_cancelled() {
            self.ready.send_replace(true);
        }
    }
}

/// One controller: waits for its stores, then runs until the token is cancelled.
async fn controller(
    name: String,
    stores_ready: Ready,
    run: BoxFuture<ShutdownReport>,
    started: Started,
) -> Result<ShutdownReport, String> {
    let cancelled = started.token.clone();
    tokio::select! {
        biased;
        () = cancelled.cancelled() => {
            tracing::info!(controller = %name, "shutdown before the controller's stores were ready");
        }
        () = stores_ready => started.mark(),
    }
    // Cancelled before ready, the run stops at once and counts the keys left pending.
    Ok(run.await)
}

/// Runs `fut`, turning a panic into an error; an error stops the manager.
async fn guarded<T>(
    name: String,
    token: CancellationToken,
    fut: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let outcome = CatchUnwind::new(fut)
        .await
        .unwrap_or_else(|panic| Err(format!("panicked: {panic}")));
    if let Err(error) = &outcome {
        tracing::error!(task = %name, error = %error, "task failed; shutting down");
        token.cancel();
    }
    outcome
}

fn joined<T>(outcome: Result<Result<T, String>, JoinError>) -> Result<T, String> {
    outcome.unwrap_or_else(|e| Err(e.to_string()))
}

/// What a [task](Manager::task) may return: `()`, or a `Result` whose `Err` stops the
/// manager and is reported.
pub trait TaskOutcome: Send + 'static {
    /// `Err(text)` for a failure.
    ///
    /// # Errors
    /// The task's error, as text.
    fn into_result(self) -> Result<(), String>;
}

impl TaskOutcome for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display + Send + 'static> TaskOutcome for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// Whether a [`Manager`]'s controllers have all started. Cheap to clone.
///
/// ```
/// # let manager = tmc_runtime::Manager::new();
/// let readiness = manager.readiness();
/// // e.g. tmc_server's `health.readiness_gate("controllers started", move || readiness.is_ready())`
/// assert!(!readiness.is_ready());
/// ```
#[derive(Debug, Clone)]
pub struct Readiness(watch::Receiver<bool>);

impl Readiness {
    /// True once every controller has started (at once with none), until shutdown begins.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until ready: true then, false if the manager stopped first.
    pub async fn wait(&self) -> bool {
        let mut rx = self.0.clone();
        rx.wait_for(|ready| *ready).await.is_ok()
    }
}
