//! The harness shared by the controller specifications: a test resource and store, a
//! reconciler that logs every call, and a controller running in the background.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_metrics::Metrics;
use tmc_runtime::{
    Action, Backoff, MemoryStore, ObjectKey, ReconcileRequest, Resource, ShutdownReport,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::Service;

#[derive(Debug)]
pub(crate) struct Obj {
    pub(crate) key: ObjectKey,
    pub(crate) version: u32,
}

impl Resource for Obj {
    const KIND: &'static str = "Obj";

    fn key(&self) -> ObjectKey {
        self.key.clone()
    }
}

pub(crate) fn obj(key: &str, version: u32) -> Obj {
    Obj {
        key: ObjectKey::from(key),
        version,
    }
}

pub(crate) fn store(keys: &[&str]) -> MemoryStore<Obj> {
    let store = MemoryStore::new();
    for k in keys {
        store.apply(obj(k, 1));
    }
    store
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestError(pub(crate) &'static str);

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One reconcile as the reconciler saw it; times in milliseconds since the test began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) key: String,
    pub(crate) attempt: u32,
    pub(crate) version: u32,
    pub(crate) start: u64,
    pub(crate) end: Option<u64>,
}

/// Records every call, how many run at once, and any overlap of one key with itself.
#[derive(Clone)]
pub(crate) struct Log {
    t0: Instant,
    pub(crate) calls: Arc<Mutex<Vec<Call>>>,
    pub(crate) running: Arc<Mutex<HashMap<String, usize>>>,
    now_running: Arc<AtomicUsize>,
    pub(crate) max_running: Arc<AtomicUsize>,
    pub(crate) overlaps: Arc<AtomicUsize>,
}

impl Log {
    pub(crate) fn new() -> Self {
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

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub(crate) fn calls_of(&self, key: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.key == key).collect()
    }

    pub(crate) fn starts_of(&self, key: &str) -> Vec<u64> {
        self.calls_of(key).iter().map(|c| c.start).collect()
    }

    pub(crate) fn attempts_of(&self, key: &str) -> Vec<u32> {
        self.calls_of(key).iter().map(|c| c.attempt).collect()
    }
}

/// Ends a call when dropped: on return, on panic, and on cancellation.
struct Guard {
    pub(crate) log: Log,
    index: usize,
    pub(crate) key: String,
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
pub(crate) fn logged<F, Fut>(
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

pub(crate) fn done() -> Result<Action, TestError> {
    Ok(Action::await_change())
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn no_jitter(initial: u64, max: u64) -> Backoff {
    Backoff {
        initial: secs(initial),
        max: secs(max),
        factor: 2.0,
        jitter: 0.0,
    }
}

pub(crate) fn metrics() -> Metrics {
    Metrics::builder().upkeep_interval(None).build().unwrap()
}

/// A controller running in the background until `stop`.
pub(crate) struct Running {
    pub(crate) stop: oneshot::Sender<()>,
    task: JoinHandle<ShutdownReport>,
}

impl Running {
    pub(crate) fn start<F>(run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: Future<Output = ShutdownReport> + Send + 'static,
    {
        let (stop, rx) = oneshot::channel();
        Self {
            stop,
            task: tokio::spawn(run(rx)),
        }
    }

    pub(crate) async fn stop(self) -> ShutdownReport {
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
pub(crate) fn series(text: &str, families: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.contains("_bucket{"))
        .filter(|l| families.iter().any(|f| l.starts_with(f)))
        .map(str::to_owned)
        .collect()
}

// The macro, by path, for the modules that `use crate::helpers::*`.
pub(crate) use spawn_controller;
