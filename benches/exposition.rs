//! Exposition cost: `cargo bench --bench exposition`.
//!
//! Both renderers are fed the same recorded state in one process: our registry
//! (`Metrics::render`) and `metrics-exporter-prometheus` configured from the same catalog
//! (`tmc_metrics::prometheus`). The state is `N` counters of
//! `tmc_component_operations_total` and `N` histograms of
//! `datamover_phase_duration_seconds` (18 buckets: 21 lines each), so about 22·N lines:
//! N = 450 gives ~10,000 lines, N = 5,000 ~110,000 (the state the issue measured).
//!
//! The protobuf exposition (`Metrics::render_bytes(Format::Protobuf)`) of the same state is
//! timed too, with the native histograms `datamover_phase_duration_seconds` has by default
//! beside its classic buckets; against the exporter's `render_protobuf` (classic buckets only,
//! as it is configured from the catalog) when the bench is built with
//! `--features bench-exporter-protobuf` (its prost-build needs `protoc`, Debian's
//! `protobuf-compiler`). Last, one observation into a histogram with a native histogram and
//! into one without: criterion's `observe` group, and first the fastest of interleaved timings
//! of each side, which holds up on a loaded machine (`docs/benchmarks.md`).
//!
//! Before the criterion groups run, the bench prints, for each size, the median of a few
//! renders of each side and their ratio, and the memory each side holds per series: the
//! growth of the resident set of a child process that records `MEMORY_N` counters and as many
//! histograms into one side only, divided by the number of series (label sets).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to measure

use criterion::{Criterion, criterion_group};
use metrics::{Key, KeyName, Label, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};
use tmc_metrics::catalog::{DATAMOVER_PHASE_DURATION_SECONDS, TMC_COMPONENT_OPERATIONS_TOTAL};
use tmc_metrics::{Format, Metrics};

/// Set in a child process of this bench: measure the memory of one side alone.
const MEMORY_ENV: &str = "TMC_EXPOSITION_MEMORY";

/// Set to `ratio` to print only the interleaved observation timings, or to `classic:N` or
/// `native:N` to record `N` rounds of the 1,024 values into one side and exit: two runs under
/// `valgrind --tool=callgrind` with different `N` give the instructions of one observation.
const OBSERVE_ENV: &str = "TMC_EXPOSITION_OBSERVE";

/// Series (label sets) per side in the memory measurement: large enough that the resident
/// set's growth is the state's, not the allocator's slack.
const MEMORY_N: usize = 20_000;

const METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new("exposition", metrics::Level::INFO, None);

/// Records the same state into `recorder`: `n` counters and `n` histograms, each histogram
/// with three observations.
fn record(recorder: &dyn Recorder, n: usize) {
    for i in 0..n {
        let id = format!("syncer-{i}");
        let counter = Key::from_parts(
            KeyName::from_const_str(TMC_COMPONENT_OPERATIONS_TOTAL.name),
            vec![
                Label::new("component_type", "SyncTargetController"),
                Label::new("component_id", id.clone()),
                Label::new("operation", "sync-deployment"),
                Label::new("status", "success"),
            ],
        );
        recorder
            .register_counter(&counter, &METADATA)
            .increment(i as u64 + 1);
        let histogram = Key::from_parts(
            KeyName::from_const_str(DATAMOVER_PHASE_DURATION_SECONDS.name),
            vec![
                Label::new("phase", "CreatingPod"),
                Label::new("namespace", format!("team-{i}")),
            ],
        );
        let h = recorder.register_histogram(&histogram, &METADATA);
        for v in [0.3, 7.0, 700.0] {
            h.record(v);
        }
    }
}

fn ours(n: usize) -> Metrics {
    let metrics = Metrics::builder()
        .upkeep_interval(None)
        .max_series_per_family(1_000_000)
        .expect("cap")
        .build()
        .expect("metrics");
    record(&*metrics.recorder(), n);
    metrics
}

fn exporter(n: usize) -> (impl Recorder, PrometheusHandle) {
    let recorder = tmc_metrics::prometheus::configure(PrometheusBuilder::new())
        .expect("catalog buckets")
        .build_recorder();
    tmc_metrics::prometheus::describe(&recorder);
    record(&recorder, n);
    let handle = recorder.handle();
    (recorder, handle)
}

fn median(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..7 {
        let start = Instant::now();
        bytes = black_box(f());
        times.push(start.elapsed());
    }
    times.sort();
    (times[times.len() / 2], bytes)
}

/// The resident set of this process, in bytes (Linux).
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// In the child: builds one side's state and prints its resident-set growth per series.
fn measure_memory(side: &str) {
    let before = rss();
    let bytes = match side {
        "ours" => {
            let metrics = ours(MEMORY_N);
            let grown = rss() - before;
            black_box(metrics);
            grown
        }
        _ => {
            let (recorder, handle) = exporter(MEMORY_N);
            // The exporter queues histogram samples until upkeep folds them into buckets;
            // measure it folded, as it is between scrapes with its upkeep running.
            handle.run_upkeep();
            let grown = rss() - before;
            black_box((recorder, handle));
            grown
        }
    };
    println!("{}", bytes / (2 * MEMORY_N));
}

