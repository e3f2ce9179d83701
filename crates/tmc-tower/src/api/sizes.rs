//! Opt-in body size histograms, counted frame by frame as the bodies stream.

use super::cache::{RouteState, Shared};
use super::labels::{ResolveEndpoint, method_label};
use bytes::Buf;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tmc_metrics::metrics::Histogram;
use tower::{Layer, Service};

/// Adds [`BodySizes`] to a service: `tmc_api_request_body_size_bytes` and
/// `tmc_api_response_body_size_bytes{method,endpoint}`, the bytes each body carried,
/// counted as it streams and recorded when it ends (or is dropped, with what it carried so
/// far). Made by [`ApiMetricsLayer::body_sizes`](super::ApiMetricsLayer::body_sizes), so it
/// labels, excludes, groups and caps endpoints exactly as that layer does.
///
/// ```
/// use tower::ServiceBuilder;
/// use tmc_tower::api::{ApiMetricsLayer, RouteTable};
///
/// let metrics = tmc_metrics::Metrics::builder().build()?;
/// let api = ApiMetricsLayer::new(&metrics).endpoint(RouteTable::new().with("/upload")?);
/// let stack = ServiceBuilder::new().layer(api.clone()).layer(api.body_sizes());
/// # let _ = stack;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct BodySizeLayer<E> {
    shared: Arc<Shared>,
    endpoint: E,
}

impl<E> BodySizeLayer<E> {
    pub(crate) fn new(shared: Arc<Shared>, endpoint: E) -> Self {
        Self { shared, endpoint }
    }
}

impl<S, E: Clone> Layer<S> for BodySizeLayer<E> {
    type Service = BodySizes<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        self.shared.folded();
        BodySizes {
            inner,
            route: Arc::new(RouteState::new(self.shared.clone())),
            endpoint: self.endpoint.clone(),
        }
    }
}

/// Records the size of every request and response body. Built by [`BodySizeLayer`].
#[derive(Debug, Clone)]
pub struct BodySizes<S, E> {
    inner: S,
    route: Arc<RouteState>,
    endpoint: E,
}

impl<S, E> BodySizes<S, E> {
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

impl<S, E, ReqBody, ResBody> Service<Request<ReqBody>> for BodySizes<S, E>
where
    S: Service<Request<SizedBody<ReqBody>>, Response = Response<ResBody>>,
    E: ResolveEndpoint<ReqBody>,
{
    type Response = Response<SizedBody<ResBody>>;
    type Error = S::Error;
    type Future = SizesFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let route = &*self.route;
        let endpoint = route.shared.endpoint_cached(
            route,
            method_label(request.method()),
            self.endpoint.resolve(&request).as_deref(),
        );
        let [request_size, response_size] = match endpoint.as_deref().map(|e| e.sizes()) {
            Some([req, res]) => [Some(req.clone()), Some(res.clone())],
            None => [None, None],
        };
        let request = request.map(|body| SizedBody::new(body, request_size));
        SizesFuture {
            inner: self.inner.call(request),
            response_size,
        }
    }
}

pin_project! {
    /// The future of [`BodySizes`]: wraps the response body in a [`SizedBody`].
    #[derive(Debug)]
    pub struct SizesFuture<F> {
        #[pin]
        inner: F,
        response_size: Option<Histogram>,
    }
}

impl<F, B, Err> Future for SizesFuture<F>
where
    F: Future<Output = Result<Response<B>, Err>>,
{
    type Output = Result<Response<SizedBody<B>>, Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let size = this.response_size.take();
        Poll::Ready(result.map(|response| response.map(|body| SizedBody::new(body, size))))
    }
}

/// Counts bytes and records them once, when the body ends or is dropped.
#[derive(Debug)]
struct Tally {
    histogram: Histogram,
    bytes: u64,
}

impl Drop for Tally {
    fn drop(&mut self) {
        #[allow(clippy::cast_precision_loss)] // exact below 8 PiB
        self.histogram.record(self.bytes as f64);
    }
}

pin_project! {
    /// A request or response body whose size [`BodySizes`] records.
    #[derive(Debug)]
    pub struct SizedBody<B> {
        #[pin]
        inner: B,
        tally: Option<Tally>,
    }
}

impl<B> SizedBody<B> {
    fn new(inner: B, histogram: Option<Histogram>) -> Self {
        Self {
            inner,
            tally: histogram.map(|histogram| Tally {
                histogram,
                bytes: 0,
            }),
        }
    }

    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The inner body, unwrapped (its size is then recorded as what it carried so far).
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for SizedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let Some(tally) = this.tally.as_mut()
            && let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref))
            && let Some(data) = data
        {
            tally.bytes = tally
                .bytes
                .saturating_add(u64::try_from(data.remaining()).unwrap_or(u64::MAX));
        }
        if frame.is_none() || this.inner.is_end_stream() {
            this.tally.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
