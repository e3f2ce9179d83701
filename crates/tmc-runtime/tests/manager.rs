//! Specifications of the Manager, on tokio's paused clock (no real sleeps).

// Test helpers outside `#[test]` functions unwrap freely too.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_metrics::Metrics;
use tmc_runtime::{
    Action, Backoff, Event, Manager, ManagerReport, MemoryStore, ObjectKey, Ready,
    ReconcileRequest, Resource, Store,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};
use tower::Service;

// ---------------------------------------------------------------------------------------
// Harness

#[derive(Debug)]
struct Obj(ObjectKey);

impl Resource for Obj {
    fn key(&self) -> ObjectKey {
        self.0.clone()
    }
}

fn key(k: &str) -> ObjectKey {
    ObjectKey::from(k)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn memory(keys: &[&str]) -> MemoryStore<Obj> {
    let store = MemoryStore::new();
    for k in keys {
        store.apply(Obj(key(k)));
    }
    store
}

/// A cache that is not ready until [`sync`](Self::sync), as a reflector before its first
/// complete listing.
#[derive(Clone)]
struct Gated {
    inner: MemoryStore<Obj>,
    synced: Arc<watch::Sender<bool>>,
}

impl Gated {
    fn new(keys: &[&str]) -> Self {
        Self {
            inner: memory(keys),
            synced: Arc::new(watch::Sender::new(false)),
        }
    }

    fn sync(&self) {
        self.synced.send_replace(true);
    }
}

impl Store<Obj> for Gated {
    fn get(&self, key: &ObjectKey) -> Option<Arc<Obj>> {
        self.inner.get(key)
    }
    fn list(&self) -> Vec<Arc<Obj>> {
        self.inner.list()
    }
    fn watch(&self) -> mpsc::UnboundedReceiver<Event<Obj>> {
        self.inner.watch()
    }
    fn ready(&self) -> Ready {
        let mut rx = self.synced.subscribe();
        Box::pin(async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    }
}

/// What the reconciler did: `"<ms> start <key> attempt <n>"` and `"<ms> end <key>"` in the
/// log (times since the test began), `"start <key>"` and `"end <key>"` on the channel. A
/// reconcile cut off has no `end`.
struct Ctx {
    t0: Instant,
    log: Mutex<Vec<String>>,
    events: mpsc::UnboundedSender<String>,
    /// How long a key's reconcile takes; zero when absent.
    work: HashMap<ObjectKey, Duration>,
    /// Whether a key's first attempt fails.
    fail_first: bool,
}

impl Ctx {
    fn new(work: &[(&str, u64)]) -> (Arc<Self>, mpsc::UnboundedReceiver<String>) {
        let (events, rx) = mpsc::unbounded_channel();
        let ctx = Self {
            t0: Instant::now(),
            log: Mutex::new(Vec::new()),
            events,
            work: work.iter().map(|(k, s)| (key(k), secs(*s))).collect(),
            fail_first: false,
        };
        (Arc::new(ctx), rx)
    }

    fn record(&self, what: &str, key: &ObjectKey, attempt: Option<u32>) {
        let ms = self.t0.elapsed().as_millis();
        let line = match attempt {
            Some(n) => format!("{ms} {what} {key} attempt {n}"),
            None => format!("{ms} {what} {key}"),
        };
        self.log.lock().unwrap().push(line);
        let _ = self.events.send(format!("{what} {key}"));
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn reconciler(
    ctx: Arc<Ctx>,
) -> impl Service<ReconcileRequest<Obj>, Response = Action, Error = String, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |req: ReconcileRequest<Obj>| {
        let ctx = Arc::clone(&ctx);
        async move {
            ctx.record("start", &req.key, Some(req.attempt));
            sleep(ctx.work.get(&req.key).copied().unwrap_or_default()).await;
            ctx.record("end", &req.key, None);
            if ctx.fail_first && req.attempt == 0 {
                return Err("first attempt fails".to_owned());
            }
            Ok(Action::await_change())
        }
    })
}

/// Waits for the reconciler's next events, which must be `expected` in that order.
async fn expect(events: &mut mpsc::UnboundedReceiver<String>, expected: &[&str]) {
    for e in expected {
        assert_eq!(events.recv().await.unwrap(), *e);
    }
}

fn spawn_run(manager: Manager) -> (oneshot::Sender<()>, JoinHandle<ManagerReport>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(manager.run(async move {
        let _ = stopped.await;
    }));
    (stop, run)
}

/// Sets its flag when dropped: a task's future was dropped (ended or cancelled).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------
// Readiness

#[tokio::test(start_paused = true)]
async fn controller_should_reconcile_nothing_until_its_store_is_ready() {
    let store = Gated::new(&["ns/a"]);
    let (ctx, mut events) = Ctx::new(&[]);
    let mut manager = Manager::new();
    let controller = manager
        .controller("backup", store.clone())
        .reconciler(reconciler(Arc::clone(&ctx)));
    manager.add(controller);
    let readiness = manager.readiness();
    let (stop, run) = spawn_run(manager);

    sleep(secs(60)).await;
    assert_eq!(ctx.log(), Vec::<String>::new());
    assert!(!readiness.is_ready());

    store.sync();
    assert!(readiness.wait().await);
    expect(&mut events, &["start ns/a", "end ns/a"]).await;
    assert_eq!(ctx.log(), ["60000 start ns/a attempt 0", "60000 end ns/a"]);

    stop.send(()).unwrap();
    let report = run.await.unwrap();
    assert!(report.controllers[0].started);
    assert!(report.is_clean(), "{report}");
    assert!(!readiness.is_ready());
}

#[tokio::test(start_paused = true)]
async fn controller_should_also_wait_for_the_stores_it_watches() {
    let configs = Gated::new(&["cfg/x"]);
    let (ctx, mut events) = Ctx::new(&[]);
    let mut manager = Manager::new();
    let controller = manager
        .controller("backup", memory(&["ns/a"]))
        .watches(configs.clone(), |_: &Obj| vec![key("ns/a")])
        .reconciler(reconciler(Arc::clone(&ctx)));
    manager.add(controller);
    let readiness = manager.readiness();
    let (stop, run) = spawn_run(manager);

    sleep(secs(60)).await;
    assert_eq!(ctx.log(), Vec::<String>::new());
    assert!(!readiness.is_ready());

    configs.sync();
    expect(&mut events, &["start ns/a", "end ns/a"]).await;
    assert!(readiness.is_ready());
    assert_eq!(ctx.log(), ["60000 start ns/a attempt 0", "60000 end ns/a"]);
    stop.send(()).unwrap();
    assert!(run.await.unwrap().is_clean());
}

#[tokio::test(start_paused = true)]
async fn shutdown_before_readiness_should_report_the_controller_never_started() {
    let store = Gated::new(&["ns/a"]);
    let (ctx, _events) = Ctx::new(&[]);
    let mut manager = Manager::new();
    let controller = manager
        .controller("backup", store)
        .reconciler(reconciler(Arc::clone(&ctx)));
    controller.handle().enqueue(key("ns/b"));
    manager.add(controller);
    let (stop, run) = spawn_run(manager);

    sleep(secs(60)).await;
    stop.send(()).unwrap();
    let report = run.await.unwrap();
    assert_eq!(ctx.log(), Vec::<String>::new());
    let backup = &report.controllers[0];
    assert_eq!(backup.name, "backup");
    assert!(!backup.started);
    assert_eq!(backup.report.in_flight, 0);
    assert_eq!(backup.report.pending, 1);
    assert_eq!(report.to_string(), "clean");
}

// ---------------------------------------------------------------------------------------
// One shutdown

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

// ---------------------------------------------------------------------------------------
// The report

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

// ---------------------------------------------------------------------------------------
// Shared defaults

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
