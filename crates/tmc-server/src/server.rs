//! The metrics listener: the exposition, the probes and the summary on one port, over plain
//! HTTP or TLS, with optional bearer-token authentication.
//!
//! | path | serves |
//! |---|---|
//! | [`MetricsConfig::path`] (default `/metrics`) | the exposition, in the Prometheus text format ([`tmc_metrics::CONTENT_TYPE`]), OpenMetrics ([`tmc_metrics::OPENMETRICS_CONTENT_TYPE`]) or protobuf with native histograms ([`tmc_metrics::PROTOBUF_CONTENT_TYPE`]) as the scrape's `Accept` header asks; absent when `prometheus_enabled` is false |
//! | [`SUMMARY_PATH`] `/metrics/summary` | the [`MetricsSummary`] as JSON |
//! | [`HEALTHZ_PATH`] `/healthz` | liveness: `200 ok` while the process serves |
//! | [`READYZ_PATH`] `/readyz` | readiness: `200 ok`, or `503` with one `not ready: ...` line per reason ([`HealthMonitor::readiness`]) |
//!
//! Anything else is 404. With an [`Authorizer`] (a `token_file`, or
//! [`MetricsServer::with_authorizer`]) every request needs a bearer token: none gives 401
//! with `WWW-Authenticate: Bearer`, a refused one 403; `allow_unauthenticated_probes` lets
//! `/healthz` and `/readyz` through without one.

use crate::auth::{
    AuthDecision, AuthError, AuthRequest, Authorizer, StaticTokenAuthorizer, bearer_token,
};
use crate::config::{ConfigError, MetricsConfig};
use crate::health::HealthMonitor;
use crate::reporter::MetricsReporter;
use crate::summary::MetricsSummary;
use crate::tls::{ReloadingCertResolver, TlsError};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tmc_metrics::Metrics;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub use crate::config::{HEALTHZ_PATH, READYZ_PATH, SUMMARY_PATH};

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections may take to finish after shutdown is signalled.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why the server could not be set up or could not listen.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS certificate or key does not load.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The token file does not load.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The listener could not bind.
    #[error("cannot listen for metrics on {addr}: {source}{}", bind_hint(source))]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// [`MetricsServer::bind`] on a disabled configuration.
    #[error("the metrics endpoint is disabled (`enabled: false`): there is nothing to bind")]
    Disabled,
}

fn bind_hint(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::AddrInUse => {
            " (another process holds this port: expected a free `port`, e.g. set TMC_METRICS_PORT)"
        }
        io::ErrorKind::AddrNotAvailable => {
            " (no interface has this address: expected a local `bind_address`, e.g. 127.0.0.1 or 0.0.0.0)"
        }
        io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need privileges: expected a `port` from 1024 to 65535)"
        }
        _ => "",
    }
}

