//! OpenTelemetry's HTTP server names: the naming modes and the handles of one
//! (method, route) under the semantic conventions.

use super::labels::{STATUS_CANCELLED, STATUS_ERROR, STATUS_GRPC};
use http::{Request, Version};
use std::sync::{OnceLock, PoisonError, RwLock};
use tmc_metrics::MetricsCollector;
use tmc_metrics::catalog::{
    HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_REQUEST_DURATION_SECONDS, MetricDef,
};
use tmc_metrics::metrics::{Gauge, Histogram, HistogramFn, Key, KeyName, Label};

/// Which metric names [`ApiMetricsLayer`](super::ApiMetricsLayer) records under, chosen once
/// when the layer is built.
///
/// - [`Tmc`](Self::Tmc) (the default): `tmc_api_requests_total`,
///   `tmc_api_request_duration_seconds`, `tmc_api_requests_in_flight` and the opt-in
///   `tmc_api_*_body_size_bytes`, as the shipped dashboards and alerts read them.
/// - [`OpenTelemetry`](Self::OpenTelemetry): OpenTelemetry's HTTP server semantic
///   conventions under their Prometheus names, as dashboards built for OpenTelemetry
///   instrumentation read them:
///   `http_server_request_duration_seconds{http_request_method, http_route,
///   http_response_status_code, url_scheme, network_protocol_version, error_type}` with the
///   conventions' buckets (5 ms to 10 s), `http_server_active_requests{http_request_method,
///   url_scheme}` and the opt-in `http_server_request_body_size_bytes` and
///   `http_server_response_body_size_bytes{http_request_method, http_route}`.
/// - [`Both`](Self::Both): both sets, from one measurement per request.
///
/// Under OpenTelemetry's names, `http_request_method` is one of the nine standard methods or
/// `_OTHER`; `http_route` is the same route template as `endpoint` (same groups, cap and
/// `__overflow__`), and absent on requests that matched no route; `url_scheme` is the
/// request URI's scheme (`http` or `https`), or for URIs without one (HTTP/1.1's
/// origin-form) `http`, or `https` with [`ApiMetricsLayer::url_scheme_https`];
/// `network_protocol_version` is `1.0`, `1.1`, `2`, `3` (or `0.9`). `error_type` is set only
/// on failures: the status code as text on a 5xx response, `_OTHER` when the service or the
/// response body returned an error, `cancelled` when the request was dropped before it
/// completed; `http_response_status_code` is absent on the last two. A gRPC call (with
/// [`ApiMetricsLayer::grpc`]) is recorded with the HTTP status gRPC answers with, `200`.
///
/// [`ApiMetricsLayer::url_scheme_https`]: super::ApiMetricsLayer::url_scheme_https
/// [`ApiMetricsLayer::grpc`]: super::ApiMetricsLayer::grpc
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Naming {
    /// The `tmc_api_*` families only (the default).
    #[default]
    Tmc,
    /// OpenTelemetry's `http_server_*` families only.
    OpenTelemetry,
    /// Both sets.
    Both,
}

impl Naming {
    /// Whether the `tmc_api_*` families are recorded.
    pub(crate) fn tmc(self) -> bool {
        self != Self::OpenTelemetry
    }

    /// Whether OpenTelemetry's `http_server_*` families are recorded.
    pub(crate) fn otel(self) -> bool {
        self != Self::Tmc
    }
}

const VERSIONS: [&str; 5] = ["0.9", "1.0", "1.1", "2", "3"];
const SCHEMES: [&str; 2] = ["http", "https"];

/// The request's protocol version and URI scheme, as one index: `version * 2 + https`.
#[inline]
fn connection<B>(request: &Request<B>, https_default: bool) -> u8 {
    let version = match request.version() {
        Version::HTTP_09 => 0,
        Version::HTTP_10 => 1,
        Version::HTTP_2 => 3,
        Version::HTTP_3 => 4,
        _ => 2,
    };
    let https = match request.uri().scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => https_default,
    };
    version * 2 + u8::from(https)
}

