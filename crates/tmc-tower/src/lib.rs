//! Tower layers that record TMC metrics with no other code.
//!
//! The layer on an axum `Router`: every request is counted and timed under its route
//! template.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use tmc_metrics::Metrics;
//! use tmc_tower::api::ApiMetricsLayer;
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let metrics = Metrics::builder().build()?;
//! let app = Router::new()
//!     .route("/api/v1/placements/{id}", get(|| async { "a placement" }))
//!     // Text or OpenMetrics, as the scrape's `Accept` header asks.
//!     .route("/metrics", tmc_tower::axum::metrics_route(metrics.clone()))
//!     .layer(ApiMetricsLayer::new(&metrics)); // added last, so it wraps every route
//!
//! // Serve `app` with `axum::serve`; here, one request through it.
//! let response = app.oneshot(Request::get("/api/v1/placements/42").body(Body::empty())?).await?;
//! assert_eq!(axum::body::to_bytes(response.into_body(), usize::MAX).await?, "a placement");
//! assert!(metrics.render().contains(
//!     r#"tmc_api_requests_total{method="GET",endpoint="/api/v1/placements/{id}",status_code="200"} 1"#
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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

/// The README's example, compiled and run as a doc test.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
