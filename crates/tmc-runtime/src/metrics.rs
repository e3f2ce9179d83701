//! Metric handles, resolved once per controller (cheap atomics afterwards).

use tmc_metrics::MetricsCollector;
use tmc_metrics::catalog::{
    CONTROLLER_RUNTIME_ACTIVE_WORKERS, CONTROLLER_RUNTIME_MAX_CONCURRENT_RECONCILES,
    CONTROLLER_RUNTIME_RECONCILE_ERRORS_TOTAL, CONTROLLER_RUNTIME_RECONCILE_PANICS_TOTAL,
    CONTROLLER_RUNTIME_RECONCILE_TIME_SECONDS, CONTROLLER_RUNTIME_RECONCILE_TIMEOUTS_TOTAL,
    CONTROLLER_RUNTIME_RECONCILE_TOTAL, WORKQUEUE_ADDS_TOTAL, WORKQUEUE_DEPTH,
    WORKQUEUE_LONGEST_RUNNING_PROCESSOR_SECONDS, WORKQUEUE_QUEUE_DURATION_SECONDS,
    WORKQUEUE_RETRIES_TOTAL, WORKQUEUE_UNFINISHED_WORK_SECONDS, WORKQUEUE_WORK_DURATION_SECONDS,
};
use tmc_metrics::metrics::{Counter, Gauge, Histogram};

/// The `controller_runtime_*` families of one controller.
#[derive(Debug, Clone)]
pub(crate) struct ControllerMetrics {
    pub(crate) success: Counter,
    pub(crate) error: Counter,
    pub(crate) requeue: Counter,
    pub(crate) requeue_after: Counter,
    pub(crate) errors: Counter,
    pub(crate) panics: Counter,
    pub(crate) timeouts: Counter,
    pub(crate) reconcile_time: Histogram,
    pub(crate) active_workers: Gauge,
    pub(crate) max_concurrent: Gauge,
}

impl ControllerMetrics {
    pub(crate) fn new(c: &MetricsCollector, name: &str) -> Self {
        let total = |result| c.counter(&CONTROLLER_RUNTIME_RECONCILE_TOTAL, [name, result]);
        Self {
            success: total("success"),
            error: total("error"),
            requeue: total("requeue"),
            requeue_after: total("requeue_after"),
            errors: c.counter(&CONTROLLER_RUNTIME_RECONCILE_ERRORS_TOTAL, [name]),
            panics: c.counter(&CONTROLLER_RUNTIME_RECONCILE_PANICS_TOTAL, [name]),
            timeouts: c.counter(&CONTROLLER_RUNTIME_RECONCILE_TIMEOUTS_TOTAL, [name]),
            reconcile_time: c.histogram(&CONTROLLER_RUNTIME_RECONCILE_TIME_SECONDS, [name]),
            active_workers: c.gauge(&CONTROLLER_RUNTIME_ACTIVE_WORKERS, [name]),
            max_concurrent: c.gauge(&CONTROLLER_RUNTIME_MAX_CONCURRENT_RECONCILES, [name]),
        }
    }

    /// At start, like Go: every counter exists at 0, the gauges are set.
    pub(crate) fn preset(&self, concurrency: usize) {
        for c in [
            &self.success,
            &self.error,
            &self.requeue,
            &self.requeue_after,
            &self.errors,
            &self.panics,
            &self.timeouts,
        ] {
            c.increment(0);
        }
        self.active_workers.set(0.0);
        #[allow(clippy::cast_precision_loss)]
        self.max_concurrent.set(concurrency as f64);
    }
}

/// The `workqueue_*` families of one controller's queue (`name` = controller name).
#[derive(Debug, Clone)]
pub(crate) struct QueueMetrics {
    pub(crate) depth: Gauge,
    pub(crate) adds: Counter,
    pub(crate) queue_duration: Histogram,
    pub(crate) work_duration: Histogram,
    pub(crate) unfinished: Gauge,
    pub(crate) longest: Gauge,
    pub(crate) retries: Counter,
}

impl QueueMetrics {
    pub(crate) fn new(c: &MetricsCollector, name: &str) -> Self {
        let labels = [name, name];
        Self {
            depth: c.gauge(&WORKQUEUE_DEPTH, labels),
            adds: c.counter(&WORKQUEUE_ADDS_TOTAL, labels),
            queue_duration: c.histogram(&WORKQUEUE_QUEUE_DURATION_SECONDS, labels),
            work_duration: c.histogram(&WORKQUEUE_WORK_DURATION_SECONDS, labels),
            unfinished: c.gauge(&WORKQUEUE_UNFINISHED_WORK_SECONDS, labels),
            longest: c.gauge(&WORKQUEUE_LONGEST_RUNNING_PROCESSOR_SECONDS, labels),
            retries: c.counter(&WORKQUEUE_RETRIES_TOTAL, labels),
        }
    }

    /// Records nothing: a controller's queue before a collector is chosen.
    pub(crate) fn noop() -> Self {
        Self {
            depth: Gauge::noop(),
            adds: Counter::noop(),
            queue_duration: Histogram::noop(),
            work_duration: Histogram::noop(),
            unfinished: Gauge::noop(),
            longest: Gauge::noop(),
            retries: Counter::noop(),
        }
    }

    /// Makes every series exist (counters at 0, gauges at their current value).
    pub(crate) fn preset(&self, depth: usize) {
        self.adds.increment(0);
        self.retries.increment(0);
        #[allow(clippy::cast_precision_loss)]
        self.depth.set(depth as f64);
        self.unfinished.set(0.0);
        self.longest.set(0.0);
    }
}
