//! Workers: the concurrency limit, one reconcile per key at a time, panics and timeouts
//! isolated and retried, the rate limit.

use crate::helpers::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tmc_runtime::{Action, Controller, ObjectKey, RateLimit, Retry, error_policy_fn};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn concurrency_should_never_exceed_the_configured_workers() {
    let log = Log::new();
    let m = metrics();
    let keys: Vec<String> = (0..10).map(|i| format!("ns/k{i}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let controller = Controller::new("bound", store(&keys))
        .reconciler(logged(&log, |_| async {
            sleep(secs(1)).await;
            done()
        }))
        .concurrency(3)
        .unwrap()
        .metrics(m.collector());
    let running = spawn_controller!(controller);
    sleep(ms(500)).await;
    assert!(
        m.render()
            .contains(r#"controller_runtime_active_workers{controller="bound"} 3"#)
    );
    sleep(secs(10)).await;
    running.stop().await;

    assert_eq!(log.calls().len(), 10);
    assert_eq!(log.max_running.load(Ordering::SeqCst), 3);
    let mut ends: Vec<u64> = log.calls().iter().map(|c| c.end.unwrap()).collect();
    ends.sort_unstable();
    assert_eq!(ends.last(), Some(&4000), "4 rounds of 3 workers");
    let text = m.render();
    assert!(text.contains(r#"controller_runtime_active_workers{controller="bound"} 0"#));
    assert!(text.contains(r#"controller_runtime_max_concurrent_reconciles{controller="bound"} 3"#));
}

#[tokio::test(start_paused = true)]
async fn same_key_should_never_be_reconciled_twice_at_once() {
    let log = Log::new();
    let controller = Controller::new("exclusive", store(&["a", "b"]))
        .reconciler(logged(&log, |_| async {
            sleep(secs(1)).await;
            done()
        }))
        .concurrency(8)
        .unwrap();
    let handle = controller.handle();
    let running = spawn_controller!(controller);
    for _ in 0..25 {
        handle.enqueue(ObjectKey::from("a"));
        sleep(ms(100)).await;
    }
    sleep(secs(5)).await;
    running.stop().await;

    assert_eq!(log.overlaps.load(Ordering::SeqCst), 0);
    let runs = log.calls_of("a");
    assert_eq!(
        runs.iter().map(|c| c.start).collect::<Vec<_>>(),
        [0, 1000, 2000, 3000]
    );
    for pair in runs.windows(2) {
        assert!(pair[1].start >= pair[0].end.unwrap());
    }
}

#[tokio::test(start_paused = true)]
async fn key_enqueued_while_running_should_run_again_after() {
    let log = Log::new();
    let store = store(&["a"]);
    let controller = Controller::new("rerun", store.clone())
        .reconciler(logged(&log, |_| async {
            sleep(secs(1)).await;
            done()
        }))
        .concurrency(4)
        .unwrap();
    let handle = controller.handle();
    let running = spawn_controller!(controller);
    sleep(ms(300)).await;
    handle.enqueue(ObjectKey::from("a"));
    sleep(ms(200)).await;
    store.apply(obj("a", 2));
    handle.enqueue(ObjectKey::from("a"));
    sleep(secs(5)).await;
    running.stop().await;

    let runs = log.calls_of("a");
    assert_eq!(
        runs.iter()
            .map(|c| (c.start, c.end.unwrap(), c.version))
            .collect::<Vec<_>>(),
        [(0, 1000, 1), (1000, 2000, 2)],
        "mid-run enqueues collapse into one re-run that sees the latest object"
    );
}

#[tokio::test(start_paused = true)]
async fn panic_should_be_isolated_counted_and_retried() {
    let log = Log::new();
    let m = metrics();
    let controller = Controller::new("panicky", store(&["a", "b"]))
        .reconciler(logged(&log, |req| async move {
            if req.key.name() == "a" && req.attempt == 0 {
                panic!("reconciler bug");
            }
            done()
        }))
        .backoff(no_jitter(1, 60))
        .unwrap()
        .metrics(m.collector());
    let handle = controller.handle();
    let running = spawn_controller!(controller);
    sleep(secs(2)).await;
    handle.enqueue(ObjectKey::from("b"));
    sleep(secs(1)).await;
    running.stop().await;

    assert_eq!(log.starts_of("a"), [0, 1000]);
    assert_eq!(log.attempts_of("a"), [0, 1]);
    assert_eq!(log.starts_of("b"), [0, 2000], "the runtime kept running");
    let text = m.render();
    for line in [
        r#"controller_runtime_reconcile_panics_total{controller="panicky"} 1"#,
        r#"controller_runtime_reconcile_errors_total{controller="panicky"} 1"#,
        r#"controller_runtime_reconcile_total{controller="panicky",result="success"} 3"#,
        r#"workqueue_retries_total{name="panicky",controller="panicky"} 1"#,
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn panicking_error_policy_should_fall_back_to_backoff() {
    let log = Log::new();
    let policy = error_policy_fn(
        |_: Arc<Obj>, _: &TestError, _: Arc<()>, _: Retry| -> Action { panic!("policy bug") },
        Arc::new(()),
    );
    let controller = Controller::new("policy-panic", store(&["a"]))
        .reconciler(logged(&log, |req| async move {
            if req.attempt < 2 {
                Err(TestError("down"))
            } else {
                done()
            }
        }))
        .error_policy(policy)
        .backoff(no_jitter(1, 60))
        .unwrap();
    let running = spawn_controller!(controller);
    sleep(secs(5)).await;
    let report = running.stop().await;

    assert_eq!(log.starts_of("a"), [0, 1000, 3000]);
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn timeout_should_cancel_count_and_retry_with_backoff() {
    let log = Log::new();
    let m = metrics();
    let controller = Controller::new("slow", store(&["a"]))
        .reconciler(logged(&log, |req| async move {
            if req.attempt == 0 {
                sleep(secs(60)).await;
            }
            done()
        }))
        .timeout(Some(secs(2)))
        .unwrap()
        .backoff(no_jitter(1, 60))
        .unwrap()
        .metrics(m.collector());
    let running = spawn_controller!(controller);
    sleep(secs(10)).await;
    running.stop().await;

    let runs = log.calls_of("a");
    assert_eq!(
        runs.iter()
            .map(|c| (c.attempt, c.start, c.end.unwrap()))
            .collect::<Vec<_>>(),
        [(0, 0, 2000), (1, 3000, 3000)]
    );
    let text = m.render();
    assert!(text.contains(r#"controller_runtime_reconcile_timeouts_total{controller="slow"} 1"#));
    assert!(text.contains(r#"controller_runtime_reconcile_errors_total{controller="slow"} 1"#));
}

#[tokio::test(start_paused = true)]
async fn rate_limit_should_space_out_reconcile_starts() {
    let log = Log::new();
    let controller = Controller::new("limited", store(&["a", "b", "c", "d"]))
        .reconciler(logged(&log, |_| async { done() }))
        .concurrency(4)
        .unwrap()
        .rate_limit(Some(RateLimit::new(2, 1).unwrap()));
    let running = spawn_controller!(controller);
    sleep(secs(5)).await;
    running.stop().await;

    let starts: Vec<u64> = log.calls().iter().map(|c| c.start).collect();
    assert_eq!(starts, [0, 500, 1000, 1500]);
}
