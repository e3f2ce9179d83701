//! Label values: methods and statuses as static strings, and where the endpoint comes from.

use http::{Method, Request};
use std::borrow::Cow;

/// The `endpoint` of requests that matched no route: one value for all of them, so unmatched
/// traffic (scanners, typos) cannot grow the families.
pub const UNMATCHED_ENDPOINT: &str = "__unmatched__";

/// The `endpoint` of requests folded because the layer reached its endpoint cap.
pub const OVERFLOW_ENDPOINT: &str = tmc_metrics::OVERFLOW_LABEL_VALUE;

/// The `method` of every method outside the nine standard ones.
pub const OTHER_METHOD: &str = "_OTHER";

/// The `status_code` of a request whose future or response body was dropped before it
/// completed: the client went away, a timeout fired, the server shut down.
pub const CANCELLED_STATUS: &str = "cancelled";

/// The `status_code` of a request whose service or response body returned an error instead
/// of a complete response.
pub const ERROR_STATUS: &str = "error";

pub(crate) const METHODS: usize = 10;

/// The index and label value of a method; non-standard methods fold into [`OTHER_METHOD`].
#[inline]
pub(crate) fn method_label(method: &Method) -> (usize, &'static str) {
    match *method {
        Method::GET => (0, "GET"),
        Method::POST => (1, "POST"),
        Method::PUT => (2, "PUT"),
        Method::DELETE => (3, "DELETE"),
        Method::PATCH => (4, "PATCH"),
        Method::HEAD => (5, "HEAD"),
        Method::OPTIONS => (6, "OPTIONS"),
        Method::CONNECT => (7, "CONNECT"),
        Method::TRACE => (8, "TRACE"),
        _ => (9, OTHER_METHOD),
    }
}

/// Sentinel status values stored beside real HTTP status codes (which are 100 to 999).
pub(crate) const STATUS_CANCELLED: u16 = 0;
pub(crate) const STATUS_ERROR: u16 = 1;
/// gRPC status `c` is stored as `STATUS_GRPC + c`.
pub(crate) const STATUS_GRPC: u16 = 1000;

/// The `status_code` of a gRPC call, by its `grpc-status` code (0 to 16), with
/// [`ApiMetricsLayer::grpc`](super::ApiMetricsLayer::grpc): `grpc_OK` is a success, every
/// other value an error. A missing or unknown code is `grpc_UNKNOWN`, as the gRPC spec
/// reads it; a call that never got a status keeps its HTTP status code.
pub const GRPC_STATUS_CODES: [&str; 17] = [
    "grpc_OK",
    "grpc_CANCELLED",
    "grpc_UNKNOWN",
    "grpc_INVALID_ARGUMENT",
    "grpc_DEADLINE_EXCEEDED",
    "grpc_NOT_FOUND",
    "grpc_ALREADY_EXISTS",
    "grpc_PERMISSION_DENIED",
    "grpc_RESOURCE_EXHAUSTED",
    "grpc_FAILED_PRECONDITION",
    "grpc_ABORTED",
    "grpc_OUT_OF_RANGE",
    "grpc_UNIMPLEMENTED",
    "grpc_INTERNAL",
    "grpc_UNAVAILABLE",
    "grpc_DATA_LOSS",
    "grpc_UNAUTHENTICATED",
];

/// The stored status of the `grpc-status` in `headers` (a trailers-only response's head or
/// a body's trailers), if there is one.
pub(crate) fn grpc_status(headers: &http::HeaderMap) -> Option<u16> {
    let value = headers.get("grpc-status")?;
    let code = std::str::from_utf8(value.as_bytes())
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .filter(|c| usize::from(*c) < GRPC_STATUS_CODES.len())
        .unwrap_or(2);
    Some(STATUS_GRPC + code)
}

/// The `status_code` label value of a stored status.
pub(crate) fn status_label(status: u16) -> std::borrow::Cow<'static, str> {
    match status {
        STATUS_CANCELLED => CANCELLED_STATUS.into(),
        STATUS_ERROR => ERROR_STATUS.into(),
        s if s >= STATUS_GRPC => GRPC_STATUS_CODES
            .get(usize::from(s - STATUS_GRPC))
            .copied()
            .unwrap_or("grpc_UNKNOWN")
            .into(),
        other => other.to_string().into(),
    }
}

