//! Aggregation: the overall status and message, and the counts of checks by outcome.

use super::CheckResult;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use tmc_metrics::HealthStatus;

/// How many components' names an overall message lists before saying "and N more".
const NAMES_IN_MESSAGE: usize = 5;

/// The health of the whole process: the summary's `overall_health`.
///
/// Aggregation rules:
///
/// | components | `status` | `message` |
/// |---|---|---|
/// | none registered | `Unknown` | `No components registered` |
/// | any `Unhealthy` | `Unhealthy` | `2 of 25 components unhealthy: syncer/syncer-1, syncer/syncer-2` |
/// | any `Degraded` or `Unknown` | `Degraded` | `1 of 25 components degraded: placement/p-1` (`unknown`, or `degraded or unknown` when mixed) |
/// | all `Healthy` | `Healthy` | `All 25 components healthy` |
///
/// Names are `component_type/component_id`, sorted, at most five, then `and N more`.
/// A component never checked yet is `Unknown`, so a process starts `Degraded` until its
/// first round of checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverallHealth {
    /// The aggregated status, serialised as `Healthy`, `Degraded`, `Unhealthy` or `Unknown`.
    #[serde(with = "status_serde")]
    pub status: HealthStatus,
    /// A sentence for humans, such as `All 25 components healthy`.
    pub message: String,
    /// Components by status.
    pub details: HealthDetails,
}

/// Components by status: the summary's `overall_health.details`, in camelCase as in the
/// seed. `Unknown` components count in `totalComponents` only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthDetails {
    /// Every registered component.
    pub total_components: u64,
    /// Components whose last status is `Healthy`.
    pub healthy_components: u64,
    /// Components whose last status is `Degraded`.
    pub degraded_components: u64,
    /// Components whose last status is `Unhealthy`.
    pub unhealthy_components: u64,
}

/// Checks run since the monitor was created, by outcome: the summary's `health_metrics`.
///
/// Every run check and every pushed status counts once. `errorChecks` counts checks that
/// failed to run (returned `Err`, panicked, timed out) and results that reported
/// `Unknown`, so `totalChecks` is always the sum of the other four.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckCounts {
    /// All checks.
    pub total_checks: u64,
    /// Checks that reported `Healthy`.
    pub healthy_checks: u64,
    /// Checks that reported `Degraded`.
    pub degraded_checks: u64,
    /// Checks that reported `Unhealthy`.
    pub unhealthy_checks: u64,
    /// Checks that failed to run or reported `Unknown`.
    pub error_checks: u64,
}

/// Lock-free counters behind [`HealthCheckCounts`].
#[derive(Debug, Default)]
pub(crate) struct CheckCounters {
    healthy: AtomicU64,
    degraded: AtomicU64,
    unhealthy: AtomicU64,
    error: AtomicU64,
}

impl CheckCounters {
    pub(crate) fn count(&self, result: &CheckResult) {
        let counter = match (result.is_error(), result.status()) {
            (false, HealthStatus::Healthy) => &self.healthy,
            (false, HealthStatus::Degraded) => &self.degraded,
            (false, HealthStatus::Unhealthy) => &self.unhealthy,
            (true, _) | (false, HealthStatus::Unknown) => &self.error,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HealthCheckCounts {
        let healthy_checks = self.healthy.load(Ordering::Relaxed);
        let degraded_checks = self.degraded.load(Ordering::Relaxed);
        let unhealthy_checks = self.unhealthy.load(Ordering::Relaxed);
        let error_checks = self.error.load(Ordering::Relaxed);
        HealthCheckCounts {
            total_checks: healthy_checks + degraded_checks + unhealthy_checks + error_checks,
            healthy_checks,
            degraded_checks,
            unhealthy_checks,
            error_checks,
        }
    }
}

/// Aggregates `(component_type, component_id, status)` triples, sorted by type and id.
pub(crate) fn aggregate<'a>(
    components: impl IntoIterator<Item = (&'a str, &'a str, HealthStatus)>,
) -> OverallHealth {
    let mut details = HealthDetails::default();
    let mut unhealthy = Vec::new();
    let mut not_healthy = Vec::new();
    let mut unknown = 0_u64;
    for (component_type, component_id, status) in components {
        details.total_components += 1;
        match status {
            HealthStatus::Healthy => details.healthy_components += 1,
            HealthStatus::Degraded => {
                details.degraded_components += 1;
                not_healthy.push((component_type, component_id));
            }
            HealthStatus::Unknown => {
                unknown += 1;
                not_healthy.push((component_type, component_id));
            }
            HealthStatus::Unhealthy => {
                details.unhealthy_components += 1;
                unhealthy.push((component_type, component_id));
            }
        }
    }
    let total = details.total_components;
    let (status, message) = if total == 0 {
        (HealthStatus::Unknown, "No components registered".to_owned())
    } else if !unhealthy.is_empty() {
        (
            HealthStatus::Unhealthy,
            listing(details.unhealthy_components, total, "unhealthy", &unhealthy),
        )
    } else if !not_healthy.is_empty() {
        let what = match (details.degraded_components, unknown) {
            (_, 0) => "degraded",
            (0, _) => "unknown",
            _ => "degraded or unknown",
        };
        (
            HealthStatus::Degraded,
            listing(
                details.degraded_components + unknown,
                total,
                what,
                &not_healthy,
            ),
        )
    } else {
        (
            HealthStatus::Healthy,
            format!("All {total} {} healthy", noun(total)),
        )
    };
    OverallHealth {
        status,
        message,
        details,
    }
}

fn noun(n: u64) -> &'static str {
    if n == 1 { "component" } else { "components" }
}

fn listing(n: u64, total: u64, what: &str, names: &[(&str, &str)]) -> String {
    let mut out = format!("{n} of {total} {} {what}: ", noun(total));
    for (i, (component_type, component_id)) in names.iter().take(NAMES_IN_MESSAGE).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{component_type}/{component_id}");
    }
    if names.len() > NAMES_IN_MESSAGE {
        let _ = write!(out, " and {} more", names.len() - NAMES_IN_MESSAGE);
    }
    out
}

/// Serialises [`HealthStatus`] as the seed spells it (`Healthy`, ...).
pub(crate) mod status_serde {
    use serde::de::{Deserialize, Deserializer, Error};
    use serde::ser::Serializer;
    use tmc_metrics::HealthStatus;

    pub(crate) fn serialize<S: Serializer>(
        status: &HealthStatus,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(status.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<HealthStatus, D::Error> {
        let text = String::deserialize(deserializer)?;
        [
            HealthStatus::Healthy,
            HealthStatus::Degraded,
            HealthStatus::Unhealthy,
            HealthStatus::Unknown,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "unknown health status `{text}`: expected Healthy, Degraded, Unhealthy or Unknown"
            ))
        })
    }
}
