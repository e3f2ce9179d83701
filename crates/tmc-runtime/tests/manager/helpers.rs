//! The harness shared by the Manager specifications: a test resource and store, a reconciler
//! that records what it sees, a Manager run in the background.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_runtime::{
    Action, Manager, ManagerReport, MemoryStore, ObjectKey, ReconcileRequest, Resource,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};
use tower::Service;

#[derive(Debug)]
pub(crate) struct Obj(pub(crate) ObjectKey);

impl Resource for Obj {
    fn key(&self) -> ObjectKey {
        self.0.clone()
    }
}

pub(crate) fn key(k: &str) -> ObjectKey {
    ObjectKey::from(k)
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn memory(keys: &[&str]) -> MemoryStore<Obj> {
    let store = MemoryStore::new();
    for k in keys {
        store.apply(Obj(key(k)));
    }
    store
}

/// What the reconciler did: `"<ms> start <key> attempt <n>"` and `"<ms> end <key>"` in the
/// log (times since the test began), `"start <key>"` and `"end <key>"` on the channel. A
/// reconcile cut off has no `end`.
pub(crate) struct Ctx {
    pub(crate) t0: Instant,
    pub(crate) log: Mutex<Vec<String>>,
    pub(crate) events: mpsc::UnboundedSender<String>,
    /// How long a key's reconcile takes; zero when absent.
    pub(crate) work: HashMap<ObjectKey, Duration>,
    /// Whether a key's first attempt fails.
    pub(crate) fail_first: bool,
}

impl Ctx {
    pub(crate) fn new(work: &[(&str, u64)]) -> (Arc<Self>, mpsc::UnboundedReceiver<String>) {
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

    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

pub(crate) fn reconciler(
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
pub(crate) async fn expect(events: &mut mpsc::UnboundedReceiver<String>, expected: &[&str]) {
    for e in expected {
        assert_eq!(events.recv().await.unwrap(), *e);
    }
}

pub(crate) fn spawn_run(manager: Manager) -> (oneshot::Sender<()>, JoinHandle<ManagerReport>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(manager.run(async move {
        let _ = stopped.await;
    }));
    (stop, run)
}
