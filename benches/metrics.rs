//! Hot-path costs of recording: `cargo bench --bench metrics`.
//!
//! - `tracked_operation/start_success`: one operation with labels resolved once
//!   (`Operation::start` then `success`): clock reads, one counter, one histogram sample.
//! - `counter/increment_cached`: one increment of a counter handle kept by the caller.
//! - `counter/lookup_and_increment`: the same counter found by its labels on every call,
//!   the cost the cached handle avoids.
//! - `clock/quanta_now`, `histogram/record_cached`: the parts of a tracked operation.

#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to measure

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tmc_metrics::Metrics;

fn recording(c: &mut Criterion) {
    let metrics = Metrics::builder().build().expect("metrics");
    let collector = metrics.collector();

    let op = collector.operation("SyncTargetController", "syncer-1", "sync-deployment");
    c.bench_function("tracked_operation/start_success", |b| {
        b.iter(|| black_box(op.start()).success());
    });

    let counter = collector.counter(
        &tmc_metrics::catalog::TMC_COMPONENT_OPERATIONS_TOTAL,
        [
            "SyncTargetController",
            "syncer-1",
            "sync-deployment",
            "success",
        ],
    );
    c.bench_function("counter/increment_cached", |b| {
        b.iter(|| black_box(&counter).increment(1));
    });

    c.bench_function("counter/lookup_and_increment", |b| {
        b.iter(|| {
            collector.record_component_operation(
                black_box("SyncTargetController"),
                "syncer-1",
                "sync-deployment",
                "success",
            );
        });
    });
    // The parts of a tracked operation: the clock read (twice per operation) and one
    // histogram observation.
    c.bench_function("clock/quanta_now", |b| b.iter(quanta::Instant::now));
    let histogram = collector.histogram(
        &tmc_metrics::catalog::TMC_COMPONENT_OPERATION_DURATION_SECONDS,
        ["SyncTargetController", "syncer-1", "sync-deployment"],
    );
    c.bench_function("histogram/record_cached", |b| {
        b.iter(|| black_box(&histogram).record(black_box(0.004)));
    });

    // Keep histogram memory bounded over the run, as the upkeep thread would.
    metrics.run_upkeep();
}

criterion_group!(benches, recording);
criterion_main!(benches);
