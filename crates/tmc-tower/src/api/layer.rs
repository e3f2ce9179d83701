//! The layer and its builder.

use super::cache::{Config, Shared};
use super::labels::DefaultEndpoint;
use super::service::ApiMetrics;
use std::sync::Arc;
use tmc_metrics::MetricsCollector;
use tower::Layer;

/// The default cap on distinct route templates per layer; see
/// [`ApiMetricsLayer::max_endpoints`].
pub const DEFAULT_MAX_ENDPOINTS: usize = 500;

/// Adds [`ApiMetrics`] to a service: request counts, durations and in-flight requests by
/// method, route template and status code.
///
/// Defaults: the endpoint is axum's route template ([`DefaultEndpoint`]); `/metrics` is
/// excluded; durations end when the response body ends; at most
/// [`DEFAULT_MAX_ENDPOINTS`] templates.
///
/// ```
/// use axum::{Router, routing::get};
/// use tmc_metrics::Metrics;
/// use tmc_tower::api::ApiMetricsLayer;
///
/// let metrics = Metrics::builder().build()?;
/// let app: Router = Router::new()
///     .route("/api/v1/placements/{id}", get(|| async { "placement" }))
///     .layer(ApiMetricsLayer::new(&metrics));
/// # Ok::<(), tmc_metrics::MetricsError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ApiMetricsLayer<E = DefaultEndpoint> {
    collector: MetricsCollector,
    config: Config,
    shared: Arc<Shared>,
    endpoint: E,
}

impl ApiMetricsLayer<DefaultEndpoint> {
    /// A layer recording into `metrics`: a `&Metrics`, a `Metrics` or a
    /// `MetricsCollector` (for example `MetricsCollector::facade()`, for whatever recorder
    /// the application installed).
    pub fn new(metrics: impl Into<MetricsCollector>) -> Self {
        let collector = metrics.into();
        let config = Config {
            excluded: ["/metrics".to_owned()].into_iter().collect(),
            groups: Default::default(),
            max_endpoints: DEFAULT_MAX_ENDPOINTS,
            at_head: false,
            grpc: false,
            spans: true,
            naming: super::Naming::Tmc,
            https: false,
        };
        let shared = Arc::new(Shared::new(collector.clone(), config.clone()));
        Self {
            collector,
            config,
            shared,
            endpoint: DefaultEndpoint::default(),
        }
    }

    /// The same as [`new`](Self::new), kept for callers that name the collector.
    pub fn with_collector(collector: MetricsCollector) -> Self {
        Self::new(collector)
    }
}

