//! The protobuf exposition, decoded with the upstream message types ([`super::proto`]):
//! exact classic and native buckets, the field numbers pinned, text and OpenMetrics
//! unchanged by native histograms.

use super::fresh;
use super::proto::{self, BucketSpan, MetricFamily, MetricType};
use crate::catalog::{self, NATIVE_HISTOGRAMS, NativeHistogram};
use crate::*;
use std::time::Duration;

fn request(c: &MetricsCollector, method: &str, endpoint: &str, status: u16, seconds: f64) {
    c.record_api_request(
        method,
        endpoint,
        &status.to_string(),
        Duration::from_secs_f64(seconds),
    );
}

/// A registry where `test_native_seconds` (buckets 0.001, 1, 10) has the native histogram
/// `spec`, with `values` observed into it.
fn observed(spec: NativeHistogram, values: &[f64]) -> Metrics {
    let metrics = Metrics::builder()
        .upkeep_interval(None)
        .histogram_buckets("test_native_seconds", &[0.001, 1.0, 10.0])
        .unwrap()
        .native_histogram("test_native_seconds", Some(spec))
        .unwrap()
        .build()
        .unwrap();
    metrics::with_local_recorder(&*metrics.recorder(), || {
        let h = metrics::histogram!("test_native_seconds");
        for v in values {
            h.record(*v);
        }
    });
    metrics
}

fn only(metrics: &Metrics) -> proto::Histogram {
    let families = proto::decode(&metrics.render_bytes(Format::Protobuf));
    assert_eq!(families.len(), 1);
    let family = &families[0];
    assert_eq!(family.name.as_deref(), Some("test_native_seconds"));
    assert_eq!(family.r#type, Some(MetricType::Histogram as i32));
    family.metric[0].histogram.clone().unwrap()
}

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan {
        offset: Some(offset),
        length: Some(length),
    }
}

#[test]
fn native_buckets_hold_exact_counts_spans_and_deltas() {
    let spec = NativeHistogram {
        schema: 2,
        zero_threshold: 0.001,
        max_buckets: 100,
    };
    // Zero and ±0.0005 in the zero bucket; at schema 2 bucket i is (2^((i-1)/4), 2^(i/4)]:
    // 1 -> 0 (twice), 1.5 -> 3, 3 -> 7, 100 -> 27, and -2 -> negative 4.
    let m = observed(
        spec,
        &[0.0, 0.0005, -0.0005, 1.0, 1.0, 1.5, 3.0, -2.0, 100.0],
    );
    let h = only(&m);
    assert_eq!(h.sample_count, Some(9));
    assert_eq!(h.sample_sum, Some(104.5));
    assert_eq!(h.schema, Some(2));
    assert_eq!(h.zero_threshold, Some(0.001));
    assert_eq!(h.zero_count, Some(3));
    // Buckets 0..=3 in one span (1 and 2 empty, written as zeros), then 7, then 27.
    assert_eq!(h.positive_span, [span(0, 4), span(3, 1), span(19, 1)]);
    assert_eq!(h.positive_delta, [2, -2, 0, 1, 0, 0]);
    assert_eq!(h.negative_span, [span(4, 1)]);
    assert_eq!(h.negative_delta, [1]);
    // The classic buckets stay, cumulative, without +Inf (Prometheus derives it).
    let classic: Vec<(f64, u64)> = h
        .bucket
        .iter()
        .map(|b| (b.upper_bound.unwrap(), b.cumulative_count.unwrap()))
        .collect();
    assert_eq!(classic, [(0.001, 4), (1.0, 6), (10.0, 8)]);
}

