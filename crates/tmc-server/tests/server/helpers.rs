//! What the listener tests share: a registry, a server running in the background, a GET.

use std::net::SocketAddr;
use std::time::Duration;
use tmc_metrics::Metrics;
use tmc_server::MetricsServer;
use tmc_test_support::http::Reply;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) fn metrics() -> Metrics {
    Metrics::builder().upkeep_interval(None).build().unwrap()
}

/// A served listener on a loopback address and a port the system chose; stops on drop of `stop`.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) task: JoinHandle<()>,
}

impl Running {
    pub(crate) async fn start(server: MetricsServer) -> Self {
        Self::start_on(server, "127.0.0.1").await
    }

    /// Serves on `ip` (any address of 127.0.0.0/8 is loopback on Linux).
    pub(crate) async fn start_on(server: MetricsServer, ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let bound = server.on_listener(listener);
        let addr = bound.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bound.serve(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub(crate) async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops within its grace period")
            .unwrap();
    }
}

/// `GET path` with the shared test client, with `token` as a bearer token.
pub(crate) async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Reply {
    let mut request = tmc_test_support::http::get(addr, path);
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    request.send_async().await.unwrap()
}
