//! When the API layer's measurement ends: at the end of a streamed body or at the head, and
//! as cancelled for a dropped body or request future.

use crate::helpers::*;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tmc_tower::api::ApiMetricsLayer;
use tower::ServiceExt;

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
