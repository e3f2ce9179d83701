//! Serving the resource API: plain HTTP, or TLS with tmc-server's reloading certificate.

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::{Future, IntoFuture};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// The TLS configuration for `--api-tls-cert` and `--api-tls-key`, if both are given.
pub(crate) fn tls_config(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<Arc<ServerConfig>>, String> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => tmc_server::tls::ReloadingCertResolver::new(cert, key)
            .and_then(tmc_server::tls::ReloadingCertResolver::into_server_config)
            .map(Some)
            .map_err(|e| format!("--api-tls-cert/--api-tls-key: {e}")),
        _ => Err("--api-tls-cert and --api-tls-key go together: give both, or neither".into()),
    }
}

/// Serves `app` on `listener` until `shutdown`; over TLS when `tls` is given.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let Some(tls) = tls else {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .into_future()
            .await;
        return;
    };
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    continue;
                }
            },
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .await;
        });
    }
}
