//! Plain HTTP: the exposition in the format the client asks for (text, OpenMetrics,
//! protobuf), the probes and summary, the configured path, reporter values.

use crate::helpers::*;
use axum::body::Body;
use http::{Request, StatusCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tmc_metrics::HealthStatus;
use tmc_server::health::HealthMonitor;
use tmc_server::{MetricsConfig, MetricsReporter, MetricsServer};
use tokio::net::TcpStream;
use tower::ServiceExt;

#[tokio::test]
async fn metrics_server_should_serve_exposition_probes_and_summary() {
    let metrics = metrics();
    let health = HealthMonitor::builder().metrics(&metrics).build();
    let syncer = health.register(
        "SyncTargetController",
        "syncer-prod-cluster",
        "prod-cluster",
    );
    syncer.report(HealthStatus::Healthy);
    let synced = Arc::new(AtomicBool::new(true));
    health.readiness_flag("controller caches synced", synced.clone());
    let server = MetricsServer::new(&MetricsConfig::default(), metrics, health).unwrap();
    // An address of its own: the other tests of this binary run in parallel on 127.0.0.1, and
    // one of them could be handed this port once it is freed, which would make the check after
    // shutdown below connect to that test's server.
    let running = Running::start_on(server, "127.0.0.87").await;
    let addr = running.addr;

    let reply = get(addr, "/metrics", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some(tmc_metrics::CONTENT_TYPE)
    );
    assert!(reply.body.contains(
        "tmc_component_health{component_type=\"SyncTargetController\",component_id=\"syncer-prod-cluster\",cluster=\"prod-cluster\"} 1\n"
    ));

    let reply = get(addr, "/healthz", None).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));
    let reply = get(addr, "/readyz", None).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));

    let reply = get(addr, "/metrics/summary", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let summary: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({
            "overall_health": {
                "status": "Healthy",
                "message": "All 1 component healthy",
                "details": {"totalComponents": 1, "healthyComponents": 1, "degradedComponents": 0, "unhealthyComponents": 0}
            },
            "health_metrics": {"totalChecks": 1, "healthyChecks": 1, "degradedChecks": 0, "unhealthyChecks": 0, "errorChecks": 0},
            "timestamp": summary["timestamp"].as_u64().unwrap(),
            "collection_active": false
        })
    );

    // Not ready: an unhealthy component and a gate not passed, each on a line.
    syncer.report(HealthStatus::Unhealthy);
    synced.store(false, Ordering::Release);
    let reply = get(addr, "/readyz", None).await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.body,
        "not ready: overall health Unhealthy: 1 of 1 component unhealthy: SyncTargetController/syncer-prod-cluster\n\
         not ready: controller caches synced: not yet\n"
    );
    let reply = get(addr, "/healthz", None).await;
    assert_eq!(reply.status, 200, "liveness does not depend on health");

    assert_eq!(get(addr, "/nope", None).await.status, 404);
    running.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn metrics_server_should_serve_openmetrics_or_text_as_the_accept_header_asks() {
    let metrics = metrics();
    metrics
        .collector()
        .datamover_cleanup("default", tmc_metrics::Outcome::Success);
    let health = HealthMonitor::builder().metrics(&metrics).build();
    let server = MetricsServer::new(&MetricsConfig::default(), metrics.clone(), health).unwrap();
    let router = server.router();
    let scrape = |accept: Option<&'static str>| {
        let router = router.clone();
        async move {
            let mut request = Request::get("/metrics");
            if let Some(accept) = accept {
                request = request.header("accept", accept);
            }
            let response = router
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (content_type, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    // What Prometheus sends.
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                      version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (content_type, body) = scrape(Some(prometheus)).await;
    assert_eq!(content_type, tmc_metrics::OPENMETRICS_CONTENT_TYPE);
    assert_eq!(
        body,
        metrics.render_as(tmc_metrics::TextFormat::OpenMetrics)
    );
    assert!(body.contains("# TYPE datamover_cleanup_operations counter\n"));
    assert!(body.ends_with("# EOF\n"));
    for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
        let (content_type, body) = scrape(accept).await;
        assert_eq!(content_type, tmc_metrics::CONTENT_TYPE, "{accept:?}");
        assert_eq!(body, metrics.render(), "{accept:?}");
    }
}

#[tokio::test]
async fn metrics_server_should_serve_protobuf_when_prometheus_asks_for_native_histograms() {
    let metrics = metrics();
    metrics.collector().record_api_request(
        "GET",
        "/api/v1/clusters",
        "200",
        std::time::Duration::from_millis(250),
    );
    let health = HealthMonitor::builder().metrics(&metrics).build();
    let server = MetricsServer::new(&MetricsConfig::default(), metrics.clone(), health).unwrap();
    // What Prometheus sends with `--enable-feature=native-histograms`.
    let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                  encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
                  application/openmetrics-text;version=0.0.1;q=0.75,\
                  text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let response = server
        .router()
        .oneshot(
            Request::get("/metrics")
                .header("accept", native)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        tmc_metrics::PROTOBUF_CONTENT_TYPE
    );
    assert_eq!(response.headers()["vary"], "Accept");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        body.as_ref(),
        metrics
            .render_bytes(tmc_metrics::Format::Protobuf)
            .as_slice()
    );
    // The native histogram's schema (field 5, sint32 3 -> 6) follows the classic buckets.
    assert!(body.windows(2).any(|w| w == [0x28, 0x06]));
}

