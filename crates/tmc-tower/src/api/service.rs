//! The service.

use super::body::ResponseBody;
use super::cache::{RouteState, Shared};
use super::future::{Flags, ResponseFuture};
use super::guard::RequestGuard;
use super::labels::{ResolveEndpoint, method_label};
use http::{Request, Response};
use http_body::Body;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// Records `tmc_api_requests_total`, `tmc_api_request_duration_seconds` and
/// `tmc_api_requests_in_flight` for every request through the inner service.
/// Built by [`ApiMetricsLayer`](super::ApiMetricsLayer).
#[derive(Debug, Clone)]
pub struct ApiMetrics<S, E = super::DefaultEndpoint> {
    inner: S,
    route: Arc<RouteState>,
    endpoint: E,
}

impl<S, E> ApiMetrics<S, E> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>, endpoint: E) -> Self {
        Self {
            inner,
            route: Arc::new(RouteState::new(shared)),
            endpoint,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, E, ReqBody, ResBody> Service<Request<ReqBody>> for ApiMetrics<S, E>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    E: ResolveEndpoint<ReqBody>,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = method_label(request.method());
        let route = &*self.route;
        let endpoint = match self.endpoint.resolve_at(&request) {
            (template, Some(at)) => route.endpoint_at(
                at,
                || self.endpoint.positions(),
                method,
                template.as_deref(),
            ),
            (template, None) => route
                .shared
                .endpoint_cached(route, method, template.as_deref()),
        };
        let guard = endpoint
            .map(|endpoint| RequestGuard::start(endpoint, route.shared.config.spans, &request));
        let head_only = request.method() == http::Method::HEAD;
        let config = &route.shared.config;
        let flags = Flags {
            at_head: config.at_head,
            grpc: config.grpc,
        };
        let entered = guard
            .as_ref()
            .and_then(|g| g.span.as_deref())
            .map(tracing::Span::enter);
        let inner = self.inner.call(request);
        drop(entered);
        ResponseFuture::new(inner, guard, head_only, flags)
    }
}