/// The metrics endpoint: builds the router (see the [module](self) docs) and serves it.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tmc_metrics::Metrics;
/// use tmc_server::{MetricsConfig, MetricsReporter, MetricsServer};
/// use tmc_server::health::HealthMonitor;
///
/// let config = MetricsConfig::loader().process_env().load()?;
/// let metrics = Metrics::builder().install()?;
/// let health = HealthMonitor::builder().metrics(&metrics).build();
/// let reporter = MetricsReporter::new(&metrics, health.clone(), config.collection_interval)?;
/// let mut collection = reporter.start();
/// MetricsServer::new(&config, metrics, health)?
///     .with_reporter(&reporter)
///     .serve(async { let _ = tokio::signal::ctrl_c().await; })
///     .await?;
/// collection.stop().await;
/// # Ok(()) }
/// ```
pub struct MetricsServer {
    config: MetricsConfig,
    metrics: Metrics,
    health: HealthMonitor,
    reporter: Option<MetricsReporter>,
    authorizer: Option<Arc<dyn Authorizer>>,
    tls: Option<TlsAcceptor>,
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("config", &self.config)
            .field("authorizer", &self.authorizer)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Validates `config` and, when the endpoint is enabled, loads its TLS certificate and
    /// token file.
    ///
    /// # Errors
    /// [`ServerError::Config`] for an invalid configuration, [`ServerError::Tls`] for a
    /// certificate or key that does not load, [`ServerError::Auth`] for an unusable token
    /// file.
    pub fn new(
        config: &MetricsConfig,
        metrics: Metrics,
        health: HealthMonitor,
    ) -> Result<Self, ServerError> {
        config.validate()?;
        let mut server = Self {
            config: config.clone(),
            metrics,
            health,
            reporter: None,
            authorizer: None,
            tls: None,
        };
        if !config.enabled {
            return Ok(server);
        }
        if let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) {
            let tls = ReloadingCertResolver::new(cert, key)?.into_server_config()?;
            server.tls = Some(TlsAcceptor::from(tls));
        }
        if let Some(token_file) = &config.token_file {
            server.authorizer = Some(Arc::new(StaticTokenAuthorizer::from_file(token_file)?));
        }
        Ok(server)
    }

    /// The reporter whose activity the summary's `collection_active` reports. Without one
    /// it is `false`.
    #[must_use]
    pub fn with_reporter(mut self, reporter: &MetricsReporter) -> Self {
        self.reporter = Some(reporter.clone());
        self
    }

    /// Authorizes requests with `authorizer` instead of the configured token file, e.g. a
    /// `TokenReview` and `SubjectAccessReview` one on Kubernetes.
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: impl Authorizer) -> Self {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }

    /// The router of the [module](self) docs, with authentication when configured, to
    /// serve here or to merge into any axum app.
    pub fn router(&self) -> Router {
        let health = self.health.clone();
        let readyz = move || {
            let readiness = health.readiness();
            async move {
                if readiness.ready {
                    (StatusCode::OK, "ok\n".to_owned())
                } else {
                    let mut body = String::new();
                    for reason in &readiness.reasons {
                        body.push_str("not ready: ");
                        body.push_str(reason);
                        body.push('\n');
                    }
                    (StatusCode::SERVICE_UNAVAILABLE, body)
                }
            }
        };
        let health = self.health.clone();
        let reporter = self.reporter.clone();
        let summary = move || {
            let active = reporter.as_ref().is_some_and(MetricsReporter::is_active);
            let summary = MetricsSummary::new(&health, active);
            async move { axum::Json(summary) }
        };
        let mut router = Router::new()
            .route(HEALTHZ_PATH, get(|| async { "ok\n" }))
            .route(READYZ_PATH, get(readyz))
            .route(SUMMARY_PATH, get(summary));
        if self.config.prometheus_enabled {
            router = router.route(
                &self.config.path,
                tmc_tower::axum::metrics_route(self.metrics.clone()),
            );
        }
        if let Some(authorizer) = &self.authorizer {
            let state = AuthState {
                authorizer: authorizer.clone(),
                open_probes: self.config.allow_unauthenticated_probes,
            };
            router = router.layer(from_fn_with_state(state, authenticate));
        }
        router
    }

    /// Binds the configured address, so the caller can learn it before serving.
    ///
    /// # Errors
    /// [`ServerError::Disabled`] when the endpoint is disabled, [`ServerError::Bind`] when
    /// the address cannot be bound (a port in use, an address not local).
    pub async fn bind(self) -> Result<BoundMetricsServer, ServerError> {
        if !self.config.enabled {
            return Err(ServerError::Disabled);
        }
        let addr = self.config.socket_addr();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(self.on_listener(listener))
    }

    /// Serves on a listener bound by the caller (socket activation, tests), ignoring the
    /// configured address.
    pub fn on_listener(self, listener: TcpListener) -> BoundMetricsServer {
        BoundMetricsServer {
            router: self.router(),
            listener,
            tls: self.tls,
        }
    }

    /// Binds and serves until `shutdown` completes, then lets open connections finish
    /// (for at most five seconds). When the endpoint is disabled nothing is bound and this
    /// waits for `shutdown`.
    ///
    /// # Errors
    /// As [`bind`](Self::bind), except that a disabled endpoint is not an error.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServerError> {
        if !self.config.enabled {
            tracing::info!("metrics endpoint disabled: not listening");
            shutdown.await;
            return Ok(());
        }
        self.bind().await?.serve(shutdown).await;
        Ok(())
    }
}

#[derive(Clone)]
struct AuthState {
    authorizer: Arc<dyn Authorizer>,
    open_probes: bool,
}

async fn authenticate(State(state): State<AuthState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if state.open_probes && (path == HEALTHZ_PATH || path == READYZ_PATH) {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    let decision = state
        .authorizer
        .authorize(AuthRequest {
            token,
            method: request.method().as_str(),
            path,
        })
        .await;
    match decision {
        AuthDecision::Allow => next.run(request).await,
        AuthDecision::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Bearer")],
            "Unauthorized: expected an `Authorization: Bearer <token>` header\n",
        )
            .into_response(),
        AuthDecision::Forbidden => (StatusCode::FORBIDDEN, "Forbidden\n").into_response(),
    }
}

/// A bound metrics listener, ready to [`serve`](Self::serve).
pub struct BoundMetricsServer {
    router: Router,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl fmt::Debug for BoundMetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundMetricsServer")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl BoundMetricsServer {
    /// The address listened on (with the port the system chose for port 0).
    ///
    /// # Errors
    /// The socket's error, if it has none.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes: stops accepting, asks open connections to finish
    /// their current request, and waits for them for at most five seconds.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) {
        let Self {
            router,
            listener,
            tls,
        } = self;
        let (stop, stopping) = watch::channel(());
        let mut connections = JoinSet::new();
        let mut shutdown = pin!(shutdown);
        tracing::info!(
            addr = %listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
            tls = tls.is_some(),
            "serving metrics"
        );
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let connection = connection(stream, peer, router.clone(), tls.clone(), stopping.clone());
                        connections.spawn(connection);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "metrics listener: accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
        drop(listener);
        let _ = stop.send(());
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                open = connections.len(),
                "metrics listener: closing connections still open after the grace period"
            );
            connections.shutdown().await;
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    tls: Option<TlsAcceptor>,
    stopping: watch::Receiver<()>,
) {
    match tls {
        None => http1(stream, peer, router, stopping).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => http1(stream, peer, router, stopping).await,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "metrics listener: TLS handshake failed");
                }
                Err(_) => tracing::debug!(%peer, "metrics listener: TLS handshake timed out"),
            }
        }
    }
}

async fn http1<S>(stream: S, peer: SocketAddr, router: Router, mut stopping: watch::Receiver<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    let mut connection = pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stopping.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "metrics listener: connection ended with an error");
    }
}
