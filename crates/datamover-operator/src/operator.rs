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
use tmc_metrics::{HealthStatus, Metrics};
use tmc_runtime::{Backoff, Controller, reconciler_fn};
use tmc_server::config::ConfigOverrides;
use tmc_server::health::HealthMonitor;
use tmc_server::{MetricsConfig, MetricsReporter, MetricsServer};

/// Flags of `run` and `demo` (each also read from the environment).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RunArgs {
    /// Where objects and volumes live.
    #[arg(long, env = "DATAMOVER_DATA_DIR", default_value = "datamover-data")]
    pub(crate) data_dir: PathBuf,
    /// The metrics endpoint (`/metrics`, `/metrics/summary`, `/healthz`, `/readyz`).
    /// Default `127.0.0.1:8080`; overrides `TMC_METRICS_BIND_ADDRESS`/`TMC_METRICS_PORT`
    /// and the metrics config file.
    #[arg(long, env = "DATAMOVER_METRICS_BIND_ADDRESS")]
    pub(crate) metrics_bind_address: Option<SocketAddr>,
    /// A YAML file of metrics settings (`enabled`, `port`, `path`, `collection_interval`,
    /// `retention_period`, `tls_cert_file`, `tls_key_file`, `token_file`, ...); the
    /// environment (`TMC_METRICS_*`) and flags override it.
    #[arg(long, env = "DATAMOVER_METRICS_CONFIG")]
    pub(crate) metrics_config: Option<PathBuf>,
    /// Serve the metrics endpoint over TLS with this PEM certificate chain (with
    /// `--metrics-tls-key`); reloaded when the file changes.
    #[arg(long)]
    pub(crate) metrics_tls_cert: Option<PathBuf>,
    /// The PEM private key for `--metrics-tls-cert`.
    #[arg(long)]
    pub(crate) metrics_tls_key: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` on the metrics endpoint, the token read from
    /// this file.
    #[arg(long)]
    pub(crate) metrics_token_file: Option<PathBuf>,
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
    let config = metrics_config(&args)?;
    let api_listener = bind(args.api_bind_address, "resource API", "--api-bind-address").await?;
    // With the endpoint disabled nothing is installed: recording goes to the facade's no-op.
    let metrics = if config.enabled {
        Metrics::builder().install()
    } else {
        Metrics::builder().build()
    }
    .map_err(|e| e.to_string())?;

    // Health: the volumes directory must stay usable; ready once the controller runs.
    let health = HealthMonitor::builder().metrics(&metrics).build();
    let watched = volumes.clone();
    health.register_check("DataMoverController", "datamover", "local", move || {
        let dir = watched.clone();
        async move {
            if tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
                HealthStatus::Healthy
            } else {
                HealthStatus::Unhealthy
            }
        }
    });
    let ready = Arc::new(AtomicBool::new(false));
    health.readiness_flag("controller started", ready.clone());
    let reporter = MetricsReporter::new(&metrics, health.clone(), config.collection_interval)
        .map_err(|e| e.to_string())?;
    let metrics_server = MetricsServer::new(&config, metrics.clone(), health)
        .map_err(|e| e.to_string())?
        .with_reporter(&reporter);
    let metrics_server = if config.enabled {
        Some(
            metrics_server
                .bind()
                .await
                .map_err(|e| format!("{e} (pass --metrics-bind-address to use another address)"))?,
        )
    } else {
        None
    };

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

    let api_app = api::router(ApiState {
        store: store.clone(),
        volumes,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let reporter_handle = config.enabled.then(|| reporter.start());
    let metrics_task =
        metrics_server.map(|server| tokio::spawn(server.serve(stopped(stop_rx.clone()))));
    let api_server = tokio::spawn(
        axum::serve(api_listener, api_app)
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );
    tracing::info!(
        data_dir = %args.data_dir.display(),
        metrics = %metrics_url(&config),
        api = %format!("http://{}", args.api_bind_address),
        rclone = %version,
        "datamover-operator started"
    );
    let controller_task = tokio::spawn(controller.run(stopped(stop_rx.clone())));
    ready.store(true, Ordering::SeqCst);
    if demo {
        crate::demo::run(&args, &store, &metrics_url(&config)).await?;
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight reconciles (5 s at most)");
    let _ = stop_tx.send(true);
    let report = controller_task.await.map_err(|e| e.to_string())?;
    if !report.cut_off.is_empty() {
        tracing::warn!(cut_off = ?report.cut_off, "reconciles cut off at shutdown; they resume on the next start");
    }
    if let Some(mut handle) = reporter_handle {
        handle.stop().await;
    }
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
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

/// The metrics settings: the flags over `TMC_METRICS_*` over `--metrics-config` over defaults.
fn metrics_config(args: &RunArgs) -> Result<MetricsConfig, String> {
    let overrides = ConfigOverrides {
        bind_address: args.metrics_bind_address.map(|a| a.ip()),
        port: args.metrics_bind_address.map(|a| a.port()),
        tls_cert_file: args.metrics_tls_cert.clone(),
        tls_key_file: args.metrics_tls_key.clone(),
        token_file: args.metrics_token_file.clone(),
        ..ConfigOverrides::default()
    };
    let mut loader = MetricsConfig::loader().process_env().overrides(overrides);
    if let Some(file) = &args.metrics_config {
        loader = loader.file(file);
    }
    loader.load().map_err(|e| e.to_string())
}

/// Where the exposition is served, for logs and the demo's hints.
pub(crate) fn metrics_url(config: &MetricsConfig) -> String {
    if !config.enabled {
        return "disabled".into();
    }
    let scheme = if config.tls_enabled() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}{}", config.socket_addr(), config.path)
}
