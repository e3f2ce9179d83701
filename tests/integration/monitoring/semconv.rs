//! A real Prometheus scrapes an axum app whose `ApiMetricsLayer` records both namings
//! (`Naming::Both`), and answers queries by OpenTelemetry's HTTP semantic-convention names:
//! what a dashboard built for OpenTelemetry instrumentation asks.

use super::support::TempDir;
use std::time::{Duration, Instant};
use tmc_metrics::Metrics;
use tmc_test_support::http::{self, encode_query};
use tmc_test_support::prometheus::{Prometheus, scrape_config};
use tmc_tower::api::{ApiMetricsLayer, Naming};

/// How long Prometheus gets to start and scrape, in all.
const DEADLINE: Duration = Duration::from_secs(60);

/// The single value `query` answers, or why there is none yet.
fn value(p: &Prometheus, query: &str) -> Result<f64, String> {
    let data = p.api(&format!("/api/v1/query?query={}", encode_query(query)))?;
    let result = data["result"].as_array().cloned().unwrap_or_default();
    let [sample] = result.as_slice() else {
        return Err(format!("{query}: {} samples: {result:?}", result.len()));
    };
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{query}: no value in {sample}"))
}

/// The label sets `query` answers with (without `__name__`, `job` and `instance`), sorted.
fn label_sets(p: &Prometheus, query: &str) -> Result<Vec<String>, String> {
    let data = p.api(&format!("/api/v1/query?query={}", encode_query(query)))?;
    let mut sets: Vec<String> = data["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let metric = s["metric"].as_object().cloned().unwrap_or_default();
            let mut pairs: Vec<String> = metric
                .iter()
                .filter(|(k, _)| !["__name__", "job", "instance"].contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            pairs.sort();
            pairs.join(",")
        })
        .collect();
    sets.sort();
    Ok(sets)
}

#[test]
fn prometheus_answers_queries_by_the_opentelemetry_http_names() {
    let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
    let app = axum::Router::new()
        .route(
            "/api/v1/users/{id}",
            axum::routing::get(|| async { "user" }),
        )
        .route(
            "/api/v1/boom",
            axum::routing::get(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route("/metrics", tmc_tower::axum::metrics_route(metrics.clone()))
        .layer(ApiMetricsLayer::new(&metrics).naming(Naming::Both));
    let (_rt, target) = super::support::serve(app);

    // Three users, one 500, two paths no route matches, one unknown method.
    for id in 1..=3 {
        let reply = http::get(target, &format!("/api/v1/users/{id}"))
            .send()
            .unwrap();
        assert_eq!(reply.status, 200);
    }
    assert_eq!(
        http::get(target, "/api/v1/boom").send().unwrap().status,
        500
    );
    for path in ["/nope", "/wp-login.php"] {
        assert_eq!(http::get(target, path).send().unwrap().status, 404);
    }
    let purge = http::request(target, "PURGE", "/api/v1/users/1")
        .send()
        .unwrap();
    assert_eq!(purge.status, 405);

    let dir = TempDir::new("prometheus-semconv");
    let deadline = Instant::now() + DEADLINE;
    let mut prom = Prometheus::start(dir.path(), &scrape_config("app", target), &[]);

    let ok = r#"sum(http_server_request_duration_seconds_count{http_request_method="GET",http_route="/api/v1/users/{id}",http_response_status_code="200",url_scheme="http",network_protocol_version="1.1"})"#;
    let requests = prom.poll("the first scrape", deadline, |p| value(p, ok));
    assert_eq!(requests, 3.0);

    // Failures by `error_type`, as OpenTelemetry's error-rate panels count them.
    let errors = prom.poll("errors by error_type", deadline, |p| {
        label_sets(
            p,
            r#"http_server_request_duration_seconds_count{error_type!=""}"#,
        )
    });
    assert_eq!(
        errors,
        [
            "error_type=500,http_request_method=GET,http_response_status_code=500,http_route=/api/v1/boom,network_protocol_version=1.1,url_scheme=http"
        ]
    );
    // Unmatched requests carry no `http_route`; the unknown method is `_OTHER`.
    let unmatched = prom.poll("unmatched requests", deadline, |p| {
        value(
            p,
            r#"sum(http_server_request_duration_seconds_count{http_route="",http_response_status_code="404"})"#,
        )
    });
    assert_eq!(unmatched, 2.0);
    let other = prom.poll("the unknown method", deadline, |p| {
        value(
            p,
            r#"sum(http_server_request_duration_seconds_count{http_request_method="_OTHER",http_response_status_code="405"})"#,
        )
    });
    assert_eq!(other, 1.0);
    // The semconv buckets, as `histogram_quantile` reads them: `le` bounds of one series.
    let les = prom.poll("the buckets", deadline, |p| {
        label_sets(
            p,
            r#"http_server_request_duration_seconds_bucket{http_route="/api/v1/boom"}"#,
        )
    });
    let mut bounds: Vec<f64> = les
        .iter()
        .filter_map(|s| s.split("le=").nth(1)?.split(',').next()?.parse().ok())
        .collect();
    bounds.sort_by(f64::total_cmp);
    assert_eq!(
        bounds,
        [
            0.005,
            0.01,
            0.025,
            0.05,
            0.075,
            0.1,
            0.25,
            0.5,
            0.75,
            1.0,
            2.5,
            5.0,
            7.5,
            10.0,
            f64::INFINITY
        ]
    );
    // Nothing is being served between scrapes; the scrapes themselves are excluded.
    let active = prom.poll("active requests", deadline, |p| {
        value(p, "sum(http_server_active_requests)")
    });
    assert_eq!(active, 0.0);
    // The default names are still there, unchanged.
    let tmc = prom.poll("the tmc_api_* names", deadline, |p| {
        value(
            p,
            r#"sum(tmc_api_requests_total{endpoint="/api/v1/users/{id}",status_code="200"})"#,
        )
    });
    assert_eq!(tmc, 3.0);
}
