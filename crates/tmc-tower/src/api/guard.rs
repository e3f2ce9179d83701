//! The guard that records a request once, however it ends.

use super::cache::Endpoint;
use super::labels::STATUS_CANCELLED;
use std::sync::Arc;

/// Lives from the call until the response ends (the body's end, or its head with
/// `record_at_head`), then records the request. Dropped before that, it records
/// [`CANCELLED_STATUS`](super::CANCELLED_STATUS): nothing is lost, and the in-flight gauge
/// always comes back down.
pub(crate) struct RequestGuard {
    endpoint: Arc<Endpoint>,
    /// Raw clock reading at the call (see `quanta::Clock::raw`).
    start: u64,
    status: u16,
}

impl RequestGuard {
    #[inline]
    pub(crate) fn start(endpoint: Arc<Endpoint>) -> Self {
        endpoint.in_flight.increment(1.0);
        let start = endpoint.clock.raw();
        Self {
            endpoint,
            start,
            status: STATUS_CANCELLED,
        }
    }

    /// Records the request as ended with `status` (a status code or a sentinel).
    #[inline]
    pub(crate) fn finish(mut self, status: u16) {
        self.status = status;
    }
}

impl Drop for RequestGuard {
    #[inline]
    fn drop(&mut self) {
        self.endpoint.in_flight.decrement(1.0);
        let nanos = self
            .endpoint
            .clock
            .delta_as_nanos(self.start, self.endpoint.clock.raw());
        #[allow(clippy::cast_precision_loss)] // exact below 104 days
        self.endpoint.record(self.status, nanos as f64 / 1e9);
    }
}

impl std::fmt::Debug for RequestGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestGuard")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}
