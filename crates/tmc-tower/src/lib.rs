//! Tower layers that record TMC metrics with no other code.
//!
//! - [`api`]: HTTP API request metrics for any `Service<http::Request<B>>`; one
//!   `.layer(ApiMetricsLayer::new(&metrics))` on an axum `Router`.
//! - [`operation`]: per-operation counts, errors and latency for any tower `Service`, async
//!   function or reconcile function.
//! - [`axum`] (feature `axum`): a `/metrics` route serving the exposition.

pub mod api;
#[cfg(feature = "axum")]
pub mod axum;
pub mod operation;
