//! The response future.

use super::body::ResponseBody;
use super::guard::RequestGuard;
use super::labels::{STATUS_ERROR, grpc_status};
use http::{Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// The future of [`ApiMetrics`](super::ApiMetrics). Dropped before the response head,
    /// it records the request as cancelled.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<RequestGuard>,
        head_only: bool,
        config: Flags,
    }
}

/// The layer settings a response needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flags {
    pub(crate) at_head: bool,
    pub(crate) grpc: bool,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        guard: Option<RequestGuard>,
        head_only: bool,
        config: Flags,
    ) -> Self {
        Self {
            inner,
            guard,
            head_only,
            config,
        }
    }
}

/// Responses that carry no body whatever the body type says, so the server never polls it.
fn bodiless(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

impl<F> ResponseFuture<F> {
    /// Polls the inner future to the response head, settles the guard and hands `wrap` the
    /// response, the guard with the status to record when the body has to carry them (`None`
    /// when the request is already recorded or excluded) and whether gRPC statuses are read.
    /// The [`Future`] impl and outer mode's `MeteredFuture` build their body in `wrap`, so
    /// each moves the response once.
    #[inline]
    pub(crate) fn poll_with<B, E, R>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        wrap: impl FnOnce(Response<B>, Option<(RequestGuard, u16)>, bool) -> R,
    ) -> Poll<Result<R, E>>
    where
        F: Future<Output = Result<Response<B>, E>>,
        B: Body,
    {
        let this = self.project();
        let polled = {
            let _entered = this
                .guard
                .as_ref()
                .and_then(|g| g.span.as_deref())
                .map(tracing::Span::enter);
            this.inner.poll(cx)
        };
        // The head is read where the poll left it, and the response moved out of the poll
        // once, into `wrap`: each move of a response is 128 bytes of head.
        let Flags { at_head, grpc } = *this.config;
        let (status, ends_now) = match &polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(response)) => {
                let http_status = response.status();
                let status = grpc
                    .then(|| grpc_status(response.headers()))
                    .flatten()
                    .unwrap_or(http_status.as_u16());
                let ends_now = at_head
                    || *this.head_only
                    || bodiless(http_status)
                    || response.body().is_end_stream();
                (status, ends_now)
            }
            Poll::Ready(Err(_)) => (STATUS_ERROR, true),
        };
        let guard = match this.guard.take() {
            Some(guard) if ends_now => {
                guard.finish(status);
                None
            }
            other => other.map(|g| (g, status)),
        };
        match polled {
            Poll::Ready(Ok(response)) => Poll::Ready(Ok(wrap(response, guard, grpc))),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_with(cx, |response, guard, grpc| {
            response.map(|body| ResponseBody::new(body, guard, grpc))
        })
    }
}
