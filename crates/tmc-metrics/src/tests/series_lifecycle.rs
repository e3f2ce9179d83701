//! How many series a family keeps (past its cap, new label sets fold into one overflow series)
//! and for how long (series idle past the retention period leave the exposition).

use super::helpers::*;
use crate::*;
use std::time::Duration;

#[test]
fn a_family_past_its_series_cap_folds_new_label_sets_into_one_overflow_series() {
    let m = Metrics::builder()
        .upkeep_interval(None)
        .max_series_per_family(3)
        .unwrap()
        .build()
        .unwrap();
    let c = m.collector();
    for i in 0..20_000 {
        c.record_sync_backlog_size("prod", &format!("queue-{i}"), 1);
    }
    // An admitted label set stays admitted after the cap is reached.
    c.record_sync_backlog_size("prod", "queue-0", 7);
    let text = m.render();
    assert_family(
        &text,
        "tmc_sync_backlog_size",
        &[
            r#"tmc_sync_backlog_size{cluster="prod",queue="queue-0"} 7"#,
            r#"tmc_sync_backlog_size{cluster="prod",queue="queue-1"} 1"#,
            r#"tmc_sync_backlog_size{cluster="prod",queue="queue-2"} 1"#,
            r#"tmc_sync_backlog_size{cluster="__overflow__",queue="__overflow__"} 1"#,
        ],
    );
    assert_family(
        &text,
        "tmc_metrics_series_folded_total",
        &[r#"tmc_metrics_series_folded_total{metric="tmc_sync_backlog_size"} 19997"#],
    );
    // Other families are capped separately.
    c.record_sync_lag("prod", "v1/Pod", Duration::from_secs(1));
    assert!(
        m.render()
            .contains(r#"tmc_sync_lag_seconds{cluster="prod",gvk="v1/Pod"} 1"#)
    );
    assert_eq!(
        Metrics::builder()
            .max_series_per_family(0)
            .unwrap_err()
            .to_string(),
        "max_series_per_family: the series cap must be at least 1"
    );
}

#[test]
fn custom_families_are_capped_too() {
    let m = Metrics::builder()
        .upkeep_interval(None)
        .max_series_per_family(2)
        .unwrap()
        .build()
        .unwrap();
    let h = m
        .custom()
        .register_histogram("myapp_latency_seconds", "Latency.", &["path"], &[1.0])
        .unwrap();
    for p in ["/a", "/b", "/c", "/d"] {
        h.histogram(&[p]).unwrap().record(0.5);
    }
    let text = m.render();
    assert!(text.contains(r#"myapp_latency_seconds_count{path="/a"} 1"#));
    assert!(text.contains(r#"myapp_latency_seconds_count{path="/b"} 1"#));
    assert!(text.contains(r#"myapp_latency_seconds_count{path="__overflow__"} 2"#));
    assert!(!text.contains(r#"path="/c""#));
}

fn manual_clock() -> (std::sync::Arc<std::sync::atomic::AtomicU64>, Clock) {
    let secs = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let now = secs.clone();
    (
        secs,
        Clock::new(move || Duration::from_secs(now.load(std::sync::atomic::Ordering::SeqCst))),
    )
}

#[test]
fn series_idle_past_the_retention_period_leave_the_exposition_and_come_back_unreset() {
    use std::sync::atomic::Ordering::SeqCst;
    let (secs, clock) = manual_clock();
    let m = Metrics::builder()
        .upkeep_interval(None)
        .retention(Some(Duration::from_secs(60)))
        .clock(clock)
        .build()
        .unwrap();
    let c = m.collector();
    c.record_placement_retry("root", "schedule"); // counter
    c.record_sync_backlog_size("prod", "q", 5); // gauge
    c.record_sync_duration("prod", "v1/Pod", "sync", Duration::from_millis(20)); // histogram
    m.run_upkeep();

    secs.store(30, SeqCst);
    m.run_upkeep(); // the clock moves on upkeep and renders
    c.record_placement_retry("root", "schedule");

    secs.store(61, SeqCst);
    let text = m.render();
    assert_family(
        &text,
        "tmc_placement_retries_total",
        &[r#"tmc_placement_retries_total{logical_cluster="root",operation="schedule"} 2"#],
    );
    assert!(
        !text.contains("tmc_sync_backlog_size"),
        "an idle gauge stays, with its help text:\n{text}"
    );
    assert!(
        !text.contains("tmc_sync_duration_seconds"),
        "an idle histogram stays:\n{text}"
    );

    secs.store(100, SeqCst);
    assert!(!m.render().contains("tmc_placement_retries_total"));
    // Recorded into again: back, with its accumulated value (no reset for rate()).
    c.record_placement_retry("root", "schedule");
    assert_family(
        &m.render(),
        "tmc_placement_retries_total",
        &[r#"tmc_placement_retries_total{logical_cluster="root",operation="schedule"} 3"#],
    );
    assert_eq!(promtool_check_metrics(&m.render()), "");
}

#[test]
fn handles_kept_across_expiry_keep_recording() {
    use std::sync::atomic::Ordering::SeqCst;
    let (secs, clock) = manual_clock();
    let m = Metrics::builder()
        .upkeep_interval(None)
        .retention(Some(Duration::from_secs(10)))
        .clock(clock)
        .build()
        .unwrap();
    let op = m.collector().operation("syncer", "s-1", "sync");
    op.start().success();
    secs.store(1000, SeqCst);
    assert!(!m.render().contains("tmc_component_operations_total"));
    op.start().success();
    let text = m.render();
    assert!(text.contains(r#"tmc_component_operations_total{component_type="syncer",component_id="s-1",operation="sync",status="success"} 2"#), "{text}");
    assert!(text.contains(r#"tmc_component_operation_duration_seconds_count{component_type="syncer",component_id="s-1",operation="sync"} 2"#));
    // Counters of the same operation never recorded since are still idle.
    assert!(!text.contains(r#"status="cancelled""#));
}
