//! The operation layer: success, error kinds and cancellation on a mock service, per-request
//! operation names, a classifier.

use crate::helpers::*;
use std::convert::Infallible;
use tmc_metrics::{ErrorKind, TmcError};
use tmc_tower::operation::OperationLayer;
use tower::ServiceExt;

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
