//! Exemplars (feature `opentelemetry`), recorded under a real OpenTelemetry tracer: exact
//! lines in OpenMetrics, none in the text format, none without a sampled span.

use crate::*;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// A subscriber that gives every span an OpenTelemetry context (ids only, no exporter).
fn traced() -> tracing::subscriber::DefaultGuard {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tmc-metrics-test")));
    tracing::subscriber::set_default(subscriber)
}

/// The `{trace_id="…",span_id="…"}` of a span.
fn ids(span: &tracing::Span) -> String {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    format!(
        "{{trace_id=\"{}\",span_id=\"{}\"}}",
        sc.trace_id(),
        sc.span_id()
    )
}

fn now_millis() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Replaces each exemplar's timestamp (the last word of a line with an exemplar) by `T`,
/// checking that it lies between `from` and `to` (milliseconds since the epoch).
fn stamped(text: &str, from: u64, to: u64) -> String {
    text.lines()
        .map(|line| match line.split_once(" # {") {
            Some(_) => {
                let (rest, ts) = line.rsplit_once(' ').unwrap();
                let (secs, ms) = ts.split_once('.').unwrap();
                assert_eq!(ms.len(), 3, "{line}");
                let at = secs.parse::<u64>().unwrap() * 1000 + ms.parse::<u64>().unwrap();
                assert!((from..=to).contains(&at), "{line}: not in {from}..={to}");
                format!("{rest} T\n")
            }
            None => format!("{line}\n"),
        })
        .collect()
}

fn registry(exemplars: bool) -> Metrics {
    Metrics::builder()
        .upkeep_interval(None)
        .exemplars(exemplars)
        .build()
        .unwrap()
}

/// A histogram with buckets 1 and 10 and a counter, recorded into in two spans and outside
/// any span.
fn record(m: &Metrics) -> (String, String) {
    let h = m
        .custom()
        .register_histogram("myapp_job_seconds", "Job time.", &[], &[1.0, 10.0])
        .unwrap()
        .histogram(&[])
        .unwrap();
    let c = m
        .custom()
        .register_counter("myapp_jobs_total", "Jobs.", &[])
        .unwrap()
        .counter(&[])
        .unwrap();
    let first = tracing::info_span!("first");
    let second = tracing::info_span!("second");
    first.in_scope(|| {
        h.record(0.5);
        h.record(4.0);
        c.increment(2);
    });
    // The latest observation of a bucket wins; the other buckets keep theirs.
    second.in_scope(|| h.record(0.25));
    // Outside any span: counted, and the exemplars stay.
    h.record(20.0);
    c.increment(1);
    (ids(&first), ids(&second))
}

/// What a scrape of [`record`] in OpenMetrics shows without exemplars.
const PLAIN_OM: &str = "# HELP myapp_job_seconds Job time.\n\
         # TYPE myapp_job_seconds histogram\n\
         # UNIT myapp_job_seconds seconds\n\
         myapp_job_seconds_bucket{le=\"1\"} 2\n\
         myapp_job_seconds_bucket{le=\"10\"} 3\n\
         myapp_job_seconds_bucket{le=\"+Inf\"} 4\n\
         myapp_job_seconds_sum 24.75\n\
         myapp_job_seconds_count 4\n\
         # HELP myapp_jobs Jobs.\n\
         # TYPE myapp_jobs counter\n\
         myapp_jobs_total 3\n\
         # EOF\n";

#[test]
fn openmetrics_carries_the_latest_exemplar_of_each_bucket_and_counter() {
    let _traced = traced();
    let m = registry(true);
    let from = now_millis();
    let (first, second) = record(&m);
    let to = now_millis();
    let expected = format!(
        "# HELP myapp_job_seconds Job time.\n\
         # TYPE myapp_job_seconds histogram\n\
         # UNIT myapp_job_seconds seconds\n\
         myapp_job_seconds_bucket{{le=\"1\"}} 2 # {second} 0.25 T\n\
         myapp_job_seconds_bucket{{le=\"10\"}} 3 # {first} 4 T\n\
         myapp_job_seconds_bucket{{le=\"+Inf\"}} 4\n\
         myapp_job_seconds_sum 24.75\n\
         myapp_job_seconds_count 4\n\
         # HELP myapp_jobs Jobs.\n\
         # TYPE myapp_jobs counter\n\
         myapp_jobs_total 3 # {first} 2 T\n\
         # EOF\n"
    );
    assert_ne!(first, second);
    assert_eq!(
        stamped(&m.render_as(TextFormat::OpenMetrics), from, to),
        expected
    );
}

