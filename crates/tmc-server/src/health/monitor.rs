//! The monitor: registered components, their last status, check rounds and readiness.

use super::aggregate::{CheckCounters, aggregate};
use super::gates::Gate;
use super::{CheckResult, HealthCheck, HealthCheckCounts, OverallHealth};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tmc_metrics::{HealthStatus, Metrics, MetricsCollector};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

/// The default time one check may take before it counts as an error check: 5 seconds.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Configures a [`HealthMonitor`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HealthMonitorBuilder {
    check_timeout: Duration,
    collector: Option<MetricsCollector>,
}

impl HealthMonitorBuilder {
    /// How long one check may run before it is cancelled and counted as an error check.
    /// Default: [`DEFAULT_CHECK_TIMEOUT`]; zero means the default.
    pub fn check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = if timeout.is_zero() {
            DEFAULT_CHECK_TIMEOUT
        } else {
            timeout
        };
        self
    }

    /// Records `tmc_component_health` into `metrics` the moment a status changes, besides
    /// the [reporter](crate::MetricsReporter)'s refresh of health and uptime on every
    /// interval. Default: none.
    pub fn metrics(mut self, metrics: &Metrics) -> Self {
        self.collector = Some(metrics.collector());
        self
    }

    /// Builds the monitor.
    #[must_use]
    pub fn build(self) -> HealthMonitor {
        HealthMonitor {
            inner: Arc::new(Inner {
                components: Mutex::default(),
                counters: CheckCounters::default(),
                gates: Mutex::default(),
                check_timeout: self.check_timeout,
                collector: self.collector,
                next_id: AtomicU64::new(1),
            }),
        }
    }
}

/// Components register here, with a [check](HealthCheck) the monitor runs or as a
/// [handle](ComponentHandle) they push their status through. Cheap to clone; clones share
/// one state.
///
/// A component is identified by its type and id (registering the same pair again replaces
/// it); its cluster is the `cluster` label of its metrics. The monitor keeps each
/// component's last status, aggregates them into an [`OverallHealth`], counts checks by
/// outcome ([`HealthCheckCounts`]) and decides readiness ([`readiness`](Self::readiness)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tmc_metrics::HealthStatus;
/// use tmc_server::health::HealthMonitor;
///
/// let health = HealthMonitor::new();
/// health.register_check("SyncTargetController", "syncer-1", "prod", || async { HealthStatus::Healthy });
/// let cache = health.register("Cache", "cache-1", "prod");
/// cache.report(HealthStatus::Healthy);
///
/// health.check_all().await;
/// let overall = health.overall();
/// assert_eq!(overall.status, HealthStatus::Healthy);
/// assert_eq!(overall.message, "All 2 components healthy");
/// assert_eq!(health.check_counts().total_checks, 2);
/// # }
/// ```
#[derive(Clone)]
pub struct HealthMonitor {
    pub(super) inner: Arc<Inner>,
}

impl fmt::Debug for HealthMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthMonitor")
            .field("components", &self.inner.lock_components().len())
            .field("check_timeout", &self.inner.check_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for HealthMonitor {
    fn default() -> Self {
        Self::new()
    }
}

pub(super) struct Inner {
    components: Mutex<BTreeMap<Key, Component>>,
    counters: CheckCounters,
    pub(super) gates: Mutex<Vec<Gate>>,
    check_timeout: Duration,
    collector: Option<MetricsCollector>,
    next_id: AtomicU64,
}

type Key = (String, String);

struct Component {
    /// Tells this registration from a later one with the same key.
    id: u64,
    cluster: String,
    status: HealthStatus,
    message: Option<String>,
    check: Option<Arc<dyn HealthCheck>>,
    started: Instant,
}

impl Inner {
    fn lock_components(&self) -> MutexGuard<'_, BTreeMap<Key, Component>> {
        self.components
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn register(
        &self,
        component_type: &str,
        component_id: &str,
        cluster: &str,
        check: Option<Arc<dyn HealthCheck>>,
    ) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let component = Component {
            id,
            cluster: cluster.to_owned(),
            status: HealthStatus::Unknown,
            message: None,
            check,
            started: Instant::now(),
        };
        self.lock_components().insert(
            (component_type.to_owned(), component_id.to_owned()),
            component,
        );
        if let Some(collector) = &self.collector {
            collector.record_component_health(
                component_type,
                component_id,
                cluster,
                HealthStatus::Unknown,
            );
        }
        id
    }

    /// Stores `result` for the registration `id` of `key`, if it is still registered.
    fn apply(&self, key: &Key, id: u64, result: &CheckResult) {
        let mut components = self.lock_components();
        let Some(component) = components.get_mut(key).filter(|c| c.id == id) else {
            return;
        };
        self.counters.count(result);
        if result.is_error() {
            tracing::warn!(
                component_type = %key.0,
                component_id = %key.1,
                reason = result.message().unwrap_or_default(),
                "health check error"
            );
        }
        let changed = component.status != result.status();
        component.status = result.status();
        component.message = result.message().map(str::to_owned);
        if let Some(collector) = &self.collector
            && changed
        {
            collector.record_component_health(&key.0, &key.1, &component.cluster, component.status);
        }
    }
}

