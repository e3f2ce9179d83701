//! The operation tracker: success, error and cancel with durations, tracked futures and
//! synchronous closures.

use super::helpers::*;
use crate::*;
use std::task::{Context, Waker};

#[test]
fn tracker_records_success_error_and_cancel_with_durations() {
    let (m, c) = fresh();
    let op = c.operation("syncer", "cluster-1", "sync-deployment");
    op.start().success();
    op.start().success();
    op.start().error(&TmcError::from_http_status(
        404,
        "syncer",
        "sync-deployment",
        "gone",
    ));
    op.start().error(
        &TmcError::new(ErrorKind::SyncFailure, "syncer", "sync", "x")
            .with_severity(Severity::Critical),
    );
    drop(op.start());
    let text = m.render();
    let l = r#"component_type="syncer",component_id="cluster-1""#;
    assert_family(
        &text,
        "tmc_component_operations_total",
        &[
            &format!(
                r#"tmc_component_operations_total{{{l},operation="sync-deployment",status="success"}} 2"#
            ),
            &format!(
                r#"tmc_component_operations_total{{{l},operation="sync-deployment",status="error"}} 2"#
            ),
            &format!(
                r#"tmc_component_operations_total{{{l},operation="sync-deployment",status="cancelled"}} 1"#
            ),
        ],
    );
    assert_family(
        &text,
        "tmc_component_errors_total",
        &[
            &format!(
                r#"tmc_component_errors_total{{{l},error_type="ResourceNotFound",severity="Low"}} 1"#
            ),
            &format!(
                r#"tmc_component_errors_total{{{l},error_type="SyncFailure",severity="Critical"}} 1"#
            ),
        ],
    );
    assert!(text.contains(&format!(
        r#"tmc_component_operation_duration_seconds_count{{{l},operation="sync-deployment"}} 5"#
    )));
}

#[test]
fn tracked_future_counts_ok_err_and_drop_before_completion() {
    let (m, c) = fresh();
    let op = c.operation("reconciler", "datamover", "reconcile");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let ok: Result<(), std::io::Error> = op.track(async { Ok(()) }).await;
        ok.unwrap();
        let err: Result<(), std::io::Error> = op
            .track(async { Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)) })
            .await;
        assert!(err.is_err());
        let custom: Result<(), &str> = op
            .track_with(async { Err("quota") }, |_| {
                ErrorClass::of(ErrorKind::PlacementCapacity)
            })
            .await;
        assert!(custom.is_err());
    });
    // A future polled once, still pending, then dropped: cancelled.
    let mut pending = Box::pin(op.track(std::future::pending::<Result<(), TmcError>>()));
    assert!(
        pending
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    drop(pending);
    // A future never polled at all is also an operation that did not finish.
    drop(track_operation(
        &c,
        "reconciler",
        "datamover",
        "reconcile",
        async { Ok::<(), TmcError>(()) },
    ));

    let text = m.render();
    let l = r#"component_type="reconciler",component_id="datamover",operation="reconcile""#;
    assert_family(
        &text,
        "tmc_component_operations_total",
        &[
            &format!(r#"tmc_component_operations_total{{{l},status="success"}} 1"#),
            &format!(r#"tmc_component_operations_total{{{l},status="error"}} 2"#),
            &format!(r#"tmc_component_operations_total{{{l},status="cancelled"}} 2"#),
        ],
    );
    let e = r#"component_type="reconciler",component_id="datamover""#;
    assert_family(
        &text,
        "tmc_component_errors_total",
        &[
            &format!(
                r#"tmc_component_errors_total{{{e},error_type="ClusterUnreachable",severity="High"}} 1"#
            ),
            &format!(
                r#"tmc_component_errors_total{{{e},error_type="PlacementCapacity",severity="Medium"}} 1"#
            ),
        ],
    );
}

#[test]
fn call_tracks_a_synchronous_closure() {
    let (m, c) = fresh();
    let op = c.operation("client", "api", "get");
    assert_eq!(op.call(|| Ok::<_, ErrorKind>(7)).unwrap(), 7);
    assert!(op.call(|| Err::<(), _>(ErrorKind::RateLimited)).is_err());
    let text = m.render();
    assert!(text.contains(r#"tmc_component_operations_total{component_type="client",component_id="api",operation="get",status="success"} 1"#));
    assert!(text.contains(r#"tmc_component_errors_total{component_type="client",component_id="api",error_type="RateLimited",severity="Medium"} 1"#));
}
