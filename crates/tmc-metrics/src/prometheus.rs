//! `metrics-exporter-prometheus` configured from the catalog, for applications that use that
//! exporter rather than [`Metrics`](crate::Metrics) (feature `prometheus-exporter`).
//!
//! The layers and the runtime record through the `metrics` facade, so they work under any
//! installed recorder. Under this exporter two things need the catalog: histogram buckets
//! (without them the exporter renders a histogram as a summary) and help text (the exporter
//! takes it from `describe_*` calls). [`configure`] sets the buckets on a
//! [`PrometheusBuilder`]; [`describe`] gives a recorder every family's help text;
//! [`install_recorder`] does both and installs the recorder, the usual setup:
//!
//! ```
//! use metrics_exporter_prometheus::PrometheusBuilder;
//!
//! let builder = tmc_metrics::prometheus::configure(PrometheusBuilder::new())?;
//! let recorder = builder.build_recorder();
//! tmc_metrics::prometheus::describe(&recorder);
//! let handle = recorder.handle();
//! // Or, for the process: `let handle = tmc_metrics::prometheus::install_recorder(PrometheusBuilder::new())?;`
//! metrics::with_local_recorder(&recorder, || {
//!     tmc_metrics::MetricsCollector::facade().datamover_cleanup("default", tmc_metrics::Outcome::Success);
//! });
//! assert!(handle.render().contains(
//!     r#"datamover_cleanup_operations_total{status="success",namespace="default"} 1"#
//! ));
//! # Ok::<(), metrics_exporter_prometheus::BuildError>(())
//! ```

use crate::catalog::{CATALOG, MetricKind};
use metrics::{KeyName, Recorder, SharedString};
use metrics_exporter_prometheus::Matcher;
pub use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

/// Sets the buckets of every catalog histogram on `builder`, so each renders as a Prometheus
/// histogram with the catalog's buckets. Other settings of `builder` are kept.
///
/// # Errors
/// The exporter's [`BuildError`] if it refuses a bucket list (the catalog's are checked by
/// this crate's tests, so this does not happen with an unmodified catalog).
pub fn configure(mut builder: PrometheusBuilder) -> Result<PrometheusBuilder, BuildError> {
    for def in CATALOG.iter().filter(|d| d.kind == MetricKind::Histogram) {
        builder = builder.set_buckets_for_metric(Matcher::Full(def.name.into()), def.buckets)?;
    }
    Ok(builder)
}

/// Gives `recorder` the help text of every catalog family.
pub fn describe<R: Recorder + ?Sized>(recorder: &R) {
    for def in CATALOG {
        let help = SharedString::const_str(def.help);
        let name = KeyName::from_const_str(def.name);
        match def.kind {
            MetricKind::Counter => recorder.describe_counter(name, None, help),
            MetricKind::Gauge => recorder.describe_gauge(name, None, help),
            MetricKind::Histogram => recorder.describe_histogram(name, None, help),
        }
    }
}

/// Configures `builder` from the catalog ([`configure`]), installs its recorder as the
/// process-global recorder, describes every catalog family ([`describe`]) and returns the
/// handle that renders the exposition.
///
/// Like the exporter's own `install_recorder`, this starts no upkeep task: call
/// [`PrometheusHandle::run_upkeep`] periodically (for example before each render) so
/// histogram samples are folded into their buckets.
///
/// # Errors
/// [`BuildError`] when the builder is refused or a global recorder is already installed.
pub fn install_recorder(builder: PrometheusBuilder) -> Result<PrometheusHandle, BuildError> {
    let handle = configure(builder)?.install_recorder()?;
    metrics::with_recorder(|r| describe(r));
    Ok(handle)
}
