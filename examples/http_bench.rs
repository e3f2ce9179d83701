//! The HTTP overhead benchmark server: `cargo run --release --example http_bench --
//! --variant <bare|noop-layer|tmc|tmc-nospans|tmc-outer|axum-prometheus> --bind 127.0.0.1:PORT`, then load
//! `GET /hello/{id}`.
//!
//! Every variant serves the same three routes, `GET /hello/{id}`, `GET /bye/{id}` (the same
//! handler, for loads that alternate between two routes) and `GET /metrics`, so the
//! differences are the middleware alone.
//!
//! - `bare`: axum with no middleware, the limit.
//! - `tmc`: `ApiMetricsLayer` added with `Router::layer` (inside the router), plus `/metrics`.
//!   Its `api_request` spans are on (the default), with no subscriber: nobody wants them.
//! - `tmc-nospans`: the same with `ApiMetricsLayer::spans(false)`, so `tmc` minus
//!   `tmc-nospans` is what the spans cost when no subscriber wants them.
//! - `tmc-outer`: `ApiMetricsLayer` in outer mode: wrapping the whole router, the route
//!   template from the `RouteTable` that `ApiRoutes` built with the router, plus `/metrics`.
//! - `noop-layer`: a `Router::layer` that does nothing: what axum's per-route layering costs
//!   any middleware before it does any work (a floor, for reading the other figures).
//! - `axum-prometheus`: the axum-prometheus crate's `PrometheusMetricLayer::pair()` plus
//!   `/metrics`, the layer users pick today.
//!
//! The registry's upkeep (advancing the coarse clock the idle stamps read) runs every 1,024
//! requests instead of on the default 5-second thread, so it lands at points fixed by the
//! request count, never at a wall-clock moment.
//!
//! `--worker-threads N` sets the runtime's threads (1: a current-thread runtime);
//! `--exit-after N` exits cleanly after serving N requests to `/hello` or `/bye`;
//! `--mark A,B` calls [`callgrind_mark`] at the A-th and at the B-th of them, so that
//! `valgrind --tool=callgrind --dump-after='*callgrind_mark*'` writes the instructions of
//! exactly B - A request cycles to its second dump: start-up (quanta's wall-clock-bounded TSC
//! calibration, the runtime, the listener) and shutdown stay out of the count. Used by
//! `benches/http_overhead.sh` and `benches/http_instructions.sh`.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tmc_tower::api::{ApiMetricsLayer, ApiRoutes};
use tokio::sync::Notify;

const VARIANTS: [&str; 6] = [
    "bare",
    "noop-layer",
    "tmc",
    "tmc-nospans",
    "tmc-outer",
    "axum-prometheus",
];

struct Args {
    variant: String,
    bind: SocketAddr,
    worker_threads: usize,
    exit_after: Option<u64>,
    marks: [u64; 2],
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        variant: String::new(),
        bind: ([127, 0, 0, 1], 8081).into(),
        worker_threads: 2,
        exit_after: None,
        marks: [0; 2],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--variant" => args.variant = value()?,
            "--bind" => args.bind = value()?.parse().map_err(|e| format!("--bind: {e}"))?,
            "--worker-threads" => {
                args.worker_threads = value()?
                    .parse()
                    .map_err(|e| format!("--worker-threads: {e}"))?;
            }
            "--exit-after" => {
                args.exit_after = Some(value()?.parse().map_err(|e| format!("--exit-after: {e}"))?);
            }
            "--mark" => {
                let v = value()?;
                let parsed = v
                    .split_once(',')
                    .and_then(|(a, b)| Some([a.parse().ok()?, b.parse().ok()?]));
                match parsed {
                    Some([a, b]) if 0 < a && a < b => args.marks = [a, b],
                    _ => {
                        return Err(format!(
                            "--mark {v}: give two request numbers A,B with 0 < A < B"
                        ));
                    }
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if !VARIANTS.contains(&args.variant.as_str()) {
        return Err(format!("--variant must be one of {}", VARIANTS.join(", ")));
    }
    if args.worker_threads == 0 {
        return Err("--worker-threads must be at least 1".into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse().map_err(|e| format!("{e}\nusage: http_bench --variant <bare|noop-layer|tmc|tmc-nospans|tmc-outer|axum-prometheus> [--bind ADDR] [--worker-threads N] [--exit-after N] [--mark A,B]"))?;
    let runtime = if args.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.worker_threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(serve(args))
}

/// Marks a point of the run for callgrind (`--dump-after='*callgrind_mark*'` dumps the
/// counts as this returns, and starts counting again from zero). Never inlined, so the
/// symbol exists; does nothing else.
#[inline(never)]
fn callgrind_mark(n: u64) {
    std::hint::black_box(n);
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let served = Arc::new(AtomicU64::new(0));
    let done = Arc::new(Notify::new());
    let (limit, counter, notify) = (
        args.exit_after.unwrap_or(u64::MAX),
        served.clone(),
        done.clone(),
    );
    let metrics = tmc_metrics::Metrics::builder()
        .upkeep_interval(None)
        .build()?;
    let upkeep = args.variant.starts_with("tmc").then(|| metrics.clone());
    let marks = args.marks;
    let hello = get(move |Path(id): Path<u32>| {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        if marks.contains(&n) {
            callgrind_mark(n);
        }
        if n == limit {
            notify.notify_one();
        }
        if n % 1024 == 0
            && let Some(metrics) = &upkeep
        {
            metrics.run_upkeep();
        }
        async move {
            let _ = id;
            "hello"
        }
    });
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    eprintln!(
        "http_bench {} listening on {}",
        args.variant,
        listener.local_addr()?
    );
    let shutdown = async move { done.notified().await };
    let app: Router = match args.variant.as_str() {
        "bare" => Router::new()
            .route("/hello/{id}", hello.clone())
            .route("/bye/{id}", hello.clone())
            .route("/metrics", tmc_tower::axum::metrics_route(metrics.clone())),
        "noop-layer" => Router::new()
            .route("/hello/{id}", hello.clone())
            .route("/bye/{id}", hello.clone())
            .route("/metrics", tmc_tower::axum::metrics_route(metrics.clone()))
            .layer(tower::layer::layer_fn(|s| s)),
        "tmc" => Router::new()
            .route("/hello/{id}", hello.clone())
            .route("/bye/{id}", hello.clone())
            .route("/metrics", tmc_tower::axum::metrics_route(metrics.clone()))
            .layer(ApiMetricsLayer::new(&metrics)),
        "tmc-nospans" => Router::new()
            .route("/hello/{id}", hello.clone())
            .route("/bye/{id}", hello.clone())
            .route("/metrics", tmc_tower::axum::metrics_route(metrics.clone()))
            .layer(ApiMetricsLayer::new(&metrics).spans(false)),
        "tmc-outer" => {
            let app = ApiRoutes::new()
                .route("/hello/{id}", hello.clone())
                .route("/bye/{id}", hello.clone())
                .route("/metrics", tmc_tower::axum::metrics_route(metrics.clone()))
                .instrument(ApiMetricsLayer::new(&metrics))?;
            axum::serve(listener, app.into_make_service())
                .with_graceful_shutdown(shutdown)
                .await?;
            eprintln!("served {} requests", served.load(Ordering::Relaxed));
            return Ok(());
        }
        _ => {
            let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
            Router::new()
                .route("/hello/{id}", hello.clone())
                .route("/bye/{id}", hello.clone())
                .route("/metrics", get(move || std::future::ready(handle.render())))
                .layer(layer)
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    eprintln!("served {} requests", served.load(Ordering::Relaxed));
    Ok(())
}
