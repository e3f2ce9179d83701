//! The metrics reporter: periodic collection of process and component metrics.

use crate::health::HealthMonitor;
use crate::process::{CpuMeter, resident_memory_bytes};
use crate::summary::MetricsSummary;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use thiserror::Error;
use tmc_metrics::{Metrics, MetricsCollector};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Why a reporter could not be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReporterError {
    /// A zero interval.
    #[error(
        "reporter interval `0s` is invalid: expected a duration greater than zero, such as `30s`"
    )]
    ZeroInterval,
}

/// Collects, every interval: a round of health checks, then `tmc_component_health` and
/// `tmc_component_uptime_seconds` for every component, `tmc_memory_usage_bytes` (resident
/// memory), `tmc_cpu_usage_percent` (percent of one core since the previous collection; on
/// the first, since the process started) and `tmc_runtime_tasks` (the tokio runtime's alive
/// tasks, the counterpart of the seed's goroutines). Memory and CPU come from `/proc` and
/// are left out where it does not exist. Cheap to clone; clones share one state.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tmc_metrics::Metrics;
/// use tmc_server::MetricsReporter;
/// use tmc_server::health::HealthMonitor;
///
/// let metrics = Metrics::builder().build()?;
/// let reporter = MetricsReporter::new(&metrics, HealthMonitor::new(), Duration::from_secs(30))?;
/// let mut running = reporter.start();
/// assert!(reporter.summary().collection_active);
/// tokio::time::sleep(Duration::from_secs(1)).await; // the first collection runs at once
/// assert!(metrics.render().contains("tmc_runtime_tasks "));
/// running.stop().await;
/// running.stop().await; // idempotent
/// assert!(!reporter.summary().collection_active);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MetricsReporter {
    inner: Arc<Inner>,
}

struct Inner {
    collector: MetricsCollector,
    health: HealthMonitor,
    interval: Duration,
    running: AtomicUsize,
    cpu: Mutex<CpuMeter>,
}

impl fmt::Debug for MetricsReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsReporter")
            .field("interval", &self.inner.interval)
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

impl MetricsReporter {
    /// A reporter recording into `metrics`, checking `health`, every `interval` (usually
    /// [`MetricsConfig::collection_interval`](crate::MetricsConfig::collection_interval)).
    ///
    /// # Errors
    /// [`ReporterError::ZeroInterval`] for a zero interval.
    pub fn new(
        metrics: &Metrics,
        health: HealthMonitor,
        interval: Duration,
    ) -> Result<Self, ReporterError> {
        if interval.is_zero() {
            return Err(ReporterError::ZeroInterval);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                collector: metrics.collector(),
                health,
                interval,
                running: AtomicUsize::new(0),
                cpu: Mutex::default(),
            }),
        })
    }

    /// Starts collecting: once now, then every interval (a collection that overruns delays
    /// the next rather than bunching them). Runs until [`ReporterHandle::stop`] or until the
    /// handle is dropped. Must be called within a tokio runtime.
    #[must_use = "dropping the handle stops the collection"]
    pub fn start(&self) -> ReporterHandle {
        let (stop, mut stopped) = oneshot::channel::<()>();
        self.inner.running.fetch_add(1, Ordering::AcqRel);
        let running = RunningGuard(self.inner.clone());
        let reporter = self.clone();
        let task = tokio::spawn(async move {
            let _running = running;
            let mut ticker = tokio::time::interval(reporter.inner.interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    _ = ticker.tick() => {}
                }
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    () = reporter.collect_once() => {}
                }
            }
            tracing::debug!("metrics collection stopped");
        });
        ReporterHandle {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Runs one collection now (what every interval does).
    pub async fn collect_once(&self) {
        let inner = &self.inner;
        inner.health.check_all().await;
        inner.health.record_metrics(&inner.collector);
        if let Some(bytes) = resident_memory_bytes() {
            inner.collector.record_memory_usage(bytes);
        }
        let cpu = inner
            .cpu
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sample();
        if let Some(percent) = cpu {
            inner.collector.record_cpu_usage(percent);
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let tasks = runtime.metrics().num_alive_tasks();
            inner
                .collector
                .record_runtime_tasks(u64::try_from(tasks).unwrap_or(u64::MAX));
        }
    }

    /// Whether a collection started by [`start`](Self::start) is running.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.inner.running.load(Ordering::Acquire) > 0
    }

    /// The health monitor this reporter checks.
    #[must_use]
    pub fn health(&self) -> &HealthMonitor {
        &self.inner.health
    }

    /// The collection interval.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.inner.interval
    }

    /// The metrics summary now (the seed's `GetMetricsSummary`).
    #[must_use]
    pub fn summary(&self) -> MetricsSummary {
        MetricsSummary::new(&self.inner.health, self.is_active())
    }
}