/// Where a request's `endpoint` label comes from: a route template, never the raw path.
///
/// Implemented for [`MatchedPathEndpoint`] (axum's route template, the default with the
/// `axum` feature), for [`RouteTable`](super::RouteTable) (outer mode), for [`NoEndpoint`],
/// and for closures `Fn(&Request<B>) -> Option<T>` where `T` is a `&'static str` or a
/// `String`. `None` means the request matched no route and is labelled
/// [`UNMATCHED_ENDPOINT`].
///
/// A closure returning owned strings must still return a bounded set of values (route
/// templates, not raw paths); the layer's cap ([`ApiMetricsLayer::max_endpoints`]) folds
/// anything past it into [`OVERFLOW_ENDPOINT`].
///
/// [`ApiMetricsLayer::max_endpoints`]: super::ApiMetricsLayer::max_endpoints
///
/// ```
/// use http::Request;
/// use tmc_tower::api::ResolveEndpoint;
///
/// let by_prefix = |req: &Request<()>| -> Option<String> {
///     let path = req.uri().path();
///     let tenant = path.strip_prefix("/tenants/")?.split('/').next()?;
///     ["acme", "globex"].contains(&tenant).then(|| format!("/tenants/{tenant}"))
/// };
/// let req = Request::get("/tenants/acme/users").body(()).unwrap();
/// assert_eq!(by_prefix.resolve(&req).as_deref(), Some("/tenants/acme"));
/// ```
pub trait ResolveEndpoint<B> {
    /// The route template of `request`, or `None` when it matched no route.
    fn resolve<'a>(&'a self, request: &'a Request<B>) -> Option<Cow<'a, str>>;

    /// As [`resolve`](Self::resolve), with the template's position in a fixed list of
    /// [`positions`](Self::positions) templates when the source matched against one (as
    /// [`RouteTable`](super::RouteTable) does): the layer then finds the template's metric
    /// handles by that position, without comparing or hashing the template, whichever route
    /// the previous request took. The default gives no position.
    #[inline]
    fn resolve_at<'a>(&'a self, request: &'a Request<B>) -> (Option<Cow<'a, str>>, Option<usize>) {
        (self.resolve(request), None)
    }

    /// How many positions [`resolve_at`](Self::resolve_at) can give (0 to `positions() - 1`):
    /// the length of the source's fixed list of templates. The default is 0.
    fn positions(&self) -> usize {
        0
    }
}

impl<B, F, T> ResolveEndpoint<B> for F
where
    F: Fn(&Request<B>) -> Option<T>,
    T: Into<Cow<'static, str>>,
{
    fn resolve<'a>(&'a self, request: &'a Request<B>) -> Option<Cow<'a, str>> {
        self(request).map(Into::into)
    }
}

/// Resolves no endpoint: every request is [`UNMATCHED_ENDPOINT`]. The default without the
/// `axum` feature.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEndpoint;

impl<B> ResolveEndpoint<B> for NoEndpoint {
    fn resolve<'a>(&'a self, _: &'a Request<B>) -> Option<Cow<'a, str>> {
        None
    }
}

/// The route template axum matched (`/api/v1/placements/{id}`), from the `MatchedPath`
/// request extension; nested routers' templates are joined by axum. Requires the layer to
/// be added with `Router::layer` (inside the router), where the template is known.
#[cfg(feature = "axum")]
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchedPathEndpoint;

#[cfg(feature = "axum")]
impl<B> ResolveEndpoint<B> for MatchedPathEndpoint {
    fn resolve<'a>(&'a self, request: &'a Request<B>) -> Option<Cow<'a, str>> {
        matched_path(request).map(Cow::Borrowed)
    }
}

/// axum's route template, when the request went through an axum router already.
#[cfg(feature = "axum")]
pub(crate) fn matched_path<B>(request: &Request<B>) -> Option<&str> {
    request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

/// The default endpoint source: [`MatchedPathEndpoint`] with the `axum` feature, else
/// [`NoEndpoint`].
#[cfg(feature = "axum")]
pub type DefaultEndpoint = MatchedPathEndpoint;
/// The default endpoint source: [`MatchedPathEndpoint`] with the `axum` feature, else
/// [`NoEndpoint`].
#[cfg(not(feature = "axum"))]
pub type DefaultEndpoint = NoEndpoint;
