//! The metrics summary: the seed's `GetMetricsSummary` as a Rust value and as JSON.

use crate::health::{HealthCheckCounts, HealthMonitor, OverallHealth};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// The seed's metrics summary; serialises to exactly its JSON shape (`snake_case` at the top
/// level, `camelCase` inside `details` and `health_metrics`):
///
/// ```json
/// {
///   "overall_health": {
///     "status": "Healthy",
///     "message": "All 25 components healthy",
///     "details": {"totalComponents": 25, "healthyComponents": 25, "degradedComponents": 0, "unhealthyComponents": 0}
///   },
///   "health_metrics": {"totalChecks": 5000, "healthyChecks": 4950, "degradedChecks": 30, "unhealthyChecks": 20, "errorChecks": 0},
///   "timestamp": 1640995200,
///   "collection_active": true
/// }
/// ```
///
/// Served as JSON on [`SUMMARY_PATH`](crate::server::SUMMARY_PATH) of the metrics listener;
/// [`MetricsReporter::summary`](crate::MetricsReporter::summary) returns it as a value.
///
/// ```
/// use tmc_server::MetricsSummary;
/// use tmc_server::health::HealthMonitor;
///
/// let summary = MetricsSummary::new(&HealthMonitor::new(), false);
/// let json = serde_json::to_value(&summary)?;
/// assert_eq!(json["overall_health"]["details"]["totalComponents"], 0);
/// assert_eq!(json["collection_active"], false);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSummary {
    /// The aggregated component health.
    pub overall_health: OverallHealth,
    /// Checks run so far, by outcome.
    pub health_metrics: HealthCheckCounts,
    /// When the summary was taken, in seconds since the Unix epoch.
    pub timestamp: u64,
    /// Whether the reporter's periodic collection is running.
    pub collection_active: bool,
}

impl MetricsSummary {
    /// The summary of `health` now.
    #[must_use]
    pub fn new(health: &HealthMonitor, collection_active: bool) -> Self {
        Self {
            overall_health: health.overall(),
            health_metrics: health.check_counts(),
            timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            collection_active,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tmc_metrics::HealthStatus;

    #[tokio::test]
    async fn metrics_summary_should_match_the_seeds_json_exactly() {
        let health = HealthMonitor::new();
        health.register_check("syncer", "s-1", "prod", || async { HealthStatus::Healthy });
        health.register_check("syncer", "s-2", "prod", || async { HealthStatus::Degraded });
        health
            .register("cache", "c-1", "prod")
            .report(HealthStatus::Unhealthy);
        health.check_all().await;
        let summary = MetricsSummary::new(&health, true);
        let value = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            value,
            json!({
                "overall_health": {
                    "status": "Unhealthy",
                    "message": "1 of 3 components unhealthy: cache/c-1",
                    "details": {
                        "totalComponents": 3,
                        "healthyComponents": 1,
                        "degradedComponents": 1,
                        "unhealthyComponents": 1
                    }
                },
                "health_metrics": {
                    "totalChecks": 3,
                    "healthyChecks": 1,
                    "degradedChecks": 1,
                    "unhealthyChecks": 1,
                    "errorChecks": 0
                },
                "timestamp": summary.timestamp,
                "collection_active": true
            })
        );
        assert!(value["timestamp"].is_u64());
        assert!(summary.timestamp > 1_640_995_200);
        let back: MetricsSummary = serde_json::from_value(value).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn metrics_summary_should_read_the_seeds_example() {
        let seed = r#"{
          "overall_health": {
            "status": "Healthy",
            "message": "All 25 components healthy",
            "details": {"totalComponents": 25, "healthyComponents": 25, "degradedComponents": 0, "unhealthyComponents": 0}
          },
          "health_metrics": {"totalChecks": 5000, "healthyChecks": 4950, "degradedChecks": 30, "unhealthyChecks": 20, "errorChecks": 0},
          "timestamp": 1640995200,
          "collection_active": true
        }"#;
        let summary: MetricsSummary = serde_json::from_str(seed).unwrap();
        assert_eq!(summary.overall_health.status, HealthStatus::Healthy);
        assert_eq!(summary.health_metrics.total_checks, 5000);
        let again: serde_json::Value = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            again,
            serde_json::from_str::<serde_json::Value>(seed).unwrap()
        );
    }
}
