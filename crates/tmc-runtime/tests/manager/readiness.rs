//! Readiness: a controller reconciles nothing until its store (and the stores it watches) are
//! ready; a shutdown before then reports it never started.

use crate::helpers::*;
use std::sync::Arc;
use tmc_runtime::{Event, Manager, MemoryStore, ObjectKey, Ready, Store};
use tokio::sync::{mpsc, watch};
use tokio::time::sleep;

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