/// Marks the collection inactive when its task ends, however it ends.
struct RunningGuard(Arc<Inner>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running collection. [`stop`](Self::stop) ends it and waits for it; dropping the handle
/// ends it without waiting.
#[derive(Debug)]
pub struct ReporterHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ReporterHandle {
    /// Stops the collection (cancelling a collection in progress, with its checks) and
    /// waits until it has ended. Calling it again does nothing.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(err) = task.await
        {
            tracing::warn!(error = %err, "metrics collection task ended abnormally");
        }
    }

    /// Whether the collection is still running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tmc_metrics::HealthStatus;

    fn line_value<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_reporter_should_collect_every_interval_and_stop_cleanly() {
        let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
        let health = HealthMonitor::new();
        let status = Arc::new(Mutex::new(HealthStatus::Healthy));
        let shared = status.clone();
        health.register_check("syncer", "s-1", "prod", move || {
            let status = *shared.lock().unwrap();
            async move { status }
        });
        let reporter =
            MetricsReporter::new(&metrics, health.clone(), Duration::from_secs(30)).unwrap();
        assert!(!reporter.is_active());
        let mut running = reporter.start();
        assert!(reporter.is_active() && running.is_running());

        tokio::time::sleep(Duration::from_millis(1)).await;
        let health_series =
            r#"tmc_component_health{component_type="syncer",component_id="s-1",cluster="prod"}"#;
        let uptime_series = r#"tmc_component_uptime_seconds{component_type="syncer",component_id="s-1",cluster="prod"}"#;
        let text = metrics.render();
        assert_eq!(line_value(&text, health_series), Some("1"));
        assert_eq!(line_value(&text, uptime_series), Some("0"));
        assert_eq!(health.check_counts().total_checks, 1);

        *status.lock().unwrap() = HealthStatus::Degraded;
        tokio::time::sleep(Duration::from_secs(30)).await;
        let text = metrics.render();
        assert_eq!(line_value(&text, health_series), Some("0.5"));
        assert_eq!(line_value(&text, uptime_series), Some("30"));
        assert_eq!(health.check_counts().total_checks, 2);
        let tasks: u64 = line_value(&text, "tmc_runtime_tasks")
            .unwrap()
            .parse()
            .unwrap();
        assert!(tasks >= 1, "the reporter's own task is alive");
        if cfg!(target_os = "linux") {
            let rss: f64 = line_value(&text, "tmc_memory_usage_bytes")
                .unwrap()
                .parse()
                .unwrap();
            assert!(rss > 0.0);
            let cpu: f64 = line_value(&text, "tmc_cpu_usage_percent")
                .unwrap()
                .parse()
                .unwrap();
            assert!(cpu >= 0.0);
        }

        running.stop().await;
        assert!(!reporter.is_active() && !running.is_running());
        running.stop().await;
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(
            health.check_counts().total_checks,
            2,
            "no collection after stop"
        );
        assert!(!reporter.summary().collection_active);
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_reporter_should_stop_when_its_handle_is_dropped() {
        let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
        let reporter =
            MetricsReporter::new(&metrics, HealthMonitor::new(), Duration::from_secs(5)).unwrap();
        drop(reporter.start());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!reporter.is_active());
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_reporter_should_stop_during_a_hanging_check() {
        let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
        let health = HealthMonitor::builder()
            .check_timeout(Duration::from_secs(3600))
            .build();
        health.register_check("syncer", "stuck", "prod", || {
            std::future::pending::<HealthStatus>()
        });
        let reporter = MetricsReporter::new(&metrics, health, Duration::from_secs(5)).unwrap();
        let mut running = reporter.start();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let started = tokio::time::Instant::now();
        running.stop().await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(!reporter.is_active());
    }

    #[test]
    fn metrics_reporter_should_refuse_a_zero_interval() {
        let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
        let err = MetricsReporter::new(&metrics, HealthMonitor::new(), Duration::ZERO).unwrap_err();
        assert_eq!(
            err.to_string(),
            "reporter interval `0s` is invalid: expected a duration greater than zero, such as `30s`"
        );
    }
}
