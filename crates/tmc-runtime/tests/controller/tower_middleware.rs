//! Reconcilers as tower services: readiness is awaited, middleware composes with `reconciler_fn`.

use crate::helpers::*;
use std::sync::{Arc, Mutex};
use tmc_runtime::{
    Action, Controller, ObjectKey, ReconcileRequest, Retry, error_policy_fn, reconciler_fn,
};
use tokio::time::sleep;
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn reconciler_readiness_should_be_awaited() {
    let (svc, mut mock) = tower_test::mock::pair::<ReconcileRequest<Obj>, Action>();
    mock.allow(0);
    let controller = Controller::new("ready", store(&["a"])).reconciler(svc);
    let running = spawn_controller!(controller);
    sleep(secs(5)).await;
    assert!(
        tokio::time::timeout(ms(1), mock.next_request())
            .await
            .is_err(),
        "no call while the service is not ready"
    );
    mock.allow(1);
    let (req, respond) = mock.next_request().await.unwrap();
    assert_eq!(req.key, ObjectKey::from("a"));
    respond.send_response(Action::await_change());
    let report = running.stop().await;
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn tower_middleware_should_compose_with_reconciler_fn() {
    let m = metrics();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let reconcile = |obj: Arc<Obj>, ctx: Arc<&'static str>| async move {
        assert_eq!(*ctx, "ctx");
        if obj.version == 1 {
            Err(TestError("first"))
        } else {
            Ok(Action::await_change())
        }
    };
    let svc = reconciler_fn(reconcile, Arc::new("ctx"))
        .map_request(|mut req: ReconcileRequest<Obj>| {
            if req.attempt > 0 {
                req.object = Arc::new(obj("a", 2));
            }
            req
        })
        .map_err(|e: TestError| format!("wrapped: {e}"));
    let policy = error_policy_fn(
        |_obj: Arc<Obj>, e: &String, seen: Arc<Mutex<Vec<String>>>, retry: Retry| {
            seen.lock().unwrap().push(e.clone());
            Action::requeue(retry.backoff)
        },
        Arc::clone(&seen),
    );
    let controller = Controller::new("tower", store(&["a"]))
        .reconciler(svc)
        .error_policy(policy)
        .backoff(no_jitter(1, 1))
        .unwrap()
        .metrics(m.collector());
    let running = spawn_controller!(controller);
    sleep(secs(3)).await;
    running.stop().await;

    assert_eq!(*seen.lock().unwrap(), ["wrapped: first"]);
    assert!(
        m.render().contains(
            r#"controller_runtime_reconcile_total{controller="tower",result="success"} 1"#
        )
    );
}
