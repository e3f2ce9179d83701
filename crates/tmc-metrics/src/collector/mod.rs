//! The collector: a typed method for every catalog family.
//!
//! Each method builds the family's label set from its arguments and records through the
//! `metrics` facade's [`Recorder`] trait, so any exporter can sit behind it. For a hot path,
//! resolve labels once instead: [`MetricsCollector::operation`] returns an
//! [`Operation`](crate::Operation) holding ready handles.

mod component;
mod datamover;
mod system;
mod workload;

pub use datamover::{DataMoverStatus, Outcome, ScheduleSkip};

use crate::catalog::MetricDef;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use std::fmt;
use std::sync::Arc;

pub(crate) static METADATA: Metadata<'static> =
    Metadata::new("tmc_metrics", Level::INFO, Some(module_path!()));

/// Records the catalog families. Cheap to clone; clones record into the same recorder.
///
/// ```
/// use std::time::Duration;
/// use tmc_metrics::{ErrorKind, Metrics};
///
/// let metrics = Metrics::builder().build()?;
/// let c = metrics.collector();
/// c.record_sync_duration("prod-cluster", "apps/v1/Deployment", "sync", Duration::from_millis(1500));
/// c.record_sync_error("prod-cluster", "apps/v1/Service", ErrorKind::SyncFailure);
/// let text = metrics.render();
/// assert!(text.contains(
///     r#"tmc_sync_errors_total{cluster="prod-cluster",gvk="apps/v1/Service",error_type="SyncFailure"} 1"#
/// ));
/// assert!(text.contains(
///     r#"tmc_sync_duration_seconds_bucket{cluster="prod-cluster",gvk="apps/v1/Deployment",operation="sync",le="2.5"} 1"#
/// ));
/// # Ok::<(), tmc_metrics::MetricsError>(())
/// ```
#[derive(Clone)]
pub struct MetricsCollector {
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    /// Whatever the facade has: a local recorder in scope, else the global one, else no-op.
    Facade,
    Recorder(Arc<dyn Recorder + Send + Sync>),
}

impl fmt::Debug for MetricsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sink = match self.sink {
            Sink::Facade => "facade",
            Sink::Recorder(_) => "recorder",
        };
        f.debug_struct("MetricsCollector")
            .field("sink", &sink)
            .finish()
    }
}

impl MetricsCollector {
    /// A collector that records into `recorder`.
    #[must_use]
    pub fn new(recorder: Arc<dyn Recorder + Send + Sync>) -> Self {
        Self {
            sink: Sink::Recorder(recorder),
        }
    }

    /// A collector that records through the `metrics` facade: into the recorder set by
    /// `metrics::with_local_recorder` when one is in scope, else the global recorder (a
    /// no-op until one is installed). Use this in libraries that let the application choose.
    #[must_use]
    pub fn facade() -> Self {
        Self { sink: Sink::Facade }
    }

    /// The counter for `key`, registered with this collector's recorder.
    pub fn register_counter(&self, key: &Key) -> Counter {
        match &self.sink {
            Sink::Facade => metrics::with_recorder(|r| r.register_counter(key, &METADATA)),
            Sink::Recorder(r) => r.register_counter(key, &METADATA),
        }
    }

    /// The gauge for `key`, registered with this collector's recorder.
    pub fn register_gauge(&self, key: &Key) -> Gauge {
        match &self.sink {
            Sink::Facade => metrics::with_recorder(|r| r.register_gauge(key, &METADATA)),
            Sink::Recorder(r) => r.register_gauge(key, &METADATA),
        }
    }

    /// The histogram for `key`, registered with this collector's recorder.
    pub fn register_histogram(&self, key: &Key) -> Histogram {
        match &self.sink {
            Sink::Facade => metrics::with_recorder(|r| r.register_histogram(key, &METADATA)),
            Sink::Recorder(r) => r.register_histogram(key, &METADATA),
        }
    }

    /// The counter of catalog family `def` for `values` (one per label, in catalog order).
    pub fn counter<const N: usize>(&self, def: &'static MetricDef, values: [&str; N]) -> Counter {
        self.register_counter(&key(def, values))
    }

    /// The gauge of catalog family `def` for `values`.
    pub fn gauge<const N: usize>(&self, def: &'static MetricDef, values: [&str; N]) -> Gauge {
        self.register_gauge(&key(def, values))
    }

    /// The histogram of catalog family `def` for `values`.
    pub fn histogram<const N: usize>(
        &self,
        def: &'static MetricDef,
        values: [&str; N],
    ) -> Histogram {
        self.register_histogram(&key(def, values))
    }
}

/// The one handle every layer takes (`impl Into<MetricsCollector>`): a registry...
#[cfg(feature = "registry")]
impl From<&crate::Metrics> for MetricsCollector {
    fn from(metrics: &crate::Metrics) -> Self {
        metrics.collector()
    }
}

/// ...the registry itself...
#[cfg(feature = "registry")]
impl From<crate::Metrics> for MetricsCollector {
    fn from(metrics: crate::Metrics) -> Self {
        metrics.collector()
    }
}

/// ...or a collector, borrowed or owned.
impl From<&MetricsCollector> for MetricsCollector {
    fn from(collector: &MetricsCollector) -> Self {
        collector.clone()
    }
}

/// The key of catalog family `def` with label values `values`, in the catalog's label order.
///
/// # Panics
/// In debug builds, when `N` differs from the family's label count (a programming error the
/// exposition tests catch).
#[must_use]
pub fn key<const N: usize>(def: &'static MetricDef, values: [&str; N]) -> Key {
    debug_assert_eq!(
        def.labels.len(),
        N,
        "{} takes labels {:?}",
        def.name,
        def.labels
    );
    let labels: Vec<Label> = def
        .labels
        .iter()
        .zip(values)
        .map(|(k, v)| Label::new(*k, v.to_owned()))
        .collect();
    Key::from_parts(KeyName::from_const_str(def.name), labels)
}

/// Seconds as `f64`, for histograms and gauges.
pub(crate) fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

/// A count as a gauge value; exact below 2^53.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn count(n: u64) -> f64 {
    n as f64
}
