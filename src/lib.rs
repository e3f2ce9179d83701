//! Observability for tower, axum and controllers: the TMC and DataMover metric system.
//!
//! A reconcile wrapped, run by a controller: every reconcile is also an operation, counted,
//! timed and its error classified, next to the controller-runtime metrics.
//!
//! ```
//! # #[cfg(all(feature = "tower", feature = "runtime"))] {
//! use std::sync::Arc;
//! use tmc::tmc_runtime::{Action, Controller, MemoryStore, ObjectKey, Resource, reconciler_fn};
//! use tmc::tmc_tower::operation::instrument_reconcile;
//! use tmc::{Metrics, TmcError};
//! use tokio::sync::Notify;
//!
//! struct Backup { name: String }
//!
//! impl Resource for Backup {
//!     fn key(&self) -> ObjectKey { ObjectKey::namespaced("default", &self.name) }
//! }
//!
//! async fn reconcile(backup: Arc<Backup>, done: Arc<Notify>) -> Result<Action, TmcError> {
//!     // ... drive the world towards `backup` ...
//!     done.notify_one();
//!     Ok(Action::await_change())
//! }
//!
//! let metrics = Metrics::builder().upkeep_interval(None).build()?;
//! let store = MemoryStore::new();
//! store.apply(Backup { name: "nightly".into() });
//!
//! let operation = metrics.collector().operation("BackupController", "backup", "reconcile");
//! let done = Arc::new(Notify::new());
//! let controller = Controller::new("backup", store)
//!     .reconciler(reconciler_fn(instrument_reconcile(operation, reconcile), done.clone()))
//!     .metrics(metrics.collector());
//! // Until the object has been reconciled; in a service, e.g. `tokio::signal::ctrl_c()`.
//! let report = tokio::runtime::Builder::new_current_thread()
//!     .enable_time()
//!     .build()?
//!     .block_on(controller.run(async move { done.notified().await }));
//! assert!(report.is_clean());
//!
//! let text = metrics.render();
//! assert!(text.contains(
//!     r#"controller_runtime_reconcile_total{controller="backup",result="success"} 1"#
//! ));
//! assert!(text.contains(
//!     r#"tmc_component_operations_total{component_type="BackupController",component_id="backup",operation="reconcile",status="success"} 1"#
//! ));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
//! Without the optional crates (`default-features = false`), the registry alone:
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
