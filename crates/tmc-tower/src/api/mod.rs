//! HTTP API request metrics for any `Service<http::Request<B>>`, axum routers included.
//!
//! [`ApiMetricsLayer`] records, for every request:
//!
//! - `tmc_api_requests_total{method,endpoint,status_code}`
//! - `tmc_api_request_duration_seconds{method,endpoint,status_code}`, from the call until
//!   the response body ends (or the head, with [`ApiMetricsLayer::record_at_head`])
//! - `tmc_api_requests_in_flight{method,endpoint}`
//!
//! Label values are bounded: `endpoint` is the route template (never the raw path), with
//! every unmatched request under [`UNMATCHED_ENDPOINT`] and templates past the layer's cap
//! under [`OVERFLOW_ENDPOINT`]; `method` is one of the nine standard methods or
//! [`OTHER_METHOD`]; `status_code` is the response's code, [`CANCELLED_STATUS`] when the
//! request future or body was dropped first, [`ERROR_STATUS`] when the service or body
//! failed, or with [`ApiMetricsLayer::grpc`] one of [`GRPC_STATUS_CODES`].
//!
//! Where the template comes from:
//!
//! - **Outer mode** (the cheapest): the layer wraps a whole axum `Router`, a hyper service or
//!   any tower service, and matches each path against a [`RouteTable`] with `matchit`.
//!   [`ApiRoutes`] builds the `Router` and the table from one list of routes, and
//!   [`ApiRoutes::instrument`] wraps the router, ready for `axum::serve`.
//! - **Inside a `Router`** (`Router::layer`): axum's `MatchedPath`, the default. axum then
//!   wraps every route on its own and boxes each response again, which costs more per
//!   request. A `MatchedPath` wins over the table when both are there.
//! - Any [`ResolveEndpoint`], closures included.
//!
//! Opt-in body sizes: [`ApiMetricsLayer::body_sizes`].
//!
//! OpenTelemetry's HTTP server names (`http_server_request_duration_seconds`,
//! `http_server_active_requests`, ...) in place of these, or beside them:
//! [`ApiMetricsLayer::naming`] with a [`Naming`].
//!
//! Inside a `Router`, the layer covers the fallback (unmatched requests) too:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use tower::ServiceExt;
//! use tmc_metrics::Metrics;
//! use tmc_tower::api::ApiMetricsLayer;
//!
//! let metrics = Metrics::builder().build()?;
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .layer(ApiMetricsLayer::new(&metrics));
//!
//! let response = app.oneshot(Request::get("/users/42").body(Body::empty()).unwrap()).await.unwrap();
//! axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
//!
//! assert!(metrics.render().contains(
//!     r#"tmc_api_requests_total{method="GET",endpoint="/users/{id}",status_code="200"} 1"#
//! ));
//! # Ok::<(), tmc_metrics::MetricsError>(()) }).unwrap();
//! ```

mod body;
mod cache;
mod future;
mod guard;
mod labels;
mod layer;
mod otel;
#[cfg(feature = "axum")]
mod routes;
mod service;
mod sizes;
mod table;

pub use body::ResponseBody;
pub use future::ResponseFuture;
#[cfg(feature = "axum")]
pub use labels::MatchedPathEndpoint;
pub use labels::{
    CANCELLED_STATUS, DefaultEndpoint, ERROR_STATUS, GRPC_STATUS_CODES, NoEndpoint, OTHER_METHOD,
    OVERFLOW_ENDPOINT, ResolveEndpoint, UNMATCHED_ENDPOINT,
};
pub use layer::{ApiMetricsLayer, DEFAULT_MAX_ENDPOINTS};
pub use otel::Naming;
#[cfg(feature = "axum")]
pub use routes::{ApiRoutes, MeteredFuture, MeteredRouter};
pub use service::ApiMetrics;
pub use sizes::{BodySizeLayer, BodySizes, SizedBody, SizesFuture};
pub use table::{RouteError, RouteTable};
