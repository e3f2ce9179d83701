//! Controller runtime throughput and queue memory: `cargo bench --bench runtime`.
//!
//! - `memory`: 100,000 distinct keys enqueued through a `ControllerHandle` of a controller
//!   that is not running (so every key stays queued); the resident set size
//!   (`VmRSS` of `/proc/self/status`) before and after, divided by the key count. Measured
//!   first, before anything else has grown or freed heap, and it includes the keys' own
//!   text and the allocator's overhead: the real cost per queued key.
//! - `throughput`: a store of 100,000 objects, a no-op reconciler (`reconciler_fn`) and a
//!   private metrics registry; `Controller::run` lists the store, queues every key and
//!   reconciles them all on a 2-thread tokio runtime at concurrency 1, 8 and 64. The time
//!   runs from the start of `run` to the last reconcile; the median of 3 runs is printed.
//!
//! Targets (2 cores): at least 100,000 no-op reconciles/s, at most 256 bytes per queued key.

#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to measure

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tmc_metrics::Metrics;
use tmc_runtime::{Action, Controller, MemoryStore, ObjectKey, Resource, reconciler_fn};
use tokio::sync::Notify;

const KEYS: usize = 100_000;
const RUNS: usize = 3;
const TARGET_RATE: f64 = 100_000.0;
const TARGET_BYTES: u64 = 256;

struct Item(ObjectKey);

impl Resource for Item {
    fn key(&self) -> ObjectKey {
        self.0.clone()
    }
}

fn key(i: usize) -> ObjectKey {
    ObjectKey::namespaced("default", &format!("object-{i:06}"))
}

/// Resident set size in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

fn memory_per_queued_key() -> u64 {
    let controller = Controller::<Item>::new("bench-memory", MemoryStore::new());
    let handle = controller.handle();
    let before = rss();
    for i in 0..KEYS {
        handle.enqueue(key(i));
    }
    let after = rss();
    drop(controller);
    drop(handle);
    (after.saturating_sub(before)) / KEYS as u64
}

struct Ctx {
    done: AtomicUsize,
    finished: Notify,
}

async fn noop(_item: Arc<Item>, ctx: Arc<Ctx>) -> Result<Action, Infallible> {
    if ctx.done.fetch_add(1, Ordering::Relaxed) + 1 == KEYS {
        ctx.finished.notify_one();
    }
    Ok(Action::await_change())
}

fn reconciles_per_second(store: &MemoryStore<Item>, concurrency: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = Metrics::builder().build().expect("metrics");
    let ctx = Arc::new(Ctx {
        done: AtomicUsize::new(0),
        finished: Notify::new(),
    });
    let controller = Controller::new("bench", store.clone())
        .reconciler(reconciler_fn(noop, Arc::clone(&ctx)))
        .concurrency(concurrency)
        .expect("concurrency")
        .metrics(metrics.collector());
    let started = Instant::now();
    let report = runtime.block_on(controller.run(ctx.finished.notified()));
    let elapsed = started.elapsed();
    assert_eq!(ctx.done.load(Ordering::Relaxed), KEYS);
    assert!(report.is_clean());
    assert!(metrics.render().contains(&format!(
        r#"controller_runtime_reconcile_total{{controller="bench",result="success"}} {KEYS}"#
    )));
    KEYS as f64 / elapsed.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let bytes = memory_per_queued_key();
    println!(
        "memory: {bytes} bytes per queued key ({KEYS} keys, RSS delta; target <= {TARGET_BYTES}: {})",
        if bytes <= TARGET_BYTES {
            "ok"
        } else {
            "MISSED"
        }
    );

    let store = MemoryStore::new();
    for i in 0..KEYS {
        store.apply(Item(key(i)));
    }
    // Warm-up: page in the allocator and the runtime.
    reconciles_per_second(&store, 8);
    for concurrency in [1, 8, 64] {
        let rates: Vec<f64> = (0..RUNS)
            .map(|_| reconciles_per_second(&store, concurrency))
            .collect();
        let rate = median(rates);
        println!(
            "throughput: concurrency {concurrency:>2}: {rate:>9.0} no-op reconciles/s \
             ({KEYS} keys, median of {RUNS}; target >= {TARGET_RATE:.0}: {})",
            if rate >= TARGET_RATE { "ok" } else { "MISSED" }
        );
    }
}
