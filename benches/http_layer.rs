//! In-process cost of the API metrics layer: `cargo bench --bench http_layer`.
//!
//! The same axum router (`GET /hello/{id}`, a short text body) called through
//! `tower::ServiceExt::oneshot` bare, with a layer that does nothing, with `ApiMetricsLayer`
//! inside the router (`Router::layer`) and around it (outer mode, `ApiRoutes::instrument`),
//! the body collected, on a current-thread runtime. The differences are the layers' costs
//! per request.

#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to measure

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::hint::black_box;
use tower::ServiceExt;
use tower::util::BoxCloneService;

type App = BoxCloneService<Request<Body>, Response, Infallible>;

fn router() -> Router {
    Router::new().route("/hello/{id}", get(|| async { "hello" }))
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let metrics = tmc_metrics::Metrics::builder().build().expect("metrics");
    let outer = tmc_tower::api::ApiRoutes::new()
        .route("/hello/{id}", get(|| async { "hello" }))
        .instrument(tmc_tower::api::ApiMetricsLayer::new(&metrics))
        .expect("routes");
    let variants = [
        ("http_layer/bare", router().into_service().boxed_clone()),
        (
            "http_layer/noop-layer",
            router()
                .layer(tower::layer::layer_fn(|s| s))
                .into_service()
                .boxed_clone(),
        ),
        (
            "http_layer/tmc",
            router()
                .layer(tmc_tower::api::ApiMetricsLayer::new(&metrics))
                .into_service()
                .boxed_clone(),
        ),
        ("http_layer/tmc-outer", outer.boxed_clone()),
    ];
    let variants: [(&str, App); 4] = variants;
    for (name, app) in variants {
        c.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let request = Request::get("/hello/42")
                        .body(Body::empty())
                        .expect("request");
                    let response = app.clone().oneshot(request).await.expect("infallible");
                    black_box(response.into_body().collect().await.expect("body"));
                });
            });
        });
        metrics.run_upkeep();
    }
}

criterion_group!(benches, layer);
criterion_main!(benches);
