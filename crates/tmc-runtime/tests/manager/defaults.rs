//! Shared defaults: controllers made by the Manager share its backoff and metrics; a backoff out
//! of range names the field; no controllers means ready at once.

use crate::helpers::*;
use std::sync::Arc;
use tmc_metrics::Metrics;
use tmc_runtime::{Backoff, Manager};

#[tokio::test(start_paused = true)]
async fn controllers_made_by_the_manager_should_share_its_backoff_and_metrics() {
    let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
    let (ctx, mut events) = Ctx::new(&[]);
    let ctx = Arc::new(Ctx {
        fail_first: true,
        ..Arc::into_inner(ctx).unwrap()
    });
    let backoff = Backoff {
        initial: secs(2),
        max: secs(2),
        factor: 2.0,
        jitter: 0.0,
    };
    let mut manager = Manager::new()
        .backoff(backoff)
        .unwrap()
        .metrics(metrics.collector());
    let controller = manager
        .controller("backup", memory(&["ns/a"]))
        .reconciler(reconciler(Arc::clone(&ctx)));
    manager.add(controller);
    let (stop, run) = spawn_run(manager);

    expect(
        &mut events,
        &["start ns/a", "end ns/a", "start ns/a", "end ns/a"],
    )
    .await;
    stop.send(()).unwrap();
    assert!(run.await.unwrap().is_clean());
    assert_eq!(
        ctx.log(),
        [
            "0 start ns/a attempt 0",
            "0 end ns/a",
            "2000 start ns/a attempt 1",
            "2000 end ns/a"
        ]
    );
    let text = metrics.render();
    for line in [
        r#"controller_runtime_reconcile_errors_total{controller="backup"} 1"#,
        r#"controller_runtime_reconcile_total{controller="backup",result="success"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[test]
fn a_manager_backoff_out_of_range_should_name_the_field() {
    let bad = Backoff {
        factor: 0.5,
        ..Backoff::default()
    };
    let err = Manager::new().backoff(bad).unwrap_err();
    assert!(err.to_string().contains("factor"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_manager_without_controllers_should_be_ready_at_once() {
    let mut manager = Manager::new();
    manager.task("census", |stop| stop.cancelled_owned());
    let readiness = manager.readiness();
    let (stop, run) = spawn_run(manager);
    assert!(readiness.wait().await);
    stop.send(()).unwrap();
    assert!(run.await.unwrap().is_clean());
    assert!(!readiness.wait().await);
}
