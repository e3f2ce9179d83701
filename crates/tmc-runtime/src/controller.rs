//! The controller: configuration, the event pump, the workers and graceful shutdown.

use crate::backoff::Jitter;
use crate::handle::ControllerHandle;
use crate::metrics::{ControllerMetrics, QueueMetrics};
use crate::report::ShutdownReport;
use crate::runner::{Shared, worker};
use crate::scheduler::Scheduler;
use crate::store::Ready;
use crate::{
    Action, Backoff, BackoffPolicy, ConfigError, ErrorPolicy, Event, ObjectKey, Owned, RateLimit,
    ReconcileRequest, Resource, Store,
};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::MetricsCollector;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tower::Service;

/// How often `workqueue_unfinished_work_seconds` and
/// `workqueue_longest_running_processor_seconds` are refreshed.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The reconciler slot of a [`Controller`] before [`Controller::reconciler`] fills it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReconciler;

/// A controller: watches a [`Store`], queues keys and reconciles them with bounded
/// concurrency, per-key backoff and graceful shutdown. Configure with the builder methods,
/// then [`run`](Self::run) it.
///
/// Defaults: concurrency 1, [`Backoff::default`], [`BackoffPolicy`], no rate limit, no
/// timeout, no resync, a 30 s shutdown deadline, metrics through
/// [`MetricsCollector::facade`].
pub struct Controller<K, S = NoReconciler, P = BackoffPolicy> {
    name: Arc<str>,
    store: Arc<dyn Store<K>>,
    reconciler: S,
    policy: P,
    concurrency: usize,
    backoff: Backoff,
    rate_limit: Option<RateLimit>,
    timeout: Option<Duration>,
    resync: Option<Duration>,
    shutdown_deadline: Duration,
    /// `None` until [`Controller::metrics`]; [`MetricsCollector::facade`] at run time then.
    collector: Option<MetricsCollector>,
    scheduler: Arc<Scheduler>,
    triggers: Vec<Trigger>,
    /// The readiness of each secondary store (the primary one is asked directly).
    waits: Vec<ReadyFn>,
}

/// The [readiness](Store::ready) of one secondary store.
type ReadyFn = Box<dyn Fn() -> Ready + Send>;

/// Starts one secondary watch: called at [`Controller::run`], before the primary list.
type Trigger = Box<dyn FnOnce(Arc<Scheduler>) -> tokio::task::JoinHandle<()> + Send>;

impl<K, S, P> fmt::Debug for Controller<K, S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.name)
            .field("concurrency", &self.concurrency)
            .field("backoff", &self.backoff)
            .field("rate_limit", &self.rate_limit)
            .field("timeout", &self.timeout)
            .field("resync", &self.resync)
            .field("shutdown_deadline", &self.shutdown_deadline)
            .field("secondary_watches", &self.triggers.len())
            .finish_non_exhaustive()
    }
}

impl<K: Resource> Controller<K> {
    /// A controller named `name` (the `controller` and `name` metric labels) over `store`.
    pub fn new(name: impl Into<String>, store: impl Store<K>) -> Self {
        let name: Arc<str> = name.into().into();
        // Nothing is registered until a collector is chosen (`metrics` or `run`).
        let scheduler = Arc::new(Scheduler::new(QueueMetrics::noop()));
        Self {
            name,
            store: Arc::new(store),
            reconciler: NoReconciler,
            policy: BackoffPolicy,
            concurrency: 1,
            backoff: Backoff::default(),
            rate_limit: None,
            timeout: None,
            resync: None,
            shutdown_deadline: Duration::from_secs(30),
            collector: None,
            scheduler,
            triggers: Vec::new(),
            waits: Vec::new(),
        }
    }
}