impl<E> ApiMetricsLayer<E> {
    fn reconfigure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self.shared = Arc::new(Shared::new(self.collector.clone(), self.config.clone()));
        self
    }

    /// Takes the endpoint from `endpoint` instead: for services that are not axum routers,
    /// a function from the request to its route template (see
    /// [`ResolveEndpoint`](super::ResolveEndpoint)).
    pub fn endpoint<E2>(self, endpoint: E2) -> ApiMetricsLayer<E2> {
        ApiMetricsLayer {
            collector: self.collector,
            config: self.config,
            shared: self.shared,
            endpoint,
        }
    }

    /// Records nothing for requests to this route template. `/metrics` is excluded by
    /// default; see [`include`](Self::include).
    pub fn exclude(self, template: impl Into<String>) -> Self {
        let template = template.into();
        self.reconfigure(|c| {
            c.excluded.insert(template);
        })
    }

    /// Records requests to this template again (for example `/metrics`).
    pub fn include(self, template: &str) -> Self {
        self.reconfigure(|c| {
            c.excluded.remove(template);
        })
    }

    /// Labels requests to `template` with `endpoint` instead, so several routes share one
    /// series (for example every `/static/...` route as `/static`).
    pub fn group(self, template: impl Into<String>, endpoint: impl Into<String>) -> Self {
        let (template, endpoint) = (template.into(), endpoint.into());
        self.reconfigure(|c| {
            c.groups.insert(template, endpoint);
        })
    }

    /// Ends the measurement at the response head instead of the body's end. Cheaper for
    /// large bodies, but a streamed body's time is not counted.
    pub fn record_at_head(self, at_head: bool) -> Self {
        self.reconfigure(|c| c.at_head = at_head)
    }

    /// Classifies gRPC calls by their `grpc-status` (in the response head of a
    /// trailers-only response, else in the body's trailers, as tower-http's
    /// `GrpcErrorsAsFailures` does): `status_code` is then one of
    /// [`GRPC_STATUS_CODES`](super::GRPC_STATUS_CODES) (`grpc_OK`, `grpc_NOT_FOUND`, ...)
    /// instead of the HTTP status, which is 200 for failed calls too. Responses without a
    /// `grpc-status` keep their HTTP status code, so REST and gRPC can share a layer. Off by
    /// default (one header lookup per response).
    pub fn grpc(self, grpc: bool) -> Self {
        self.reconfigure(|c| c.grpc = grpc)
    }

    /// Whether each request gets an `api_request` span (default: yes). The span exists
    /// only when a subscriber wants it (`info` level, target `tmc_tower::api::guard`); with
    /// none, it costs one load of tracing's maximum level (about 6 instructions per request in
    /// `benches/http_instructions.sh`). It carries `method`, `route` (the `endpoint` label),
    /// and once the request ends `status` (the status code, or `cancelled`, `error`, a
    /// `grpc_*` code) and `outcome` (`error` for a 5xx, a failed service or body, or a
    /// server-side gRPC status, as the shipped API error-rate alert counts; `cancelled` for
    /// a request dropped first or `grpc_CANCELLED`; else `success`). The inner service is
    /// called and polled inside it, and the request's metrics are recorded inside it, so an
    /// exemplar (`tmc_metrics` feature `opentelemetry`) points at it.
    ///
    /// Beside tower-http's `TraceLayer`: both spans are made; put `TraceLayer` outside this
    /// layer and `api_request` is its child (`TraceLayer`'s `request` span keeps the URI and
    /// version, this one adds the route template, the status and the outcome). To keep only
    /// `TraceLayer`'s span, turn this one off.
    pub fn spans(self, spans: bool) -> Self {
        self.reconfigure(|c| c.spans = spans)
    }

    /// A layer recording request and response body sizes
    /// (`tmc_api_request_body_size_bytes`, `tmc_api_response_body_size_bytes`, or under
    /// OpenTelemetry's names `http_server_request_body_size_bytes` and
    /// `http_server_response_body_size_bytes{http_request_method,http_route}`, as
    /// [`naming`](Self::naming) says) with this layer's endpoints: same labels, exclusions, groups and cap. Opt-in, because it wraps
    /// the request body too (an inner axum route re-boxes it). Stack it beside this layer;
    /// see [`BodySizeLayer`](super::BodySizeLayer).
    pub fn body_sizes(&self) -> super::BodySizeLayer<E>
    where
        E: Clone,
    {
        super::BodySizeLayer::new(self.shared.clone(), self.endpoint.clone())
    }

    /// Which names the layer records under: the `tmc_api_*` families (the default),
    /// OpenTelemetry's HTTP server semantic conventions (`http_server_request_duration_seconds`
    /// and the rest), or both; see [`Naming`](super::Naming). Fixed when the layer is built: the
    /// default path does no per-request work for the names it does not record. Body sizes
    /// ([`body_sizes`](Self::body_sizes)) follow the same choice; call this first.
    ///
    /// ```
    /// use axum::{Router, body::Body, routing::get};
    /// use http::Request;
    /// use tmc_metrics::Metrics;
    /// use tmc_tower::api::{ApiMetricsLayer, Naming};
    /// use tower::ServiceExt;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let metrics = Metrics::builder().build()?;
    /// let app = Router::new()
    ///     .route("/users/{id}", get(|| async { "user" }))
    ///     .layer(ApiMetricsLayer::new(&metrics).naming(Naming::OpenTelemetry));
    /// let response = app.oneshot(Request::get("/users/42").body(Body::empty())?).await?;
    /// axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    ///
    /// let text = metrics.render();
    /// assert!(text.contains(
    ///     r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/users/{id}",http_response_status_code="200",url_scheme="http",network_protocol_version="1.1"} 1"#
    /// ));
    /// assert!(!text.contains("tmc_api_requests_total{"));
    /// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn naming(self, naming: super::Naming) -> Self {
        self.reconfigure(|c| c.naming = naming)
    }

    /// Labels requests whose URI names no scheme (HTTP/1.1's origin-form, what a server
    /// behind its own TLS sees) `url_scheme="https"` instead of `http`, under OpenTelemetry's
    /// names. A URI with a scheme (HTTP/2's `:scheme`) keeps its own.
    pub fn url_scheme_https(self, https: bool) -> Self {
        self.reconfigure(|c| c.https = https)
    }

    /// The most distinct route templates this layer labels; requests to further templates
    /// are labelled `__overflow__` and counted in
    /// `tmc_metrics_series_folded_total{metric="tmc_api_requests_total"}` (with
    /// `Naming::OpenTelemetry`, `metric="http_server_request_duration_seconds"`). At least 1.
    pub fn max_endpoints(self, max: usize) -> Self {
        self.reconfigure(|c| c.max_endpoints = max.max(1))
    }
}

impl<S, E: Clone> Layer<S> for ApiMetricsLayer<E> {
    type Service = ApiMetrics<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        // The fold counter of this configuration only, not of each builder step's.
        self.shared.folded();
        ApiMetrics::new(inner, self.shared.clone(), self.endpoint.clone())
    }
}
