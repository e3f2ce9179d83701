//! A real Prometheus with native histograms on scrapes the protobuf exposition of our
//! registry: `histogram_count(rate(...))`, which only a native histogram answers, is above
//! zero, and the native median agrees with the classic one within a bucket of the schema.
//!
//! Prometheus 2.x with `--enable-feature=native-histograms` asks every target for protobuf
//! and keeps only the native half of a histogram that has both, so the classic buckets are
//! read from the same registry by a second job whose route always answers in text.

use super::support::TempDir;
use serde_json::Value as Json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tmc_metrics::Metrics;
use tmc_metrics::catalog::NativeHistogram;
use tmc_test_support::http::encode_query;
use tmc_test_support::prometheus::Prometheus;

/// How long Prometheus gets to start and scrape, in all.
const DEADLINE: Duration = Duration::from_secs(60);

/// Both jobs: `native` reads `/metrics` (protobuf, as Prometheus asks), `classic` the same
/// registry through a route that always answers in text.
fn config(target: SocketAddr) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n\
         - job_name: native\n  metrics_path: /metrics\n  static_configs:\n  - targets: ['{target}']\n\
         - job_name: classic\n  metrics_path: /metrics/text\n  static_configs:\n  - targets: ['{target}']\n"
    )
}

/// The result of the instant query `query`, or why there is none yet.
fn query(p: &Prometheus, query: &str) -> Result<Vec<Json>, String> {
    let data = p.api(&format!("/api/v1/query?query={}", encode_query(query)))?;
    Ok(data["result"].as_array().cloned().unwrap_or_default())
}

/// The single value `query` answers, or why there is none yet.
fn value(p: &Prometheus, q: &str) -> Result<f64, String> {
    let result = query(p, q)?;
    let [sample] = result.as_slice() else {
        return Err(format!("{q}: {} samples", result.len()));
    };
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{q}: no value in {sample}"))
}

#[test]
fn prometheus_scrapes_native_histograms_over_protobuf() {
    let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
    let collector = metrics.collector();
    let text = metrics.clone();
    let app = axum::Router::new()
        .route("/metrics", tmc_tower::axum::metrics_route(metrics))
        .route(
            "/metrics/text",
            axum::routing::get(move || {
                let text = text.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, tmc_metrics::CONTENT_TYPE)],
                        text.render(),
                    )
                }
            }),
        );
    let (_rt, target) = super::support::serve(app);

    let request = |ms: u64| {
        collector.record_api_request("GET", "/api/v1/clusters", "200", Duration::from_millis(ms));
    };
    // One request before Prometheus starts, so the series exist at its first scrape.
    request(5);

    let dir = TempDir::new("prometheus-native");
    let deadline = Instant::now() + DEADLINE;
    let mut prom = Prometheus::start(
        dir.path(),
        &config(target),
        &["--enable-feature=native-histograms"],
    );
    let native = r#"tmc_api_request_duration_seconds{job="native"}"#;
    let classic = r#"tmc_api_request_duration_seconds_count{job="classic"}"#;
    // Both jobs have scraped the first request: a native histogram and a classic count.
    prom.poll("the first scrape of both jobs", deadline, |p| {
        let native = value(p, &format!("histogram_count({native})"))?;
        let classic = value(p, classic)?;
        if (native, classic) == (1.0, 1.0) {
            Ok(())
        } else {
            Err(format!("native count {native}, classic count {classic}"))
        }
    });

    // 200 requests of 1 ms to 200 ms: the median is 100 ms, a classic bucket bound.
    for ms in 1..=200 {
        request(ms);
    }
    prom.poll("a scrape of both jobs after the requests", deadline, |p| {
        let native = value(p, &format!("histogram_count({native})"))?;
        let classic = value(p, classic)?;
        if (native, classic) == (201.0, 201.0) {
            Ok(())
        } else {
            Err(format!("native count {native}, classic count {classic}"))
        }
    });

    let rate = prom.poll("histogram_count(rate(...[1m]))", deadline, |p| {
        value(p, &format!("histogram_count(rate({native}[1m]))"))
    });
    assert!(rate > 0.0, "histogram_count(rate) = {rate}");
    // Only a native histogram answers it: the classic job's series are floats.
    let floats = query(
        &prom,
        r#"histogram_count(rate(tmc_api_request_duration_seconds_count{job="classic"}[1m]))"#,
    )
    .unwrap();
    assert_eq!(floats, Vec::<Json>::new());

    let native_median = prom.poll("the native median", deadline, |p| {
        value(p, &format!("histogram_quantile(0.5, rate({native}[1m]))"))
    });
    let classic_median = prom.poll("the classic median", deadline, |p| {
        value(
            p,
            r#"histogram_quantile(0.5, sum by (le) (rate(tmc_api_request_duration_seconds_bucket{job="classic"}[1m])))"#,
        )
    });
    // The classic median sits near its bucket bound, 0.1 (`rate` extrapolates each bucket
    // series on its own, which moves it a little); the native one inside the native bucket
    // holding 100 ms. They agree within one bucket of the schema: a factor 2^(2^-schema).
    assert!(
        classic_median > 0.05 && classic_median <= 0.25,
        "classic median {classic_median}"
    );
    eprintln!("medians: native {native_median}, classic {classic_median}; rate count {rate}");
    let width = NativeHistogram::growth(NativeHistogram::DEFAULT.schema);
    assert!(
        native_median / classic_median <= width && classic_median / native_median <= width,
        "native median {native_median} vs classic {classic_median}: more than a factor {width} apart"
    );
    // At schema 3 the bucket holding 0.1 is (2^(-27/8), 2^(-26/8)].
    assert!(
        native_median > 2f64.powf(-27.0 / 8.0) && native_median <= 2f64.powf(-26.0 / 8.0),
        "native median {native_median}"
    );
}
