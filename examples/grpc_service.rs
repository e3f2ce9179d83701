//! A tonic gRPC service with API metrics: `cargo run --example grpc_service`, then call
//! `tmc.demo.Users/Get` on `127.0.0.1:50051` (any gRPC client; messages are plain UTF-8)
//! and read `curl localhost:50052/metrics`.
//!
//! The service is written by hand against tonic's server API with a tiny UTF-8 codec, so it
//! needs no `.proto` file and no `protoc`. `ApiMetricsLayer` wraps tonic's router from outside
//! with `.grpc(true)`: every call is labelled with its method path and its `grpc-status`
//! (`grpc_OK`, `grpc_NOT_FOUND`, ...), not the HTTP 200 every gRPC call answers with.

use bytes::{Buf, BufMut};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tmc_metrics::Metrics;
use tmc_tower::api::{ApiMetricsLayer, RouteTable};
use tokio::sync::Notify;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService};
use tonic::{Status, body::Body};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The full path of the one method.
const GET: &str = "/tmc.demo.Users/Get";

/// Messages are UTF-8 strings, framed by gRPC: enough for a service without `protoc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8Codec;

impl Codec for Utf8Codec {
    type Encode = String;
    type Decode = String;
    type Encoder = Utf8Codec;
    type Decoder = Utf8Codec;

    fn encoder(&mut self) -> Self::Encoder {
        Utf8Codec
    }

    fn decoder(&mut self) -> Self::Decoder {
        Utf8Codec
    }
}

impl Encoder for Utf8Codec {
    type Item = String;
    type Error = Status;

    fn encode(&mut self, item: String, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(item.as_bytes());
        Ok(())
    }
}

impl Decoder for Utf8Codec {
    type Item = String;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<String>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("message is not UTF-8: {e}")))
    }
}

/// `tmc.demo.Users`: `Get(name)` answers `user <name>`, `NOT_FOUND` for `nobody`, and never
/// answers `slow`: it notifies `started` when it begins and `dropped` when the server drops
/// it (the client cancelled), so a test can act at the right moments without sleeping.
#[derive(Debug, Clone, Default)]
pub struct Users {
    started: Arc<Notify>,
    dropped: Arc<Notify>,
}

/// Notifies when dropped.
struct NotifyOnDrop(Arc<Notify>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

impl NamedService for Users {
    const NAME: &'static str = "tmc.demo.Users";
}

impl tower::Service<tonic::Request<String>> for Users {
    type Response = tonic::Response<String>;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Status>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<String>) -> Self::Future {
        let (started, dropped) = (self.started.clone(), self.dropped.clone());
        Box::pin(async move {
            match request.into_inner().as_str() {
                "nobody" => Err(Status::not_found("no user named nobody")),
                "slow" => {
                    let _dropped = NotifyOnDrop(dropped);
                    started.notify_one();
                    std::future::pending().await
                }
                name => Ok(tonic::Response::new(format!("user {name}"))),
            }
        })
    }
}

impl tower::Service<http::Request<Body>> for Users {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let users = self.clone();
        Box::pin(async move {
            Ok(match request.uri().path() {
                GET => Grpc::new(Utf8Codec).unary(users, request).await,
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

/// Serves `users` on `listener` with API metrics recorded into `metrics`.
async fn serve(
    listener: tokio::net::TcpListener,
    users: Users,
    metrics: &Metrics,
) -> Result<(), Error> {
    let table = RouteTable::new().with(GET)?;
    tonic::transport::Server::builder()
        .layer(ApiMetricsLayer::new(metrics).endpoint(table).grpc(true))
        .add_service(users)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = Metrics::builder().install()?;
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
    let exposition = tokio::net::TcpListener::bind("127.0.0.1:50052").await?;
    println!(
        "gRPC on {}, metrics on http://{}/metrics",
        grpc.local_addr()?,
        exposition.local_addr()?
    );
    let metrics_app = tmc_tower::axum::metrics_router(metrics.clone(), "/metrics");
    tokio::select! {
        served = serve(grpc, Users::default(), &metrics) => served,
        served = axum::serve(exposition, metrics_app) => Ok(served?),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup is a failed test

    use super::*;
    use http::uri::PathAndQuery;
    use tonic::Code;
    use tonic::transport::Channel;

    async fn call(channel: Channel, name: &str) -> Result<String, Status> {
        let mut client = tonic::client::Grpc::new(channel);
        client
            .ready()
            .await
            .map_err(|e| Status::unknown(e.to_string()))?;
        client
            .unary(
                tonic::Request::new(name.to_owned()),
                PathAndQuery::from_static(GET),
                Utf8Codec,
            )
            .await
            .map(tonic::Response::into_inner)
    }

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

    /// A current-thread runtime: when the server drops a cancelled call, the whole drop
    /// (and so the recording) completes before this test runs again.
    #[tokio::test]
    async fn grpc_calls_from_a_tonic_client_should_be_counted_by_grpc_status() {
        let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let users = Users::default();
        let (started, dropped) = (users.started.clone(), users.dropped.clone());
        let server_metrics = metrics.clone();
        let server = tokio::spawn(async move { serve(listener, users, &server_metrics).await });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();

        assert_eq!(call(channel.clone(), "ada").await.unwrap(), "user ada");
        let not_found = call(channel.clone(), "nobody").await.unwrap_err();
        assert_eq!(not_found.code(), Code::NotFound);

        // The client gives up while the server is still working: cancelled, not an answer.
        let slow = tokio::spawn(call(channel.clone(), "slow"));
        started.notified().await;
        slow.abort();
        assert!(slow.await.unwrap_err().is_cancelled());
        // The server dropped the call (and, in the same drop, the layer recorded it).
        dropped.notified().await;
        assert_eq!(call(channel, "grace").await.unwrap(), "user grace");

        let l = r#"method="POST",endpoint="/tmc.demo.Users/Get""#;
        assert_eq!(
            series(&metrics, "tmc_api_requests_total"),
            [
                format!(r#"tmc_api_requests_total{{{l},status_code="cancelled"}} 1"#),
                format!(r#"tmc_api_requests_total{{{l},status_code="grpc_NOT_FOUND"}} 1"#),
                format!(r#"tmc_api_requests_total{{{l},status_code="grpc_OK"}} 2"#),
            ]
        );
        assert_eq!(
            series(&metrics, "tmc_api_requests_in_flight"),
            [format!(r#"tmc_api_requests_in_flight{{{l}}} 0"#)]
        );
        server.abort();
    }
}
