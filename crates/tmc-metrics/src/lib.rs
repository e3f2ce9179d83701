//! The TMC and DataMover metric system: the catalog, the collector, the operation tracker,
//! custom metrics and the Prometheus exporter setup.
//!
//! Every metric family is declared once in [`catalog`]; the exporter is configured from it
//! ([`Metrics::builder`]), so each histogram renders with the catalog's buckets and every
//! family carries its help text. Record through the typed methods of [`MetricsCollector`],
//! through an [`Operation`] with labels resolved once, or through the custom metrics
//! registered at run time ([`CustomMetrics`]). Nothing here needs HTTP or an async runtime.
//!
//! ```
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
//! # Ok::<(), tmc_metrics::MetricsError>(())
//! ```

pub mod catalog;
mod collector;
mod custom;
mod error;
mod exporter;
mod health;
mod operation;
mod recorder;
mod retention;
pub mod validate;

pub use collector::{DataMoverStatus, MetricsCollector, Outcome, key};
pub use custom::{CustomMetric, CustomMetricError, CustomMetrics};
pub use error::{Classify, ErrorClass, ErrorKind, Severity, TmcError, classify_dyn};
pub use exporter::{
    CONTENT_TYPE, DEFAULT_MAX_SERIES_PER_FAMILY, Metrics, MetricsBuilder, MetricsError,
};
pub use health::HealthStatus;
pub use operation::{
    ClassifyError, ClassifyOutcome, DefaultClassifier, Operation, OperationTracker, Tracked,
    TrackedResult, status, track_operation,
};
pub use recorder::OVERFLOW_LABEL_VALUE;
pub use retention::Clock;

/// The `metrics` facade this crate records through, re-exported so users name one version.
pub use metrics;

#[cfg(test)]
mod tests;
