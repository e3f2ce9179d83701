//! The response body that ends the request's measurement when it ends.

use super::guard::RequestGuard;
use super::labels::{STATUS_ERROR, grpc_status};
use http_body::Frame;
use http_body::{Body, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The response body of [`ApiMetrics`](super::ApiMetrics): the inner body, carrying the
    /// request's guard until its last frame, so the duration covers streamed bodies and a body
    /// dropped early is counted as cancelled.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        guard: Option<(RequestGuard, u16)>,
        grpc: bool,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, guard: Option<(RequestGuard, u16)>, grpc: bool) -> Self {
        Self { inner, guard, grpc }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if *this.grpc
            && let Some(Ok(frame)) = &frame
            && let Some(trailers) = frame.trailers_ref()
            && let Some(status) = grpc_status(trailers)
            && let Some((_, head)) = this.guard.as_mut()
        {
            *head = status;
        }
        let ended = match &frame {
            None => Some(None),
            Some(Err(_)) => Some(Some(STATUS_ERROR)),
            Some(Ok(_)) if this.inner.is_end_stream() => Some(None),
            Some(Ok(_)) => None,
        };
        if let Some(status) = ended
            && let Some((guard, head)) = this.guard.take()
        {
            guard.finish(status.unwrap_or(head));
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
