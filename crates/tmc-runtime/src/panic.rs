//! Catching a panicking future without a task per reconcile.

use pin_project_lite::pin_project;
use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// Polls `inner`, turning a panic into `Err(message)`. The panicked future is dropped
    /// at once (a panic in its destructor is swallowed too).
    #[derive(Debug)]
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        inner: Option<F>,
    }
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner: Some(inner) }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.project().inner;
        let Some(fut) = slot.as_mut().as_pin_mut() else {
            // Polled after completion: never resolves again.
            return Poll::Pending;
        };
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                slot.set(None);
                Poll::Ready(Ok(out))
            }
            Err(payload) => {
                let _ = catch_unwind(AssertUnwindSafe(|| slot.set(None)));
                Poll::Ready(Err(message(payload.as_ref())))
            }
        }
    }
}

/// The text of a panic payload.
fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn panics_should_become_errors_with_their_message() {
        let out = CatchUnwind::new(async {
            tokio::task::yield_now().await;
            panic!("boom {}", 42);
        })
        .await;
        assert_eq!(out, Err::<(), _>("boom 42".to_owned()));
        let ok = CatchUnwind::new(async { 7 }).await;
        assert_eq!(ok, Ok(7));
    }
}
