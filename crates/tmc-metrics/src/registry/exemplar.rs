//! Exemplars (feature `opentelemetry`): the trace and span ids of the OpenTelemetry context
//! of the current `tracing` span, kept beside a counter's value and each histogram bucket.
//!
//! The lookup lives here, in the crate that records, because recording goes through the
//! `metrics` facade, whose handles are called with a value and nothing else: the current
//! span is the only context a cell can see. A slot keeps the latest exemplar only, so each
//! scrape sees at most one per counter and per bucket, the latest since the series started
//! (Prometheus drops one it already stored: each carries its timestamp). Without the feature
//! the cells have no slot and nothing is looked up; with it, a registry built without
//! [`MetricsBuilder::exemplars`](crate::MetricsBuilder::exemplars) has no slot either.

use opentelemetry::trace::TraceContextExt as _;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// One exemplar: the ids, the observed value and when (since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) value: f64,
    pub(crate) millis: u64,
}

/// The latest exemplar of one counter or one bucket.
#[derive(Debug, Default)]
pub(crate) struct Slot(Mutex<Option<Exemplar>>);

impl Slot {
    /// Keeps `value` with the ids of the current span, when it has a sampled OpenTelemetry
    /// span context; leaves the slot as it is otherwise.
    #[inline]
    pub(crate) fn offer(&self, value: f64) {
        if let Some((trace_id, span_id)) = current_ids() {
            let millis = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Exemplar {
                trace_id,
                span_id,
                value,
                millis,
            });
        }
    }

    pub(crate) fn get(&self) -> Option<Exemplar> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The trace and span ids of the current span's OpenTelemetry context, if it is sampled.
fn current_ids() -> Option<([u8; 16], [u8; 8])> {
    let span = tracing::Span::current();
    if span.is_none() {
        return None;
    }
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    (sc.is_valid() && sc.is_sampled()).then(|| (sc.trace_id().to_bytes(), sc.span_id().to_bytes()))
}

/// Appends ` # {trace_id="…",span_id="…"} value timestamp`, the OpenMetrics exemplar after
/// a sample's value (63 characters of labels, well under the limit of 128).
pub(crate) fn write(out: &mut String, e: &Exemplar) {
    out.push_str(" # {trace_id=\"");
    hex(out, &e.trace_id);
    out.push_str("\",span_id=\"");
    hex(out, &e.span_id);
    out.push_str("\"} ");
    super::text::float(out, e.value);
    out.push(' ');
    out.push_str(itoa::Buffer::new().format(e.millis / 1000));
    out.push('.');
    let ms = e.millis % 1000;
    out.push(char::from(b'0' + u8::try_from(ms / 100).unwrap_or(0)));
    out.push(char::from(b'0' + u8::try_from(ms / 10 % 10).unwrap_or(0)));
    out.push(char::from(b'0' + u8::try_from(ms % 10).unwrap_or(0)));
}

/// Lower-case hex, as W3C trace context writes ids.
pub(crate) fn hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exemplar_renders_as_openmetrics_writes_it() {
        let mut out = String::new();
        write(
            &mut out,
            &Exemplar {
                trace_id: [0xab; 16],
                span_id: [0x01; 8],
                value: 0.25,
                millis: 1_700_000_000_042,
            },
        );
        assert_eq!(
            out,
            " # {trace_id=\"abababababababababababababababab\",span_id=\"0101010101010101\"} 0.25 1700000000.042"
        );
    }

    #[test]
    fn no_span_no_exemplar() {
        let slot = Slot::default();
        slot.offer(1.0);
        assert_eq!(slot.get(), None);
    }
}
