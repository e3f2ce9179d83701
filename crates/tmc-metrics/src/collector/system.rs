//! Clusters, recovery, process and API metrics.

use super::{MetricsCollector, count, secs};
use crate::catalog::*;
use crate::health::HealthStatus;
use std::time::Duration;

impl MetricsCollector {
    /// Sets `tmc_cluster_health` to the status's [gauge value](HealthStatus::gauge_value).
    pub fn record_cluster_health(
        &self,
        cluster: &str,
        logical_cluster: &str,
        status: HealthStatus,
    ) {
        self.gauge(&TMC_CLUSTER_HEALTH, [cluster, logical_cluster])
            .set(status.gauge_value());
    }

    /// Sets `tmc_cluster_connectivity` to 1 (connected) or 0.
    pub fn record_cluster_connectivity(
        &self,
        cluster: &str,
        logical_cluster: &str,
        connected: bool,
    ) {
        self.gauge(&TMC_CLUSTER_CONNECTIVITY, [cluster, logical_cluster])
            .set(if connected { 1.0 } else { 0.0 });
    }

    /// Sets `tmc_cluster_capacity_utilization` to the used fraction (0 to 1) of a resource.
    pub fn record_cluster_capacity(&self, cluster: &str, resource_type: &str, utilization: f64) {
        self.gauge(&TMC_CLUSTER_CAPACITY_UTILIZATION, [cluster, resource_type])
            .set(utilization);
    }

    /// Sets `tmc_cluster_resources` (seed: `tmc_cluster_resources_total`).
    pub fn record_cluster_resource_count(&self, cluster: &str, gvk: &str, namespace: &str, n: u64) {
        self.gauge(&TMC_CLUSTER_RESOURCES, [cluster, gvk, namespace])
            .set(count(n));
    }

    /// Counts a recovery attempt starting.
    pub fn record_recovery_attempt(&self, component_type: &str, strategy: &str) {
        self.counter(&TMC_RECOVERY_ATTEMPTS_TOTAL, [component_type, strategy])
            .increment(1);
    }

    /// Counts a recovery attempt that succeeded.
    pub fn record_recovery_success(&self, component_type: &str, strategy: &str) {
        self.counter(&TMC_RECOVERY_SUCCESSES_TOTAL, [component_type, strategy])
            .increment(1);
    }

    /// Counts a recovery attempt that failed.
    pub fn record_recovery_failure(&self, component_type: &str, strategy: &str) {
        self.counter(&TMC_RECOVERY_FAILURES_TOTAL, [component_type, strategy])
            .increment(1);
    }

    /// Sets `tmc_runtime_tasks`: alive async tasks, the counterpart of the seed's goroutines.
    pub fn record_runtime_tasks(&self, tasks: u64) {
        self.gauge(&TMC_RUNTIME_TASKS, []).set(count(tasks));
    }

    /// Sets `tmc_memory_usage_bytes`.
    pub fn record_memory_usage(&self, bytes: u64) {
        self.gauge(&TMC_MEMORY_USAGE_BYTES, []).set(count(bytes));
    }

    /// Sets `tmc_cpu_usage_percent` (percent of one core).
    pub fn record_cpu_usage(&self, percent: f64) {
        self.gauge(&TMC_CPU_USAGE_PERCENT, []).set(percent);
    }

    /// Counts one API request and observes its duration. The HTTP layer in `tmc-tower`
    /// records the same families with labels resolved once per route.
    pub fn record_api_request(
        &self,
        method: &str,
        endpoint: &str,
        status_code: &str,
        duration: Duration,
    ) {
        self.counter(&TMC_API_REQUESTS_TOTAL, [method, endpoint, status_code])
            .increment(1);
        self.histogram(
            &TMC_API_REQUEST_DURATION_SECONDS,
            [method, endpoint, status_code],
        )
        .record(secs(duration));
    }
}
