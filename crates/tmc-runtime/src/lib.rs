//! A controller runtime: a keyed work queue, per-key backoff, bounded workers, graceful
//! shutdown and the metrics of Go's controller-runtime, with no dependency on Kubernetes.
//!
//! A controller started: it reconciles every object of its store, with the metrics of Go's
//! controller-runtime, until the shutdown future completes.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tmc_runtime::{Action, Backoff, Controller, MemoryStore, ObjectKey, Resource, reconciler_fn};
//! use tokio::sync::mpsc;
//!
//! struct Backup { namespace: String, name: String }
//!
//! impl Resource for Backup {
//!     fn key(&self) -> ObjectKey { ObjectKey::namespaced(&self.namespace, &self.name) }
//! }
//!
//! struct Ctx { done: mpsc::UnboundedSender<ObjectKey> }
//!
//! async fn reconcile(backup: Arc<Backup>, ctx: Arc<Ctx>) -> Result<Action, std::io::Error> {
//!     // ... drive the world towards `backup` ...
//!     let _ = ctx.done.send(backup.key());
//!     Ok(Action::requeue(Duration::from_secs(300)))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let metrics = tmc_metrics::Metrics::builder().upkeep_interval(None).build()?;
//! let store = MemoryStore::new();
//! store.apply(Backup { namespace: "default".into(), name: "nightly".into() });
//!
//! let (done, mut reconciled) = mpsc::unbounded_channel();
//! let controller = Controller::new("backup", store.clone())
//!     .reconciler(reconciler_fn(reconcile, Arc::new(Ctx { done })))
//!     .concurrency(4)?
//!     .backoff(Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(60), factor: 2.0, jitter: 0.1 })?
//!     .metrics(metrics.collector());
//!
//! let report = tokio::runtime::Builder::new_current_thread()
//!     .enable_time()
//!     .build()?
//!     .block_on(async move {
//!         // Shut down once the listed object has been reconciled; in a service, pass
//!         // e.g. `tokio::signal::ctrl_c()` instead.
//!         controller.run(async move { reconciled.recv().await; }).await
//!     });
//! assert!(report.is_clean());
//! assert!(metrics.render().contains(
//!     r#"controller_runtime_reconcile_total{controller="backup",result="requeue_after"} 1"#
//! ));
//! # Ok(())
//! # }
//! ```
//!
//! Objects come from a [`Store`] (list, get, watch); [`MemoryStore`] is the in-memory one.
//! A [`Controller`] watches the store, queues object keys ([`ObjectKey`], `namespace/name`)
//! and reconciles each with a tower [`Service`](tower::Service) taking a
//! [`ReconcileRequest`], so any tower middleware composes; [`reconciler_fn`] adapts the
//! familiar `reconcile(Arc<K>, Arc<Ctx>) -> Result<Action, E>`.
//!
//! Behaviour:
//! * **Queue**: duplicates of a queued key collapse; delayed requeues wait on a timer; of two
//!   schedules for one key, the earlier wins.
//! * **One at a time per key**: a key is never reconciled twice at once; a key enqueued while
//!   it runs is run again after.
//! * **Backoff**: a failing key is retried after an exponential, jittered, capped delay
//!   ([`Backoff`]) through the [`ErrorPolicy`]; its failure count (visible as
//!   [`ReconcileRequest::attempt`] and [`Retry::failures`]) resets on success.
//! * **Isolation**: a panicking reconciler is caught, counted, logged with its key and
//!   retried with backoff; an optional per-reconcile timeout is counted the same way.
//! * **Readiness**: a controller lists its store only once every store it reads is
//!   [ready](Store::ready) (a cache synced).
//! * **Shutdown**: [`Controller::run`] takes any future as the signal, stops taking work,
//!   lets in-flight reconciles finish within a deadline and reports what was cut off.
//! * **Together**: a [`Manager`] runs several controllers and background tasks, starts each
//!   controller once its stores are ready, and stops them all with one cancellation and
//!   one grace deadline, reporting every reconcile and task cut off ([`ManagerReport`]).
//! * **Observability**: a `reconcile` tracing span per reconcile (`controller`, `key`, `outcome`,
//!   `attempt`), inside which the reconciler runs and the reconcile's metrics are recorded
//!   (a reconciler wrapped by `tmc_tower::operation::instrument_reconcile` adds an
//!   `operation` span under it, with `component_type`, `operation`, `outcome` and
//!   `error_kind`), and the `controller_runtime_*` and `workqueue_*` families of
//!   [`tmc_metrics::catalog`], with the names and labels of Go's controller-runtime.
//!
//! # Metrics
//!
//! Recorded into the collector given to [`Controller::metrics`], with the controller's name
//! as both `controller` and `name` label, as Go does. At start every counter (all four
//! `result` values included) exists at 0.
//!
//! | Family | Semantics |
//! |---|---|
//! | `controller_runtime_reconcile_total{result}` | `success` (await change), `requeue_after` (`Ok` with a delay), `error` (an error, a panic or a timeout). `requeue` stays 0: [`Action`] has no rate-limited requeue; return an error for backoff. |
//! | `controller_runtime_reconcile_errors_total` | Errors, panics and timeouts (as in Go, a recovered panic is an error). |
//! | `controller_runtime_reconcile_panics_total`, `_timeouts_total` | Caught panics; reconciles cancelled by [`Controller::timeout`]. |
//! | `controller_runtime_reconcile_time_seconds` | Every reconcile, from the call to its outcome. |
//! | `controller_runtime_active_workers`, `_max_concurrent_reconciles` | Reconciles running now; the configured concurrency. |
//! | `workqueue_depth` | Keys due and waiting for a worker. Keys waiting on a timer (backoff, requeue after) and a re-run pending behind a running key are not counted until due. |
//! | `workqueue_adds_total` | Keys becoming due; a duplicate of a key already due is not counted (as in Go). |
//! | `workqueue_queue_duration_seconds` | From becoming due to the start of processing. |
//! | `workqueue_work_duration_seconds` | From the start of processing to its end. |
//! | `workqueue_retries_total` | Failures requeued with a delay (Go's rate-limited adds). |
//! | `workqueue_unfinished_work_seconds`, `_longest_running_processor_seconds` | Sum and maximum of the running times of in-flight reconciles, refreshed every [`UPKEEP_INTERVAL`] and at shutdown. |
//!
//! # Running controllers together
//!
//! A [`Manager`] holds the defaults its controllers share, the controllers and the
//! background tasks; [`Manager::run`] starts them (each controller once its stores are
//! ready), waits for the signal, then stops them all within one grace deadline.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tmc_runtime::{Action, Backoff, Manager, MemoryStore, ObjectKey, Resource, reconciler_fn};
//! use tokio::sync::mpsc;
//!
//! struct Backup { name: String }
//!
//! impl Resource for Backup {
//!     fn key(&self) -> ObjectKey { ObjectKey::namespaced("default", &self.name) }
//! }
//!
//! type Done = mpsc::UnboundedSender<ObjectKey>;
//!
//! async fn reconcile(backup: Arc<Backup>, done: Arc<Done>) -> Result<Action, std::io::Error> {
//!     let _ = done.send(backup.key());
//!     Ok(Action::await_change())
//! }
//!
//! /// A loop that never ends by itself, such as a census of running jobs.
//! async fn census() {
//!     let mut every = tokio::time::interval(Duration::from_secs(1));
//!     loop {
//!         every.tick().await;
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let metrics = tmc_metrics::Metrics::builder().upkeep_interval(None).build()?;
//! let backups = MemoryStore::new();
//! backups.apply(Backup { name: "nightly".into() });
//! let (done, mut reconciled) = mpsc::unbounded_channel();
//!
//! // What every controller shares, said once.
//! let backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_secs(300), factor: 2.0, jitter: 0.1 };
//! let mut manager = Manager::new()
//!     .grace(Duration::from_secs(5))
//!     .backoff(backoff)?
//!     .metrics(metrics.collector());
//! let controller = manager
//!     .controller("backup", backups)
//!     .reconciler(reconciler_fn(reconcile, Arc::new(done)))
//!     .concurrency(4)?;
//! manager.add(controller);
//! // Dropped when the shutdown token is cancelled.
//! manager.task("census", |stop| async move {
//!     stop.run_until_cancelled(census()).await;
//! });
//! // For a readiness probe: true once every controller has started.
//! let readiness = manager.readiness();
//!
//! let report = tokio::runtime::Builder::new_current_thread()
//!     .enable_time()
//!     .build()?
//!     .block_on(async move {
//!         // In a service: `manager.run(tokio::signal::ctrl_c())`; cancelling
//!         // `manager.shutdown_token()` anywhere stops it too.
//!         manager.run(async move { reconciled.recv().await; }).await
//!     });
//! assert!(report.is_clean(), "{report}");
//! assert_eq!(report.to_string(), "clean");
//! assert_eq!(report.controllers[0].name, "backup");
//! assert!(report.controllers[0].started);
//! assert!(!readiness.is_ready()); // false again once shutdown began
//! # Ok(())
//! # }
//! ```

mod action;
mod backoff;
mod controller;
mod error;
mod handle;
mod key;
mod manager;
mod metrics;
mod panic;
mod queue;
mod rate_limit;
mod reconciler;
mod report;
mod runner;
mod scheduler;
mod store;

pub use action::Action;
pub use backoff::Backoff;
pub use controller::{Controller, NoReconciler, UPKEEP_INTERVAL};
pub use error::ConfigError;
pub use handle::ControllerHandle;
pub use key::{ObjectKey, Owned, Resource};
pub use manager::{Manager, Readiness, TaskOutcome};
pub use rate_limit::RateLimit;
pub use reconciler::{
    BackoffPolicy, ErrorPolicy, ErrorPolicyFn, ReconcileRequest, ReconcilerFn, Retry,
    error_policy_fn, reconciler_fn,
};
pub use report::{ControllerReport, ManagerReport, ShutdownReport, TaskFailure};
pub use store::{Event, MemoryStore, Ready, Store};
/// The shutdown token of a [`Manager`], re-exported so tasks can name it.
pub use tokio_util::sync::CancellationToken;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