#[test]
fn too_many_buckets_halve_the_resolution_until_they_fit() {
    let spec = NativeHistogram {
        schema: 3,
        zero_threshold: 0.0,
        max_buckets: 4,
    };
    // Five powers of two: five buckets at schemas 3, 2, 1 and 0; at -1, where bucket i is
    // (4^(i-1), 4^i], three: {1}, {2, 4}, {8, 16}. Then 3 lands at schema -1, in (1, 4].
    let m = observed(spec, &[1.0, 2.0, 4.0, 8.0, 16.0, 3.0]);
    let h = only(&m);
    assert_eq!(h.schema, Some(-1));
    assert_eq!(h.sample_count, Some(6));
    assert_eq!(h.sample_sum, Some(34.0));
    assert_eq!(h.zero_count, Some(0));
    assert_eq!(h.positive_span, [span(0, 3)]);
    assert_eq!(h.positive_delta, [1, 2, -1]);
    assert!(h.negative_span.is_empty() && h.negative_delta.is_empty());
}

#[test]
fn an_empty_native_histogram_is_still_native() {
    let spec = NativeHistogram {
        zero_threshold: 0.0,
        ..NativeHistogram::DEFAULT
    };
    // Registered, nothing observed: no bucket, no zero threshold; the empty span marks it
    // native, as client_golang does.
    let h = only(&observed(spec, &[]));
    assert_eq!(h.sample_count, Some(0));
    assert_eq!(h.schema, Some(3));
    assert_eq!(h.positive_span, [span(0, 0)]);
    let m = observed(spec, &[f64::NAN]);
    let h = only(&m);
    assert_eq!(h.sample_count, Some(1));
    assert!(h.sample_sum.unwrap().is_nan());
    // NaN is counted, in no bucket.
    assert_eq!(h.positive_span, [span(0, 0)]);
    assert!(h.positive_delta.is_empty());
}

