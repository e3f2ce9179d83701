//! In-process cost of the API metrics layer: `cargo bench --bench http_layer`.
//!
//! The same axum router (`GET /hello/{id}`, a short text body) called through
//! `tower::ServiceExt::oneshot` with and without `ApiMetricsLayer`, the body collected, on a
//! current-thread runtime. The difference is the layer's cost per request.

#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to measure

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt;
use std::hint::black_box;
use tower::ServiceExt;

fn router() -> Router {
    Router::new().route("/hello/{id}", get(|| async { "hello" }))
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let metrics = tmc_metrics::Metrics::builder().build().expect("metrics");
    let variants = [
        ("http_layer/bare", router()),
        (
            "http_layer/tmc",
            router().layer(tmc_tower::api::ApiMetricsLayer::new(&metrics)),
        ),
    ];
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
