//! The API layer on failures: a panicking handler (outside `CatchPanicLayer`) counted as 500,
//! a service error with its status.

use crate::helpers::*;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Method, Request, StatusCode};
use tmc_tower::api::ApiMetricsLayer;
use tower::{Service, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;

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
