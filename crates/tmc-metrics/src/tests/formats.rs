//! The two exposition formats, byte for byte, and the registry's handling of names recorded
//! through the facade.

use super::promtool_check_metrics;
use crate::catalog::{DATAMOVER_CLEANUP_OPERATIONS_TOTAL, TMC_RUNTIME_TASKS};
use crate::*;

/// A catalog counter, a catalog gauge, a custom histogram with a hostile label value and a
/// custom counter whose help needs escaping, all in one registry with a global label.
fn state() -> Metrics {
    let m = Metrics::builder()
        .upkeep_interval(None)
        .global_label("cluster", "prod")
        .unwrap()
        .build()
        .unwrap();
    let c = m.collector();
    c.datamover_cleanup("default", Outcome::Success);
    c.record_runtime_tasks(3);
    let h = m
        .custom()
        .register_histogram("myapp_job_seconds", "Job time.", &["queue"], &[1.0, 10.0])
        .unwrap()
        .histogram(&["a\"b\\c\nd"])
        .unwrap();
    h.record(0.5);
    h.record(4.0);
    m.custom()
        .register_counter("myapp_jobs_total", "Jobs \"done\" \\ all.", &[])
        .unwrap()
        .counter(&[])
        .unwrap()
        .increment(7);
    m
}

const HOSTILE: &str = r#"queue="a\"b\\c\nd""#;

#[test]
fn the_text_format_renders_exactly() {
    let cleanup = DATAMOVER_CLEANUP_OPERATIONS_TOTAL.help;
    let tasks = TMC_RUNTIME_TASKS.help;
    let expected = format!(
        "# HELP datamover_cleanup_operations_total {cleanup}\n\
         # TYPE datamover_cleanup_operations_total counter\n\
         datamover_cleanup_operations_total{{cluster=\"prod\",status=\"success\",namespace=\"default\"}} 1\n\
         # HELP myapp_job_seconds Job time.\n\
         # TYPE myapp_job_seconds histogram\n\
         myapp_job_seconds_bucket{{cluster=\"prod\",{HOSTILE},le=\"1\"}} 1\n\
         myapp_job_seconds_bucket{{cluster=\"prod\",{HOSTILE},le=\"10\"}} 2\n\
         myapp_job_seconds_bucket{{cluster=\"prod\",{HOSTILE},le=\"+Inf\"}} 2\n\
         myapp_job_seconds_sum{{cluster=\"prod\",{HOSTILE}}} 4.5\n\
         myapp_job_seconds_count{{cluster=\"prod\",{HOSTILE}}} 2\n\
         # HELP myapp_jobs_total Jobs \"done\" \\\\ all.\n\
         # TYPE myapp_jobs_total counter\n\
         myapp_jobs_total{{cluster=\"prod\"}} 7\n\
         # HELP tmc_runtime_tasks {tasks}\n\
         # TYPE tmc_runtime_tasks gauge\n\
         tmc_runtime_tasks{{cluster=\"prod\"}} 3\n"
    );
    let m = state();
    assert_eq!(m.render(), expected);
    assert_eq!(m.render_as(TextFormat::Text), expected);
    assert_eq!(promtool_check_metrics(&expected), "");
}

#[test]
fn openmetrics_renders_exactly() {
    let cleanup = DATAMOVER_CLEANUP_OPERATIONS_TOTAL.help;
    let tasks = TMC_RUNTIME_TASKS.help;
    let expected = format!(
        "# HELP datamover_cleanup_operations {cleanup}\n\
         # TYPE datamover_cleanup_operations counter\n\
         datamover_cleanup_operations_total{{cluster=\"prod\",status=\"success\",namespace=\"default\"}} 1\n\
         # HELP myapp_job_seconds Job time.\n\
         # TYPE myapp_job_seconds histogram\n\
         # UNIT myapp_job_seconds seconds\n\
         myapp_job_seconds_bucket{{cluster=\"prod\",{HOSTILE},le=\"1\"}} 1\n\
         myapp_job_seconds_bucket{{cluster=\"prod\",{HOSTILE},le=\"10\"}} 2\n\
         myapp_job_seconds_bucket{{cluster=\"prod\",{HOSTILE},le=\"+Inf\"}} 2\n\
         myapp_job_seconds_sum{{cluster=\"prod\",{HOSTILE}}} 4.5\n\
         myapp_job_seconds_count{{cluster=\"prod\",{HOSTILE}}} 2\n\
         # HELP myapp_jobs Jobs \\\"done\\\" \\\\ all.\n\
         # TYPE myapp_jobs counter\n\
         myapp_jobs_total{{cluster=\"prod\"}} 7\n\
         # HELP tmc_runtime_tasks {tasks}\n\
         # TYPE tmc_runtime_tasks gauge\n\
         tmc_runtime_tasks{{cluster=\"prod\"}} 3\n\
         # EOF\n"
    );
    let m = state();
    assert_eq!(m.render_as(TextFormat::OpenMetrics), expected);
    assert_eq!(
        m.render_as(TextFormat::OpenMetrics),
        m.render_as(TextFormat::OpenMetrics)
    );
}

