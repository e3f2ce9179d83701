//! The controller's metrics, exactly, after a scripted sequence.

use crate::helpers::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tmc_runtime::{Action, Controller};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn metrics_should_match_exactly_after_a_scripted_sequence() {
    let log = Log::new();
    let m = metrics();
    let periodic_runs = Arc::new(AtomicU32::new(0));
    let controller = Controller::new("demo", store(&["ok", "flaky", "periodic", "boom"]))
        .reconciler(logged(&log, move |req| {
            let first_periodic =
                req.key.name() == "periodic" && periodic_runs.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                match (req.key.name(), req.attempt) {
                    ("ok", _) => {
                        sleep(secs(2)).await;
                        done()
                    }
                    ("flaky", 0 | 1) => Err(TestError("flaky")),
                    ("boom", 0) => panic!("boom"),
                    ("periodic", _) if first_periodic => Ok(Action::requeue(secs(10))),
                    _ => done(),
                }
            }
        }))
        .concurrency(4)
        .unwrap()
        .backoff(no_jitter(1, 60))
        .unwrap()
        .metrics(m.collector());
    let running = spawn_controller!(controller);

    // t = 1.5 s: `ok` has run 1 s at the last upkeep tick; flaky and boom were retried once.
    sleep(ms(1500)).await;
    let mid = series(
        &m.render(),
        &[
            "workqueue_unfinished_work_seconds",
            "workqueue_longest_running_processor_seconds",
            "controller_runtime_active_workers",
        ],
    );
    assert_eq!(
        mid,
        [
            r#"controller_runtime_active_workers{controller="demo"} 1"#,
            r#"workqueue_longest_running_processor_seconds{name="demo",controller="demo"} 1"#,
            r#"workqueue_unfinished_work_seconds{name="demo",controller="demo"} 1"#,
        ]
    );
    sleep(secs(20)).await;
    let report = running.stop().await;
    assert!(report.is_clean());

    // ok: success. flaky: error, error (retries 1 s, 2 s), success. periodic: requeue_after
    // 10 s, success. boom: panic (retry 1 s), success.
    let text = m.render();
    let got = series(&text, &["controller_runtime_", "workqueue_"]);
    let expected = [
        r#"controller_runtime_active_workers{controller="demo"} 0"#,
        r#"controller_runtime_max_concurrent_reconciles{controller="demo"} 4"#,
        r#"controller_runtime_reconcile_errors_total{controller="demo"} 3"#,
        r#"controller_runtime_reconcile_panics_total{controller="demo"} 1"#,
        r#"controller_runtime_reconcile_time_seconds_sum{controller="demo"} 2"#,
        r#"controller_runtime_reconcile_time_seconds_count{controller="demo"} 8"#,
        r#"controller_runtime_reconcile_timeouts_total{controller="demo"} 0"#,
        r#"controller_runtime_reconcile_total{controller="demo",result="error"} 3"#,
        r#"controller_runtime_reconcile_total{controller="demo",result="requeue"} 0"#,
        r#"controller_runtime_reconcile_total{controller="demo",result="requeue_after"} 1"#,
        r#"controller_runtime_reconcile_total{controller="demo",result="success"} 4"#,
        r#"workqueue_adds_total{name="demo",controller="demo"} 8"#,
        r#"workqueue_depth{name="demo",controller="demo"} 0"#,
        r#"workqueue_longest_running_processor_seconds{name="demo",controller="demo"} 0"#,
        r#"workqueue_queue_duration_seconds_sum{name="demo",controller="demo"} 0"#,
        r#"workqueue_queue_duration_seconds_count{name="demo",controller="demo"} 8"#,
        r#"workqueue_retries_total{name="demo",controller="demo"} 3"#,
        r#"workqueue_unfinished_work_seconds{name="demo",controller="demo"} 0"#,
        r#"workqueue_work_duration_seconds_sum{name="demo",controller="demo"} 2"#,
        r#"workqueue_work_duration_seconds_count{name="demo",controller="demo"} 8"#,
    ];
    assert_eq!(got, expected, "\n{text}");
    assert_eq!(log.starts_of("flaky"), [0, 1000, 3000]);
    assert_eq!(log.starts_of("periodic"), [0, 10_000]);
}
