//! Custom metrics: their own buckets, idempotent registration, and refusal of bad input with a
//! message naming it.

use super::helpers::*;
use crate::catalog::MetricKind;
use crate::*;

#[test]
fn custom_histogram_renders_with_its_own_buckets() {
    let (m, _) = fresh();
    let h = m
        .custom()
        .register_histogram(
            "myapp_batch_size",
            "Items per batch.",
            &["queue"],
            &[1.0, 10.0, 100.0],
        )
        .unwrap();
    let handle = h.histogram(&["fast"]).unwrap();
    handle.record(5.0);
    handle.record(50.0);
    let text = m.render();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("myapp_batch_size"))
        .collect();
    assert_eq!(
        lines,
        [
            "# HELP myapp_batch_size Items per batch.",
            "# TYPE myapp_batch_size histogram",
            r#"myapp_batch_size_bucket{queue="fast",le="1"} 0"#,
            r#"myapp_batch_size_bucket{queue="fast",le="10"} 1"#,
            r#"myapp_batch_size_bucket{queue="fast",le="100"} 2"#,
            r#"myapp_batch_size_bucket{queue="fast",le="+Inf"} 2"#,
            r#"myapp_batch_size_sum{queue="fast"} 55"#,
            r#"myapp_batch_size_count{queue="fast"} 2"#,
        ]
    );
    assert_eq!(
        m.custom().get("myapp_batch_size").unwrap().buckets(),
        [1.0, 10.0, 100.0]
    );
}

#[test]
fn custom_registration_is_idempotent_and_retrievable_by_name() {
    let (m, _) = fresh();
    let a = m
        .custom()
        .register_counter(
            "tmc_custom_operations_total",
            "Custom ops.",
            &["operation_type", "cluster"],
        )
        .unwrap();
    let b = m
        .custom()
        .register_counter(
            "tmc_custom_operations_total",
            "Custom ops.",
            &["operation_type", "cluster"],
        )
        .unwrap();
    a.counter(&["special-sync", "prod-cluster"])
        .unwrap()
        .increment(1);
    b.counter(&["special-sync", "prod-cluster"])
        .unwrap()
        .increment(1);
    let got = m.custom().get("tmc_custom_operations_total").unwrap();
    assert_eq!(got.kind(), MetricKind::Counter);
    assert_eq!(got.label_names(), ["operation_type", "cluster"]);
    assert_eq!(got.help(), "Custom ops.");
    assert!(m.custom().get("nope").is_none());
    assert_eq!(m.custom().names(), ["tmc_custom_operations_total"]);
    assert!(m.render().contains(
        "# HELP tmc_custom_operations_total Custom ops.\n# TYPE tmc_custom_operations_total counter\n\
         tmc_custom_operations_total{operation_type=\"special-sync\",cluster=\"prod-cluster\"} 2\n"
    ));
}

#[test]
fn custom_registration_refuses_bad_input_with_a_message_naming_it() {
    let (m, _) = fresh();
    let r = m.custom();
    let msg = |e: CustomMetricError| e.to_string();
    assert_eq!(
        msg(r.register_counter("bad-name_total", "h", &[]).unwrap_err()),
        "custom metric `bad-name_total`: metric name `bad-name_total` has '-' at byte 3: the name must \
         match `[a-zA-Z_][a-zA-Z0-9_]*` (ASCII letters, digits, underscores; no leading digit)"
    );
    assert!(msg(r.register_counter("__x_total", "h", &[]).unwrap_err()).contains("reserves"));
    assert!(
        msg(r.register_gauge("g", "h", &["__name"]).unwrap_err()).contains("label name `__name`")
    );
    assert!(
        msg(r.register_gauge("g", "h", &["a.b"]).unwrap_err()).contains("label name `a.b` has '.'")
    );
    assert!(
        msg(r.register_histogram("h", "h", &["le"], &[]).unwrap_err()).contains("`le` is reserved")
    );
    assert_eq!(
        msg(r
            .register_counter("datamover_operations_total", "h", &[])
            .unwrap_err()),
        "custom metric `datamover_operations_total` clashes with the catalog family \
         `datamover_operations_total`: choose a name of your own, e.g. prefixed with your component (`myapp_...`)"
    );
    assert!(
        msg(r
            .register_gauge("tmc_api_request_duration_seconds_bucket", "h", &[])
            .unwrap_err())
        .contains("clashes")
    );
    assert!(msg(r.register_gauge("g", " ", &[]).unwrap_err()).contains("help text is empty"));
    assert!(
        msg(r.register_counter("jobs", "h", &[]).unwrap_err()).contains("must end in `_total`")
    );
    assert!(
        msg(r.register_gauge("jobs_total", "h", &[]).unwrap_err())
            .contains("must not end in `_total`")
    );
    assert!(
        msg(r
            .register_histogram("h", "h", &[], &[5.0, 1.0])
            .unwrap_err())
        .contains("strictly increasing")
    );

    r.register_counter("jobs_total", "Jobs.", &["queue"])
        .unwrap();
    assert_eq!(
        msg(r
            .register_counter("jobs_total", "Jobs.", &["queue", "shard"])
            .unwrap_err()),
        "custom metric `jobs_total` is already registered as a counter with labels [queue]; a second \
         registration must give the same type, labels and buckets (asked for a counter with labels [queue, shard])"
    );
    let jobs = r.get("jobs_total").unwrap();
    assert_eq!(
        msg(jobs.gauge(&["q"]).unwrap_err()),
        "custom metric `jobs_total` is a counter, not a gauge"
    );
    assert_eq!(
        msg(jobs.counter(&[]).unwrap_err()),
        "custom metric `jobs_total` takes 1 label values (queue), got 0"
    );
    // Nothing refused was stored.
    assert_eq!(r.names(), ["jobs_total"]);
}
