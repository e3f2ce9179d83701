//! What the layer tests share: a registry, its series, an axum app with the API layer, a
//! request sent through it.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tmc_metrics::Metrics;
use tmc_tower::api::ApiMetricsLayer;
use tower::ServiceExt;

pub(crate) fn metrics() -> Metrics {
    Metrics::builder().upkeep_interval(None).build().unwrap()
}

/// The exposition lines of one family's series, sorted.
pub(crate) fn series(metrics: &Metrics, family: &str) -> Vec<String> {
    let text = metrics.render();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.split(['{', ' ']).next() == Some(family))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

pub(crate) async fn send(app: &Router, method: Method, uri: &str) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

pub(crate) fn app(metrics: &Metrics) -> Router {
    let api = Router::new()
        .route(
            "/placements/{id}",
            get(|| async { "placement" }).delete(|| async { StatusCode::NO_CONTENT }),
        )
        .route("/placements", get(|| async { "list" }));
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/healthz", get(|| async { "ok" }))
        .nest("/api/v1", api)
        .route("/metrics", tmc_tower::axum::metrics_route(metrics.clone()))
        .layer(ApiMetricsLayer::new(metrics).exclude("/healthz"))
}
