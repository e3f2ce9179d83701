//! The protobuf exposition: length-delimited `io.prometheus.client.MetricFamily` messages
//! (upstream `metrics.proto`, proto2), written straight from the cells.
//!
//! Nothing is built as message structs: each field is written as it is read, nested messages
//! get their length patched in when they end, and each series' labels were encoded once, at
//! registration. Why not `prost`'s own types: building a message tree per scrape allocates
//! per series and label, which is what makes metrics-exporter-prometheus's protobuf render
//! 7–9× slower than this one (`benches/exposition.rs`); `prost` still pins the wire format,
//! in the tests. Histograms carry their classic buckets (without `+Inf`, which Prometheus
//! derives from the count, as `client_golang` writes them) and, for a family with a native
//! histogram, its schema, zero bucket, spans and deltas, and the buckets' exemplars.
//! The field numbers are pinned by tests that decode the output with `prost` message types
//! written from the upstream file.

use super::family::{Cell, Family, Series};
use super::native::Snapshot;
use super::{Registry, histogram::AnyHistogramCell};
use crate::catalog::MetricKind;

// Field numbers, from upstream `metrics.proto`.
mod field {
    pub(super) const FAMILY_NAME: u32 = 1;
    pub(super) const FAMILY_HELP: u32 = 2;
    pub(super) const FAMILY_TYPE: u32 = 3;
    pub(super) const FAMILY_METRIC: u32 = 4;
    pub(super) const LABEL_NAME: u32 = 1;
    pub(super) const LABEL_VALUE: u32 = 2;
    pub(super) const METRIC_LABEL: u32 = 1;
    pub(super) const METRIC_GAUGE: u32 = 2;
    pub(super) const METRIC_COUNTER: u32 = 3;
    pub(super) const METRIC_HISTOGRAM: u32 = 7;
    pub(super) const VALUE: u32 = 1;
    #[cfg(feature = "opentelemetry")]
    pub(super) const COUNTER_EXEMPLAR: u32 = 2;
    pub(super) const SAMPLE_COUNT: u32 = 1;
    pub(super) const SAMPLE_SUM: u32 = 2;
    pub(super) const BUCKET: u32 = 3;
    pub(super) const SCHEMA: u32 = 5;
    pub(super) const ZERO_THRESHOLD: u32 = 6;
    pub(super) const ZERO_COUNT: u32 = 7;
    pub(super) const NEGATIVE_SPAN: u32 = 9;
    pub(super) const NEGATIVE_DELTA: u32 = 10;
    pub(super) const POSITIVE_SPAN: u32 = 12;
    pub(super) const POSITIVE_DELTA: u32 = 13;
    #[cfg(feature = "opentelemetry")]
    pub(super) const EXEMPLARS: u32 = 16;
    pub(super) const CUMULATIVE_COUNT: u32 = 1;
    pub(super) const UPPER_BOUND: u32 = 2;
    #[cfg(feature = "opentelemetry")]
    pub(super) const BUCKET_EXEMPLAR: u32 = 3;
    pub(super) const SPAN_OFFSET: u32 = 1;
    pub(super) const SPAN_LENGTH: u32 = 2;
}

/// `MetricType` values.
const COUNTER: u64 = 0;
const GAUGE: u64 = 1;
const HISTOGRAM: u64 = 4;

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

impl Registry {
    /// Renders every live series as length-delimited `MetricFamily` messages.
    pub(crate) fn render_protobuf(&self) -> Vec<u8> {
        let now = self.tick();
        let period = self.retention();
        let families = self.sorted_families();
        let mut out = Vec::with_capacity(self.last_len().saturating_add(4096));
        let mut scratch = Vec::new();
        for family in &families {
            family.with_live_series(now, period, |series| {
                if !series.is_empty() {
                    let start = begin_delimited(&mut out);
                    write_family(&mut out, family, series, &mut scratch);
                    end(&mut out, start);
                }
            });
        }
        self.set_last_len(out.len());
        out
    }

    /// Encodes `labels` as the `label` fields of a `Metric`, for [`Series`].
    pub(crate) fn label_pairs<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> Box<[u8]> {
        let mut out = Vec::new();
        for (name, value) in labels {
            let at = begin(&mut out, field::METRIC_LABEL);
            string(&mut out, field::LABEL_NAME, name);
            string(&mut out, field::LABEL_VALUE, value);
            end(&mut out, at);
        }
        out.into_boxed_slice()
    }
}

