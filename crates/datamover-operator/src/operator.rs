//! `run` and `demo`: the store, the controller, the metrics endpoint and the API.

use crate::api::{self, ApiState};
use crate::auth::ApiToken;
use crate::controllers;
use crate::telemetry::LogFormat;
use datamover_embedded::Embedded;
use datamover_embedded::executor::{Executor, ExecutorConfig, RclonePods};
use datamover_embedded::policy::Policy;
use datamover_embedded::store::EmbeddedStore;
use datamover_embedded::volumes::Volumes;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::{HealthStatus, Metrics};
use tmc_runtime::CancellationToken;
use tmc_server::config::ConfigOverrides;
use tmc_server::health::HealthMonitor;
use tmc_server::{MetricsConfig, MetricsReporter, MetricsServer};

mod kubernetes;
use kubernetes::{KubeAuthorizer, serve_kubernetes};

/// Where the operator keeps DataMovers and runs their jobs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// One machine: the embedded store, directories, rclone.
    Embedded,
    /// A Kubernetes cluster, through kube-rs.
    Kubernetes,
}

/// Flags of `run` and `demo` (each also read from the environment).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RunArgs {
    /// Where DataMovers live: `embedded` (this machine: objects in the data dir, volumes as
    /// directories, rclone as the job) or `kubernetes` (the cluster of the in-cluster
    /// configuration or the kubeconfig: PVC clones and Jobs).
    #[arg(
        long,
        env = "DATAMOVER_BACKEND",
        value_enum,
        default_value = "embedded"
    )]
    pub(crate) backend: Backend,
    /// With `kubernetes`: reconcile only while holding the Lease
    /// `datamover-operator-leader` (in `$POD_NAMESPACE`), so several replicas can run.
    #[arg(long, env = "DATAMOVER_LEADER_ELECT")]
    pub(crate) leader_elect: bool,
    /// With `kubernetes`: check bearer tokens on the metrics endpoint with TokenReview and
    /// SubjectAccessReview (`get` on `/metrics`); probes are let through.
    #[arg(long, env = "DATAMOVER_METRICS_KUBE_AUTH")]
    pub(crate) metrics_kube_auth: bool,
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
    #[arg(long, env = "DATAMOVER_METRICS_TLS_CERT")]
    pub(crate) metrics_tls_cert: Option<PathBuf>,
    /// The PEM private key for `--metrics-tls-cert`.
    #[arg(long, env = "DATAMOVER_METRICS_TLS_KEY")]
    pub(crate) metrics_tls_key: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` on the metrics endpoint, the token read from
    /// this file.
    #[arg(long, env = "DATAMOVER_METRICS_TOKEN_FILE")]
    pub(crate) metrics_token_file: Option<PathBuf>,
    /// The resource API used by `apply`, `get`, `describe`, `delete`.
    #[arg(
        long,
        env = "DATAMOVER_API_BIND_ADDRESS",
        default_value = "127.0.0.1:8081"
    )]
    pub(crate) api_bind_address: SocketAddr,
    /// Serve the resource API over TLS with this PEM certificate chain (with
    /// `--api-tls-key`); reloaded when the file changes. The API always requires the bearer
    /// token in `<data-dir>/api-token`, written at first start.
    #[arg(long, env = "DATAMOVER_API_TLS_CERT")]
    pub(crate) api_tls_cert: Option<PathBuf>,
    /// The PEM private key for `--api-tls-cert`.
    #[arg(long, env = "DATAMOVER_API_TLS_KEY")]
    pub(crate) api_tls_key: Option<PathBuf>,
    /// A directory under which PVCs may name host directories (the annotation
    /// `datamover.a-cup-of.coffee/host-path`). Repeatable; none by default.
    #[arg(
        long = "allow-host-path",
        value_name = "DIR",
        env = "DATAMOVER_ALLOW_HOST_PATHS",
        value_delimiter = ':'
    )]
    pub(crate) allow_host_path: Vec<PathBuf>,
    /// A directory under which secrets may name a local `DESTINATION`. Repeatable; default
    /// `<data-dir>/backups`.
    #[arg(
        long = "allow-local-destination",
        value_name = "DIR",
        env = "DATAMOVER_ALLOW_LOCAL_DESTINATIONS",
        value_delimiter = ':'
    )]
    pub(crate) allow_local_destination: Vec<PathBuf>,
    /// DataMovers reconciled at once. A reconcile never waits for data: syncs run as Jobs,
    /// bounded by `--max-concurrent-syncs`.
    #[arg(long, env = "DATAMOVER_CONCURRENCY", default_value_t = 4)]
    pub(crate) concurrency: usize,
    /// Log lines as `text` or `json` (see `RUST_LOG` below).
    #[arg(long, env = "DATAMOVER_LOG_FORMAT", value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,
    /// Exemplars: give the operator's spans OpenTelemetry trace ids, keep the latest as an
    /// exemplar on each counter and histogram bucket of the OpenMetrics exposition, and add
    /// `trace_id` to JSON log lines. Spans are exported over OTLP when
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    #[arg(long, env = "DATAMOVER_EXEMPLARS")]
    pub(crate) exemplars: bool,
    /// Sync pods (rclone processes) running at once, over all Jobs (embedded backend).
    #[arg(long, env = "DATAMOVER_MAX_CONCURRENT_SYNCS", default_value_t = 8)]
    pub(crate) max_concurrent_syncs: usize,
    /// The rclone binary.
    #[arg(long, env = "DATAMOVER_RCLONE", default_value = "rclone")]
    pub(crate) rclone: PathBuf,
    /// Wait before a sync Job's second pod, in seconds; doubled before each next one and
    /// capped at 6 minutes, as Kubernetes' Job controller (embedded backend).
    #[arg(long, env = "DATAMOVER_JOB_BACKOFF_SECONDS", default_value_t = 10.0)]
    pub(crate) job_backoff_seconds: f64,
}

pub(crate) fn run(args: RunArgs, demo: bool) -> Result<(), String> {
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if args.max_concurrent_syncs == 0 {
        return Err("--max-concurrent-syncs must be at least 1".into());
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
    let telemetry = crate::telemetry::init(args.log_format, args.exemplars, runtime.handle())?;
    let result = runtime.block_on(serve(args, demo));
    // Flushes the last spans while the runtime that sends them still runs.
    drop(telemetry);
    result
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

/// What both backends serve: the metrics endpoint, health and the reporter.
struct Observability {
    config: MetricsConfig,
    metrics: Metrics,
    health: HealthMonitor,
    reporter: MetricsReporter,
}

impl Observability {
    fn new(args: &RunArgs) -> Result<Self, String> {
        let config = metrics_config(args)?;
        // With the endpoint disabled nothing is installed: recording goes to the no-op.
        let builder = Metrics::builder()
            .retention(Some(config.retention_period))
            .exemplars(args.exemplars);
        let metrics = if config.enabled {
            builder.install()
        } else {
            builder.build()
        }
        .map_err(|e| e.to_string())?;
        let health = HealthMonitor::builder().metrics(&metrics).build();
        let reporter = MetricsReporter::new(&metrics, health.clone(), config.collection_interval)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            config,
            metrics,
            health,
            reporter,
        })
    }

    /// Binds the metrics listener (when enabled) and starts serving and collecting.
    async fn start(
        &self,
        authorizer: Option<KubeAuthorizer>,
        stop: &CancellationToken,
    ) -> Result<Option<(tokio::task::JoinHandle<()>, tmc_server::ReporterHandle)>, String> {
        if !self.config.enabled {
            return Ok(None);
        }
        let mut server =
            MetricsServer::new(&self.config, self.metrics.clone(), self.health.clone())
                .map_err(|e| e.to_string())?
                .with_reporter(&self.reporter);
        if let Some(authorizer) = authorizer {
            server = server.with_authorizer(authorizer);
        }
        let bound = server
            .bind()
            .await
            .map_err(|e| format!("{e} (pass --metrics-bind-address to use another address)"))?;
        let task = tokio::spawn(bound.serve(stop.clone().cancelled_owned()));
        Ok(Some((task, self.reporter.start())))
    }
}

async fn finish(serving: Option<(tokio::task::JoinHandle<()>, tmc_server::ReporterHandle)>) {
    if let Some((task, mut reporter)) = serving {
        reporter.stop().await;
        let _ = task.await;
    }
}

async fn serve(args: RunArgs, demo: bool) -> Result<(), String> {
    match args.backend {
        Backend::Embedded => serve_embedded(args, demo).await,
        Backend::Kubernetes if demo => {
            Err("the demo runs on the embedded backend; drop --backend kubernetes".into())
        }
        Backend::Kubernetes => serve_kubernetes(args).await,
    }
}

async fn serve_embedded(args: RunArgs, demo: bool) -> Result<(), String> {
    if args.leader_elect || args.metrics_kube_auth {
        return Err("--leader-elect and --metrics-kube-auth need --backend kubernetes".into());
    }
    let version = check_rclone(&args.rclone).await?;
    let volumes = Volumes::under_data_dir(&args.data_dir);
    std::fs::create_dir_all(volumes.root()).map_err(|e| {
        format!(
            "--data-dir {}: cannot create {}: {e}",
            args.data_dir.display(),
            volumes.root().display()
        )
    })?;
    // What a stopped operator left of deleted volumes goes, in the background.
    volumes.sweep();
    let store = Arc::new(
        EmbeddedStore::open(&args.data_dir.join("store.redb")).map_err(|e| {
            format!(
                "--data-dir {}: {e} (is another datamover-operator using it?)",
                args.data_dir.display()
            )
        })?,
    );
    let policy = Arc::new(Policy::new(
        &args.data_dir,
        &args.allow_host_path,
        &args.allow_local_destination,
    )?);
    let (token, token_file) = ApiToken::load_or_create(policy.data_dir())?;
    let api_tls =
        crate::listen::tls_config(args.api_tls_cert.as_deref(), args.api_tls_key.as_deref())?;
    let obs = Observability::new(&args)?;
    let api_listener = bind(args.api_bind_address, "resource API", "--api-bind-address").await?;
    // Health: the volumes directory must stay usable; ready once the controller runs.
    let watched = volumes.root().to_path_buf();
    obs.health
        .register_check("DataMoverController", "datamover", "local", move || {
            let dir = watched.clone();
            async move {
                if tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
                    HealthStatus::Healthy
                } else {
                    HealthStatus::Unhealthy
                }
            }
        });
    let cluster = Arc::new(Embedded {
        store: store.clone(),
        volumes,
        rclone: args.rclone.clone(),
        policy: policy.clone(),
    });
    let mut manager = controllers::manager(&obs.metrics)?;
    let stop = manager.shutdown_token();
    let readiness = manager.readiness();
    obs.health
        .readiness_gate("controllers started", move || readiness.is_ready());
    crate::store_health::watch(
        &store,
        &obs.health,
        &obs.metrics.collector(),
        policy.data_dir(),
    );
    let serving = obs.start(None, &stop).await?;
    let api_state = ApiState {
        cluster: (*cluster).clone(),
    };
    let hub = crate::page::Hub::start(
        store.clone(),
        cluster.volumes.clone(),
        obs.metrics.clone(),
        stop.clone(),
    );
    let page = crate::page::router(crate::page::PageState {
        token: token.clone(),
        hub,
        stop: stop.clone(),
        tls: api_tls.is_some(),
        api: api::routes(api_state.clone()),
        sessions: crate::page::Sessions::default(),
    });
    let api_app = api::router(api_state, token.clone()).merge(page);
    let api_scheme = if api_tls.is_some() { "https" } else { "http" };
    let api_server = tokio::spawn(crate::listen::serve(
        api_listener,
        api_app,
        api_tls,
        stop.clone().cancelled_owned(),
    ));
    tracing::info!(
        data_dir = %args.data_dir.display(),
        metrics = %metrics_url(&obs.config),
        api = %format!("{api_scheme}://{}", args.api_bind_address),
        status_page = %format!("{api_scheme}://{}/", args.api_bind_address),
        api_token = %token_file.display(),
        host_path_roots = ?policy.host_path_roots(),
        destination_roots = ?policy.destination_roots(),
        rclone = %version,
        "datamover-operator started (embedded backend)"
    );
    // The embedded kubelet: runs the Jobs' pods (rclone) outside any reconcile.
    let executor = Executor::new(
        store.clone(),
        RclonePods::new((*cluster).clone()),
        ExecutorConfig {
            max_concurrent_syncs: args.max_concurrent_syncs,
            backoff: Duration::from_secs_f64(args.job_backoff_seconds),
            ..ExecutorConfig::default()
        },
    );
    manager.task("executor", move |stop| executor.run(stop.cancelled_owned()));
    // The embedded CSI: copies clones outside any reconcile; a clone's `Bound` event brings
    // its DataMover back.
    let provisioned = cluster.clone();
    manager.task("provisioner", move |stop| {
        datamover_embedded::provisioner::run(provisioned, stop.cancelled_owned())
    });
    let handles = crate::store_health::Handles {
        datamovers: controllers::datamovers(
            &mut manager,
            (store.of(), store.of(), store.of()),
            cluster.clone(),
            &obs.metrics,
            args.concurrency,
        )?,
        schedules: controllers::schedules(
            &mut manager,
            store.of(),
            (store.of(), store.of()),
            cluster.clone(),
            &obs.metrics,
        ),
        restores: controllers::embedded_restores(&mut manager, cluster, &obs.metrics),
    };
    let recovering = store.clone();
    manager.task("store-recovery", move |stop| {
        crate::store_health::recover(recovering, handles, stop)
    });
    // Ctrl-C or SIGTERM, from now on: also while the demo waits for its backup.
    let running = tokio::spawn(manager.run(shutdown_signal()));
    if demo {
        let hints = crate::demo::Hints {
            metrics_url: metrics_url(&obs.config),
            server: format!("{api_scheme}://{}", args.api_bind_address),
            token_file,
            page_url: format!(
                "{api_scheme}://{}/?token={}",
                args.api_bind_address,
                token.reveal()
            ),
        };
        tokio::select! {
            result = crate::demo::run(&store, &policy, &hints) => {
                if let Err(e) = result {
                    stop.cancel();
                    let _ = running.await;
                    finish(serving).await;
                    let _ = api_server.await;
                    return Err(e);
                }
            }
            () = stop.cancelled() => {}
        }
    }
    let report = running.await.map_err(|e| e.to_string())?;
    tracing::info!("shut down: {report}");
    finish(serving).await;
    let _ = api_server.await;
    report_result(&report)
}

/// The run's outcome: the first failure of a controller or task, if any. Reconciles cut
/// off at shutdown are no failure: they resume on the next start.
fn report_result(report: &tmc_runtime::ManagerReport) -> Result<(), String> {
    if !report.cut_off().is_empty() || !report.tasks_cut_off.is_empty() {
        tracing::warn!("cut off at shutdown (resumed on the next start): {report}");
    }
    match report.failed.first() {
        Some(failure) => Err(failure.to_string()),
        None => Ok(()),
    }
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
        allow_unauthenticated_probes: args.metrics_kube_auth.then_some(true),
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
