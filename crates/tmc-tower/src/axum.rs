//! axum glue: serve the exposition on `/metrics`.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get};
use tmc_metrics::Metrics;

/// A `GET` route rendering `metrics` in the Prometheus text format with its content type.
/// Mount it on the app's router or on a router of its own for a separate listener.
///
/// ```
/// use axum::Router;
/// let metrics = tmc_metrics::Metrics::builder().build()?;
/// let app: Router = Router::new().route("/metrics", tmc_tower::axum::metrics_route(metrics));
/// # Ok::<(), tmc_metrics::MetricsError>(())
/// ```
pub fn metrics_route<S: Clone + Send + Sync + 'static>(metrics: Metrics) -> MethodRouter<S> {
    get(move || {
        let metrics = metrics.clone();
        async move {
            (
                [(CONTENT_TYPE, tmc_metrics::CONTENT_TYPE)],
                metrics.render(),
            )
                .into_response()
        }
    })
}

/// A router serving only `path` (usually `/metrics`), e.g. for a listener of its own.
pub fn metrics_router(metrics: Metrics, path: &str) -> Router {
    Router::new().route(path, metrics_route(metrics))
}
