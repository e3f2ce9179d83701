//! The TMC and DataMover metric system: the catalog, the collector, the operation tracker,
//! custom metrics and a registry that renders the Prometheus text format, OpenMetrics and the
//! protobuf exposition (with native histograms).
//!
//! An operation tracked: each run is counted and timed, and its error classified.
//!
//! ```
//! # #[cfg(feature = "registry")] {
//! use tmc_metrics::{Metrics, TmcError};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! // A private registry; `install()` instead makes it the process-global recorder.
//! let metrics = Metrics::builder().build()?;
//! // Labels resolved once, for hot paths; each `track` is one run of the operation.
//! let update = metrics.collector().operation("syncer", "cluster-1", "update-deployment");
//! let replicas: Result<u32, TmcError> = update.track(async { Ok(3) }).await;
//! assert_eq!(replicas?, 3);
//! let conflict: Result<u32, TmcError> = update
//!     .track(async { Err(TmcError::from_http_status(409, "syncer", "update-deployment", "object was modified")) })
//!     .await;
//! assert!(conflict.is_err());
//!
//! // Serve this on /metrics with content type `tmc_metrics::CONTENT_TYPE`.
//! let text = metrics.render();
//! assert!(text.contains(
//!     r#"tmc_component_operations_total{component_type="syncer",component_id="cluster-1",operation="update-deployment",status="success"} 1"#
//! ));
//! assert!(text.contains(
//!     r#"tmc_component_errors_total{component_type="syncer",component_id="cluster-1",error_type="ResourceConflict",severity="Low"} 1"#
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every metric family is declared once in [`catalog`]; the registry is configured from it
//! ([`Metrics::builder`]), so each histogram renders with the catalog's buckets and every
//! family carries its help text. Record through the typed methods of [`MetricsCollector`],
//! through an [`Operation`] with labels resolved once, or through the custom metrics
//! registered at run time ([`CustomMetrics`]). Nothing here needs HTTP or an async runtime.
//!
//! # Features
//! - `registry` (default): [`Metrics`], the registry and its renderers ([`Format`]; native
//!   histograms in [`Format::Protobuf`], see [`catalog::NativeHistogram`]),
//!   retention, the series cap and [`CustomMetrics`]. Libraries that only record (tower
//!   layers, controllers) turn default features off: they keep the catalog, the collector
//!   and the operation tracker, and record through the `metrics` facade into whatever
//!   recorder the application installed.
//! - `prometheus-exporter`: the `prometheus` module, which configures `metrics-exporter-prometheus`
//!   from the catalog for applications that use that exporter instead.
//! - `opentelemetry`: exemplars (`MetricsBuilder::exemplars`): counters and histogram
//!   buckets keep the trace and span ids of the OpenTelemetry context of the current
//!   `tracing` span (`tracing-opentelemetry`), written in OpenMetrics. Off, the cells have no
//!   exemplar slot and nothing is looked up.
//!
//! Each run of an [`Operation`] is a `tracing` span, `operation` (see [`OperationTracker`]),
//! made only when a subscriber wants it.
//!
//! The typed methods of the collector, one per family of the catalog:
//!
//! ```
//! # #[cfg(feature = "registry")] {
//! use std::time::Duration;
//! use tmc_metrics::{Metrics, Outcome};
//!
//! // A private registry; `install()` instead makes it the process-global recorder.
//! let metrics = Metrics::builder().build()?;
//! let collector = metrics.collector();
//! collector.datamover_phase_started("CreatingClonedPVC", "default");
//! collector.datamover_phase_finished("CreatingClonedPVC", "default", Outcome::Success, Duration::from_secs(42));
//!
//! let text = metrics.render();
//! assert!(text.contains("# TYPE datamover_phase_duration_seconds histogram"));
//! assert!(text.contains(
//!     r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#
//! ));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod catalog;
mod collector;
#[cfg(feature = "registry")]
mod custom;
mod error;
#[cfg(feature = "registry")]
mod exporter;
mod exposition;
mod health;
mod operation;
#[cfg(feature = "prometheus-exporter")]
pub mod prometheus;
#[cfg(feature = "registry")]
mod registry;
#[cfg(feature = "registry")]
mod retention;
pub mod validate;

pub use collector::{DataMoverStatus, MetricsCollector, Outcome, ScheduleSkip, key};
#[cfg(feature = "registry")]
pub use custom::{CustomMetric, CustomMetricError, CustomMetrics};
pub use error::{Classify, ErrorClass, ErrorKind, Severity, TmcError, classify_dyn};
#[cfg(feature = "registry")]
pub use exporter::{DEFAULT_MAX_SERIES_PER_FAMILY, Metrics, MetricsBuilder, MetricsError};
pub use exposition::{
    CONTENT_TYPE, Exposition, Format, OPENMETRICS_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, TextFormat,
};
pub use health::HealthStatus;
pub use operation::{
    ClassifyError, ClassifyOutcome, DefaultClassifier, Operation, OperationTracker, Tracked,
    TrackedResult, status, track_operation,
};
#[cfg(feature = "registry")]
pub use retention::Clock;

/// The label value every label of a series folded past its family's cap gets.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// The `metrics` facade this crate records through, re-exported so users name one version.
pub use metrics;

#[cfg(test)]
#[cfg(feature = "registry")]
mod tests;

/// The README's example, compiled and run as a doc test.
#[cfg(all(doctest, feature = "registry"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
