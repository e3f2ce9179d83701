//! The layers, driven as users drive them: an axum router, a plain tower service, a mock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tmc_metrics::{ErrorKind, Metrics, TmcError};
use tmc_tower::api::ApiMetricsLayer;
use tmc_tower::operation::OperationLayer;
use tower::{Layer, Service, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;

fn metrics() -> Metrics {
    Metrics::builder().upkeep_interval(None).build().unwrap()
}

/// The exposition lines of one family's series, sorted.
fn series(metrics: &Metrics, family: &str) -> Vec<String> {
    let text = metrics.render();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.split(['{', ' ']).next() == Some(family))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

async fn send(app: &Router, method: Method, uri: &str) -> StatusCode {
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

fn app(metrics: &Metrics) -> Router {
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

#[tokio::test]
async fn api_layer_should_label_by_route_template_for_templated_nested_unmatched_and_excluded_routes()
 {
    let m = metrics();
    let app = app(&m);
    for id in 0..3 {
        assert_eq!(
            send(&app, Method::GET, &format!("/users/{id}")).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        send(&app, Method::GET, "/api/v1/placements/a").await,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, Method::GET, "/api/v1/placements/b").await,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, Method::DELETE, "/api/v1/placements/b").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, Method::GET, "/api/v1/placements").await,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, Method::GET, "/nope").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, Method::POST, "/users/1").await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        send(&app, Method::from_bytes(b"PURGE").unwrap(), "/users/1").await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(send(&app, Method::GET, "/healthz").await, StatusCode::OK);
    assert_eq!(send(&app, Method::GET, "/metrics").await, StatusCode::OK);

    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [
            r#"tmc_api_requests_total{method="DELETE",endpoint="/api/v1/placements/{id}",status_code="204"} 1"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/api/v1/placements",status_code="200"} 1"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/api/v1/placements/{id}",status_code="200"} 2"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/users/{id}",status_code="200"} 3"#,
            r#"tmc_api_requests_total{method="GET",endpoint="__unmatched__",status_code="404"} 1"#,
            r#"tmc_api_requests_total{method="POST",endpoint="/users/{id}",status_code="405"} 1"#,
            r#"tmc_api_requests_total{method="_OTHER",endpoint="/users/{id}",status_code="405"} 1"#,
        ]
    );
    assert_eq!(
        series(&m, "tmc_api_request_duration_seconds_count"),
        [
            r#"tmc_api_request_duration_seconds_count{method="DELETE",endpoint="/api/v1/placements/{id}",status_code="204"} 1"#,
            r#"tmc_api_request_duration_seconds_count{method="GET",endpoint="/api/v1/placements",status_code="200"} 1"#,
            r#"tmc_api_request_duration_seconds_count{method="GET",endpoint="/api/v1/placements/{id}",status_code="200"} 2"#,
            r#"tmc_api_request_duration_seconds_count{method="GET",endpoint="/users/{id}",status_code="200"} 3"#,
            r#"tmc_api_request_duration_seconds_count{method="GET",endpoint="__unmatched__",status_code="404"} 1"#,
            r#"tmc_api_request_duration_seconds_count{method="POST",endpoint="/users/{id}",status_code="405"} 1"#,
            r#"tmc_api_request_duration_seconds_count{method="_OTHER",endpoint="/users/{id}",status_code="405"} 1"#,
        ]
    );
    // Every request has finished: nothing is left in flight.
    for line in series(&m, "tmc_api_requests_in_flight") {
        assert!(line.ends_with(" 0"), "{line}");
    }
    let text = m.render();
    assert!(text.contains("# TYPE tmc_api_request_duration_seconds histogram"));
    assert!(text.contains(
        r#"tmc_api_request_duration_seconds_bucket{method="GET",endpoint="/users/{id}",status_code="200",le="+Inf"} 3"#
    ));
    assert!(!text.contains("/healthz") && !text.contains(r#"endpoint="/metrics""#));
}

/// A body that yields what the test sends, and ends when the sender is dropped.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// A router whose `/stream` route answers once with a body fed by `rx`.
fn streaming(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Router {
    let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
    Router::new().route(
        "/stream",
        get(move || {
            let rx = rx.lock().unwrap().take().unwrap();
            async move { Body::new(ChannelBody(rx)) }
        }),
    )
}

#[tokio::test]
async fn api_layer_should_end_the_measurement_when_a_streamed_body_ends() {
    let m = metrics();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let app = streaming(rx).layer(ApiMetricsLayer::new(&m));

    let response = app
        .oneshot(Request::get("/stream").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    tx.send(Bytes::from_static(b"first")).await.unwrap();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "first"
    );
    // Head sent, body still streaming: in flight, not yet counted.
    assert_eq!(
        series(&m, "tmc_api_requests_in_flight"),
        [r#"tmc_api_requests_in_flight{method="GET",endpoint="/stream"} 1"#]
    );
    assert!(series(&m, "tmc_api_requests_total").is_empty());

    drop(tx);
    assert!(body.frame().await.is_none());
    assert_eq!(
        series(&m, "tmc_api_requests_in_flight"),
        [r#"tmc_api_requests_in_flight{method="GET",endpoint="/stream"} 0"#]
    );
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [r#"tmc_api_requests_total{method="GET",endpoint="/stream",status_code="200"} 1"#]
    );
}

#[tokio::test]
async fn api_layer_with_record_at_head_should_count_before_the_body_ends() {
    let m = metrics();
    let (_tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let app = streaming(rx).layer(ApiMetricsLayer::new(&m).record_at_head(true));
    let response = app
        .oneshot(Request::get("/stream").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [r#"tmc_api_requests_total{method="GET",endpoint="/stream",status_code="200"} 1"#]
    );
    assert_eq!(
        series(&m, "tmc_api_requests_in_flight"),
        [r#"tmc_api_requests_in_flight{method="GET",endpoint="/stream"} 0"#]
    );
    drop(response);
}

#[tokio::test]
async fn api_layer_should_count_a_dropped_body_as_cancelled() {
    let m = metrics();
    let (_tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let app = streaming(rx).layer(ApiMetricsLayer::new(&m));
    let response = app
        .oneshot(Request::get("/stream").body(Body::empty()).unwrap())
        .await
        .unwrap();
    drop(response); // the client went away mid-body
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [r#"tmc_api_requests_total{method="GET",endpoint="/stream",status_code="cancelled"} 1"#]
    );
    assert_eq!(
        series(&m, "tmc_api_requests_in_flight"),
        [r#"tmc_api_requests_in_flight{method="GET",endpoint="/stream"} 0"#]
    );
}

#[tokio::test(start_paused = true)]
async fn api_layer_should_count_a_dropped_request_future_as_cancelled() {
    let m = metrics();
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        )
        .layer(ApiMetricsLayer::new(&m));
    let timed_out = tokio::time::timeout(
        Duration::from_secs(30),
        app.oneshot(Request::get("/slow").body(Body::empty()).unwrap()),
    )
    .await;
    assert!(timed_out.is_err());
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [r#"tmc_api_requests_total{method="GET",endpoint="/slow",status_code="cancelled"} 1"#]
    );
    assert_eq!(
        series(&m, "tmc_api_requests_in_flight"),
        [r#"tmc_api_requests_in_flight{method="GET",endpoint="/slow"} 0"#]
    );
}

#[tokio::test]
async fn api_layer_outside_catch_panic_should_count_a_panicking_handler_as_500() {
    let m = metrics();
    let app = Router::new()
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .layer(CatchPanicLayer::new())
        .layer(ApiMetricsLayer::new(&m));
    assert_eq!(
        send(&app, Method::GET, "/panic").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [r#"tmc_api_requests_total{method="GET",endpoint="/panic",status_code="500"} 1"#]
    );
}

#[tokio::test]
async fn api_layer_should_not_grow_series_under_20000_distinct_unmatched_paths() {
    let m = metrics();
    let app = app(&m);
    for i in 0..10 {
        send(&app, Method::GET, &format!("/nope/{i}")).await;
    }
    let before = m.render().lines().count();
    for i in 0..20_000 {
        send(&app, Method::GET, &format!("/nope/{i}/{}", i * 7919)).await;
    }
    let text = m.render();
    assert_eq!(text.lines().count(), before);
    assert!(text.contains(
        r#"tmc_api_requests_total{method="GET",endpoint="__unmatched__",status_code="404"} 20010"#
    ));
    assert!(!text.contains("/nope/"));
}

#[tokio::test]
async fn api_layer_should_fold_templates_past_its_cap_and_group_on_request() {
    let m = metrics();
    let resolve = |req: &Request<Body>| -> Option<&'static str> {
        match req.uri().path() {
            "/a" => Some("/a"),
            "/b" => Some("/b"),
            "/c" => Some("/c"),
            p if p.starts_with("/static/") => Some("/static/{*file}"),
            _ => None,
        }
    };
    let svc = tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(http::Response::new(Body::from("x")))
    });
    let layer = ApiMetricsLayer::new(&m)
        .endpoint(resolve)
        .max_endpoints(2)
        .group("/static/{*file}", "/static");
    let mut svc = tower::ServiceBuilder::new().layer(layer).service(svc);
    for path in ["/a", "/b", "/c", "/c", "/static/x.css", "/zzz"] {
        let response = svc
            .ready()
            .await
            .unwrap()
            .call(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [
            r#"tmc_api_requests_total{method="GET",endpoint="/a",status_code="200"} 1"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/b",status_code="200"} 1"#,
            r#"tmc_api_requests_total{method="GET",endpoint="__overflow__",status_code="200"} 3"#,
            r#"tmc_api_requests_total{method="GET",endpoint="__unmatched__",status_code="200"} 1"#,
        ]
    );
    assert_eq!(
        series(&m, "tmc_metrics_series_folded_total"),
        [r#"tmc_metrics_series_folded_total{metric="tmc_api_requests_total"} 3"#,]
    );

    let m = metrics();
    let layer = ApiMetricsLayer::new(&m)
        .endpoint(resolve)
        .group("/static/{*file}", "/static");
    let mut svc = tower::ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(http::Response::new(Body::empty()))
        }));
    for path in ["/static/a.css", "/static/b.js"] {
        svc.ready()
            .await
            .unwrap()
            .call(Request::head(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
    }
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [r#"tmc_api_requests_total{method="HEAD",endpoint="/static",status_code="200"} 2"#,]
    );
}

#[tokio::test]
async fn api_layer_should_count_a_service_error_with_the_error_status() {
    let m = metrics();
    let svc = tower::service_fn(|_req: Request<Body>| async {
        Err::<http::Response<Body>, _>(std::io::Error::other("backend down"))
    });
    let mut svc = tower::ServiceBuilder::new()
        .layer(ApiMetricsLayer::new(&m).endpoint(|_: &Request<Body>| Some("/rpc")))
        .service(svc);
    assert!(
        svc.ready()
            .await
            .unwrap()
            .call(Request::post("/rpc").body(Body::empty()).unwrap())
            .await
            .is_err()
    );
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [r#"tmc_api_requests_total{method="POST",endpoint="/rpc",status_code="error"} 1"#]
    );
}

// ---------------------------------------------------------------------------------------------
// Operation layer

#[tokio::test]
async fn operation_layer_should_record_success_error_kinds_and_cancellation_on_a_mock_service() {
    let m = metrics();
    let layer = OperationLayer::new(m.collector(), "client", "apiserver", "get-pod");
    let (mut svc, mut handle) =
        tower_test::mock::spawn_layer::<&'static str, &'static str, _>(layer);

    assert!(svc.poll_ready().is_ready());
    let call = svc.call("pod-a");
    let (request, respond) = handle.next_request().await.unwrap();
    assert_eq!(request, "pod-a");
    respond.send_response("ok");
    assert_eq!(call.await.unwrap(), "ok");

    for err in [
        TmcError::from_http_status(404, "client", "get-pod", "not found"),
        TmcError::from_http_status(429, "client", "get-pod", "slow down"),
    ] {
        assert!(svc.poll_ready().is_ready());
        let call = svc.call("pod-b");
        let (_, respond) = handle.next_request().await.unwrap();
        respond.send_error(err);
        assert!(call.await.is_err());
    }
    assert!(svc.poll_ready().is_ready());
    let call = svc.call("pod-c");
    let (_, respond) = handle.next_request().await.unwrap();
    respond.send_error(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    assert!(call.await.is_err());

    // Cancelled: the caller gives up before the service answers.
    assert!(svc.poll_ready().is_ready());
    drop(svc.call("pod-d"));

    let l = r#"component_type="client",component_id="apiserver""#;
    assert_eq!(
        series(&m, "tmc_component_operations_total"),
        [
            format!(
                r#"tmc_component_operations_total{{{l},operation="get-pod",status="cancelled"}} 1"#
            ),
            format!(
                r#"tmc_component_operations_total{{{l},operation="get-pod",status="error"}} 3"#
            ),
            format!(
                r#"tmc_component_operations_total{{{l},operation="get-pod",status="success"}} 1"#
            ),
        ]
    );
    assert_eq!(
        series(&m, "tmc_component_errors_total"),
        [
            format!(
                r#"tmc_component_errors_total{{{l},error_type="ClusterUnreachable",severity="High"}} 1"#
            ),
            format!(
                r#"tmc_component_errors_total{{{l},error_type="RateLimited",severity="Medium"}} 1"#
            ),
            format!(
                r#"tmc_component_errors_total{{{l},error_type="ResourceNotFound",severity="Low"}} 1"#
            ),
        ]
    );
    assert_eq!(
        series(&m, "tmc_component_operation_duration_seconds_count"),
        [format!(
            r#"tmc_component_operation_duration_seconds_count{{{l},operation="get-pod"}} 5"#
        ),]
    );
}

#[tokio::test]
async fn operation_layer_should_name_operations_per_request_and_accept_a_classifier() {
    let m = metrics();
    let layer = OperationLayer::per_request(
        m.collector(),
        "client",
        "apiserver",
        |req: &(&'static str, u16)| req.0,
    )
    .classify(|r: &Result<u16, Infallible>| match r {
        Ok(status) if *status >= 500 => Err(ErrorKind::from_http_status(*status).unwrap().into()),
        _ => Ok(()),
    });
    let svc = tower::ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(|req: (&'static str, u16)| async move {
            Ok::<_, Infallible>(req.1)
        }));
    for req in [("list-pods", 200), ("list-pods", 503), ("watch-pods", 200)] {
        svc.clone().oneshot(req).await.unwrap();
    }
    let l = r#"component_type="client",component_id="apiserver""#;
    assert_eq!(
        series(&m, "tmc_component_operations_total"),
        [
            format!(
                r#"tmc_component_operations_total{{{l},operation="list-pods",status="cancelled"}} 0"#
            ),
            format!(
                r#"tmc_component_operations_total{{{l},operation="list-pods",status="error"}} 1"#
            ),
            format!(
                r#"tmc_component_operations_total{{{l},operation="list-pods",status="success"}} 1"#
            ),
            format!(
                r#"tmc_component_operations_total{{{l},operation="watch-pods",status="cancelled"}} 0"#
            ),
            format!(
                r#"tmc_component_operations_total{{{l},operation="watch-pods",status="error"}} 0"#
            ),
            format!(
                r#"tmc_component_operations_total{{{l},operation="watch-pods",status="success"}} 1"#
            ),
        ]
    );
    assert_eq!(
        series(&m, "tmc_component_errors_total"),
        [format!(
            r#"tmc_component_errors_total{{{l},error_type="Unavailable",severity="High"}} 1"#
        ),]
    );
}

#[tokio::test]
async fn every_layer_should_take_the_same_handle_and_per_request_names_may_be_closures_returning_strings()
 {
    let m = metrics();
    let component = String::from("client");
    // A closure capturing its environment and returning owned names.
    let layer = OperationLayer::per_request(&m, &component, "apiserver", {
        let prefix = String::from("kube-");
        move |verb: &String| format!("{prefix}{verb}")
    });
    let svc = tower::ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(|verb: String| async move {
            Ok::<_, TmcError>(verb.len())
        }));
    for verb in ["get", "get", "list"] {
        svc.clone().oneshot(verb.to_owned()).await.unwrap();
    }
    // The same handle, three ways: &Metrics, Metrics, &MetricsCollector.
    let by_ref = OperationLayer::<()>::new(&m, "c", "i", "by-ref");
    let by_value = OperationLayer::<()>::new(m.clone(), "c", "i", "by-value");
    let collector = m.collector();
    let by_collector = OperationLayer::<()>::new(&collector, "c", "i", "by-collector");
    drop(collector);
    for layer in [by_ref, by_value, by_collector] {
        let svc = layer.layer(tower::service_fn(|()| async { Ok::<_, TmcError>(()) }));
        svc.oneshot(()).await.unwrap();
    }
    let app = Router::new()
        .route("/a", get(|| async { "a" }))
        .layer(ApiMetricsLayer::new(m.clone()));
    assert_eq!(send(&app, Method::GET, "/a").await, StatusCode::OK);

    let ops: Vec<String> = series(&m, "tmc_component_operations_total")
        .into_iter()
        .filter(|l| l.contains(r#"status="success""#))
        .collect();
    assert_eq!(
        ops,
        [
            r#"tmc_component_operations_total{component_type="c",component_id="i",operation="by-collector",status="success"} 1"#,
            r#"tmc_component_operations_total{component_type="c",component_id="i",operation="by-ref",status="success"} 1"#,
            r#"tmc_component_operations_total{component_type="c",component_id="i",operation="by-value",status="success"} 1"#,
            r#"tmc_component_operations_total{component_type="client",component_id="apiserver",operation="kube-get",status="success"} 2"#,
            r#"tmc_component_operations_total{component_type="client",component_id="apiserver",operation="kube-list",status="success"} 1"#,
        ]
    );
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [r#"tmc_api_requests_total{method="GET",endpoint="/a",status_code="200"} 1"#]
    );
}