#[test]
fn the_text_format_and_a_registry_without_exemplars_render_the_same_lines() {
    let _traced = traced();
    let expected_text = "# HELP myapp_job_seconds Job time.\n\
         # TYPE myapp_job_seconds histogram\n\
         myapp_job_seconds_bucket{le=\"1\"} 2\n\
         myapp_job_seconds_bucket{le=\"10\"} 3\n\
         myapp_job_seconds_bucket{le=\"+Inf\"} 4\n\
         myapp_job_seconds_sum 24.75\n\
         myapp_job_seconds_count 4\n\
         # HELP myapp_jobs_total Jobs.\n\
         # TYPE myapp_jobs_total counter\n\
         myapp_jobs_total 3\n";
    let with = registry(true);
    record(&with);
    assert_eq!(with.render_as(TextFormat::Text), expected_text);
    let without = registry(false);
    record(&without);
    assert_eq!(without.render_as(TextFormat::Text), expected_text);
    assert_eq!(without.render_as(TextFormat::OpenMetrics), PLAIN_OM);
}

#[test]
fn without_a_tracer_no_exemplar_is_kept() {
    // A subscriber, but no OpenTelemetry layer: spans have no OpenTelemetry context.
    let _plain = tracing::subscriber::set_default(tracing_subscriber::registry());
    let m = registry(true);
    record(&m);
    assert_eq!(m.render_as(TextFormat::OpenMetrics), PLAIN_OM);
}

#[test]
fn protobuf_carries_the_exemplars_on_classic_buckets_and_the_native_histogram() {
    use super::proto;
    let _traced = traced();
    let m = Metrics::builder()
        .upkeep_interval(None)
        .exemplars(true)
        .native_histogram("myapp_job_seconds", Some(catalog::NativeHistogram::DEFAULT))
        .unwrap()
        .build()
        .unwrap();
    let from = now_millis();
    let (first, second) = record(&m);
    let to = now_millis();
    let families = proto::decode(&m.render_bytes(Format::Protobuf));
    // `{trace_id="…",span_id="…"} value`, the timestamp checked to lie in from..=to.
    let show = |e: &proto::Exemplar| {
        let ts = e.timestamp.clone().unwrap();
        let at = u64::try_from(ts.seconds).unwrap() * 1000
            + u64::try_from(ts.nanos / 1_000_000).unwrap();
        assert!((from..=to).contains(&at), "{at} not in {from}..={to}");
        let labels: Vec<String> = e
            .label
            .iter()
            .map(|l| format!("{}=\"{}\"", l.name(), l.value()))
            .collect();
        format!("{{{}}} {}", labels.join(","), e.value())
    };
    let h = families[0].metric[0].histogram.clone().unwrap();
    let classic: Vec<Option<String>> = h
        .bucket
        .iter()
        .map(|b| b.exemplar.as_ref().map(show))
        .collect();
    assert_eq!(
        classic,
        [Some(format!("{second} 0.25")), Some(format!("{first} 4"))]
    );
    // The native histogram carries the buckets' exemplars (the +Inf one has none).
    let native: Vec<String> = h.exemplars.iter().map(show).collect();
    assert_eq!(native, [format!("{second} 0.25"), format!("{first} 4")]);
    assert_eq!(h.schema, Some(3));
    let counter = families[1].metric[0].counter.clone().unwrap();
    assert_eq!(show(&counter.exemplar.unwrap()), format!("{first} 2"));
}
