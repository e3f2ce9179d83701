//! The layers' `tracing` spans, seen by a test subscriber: names, fields and nesting,
//! beside tower-http's `TraceLayer` too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::fmt;
use std::sync::{Arc, Mutex};
use tmc_metrics::{ErrorKind, Metrics, TmcError};
use tmc_tower::api::ApiMetricsLayer;
use tmc_tower::operation::{OperationLayer, instrument_reconcile};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_http::trace::TraceLayer;
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// A closed span: its name, its parent's name and its fields as `k=v`, in the order they
/// were first given a value.
#[derive(Debug, PartialEq, Eq)]
struct Closed {
    name: &'static str,
    parent: Option<&'static str>,
    fields: String,
}

fn closed(name: &'static str, parent: Option<&'static str>, fields: &str) -> Closed {
    Closed {
        name,
        parent,
        fields: fields.to_owned(),
    }
}

#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Fields {
    fn set(&mut self, name: &'static str, value: String) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.set(field.name(), value.to_owned());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.set(field.name(), format!("{value:?}"));
    }
}

/// Collects every span as it closes.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Closed>>>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Collect {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut ext = span.extensions_mut();
        values.record(ext.get_mut::<Fields>().unwrap());
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let ext = span.extensions();
        let fields = ext.get::<Fields>().unwrap();
        let fields = fields
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        self.0.lock().unwrap().push(Closed {
            name: span.name(),
            parent: span.parent().map(|p| p.name()),
            fields,
        });
    }
}

/// Installs the collector for this thread (the tests run on current-thread runtimes).
fn collect() -> (Collect, tracing::subscriber::DefaultGuard) {
    let collect = Collect::default();
    let guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(collect.clone()));
    (collect, guard)
}

fn metrics() -> Metrics {
    Metrics::builder().upkeep_interval(None).build().unwrap()
}

/// A router whose `/users/{id}` runs a failing `get` operation and answers 404, and whose
/// `/fail` answers 500.
fn router(metrics: &Metrics) -> Router {
    let op = metrics.collector().operation("syncer", "cluster-1", "get");
    Router::new()
        .route(
            "/users/{id}",
            get(move || {
                let op = op.clone();
                async move {
                    let found: Result<(), TmcError> = op
                        .track(async {
                            Err(TmcError::new(
                                ErrorKind::ResourceNotFound,
                                "syncer",
                                "get",
                                "gone",
                            ))
                        })
                        .await;
                    assert!(found.is_err());
                    (StatusCode::NOT_FOUND, "gone")
                }
            }),
        )
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
}

