//! Specifications of the controller runtime, on tokio's paused clock (no real sleeps).

// Test helpers outside `#[test]` functions unwrap freely too.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_metrics::Metrics;
use tmc_runtime::{
    Action, Backoff, Controller, ControllerHandle, MemoryStore, ObjectKey, Owned, RateLimit,
    ReconcileRequest, Resource, Retry, ShutdownReport, Store, error_policy_fn, reconciler_fn,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};
use tower::{Service, ServiceExt};

// ---------------------------------------------------------------------------------------
// Harness

#[derive(Debug)]
struct Obj {
    key: ObjectKey,
    version: u32,
}

impl Resource for Obj {
    const KIND: &'static str = "Obj";

    fn key(&self) -> ObjectKey {
        self.key.clone()
    }
}

fn obj(key: &str, version: u32) -> Obj {
    Obj {
        key: ObjectKey::from(key),
        version,
    }
}

fn store(keys: &[&str]) -> MemoryStore<Obj> {
    let store = MemoryStore::new();
    for k in keys {
        store.apply(obj(k, 1));
    }
    store
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TestError(&'static str);

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One reconcile as the reconciler saw it; times in milliseconds since the test began.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    key: String,
    attempt: u32,
    version: u32,
    start: u64,
    end: Option<u64>,
}

/// Records every call, how many run at once, and any overlap of one key with itself.
#[derive(Clone)]
struct Log {
    t0: Instant,
    calls: Arc<Mutex<Vec<Call>>>,
    running: Arc<Mutex<HashMap<String, usize>>>,
    now_running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
    overlaps: Arc<AtomicUsize>,
}

impl Log {
    fn new() -> Self {
        Self {
            t0: Instant::now(),
            calls: Arc::default(),
            running: Arc::default(),
            now_running: Arc::default(),
            max_running: Arc::default(),
            overlaps: Arc::default(),
        }
    }

    fn ms(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_millis()).unwrap()
    }

    fn start(&self, req: &ReconcileRequest<Obj>) -> Guard {
        let key = req.key.to_string();
        let mut calls = self.calls.lock().unwrap();
        calls.push(Call {
            key: key.clone(),
            attempt: req.attempt,
            version: req.object.version,
            start: self.ms(),
            end: None,
        });
        let same = {
            let mut running = self.running.lock().unwrap();
            let n = running.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        if same > 1 {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        let now = self.now_running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        Guard {
            log: self.clone(),
            index: calls.len() - 1,
            key,
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn calls_of(&self, key: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.key == key).collect()
    }

    fn starts_of(&self, key: &str) -> Vec<u64> {
        self.calls_of(key).iter().map(|c| c.start).collect()
    }

    fn attempts_of(&self, key: &str) -> Vec<u32> {
        self.calls_of(key).iter().map(|c| c.attempt).collect()
    }
}

/// Ends a call when dropped: on return, on panic, and on cancellation.
struct Guard {
    log: Log,
    index: usize,
    key: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let ms = self.log.ms();
        self.log.calls.lock().unwrap()[self.index].end = Some(ms);
        *self.log.running.lock().unwrap().get_mut(&self.key).unwrap() -= 1;
        self.log.now_running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A reconciler service that logs each call and then behaves as `f` says.
fn logged<F, Fut>(
    log: &Log,
    f: F,
) -> impl Service<
    ReconcileRequest<Obj>,
    Response = Action,
    Error = TestError,
    Future = impl Future<Output = Result<Action, TestError>> + Send,
> + Clone
+ Send
+ 'static
where
    F: Fn(ReconcileRequest<Obj>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, TestError>> + Send + 'static,
{
    let log = log.clone();
    tower::service_fn(move |req: ReconcileRequest<Obj>| {
        let guard = log.start(&req);
        let fut = f(req);
        async move {
            let result = fut.await;
            drop(guard);
            result
        }
    })
}

fn done() -> Result<Action, TestError> {
    Ok(Action::await_change())
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_jitter(initial: u64, max: u64) -> Backoff {
    Backoff {
        initial: secs(initial),
        max: secs(max),
        factor: 2.0,
        jitter: 0.0,
    }
}

fn metrics() -> Metrics {
    Metrics::builder().upkeep_interval(None).build().unwrap()
}

/// A controller running in the background until `stop`.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<ShutdownReport>,
}

impl Running {
    fn start<F>(run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: Future<Output = ShutdownReport> + Send + 'static,
    {
        let (stop, rx) = oneshot::channel();
        Self {
            stop,
            task: tokio::spawn(run(rx)),
        }
    }

    async fn stop(self) -> ShutdownReport {
        self.stop.send(()).unwrap();
        self.task.await.unwrap()
    }
}

macro_rules! spawn_controller {
    ($controller:expr) => {{
        let controller = $controller;
        Running::start(move |rx| {
            controller.run(async move {
                let _ = rx.await;
            })
        })
    }};
}

/// The exposition lines of `families`, without buckets and comments.
fn series(text: &str, families: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.contains("_bucket{"))
        .filter(|l| families.iter().any(|f| l.starts_with(f)))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Queue

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

// ---------------------------------------------------------------------------------------
// Backoff and the error policy

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

// ---------------------------------------------------------------------------------------
// Workers

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

// ---------------------------------------------------------------------------------------
// Sources

#[tokio::test(start_paused = true)]
async fn store_events_should_drive_reconciles_and_deleted_objects_should_be_skipped() {
    let log = Log::new();
    let store = MemoryStore::new();
    let controller =
        Controller::new("events", store.clone()).reconciler(logged(&log, |req| async move {
            if req.key.name() == "later" {
                return Ok(Action::requeue(secs(5)));
            }
            done()
        }));
    let running = spawn_controller!(controller);
    sleep(ms(100)).await;
    store.apply(obj("a", 1));
    sleep(ms(100)).await;
    store.apply(obj("a", 2));
    store.apply(obj("gone", 1));
    store.delete(&ObjectKey::from("gone"));
    store.apply(obj("later", 1));
    sleep(ms(100)).await;
    store.delete(&ObjectKey::from("later"));
    sleep(secs(10)).await;
    running.stop().await;

    let seen: Vec<(String, u32, u64)> = log
        .calls()
        .into_iter()
        .map(|c| (c.key, c.version, c.start))
        .collect();
    assert_eq!(
        seen,
        [
            ("a".to_owned(), 1, 100),
            ("a".to_owned(), 2, 200),
            ("later".to_owned(), 1, 200)
        ],
        "a deleted object is never reconciled, and its pending requeue is dropped"
    );
}

/// An object owned by an `Obj` (or by something else), like a Job owned by a DataMover.
#[derive(Debug)]
struct Child {
    name: &'static str,
    owner_kind: &'static str,
    owner: &'static str,
    progress: u32,
}

impl Resource for Child {
    const KIND: &'static str = "Child";

    fn key(&self) -> ObjectKey {
        ObjectKey::namespaced("ns", self.name)
    }
}

impl Owned for Child {
    fn owners(&self, kind: &str) -> Vec<ObjectKey> {
        if self.owner_kind == kind {
            vec![ObjectKey::namespaced("ns", self.owner)]
        } else {
            vec![]
        }
    }
}

#[tokio::test(start_paused = true)]
async fn owned_object_changes_should_reconcile_exactly_their_owner() {
    let log = Log::new();
    let children = MemoryStore::new();
    let controller = Controller::new("owner", store(&["ns/a", "ns/b"]))
        .reconciler(logged(&log, |_| async { done() }))
        .owns(children.clone());
    let running = spawn_controller!(controller);
    sleep(ms(100)).await;
    let child = |progress| Child {
        name: "a-sync",
        owner_kind: "Obj",
        owner: "a",
        progress,
    };
    children.apply(child(1));
    sleep(ms(100)).await;
    children.apply(child(2));
    sleep(ms(100)).await;
    // Owned by another kind: nobody of ours is woken.
    children.apply(Child {
        name: "foreign",
        owner_kind: "Other",
        owner: "b",
        progress: 0,
    });
    sleep(ms(100)).await;
    // A deleted child wakes the owner its last state named.
    children.delete(&ObjectKey::namespaced("ns", "a-sync"));
    sleep(ms(100)).await;
    running.stop().await;

    assert_eq!(log.starts_of("ns/a"), [0, 100, 200, 400]);
    assert_eq!(log.starts_of("ns/b"), [0], "b owns nothing that changed");
    assert_eq!(children.len(), 1);
    assert_eq!(
        children
            .get(&ObjectKey::namespaced("ns", "foreign"))
            .unwrap()
            .progress,
        0
    );
}

/// A child that was in the store before the controller started (a cache listed before the
/// controller subscribed) and is deleted later still wakes its owner.
#[tokio::test(start_paused = true)]
async fn deleting_a_child_listed_before_the_start_should_reconcile_its_owner() {
    let log = Log::new();
    let children = MemoryStore::new();
    children.apply(Child {
        name: "a-sync",
        owner_kind: "Obj",
        owner: "a",
        progress: 1,
    });
    let controller = Controller::new("owner", store(&["ns/a", "ns/b"]))
        .reconciler(logged(&log, |_| async { done() }))
        .owns(children.clone());
    let running = spawn_controller!(controller);
    sleep(ms(100)).await;
    children.delete(&ObjectKey::namespaced("ns", "a-sync"));
    sleep(ms(100)).await;
    running.stop().await;

    assert_eq!(log.starts_of("ns/a"), [0, 100]);
    assert_eq!(log.starts_of("ns/b"), [0]);
}

#[tokio::test(start_paused = true)]
async fn resync_should_reenqueue_every_object() {
    let log = Log::new();
    let controller = Controller::new("resync", store(&["a", "b"]))
        .reconciler(logged(&log, |_| async { done() }))
        .resync(Some(secs(10)))
        .unwrap();
    let running = spawn_controller!(controller);
    sleep(secs(25)).await;
    running.stop().await;

    assert_eq!(log.starts_of("a"), [0, 10_000, 20_000]);
    assert_eq!(log.starts_of("b"), [0, 10_000, 20_000]);
}

// ---------------------------------------------------------------------------------------
// Tower

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

// ---------------------------------------------------------------------------------------
// Shutdown

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

// ---------------------------------------------------------------------------------------
// Configuration

#[test]
fn invalid_settings_should_be_refused_naming_the_field() {
    let c = || Controller::new("config", store(&[]));
    let message = |e: tmc_runtime::ConfigError| e.to_string();
    assert_eq!(
        message(c().concurrency(0).unwrap_err()),
        "invalid `concurrency`: must be at least 1"
    );
    assert!(message(c().timeout(Some(Duration::ZERO)).unwrap_err()).contains("`timeout`"));
    assert!(message(c().resync(Some(Duration::ZERO)).unwrap_err()).contains("`resync`"));
    let bad = Backoff {
        factor: 0.5,
        ..Backoff::default()
    };
    assert!(message(c().backoff(bad).unwrap_err()).contains("`backoff.factor`"));
    assert!(c().timeout(None).is_ok());
}

// ---------------------------------------------------------------------------------------
// Metrics

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
