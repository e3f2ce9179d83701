//! `ApiMetricsLayer::naming`: OpenTelemetry's HTTP server names, alone and beside the
//! `tmc_api_*` families, read back as the exposition lines a scrape sees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

use axum::body::Body;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use std::convert::Infallible;
use tmc_metrics::Metrics;
use tmc_tower::api::{ApiMetricsLayer, Naming, RouteTable};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

fn metrics() -> Metrics {
    Metrics::builder().upkeep_interval(None).build().unwrap()
}

/// The exposition lines whose series name is `name`, sorted.
fn series(metrics: &Metrics, name: &str) -> Vec<String> {
    let text = metrics.render();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.split(['{', ' ']).next() == Some(name))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn table() -> RouteTable {
    RouteTable::new()
        .with("/users/{id}")
        .unwrap()
        .with("/boom")
        .unwrap()
        .with("/fail")
        .unwrap()
}

/// A service answering by path: `/users/..` 200 with `user`, `/boom` 500, `/fail` an error,
/// anything else 404.
async fn handler(request: Request<Body>) -> Result<Response<Body>, std::io::Error> {
    let path = request.uri().path().to_owned();
    request.into_body().collect().await.unwrap();
    let status = match path.as_str() {
        "/fail" => return Err(std::io::Error::other("backend down")),
        "/boom" => StatusCode::INTERNAL_SERVER_ERROR,
        p if p.starts_with("/users/") => StatusCode::OK,
        _ => StatusCode::NOT_FOUND,
    };
    Ok(Response::builder()
        .status(status)
        .body(Body::from("user"))
        .unwrap())
}

type Svc = tower::util::BoxCloneService<Request<Body>, Response<Body>, std::io::Error>;

/// `handler` under `layer` and its body sizes.
fn service(layer: ApiMetricsLayer) -> Svc {
    let layer = layer.endpoint(table());
    tower::util::BoxCloneService::new(
        ServiceBuilder::new()
            .map_response(|r: Response<_>| r.map(Body::new))
            .layer(layer.clone())
            .layer(layer.body_sizes())
            .map_request(|r: Request<_>| r.map(Body::new))
            .service_fn(handler),
    )
}

/// `handler` under `layer` alone.
fn plain(layer: ApiMetricsLayer) -> Svc {
    tower::util::BoxCloneService::new(
        ServiceBuilder::new()
            .map_response(|r: Response<_>| r.map(Body::new))
            .layer(layer.endpoint(table()))
            .service_fn(handler),
    )
}

fn request(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri)
        .body(Body::empty())
        .unwrap()
}

/// Sends `request` and reads its response body to the end; `Err` for a failed service.
async fn send(svc: &Svc, request: Request<Body>) -> Result<StatusCode, std::io::Error> {
    let response = svc.clone().oneshot(request).await?;
    let status = response.status();
    response.into_body().collect().await.unwrap();
    Ok(status)
}

/// Three 200s, two 404s to an unmatched path, one 500, two handler errors, one unknown method
/// and one HTTP/2 request with an `https` URI.
async fn traffic(svc: &Svc) {
    for id in 1..=3 {
        assert_eq!(
            send(svc, request("GET", &format!("/users/{id}")))
                .await
                .unwrap(),
            200
        );
    }
    for path in ["/nope", "/wp-admin.php"] {
        assert_eq!(send(svc, request("GET", path)).await.unwrap(), 404);
    }
    assert_eq!(send(svc, request("GET", "/boom")).await.unwrap(), 500);
    for _ in 0..2 {
        assert!(send(svc, request("POST", "/fail")).await.is_err());
    }
    assert_eq!(send(svc, request("PURGE", "/users/9")).await.unwrap(), 200);
    let mut h2 = request("GET", "https://example.com/users/4");
    *h2.version_mut() = Version::HTTP_2;
    assert_eq!(send(svc, h2).await.unwrap(), 200);
}

const OTEL_COUNTS: [&str; 6] = [
    r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="404",url_scheme="http",network_protocol_version="1.1"} 2"#,
    r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/boom",http_response_status_code="500",url_scheme="http",network_protocol_version="1.1",error_type="500"} 1"#,
    r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/users/{id}",http_response_status_code="200",url_scheme="http",network_protocol_version="1.1"} 3"#,
    r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/users/{id}",http_response_status_code="200",url_scheme="https",network_protocol_version="2"} 1"#,
    r#"http_server_request_duration_seconds_count{http_request_method="POST",http_route="/fail",url_scheme="http",network_protocol_version="1.1",error_type="_OTHER"} 2"#,
    r#"http_server_request_duration_seconds_count{http_request_method="_OTHER",http_route="/users/{id}",http_response_status_code="200",url_scheme="http",network_protocol_version="1.1"} 1"#,
];

