//! Observability for tower, axum and controllers: the TMC and DataMover metric system.
//!
//! This facade re-exports the workspace crates so an application needs one dependency:
//!
//! - [`tmc_metrics`]: the metric catalog, the collector, the operation tracker, custom
//!   metrics and the registry rendering Prometheus text and OpenMetrics.
//! - [`tmc_tower`] (feature `tower`, default): the API request layer for axum and any HTTP
//!   service, and the operation layer for any tower service or reconcile function.
//! - [`tmc_runtime`] (feature `runtime`, default): the controller runtime.
//! - [`tmc_server`] (feature `server`, default): the metrics endpoint with health probes,
//!   the metrics summary, configuration, TLS and bearer-token authentication.
//!
//! ```
//! let metrics = tmc::Metrics::builder().build()?;
//! metrics.collector().record_runtime_tasks(3);
//! assert!(metrics.render().contains("tmc_runtime_tasks 3"));
//! # Ok::<(), tmc::MetricsError>(())
//! ```

pub use tmc_metrics;
pub use tmc_metrics::{
    Classify, CustomMetrics, ErrorClass, ErrorKind, Format, HealthStatus, Metrics,
    MetricsCollector, MetricsError, Operation, OperationTracker, Severity, TmcError, catalog,
};
#[cfg(feature = "runtime")]
pub use tmc_runtime;
#[cfg(feature = "server")]
pub use tmc_server;
#[cfg(feature = "tower")]
pub use tmc_tower;

/// The README's Rust snippets, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
