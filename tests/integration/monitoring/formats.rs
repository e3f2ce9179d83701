//! A real Prometheus scrapes one registry twice, once in OpenMetrics and once in the text
//! format, and stores the same samples from both.
//!
//! Prometheus prefers OpenMetrics in its `Accept` header, so the `om` job gets OpenMetrics;
//! the `text` job's requests have their `Accept` header replaced by a text-only one, as a
//! scraper that knows only the text format sends. The content type each job was served is
//! checked, so the comparison is really between the two formats.

use super::server::{DEADLINE, Prometheus, again};
use super::support::{TempDir, tool};
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tmc_metrics::{DataMoverStatus, HealthStatus, Metrics, Outcome};
use tmc_test_support::http::encode_query as percent_encode;

/// Every sample of `job` but Prometheus's own (`up`, `scrape_*`): labels (without `job`
/// and `instance`, with `__name__`) -> value.
fn samples(prom: &Prometheus, job: &str) -> Result<BTreeMap<String, String>, String> {
    let query = format!("{{job=\"{job}\"}}");
    let data = prom.api(&format!("/api/v1/query?query={}", percent_encode(&query)))?;
    let mut out = BTreeMap::new();
    for sample in data["result"].as_array().ok_or("no result")? {
        let Json::Object(labels) = &sample["metric"] else {
            return Err(format!("no labels in {sample}"));
        };
        let name = labels["__name__"].as_str().unwrap_or_default();
        if name == "up" || name.starts_with("scrape_") {
            continue;
        }
        let key: Vec<String> = labels
            .iter()
            .filter(|(k, _)| *k != "job" && *k != "instance")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let value = sample["value"][1].as_str().ok_or("no value")?.to_owned();
        out.insert(key.join(","), value);
    }
    Ok(out)
}

#[test]
fn prometheus_stores_the_same_samples_from_openmetrics_and_text_scrapes() {
    tool("prometheus", "prometheus");
    let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
    let c = metrics.collector();
    c.datamover_phase_started("CreatingPod", "default");
    c.datamover_phase_finished(
        "CreatingPod",
        "default",
        Outcome::Success,
        Duration::from_secs(42),
    );
    c.datamover_pod_creation("default", DataMoverStatus::Started);
    c.datamover_transferred("default", 1_048_576, 3);
    c.record_component_health(
        "syncer",
        "quote \" backslash \\ newline \n ☃",
        "prod",
        HealthStatus::Degraded,
    );
    c.record_sync_duration(
        "prod",
        "apps/v1/Deployment",
        "sync",
        Duration::from_millis(1500),
    );
    metrics
        .custom()
        .register_histogram("myapp_job_seconds", "Job time.", &["queue"], &[0.5, 5.0])
        .unwrap()
        .histogram(&["a"])
        .unwrap()
        .record(2.0);
    let lines = metrics
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();

    // The endpoint: `/om` as Prometheus asks, `/text` as a text-only scraper asks.
    let served: Arc<Mutex<BTreeSet<(String, String)>>> = Arc::default();
    let seen = served.clone();
    let app = axum::Router::new()
        .route("/om", tmc_tower::axum::metrics_route(metrics.clone()))
        .route(
            "/text",
            tmc_tower::axum::metrics_route(metrics).layer(axum::middleware::map_request(
                |mut request: Request| async move {
                    request
                        .headers_mut()
                        .insert(ACCEPT, HeaderValue::from_static("text/plain;version=0.0.4"));
                    request
                },
            )),
        )
        .layer(axum::middleware::from_fn(
            move |request: Request, next: axum::middleware::Next| {
                let seen = seen.clone();
                async move {
                    let path = request.uri().path().to_owned();
                    let response = next.run(request).await;
                    let content_type = response
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    seen.lock().unwrap().insert((path, content_type));
                    response
                }
            },
        ));
    let (_rt, target) = super::support::serve(app);

    let dir = TempDir::new("prometheus-formats");
    let job = |name: &str| {
        format!(
            "- job_name: {name}\n  metrics_path: /{name}\n  static_configs:\n  - targets: ['{target}']\n"
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
        job("om"),
        job("text")
    );
    let mut prom = Prometheus::start(&dir, &config, &[]);
    let started = Instant::now();
    let (om, text) = prom.poll("both jobs scraped", started + DEADLINE, |p| {
        let om = samples(p, "om").map_err(again)?;
        let text = samples(p, "text").map_err(again)?;
        if om.len() == lines && text.len() == lines {
            Ok((om, text))
        } else {
            Err(again(format!(
                "{} and {} samples of {lines}",
                om.len(),
                text.len()
            )))
        }
    });
    assert_eq!(om, text);
    let count = r#"__name__="datamover_phase_duration_seconds_count",namespace="default",phase="CreatingPod""#;
    assert_eq!(om.get(count).map(String::as_str), Some("1"));
    assert!(
        om.keys()
            .any(|k| k.contains(r#"component_id="quote \" backslash \\ newline \n ☃""#)),
        "the hostile label value survives: {om:#?}"
    );
    let served = served.lock().unwrap().clone();
    assert_eq!(
        served,
        BTreeSet::from([
            (
                "/om".to_owned(),
                tmc_metrics::OPENMETRICS_CONTENT_TYPE.to_owned()
            ),
            ("/text".to_owned(), tmc_metrics::CONTENT_TYPE.to_owned()),
        ]),
        "each job was served its own format"
    );
}