impl<K: Resource, S, P> Controller<K, S, P> {
    /// The reconciler: any `tower::Service<ReconcileRequest<K>, Response = Action>` that is
    /// `Clone + Send` (cloned per reconcile; its readiness is awaited), such as
    /// [`reconciler_fn`](crate::reconciler_fn) or one wrapped in tower middleware.
    #[must_use]
    pub fn reconciler<S2>(self, reconciler: S2) -> Controller<K, S2, P> {
        Controller {
            name: self.name,
            store: self.store,
            reconciler,
            policy: self.policy,
            concurrency: self.concurrency,
            backoff: self.backoff,
            rate_limit: self.rate_limit,
            timeout: self.timeout,
            resync: self.resync,
            shutdown_deadline: self.shutdown_deadline,
            collector: self.collector,
            scheduler: self.scheduler,
            triggers: self.triggers,
            waits: self.waits,
        }
    }

    /// What to do after a reconcile error; default [`BackoffPolicy`].
    #[must_use]
    pub fn error_policy<P2>(self, policy: P2) -> Controller<K, S, P2> {
        Controller {
            name: self.name,
            store: self.store,
            reconciler: self.reconciler,
            policy,
            concurrency: self.concurrency,
            backoff: self.backoff,
            rate_limit: self.rate_limit,
            timeout: self.timeout,
            resync: self.resync,
            shutdown_deadline: self.shutdown_deadline,
            collector: self.collector,
            scheduler: self.scheduler,
            triggers: self.triggers,
            waits: self.waits,
        }
    }

    /// How many keys are reconciled at once (workers). Default 1.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for 0.
    pub fn concurrency(mut self, workers: usize) -> Result<Self, ConfigError> {
        if workers == 0 {
            return Err(ConfigError::invalid("concurrency", "must be at least 1"));
        }
        self.concurrency = workers;
        Ok(self)
    }

    /// The per-key backoff after failures.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the field out of range (see [`Backoff::validate`]).
    pub fn backoff(mut self, backoff: Backoff) -> Result<Self, ConfigError> {
        backoff.validate()?;
        self.backoff = backoff;
        Ok(self)
    }

