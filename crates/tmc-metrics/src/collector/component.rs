//! Component health, uptime, operations, errors and latency.

use super::{MetricsCollector, secs};
use crate::catalog::*;
use crate::error::{Classify, ErrorClass};
use crate::health::HealthStatus;
use crate::operation::Operation;
use std::time::Duration;

impl MetricsCollector {
    /// Sets `tmc_component_health` to the status's [gauge value](HealthStatus::gauge_value).
    pub fn record_component_health(
        &self,
        component_type: &str,
        component_id: &str,
        cluster: &str,
        status: HealthStatus,
    ) {
        self.gauge(
            &TMC_COMPONENT_HEALTH,
            [component_type, component_id, cluster],
        )
        .set(status.gauge_value());
    }

    /// Sets `tmc_component_uptime_seconds`.
    pub fn record_component_uptime(
        &self,
        component_type: &str,
        component_id: &str,
        cluster: &str,
        uptime: Duration,
    ) {
        self.gauge(
            &TMC_COMPONENT_UPTIME_SECONDS,
            [component_type, component_id, cluster],
        )
        .set(secs(uptime));
    }

    /// Counts one operation in `tmc_component_operations_total` with `status`
    /// (the tracker uses `success`, `error` and `cancelled`).
    pub fn record_component_operation(
        &self,
        component_type: &str,
        component_id: &str,
        operation: &str,
        status: &str,
    ) {
        self.counter(
            &TMC_COMPONENT_OPERATIONS_TOTAL,
            [component_type, component_id, operation, status],
        )
        .increment(1);
    }

    /// Counts one error in `tmc_component_errors_total` by its kind and severity.
    pub fn record_component_error(
        &self,
        component_type: &str,
        component_id: &str,
        error: &impl Classify,
    ) {
        let ErrorClass { kind, severity } = error.classify();
        self.counter(
            &TMC_COMPONENT_ERRORS_TOTAL,
            [
                component_type,
                component_id,
                kind.as_str(),
                severity.as_str(),
            ],
        )
        .increment(1);
    }

    /// Observes one duration in `tmc_component_operation_duration_seconds`.
    pub fn record_component_latency(
        &self,
        component_type: &str,
        component_id: &str,
        operation: &str,
        duration: Duration,
    ) {
        self.histogram(
            &TMC_COMPONENT_OPERATION_DURATION_SECONDS,
            [component_type, component_id, operation],
        )
        .record(secs(duration));
    }

    /// An operation with its labels resolved once: start trackers from it on the hot path.
    ///
    /// ```
    /// use tmc_metrics::{ErrorKind, Metrics, TmcError};
    ///
    /// let metrics = Metrics::builder().build()?;
    /// let sync = metrics.collector().operation("SyncTargetController", "syncer-1", "sync-deployment");
    /// sync.start().success();
    /// let err = TmcError::from_http_status(404, "syncer", "sync-deployment", "gone");
    /// sync.start().error(&err);
    /// drop(sync.start()); // neither: counted as cancelled
    /// let text = metrics.render();
    /// for status in ["success", "error", "cancelled"] {
    ///     assert!(text.contains(&format!(
    ///         "tmc_component_operations_total{{component_type=\"SyncTargetController\",\
    ///          component_id=\"syncer-1\",operation=\"sync-deployment\",status=\"{status}\"}} 1"
    ///     )));
    /// }
    /// # Ok::<(), tmc_metrics::MetricsError>(())
    /// ```
    #[must_use]
    pub fn operation(
        &self,
        component_type: &str,
        component_id: &str,
        operation: &str,
    ) -> Operation {
        Operation::new(self, component_type, component_id, operation)
    }

    /// Starts tracking one operation, resolving its labels now (the seed's
    /// `NewOperationTracker`). Prefer [`operation`](Self::operation) when the same operation
    /// runs often.
    #[must_use]
    pub fn new_operation_tracker(
        &self,
        component_type: &str,
        component_id: &str,
        operation: &str,
    ) -> crate::OperationTracker {
        self.operation(component_type, component_id, operation)
            .start()
    }
}
