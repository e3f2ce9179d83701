//! Backoff and the error policy: exponential growth up to the cap, reset after success, the
//! retry count the policy sees.

use crate::helpers::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tmc_runtime::{Action, Controller, ObjectKey, Retry, error_policy_fn};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn backoff_should_grow_exponentially_up_to_the_cap() {
    let log = Log::new();
    let controller = Controller::new("growth", store(&["a"]))
        .reconciler(logged(&log, |_| async { Err(TestError("down")) }))
        .backoff(no_jitter(1, 5))
        .unwrap();
    let running = spawn_controller!(controller);
    sleep(ms(20_500)).await;
    running.stop().await;

    assert_eq!(log.starts_of("a"), [0, 1000, 3000, 7000, 12_000, 17_000]);
    assert_eq!(log.attempts_of("a"), [0, 1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn backoff_should_reset_after_success() {
    let log = Log::new();
    let calls = Arc::new(AtomicU32::new(0));
    let controller = Controller::new("reset", store(&["a"]))
        .reconciler(logged(&log, move |_| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    2 => Ok(Action::requeue(secs(10))),
                    _ => Err(TestError("flaky")),
                }
            }
        }))
        .backoff(no_jitter(1, 60))
        .unwrap();
    let running = spawn_controller!(controller);
    sleep(ms(14_500)).await;
    running.stop().await;

    // Fail, fail (1 s), succeed (2 s), then the next failure starts over at 1 s.
    assert_eq!(log.starts_of("a"), [0, 1000, 3000, 13_000, 14_000]);
    assert_eq!(log.attempts_of("a"), [0, 1, 2, 0, 1]);
}

#[tokio::test(start_paused = true)]
async fn error_policy_should_see_the_retry_count() {
    let log = Log::new();
    let seen: Arc<Mutex<Vec<Retry>>> = Arc::default();
    let policy = error_policy_fn(
        |_obj: Arc<Obj>, err: &TestError, seen: Arc<Mutex<Vec<Retry>>>, retry: Retry| {
            assert_eq!(err.0, "nope");
            seen.lock().unwrap().push(retry);
            if retry.failures < 3 {
                Action::requeue(retry.backoff)
            } else {
                Action::await_change()
            }
        },
        Arc::clone(&seen),
    );
    let controller = Controller::new("policy", store(&["a"]))
        .reconciler(logged(&log, |_| async { Err(TestError("nope")) }))
        .error_policy(policy)
        .backoff(no_jitter(1, 60))
        .unwrap();
    let handle = controller.handle();
    let running = spawn_controller!(controller);
    sleep(secs(30)).await;
    assert_eq!(log.starts_of("a"), [0, 1000, 3000]);
    // The count survives `await_change` until a success.
    handle.enqueue(ObjectKey::from("a"));
    sleep(ms(10)).await;
    running.stop().await;

    assert_eq!(log.attempts_of("a"), [0, 1, 2, 3]);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            Retry::new(1, secs(1)),
            Retry::new(2, secs(2)),
            Retry::new(3, secs(4)),
            Retry::new(4, secs(8)),
        ]
    );
}