    /// A controller-wide limit on reconcile starts; `None` (the default) for none.
    #[must_use]
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Cancels a reconcile running longer than this, counts it in
    /// `controller_runtime_reconcile_timeouts_total` (and as an error) and retries with
    /// backoff. Default `None`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a zero duration.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Result<Self, ConfigError> {
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::invalid("timeout", "must be non-zero"));
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// Re-enqueues every object in the store this often. Default `None`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a zero period.
    pub fn resync(mut self, period: Option<Duration>) -> Result<Self, ConfigError> {
        if period.is_some_and(|p| p.is_zero()) {
            return Err(ConfigError::invalid("resync", "must be non-zero"));
        }
        self.resync = period;
        Ok(self)
    }

    /// Where the metrics go; the handles are resolved here, once. Default: resolved at
    /// [`run`](Self::run) through [`MetricsCollector::facade`] (the global recorder). Set it
    /// before enqueueing through a [handle](Self::handle): earlier adds are not counted.
    #[must_use]
    pub fn metrics(mut self, collector: MetricsCollector) -> Self {
        self.scheduler
            .set_metrics(QueueMetrics::new(&collector, &self.name));
        self.collector = Some(collector);
        self
    }

    /// How long in-flight reconciles may take to finish after shutdown begins; the rest
    /// are cancelled and reported. Default 30 s.
    #[must_use]
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = deadline;
        self
    }

    /// The controller's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Completes once every store this controller reads (its own, and those given to
    /// [`watches`](Self::watches) and [`owns`](Self::owns)) is [ready](Store::ready): what
    /// [`run`](Self::run) waits for before its first list, and what a
    /// [`Manager`](crate::Manager) waits for before starting it.
    #[must_use]
    pub fn ready(&self) -> Ready {
        let waits: Vec<Ready> = std::iter::once(self.store.ready())
            .chain(self.waits.iter().map(|ready| ready()))
            .collect();
        Box::pin(async move {
            for ready in waits {
                ready.await;
            }
        })
    }

    /// The backoff, already validated (the manager's default).
    pub(crate) fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Also reconciles when objects of another kind change: every change in `store` is
    /// mapped by `mapper` to the keys to enqueue, as controller-runtime's `Watches` and
    /// kube-runtime's `Controller::watches` do. A deleted object enqueues the keys its last
    /// seen state mapped to. The store is watched from [`run`](Self::run) on, once it is
    /// [ready](Store::ready); nothing is listed (the primary list already enqueues every key
    /// once).
    ///
    /// ```
    /// use tmc_runtime::{Controller, MemoryStore, ObjectKey, Resource};
    /// # struct Backup; impl Resource for Backup { fn key(&self) -> ObjectKey { ObjectKey::cluster("b") } }
    /// struct Config { target: String }
    /// impl Resource for Config { fn key(&self) -> ObjectKey { ObjectKey::cluster("config") } }
    ///
    /// let backups: MemoryStore<Backup> = MemoryStore::new();
    /// let configs: MemoryStore<Config> = MemoryStore::new();
    /// // Every backup the config names is reconciled again when the config changes.
    /// let controller = Controller::new("backup", backups)
    ///     .watches(configs, |c: &Config| vec![ObjectKey::cluster(&c.target)]);
    /// ```
    #[must_use]
    pub fn watches<T, F>(mut self, store: impl Store<T>, mapper: F) -> Self
    where
        T: Resource,
        F: Fn(&T) -> Vec<ObjectKey> + Send + Sync + 'static,
    {
        let store = Arc::new(store);
        let readiness = Arc::clone(&store);
        self.waits.push(Box::new(move || readiness.ready()));
        self.triggers.push(Box::new(move |scheduler| {
            let events = store.watch();
            // What the objects already there map to, so the deletion of one listed before
            // this controller started still reaches its keys.
            let known = store
                .list()
                .iter()
                .map(|o| (o.key(), mapper(o)))
                .filter(|(_, keys)| !keys.is_empty())
                .collect();
            tokio::spawn(map_events(events, mapper, known, scheduler))
        }));
        self
    }

    /// Also reconciles an object when an object it owns changes (or is deleted): the
    /// owners of kind [`K::KIND`](Resource::KIND) that each changed object names
    /// ([`Owned::owners`]) are enqueued, as controller-runtime's `Owns` and kube-runtime's
    /// `Controller::owns` do. Typical: a Job's status changes and its owner moves on.
    #[must_use]
    pub fn owns<T: Owned>(self, store: impl Store<T>) -> Self {
        self.watches(store, |o: &T| o.owners(K::KIND))
    }

    /// A handle to enqueue keys by hand, before or while the controller runs.
    #[must_use]
    pub fn handle(&self) -> ControllerHandle {
        ControllerHandle {
            scheduler: Arc::clone(&self.scheduler),
        }
    }
}

