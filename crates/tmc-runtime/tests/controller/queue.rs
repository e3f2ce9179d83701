//! The queue: duplicate keys collapse, requeued keys run in due order, the earlier schedule wins.

use crate::helpers::*;
use std::sync::{Arc, Mutex};
use tmc_runtime::{Action, Controller, ObjectKey};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn queue_should_collapse_duplicate_keys() {
    let log = Log::new();
    let m = metrics();
    let controller = Controller::new("dedupe", store(&["ns/a", "ns/b"]))
        .reconciler(logged(&log, |_| async { done() }))
        .metrics(m.collector());
    let handle = controller.handle();
    for _ in 0..3 {
        handle.enqueue(ObjectKey::from("ns/a"));
    }
    let running = spawn_controller!(controller);
    sleep(secs(1)).await;
    running.stop().await;

    assert_eq!(log.starts_of("ns/a"), [0]);
    assert_eq!(log.starts_of("ns/b"), [0]);
    assert!(
        m.render()
            .contains(r#"workqueue_adds_total{name="dedupe",controller="dedupe"} 2"#)
    );
}

#[tokio::test(start_paused = true)]
async fn requeue_should_run_keys_in_due_order() {
    let log = Log::new();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let controller = Controller::new("order", store(&["a", "b", "c"]))
        .reconciler(logged(&log, move |req| {
            let first = {
                let mut seen = seen.lock().unwrap();
                let first = !seen.contains(&req.key.to_string());
                seen.push(req.key.to_string());
                first
            };
            async move {
                let delay = match req.key.name() {
                    "a" => 3,
                    "b" => 1,
                    _ => 2,
                };
                if first {
                    Ok(Action::requeue(secs(delay)))
                } else {
                    done()
                }
            }
        }))
        .concurrency(3)
        .unwrap();
    let running = spawn_controller!(controller);
    sleep(ms(500)).await;
    let first: Vec<u64> = log.calls().iter().map(|c| c.start).collect();
    assert_eq!(first, [0, 0, 0]);
    sleep(secs(10)).await;
    running.stop().await;

    let requeued: Vec<(String, u64)> = log.calls()[3..]
        .iter()
        .map(|c| (c.key.clone(), c.start))
        .collect();
    assert_eq!(
        requeued,
        [
            ("b".to_owned(), 1000),
            ("c".to_owned(), 2000),
            ("a".to_owned(), 3000)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn earlier_schedule_should_win() {
    let log = Log::new();
    let controller =
        Controller::new("earliest", store(&["a"])).reconciler(logged(&log, |_| async { done() }));
    let handle = controller.handle();
    let running = spawn_controller!(controller);
    sleep(ms(100)).await;
    let key = ObjectKey::from("a");
    handle.enqueue_after(key.clone(), secs(10));
    handle.enqueue_after(key.clone(), secs(2));
    handle.enqueue_after(key.clone(), secs(5));
    sleep(secs(20)).await;
    // An immediate enqueue replaces a pending delay too.
    handle.enqueue_after(key.clone(), secs(10));
    handle.enqueue(key);
    sleep(secs(20)).await;
    running.stop().await;

    assert_eq!(log.starts_of("a"), [0, 2100, 20_100]);
}