#[test]
fn an_empty_registry_renders_nothing_or_only_eof() {
    let (m, _) = super::fresh();
    assert_eq!(m.render(), "");
    assert_eq!(m.render_as(TextFormat::OpenMetrics), "# EOF\n");
}

#[test]
fn catalog_custom_and_facade_metrics_share_the_one_registry() {
    let (m, c) = super::fresh();
    let custom = m
        .custom()
        .register_gauge("myapp_queue_depth", "Items queued.", &["queue"])
        .unwrap();
    custom.gauge(&["q1"]).unwrap().set(4.0);
    metrics::with_local_recorder(&*m.recorder(), || {
        metrics::describe_counter!("myapp_plain_total", "Plain events.");
        metrics::counter!("myapp_plain_total", "kind" => "x").increment(2);
        metrics::describe_histogram!("myapp_wait_seconds", "Time waited.");
        metrics::histogram!("myapp_wait_seconds").record(0.002);
        // The same custom family through the facade: the same series.
        metrics::gauge!("myapp_queue_depth", "queue" => "q1").increment(1.0);
    });
    c.record_runtime_tasks(1);
    let text = m.render();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect();
    assert_eq!(
        names,
        [
            "myapp_plain_total counter",
            "myapp_queue_depth gauge",
            "myapp_wait_seconds histogram",
            "tmc_runtime_tasks gauge",
        ]
    );
    assert!(text.contains("# HELP myapp_plain_total Plain events.\n"));
    assert!(text.contains("myapp_plain_total{kind=\"x\"} 2\n"));
    assert!(text.contains("myapp_queue_depth{queue=\"q1\"} 5\n"));
    // A histogram outside the catalog gets the default buckets, never a summary.
    assert!(text.contains("myapp_wait_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert!(text.contains("myapp_wait_seconds_count 1\n"));
    assert_eq!(promtool_check_metrics(&text), "");
}

#[test]
fn a_name_recorded_as_two_kinds_keeps_its_first_kind_and_a_valid_exposition() {
    let (m, _) = super::fresh();
    metrics::with_local_recorder(&*m.recorder(), || {
        metrics::describe_gauge!("myapp_mixed", "Mixed.");
        metrics::gauge!("myapp_mixed").set(9.0);
        metrics::counter!("myapp_mixed").increment(1);
    });
    let text = m.render();
    assert_eq!(
        text,
        "# HELP myapp_mixed Mixed.\n# TYPE myapp_mixed gauge\nmyapp_mixed 9\n"
    );
    // A custom registration of the taken name says what holds it.
    let err = m
        .custom()
        .register_histogram("myapp_mixed", "Mixed.", &[], &[])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("already registered as a gauge recorded through the `metrics` facade"),
        "{err}"
    );
    assert_eq!(promtool_check_metrics(&text), "");
}

#[test]
fn names_and_label_names_from_the_facade_are_sanitised() {
    let (m, _) = super::fresh();
    metrics::with_local_recorder(&*m.recorder(), || {
        metrics::gauge!("my.app-depth", "bad.label" => "v").set(1.5);
    });
    assert_eq!(
        m.render(),
        "# TYPE my_app_depth gauge\nmy_app_depth{bad_label=\"v\"} 1.5\n"
    );
}

#[test]
fn the_overflow_series_renders_in_both_formats() {
    let m = Metrics::builder()
        .upkeep_interval(None)
        .max_series_per_family(1)
        .unwrap()
        .build()
        .unwrap();
    let c = m.collector();
    c.datamover_cleanup("a", Outcome::Success);
    c.datamover_cleanup("b", Outcome::Success);
    let om = m.render_as(TextFormat::OpenMetrics);
    assert!(om.contains(
        "datamover_cleanup_operations_total{status=\"__overflow__\",namespace=\"__overflow__\"} 1\n"
    ));
    assert!(om.contains(
        "tmc_metrics_series_folded_total{metric=\"datamover_cleanup_operations_total\"} 1\n"
    ));
}