impl<K, S, P, E> Controller<K, S, P>
where
    K: Resource,
    S: Service<ReconcileRequest<K>, Response = Action, Error = E> + Clone + Send + 'static,
    S::Future: Send,
    E: fmt::Display + Send + 'static,
    P: ErrorPolicy<K, E>,
{
    /// Runs until `shutdown` completes (a signal, a channel, any future), then stops taking
    /// work, lets in-flight reconciles finish within the
    /// [shutdown deadline](Self::shutdown_deadline), cancels the rest and reports.
    ///
    /// Workers are spawned on the current tokio runtime. Once every store it reads is
    /// [ready](Self::ready) (a shutdown before that returns at once, having started
    /// nothing), the store is watched, then listed; every listed object and every event is
    /// enqueued (a deletion drops the key's pending work and failure count).
    pub async fn run<F: Future>(self, shutdown: F) -> ShutdownReport {
        let ready = self.ready();
        let name = self.name;
        let scheduler = self.scheduler;
        let collector = self.collector.unwrap_or_else(|| {
            let facade = MetricsCollector::facade();
            scheduler.set_metrics(QueueMetrics::new(&facade, &name));
            facade
        });
        let metrics = ControllerMetrics::new(&collector, &name);
        metrics.preset(self.concurrency);
        {
            let queue = scheduler.lock();
            queue.preset_metrics();
        }
        scheduler.set_rate_limit(self.rate_limit);
        tokio::pin!(shutdown);
        tokio::select! {
            biased;
            () = ready => {}
            _ = &mut shutdown => {
                scheduler.close();
                let pending = scheduler.lock().pending();
                tracing::info!(controller = %name, pending, "controller stopped before its stores were ready");
                return ShutdownReport { pending, ..ShutdownReport::default() };
            }
        }
        let store = self.store;
        let shared = Arc::new(Shared {
            name: Arc::clone(&name),
            store: Arc::clone(&store),
            scheduler: Arc::clone(&scheduler),
            policy: self.policy,
            backoff: self.backoff,
            jitter: Jitter::new(),
            timeout: self.timeout,
            metrics,
        });

        let secondary: Vec<_> = self
            .triggers
            .into_iter()
            .map(|start| start(Arc::clone(&scheduler)))
            .collect();
        let mut events = Some(store.watch());
        for object in store.list() {
            scheduler.schedule(object.key(), Duration::ZERO);
        }
        let mut workers = JoinSet::new();
        for _ in 0..self.concurrency {
            workers.spawn(worker(Arc::clone(&shared), self.reconciler.clone()));
        }
        drop(self.reconciler);
        tracing::info!(controller = %name, concurrency = self.concurrency, "controller started");

        let mut resync = self.resync.map(every);
        let mut upkeep = every(UPKEEP_INTERVAL);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                event = next_event(&mut events) => match event {
                    Some(Event::Applied(object)) => scheduler.schedule(object.key(), Duration::ZERO),
                    Some(Event::Deleted(key)) => scheduler.forget(&key),
                    None => events = None,
                },
                () = tick(&mut resync) => {
                    for object in store.list() {
                        scheduler.schedule(object.key(), Duration::ZERO);
                    }
                }
                _ = upkeep.tick() => scheduler.lock().publish_unfinished(Instant::now()),
            }
        }

        scheduler.close();
        for watch in &secondary {
            watch.abort();
        }
        let in_flight = scheduler.lock().running().len();
        tracing::info!(controller = %name, in_flight, "controller shutting down");
        let drained = tokio::select! {
            () = drain(&mut workers) => true,
            () = tokio::time::sleep(self.shutdown_deadline) => false,
        };
        if !drained {
            workers.shutdown().await;
        }
        let (cut_off, pending) = {
            let queue = scheduler.lock();
            queue.publish_unfinished(Instant::now());
            (queue.running(), queue.pending())
        };
        if !cut_off.is_empty() {
            tracing::warn!(controller = %name, cut_off = ?cut_off, "reconciles cut off at the shutdown deadline");
        }
        tracing::info!(controller = %name, pending, "controller stopped");
        ShutdownReport {
            in_flight,
            completed_in_flight: in_flight.saturating_sub(cut_off.len()),
            cut_off,
            pending,
        }
    }
}

fn every(period: Duration) -> Interval {
    let mut interval = tokio::time::interval_at(Instant::now() + period, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

async fn next_event<K>(events: &mut Option<UnboundedReceiver<Event<K>>>) -> Option<Event<K>> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Maps a secondary store's events to keys of the controller's kind and enqueues them.
async fn map_events<T: Resource>(
    mut events: UnboundedReceiver<Event<T>>,
    mapper: impl Fn(&T) -> Vec<ObjectKey>,
    // What each object mapped to when last seen, so its deletion reaches the same keys.
    mut last: HashMap<ObjectKey, Vec<ObjectKey>>,
    scheduler: Arc<Scheduler>,
) {
    while let Some(event) = events.recv().await {
        let keys = match event {
            Event::Applied(object) => {
                let keys = mapper(&object);
                if keys.is_empty() {
                    last.remove(&object.key());
                } else {
                    last.insert(object.key(), keys.clone());
                }
                keys
            }
            Event::Deleted(key) => last.remove(&key).unwrap_or_default(),
        };
        for key in keys {
            scheduler.schedule(key, Duration::ZERO);
        }
    }
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn drain(workers: &mut JoinSet<()>) {
    while workers.join_next().await.is_some() {}
}
