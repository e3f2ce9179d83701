//! Shutdown: nothing cut off when idle, in-flight reconciles finish within the deadline or are
//! cut off past it.

use crate::helpers::*;
use std::time::Duration;
use tmc_runtime::{Controller, ControllerHandle, ObjectKey};
use tokio::time::{Instant, sleep};

#[tokio::test(start_paused = true)]
async fn shutdown_without_in_flight_work_should_report_nothing_cut_off() {
    let log = Log::new();
    let controller =
        Controller::new("idle", store(&["a", "b"])).reconciler(logged(&log, |_| async { done() }));
    let handle: ControllerHandle = controller.handle();
    let running = spawn_controller!(controller);
    sleep(secs(1)).await;
    handle.enqueue_after(ObjectKey::from("b"), secs(3600));
    let t = Instant::now();
    let report = running.stop().await;

    assert_eq!(t.elapsed(), Duration::ZERO);
    assert_eq!(report.in_flight, 0);
    assert_eq!(report.completed_in_flight, 0);
    assert!(report.cut_off.is_empty());
    assert_eq!(report.pending, 1, "the delayed key never ran");
    // After shutdown the handle is inert.
    handle.enqueue(ObjectKey::from("a"));
    sleep(secs(1)).await;
    assert_eq!(log.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_should_let_in_flight_reconciles_finish_within_the_deadline() {
    let log = Log::new();
    let controller = Controller::new("drain", store(&["a", "b"]))
        .reconciler(logged(&log, |_| async {
            sleep(secs(5)).await;
            done()
        }))
        .shutdown_deadline(secs(10));
    let handle = controller.handle();
    let running = spawn_controller!(controller);
    sleep(secs(1)).await;
    handle.enqueue(ObjectKey::from("c"));
    let t = Instant::now();
    let report = running.stop().await;

    assert_eq!(
        t.elapsed(),
        secs(4),
        "waited for the in-flight reconcile only"
    );
    assert_eq!(report.in_flight, 1);
    assert_eq!(report.completed_in_flight, 1);
    assert!(report.is_clean());
    assert_eq!(report.pending, 2, "b never started, c was queued");
    assert_eq!(log.calls().len(), 1);
    assert_eq!(log.calls()[0].end, Some(5000));
}

#[tokio::test(start_paused = true)]
async fn shutdown_should_cut_off_reconciles_past_the_deadline() {
    let log = Log::new();
    let m = metrics();
    let controller = Controller::new("cut", store(&["ns/fast", "ns/stuck"]))
        .reconciler(logged(&log, |req| async move {
            let d = if req.key.name() == "stuck" { 600 } else { 2 };
            sleep(secs(d)).await;
            done()
        }))
        .concurrency(2)
        .unwrap()
        .shutdown_deadline(secs(5))
        .metrics(m.collector());
    let running = spawn_controller!(controller);
    sleep(secs(1)).await;
    let t = Instant::now();
    let report = running.stop().await;

    assert_eq!(t.elapsed(), secs(5));
    assert_eq!(report.in_flight, 2);
    assert_eq!(report.completed_in_flight, 1);
    assert_eq!(report.cut_off, [ObjectKey::from("ns/stuck")]);
    assert_eq!(log.calls_of("ns/stuck")[0].end, Some(6000), "cancelled");
    let text = m.render();
    assert!(text.contains(r#"controller_runtime_active_workers{controller="cut"} 0"#));
    assert!(
        text.contains(
            r#"workqueue_longest_running_processor_seconds{name="cut",controller="cut"} 6"#
        )
    );
}
