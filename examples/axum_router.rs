//! A realistic axum service with API metrics: `cargo run --example axum_router`, then
//! `curl localhost:3000/api/v1/placements/web-1`, `curl localhost:3000/api/v1/events`,
//! `curl localhost:3000/nope` and `curl localhost:3000/metrics`.
//!
//! Templated routes, a nested router, a streaming route and the 404 fallback all go through
//! one `ApiMetricsLayer`; `/metrics` is served on the same router (and excluded from the
//! request metrics). The placement store is called through an `OperationLayer`, so its
//! calls appear in `tmc_component_operations_total`.

use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http_body::Frame;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tmc_metrics::{ErrorKind, Metrics, TmcError};
use tmc_tower::api::ApiMetricsLayer;
use tmc_tower::operation::OperationLayer;
use tower::{ServiceBuilder, ServiceExt, service_fn, util::BoxCloneSyncService};

type Store = BoxCloneSyncService<String, Option<String>, TmcError>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let metrics = Metrics::builder().install()?;

    // A "placement store" client: every call is a tracked operation.
    let store: Store = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(OperationLayer::new(
                &metrics,
                "PlacementStore",
                "memory",
                "get-placement",
            ))
            .service(service_fn(|id: String| async move {
                match id.as_str() {
                    "broken" => Err(TmcError::new(
                        ErrorKind::ServerError,
                        "store",
                        "get",
                        "disk on fire",
                    )),
                    id if id.starts_with("web-") => {
                        Ok(Some(format!("{{\"id\":\"{id}\",\"clusters\":3}}")))
                    }
                    _ => Ok(None),
                }
            })),
    );

    let clusters = Router::new().route(
        "/{name}/status",
        get(|Path(name): Path<String>| async move { Json(serde_like_status(&name)) }),
    );
    let app = Router::new()
        .route(
            "/api/v1/placements",
            get(|| async { "[\"web-1\",\"web-2\"]" }),
        )
        .route(
            "/api/v1/placements/{id}",
            get(move |Path(id): Path<String>| get_placement(store.clone(), id)),
        )
        .route("/api/v1/events", get(events))
        .nest("/api/v1/clusters", clusters)
        .route("/metrics", tmc_tower::axum::metrics_route(metrics.clone()))
        .layer(ApiMetricsLayer::new(&metrics));

    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    println!(
        "listening on http://{}; try /api/v1/placements/web-1 and /metrics",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn serde_like_status(name: &str) -> String {
    format!("cluster {name}: Ready")
}

async fn get_placement(store: Store, id: String) -> Result<String, StatusCode> {
    match store.oneshot(id).await {
        Ok(Some(json)) => Ok(json),
        Ok(None) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Streams five events, 200 ms apart: the request's duration covers the whole stream.
async fn events() -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        for n in 1..=5 {
            if tx.send(Bytes::from(format!("event {n}\n"))).await.is_err() {
                return; // the client went away
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    Body::new(Events(rx))
}

struct Events(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}