/// Bytes per series of `side`, measured in a child process of its own.
fn memory_per_series(side: &str) -> String {
    let exe = std::env::current_exe().expect("bench executable");
    let out = Command::new(exe)
        .env(MEMORY_ENV, side)
        .output()
        .expect("run the memory measurement");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Prints render times and their ratio, measured in this run.
fn report(n: usize) {
    let metrics = ours(n);
    let (_recorder, handle) = exporter(n);
    handle.run_upkeep();
    let text = metrics.render();
    let lines = text.lines().count();
    assert_eq!(
        lines,
        handle.render().lines().filter(|l| !l.is_empty()).count(),
        "both sides render the same series"
    );
    let (t_ours, _) = median(|| metrics.render().len());
    let (t_exporter, _) = median(|| handle.render().len());
    println!(
        "exposition n={n} lines={lines}: ours {t_ours:?}, exporter {t_exporter:?}, ours is {:.1}x faster",
        t_exporter.as_secs_f64() / t_ours.as_secs_f64(),
    );
    let (t_proto, bytes) = median(|| metrics.render_bytes(Format::Protobuf).len());
    print!("protobuf n={n}: ours {t_proto:?} ({bytes} bytes, with native histograms)");
    #[cfg(feature = "bench-exporter-protobuf")]
    {
        let (t_theirs, theirs) = median(|| handle.render_protobuf().len());
        print!(
            ", exporter {t_theirs:?} ({theirs} bytes, classic only), ours is {:.1}x faster",
            t_theirs.as_secs_f64() / t_proto.as_secs_f64()
        );
    }
    println!();
}

/// Observed values for the observation bench: 0.1 s to 1000 s, log-uniform, so the native
/// side touches many buckets as a real workload does.
fn values() -> Vec<f64> {
    (0..1024)
        .map(|i| 0.1 * 10f64.powf(4.0 * f64::from(i) / 1024.0))
        .collect()
}

/// A `datamover_phase_duration_seconds` handle in a registry with (`native`) or without
/// the family's native histogram.
fn phase_histogram(native: bool) -> (Metrics, metrics::Histogram) {
    let mut builder = Metrics::builder().upkeep_interval(None);
    if !native {
        builder = builder
            .native_histogram(DATAMOVER_PHASE_DURATION_SECONDS.name, None)
            .expect("name");
    }
    let metrics = builder.build().expect("metrics");
    let key = Key::from_parts(
        KeyName::from_const_str(DATAMOVER_PHASE_DURATION_SECONDS.name),
        vec![
            Label::new("phase", "CreatingPod"),
            Label::new("namespace", "team-0"),
        ],
    );
    let h = metrics.recorder().register_histogram(&key, &METADATA);
    (metrics, h)
}

/// Prints the cost of one observation with and without the native histogram: the fastest of
/// `TRIALS` timings of each side, interleaved (classic, native, classic, ...), so load from
/// other processes on the machine, which only ever adds time, falls on both sides alike and
/// the minimum is what the code costs.
fn report_observation() {
    const TRIALS: usize = 40;
    const ROUNDS: usize = 200;
    let values = values();
    let sides = [phase_histogram(false), phase_histogram(true)];
    let mut best = [f64::MAX; 2];
    for _ in 0..TRIALS {
        for (side, (_metrics, h)) in sides.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                for v in &values {
                    h.record(black_box(*v));
                }
            }
            let ns = start.elapsed().as_secs_f64() * 1e9 / (ROUNDS * values.len()) as f64;
            best[side] = best[side].min(ns);
        }
    }
    let [classic, native] = best;
    println!(
        "observation (fastest of {TRIALS} interleaved): classic only {classic:.2} ns, \
         with native histogram {native:.2} ns, {:.2}x",
        native / classic
    );
}

/// What [`OBSERVE_ENV`] asks for.
fn observe_only(what: &str) {
    if what == "ratio" {
        report_observation();
        return;
    }
    let (side, rounds) = what.split_once(':').expect("classic:N, native:N or ratio");
    let rounds: usize = rounds.parse().expect("N: a number of rounds");
    let values = values();
    let (_metrics, h) = phase_histogram(side == "native");
    for _ in 0..rounds {
        for v in &values {
            h.record(black_box(*v));
        }
    }
}

fn exposition(c: &mut Criterion) {
    for n in [450, 5_000] {
        report(n);
    }
    report_observation();
    println!(
        "memory per series ({MEMORY_N} counters + {MEMORY_N} histograms, resident set growth): \
         ours {} B, exporter {} B",
        memory_per_series("ours"),
        memory_per_series("exporter"),
    );
    for n in [450, 5_000] {
        let metrics = ours(n);
        let lines = metrics.render().lines().count();
        let mut group = c.benchmark_group(format!("render/{}k_lines", (lines + 500) / 1000));
        group.sample_size(10);
        let (_recorder, handle) = exporter(n);
        handle.run_upkeep();
        group.bench_function("tmc_metrics", |b| b.iter(|| metrics.render()));
        group.bench_function("metrics_exporter_prometheus", |b| {
            b.iter(|| handle.render());
        });
        group.finish();
        let mut group = c.benchmark_group(format!("protobuf/{}k_lines", (lines + 500) / 1000));
        group.sample_size(10);
        group.bench_function("tmc_metrics", |b| {
            b.iter(|| metrics.render_bytes(Format::Protobuf));
        });
        #[cfg(feature = "bench-exporter-protobuf")]
        group.bench_function("metrics_exporter_prometheus", |b| {
            b.iter(|| handle.render_protobuf());
        });
        group.finish();
    }
    let mut group = c.benchmark_group("observe");
    let values = values();
    for (name, native) in [("classic_only", false), ("with_native", true)] {
        let (_metrics, h) = phase_histogram(native);
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                h.record(black_box(values[i]));
            });
        });
    }
    group.finish();
}

criterion_group!(benches, exposition);

fn main() {
    if let Ok(side) = std::env::var(OBSERVE_ENV) {
        observe_only(&side);
        return;
    }
    if let Ok(side) = std::env::var(MEMORY_ENV) {
        measure_memory(&side);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
