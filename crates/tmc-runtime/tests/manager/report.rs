//! The shutdown report: the keys cut off when reconciles outlive the grace, nothing when every
//! reconcile finishes within it.

use crate::helpers::*;
use std::sync::Arc;
use tmc_runtime::{Manager, ObjectKey};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn report_should_name_the_keys_cut_off_when_reconciles_outlive_the_grace() {
    // ns/slow would finish within a controller's default 30 s deadline, not within the grace.
    let (ctx, mut events) = Ctx::new(&[("ns/fast", 1), ("ns/slow", 10), ("ns/slower", 90)]);
    let mut manager = Manager::new().grace(secs(5));
    let controller = manager
        .controller("backup", memory(&["ns/fast", "ns/slow", "ns/slower"]))
        .reconciler(reconciler(Arc::clone(&ctx)))
        .concurrency(3)
        .unwrap();
    let handle = controller.handle();
    manager.add(controller);
    // Ignores the token: cut off at the deadline.
    manager.task("stubborn", |_stop| sleep(secs(3600)));
    // Honours it: not cut off.
    manager.task("polite", |stop| stop.cancelled_owned());
    let (stop, run) = spawn_run(manager);

    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(events.recv().await.unwrap());
    }
    started.sort();
    assert_eq!(
        started,
        ["start ns/fast", "start ns/slow", "start ns/slower"]
    );
    expect(&mut events, &["end ns/fast"]).await;
    assert_eq!(handle.in_flight(), [key("ns/slow"), key("ns/slower")]);

    stop.send(()).unwrap();
    let report = run.await.unwrap();
    assert_eq!(
        report.cut_off(),
        [("backup", &key("ns/slow")), ("backup", &key("ns/slower"))]
    );
    assert_eq!(report.controllers[0].report.in_flight, 2);
    assert_eq!(report.controllers[0].report.completed_in_flight, 0);
    assert_eq!(report.tasks_cut_off, ["stubborn"]);
    assert!(report.failed.is_empty());
    assert!(!report.is_clean());
    assert_eq!(
        report.to_string(),
        "backup cut off ns/slow, ns/slower; stubborn cut off"
    );
    let mut log = ctx.log();
    log.sort();
    assert_eq!(
        log,
        [
            "0 start ns/fast attempt 0",
            "0 start ns/slow attempt 0",
            "0 start ns/slower attempt 0",
            "1000 end ns/fast"
        ]
    );
    // The handle keeps naming what was cut off.
    assert_eq!(handle.in_flight(), [key("ns/slow"), key("ns/slower")]);
}

#[tokio::test(start_paused = true)]
async fn report_should_be_empty_when_every_reconcile_finishes_within_the_grace() {
    let (ctx, mut events) = Ctx::new(&[("ns/a", 3)]);
    let mut manager = Manager::new().grace(secs(5));
    let controller = manager
        .controller("backup", memory(&["ns/a"]))
        .reconciler(reconciler(Arc::clone(&ctx)));
    manager.add(controller);
    manager.task("polite", |stop| async move {
        stop.cancelled().await;
        sleep(secs(4)).await;
    });
    let (stop, run) = spawn_run(manager);

    expect(&mut events, &["start ns/a"]).await;
    stop.send(()).unwrap();
    let report = run.await.unwrap();
    let backup = &report.controllers[0].report;
    assert_eq!(backup.in_flight, 1);
    assert_eq!(backup.completed_in_flight, 1);
    assert_eq!(report.cut_off(), Vec::<(&str, &ObjectKey)>::new());
    assert_eq!(report.tasks_cut_off, Vec::<String>::new());
    assert!(report.failed.is_empty());
    assert!(report.is_clean());
    assert_eq!(report.to_string(), "clean");
    assert_eq!(ctx.log(), ["0 start ns/a attempt 0", "3000 end ns/a"]);
}
