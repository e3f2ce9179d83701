//! Serves live TMC and DataMover metrics: `cargo run --example serve_metrics`, then
//! `curl http://127.0.0.1:8080/metrics`.
//!
//! Installs the catalog-configured Prometheus recorder, simulates DataMover backups and a
//! syncer's operations every second, and serves the exposition on `/metrics`.
//! `--bind ADDR` changes the address (default `127.0.0.1:8080`).

use axum::{Router, http::header, routing::get};
use std::net::SocketAddr;
use std::time::Duration;
use tmc_metrics::{ErrorKind, HealthStatus, Metrics, Outcome, TmcError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = parse_bind()?;
    let metrics = Metrics::builder().install()?;

    tokio::spawn(simulate(metrics.clone()));

    let app = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, tmc_metrics::CONTENT_TYPE)],
                    metrics.render(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
        format!("cannot listen on {bind}: {e} (pass --bind HOST:PORT to use another address)")
    })?;
    println!(
        "serving metrics on http://{}/metrics (Ctrl-C to stop)",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn parse_bind() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut bind = "127.0.0.1:8080".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => {
                bind = args
                    .next()
                    .ok_or("--bind needs an address, e.g. --bind 127.0.0.1:8080")?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; accepted: --bind HOST:PORT"
                ));
            }
        }
    }
    bind.parse()
        .map_err(|e| format!("--bind {bind:?} is not HOST:PORT: {e}"))
}

/// Records what a small DataMover deployment and a syncer would, once a second.
async fn simulate(metrics: Metrics) {
    let c = metrics.collector();
    let sync = c.operation(
        "SyncTargetController",
        "syncer-prod-cluster",
        "sync-resource",
    );
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for n in 0u64.. {
        tick.tick().await;
        let ns = if n % 3 == 0 { "team-a" } else { "default" };
        for phase in ["CreatingClonedPVC", "CreatingPod", "CleaningUp"] {
            c.datamover_phase_started(phase, ns);
            let outcome = if n % 10 == 9 && phase == "CreatingPod" {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            let took = Duration::from_millis(200 + (n % 7) * 450);
            c.datamover_phase_finished(phase, ns, outcome, took);
        }
        c.datamover_pod_creation(ns, tmc_metrics::DataMoverStatus::Started);
        c.datamover_pod_creation(ns, tmc_metrics::DataMoverStatus::Success);
        c.datamover_data_sync(
            ns,
            if n % 10 == 9 {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        );
        c.datamover_cleanup(ns, Outcome::Success);

        let result: Result<(), TmcError> = sync
            .track(async move {
                tokio::time::sleep(Duration::from_millis(5 + n % 20)).await;
                if n % 8 == 7 {
                    Err(TmcError::from_http_status(
                        409,
                        "syncer",
                        "sync-resource",
                        "conflict",
                    ))
                } else {
                    Ok(())
                }
            })
            .await;
        if result.is_err() {
            c.record_sync_error(
                "prod-cluster",
                "apps/v1/Deployment",
                ErrorKind::ResourceConflict,
            );
        }
        c.record_component_health(
            "SyncTargetController",
            "syncer-prod-cluster",
            "prod-cluster",
            HealthStatus::Healthy,
        );
        c.record_component_uptime(
            "SyncTargetController",
            "syncer-prod-cluster",
            "prod-cluster",
            started.elapsed(),
        );
        c.record_sync_backlog_size("prod-cluster", "deployment-queue", n % 30);
        c.record_cluster_connectivity("prod-cluster", "root:production", true);
    }
}
