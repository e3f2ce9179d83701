//! Outer mode (the layer around a whole router or service), gRPC statuses and body sizes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tmc_metrics::Metrics;
use tmc_tower::api::{ApiMetricsLayer, ApiRoutes, RouteTable};
use tower::{Layer, Service, ServiceExt};

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

/// Sends one request through `svc` and reads the whole response body.
async fn send<S, B>(svc: &mut S, method: Method, uri: &str) -> StatusCode
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = svc.ready().await.unwrap().call(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

#[tokio::test]
async fn outer_mode_should_label_a_whole_router_with_nested_routes_fallback_and_unmatched() {
    let m = metrics();
    let placements = ApiRoutes::new()
        .route(
            "/placements/{id}",
            get(|| async { "placement" }).delete(|| async { StatusCode::NO_CONTENT }),
        )
        .route("/placements", get(|| async { "list" }));
    let (router, table) = ApiRoutes::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/static/{*file}", get(|| async { "file" }))
        .nest("/api/v1", placements)
        .route("/metrics", tmc_tower::axum::metrics_route(m.clone()))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page") })
        .build()
        .unwrap();
    let mut app = ApiMetricsLayer::new(&m).endpoint(table).layer(router);

    for (method, uri, status) in [
        (Method::GET, "/users/1", 200),
        (Method::GET, "/users/2", 200),
        (Method::POST, "/users/2", 405),
        (Method::GET, "/static/css/site.css", 200),
        (Method::GET, "/api/v1/placements/a", 200),
        (Method::DELETE, "/api/v1/placements/a", 204),
        (Method::GET, "/api/v1/placements", 200),
        (Method::GET, "/api/v1/nope", 404),
        (Method::GET, "/nope", 404),
        (Method::GET, "/metrics", 200),
    ] {
        assert_eq!(send(&mut app, method, uri).await.as_u16(), status, "{uri}");
    }

    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [
            r#"tmc_api_requests_total{method="DELETE",endpoint="/api/v1/placements/{id}",status_code="204"} 1"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/api/v1/placements",status_code="200"} 1"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/api/v1/placements/{id}",status_code="200"} 1"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/static/{*file}",status_code="200"} 1"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/users/{id}",status_code="200"} 2"#,
            r#"tmc_api_requests_total{method="GET",endpoint="__unmatched__",status_code="404"} 2"#,
            r#"tmc_api_requests_total{method="POST",endpoint="/users/{id}",status_code="405"} 1"#,
        ]
    );
    assert_eq!(
        series(&m, "tmc_api_request_duration_seconds_count"),
        [
            r#"tmc_api_request_duration_seconds_count{method="DELETE",endpoint="/api/v1/placements/{id}",status_code="204"} 1"#,
            r#"tmc_api_request_duration_seconds_count{method="GET",endpoint="/api/v1/placements",status_code="200"} 1"#,
            r#"tmc_api_request_duration_seconds_count{method="GET",endpoint="/api/v1/placements/{id}",status_code="200"} 1"#,
            r#"tmc_api_request_duration_seconds_count{method="GET",endpoint="/static/{*file}",status_code="200"} 1"#,
            r#"tmc_api_request_duration_seconds_count{method="GET",endpoint="/users/{id}",status_code="200"} 2"#,
            r#"tmc_api_request_duration_seconds_count{method="GET",endpoint="__unmatched__",status_code="404"} 2"#,
            r#"tmc_api_request_duration_seconds_count{method="POST",endpoint="/users/{id}",status_code="405"} 1"#,
        ]
    );
    for line in series(&m, "tmc_api_requests_in_flight") {
        assert!(line.ends_with(" 0"), "{line}");
    }
}

#[tokio::test]
async fn outer_mode_should_let_matched_path_win_when_the_router_already_matched() {
    let m = metrics();
    // A table that would say otherwise: the layer inside the router sees MatchedPath.
    let table = RouteTable::new().with("/users/{name}").unwrap();
    let app: Router = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(ApiMetricsLayer::new(&m).endpoint(table));
    let mut svc = app.into_service();
    assert_eq!(
        send(&mut svc, Method::GET, "/users/1").await,
        StatusCode::OK
    );
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [r#"tmc_api_requests_total{method="GET",endpoint="/users/{id}",status_code="200"} 1"#]
    );
}

#[test]
fn route_builders_should_refuse_bad_templates_with_an_error_not_a_panic() {
    let err = RouteTable::new().with("users").unwrap_err();
    assert_eq!(err.template(), "users");
    assert!(err.to_string().contains("does not start with '/'"), "{err}");
    let err = RouteTable::new()
        .with("/users/{id}")
        .unwrap()
        .with("/users/{name}")
        .unwrap_err();
    assert_eq!(err.template(), "/users/{name}");

    let err = ApiRoutes::<()>::new()
        .route("/users/:id", get(|| async { "old syntax" }))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("axum 0.7 syntax"), "{err}");
    let err = ApiRoutes::<()>::new()
        .nest("/", ApiRoutes::new().route("/a", get(|| async { "a" })))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("use merge"), "{err}");
    // One path, two method routers: as axum allows it, so does the table.
    assert!(
        ApiRoutes::<()>::new()
            .route("/a", get(|| async { "get" }))
            .route("/a", axum::routing::post(|| async { "post" }))
            .build()
            .is_ok()
    );
}