fn write_family(out: &mut Vec<u8>, family: &Family, series: &[&Series], scratch: &mut Vec<u64>) {
    string(out, field::FAMILY_NAME, family.name());
    let help = family.help();
    if !help.is_empty() {
        string(out, field::FAMILY_HELP, &help);
    }
    let kind = match family.kind() {
        MetricKind::Counter => COUNTER,
        MetricKind::Gauge => GAUGE,
        MetricKind::Histogram => HISTOGRAM,
    };
    key(out, field::FAMILY_TYPE, VARINT);
    varint(out, kind);
    for s in series {
        let metric = begin(out, field::FAMILY_METRIC);
        out.extend_from_slice(s.label_pairs());
        match s.cell() {
            Cell::Counter(c) => {
                let at = begin(out, field::METRIC_COUNTER);
                #[allow(clippy::cast_precision_loss)] // exact below 2^53, as in the text
                double(out, field::VALUE, c.get() as f64);
                #[cfg(feature = "opentelemetry")]
                if let Some(e) = c.exemplar() {
                    exemplar(out, field::COUNTER_EXEMPLAR, &e);
                }
                end(out, at);
            }
            Cell::Gauge(g) => {
                let at = begin(out, field::METRIC_GAUGE);
                double(out, field::VALUE, g.get());
                end(out, at);
            }
            Cell::Histogram(h) => {
                let at = begin(out, field::METRIC_HISTOGRAM);
                histogram(out, family, h, scratch);
                end(out, at);
            }
        }
        end(out, metric);
    }
}

fn histogram(out: &mut Vec<u8>, family: &Family, h: &AnyHistogramCell, scratch: &mut Vec<u64>) {
    let sum = h.snapshot(scratch);
    let native = h.native().map(|n| (n.spec(), n.snapshot()));
    let classic_count: u64 = scratch.iter().sum();
    // With native buckets, the count is theirs, so buckets and count always agree.
    let count = native.as_ref().map_or(classic_count, |(_, s)| s.count());
    key(out, field::SAMPLE_COUNT, VARINT);
    varint(out, count);
    double(out, field::SAMPLE_SUM, sum);
    let mut cumulative = 0u64;
    #[cfg_attr(not(feature = "opentelemetry"), allow(unused_variables))]
    for (index, (le, n)) in family.bounds().iter().zip(scratch.iter()).enumerate() {
        cumulative += n;
        let at = begin(out, field::BUCKET);
        key(out, field::CUMULATIVE_COUNT, VARINT);
        varint(out, cumulative);
        double(out, field::UPPER_BOUND, *le);
        #[cfg(feature = "opentelemetry")]
        if let Some(e) = h.exemplar(index) {
            exemplar(out, field::BUCKET_EXEMPLAR, &e);
        }
        end(out, at);
    }
    let Some((spec, snapshot)) = native else {
        return;
    };
    key(out, field::SCHEMA, VARINT);
    varint(out, zigzag(i64::from(snapshot.schema)));
    double(out, field::ZERO_THRESHOLD, spec.zero_threshold);
    key(out, field::ZERO_COUNT, VARINT);
    varint(out, snapshot.zero_count);
    buckets(
        out,
        &snapshot.negative,
        field::NEGATIVE_SPAN,
        field::NEGATIVE_DELTA,
    );
    buckets(
        out,
        &snapshot.positive,
        field::POSITIVE_SPAN,
        field::POSITIVE_DELTA,
    );
    if is_empty(&snapshot) && spec.zero_threshold == 0.0 {
        // Nothing marks it native yet: an empty span does, as `client_golang` writes it.
        let at = begin(out, field::POSITIVE_SPAN);
        key(out, field::SPAN_OFFSET, VARINT);
        varint(out, 0);
        key(out, field::SPAN_LENGTH, VARINT);
        varint(out, 0);
        end(out, at);
    }
    #[cfg(feature = "opentelemetry")]
    for index in 0..scratch.len() {
        if let Some(e) = h.exemplar(index) {
            exemplar(out, field::EXEMPLARS, &e);
        }
    }
}

fn is_empty(s: &Snapshot) -> bool {
    s.positive.is_empty() && s.negative.is_empty() && s.zero_count == 0
}

/// The spans and deltas of sorted `(index, count)` buckets, as `client_golang` makes them:
/// a gap of one or two empty buckets is written as zero counts inside the span, a longer one
/// starts a new span.
pub(crate) fn spans_and_deltas(buckets: &[(i32, u64)]) -> (Vec<(i32, u32)>, Vec<i64>) {
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut deltas = Vec::with_capacity(buckets.len());
    let mut previous = 0i64;
    let mut next = 0i32;
    for (n, (index, count)) in buckets.iter().enumerate() {
        let gap = index - next;
        if n == 0 || gap > 2 {
            spans.push((gap, 0));
        } else {
            for _ in 0..gap {
                if let Some(span) = spans.last_mut() {
                    span.1 += 1;
                }
                deltas.push(-previous);
                previous = 0;
            }
        }
        let count = i64::try_from(*count).unwrap_or(i64::MAX);
        if let Some(span) = spans.last_mut() {
            span.1 += 1;
        }
        deltas.push(count - previous);
        previous = count;
        next = index + 1;
    }
    (spans, deltas)
}

