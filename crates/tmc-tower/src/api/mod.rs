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
//! request future or body was dropped first, or [`ERROR_STATUS`] when the service or body
//! failed.
//!
//! With axum, add the layer with `Router::layer` so the route template is known; it then
//! covers the fallback (unmatched requests) too:
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
#[cfg(feature = "axum")]
pub use routes::{ApiRoutes, MeteredFuture, MeteredRouter};
pub use service::ApiMetrics;
pub use sizes::{BodySizeLayer, BodySizes, SizedBody, SizesFuture};
pub use table::{RouteError, RouteTable};
