//! Every layer takes the same metrics handle; per-request names may be closures returning
//! strings.

use crate::helpers::*;
use axum::Router;
use axum::routing::get;
use http::{Method, StatusCode};
use tmc_metrics::TmcError;
use tmc_tower::api::ApiMetricsLayer;
use tmc_tower::operation::OperationLayer;
use tower::{Layer, ServiceExt};

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
