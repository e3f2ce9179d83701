//! The metric catalog: every family the project records, declared once, as data.
//!
//! Everything else derives from these declarations: the help text and histogram buckets the
//! registry is configured with (`Metrics`, or `metrics-exporter-prometheus` through the
//! `prometheus` module), the reference in `docs/metrics.md`
//! ([`render_markdown`]), and the checks that rules and dashboards name only known metrics
//! ([`find`]).
//!
//! ```
//! use tmc_metrics::catalog::{self, MetricKind};
//!
//! let def = catalog::find("datamover_phase_duration_seconds").unwrap();
//! assert_eq!(def.kind, MetricKind::Histogram);
//! assert_eq!(def.labels, ["phase", "namespace"]);
//! assert_eq!(def.buckets.last(), Some(&86_400.0));
//! ```

mod docs;
mod families;
mod http;
mod native;

pub use docs::render_markdown;
pub use families::*;
pub use http::{
    HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_DURATION_BUCKETS, HTTP_SERVER_REQUEST_BODY_SIZE_BYTES,
    HTTP_SERVER_REQUEST_DURATION_SECONDS, HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES,
};
pub use native::{NATIVE_HISTOGRAMS, NativeHistogram};

/// The type of a metric family, as Prometheus names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing count; the name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution with cumulative `_bucket{le=...}`, `_sum` and `_count` series.
    Histogram,
}

impl MetricKind {
    /// The name used on `# TYPE` lines: `counter`, `gauge` or `histogram`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

impl std::fmt::Display for MetricKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of the system a family belongs to; groups the reference docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subsystem {
    /// The DataMover operator (`datamover_*`).
    DataMover,
    /// TMC component health, operations and errors.
    Component,
    /// Workload placement.
    Placement,
    /// Resource synchronisation across clusters.
    Sync,
    /// Workload migration between clusters.
    Migration,
    /// Virtual workspaces: aggregation, projection, conflicts.
    VirtualWorkspace,
    /// Cluster health, connectivity and capacity.
    Cluster,
    /// Automated recovery.
    Recovery,
    /// Process and API metrics.
    System,
    /// HTTP server metrics under OpenTelemetry's semantic-convention names.
    Http,
    /// The controller runtime and its work queue.
    Controller,
    /// Metrics about the metric system itself.
    Meta,
}

impl Subsystem {
    /// A human-readable title for this subsystem.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::DataMover => "DataMover",
            Self::Component => "TMC components",
            Self::Placement => "TMC placement",
            Self::Sync => "TMC sync",
            Self::Migration => "TMC migration",
            Self::VirtualWorkspace => "TMC virtual workspaces",
            Self::Cluster => "TMC clusters",
            Self::Recovery => "TMC recovery",
            Self::System => "TMC system and API",
            Self::Http => "HTTP server (OpenTelemetry semantic conventions)",
            Self::Controller => "Controller runtime",
            Self::Meta => "The metric system itself",
        }
    }
}

/// One metric family: its name, type, help text, label names and (for histograms) buckets.
///
/// Declared as `const` items in this module and listed in [`CATALOG`].
#[derive(Debug, PartialEq)]
pub struct MetricDef {
    /// The exposition name, e.g. `datamover_operations_total`.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Label names, in the order the collector sets them.
    pub labels: &'static [&'static str],
    /// Upper bounds of the histogram buckets (without `+Inf`); empty for other kinds.
    pub buckets: &'static [f64],
    /// The part of the system the family belongs to.
    pub subsystem: Subsystem,
    /// The name the seed documents use, where it differs from `name`, and why.
    pub seed_name: Option<(&'static str, &'static str)>,
}

impl MetricDef {
    /// The position of `label` among this family's label names.
    #[must_use]
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| *l == label)
    }

    /// The names of the series this family renders: the name itself, or for a histogram
    /// its `_bucket`, `_sum` and `_count` series.
    #[must_use]
    pub fn series_names(&self) -> Vec<String> {
        match self.kind {
            MetricKind::Histogram => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{}{s}", self.name))
                .collect(),
            _ => vec![self.name.to_owned()],
        }
    }
}

/// Finds a family by its exposition name.
#[must_use]
pub fn find(name: &str) -> Option<&'static MetricDef> {
    CATALOG.iter().copied().find(|d| d.name == name)
}

/// Finds the family a series name belongs to: the family name itself, or a histogram's
/// `_bucket`, `_sum` or `_count` series.
///
/// ```
/// let def = tmc_metrics::catalog::family_of_series("tmc_api_request_duration_seconds_bucket");
/// assert_eq!(def.unwrap().name, "tmc_api_request_duration_seconds");
/// assert!(tmc_metrics::catalog::family_of_series("tmc_api_requests_total_sum").is_none());
/// ```
#[must_use]
pub fn family_of_series(series: &str) -> Option<&'static MetricDef> {
    if let Some(def) = find(series) {
        return Some(def);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        series
            .strip_suffix(suffix)
            .and_then(find)
            .filter(|d| d.kind == MetricKind::Histogram)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate;
    use std::collections::HashSet;

    #[test]
    fn every_family_is_listed_once_with_a_valid_name_and_labels() {
        let mut seen = HashSet::new();
        for def in CATALOG {
            assert!(seen.insert(def.name), "{} is listed twice", def.name);
            validate::metric_name(def.name).unwrap();
            assert!(
                !def.name.contains(':'),
                "{}: colons are for recording rules",
                def.name
            );
            for label in def.labels {
                validate::label_name(label).unwrap();
            }
            let labels: HashSet<_> = def.labels.iter().collect();
            assert_eq!(
                labels.len(),
                def.labels.len(),
                "{} repeats a label",
                def.name
            );
            assert!(def.help.ends_with('.'), "{}: help is a sentence", def.name);
        }
    }

    #[test]
    fn counters_end_in_total_and_nothing_else_does() {
        for def in CATALOG {
            assert_eq!(
                def.kind == MetricKind::Counter,
                def.name.ends_with("_total"),
                "{} is a {} (promtool: only counters end in _total)",
                def.name,
                def.kind
            );
        }
    }

    #[test]
    fn histograms_have_strictly_increasing_finite_buckets_and_others_none() {
        for def in CATALOG {
            if def.kind == MetricKind::Histogram {
                validate::buckets(def.buckets).unwrap();
                assert!(!def.labels.contains(&"le"), "{}", def.name);
            } else {
                assert!(def.buckets.is_empty(), "{} is not a histogram", def.name);
            }
        }
    }

    #[test]
    fn phase_duration_buckets_extend_past_the_long_running_alert_threshold() {
        // DataMoverLongRunningOperation fires on a p95 above 30 minutes; histogram_quantile
        // can only report that if buckets exist above 1800 s.
        let b = DATAMOVER_PHASE_DURATION_SECONDS.buckets;
        assert_eq!(
            &b[..12],
            &[
                0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0
            ]
        );
        assert!(b.contains(&1800.0) && b.contains(&3600.0) && b.contains(&14_400.0));
    }

    #[test]
    fn series_of_a_histogram_resolve_to_the_family() {
        assert_eq!(
            family_of_series("datamover_phase_duration_seconds_count").map(|d| d.name),
            Some("datamover_phase_duration_seconds")
        );
        assert!(family_of_series("datamover_operations_total_count").is_none());
        assert!(family_of_series("no_such_metric").is_none());
    }
}
