//! Binding: a port in use explained, nothing bound when disabled, an invalid config refused.

use crate::helpers::*;
use tmc_server::health::HealthMonitor;
use tmc_server::{MetricsConfig, MetricsServer, ServerError};
use tokio::net::TcpListener;

#[tokio::test]
async fn metrics_server_should_explain_a_port_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = MetricsConfig {
        port,
        ..MetricsConfig::default()
    };
    let err = MetricsServer::new(&config, metrics(), HealthMonitor::new())
        .unwrap()
        .bind()
        .await
        .unwrap_err();
    assert!(matches!(&err, ServerError::Bind { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot listen for metrics on 127.0.0.1:{port}: Address already in use (os error 98) \
             (another process holds this port: expected a free `port`, e.g. set TMC_METRICS_PORT)"
        )
    );
}

#[tokio::test]
async fn metrics_server_should_bind_nothing_when_disabled() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = MetricsConfig {
        enabled: false,
        port,
        ..MetricsConfig::default()
    };
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    server.serve(async {}).await.unwrap();
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    let err = server.bind().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the metrics endpoint is disabled (`enabled: false`): there is nothing to bind"
    );
}

#[tokio::test]
async fn metrics_server_should_refuse_an_invalid_config() {
    let config = MetricsConfig {
        path: "metrics".into(),
        ..MetricsConfig::default()
    };
    let err = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "metrics config `path` = `metrics` is invalid: expected a path starting with `/`, such as `/metrics`"
    );
}