impl HealthMonitor {
    /// A monitor with every default: [`DEFAULT_CHECK_TIMEOUT`], no metrics of its own.
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder with every default.
    pub fn builder() -> HealthMonitorBuilder {
        HealthMonitorBuilder {
            check_timeout: DEFAULT_CHECK_TIMEOUT,
            collector: None,
        }
    }

    /// Registers a component whose health `check` decides; the monitor runs it on every
    /// [`check_all`](Self::check_all). Its status is `Unknown` until the first check.
    pub fn register_check(
        &self,
        component_type: &str,
        component_id: &str,
        cluster: &str,
        check: impl HealthCheck,
    ) -> ComponentHandle {
        let id = self
            .inner
            .register(component_type, component_id, cluster, Some(Arc::new(check)));
        self.handle(component_type, component_id, id)
    }

    /// Registers a component that pushes its status through the returned handle. Its status
    /// is `Unknown` until the first [`report`](ComponentHandle::report).
    #[must_use = "the component reports its status through the handle"]
    pub fn register(
        &self,
        component_type: &str,
        component_id: &str,
        cluster: &str,
    ) -> ComponentHandle {
        let id = self
            .inner
            .register(component_type, component_id, cluster, None);
        self.handle(component_type, component_id, id)
    }

    fn handle(&self, component_type: &str, component_id: &str, id: u64) -> ComponentHandle {
        ComponentHandle {
            inner: self.inner.clone(),
            key: (component_type.to_owned(), component_id.to_owned()),
            id,
        }
    }

    /// Runs every registered check once, concurrently, each as a task of its own limited by
    /// the check timeout; returns when all have finished or timed out. A check that panics,
    /// returns `Err` or times out leaves its component `Unknown` and counts as an error
    /// check; the others are not delayed by it. Dropping the returned future cancels the
    /// checks still running.
    pub async fn check_all(&self) {
        let checks: Vec<(Key, u64, Arc<dyn HealthCheck>)> = self
            .inner
            .lock_components()
            .iter()
            .filter_map(|(key, c)| Some((key.clone(), c.id, c.check.clone()?)))
            .collect();
        let timeout = self.inner.check_timeout;
        let mut round = JoinSet::new();
        for (key, id, check) in checks {
            let inner = self.inner.clone();
            round.spawn(async move {
                let result = run_check(check, timeout).await;
                inner.apply(&key, id, &result);
            });
        }
        while round.join_next().await.is_some() {}
    }

    /// The aggregated health of every registered component (see [`OverallHealth`]).
    #[must_use]
    pub fn overall(&self) -> OverallHealth {
        let components = self.inner.lock_components();
        aggregate(
            components
                .iter()
                .map(|((t, i), c)| (t.as_str(), i.as_str(), c.status)),
        )
    }

    /// Checks run so far, by outcome.
    #[must_use]
    pub fn check_counts(&self) -> HealthCheckCounts {
        self.inner.counters.snapshot()
    }

    /// Every registered component with its last status, sorted by type and id.
    #[must_use]
    pub fn components(&self) -> Vec<ComponentHealth> {
        let now = Instant::now();
        self.inner
            .lock_components()
            .iter()
            .map(|((t, i), c)| ComponentHealth {
                component_type: t.clone(),
                component_id: i.clone(),
                cluster: c.cluster.clone(),
                status: c.status,
                message: c.message.clone(),
                uptime: now.saturating_duration_since(c.started),
            })
            .collect()
    }

