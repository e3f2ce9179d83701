//! OpenTelemetry's HTTP server metrics, under their Prometheus names: what
//! `ApiMetricsLayer::naming(Naming::OpenTelemetry)` records in place of (or with
//! `Naming::Both`, beside) the `tmc_api_*` families.
//!
//! The names and attributes follow the semantic conventions for HTTP server metrics
//! (`http.server.request.duration` and the rest), translated as OpenTelemetry's Prometheus
//! exporter does: dots become underscores and the unit is appended (`_seconds`, `_bytes`).
//! A label listed here is left out of a series when its attribute is absent (`http_route` on
//! unmatched requests, `http_response_status_code` when no response was sent, `error_type`
//! unless the request failed).

use super::{MetricDef, MetricKind, Subsystem};

/// The semantic conventions' advised buckets for `http.server.request.duration`: 5 ms to 10 s.
pub const HTTP_SERVER_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// `http_server_request_duration_seconds{http_request_method,http_route,http_response_status_code,url_scheme,network_protocol_version,error_type}`:
/// semconv `http.server.request.duration`.
pub const HTTP_SERVER_REQUEST_DURATION_SECONDS: MetricDef = MetricDef {
    name: "http_server_request_duration_seconds",
    kind: MetricKind::Histogram,
    help: "Duration of HTTP server requests in seconds (OpenTelemetry http.server.request.duration), until the response body ends; error_type only on failures (a 5xx, a failed service or body, a cancelled request).",
    labels: &[
        "http_request_method",
        "http_route",
        "http_response_status_code",
        "url_scheme",
        "network_protocol_version",
        "error_type",
    ],
    buckets: HTTP_SERVER_DURATION_BUCKETS,
    subsystem: Subsystem::Http,
    seed_name: None,
};

/// `http_server_active_requests{http_request_method,url_scheme}`: semconv
/// `http.server.active_requests`.
pub const HTTP_SERVER_ACTIVE_REQUESTS: MetricDef = MetricDef {
    name: "http_server_active_requests",
    kind: MetricKind::Gauge,
    help: "HTTP server requests being served (OpenTelemetry http.server.active_requests).",
    labels: &["http_request_method", "url_scheme"],
    buckets: &[],
    subsystem: Subsystem::Http,
    seed_name: None,
};

/// `http_server_request_body_size_bytes{http_request_method,http_route}`: semconv
/// `http.server.request.body.size` (opt-in).
pub const HTTP_SERVER_REQUEST_BODY_SIZE_BYTES: MetricDef = MetricDef {
    name: "http_server_request_body_size_bytes",
    kind: MetricKind::Histogram,
    help: "HTTP server request body size in bytes (OpenTelemetry http.server.request.body.size), counted as the body streams (opt-in: ApiMetricsLayer::body_sizes).",
    labels: &["http_request_method", "http_route"],
    buckets: super::BODY_SIZE_BUCKETS,
    subsystem: Subsystem::Http,
    seed_name: None,
};

/// `http_server_response_body_size_bytes{http_request_method,http_route}`: semconv
/// `http.server.response.body.size` (opt-in).
pub const HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES: MetricDef = MetricDef {
    name: "http_server_response_body_size_bytes",
    kind: MetricKind::Histogram,
    help: "HTTP server response body size in bytes (OpenTelemetry http.server.response.body.size), counted as the body streams (opt-in: ApiMetricsLayer::body_sizes).",
    labels: &["http_request_method", "http_route"],
    buckets: super::BODY_SIZE_BUCKETS,
    subsystem: Subsystem::Http,
    seed_name: None,
};