#[test]
fn the_catalog_latencies_render_native_histograms_in_protobuf() {
    let (m, c) = fresh();
    request(&c, "GET", "/api/v1/clusters", 200, 0.25);
    request(&c, "GET", "/api/v1/clusters", 200, 0.003);
    c.datamover_cleanup("default", Outcome::Success);
    let families = proto::decode(&m.render_bytes(Format::Protobuf));
    let names: Vec<&str> = families.iter().filter_map(|f| f.name.as_deref()).collect();
    assert!(names.contains(&"tmc_api_requests_total"), "{names:?}");
    let api = families
        .iter()
        .find(|f| f.name.as_deref() == Some("tmc_api_request_duration_seconds"))
        .unwrap();
    assert_eq!(
        api.help.as_deref(),
        Some(catalog::TMC_API_REQUEST_DURATION_SECONDS.help)
    );
    let metric = &api.metric[0];
    let labels: Vec<(&str, &str)> = metric
        .label
        .iter()
        .map(|l| (l.name.as_deref().unwrap(), l.value.as_deref().unwrap()))
        .collect();
    assert_eq!(
        labels,
        [
            ("method", "GET"),
            ("endpoint", "/api/v1/clusters"),
            ("status_code", "200")
        ]
    );
    let h = metric.histogram.as_ref().unwrap();
    assert_eq!(h.sample_count, Some(2));
    assert_eq!(h.schema, Some(3));
    assert_eq!(
        h.zero_threshold,
        Some(NativeHistogram::DEFAULT.zero_threshold)
    );
    // 0.003 = 2^-8.38: bucket -67 at schema 3; 0.25 = 2^-2: bucket -16.
    assert_eq!(h.positive_span, [span(-67, 1), span(50, 1)]);
    assert_eq!(h.positive_delta, [1, 0]);
    assert_eq!(h.bucket.len(), catalog::LATENCY_BUCKETS.len());
    // Counters keep `_total` in protobuf, as client_golang names them.
    let cleanup = families
        .iter()
        .find(|f| f.name.as_deref() == Some("datamover_cleanup_operations_total"))
        .unwrap();
    assert_eq!(cleanup.r#type, Some(MetricType::Counter as i32));
    assert_eq!(cleanup.metric[0].counter.as_ref().unwrap().value, Some(1.0));
}

#[test]
fn the_encoder_writes_what_prost_writes() {
    let (m, c) = fresh();
    request(&c, "GET", "/a", 200, 0.25);
    request(&c, "POST", "/b", 500, 1.5);
    c.datamover_phase_finished("Backup", "ns", Outcome::Success, Duration::from_secs(42));
    c.record_component_health("syncer", "s-1", "prod", HealthStatus::Healthy);
    let body = m.render_bytes(Format::Protobuf);
    let families = proto::decode(&body);
    assert!(families.len() >= 5);
    // Decoding drops unknown fields and re-encoding writes fields in tag order: equal bytes
    // mean every field we write is an upstream field of the type we write it as.
    assert_eq!(proto::encode(&families), body);
}

#[test]
fn message_types_have_the_upstream_field_numbers() {
    // Written out by hand from metrics.proto: a family of one native histogram.
    let family = MetricFamily {
        name: Some("a".into()),
        help: Some("h".into()),
        r#type: Some(MetricType::Histogram as i32),
        metric: vec![proto::Metric {
            label: vec![proto::LabelPair {
                name: Some("k".into()),
                value: Some("v".into()),
            }],
            histogram: Some(proto::Histogram {
                sample_count: Some(1),
                schema: Some(-1),
                positive_span: vec![span(-2, 1)],
                positive_delta: vec![-1],
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x0a, 0x01, b'a',             // 1 name
        0x12, 0x01, b'h',             // 2 help
        0x18, 0x04,                   // 3 type HISTOGRAM
        0x22, 0x16,                   // 4 metric
          0x0a, 0x06,                 //   1 label
            0x0a, 0x01, b'k', 0x12, 0x01, b'v',
          0x3a, 0x0c,                 //   7 histogram
            0x08, 0x01,               //     1 sample_count
            0x28, 0x01,               //     5 schema, sint32 -1
            0x62, 0x04, 0x08, 0x03, 0x10, 0x01, // 12 positive_span {offset -2, length 1}
            0x68, 0x01,               //     13 positive_delta, sint64 -1, unpacked
    ];
    use prost::Message as _;
    assert_eq!(family.encode_to_vec(), expected);
}

#[test]
fn native_histograms_leave_text_and_openmetrics_byte_for_byte() {
    let record = |m: &Metrics| {
        let c = m.collector();
        request(&c, "GET", "/a", 200, 0.25);
        request(&c, "GET", "/a", 404, 0.0);
        c.datamover_phase_finished("Backup", "ns", Outcome::Success, Duration::from_secs(42));
        c.record_component_latency("syncer", "s", "sync", Duration::from_millis(7));
    };
    let with = Metrics::builder().upkeep_interval(None).build().unwrap();
    let mut without = Metrics::builder().upkeep_interval(None);
    for (def, _) in NATIVE_HISTOGRAMS {
        without = without.native_histogram(def.name, None).unwrap();
    }
    let without = without.build().unwrap();
    record(&with);
    record(&without);
    for format in [TextFormat::Text, TextFormat::OpenMetrics] {
        assert_eq!(with.render_as(format), without.render_as(format));
    }
    // Protobuf differs: only `with` has native buckets.
    let native = |m: &Metrics| {
        proto::decode(&m.render_bytes(Format::Protobuf))
            .iter()
            .flat_map(|f| &f.metric)
            .filter_map(|x| x.histogram.as_ref())
            .filter(|h| h.schema.is_some())
            .count()
    };
    // Two API series (200 and 404), one phase, one operation.
    assert_eq!(native(&with), 4);
    assert_eq!(native(&without), 0);
}

#[test]
fn bad_native_settings_name_the_field_and_the_range() {
    let err = Metrics::builder()
        .native_histogram(
            "x_seconds",
            Some(NativeHistogram {
                max_buckets: 0,
                ..NativeHistogram::DEFAULT
            }),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "native_histogram(x_seconds): native histogram: max_buckets must be from 1 to 32768 \
         (default 160)"
    );
    assert!(
        Metrics::builder()
            .native_histogram(
                "x",
                Some(NativeHistogram {
                    zero_threshold: f64::NAN,
                    ..NativeHistogram::DEFAULT
                })
            )
            .is_err()
    );
}