    /// Sets `tmc_component_health` and `tmc_component_uptime_seconds` for every registered
    /// component. Uptime is the time since the component was registered or last
    /// [restarted](ComponentHandle::restarted). The reporter calls this on every interval.
    pub fn record_metrics(&self, collector: &MetricsCollector) {
        for c in self.components() {
            collector.record_component_health(
                &c.component_type,
                &c.component_id,
                &c.cluster,
                c.status,
            );
            collector.record_component_uptime(
                &c.component_type,
                &c.component_id,
                &c.cluster,
                c.uptime,
            );
        }
    }

    /// Ready when the overall status is not `Unhealthy` and every readiness gate passes;
    /// otherwise the reasons, one per failed condition.
    #[must_use]
    pub fn readiness(&self) -> Readiness {
        let mut reasons = Vec::new();
        let overall = self.overall();
        if overall.status == HealthStatus::Unhealthy {
            reasons.push(format!("overall health Unhealthy: {}", overall.message));
        }
        reasons.extend(self.gates_not_ready());
        Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }
}

/// Runs one check as a task of its own, turning a panic, a cancellation or a timeout into
/// an error result. The task is aborted if this future is dropped.
async fn run_check(check: Arc<dyn HealthCheck>, timeout: Duration) -> CheckResult {
    let mut task = tokio::spawn(async move { check.check().await });
    let _abort = AbortOnDrop(task.abort_handle());
    match tokio::time::timeout(timeout, &mut task).await {
        Ok(Ok(result)) => result,
        Ok(Err(err)) if err.is_panic() => {
            let payload = err.into_panic();
            CheckResult::error(format!("check panicked: {}", panic_message(&*payload)))
        }
        Ok(Err(_)) => CheckResult::error("check was cancelled"),
        Err(_) => CheckResult::error(format!(
            "check timed out after {}",
            crate::config::format_duration(timeout)
        )),
    }
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string panic payload")
}

/// A registered component: push its status, mark a restart, or remove it. Cheap to clone.
/// Dropping the handle leaves the component registered.
#[derive(Clone)]
pub struct ComponentHandle {
    inner: Arc<Inner>,
    key: Key,
    id: u64,
}

impl fmt::Debug for ComponentHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentHandle")
            .field("component_type", &self.key.0)
            .field("component_id", &self.key.1)
            .finish_non_exhaustive()
    }
}

impl ComponentHandle {
    /// Pushes a status (or a [`CheckResult`] with a message); counts as one check.
    pub fn report(&self, result: impl Into<CheckResult>) {
        self.inner.apply(&self.key, self.id, &result.into());
    }

    /// Resets the component's uptime to zero: it restarted.
    pub fn restarted(&self) {
        if let Some(c) = self
            .inner
            .lock_components()
            .get_mut(&self.key)
            .filter(|c| c.id == self.id)
        {
            c.started = Instant::now();
        }
    }

    /// The component's last status, or `None` once it is no longer registered.
    #[must_use]
    pub fn status(&self) -> Option<HealthStatus> {
        self.inner
            .lock_components()
            .get(&self.key)
            .filter(|c| c.id == self.id)
            .map(|c| c.status)
    }

    /// Removes the component from the monitor (unless it was registered again since). Its
    /// series stay in the exposition with their last values until the retention period
    /// drops them.
    pub fn remove(self) {
        let mut components = self.inner.lock_components();
        if components.get(&self.key).is_some_and(|c| c.id == self.id) {
            components.remove(&self.key);
        }
    }
}

/// One component's last known health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentHealth {
    /// The component type, e.g. `SyncTargetController`.
    pub component_type: String,
    /// The component id, e.g. `syncer-prod-cluster`.
    pub component_id: String,
    /// The cluster label.
    pub cluster: String,
    /// The last status; `Unknown` before the first report or after an error check.
    pub status: HealthStatus,
    /// The last result's message.
    pub message: Option<String>,
    /// Time since registration or the last restart.
    pub uptime: Duration,
}

/// Whether the process should receive traffic; see [`HealthMonitor::readiness`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// True when every condition holds.
    pub ready: bool,
    /// One line per failed condition, empty when ready.
    pub reasons: Vec<String>,
}
