//! One shutdown: one cancel stops every controller and task; a failing or panicking task stops
//! everything and is reported.

use crate::helpers::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tmc_runtime::Manager;
use tokio::time::sleep;

/// Sets its flag when dropped: a task's future was dropped (ended or cancelled).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn one_cancel_should_stop_every_controller_and_task() {
    let (backups, restores) = (memory(&["ns/a"]), memory(&["ns/b"]));
    let (ctx, mut events) = Ctx::new(&[]);
    let mut manager = Manager::new().grace(secs(5));
    for (name, store) in [("backup", backups.clone()), ("restore", restores.clone())] {
        let controller = manager
            .controller(name, store)
            .reconciler(reconciler(Arc::clone(&ctx)));
        manager.add(controller);
    }
    // A loop that never ends by itself, dropped at the cancel.
    let census_dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(Arc::clone(&census_dropped));
    manager.task("census", move |stop| async move {
        let _flag = flag;
        stop.run_until_cancelled(async {
            loop {
                sleep(secs(1)).await;
            }
        })
        .await;
    });
    // A task that winds down by itself once told.
    let provisioner_stopped = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&provisioner_stopped);
    manager.task("provisioner", move |stop| async move {
        stop.cancelled().await;
        stopped.store(true, Ordering::SeqCst);
        Ok::<(), String>(())
    });
    let token = manager.shutdown_token();
    let run = tokio::spawn(manager.run(std::future::pending::<()>()));
    expect(
        &mut events,
        &["start ns/a", "end ns/a", "start ns/b", "end ns/b"],
    )
    .await;

    token.cancel();
    let report = run.await.unwrap();
    let names: Vec<&str> = report.controllers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["backup", "restore"]);
    assert!(report.controllers.iter().all(|c| c.started));
    assert!(report.is_clean(), "{report}");
    assert!(census_dropped.load(Ordering::SeqCst));
    assert!(provisioner_stopped.load(Ordering::SeqCst));

    // Nothing reconciles any more.
    backups.apply(Obj(key("ns/c")));
    restores.apply(Obj(key("ns/d")));
    sleep(secs(60)).await;
    assert_eq!(
        ctx.log(),
        [
            "0 start ns/a attempt 0",
            "0 end ns/a",
            "0 start ns/b attempt 0",
            "0 end ns/b"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_task_should_stop_everything_and_be_reported() {
    let (ctx, mut events) = Ctx::new(&[]);
    let mut manager = Manager::new();
    let controller = manager
        .controller("backup", memory(&["ns/a"]))
        .reconciler(reconciler(Arc::clone(&ctx)));
    manager.add(controller);
    manager.task("leader", |_stop| async {
        sleep(secs(10)).await;
        Err::<(), _>("lost the lease")
    });
    let report = manager.run(std::future::pending::<()>()).await;
    expect(&mut events, &["start ns/a", "end ns/a"]).await;
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].name, "leader");
    assert_eq!(report.failed[0].error, "lost the lease");
    assert_eq!(report.to_string(), "leader failed: lost the lease");
    assert!(report.controllers[0].started);
    assert!(report.controllers[0].report.is_clean());
}

#[allow(clippy::panic)]
async fn boom() {
    sleep(secs(1)).await;
    panic!("boom");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_task_should_stop_everything_and_be_reported() {
    let mut manager = Manager::new();
    manager.task("census", |stop| async move {
        stop.cancelled().await;
    });
    manager.task("boom", |_stop| boom());
    let report = manager.run(std::future::pending::<()>()).await;
    assert_eq!(report.to_string(), "boom failed: panicked: boom");
    assert_eq!(report.tasks_cut_off, Vec::<String>::new());
}
