//! A plain hyper 1 server, no axum, with API metrics: `cargo run --example hyper_service`,
//! then `curl localhost:3001/users/7`, `curl localhost:3001/nope` and
//! `curl localhost:3001/metrics`.
//!
//! The service is a `tower::service_fn` that routes by hand; `ApiMetricsLayer` wraps it from
//! outside (outer mode) and labels each request with the template from a `RouteTable`, so
//! `/users/7` is counted as `/users/{id}` and `/nope` as `__unmatched__`. hyper serves it
//! through hyper-util's `TowerToHyperService`.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use tmc_metrics::Metrics;
use tmc_tower::api::{ApiMetricsLayer, RouteTable};
use tokio::net::TcpListener;
use tower::{Layer, service_fn};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Serves `GET /users/{id}`, `GET /healthz` and `GET /metrics` on `listener`, one task per
/// connection, until the task is dropped.
async fn serve(listener: TcpListener, metrics: Metrics) -> Result<(), Error> {
    let table = RouteTable::new()
        .with("/users/{id}")?
        .with("/healthz")?
        .with("/metrics")?;
    let exposition = metrics.clone();
    let routes = service_fn(move |request: Request<Incoming>| {
        let exposition = exposition.clone();
        async move {
            let path = request.uri().path();
            let (status, body) = match (request.method(), path) {
                (&Method::GET, "/healthz") => (StatusCode::OK, "ok".to_owned()),
                (&Method::GET, "/metrics") => (StatusCode::OK, exposition.render()),
                (&Method::GET, p) if p.starts_with("/users/") => {
                    (StatusCode::OK, format!("user {}", &p["/users/".len()..]))
                }
                (_, p) if p.starts_with("/users/") => {
                    (StatusCode::METHOD_NOT_ALLOWED, String::new())
                }
                _ => (StatusCode::NOT_FOUND, "not found".to_owned()),
            };
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            Ok::<_, Infallible>(response)
        }
    });
    // Outer mode: one layer around the whole service, templates from the table.
    let app = ApiMetricsLayer::new(&metrics).endpoint(table).layer(routes);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                eprintln!("connection error: {e}");
            }
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3001".to_owned());
    let metrics = Metrics::builder().build()?;
    let listener = TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    tokio::select! {
        served = serve(listener, metrics) => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup is a failed test

    use super::*;
    use http_body_util::{BodyExt, Empty};

    fn series(metrics: &Metrics, family: &str) -> Vec<String> {
        let mut lines: Vec<String> = metrics
            .render()
            .lines()
            .filter(|l| !l.starts_with('#') && l.split(['{', ' ']).next() == Some(family))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    #[tokio::test]
    async fn hyper_service_in_outer_mode_should_label_real_requests_by_template() {
        let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, metrics.clone()));

        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut client, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut statuses = Vec::new();
        for (method, path) in [
            (Method::GET, "/users/1"),
            (Method::GET, "/users/2"),
            (Method::DELETE, "/users/2"),
            (Method::GET, "/nope/a"),
            (Method::GET, "/nope/b"),
            (Method::GET, "/healthz"),
            (Method::GET, "/metrics"),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .header("host", addr.to_string())
                .body(Empty::<Bytes>::new())
                .unwrap();
            let response = client.send_request(request).await.unwrap();
            statuses.push(response.status().as_u16());
            response.into_body().collect().await.unwrap();
        }
        assert_eq!(statuses, [200, 200, 405, 404, 404, 200, 200]);
        assert_eq!(
            series(&metrics, "tmc_api_requests_total"),
            [
                r#"tmc_api_requests_total{method="DELETE",endpoint="/users/{id}",status_code="405"} 1"#,
                r#"tmc_api_requests_total{method="GET",endpoint="/healthz",status_code="200"} 1"#,
                r#"tmc_api_requests_total{method="GET",endpoint="/users/{id}",status_code="200"} 2"#,
                r#"tmc_api_requests_total{method="GET",endpoint="__unmatched__",status_code="404"} 2"#,
            ]
        );
        assert_eq!(
            series(&metrics, "tmc_api_requests_in_flight"),
            [
                r#"tmc_api_requests_in_flight{method="DELETE",endpoint="/users/{id}"} 0"#,
                r#"tmc_api_requests_in_flight{method="GET",endpoint="/healthz"} 0"#,
                r#"tmc_api_requests_in_flight{method="GET",endpoint="/users/{id}"} 0"#,
                r#"tmc_api_requests_in_flight{method="GET",endpoint="__unmatched__"} 0"#,
            ]
        );
        server.abort();
    }
}
