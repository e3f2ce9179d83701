//! Health statuses and the gauge values they record.

use std::fmt;

/// The health of a component or cluster.
///
/// Recorded in `tmc_component_health` and `tmc_cluster_health` with [`HealthStatus::gauge_value`].
/// The seed's `TMCComponentUnhealthy` alert fires on values below 0.5, so `Unhealthy` and
/// `Unknown` page and `Degraded` does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HealthStatus {
    /// Working as intended.
    Healthy,
    /// Working, with reduced capacity or errors.
    Degraded,
    /// Not working.
    Unhealthy,
    /// Not known: never checked, or the check failed to run.
    #[default]
    Unknown,
}

impl HealthStatus {
    /// 1 healthy, 0.5 degraded, 0.25 unknown, 0 unhealthy.
    ///
    /// ```
    /// use tmc_metrics::HealthStatus;
    /// assert_eq!(HealthStatus::Healthy.gauge_value(), 1.0);
    /// assert_eq!(HealthStatus::Degraded.gauge_value(), 0.5);
    /// assert_eq!(HealthStatus::Unhealthy.gauge_value(), 0.0);
    /// assert!(HealthStatus::Unknown.gauge_value() < 0.5);
    /// ```
    #[must_use]
    pub const fn gauge_value(self) -> f64 {
        match self {
            Self::Healthy => 1.0,
            Self::Degraded => 0.5,
            Self::Unknown => 0.25,
            Self::Unhealthy => 0.0,
        }
    }

    /// `Healthy`, `Degraded`, `Unhealthy` or `Unknown`, as the seed's summary spells them.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Degraded => "Degraded",
            Self::Unhealthy => "Unhealthy",
            Self::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