fn buckets(out: &mut Vec<u8>, buckets: &[(i32, u64)], span_field: u32, delta_field: u32) {
    let (spans, deltas) = spans_and_deltas(buckets);
    for (offset, length) in spans {
        let at = begin(out, span_field);
        key(out, field::SPAN_OFFSET, VARINT);
        varint(out, zigzag(i64::from(offset)));
        key(out, field::SPAN_LENGTH, VARINT);
        varint(out, u64::from(length));
        end(out, at);
    }
    // proto2 repeated scalars are not packed: one key per delta.
    for delta in deltas {
        key(out, delta_field, VARINT);
        varint(out, zigzag(delta));
    }
}

#[cfg(feature = "opentelemetry")]
fn exemplar(out: &mut Vec<u8>, field: u32, e: &super::exemplar::Exemplar) {
    let at = begin(out, field);
    let mut hex = String::with_capacity(32);
    super::exemplar::hex(&mut hex, &e.trace_id);
    let label = begin(out, 1);
    string(out, field::LABEL_NAME, "trace_id");
    string(out, field::LABEL_VALUE, &hex);
    end(out, label);
    hex.clear();
    super::exemplar::hex(&mut hex, &e.span_id);
    let label = begin(out, 1);
    string(out, field::LABEL_NAME, "span_id");
    string(out, field::LABEL_VALUE, &hex);
    end(out, label);
    double(out, 2, e.value);
    // `google.protobuf.Timestamp` is proto3: zero fields are left out.
    let ts = begin(out, 3);
    if e.millis >= 1000 {
        key(out, 1, VARINT);
        varint(out, e.millis / 1000);
    }
    if !e.millis.is_multiple_of(1000) {
        key(out, 2, VARINT);
        varint(out, (e.millis % 1000) * 1_000_000);
    }
    end(out, ts);
    end(out, at);
}

#[inline]
fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from((field << 3) | wire));
}

#[inline]
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        #[allow(clippy::cast_possible_truncation)] // the low seven bits
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)] // below 0x80
    out.push(v as u8);
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

#[inline]
fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    key(out, field, LEN);
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Starts a length-delimited field: its key and a one-byte length to patch in [`end`].
#[inline]
fn begin(out: &mut Vec<u8>, field: u32) -> usize {
    key(out, field, LEN);
    begin_delimited(out)
}

#[inline]
fn begin_delimited(out: &mut Vec<u8>) -> usize {
    out.push(0);
    out.len()
}

/// Ends the field begun at `start`: writes its length, moving the content when the length
/// takes more than the byte reserved.
#[inline]
fn end(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    if len < 0x80 {
        #[allow(clippy::cast_possible_truncation)] // below 0x80
        if let Some(b) = out.get_mut(start - 1) {
            *b = len as u8;
        }
        return;
    }
    let mut prefix = Vec::with_capacity(10);
    varint(&mut prefix, len as u64);
    let extra = prefix.len() - 1;
    out.resize(out.len() + extra, 0);
    out.copy_within(start..start + len, start + extra);
    if let Some(slot) = out.get_mut(start - 1..start + extra) {
        slot.copy_from_slice(&prefix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_deltas_fill_small_gaps_and_split_on_large_ones() {
        // -2 starts the span; 0 (one empty bucket before it), 1 and 3 (one empty) extend it;
        // 10 is six buckets past 4: a new span.
        let (spans, deltas) = spans_and_deltas(&[(-2, 1), (0, 2), (1, 5), (3, 1), (10, 4)]);
        assert_eq!(spans, [(-2, 6), (6, 1)]);
        assert_eq!(deltas, [1, -1, 2, 3, -5, 1, 3]);
        assert_eq!(spans_and_deltas(&[]), (vec![], vec![]));
    }

    #[test]
    fn long_fields_get_their_length_moved_in() {
        let mut out = Vec::new();
        let at = begin(&mut out, 1);
        out.extend_from_slice(&[7; 300]);
        end(&mut out, at);
        assert_eq!(&out[..3], &[0x0a, 0xac, 0x02]);
        assert_eq!(out.len(), 303);
        assert!(out[3..].iter().all(|b| *b == 7));
    }
}