async fn send(app: &Router, uri: &str) -> StatusCode {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_span_carries_route_status_and_outcome_and_holds_the_operation_span() {
    let (spans, _guard) = collect();
    let metrics = metrics();
    let app = router(&metrics).layer(ApiMetricsLayer::new(&metrics));
    assert_eq!(send(&app, "/users/42").await, StatusCode::NOT_FOUND);
    assert_eq!(send(&app, "/fail").await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        *spans.0.lock().unwrap(),
        [
            closed(
                "operation",
                Some("api_request"),
                "component_type=syncer component_id=cluster-1 operation=get outcome=error error_kind=ResourceNotFound"
            ),
            closed(
                "api_request",
                None,
                "method=GET route=/users/{id} status=404 outcome=success"
            ),
            closed(
                "api_request",
                None,
                "method=GET route=/fail status=500 outcome=error"
            ),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn beside_tower_http_trace_layer_the_request_span_is_its_child() {
    let (spans, _guard) = collect();
    let metrics = metrics();
    // The last `layer` is the outermost: TraceLayer, then the metrics layer.
    let app = router(&metrics)
        .layer(ApiMetricsLayer::new(&metrics))
        .layer(TraceLayer::new_for_http());
    assert_eq!(send(&app, "/fail").await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        *spans.0.lock().unwrap(),
        [
            closed(
                "api_request",
                Some("request"),
                "method=GET route=/fail status=500 outcome=error"
            ),
            closed("request", None, "method=GET uri=/fail version=HTTP/1.1"),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn with_spans_off_a_request_makes_none_and_its_operations_stand_alone() {
    let (spans, _guard) = collect();
    let metrics = metrics();
    let app = router(&metrics).layer(ApiMetricsLayer::new(&metrics).spans(false));
    assert_eq!(send(&app, "/users/1").await, StatusCode::NOT_FOUND);
    assert_eq!(send(&app, "/fail").await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        *spans.0.lock().unwrap(),
        [closed(
            "operation",
            None,
            "component_type=syncer component_id=cluster-1 operation=get outcome=error error_kind=ResourceNotFound"
        )]
    );
    // The metrics are recorded all the same.
    assert!(
        metrics.render().contains(
            r#"tmc_api_requests_total{method="GET",endpoint="/fail",status_code="500"} 1"#
        )
    );
}

#[tokio::test(flavor = "current_thread")]
async fn operation_layer_and_instrument_reconcile_spans_end_with_their_outcome() {
    let (spans, _guard) = collect();
    let metrics = metrics();
    let client = ServiceBuilder::new()
        .layer(OperationLayer::new(&metrics, "client", "apiserver", "list"))
        .service(service_fn(|n: usize| async move { Ok::<_, TmcError>(n) }));
    assert_eq!(client.oneshot(3).await.unwrap(), 3);

    async fn reconcile(_: Arc<String>, _: Arc<()>) -> Result<(), TmcError> {
        Err(TmcError::new(
            ErrorKind::Timeout,
            "DataMoverController",
            "reconcile",
            "slow",
        ))
    }
    let reconcile = instrument_reconcile(
        metrics
            .collector()
            .operation("DataMoverController", "datamover", "reconcile"),
        reconcile,
    );
    assert!(reconcile(Arc::new("a".into()), Arc::new(())).await.is_err());
    // Dropped before it ends: cancelled.
    let pending = metrics
        .collector()
        .operation("syncer", "cluster-1", "watch")
        .track(std::future::pending::<Result<(), TmcError>>());
    drop(pending);
    assert_eq!(
        *spans.0.lock().unwrap(),
        [
            closed(
                "operation",
                None,
                "component_type=client component_id=apiserver operation=list outcome=success"
            ),
            closed(
                "operation",
                None,
                "component_type=DataMoverController component_id=datamover operation=reconcile outcome=error error_kind=Timeout"
            ),
            closed(
                "operation",
                None,
                "component_type=syncer component_id=cluster-1 operation=watch outcome=cancelled"
            ),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn grpc_calls_end_with_the_outcome_the_api_alert_counts() {
    let (spans, _guard) = collect();
    let metrics = metrics();
    let status = |code: &'static str| get(move || async move { ([("grpc-status", code)], "") });
    let app = Router::new()
        .route("/pkg.Svc/Internal", status("13"))
        .route("/pkg.Svc/NotFound", status("5"))
        .route("/pkg.Svc/Cancelled", status("1"))
        .layer(ApiMetricsLayer::new(&metrics).grpc(true));
    for uri in [
        "/pkg.Svc/Internal",
        "/pkg.Svc/NotFound",
        "/pkg.Svc/Cancelled",
    ] {
        assert_eq!(send(&app, uri).await, StatusCode::OK);
    }
    assert_eq!(
        *spans.0.lock().unwrap(),
        [
            closed(
                "api_request",
                None,
                "method=GET route=/pkg.Svc/Internal status=grpc_INTERNAL outcome=error"
            ),
            closed(
                "api_request",
                None,
                "method=GET route=/pkg.Svc/NotFound status=grpc_NOT_FOUND outcome=success"
            ),
            closed(
                "api_request",
                None,
                "method=GET route=/pkg.Svc/Cancelled status=grpc_CANCELLED outcome=cancelled"
            ),
        ]
    );
}
