//! `run` and `demo`: the store, the controller, the metrics endpoint and the API.

use crate::api::{self, ApiState};
use datamover::backend::Embedded;
use datamover::reconciler::{self, Context};
use datamover::store::{DataMovers, EmbeddedStore};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tmc_metrics::Metrics;
use tmc_runtime::{Backoff, Controller, reconciler_fn};

/// Flags of `run` and `demo` (each also read from the environment).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RunArgs {
    /// Where objects and volumes live.
    #[arg(long, env = "DATAMOVER_DATA_DIR", default_value = "datamover-data")]
    pub(crate) data_dir: PathBuf,
    /// The metrics endpoint (`/metrics`, `/healthz`, `/readyz`).
    #[arg(
        long,
        env = "DATAMOVER_METRICS_BIND_ADDRESS",
        default_value = "127.0.0.1:8080"
    )]
    pub(crate) metrics_bind_address: SocketAddr,
    /// The resource API used by `apply`, `get`, `describe`, `delete`.
    #[arg(
        long,
        env = "DATAMOVER_API_BIND_ADDRESS",
        default_value = "127.0.0.1:8081"
    )]
    pub(crate) api_bind_address: SocketAddr,
    /// DataMovers reconciled at once.
    #[arg(long, env = "DATAMOVER_CONCURRENCY", default_value_t = 4)]
    pub(crate) concurrency: usize,
    /// The rclone binary.
    #[arg(long, env = "DATAMOVER_RCLONE", default_value = "rclone")]
    pub(crate) rclone: PathBuf,
    /// Wait after the first failed sync attempt, in seconds; doubled after each.
    #[arg(long, env = "DATAMOVER_JOB_BACKOFF_SECONDS", default_value_t = 10.0)]
    pub(crate) job_backoff_seconds: f64,
}

pub(crate) fn run(args: RunArgs, demo: bool) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if !(args.job_backoff_seconds.is_finite() && args.job_backoff_seconds >= 0.0) {
        return Err(format!(
            "--job-backoff-seconds {}: give a number of seconds >= 0",
            args.job_backoff_seconds
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(args, demo))
}

async fn check_rclone(rclone: &PathBuf) -> Result<String, String> {
    let out = tokio::process::Command::new(rclone)
        .arg("version")
        .output()
        .await
        .map_err(|e| format!("rclone not found at {:?}: {e}; install it (apt-get install rclone) or pass --rclone PATH", rclone.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or("rclone").to_owned())
}

async fn bind(addr: SocketAddr, what: &str, flag: &str) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr} for the {what}: {e} (pass {flag} to use another address)")
    })
}

async fn serve(args: RunArgs, demo: bool) -> Result<(), String> {
    let version = check_rclone(&args.rclone).await?;
    let volumes = args.data_dir.join("volumes");
    std::fs::create_dir_all(&volumes).map_err(|e| {
        format!(
            "--data-dir {}: cannot create {}: {e}",
            args.data_dir.display(),
            volumes.display()
        )
    })?;
    let store_path = args.data_dir.join("store.redb");
    let store = Arc::new(EmbeddedStore::open(&store_path).map_err(|e| {
        format!(
            "--data-dir {}: {e} (is another datamover-operator using it?)",
            args.data_dir.display()
        )
    })?);
    let metrics_listener = bind(
        args.metrics_bind_address,
        "metrics endpoint",
        "--metrics-bind-address",
    )
    .await?;
    let api_listener = bind(args.api_bind_address, "resource API", "--api-bind-address").await?;
    let metrics = Metrics::builder().install().map_err(|e| e.to_string())?;

    let cluster = Arc::new(Embedded {
        store: store.clone(),
        volumes: volumes.clone(),
        rclone: args.rclone.clone(),
    });
    let ctx = Arc::new(Context {
        cluster,
        metrics: metrics.collector(),
        job_backoff: Duration::from_secs_f64(args.job_backoff_seconds),
    });
    let reconcile = tmc_tower::operation::instrument_reconcile(
        metrics
            .collector()
            .operation("DataMoverController", "datamover", "reconcile"),
        reconciler::reconcile,
    );
    let controller = Controller::new("datamover", DataMovers(store.clone()))
        .reconciler(reconciler_fn(reconcile, ctx))
        .concurrency(args.concurrency)
        .map_err(|e| e.to_string())?
        .backoff(Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(300),
            factor: 2.0,
            jitter: 0.1,
        })
        .map_err(|e| e.to_string())?
        .metrics(metrics.collector())
        .shutdown_deadline(Duration::from_secs(5));

    let ready = Arc::new(AtomicBool::new(false));
    let metrics_app = metrics_router(metrics.clone(), ready.clone());
    let api_app = api::router(ApiState {
        store: store.clone(),
        volumes,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let metrics_server = tokio::spawn(
        axum::serve(metrics_listener, metrics_app)
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );
    let api_server = tokio::spawn(
        axum::serve(api_listener, api_app)
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );
    tracing::info!(
        data_dir = %args.data_dir.display(),
        metrics = %format!("http://{}/metrics", args.metrics_bind_address),
        api = %format!("http://{}", args.api_bind_address),
        rclone = %version,
        "datamover-operator started"
    );
    ready.store(true, Ordering::SeqCst);
    let controller_task = tokio::spawn(controller.run(stopped(stop_rx.clone())));
    if demo {
        crate::demo::run(&args, &store).await?;
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight reconciles (5 s at most)");
    let _ = stop_tx.send(true);
    let report = controller_task.await.map_err(|e| e.to_string())?;
    if !report.cut_off.is_empty() {
        tracing::warn!(cut_off = ?report.cut_off, "reconciles cut off at shutdown; they resume on the next start");
    }
    let _ = metrics_server.await;
    let _ = api_server.await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn metrics_router(metrics: Metrics, ready: Arc<AtomicBool>) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/metrics", tmc_tower::axum::metrics_route(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::SeqCst);
                async move {
                    if ready {
                        (axum::http::StatusCode::OK, "ok")
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "starting")
                    }
                }
            }),
        )
}
