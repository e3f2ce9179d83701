//! The API layer's route labels: templated, nested, unmatched and excluded routes, no growth
//! under many distinct unmatched paths, templates folded past the cap.

use crate::helpers::*;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use std::convert::Infallible;
use tmc_tower::api::ApiMetricsLayer;
use tower::{Service, ServiceExt};

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