#[tokio::test]
async fn endpoint_closures_may_return_owned_strings() {
    let m = metrics();
    let tenants = ["acme".to_owned(), "globex".to_owned()];
    let resolve = move |req: &Request<Body>| -> Option<String> {
        let tenant = req.uri().path().strip_prefix("/t/")?;
        tenants
            .iter()
            .find(|t| *t == tenant)
            .map(|t| format!("/t/{t}"))
    };
    let mut svc = ApiMetricsLayer::new(&m)
        .endpoint(resolve)
        .layer(tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::from("x")))
        }));
    for uri in ["/t/acme", "/t/acme", "/t/globex", "/t/evil"] {
        send(&mut svc, Method::GET, uri).await;
    }
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [
            r#"tmc_api_requests_total{method="GET",endpoint="/t/acme",status_code="200"} 2"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/t/globex",status_code="200"} 1"#,
            r#"tmc_api_requests_total{method="GET",endpoint="__unmatched__",status_code="200"} 1"#,
        ]
    );
}

#[tokio::test]
async fn outer_mode_should_count_every_request_whatever_route_came_before() {
    let m = metrics();
    let (router, table) = ApiRoutes::new()
        .route("/a/{id}", get(|| async { "a" }))
        .route(
            "/b/{id}",
            get(|| async { "b" }).post(|| async { "b posted" }),
        )
        .route("/c", get(|| async { "c" }))
        .route("/metrics", tmc_tower::axum::metrics_route(m.clone()))
        .build()
        .unwrap();
    // Room for one template: the first one seen keeps its series, the others fold.
    let mut app = ApiMetricsLayer::new(&m)
        .max_endpoints(1)
        .endpoint(table)
        .layer(router);
    let requests = [
        (Method::GET, "/a/1"),
        (Method::GET, "/b/1"),
        (Method::GET, "/a/2"),
        (Method::POST, "/b/2"),
        (Method::GET, "/b/3"),
        (Method::GET, "/metrics"),
        (Method::GET, "/c"),
        (Method::GET, "/a/3"),
        (Method::GET, "/metrics"),
    ];
    for round in 0..2 {
        for (method, uri) in requests.clone() {
            assert_eq!(send(&mut app, method, uri).await, StatusCode::OK, "{uri}");
        }
        let folded = 4 * (round + 1);
        assert_eq!(
            series(&m, "tmc_api_requests_total"),
            [
                format!(
                    r#"tmc_api_requests_total{{method="GET",endpoint="/a/{{id}}",status_code="200"}} {}"#,
                    3 * (round + 1)
                ),
                format!(
                    r#"tmc_api_requests_total{{method="GET",endpoint="__overflow__",status_code="200"}} {}"#,
                    3 * (round + 1)
                ),
                format!(
                    r#"tmc_api_requests_total{{method="POST",endpoint="__overflow__",status_code="200"}} {}"#,
                    round + 1
                ),
            ],
            "round {round}"
        );
        // Each folded request is counted, not only the first of each route.
        assert_eq!(
            series(&m, "tmc_metrics_series_folded_total"),
            [format!(
                r#"tmc_metrics_series_folded_total{{metric="tmc_api_requests_total"}} {folded}"#
            )]
        );
    }
}

/// A source claiming positions it does not have: the layer still labels by template.
#[derive(Clone)]
struct Misplaced;

impl tmc_tower::api::ResolveEndpoint<Body> for Misplaced {
    fn resolve<'a>(&'a self, request: &'a Request<Body>) -> Option<std::borrow::Cow<'a, str>> {
        self.resolve_at(request).0
    }

    fn resolve_at<'a>(
        &'a self,
        request: &'a Request<Body>,
    ) -> (Option<std::borrow::Cow<'a, str>>, Option<usize>) {
        match request.uri().path() {
            "/x" => (Some("/x".into()), Some(0)),
            "/y" => (Some("/y".into()), Some(7)),
            _ => (None, None),
        }
    }

    fn positions(&self) -> usize {
        1
    }
}

#[tokio::test]
async fn a_position_past_the_sources_length_should_fall_back_to_the_template() {
    let m = metrics();
    let mut svc = ApiMetricsLayer::new(&m)
        .endpoint(Misplaced)
        .layer(tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::from("x")))
        }));
    for uri in ["/x", "/y", "/x", "/y", "/y", "/z"] {
        send(&mut svc, Method::GET, uri).await;
    }
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [
            r#"tmc_api_requests_total{method="GET",endpoint="/x",status_code="200"} 2"#,
            r#"tmc_api_requests_total{method="GET",endpoint="/y",status_code="200"} 3"#,
            r#"tmc_api_requests_total{method="GET",endpoint="__unmatched__",status_code="200"} 1"#,
        ]
    );
}