const OTEL_ACTIVE: [&str; 4] = [
    r#"http_server_active_requests{http_request_method="GET",url_scheme="http"} 0"#,
    r#"http_server_active_requests{http_request_method="GET",url_scheme="https"} 0"#,
    r#"http_server_active_requests{http_request_method="POST",url_scheme="http"} 0"#,
    r#"http_server_active_requests{http_request_method="_OTHER",url_scheme="http"} 0"#,
];

const TMC_COUNTS: [&str; 5] = [
    r#"tmc_api_requests_total{method="GET",endpoint="/boom",status_code="500"} 1"#,
    r#"tmc_api_requests_total{method="GET",endpoint="/users/{id}",status_code="200"} 4"#,
    r#"tmc_api_requests_total{method="GET",endpoint="__unmatched__",status_code="404"} 2"#,
    r#"tmc_api_requests_total{method="POST",endpoint="/fail",status_code="error"} 2"#,
    r#"tmc_api_requests_total{method="_OTHER",endpoint="/users/{id}",status_code="200"} 1"#,
];

#[tokio::test]
async fn opentelemetry_naming_should_record_the_semconv_families_and_no_tmc_api_family() {
    let m = metrics();
    let svc = service(ApiMetricsLayer::new(&m).naming(Naming::OpenTelemetry));
    traffic(&svc).await;

    assert_eq!(
        series(&m, "http_server_request_duration_seconds_count"),
        OTEL_COUNTS
    );
    // Every request is in `+Inf`, with the same labels.
    let inf: Vec<String> = OTEL_COUNTS
        .iter()
        .map(|l| {
            l.replace("_count{", "_bucket{")
                .replace("} ", ",le=\"+Inf\"} ")
        })
        .collect();
    let mut buckets = series(&m, "http_server_request_duration_seconds_bucket");
    buckets.retain(|l| l.contains("le=\"+Inf\""));
    assert_eq!(buckets, inf);
    assert_eq!(series(&m, "http_server_active_requests"), OTEL_ACTIVE);

    // The semantic conventions' buckets, on every series.
    let text = m.render();
    let les: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(r#"http_server_request_duration_seconds_bucket{http_request_method="GET",http_route="/boom""#))
        .map(|l| l.split("le=\"").nth(1).unwrap().split('"').next().unwrap())
        .collect();
    assert_eq!(
        les,
        [
            "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5",
            "5", "7.5", "10", "+Inf"
        ]
    );
    assert!(text.contains(
        "# HELP http_server_request_duration_seconds Duration of HTTP server requests in seconds (OpenTelemetry http.server.request.duration)"
    ));
    assert!(text.contains("# TYPE http_server_active_requests gauge"));

    // Body sizes under the semconv names, by method and route: four bytes per answer.
    assert_eq!(
        series(&m, "http_server_response_body_size_bytes_sum"),
        [
            r#"http_server_response_body_size_bytes_sum{http_request_method="GET",http_route="/boom"} 4"#,
            r#"http_server_response_body_size_bytes_sum{http_request_method="GET",http_route="/users/{id}"} 16"#,
            r#"http_server_response_body_size_bytes_sum{http_request_method="GET"} 8"#,
            // A failed service sent no body: the series exists, empty.
            r#"http_server_response_body_size_bytes_sum{http_request_method="POST",http_route="/fail"} 0"#,
            r#"http_server_response_body_size_bytes_sum{http_request_method="_OTHER",http_route="/users/{id}"} 4"#,
        ]
    );
    assert_eq!(
        series(&m, "http_server_request_body_size_bytes_count"),
        [
            r#"http_server_request_body_size_bytes_count{http_request_method="GET",http_route="/boom"} 1"#,
            r#"http_server_request_body_size_bytes_count{http_request_method="GET",http_route="/users/{id}"} 4"#,
            r#"http_server_request_body_size_bytes_count{http_request_method="GET"} 2"#,
            r#"http_server_request_body_size_bytes_count{http_request_method="POST",http_route="/fail"} 2"#,
            r#"http_server_request_body_size_bytes_count{http_request_method="_OTHER",http_route="/users/{id}"} 1"#,
        ]
    );

    for family in ["tmc_api_requests_total", "tmc_api_requests_in_flight"] {
        assert!(
            !text.contains(&format!("{family}{{")),
            "{family} in\n{text}"
        );
    }
    assert!(!text.contains("tmc_api_request_duration_seconds_count{"));
    assert!(!text.contains("tmc_api_response_body_size_bytes_count{"));
}

#[tokio::test]
async fn both_namings_should_leave_the_tmc_api_lines_exactly_as_the_default_writes_them() {
    let default = metrics();
    traffic(&service(ApiMetricsLayer::new(&default))).await;
    let both = metrics();
    traffic(&service(ApiMetricsLayer::new(&both).naming(Naming::Both))).await;

    assert_eq!(series(&default, "tmc_api_requests_total"), TMC_COUNTS);
    assert_eq!(series(&both, "tmc_api_requests_total"), TMC_COUNTS);
    for name in [
        "tmc_api_request_duration_seconds_count",
        "tmc_api_requests_in_flight",
        "tmc_api_request_body_size_bytes_count",
        "tmc_api_response_body_size_bytes_sum",
    ] {
        let lines = series(&default, name);
        assert!(!lines.is_empty(), "{name}");
        assert_eq!(series(&both, name), lines, "{name}");
    }
    // The default records no semconv family; both records them as OpenTelemetry alone does.
    assert!(!default.render().contains("http_server_"));
    assert_eq!(
        series(&both, "http_server_request_duration_seconds_count"),
        OTEL_COUNTS
    );
    assert_eq!(series(&both, "http_server_active_requests"), OTEL_ACTIVE);
    assert_eq!(
        series(&both, "http_server_response_body_size_bytes_sum"),
        series(&default, "tmc_api_response_body_size_bytes_sum")
            .iter()
            .map(|l| l
                .replace("tmc_api_response", "http_server_response")
                .replace("method=", "http_request_method=")
                .replace("endpoint=", "http_route=")
                .replace(r#",http_route="__unmatched__""#, ""))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn active_requests_should_count_a_request_until_it_ends_and_a_dropped_one_as_cancelled() {
    let m = metrics();
    let layer = ApiMetricsLayer::new(&m)
        .naming(Naming::OpenTelemetry)
        .url_scheme_https(true)
        .endpoint(table());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rx = std::sync::Mutex::new(Some(rx));
    let mut svc = layer.layer(tower::service_fn(move |_: Request<Body>| {
        let rx = rx.lock().unwrap().take();
        async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }
    }));
    let active = r#"http_server_active_requests{http_request_method="DELETE",url_scheme="https"}"#;
    let waiting = svc
        .ready()
        .await
        .unwrap()
        .call(request("DELETE", "/users/1"));
    assert_eq!(
        series(&m, "http_server_active_requests"),
        [format!("{active} 1")]
    );
    drop(waiting);
    drop(tx);
    assert_eq!(
        series(&m, "http_server_active_requests"),
        [format!("{active} 0")]
    );
    svc.ready()
        .await
        .unwrap()
        .call(request("DELETE", "/users/2"))
        .await
        .unwrap();
    assert_eq!(
        series(&m, "http_server_request_duration_seconds_count"),
        [
            r#"http_server_request_duration_seconds_count{http_request_method="DELETE",http_route="/users/{id}",http_response_status_code="200",url_scheme="https",network_protocol_version="1.1"} 1"#,
            r#"http_server_request_duration_seconds_count{http_request_method="DELETE",http_route="/users/{id}",url_scheme="https",network_protocol_version="1.1",error_type="cancelled"} 1"#,
        ]
    );
}

#[tokio::test]
async fn the_route_cap_should_fold_semconv_routes_into_overflow_and_count_the_fold() {
    let m = metrics();
    let svc = plain(
        ApiMetricsLayer::new(&m)
            .naming(Naming::OpenTelemetry)
            .max_endpoints(1),
    );
    send(&svc, request("GET", "/users/1")).await.unwrap();
    send(&svc, request("GET", "/boom")).await.unwrap();
    assert_eq!(
        series(&m, "http_server_request_duration_seconds_count"),
        [
            r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/users/{id}",http_response_status_code="200",url_scheme="http",network_protocol_version="1.1"} 1"#,
            r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="__overflow__",http_response_status_code="500",url_scheme="http",network_protocol_version="1.1",error_type="500"} 1"#,
        ]
    );
    assert_eq!(
        series(&m, "tmc_metrics_series_folded_total"),
        [r#"tmc_metrics_series_folded_total{metric="http_server_request_duration_seconds"} 1"#]
    );
}

#[tokio::test]
async fn the_fold_counter_should_name_only_the_family_the_layer_records() {
    // Each builder call makes a new configuration; only the one a service is built with
    // registers its fold counter, at 0 before any fold.
    for (naming, family) in [
        (
            Naming::OpenTelemetry,
            "http_server_request_duration_seconds",
        ),
        (Naming::Tmc, "tmc_api_requests_total"),
        (Naming::Both, "tmc_api_requests_total"),
    ] {
        let m = metrics();
        let layer = ApiMetricsLayer::new(&m).naming(naming).max_endpoints(5);
        assert_eq!(
            series(&m, "tmc_metrics_series_folded_total"),
            Vec::<String>::new()
        );
        let svc = plain(layer);
        assert_eq!(
            series(&m, "tmc_metrics_series_folded_total"),
            [format!(
                r#"tmc_metrics_series_folded_total{{metric="{family}"}} 0"#
            )],
            "{naming:?}"
        );
        send(&svc, request("GET", "/users/1")).await.unwrap();
        assert_eq!(
            series(&m, "tmc_metrics_series_folded_total"),
            [format!(
                r#"tmc_metrics_series_folded_total{{metric="{family}"}} 0"#
            )],
            "{naming:?}"
        );
    }
}
