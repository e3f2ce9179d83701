//! Label values: methods and statuses as static strings, and where the endpoint comes from.

use http::{Method, Request};

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

/// Where a request's `endpoint` label comes from: a route template, never the raw path.
///
/// Implemented for [`MatchedPathEndpoint`] (axum's route template, the default with the
/// `axum` feature), for [`NoEndpoint`], and for closures
/// `Fn(&Request<B>) -> Option<&'static str>`. `None` means the request matched no route and
/// is labelled [`UNMATCHED_ENDPOINT`].
///
/// ```
/// use http::Request;
/// use tmc_tower::api::ResolveEndpoint;
///
/// let by_prefix = |req: &Request<()>| -> Option<&'static str> {
///     let path = req.uri().path();
///     if path.starts_with("/users/") { Some("/users/{id}") } else { None }
/// };
/// let req = Request::get("/users/42").body(()).unwrap();
/// assert_eq!(by_prefix.resolve(&req), Some("/users/{id}"));
/// ```
pub trait ResolveEndpoint<B> {
    /// The route template of `request`, or `None` when it matched no route.
    fn resolve<'r>(&self, request: &'r Request<B>) -> Option<&'r str>;
}

impl<B, F> ResolveEndpoint<B> for F
where
    F: Fn(&Request<B>) -> Option<&'static str>,
{
    fn resolve<'r>(&self, request: &'r Request<B>) -> Option<&'r str> {
        self(request)
    }
}

/// Resolves no endpoint: every request is [`UNMATCHED_ENDPOINT`]. The default without the
/// `axum` feature.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEndpoint;

impl<B> ResolveEndpoint<B> for NoEndpoint {
    fn resolve<'r>(&self, _: &'r Request<B>) -> Option<&'r str> {
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
    fn resolve<'r>(&self, request: &'r Request<B>) -> Option<&'r str> {
        request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(axum::extract::MatchedPath::as_str)
    }
}

/// The default endpoint source: [`MatchedPathEndpoint`] with the `axum` feature, else
/// [`NoEndpoint`].
#[cfg(feature = "axum")]
pub type DefaultEndpoint = MatchedPathEndpoint;
/// The default endpoint source: [`MatchedPathEndpoint`] with the `axum` feature, else
/// [`NoEndpoint`].
#[cfg(not(feature = "axum"))]
pub type DefaultEndpoint = NoEndpoint;
