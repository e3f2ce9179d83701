//! One list of routes, two products: the axum `Router` and the [`RouteTable`] of outer mode.

use super::table::{RouteError, RouteTable};
use super::{ApiMetrics, ApiMetricsLayer, ResponseBody, ResponseFuture};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::handler::Handler;
use axum::response::Response;
use axum::routing::{IntoMakeService, MethodRouter};
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Builds an axum `Router` and the matching [`RouteTable`] from one list of routes, so an
/// [`ApiMetricsLayer`](super::ApiMetricsLayer) can wrap the whole router from outside (one
/// layer call per request instead of one per route, no re-boxing of each route's response)
/// and still label every request by its route template.
///
/// Mirrors the `Router` methods that add routes (`route`, `nest`, `merge`) and passes
/// `fallback` through; anything else (layers, state) goes on the built `Router`. Every
/// template is checked before axum sees it, so a bad one is an error from
/// [`build`](Self::build), not a panic. Two method routers given for one path must not
/// overlap in methods (axum panics on that, as `Router::route` does).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use axum::{body::Body, routing::get};
/// use http::Request;
/// use tower::{Layer, ServiceExt};
/// use tmc_metrics::Metrics;
/// use tmc_tower::api::{ApiMetricsLayer, ApiRoutes};
///
/// let metrics = Metrics::builder().build()?;
/// let v1 = ApiRoutes::new().route("/placements/{id}", get(|| async { "placement" }));
/// let (router, table) = ApiRoutes::new()
///     .route("/users/{id}", get(|| async { "user" }))
///     .nest("/api/v1", v1)
///     .build()?;
/// // Outer mode: the layer wraps the whole router.
/// let app = ApiMetricsLayer::new(&metrics).endpoint(table).layer(router);
///
/// let response = app.oneshot(Request::get("/api/v1/placements/7").body(Body::empty()).unwrap()).await.unwrap();
/// axum::body::to_bytes(axum::body::Body::new(response.into_body()), usize::MAX).await.unwrap();
/// assert!(metrics.render().contains(
///     r#"tmc_api_requests_total{method="GET",endpoint="/api/v1/placements/{id}",status_code="200"} 1"#
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
///
/// To serve it with `axum::serve`, let [`instrument`](Self::instrument) build and wrap the
/// router in one call: it answers with axum's body type.
#[derive(Debug)]
#[must_use]
pub struct ApiRoutes<S = ()> {
    router: Router<S>,
    table: RouteTable,
    error: Option<RouteError>,
}

impl<S: Clone + Send + Sync + 'static> Default for ApiRoutes<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> ApiRoutes<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            table: RouteTable::new(),
            error: None,
        }
    }

    /// As `Router::route`: `method_router` serves `path`, a template in axum's syntax.
    pub fn route(mut self, path: &str, method_router: MethodRouter<S>) -> Self {
        if self.error.is_none() {
            match check(path).and_then(|()| self.table.insert(path)) {
                Ok(()) => self.router = self.router.route(path, method_router),
                Err(e) => self.error = Some(e),
            }
        }
        self
    }

    /// As `Router::nest`: `routes` served under `prefix` (templates joined as axum joins
    /// them, so they equal axum's `MatchedPath`).
    pub fn nest(mut self, prefix: &str, routes: ApiRoutes<S>) -> Self {
        if self.error.is_some() {
            return self;
        }
        if let Some(e) = routes.error {
            self.error = Some(e);
            return self;
        }
        let joined = check_prefix(prefix).and_then(|()| {
            routes
                .table
                .templates()
                .try_for_each(|t| self.table.insert(&join(prefix, t)))
        });
        match joined {
            Ok(()) => self.router = self.router.nest(prefix, routes.router),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// As `Router::merge`: the routes of `other` beside these.
    pub fn merge(mut self, other: ApiRoutes<S>) -> Self {
        if self.error.is_some() {
            return self;
        }
        if let Some(e) = other.error {
            self.error = Some(e);
            return self;
        }
        match other
            .table
            .templates()
            .try_for_each(|t| self.table.insert(t))
        {
            Ok(()) => self.router = self.router.merge(other.router),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// As `Router::fallback`: what serves paths no route matches (labelled
    /// [`UNMATCHED_ENDPOINT`](super::UNMATCHED_ENDPOINT)).
    pub fn fallback<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.fallback(handler);
        self
    }

    /// The router and its route table.
    ///
    /// # Errors
    /// The first route template that was refused: one not starting with `/`, using axum
    /// 0.7's `:param` / `*wildcard` syntax, malformed, or conflicting with another; or a
    /// nest prefix that is `/`, empty, or has a wildcard.
    pub fn build(self) -> Result<(Router<S>, RouteTable), RouteError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok((self.router, self.table)),
        }
    }
}

