//! The guard that records a request once, however it ends.

use super::cache::Endpoint;
use super::labels::{STATUS_CANCELLED, STATUS_ERROR, STATUS_GRPC, status_label};
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
    /// The request's protocol version and scheme, for OpenTelemetry's names (else 0).
    connection: u8,
    /// The request's `api_request` span; `None` when spans are off or no subscriber wants
    /// it, so a disabled span is never entered, exited or dropped (each would check for a
    /// `log` logger when tracing's `log` feature is on). Boxed: a span is five words, and
    /// the guard is moved with every future and body that carries it (into the response
    /// future, out of it, into the body): one word instead of five on each move.
    pub(crate) span: Option<Box<tracing::Span>>,
}

impl RequestGuard {
    #[inline]
    pub(crate) fn start<B>(
        endpoint: Arc<Endpoint>,
        spans: bool,
        request: &http::Request<B>,
    ) -> Self {
        let span = (spans && info_wanted())
            .then(|| {
                tracing::info_span!(
                    "api_request",
                    method = endpoint.method,
                    route = &*endpoint.label,
                    status = tracing::field::Empty,
                    outcome = tracing::field::Empty,
                )
            })
            .filter(|span| !span.is_disabled())
            .map(Box::new);
        endpoint.in_flight.increment(1.0);
        let connection = match &endpoint.otel {
            Some(otel) => otel.start(request),
            None => 0,
        };
        let start = endpoint.clock.raw();
        Self {
            endpoint,
            start,
            status: STATUS_CANCELLED,
            connection,
            span,
        }
    }

    /// Records the request as ended with `status` (a status code or a sentinel).
    #[inline]
    pub(crate) fn finish(mut self, status: u16) {
        self.status = status;
    }
}

/// Whether any subscriber could want an `info` span: one atomic load, before the span
/// macro. With none, the macro's disabled path would still hand the fields to the `log`
/// crate's check when tracing's `log` feature is on (tower turns it on).
#[inline]
fn info_wanted() -> bool {
    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    tracing::Level::INFO <= STATIC_MAX_LEVEL && tracing::Level::INFO <= LevelFilter::current()
}

/// The span's `outcome` of a stored status, as the shipped API error-rate alert counts
/// failures: a 5xx, a failed service or body, or a server-side gRPC status (`UNKNOWN`,
/// `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`) is an error;
/// a request dropped first or a `grpc_CANCELLED` call is cancelled; the rest succeeded.
fn outcome(status: u16) -> &'static str {
    const GRPC_CANCELLED: u16 = STATUS_GRPC + 1;
    const GRPC_SERVER_ERRORS: [u16; 6] = [2, 4, 12, 13, 14, 15];
    match status {
        STATUS_CANCELLED | GRPC_CANCELLED => "cancelled",
        STATUS_ERROR | 500..=999 => "error",
        s if s > STATUS_GRPC && GRPC_SERVER_ERRORS.contains(&(s - STATUS_GRPC)) => "error",
        _ => "success",
    }
}

impl Drop for RequestGuard {
    #[inline]
    fn drop(&mut self) {
        self.record();
    }
}

impl RequestGuard {
    /// Records the request. Out of line: the drop glue of an `Option` holding a guard (the
    /// response future's and the body's, run when the guard has long been taken) then
    /// checks for `None` without first saving the registers this needs: 14 instructions
    /// per such drop, against one call per request here.
    #[inline(never)]
    fn record(&mut self) {
        if let Some(span) = &self.span {
            if (100..STATUS_GRPC).contains(&self.status) {
                span.record("status", self.status);
            } else {
                span.record("status", &*status_label(self.status));
            }
            span.record("outcome", outcome(self.status));
        }
        let _entered = self.span.as_deref().map(tracing::Span::enter);
        self.endpoint.in_flight.decrement(1.0);
        let nanos = self
            .endpoint
            .clock
            .delta_as_nanos(self.start, self.endpoint.clock.raw());
        #[allow(clippy::cast_precision_loss)] // exact below 104 days
        let seconds = nanos as f64 / 1e9;
        self.endpoint.record(self.status, seconds);
        if let Some(otel) = &self.endpoint.otel {
            otel.finish(self.connection, self.status, seconds);
        }
    }
}

impl std::fmt::Debug for RequestGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestGuard")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}
