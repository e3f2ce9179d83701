//! The metrics endpoint: the operational half of the TMC seed, for the operator and for any
//! axum app.
//!
//! A metrics server started, and scraped over a real connection:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tmc_metrics::Metrics;
//! use tmc_server::health::HealthMonitor;
//! use tmc_server::{MetricsConfig, MetricsServer};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::{TcpListener, TcpStream};
//!
//! let metrics = Metrics::builder().build()?;
//! metrics.collector().record_runtime_tasks(3);
//! let health = HealthMonitor::builder().metrics(&metrics).build();
//! // `MetricsConfig::loader()` reads flags, `TMC_METRICS_*` and a YAML file; `serve` then
//! // binds the configured address (default 127.0.0.1:8080). Here, a free port instead.
//! let server = MetricsServer::new(&MetricsConfig::default(), metrics, health)?
//!     .on_listener(TcpListener::bind("127.0.0.1:0").await?);
//! let addr = server.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let serving = tokio::spawn(server.serve(async { stopped.await.ok(); }));
//!
//! let mut scrape = TcpStream::connect(addr).await?;
//! scrape.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
//! let mut response = String::new();
//! scrape.read_to_string(&mut response).await?;
//! assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(response.contains("\ntmc_runtime_tasks 3\n"));
//!
//! stop.send(()).ok();
//! serving.await?;
//! # Ok(()) }
//! ```
//!
//! * [`health`]: the [`HealthMonitor`](health::HealthMonitor) components register with
//!   (a check it runs, or a status they push), its aggregation into the seed's overall
//!   status (`All 25 components healthy`), counts of checks by outcome, and readiness.
//! * [`MetricsReporter`]: periodic collection of process memory, CPU, tokio tasks and
//!   component health and uptime into the [`tmc_metrics`] families; [`MetricsSummary`] is
//!   the seed's summary, as a value and as JSON.
//! * [`MetricsConfig`]: the seed's knobs plus bind address, TLS and token, loaded from
//!   flags, environment (`TMC_METRICS_*`) and a YAML file, validated.
//! * [`MetricsServer`]: one listener serving the exposition, `/healthz`, `/readyz` and
//!   `/metrics/summary` ([`server`] lists them), over plain HTTP or TLS ([`tls`], reloaded
//!   when the files change), with bearer-token authentication ([`auth`], the hook for
//!   Kubernetes `TokenReview`). Or take its [`router`](MetricsServer::router) into your app.
//!
//! Defaults: enabled, plain HTTP on `127.0.0.1:8080`, exposition on `/metrics`, collection
//! every 30 s, retention 24 h, no authentication.
//!
//! Or take the router into your app, here asked for the summary:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use tmc_metrics::{HealthStatus, Metrics};
//! use tmc_server::{MetricsConfig, MetricsServer};
//! use tmc_server::health::HealthMonitor;
//! use tower::ServiceExt;
//!
//! let metrics = Metrics::builder().build()?;
//! let health = HealthMonitor::builder().metrics(&metrics).build();
//! health.register_check("SyncTargetController", "syncer-1", "prod", || async { HealthStatus::Healthy });
//! health.check_all().await;
//!
//! let app = MetricsServer::new(&MetricsConfig::default(), metrics, health)?.router();
//! let response = app.oneshot(Request::get("/metrics/summary").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let body = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
//! let summary: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(summary["overall_health"]["message"], "All 1 component healthy");
//! # Ok(()) }
//! ```

pub mod auth;
pub mod config;
pub mod health;
mod process;
mod reporter;
pub mod server;
mod summary;
pub mod tls;

pub use config::MetricsConfig;
pub use reporter::{MetricsReporter, ReporterError, ReporterHandle};
pub use server::{BoundMetricsServer, MetricsServer, ServerError};
pub use summary::MetricsSummary;

#[cfg(test)]
mod testing;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