/// The handles of one (method, route) under OpenTelemetry's names.
pub(crate) struct OtelEndpoint {
    collector: MetricsCollector,
    method: &'static str,
    /// `None` for requests that matched no route.
    route: Option<Box<str>>,
    https_default: bool,
    /// `http_server_active_requests` by scheme (`http`, `https`), made on first use.
    active: [OnceLock<Gauge>; 2],
    /// Duration histograms by (stored status, connection index).
    durations: RwLock<Vec<(u16, u8, Histogram)>>,
}

impl OtelEndpoint {
    pub(crate) fn new(
        collector: &MetricsCollector,
        method: &'static str,
        route: Option<&str>,
        https_default: bool,
    ) -> Self {
        Self {
            collector: collector.clone(),
            method,
            route: route.map(Into::into),
            https_default,
            active: Default::default(),
            durations: RwLock::new(Vec::new()),
        }
    }

    /// Counts the request as active; returns its connection index for [`finish`](Self::finish).
    /// Out of line and cold, so the default naming's request path pays only the check that
    /// there is no `OtelEndpoint`.
    #[cold]
    #[inline(never)]
    pub(crate) fn start<B>(&self, request: &Request<B>) -> u8 {
        let connection = connection(request, self.https_default);
        self.active(connection).increment(1.0);
        connection
    }

    /// Counts the request as no longer active and observes its duration.
    #[cold]
    #[inline(never)]
    pub(crate) fn finish(&self, connection: u8, status: u16, seconds: f64) {
        self.active(connection).decrement(1.0);
        {
            let durations = self
                .durations
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, _, h)) = durations
                .iter()
                .find(|(s, c, _)| *s == status && *c == connection)
            {
                return h.record(seconds);
            }
        }
        let mut durations = self
            .durations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, h)) = durations
            .iter()
            .find(|(s, c, _)| *s == status && *c == connection)
        {
            return h.record(seconds);
        }
        let histogram = self.duration(status, connection);
        histogram.record(seconds);
        durations.push((status, connection, histogram));
    }

    fn active(&self, connection: u8) -> &Gauge {
        let scheme = usize::from(connection & 1);
        self.active[scheme].get_or_init(|| {
            self.collector
                .gauge(&HTTP_SERVER_ACTIVE_REQUESTS, [self.method, SCHEMES[scheme]])
        })
    }

    fn duration(&self, status: u16, connection: u8) -> Histogram {
        let (code, error): (Option<String>, Option<String>) = match status {
            STATUS_CANCELLED => (None, Some("cancelled".to_owned())),
            STATUS_ERROR => (None, Some("_OTHER".to_owned())),
            s if s >= STATUS_GRPC => (Some("200".to_owned()), None),
            s if s >= 500 => (Some(s.to_string()), Some(s.to_string())),
            s => (Some(s.to_string()), None),
        };
        let values = [
            Some(self.method.to_owned()),
            self.route.as_deref().map(str::to_owned),
            code,
            Some(SCHEMES[usize::from(connection & 1)].to_owned()),
            VERSIONS
                .get(usize::from(connection >> 1))
                .map(|v| (*v).to_owned()),
            error,
        ];
        self.collector
            .register_histogram(&key(&HTTP_SERVER_REQUEST_DURATION_SECONDS, values))
    }

    /// A handle of `def` with this endpoint's method and route (the body size families).
    pub(crate) fn by_route(&self, def: &'static MetricDef) -> Histogram {
        let values = [
            Some(self.method.to_owned()),
            self.route.as_deref().map(str::to_owned),
        ];
        self.collector.register_histogram(&key(def, values))
    }
}

/// The key of `def` with the labels whose value is present, in the catalog's order.
fn key<const N: usize>(def: &'static MetricDef, values: [Option<String>; N]) -> Key {
    let labels: Vec<Label> = def
        .labels
        .iter()
        .zip(values)
        .filter_map(|(name, value)| value.map(|v| Label::new(*name, v)))
        .collect();
    Key::from_parts(KeyName::from_const_str(def.name), labels)
}

/// One histogram handle recording into two (`Naming::Both`'s body sizes).
pub(crate) struct Fanout(pub(crate) Histogram, pub(crate) Histogram);

impl HistogramFn for Fanout {
    fn record(&self, value: f64) {
        self.0.record(value);
        self.1.record(value);
    }
}

impl std::fmt::Debug for OtelEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelEndpoint")
            .field("method", &self.method)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}
