//! The usual setup of an application that already uses `metrics-exporter-prometheus`: its
//! recorder installed process-wide (configured from the catalog by
//! `tmc_metrics::prometheus::install_recorder`), and `ApiMetricsLayer` recording through the
//! `metrics` facade into it. The only test in this binary, because it installs the global
//! recorder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use metrics_exporter_prometheus::PrometheusBuilder;
use tmc_metrics::MetricsCollector;
use tmc_metrics::catalog::{
    LATENCY_BUCKETS, TMC_API_REQUEST_DURATION_SECONDS, TMC_API_REQUESTS_IN_FLIGHT,
    TMC_API_REQUESTS_TOTAL, TMC_METRICS_SERIES_FOLDED_TOTAL,
};
use tmc_tower::api::ApiMetricsLayer;
use tower::ServiceExt;

async fn send(app: &Router, uri: &str) -> StatusCode {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

/// The exposition with the values that depend on how long requests took (bucket counts
/// below `+Inf`, sums) replaced by `_`.
fn without_durations(text: &str) -> String {
    text.lines()
        .map(|l| {
            let timed =
                (l.contains("_bucket{") && !l.contains("le=\"+Inf\"")) || l.contains("_sum{");
            match l.rsplit_once(' ') {
                Some((head, _)) if timed && !l.starts_with('#') => format!("{head} _\n"),
                _ => format!("{l}\n"),
            }
        })
        .collect()
}

#[tokio::test]
async fn api_layer_should_record_into_an_installed_prometheus_exporter_with_catalog_buckets_and_help()
 {
    let handle = tmc_metrics::prometheus::install_recorder(PrometheusBuilder::new()).unwrap();
    let app = Router::new()
        .route("/hello/{id}", get(|| async { "hello" }))
        .layer(ApiMetricsLayer::new(MetricsCollector::facade()));
    assert_eq!(send(&app, "/hello/1").await, StatusCode::OK);
    assert_eq!(send(&app, "/hello/2").await, StatusCode::OK);
    assert_eq!(send(&app, "/nope").await, StatusCode::NOT_FOUND);
    handle.run_upkeep();

    let labels = |endpoint: &str, status: &str| {
        format!("method=\"GET\",endpoint=\"{endpoint}\",status_code=\"{status}\"")
    };
    let histogram = |endpoint: &str, status: &str, n: u32| {
        let l = labels(endpoint, status);
        let mut lines: String = LATENCY_BUCKETS
            .iter()
            .map(|le| format!("tmc_api_request_duration_seconds_bucket{{{l},le=\"{le}\"}} _\n"))
            .collect();
        lines.push_str(&format!(
            "tmc_api_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {n}\n\
             tmc_api_request_duration_seconds_sum{{{l}}} _\n\
             tmc_api_request_duration_seconds_count{{{l}}} {n}\n"
        ));
        lines
    };
    // The exporter's order of families and series is its own: compare the lines as sets,
    // each exactly once.
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let got = without_durations(&handle.render());
    let folded = TMC_METRICS_SERIES_FOLDED_TOTAL.name;
    let expected = format!(
        "# HELP {folded} {folded_help}\n# TYPE {folded} counter\n\
         {folded}{{metric=\"tmc_api_requests_total\"}} 0\n\
         # HELP {total} {total_help}\n# TYPE {total} counter\n\
         {total}{{{a}}} 2\n{total}{{{b}}} 1\n\
         # HELP {flight} {flight_help}\n# TYPE {flight} gauge\n\
         {flight}{{method=\"GET\",endpoint=\"/hello/{{id}}\"}} 0\n\
         {flight}{{method=\"GET\",endpoint=\"__unmatched__\"}} 0\n\
         # HELP {duration} {duration_help}\n# TYPE {duration} histogram\n{}{}",
        histogram("/hello/{id}", "200", 2),
        histogram("__unmatched__", "404", 1),
        folded_help = TMC_METRICS_SERIES_FOLDED_TOTAL.help,
        total = TMC_API_REQUESTS_TOTAL.name,
        total_help = TMC_API_REQUESTS_TOTAL.help,
        a = labels("/hello/{id}", "200"),
        b = labels("__unmatched__", "404"),
        flight = TMC_API_REQUESTS_IN_FLIGHT.name,
        flight_help = TMC_API_REQUESTS_IN_FLIGHT.help,
        duration = TMC_API_REQUEST_DURATION_SECONDS.name,
        duration_help = TMC_API_REQUEST_DURATION_SECONDS.help,
    );
    assert_eq!(sorted(&got), sorted(&expected), "rendered:\n{got}");
}