/// The checks axum makes with a panic, made with an error instead.
fn check(path: &str) -> Result<(), RouteError> {
    if !path.starts_with('/') {
        return Err(RouteError::new(path, "it does not start with '/'"));
    }
    if path
        .split('/')
        .any(|s| s.starts_with(':') || s.starts_with('*'))
    {
        return Err(RouteError::new(
            path,
            "a segment starts with ':' or '*' (axum 0.7 syntax; use {param} or {*rest})",
        ));
    }
    Ok(())
}

fn check_prefix(prefix: &str) -> Result<(), RouteError> {
    check(prefix)?;
    if prefix.len() < 2 {
        return Err(RouteError::new(prefix, "nesting at the root: use merge"));
    }
    if prefix.split('/').any(|s| s.starts_with("{*")) {
        return Err(RouteError::new(
            prefix,
            "a nest prefix cannot hold a wildcard",
        ));
    }
    Ok(())
}

/// The template axum gives a route `path` nested at `prefix`.
fn join(prefix: &str, path: &str) -> String {
    if prefix.ends_with('/') {
        format!("{prefix}{}", path.trim_start_matches('/'))
    } else if path == "/" {
        prefix.to_owned()
    } else {
        format!("{prefix}{path}")
    }
}

impl ApiRoutes<()> {
    /// Outer mode in one call: builds the router and its table, and wraps the whole router
    /// in `layer` with the table as its endpoint source. The result is ready for
    /// `axum::serve(listener, app.into_make_service())`.
    ///
    /// ```
    /// use axum::routing::get;
    /// use tmc_tower::api::{ApiMetricsLayer, ApiRoutes};
    ///
    /// let metrics = tmc_metrics::Metrics::builder().build()?;
    /// let app = ApiRoutes::new()
    ///     .route("/users/{id}", get(|| async { "user" }))
    ///     .instrument(ApiMetricsLayer::new(&metrics))?;
    /// # async fn serve(app: tmc_tower::api::MeteredRouter) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// axum::serve(listener, app.into_make_service()).await
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn instrument<E>(self, layer: ApiMetricsLayer<E>) -> Result<MeteredRouter, RouteError> {
        let (router, table) = self.build()?;
        // `with_state(())` turns every handler into a route now, as axum's own
        // `Router::into_make_service` and `axum::serve` do; a `Router` called as a plain
        // service would convert (and allocate for) its handler on every request.
        Ok(MeteredRouter {
            inner: layer.endpoint(table).layer(router.with_state(())),
        })
    }
}

/// An axum `Router` wrapped whole by [`ApiMetricsLayer`] in outer mode, answering with axum's
/// body type so `axum::serve` takes it. Made by [`ApiRoutes::instrument`].
#[derive(Debug, Clone)]
pub struct MeteredRouter {
    inner: ApiMetrics<Router, RouteTable>,
}

impl MeteredRouter {
    /// A make-service for `axum::serve`.
    pub fn into_make_service(self) -> IntoMakeService<Self> {
        axum::ServiceExt::<Request>::into_make_service(self)
    }

    /// The wrapped router.
    pub fn into_inner(self) -> Router {
        self.inner.into_inner()
    }
}

impl Service<Request> for MeteredRouter {
    type Response = Response;
    type Error = Infallible;
    type Future = MeteredFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        MeteredFuture {
            inner: self.inner.call(request),
        }
    }
}

type RouterFuture = <Router as Service<Request>>::Future;

pin_project! {
    /// The future of [`MeteredRouter`].
    pub struct MeteredFuture {
        #[pin]
        inner: ResponseFuture<RouterFuture>,
    }
}

impl std::fmt::Debug for MeteredFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredFuture").finish_non_exhaustive()
    }
}

impl Future for MeteredFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // axum's body as it is when nothing is left to measure; else one more box.
        self.project()
            .inner
            .poll_with(cx, |response, guard, grpc| match guard {
                None => response,
                guard => response.map(|body| Body::new(ResponseBody::new(body, guard, grpc))),
            })
    }
}
