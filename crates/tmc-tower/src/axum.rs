//! axum glue: serve the exposition on `/metrics`, in the format the scrape asks for.

use axum::Router;
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_TYPE, VARY};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get};
use tmc_metrics::{Exposition, Format};

/// A `GET` route rendering `metrics` (a `tmc_metrics::Metrics`, or any [`Exposition`]) in
/// the format the request's `Accept` header chooses among those it renders
/// ([`Format::negotiate`]): protobuf when the scraper asks for it first (Prometheus does with
/// native histograms on), OpenMetrics 1.0 when it prefers that (Prometheus's default), else
/// the Prometheus text format 0.0.4. The response carries the matching content type. Mount it on the app's router or on
/// a router of its own for a separate listener.
///
/// ```
/// use axum::Router;
/// let metrics = tmc_metrics::Metrics::builder().build()?;
/// let app: Router = Router::new().route("/metrics", tmc_tower::axum::metrics_route(metrics));
/// # Ok::<(), tmc_metrics::MetricsError>(())
/// ```
pub fn metrics_route<S, E>(metrics: E) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
    E: Exposition,
{
    get(move |headers: HeaderMap| {
        let metrics = metrics.clone();
        async move {
            let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
            let format = Format::negotiate(accept, metrics.formats());
            let body = metrics.render_bytes(format);
            (
                [(CONTENT_TYPE, format.content_type()), (VARY, "Accept")],
                body,
            )
                .into_response()
        }
    })
}

/// A router serving only `path` (usually `/metrics`), e.g. for a listener of its own.
pub fn metrics_router<E: Exposition>(metrics: E, path: &str) -> Router {
    Router::new().route(path, metrics_route(metrics))
}