#[tokio::test]
async fn metrics_server_should_serve_the_configured_path_and_leave_out_a_disabled_exposition() {
    let config = MetricsConfig {
        path: "/custom/metrics".into(),
        ..MetricsConfig::default()
    };
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    let running = Running::start(server).await;
    assert_eq!(get(running.addr, "/custom/metrics", None).await.status, 200);
    assert_eq!(get(running.addr, "/metrics", None).await.status, 404);
    assert_eq!(
        get(running.addr, "/metrics/summary", None).await.status,
        200
    );
    running.shutdown().await;

    let config = MetricsConfig {
        prometheus_enabled: false,
        ..MetricsConfig::default()
    };
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    let running = Running::start(server).await;
    assert_eq!(get(running.addr, "/metrics", None).await.status, 404);
    assert_eq!(
        get(running.addr, "/metrics/summary", None).await.status,
        200
    );
    assert_eq!(get(running.addr, "/healthz", None).await.status, 200);
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn metrics_server_should_show_reporter_values_after_one_interval() {
    let metrics = metrics();
    let health = HealthMonitor::new();
    health.register_check("placement", "p-1", "prod", || async {
        HealthStatus::Degraded
    });
    let reporter = MetricsReporter::new(&metrics, health.clone(), Duration::from_secs(30)).unwrap();
    let app = MetricsServer::new(&MetricsConfig::default(), metrics, health)
        .unwrap()
        .with_reporter(&reporter)
        .router();
    let scrape = |path: &'static str| {
        let app = app.clone();
        async move {
            let response = app
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        }
    };
    let uptime = r#"tmc_component_uptime_seconds{component_type="placement",component_id="p-1",cluster="prod"}"#;
    assert!(!scrape("/metrics").await.contains(uptime));

    let mut collection = reporter.start();
    // The first collection runs at once; let it finish, then let one interval pass.
    tokio::time::sleep(Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let text = scrape("/metrics").await;
    assert!(text.contains(&format!("{uptime} 30\n")), "{text}");
    assert!(text.contains(
        "tmc_component_health{component_type=\"placement\",component_id=\"p-1\",cluster=\"prod\"} 0.5\n"
    ));
    assert!(text.lines().any(|l| l.starts_with("tmc_runtime_tasks ")));
    assert!(text.contains("# HELP tmc_runtime_tasks"));
    let summary: serde_json::Value =
        serde_json::from_str(&scrape("/metrics/summary").await).unwrap();
    assert_eq!(summary["collection_active"], true);
    assert_eq!(
        summary["health_metrics"]["degradedChecks"], 2,
        "at start and after one interval"
    );

    collection.stop().await;
    let summary: serde_json::Value =
        serde_json::from_str(&scrape("/metrics/summary").await).unwrap();
    assert_eq!(summary["collection_active"], false);
}