/// A body yielding `frames` one per poll (data, then trailers), like a gRPC response.
struct Frames(std::collections::VecDeque<Frame<Bytes>>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

/// A gRPC-shaped answer: `grpc-status` in the head (trailers-only) or in trailers.
fn grpc_response(code: &str, in_trailers: bool) -> Response<Body> {
    let head = Response::builder().header("content-type", "application/grpc");
    if !in_trailers {
        return head
            .header("grpc-status", code)
            .body(Body::empty())
            .unwrap();
    }
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", code.parse().unwrap());
    let frames = [
        Frame::data(Bytes::from_static(b"\0\0\0\0\x02hi")),
        Frame::trailers(trailers),
    ];
    head.body(Body::new(Frames(frames.into()))).unwrap()
}

#[tokio::test]
async fn grpc_mode_should_label_by_grpc_status_in_head_or_trailers() {
    let m = metrics();
    let svc = tower::service_fn(|req: Request<Body>| async move {
        let path = req.uri().path().to_owned();
        Ok::<_, Infallible>(match path.as_str() {
            "/ok" => grpc_response("0", true),
            "/trailers-not-found" => grpc_response("5", true),
            "/head-unavailable" => grpc_response("14", false),
            "/garbage" => grpc_response("nope", false),
            _ => Response::new(Body::from("plain rest")),
        })
    });
    let table = [
        "/ok",
        "/trailers-not-found",
        "/head-unavailable",
        "/garbage",
        "/rest",
    ]
    .into_iter()
    .try_fold(RouteTable::new(), RouteTable::with)
    .unwrap();
    let mut svc = ApiMetricsLayer::new(&m)
        .endpoint(table)
        .grpc(true)
        .layer(svc);
    for uri in [
        "/ok",
        "/ok",
        "/trailers-not-found",
        "/head-unavailable",
        "/garbage",
        "/rest",
    ] {
        assert_eq!(send(&mut svc, Method::POST, uri).await, StatusCode::OK);
    }
    assert_eq!(
        series(&m, "tmc_api_requests_total"),
        [
            r#"tmc_api_requests_total{method="POST",endpoint="/garbage",status_code="grpc_UNKNOWN"} 1"#,
            r#"tmc_api_requests_total{method="POST",endpoint="/head-unavailable",status_code="grpc_UNAVAILABLE"} 1"#,
            r#"tmc_api_requests_total{method="POST",endpoint="/ok",status_code="grpc_OK"} 2"#,
            r#"tmc_api_requests_total{method="POST",endpoint="/rest",status_code="200"} 1"#,
            r#"tmc_api_requests_total{method="POST",endpoint="/trailers-not-found",status_code="grpc_NOT_FOUND"} 1"#,
        ]
    );
}

/// A body fed by the test, chunk by chunk; ends when the sender is dropped.
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

#[tokio::test]
async fn body_sizes_should_count_streamed_bodies_as_they_stream() {
    let m = metrics();
    let (router, table) = ApiRoutes::new()
        .route(
            "/upload/{name}",
            axum::routing::post(|body: Bytes| async move { format!("got {} bytes", body.len()) }),
        )
        .build()
        .unwrap();
    let api = ApiMetricsLayer::new(&m).endpoint(table);
    let app = tower::ServiceBuilder::new()
        .layer(api.clone())
        .layer(api.body_sizes())
        .service(router);

    // A request body streamed in three chunks: 5 + 1000 + 3000 bytes.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let request = Request::post("/upload/a")
        .body(Body::new(ChannelBody(rx)))
        .unwrap();
    let sender = tokio::spawn(async move {
        for n in [5, 1000, 3000] {
            tx.send(Bytes::from(vec![b'x'; n])).await.unwrap();
        }
    });
    let response = app.clone().oneshot(request).await.unwrap();
    sender.await.unwrap();
    // The request body was read by the handler: its size is recorded; the response's is not
    // until its body ends.
    assert_eq!(
        series(&m, "tmc_api_request_body_size_bytes_sum"),
        [r#"tmc_api_request_body_size_bytes_sum{method="POST",endpoint="/upload/{name}"} 4005"#]
    );
    assert_eq!(
        series(&m, "tmc_api_response_body_size_bytes_count"),
        [r#"tmc_api_response_body_size_bytes_count{method="POST",endpoint="/upload/{name}"} 0"#]
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "got 4005 bytes");

    let text = m.render();
    for line in [
        r#"tmc_api_request_body_size_bytes_bucket{method="POST",endpoint="/upload/{name}",le="1024"} 0"#,
        r#"tmc_api_request_body_size_bytes_bucket{method="POST",endpoint="/upload/{name}",le="4096"} 1"#,
        r#"tmc_api_request_body_size_bytes_count{method="POST",endpoint="/upload/{name}"} 1"#,
        r#"tmc_api_response_body_size_bytes_bucket{method="POST",endpoint="/upload/{name}",le="64"} 1"#,
        r#"tmc_api_response_body_size_bytes_sum{method="POST",endpoint="/upload/{name}"} 14"#,
        r#"tmc_api_response_body_size_bytes_count{method="POST",endpoint="/upload/{name}"} 1"#,
        r#"tmc_api_requests_total{method="POST",endpoint="/upload/{name}",status_code="200"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}
