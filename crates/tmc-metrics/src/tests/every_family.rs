//! Every catalog family at once: its type, help and label order, a rendering that does not
//! change between two renders, and `promtool check metrics` accepting it (and able to reject a
//! bad exposition).

use super::helpers::*;
use crate::catalog::{CATALOG, MetricKind};

#[test]
fn every_family_renders_with_its_type_help_and_catalog_label_order() {
    let (m, c) = fresh();
    record_every_family(&c, "v");
    let text = m.render();
    for def in CATALOG {
        let lines = family(&text, def.name);
        assert!(
            lines.contains(&format!("# TYPE {} {}", def.name, def.kind)),
            "{}: {lines:?}",
            def.name
        );
        assert!(
            lines.contains(&format!("# HELP {} {}", def.name, def.help)),
            "{}",
            def.name
        );
        let series: Vec<&String> = lines.iter().filter(|l| !l.starts_with('#')).collect();
        assert!(!series.is_empty(), "{} recorded nothing", def.name);
        for line in series {
            let names: Vec<&str> = line
                .split_once('{')
                .map(|(_, rest)| {
                    rest.split(',')
                        .filter_map(|kv| kv.split_once("=\"").map(|(k, _)| k))
                        .collect()
                })
                .unwrap_or_default();
            let mut expected: Vec<&str> = def.labels.to_vec();
            if line.contains("_bucket{") {
                expected.push("le");
            }
            assert_eq!(names, expected, "{line}");
        }
        if def.kind == MetricKind::Histogram {
            assert!(
                text.contains(&format!("{}_bucket{{", def.name)),
                "{} renders as a summary",
                def.name
            );
            assert!(!text.contains(&format!("{}{{quantile", def.name)));
        }
    }
}

#[test]
fn two_renders_of_the_same_state_are_identical() {
    let (m, c) = fresh();
    record_every_family(&c, "x");
    assert_eq!(m.render(), m.render());
}

#[test]
fn promtool_check_metrics_finds_nothing_in_a_rendering_of_every_family() {
    let (m, c) = fresh();
    record_every_family(&c, "plain");
    record_every_family(
        &c,
        "quote \" backslash \\ newline \n unicode ☃ 日本 \\n \\\" end\\",
    );
    let custom = m.custom();
    custom
        .register_counter("myapp_jobs_total", "Jobs done.", &["queue"])
        .unwrap()
        .counter(&["a\\b"])
        .unwrap()
        .increment(2);
    custom
        .register_gauge("myapp_queue_depth", "Items queued.", &[])
        .unwrap()
        .gauge(&[])
        .unwrap()
        .set(3.0);
    custom
        .register_histogram("myapp_job_seconds", "Job time.", &["queue"], &[1.0, 10.0])
        .unwrap()
        .histogram(&["q"])
        .unwrap()
        .record(4.0);
    let text = m.render();
    assert_eq!(promtool_check_metrics(&text), "", "rendering:\n{text}");
}

#[test]
fn promtool_check_metrics_does_report_a_bad_exposition() {
    // The check above must be able to fail: a gauge named like a counter is reported.
    let report = promtool_check_metrics("# HELP x_total x\n# TYPE x_total gauge\nx_total 1\n");
    assert!(
        report.contains("non-counter metrics should not have \"_total\" suffix"),
        "{report}"
    );
}
