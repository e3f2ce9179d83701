//! Component health, uptime, operations, errors and latency.

use super::{MetricsCollector, secs};
use crate::catalog::*;
use crate::error::{Classify, ErrorClass};
use crate::health::HealthStatus;
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
}
