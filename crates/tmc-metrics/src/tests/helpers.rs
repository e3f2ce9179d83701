//! Helpers shared by the exposition tests: a fresh registry, the lines of a family or of a
//! histogram series, one sample in every catalog family, and `promtool check metrics`.

use crate::catalog::{self, CATALOG, MetricKind};
use crate::*;
use std::process::{Command, Stdio};
use std::time::Duration;

pub(crate) fn fresh() -> (Metrics, MetricsCollector) {
    let m = Metrics::builder().upkeep_interval(None).build().unwrap();
    let c = m.collector();
    (m, c)
}

/// The lines of family `name` in `text` (help, type and series), sorted.
pub(crate) fn family(text: &str, name: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            let series = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l)
                .split(['{', ' '])
                .next()
                .unwrap_or_default();
            series == name
                || catalog::family_of_series(series)
                    .is_some_and(|d| d.name == name && series != name)
        })
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

pub(crate) fn assert_family(text: &str, name: &str, series: &[&str]) {
    let def = catalog::find(name).unwrap();
    let mut expected: Vec<String> = vec![
        format!("# HELP {name} {}", def.help),
        format!("# TYPE {name} {}", def.kind),
    ];
    expected.extend(series.iter().map(|s| (*s).to_owned()));
    expected.sort();
    assert_eq!(family(text, name), expected, "family {name}");
}

/// The lines of one histogram series: cumulative buckets for `observed`, then sum and count.
fn histogram_lines(name: &str, labels: &str, observed: &[f64]) -> Vec<String> {
    let def = catalog::find(name).unwrap();
    let mut out: Vec<String> = def
        .buckets
        .iter()
        .map(|le| {
            let n = observed.iter().filter(|v| **v <= *le).count();
            format!("{name}_bucket{{{labels},le=\"{le}\"}} {n}")
        })
        .collect();
    out.push(format!(
        "{name}_bucket{{{labels},le=\"+Inf\"}} {}",
        observed.len()
    ));
    out.push(format!(
        "{name}_sum{{{labels}}} {}",
        observed.iter().sum::<f64>()
    ));
    out.push(format!("{name}_count{{{labels}}} {}", observed.len()));
    out
}

pub(crate) fn assert_histogram(text: &str, name: &str, labels: &str, observed: &[f64]) {
    let lines = histogram_lines(name, labels, observed);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_family(text, name, &refs);
}

/// Records one sample in every catalog family, through the typed methods only.
pub(crate) fn record_every_family(c: &MetricsCollector, value: &str) {
    let d = Duration::from_millis(20);
    c.datamover_phase_started("CreatingPod", value);
    c.datamover_phase_finished("CreatingPod", value, Outcome::Failure, d);
    c.datamover_pod_creation(value, DataMoverStatus::Started);
    c.datamover_data_sync(value, Outcome::Success);
    c.datamover_cleanup(value, Outcome::Failure);
    c.datamover_transferred(value, 1024, 3);
    c.datamover_running_syncs(value, 2, 4096);
    c.datamover_schedule_run(value, value, DataMoverStatus::Started);
    c.datamover_schedule_skipped(value, value, crate::ScheduleSkip::Active, 1);
    c.datamover_schedule_freshness(value, value, 30.0, 60.0);
    c.datamover_schedule_pruned(value, value, 1, 2);
    c.datamover_schedule_prune_failed(value, value);
    c.datamover_restore_started(value);
    c.datamover_restore_finished(value, Outcome::Success, d, 4096);
    c.datamover_store_write_errors(value, 1);
    c.datamover_verify(value, Outcome::Success, Some(d));
    c.datamover_schedule_verification_age(value, value, 60.0);
    c.record_component_health("t", value, "c", HealthStatus::Unknown);
    c.record_component_uptime("t", value, "c", d);
    c.operation("t", value, "op")
        .start()
        .error(&ErrorKind::Timeout);
    c.record_placement_count(value, "ns", "pending", 1);
    c.record_placement_duration(value, "schedule", "success", d);
    c.record_placement_error(value, ErrorKind::PlacementCapacity, "c");
    c.record_placement_retry(value, "schedule");
    c.record_placement_cluster_count(value, "ns", "p", 2);
    c.record_sync_resource_count("c", "ns", value, "synced", 3);
    c.record_sync_duration("c", value, "sync", d);
    c.record_sync_error("c", value, ErrorKind::SyncFailure);
    c.record_sync_backlog_size("c", value, 4);
    c.record_sync_lag("c", value, d);
    c.record_migration_count(value, "b", "completed", 1);
    c.record_migration_duration(value, "b", "live", d);
    c.record_migration_error(value, "b", ErrorKind::MigrationFailure, "cutover");
    c.record_migration_rollback(value, "b", "timeout");
    c.record_migration_data_size(value, "b", "PersistentVolume", 1 << 30);
    c.record_resource_aggregation(value, "union", "success");
    c.record_resource_projection("a", "b", value, "active");
    c.record_resource_conflict("a", value, "version", "lww");
    c.record_virtual_workspace_count(value, "active", 1);
    c.record_virtual_workspace_latency("aggregate", value, d);
    c.record_cluster_health(value, "root", HealthStatus::Degraded);
    c.record_cluster_connectivity(value, "root", true);
    c.record_cluster_capacity(value, "memory", 0.5);
    c.record_cluster_resource_count(value, "v1/Pod", "ns", 9);
    c.record_recovery_attempt(value, "restart");
    c.record_recovery_success(value, "restart");
    c.record_recovery_failure(value, "restart");
    c.record_runtime_tasks(7);
    c.record_memory_usage(1024);
    c.record_cpu_usage(1.5);
    c.record_api_request("GET", value, "200", d);
    c.gauge(&catalog::TMC_API_REQUESTS_IN_FLIGHT, ["GET", value])
        .increment(1.0);
    c.histogram(&catalog::TMC_API_REQUEST_BODY_SIZE_BYTES, ["GET", value])
        .record(512.0);
    c.histogram(&catalog::TMC_API_RESPONSE_BODY_SIZE_BYTES, ["GET", value])
        .record(512.0);
    c.histogram(
        &catalog::HTTP_SERVER_REQUEST_DURATION_SECONDS,
        ["GET", value, "500", "http", "1.1", "500"],
    )
    .record(0.25);
    c.gauge(&catalog::HTTP_SERVER_ACTIVE_REQUESTS, ["GET", "http"])
        .increment(1.0);
    c.histogram(
        &catalog::HTTP_SERVER_REQUEST_BODY_SIZE_BYTES,
        ["GET", value],
    )
    .record(512.0);
    c.histogram(
        &catalog::HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES,
        ["GET", value],
    )
    .record(512.0);
    // The controller runtime records these through the generic handles.
    for def in CATALOG.iter().filter(|d| {
        matches!(
            d.subsystem,
            catalog::Subsystem::Controller | catalog::Subsystem::Meta
        )
    }) {
        let labels = def.labels.iter().map(|l| {
            let v = if *l == "result" { "success" } else { value };
            metrics::Label::new(*l, v.to_owned())
        });
        let key = metrics::Key::from_parts(def.name, labels.collect::<Vec<_>>());
        match def.kind {
            MetricKind::Counter => c.register_counter(&key).increment(1),
            MetricKind::Gauge => c.register_gauge(&key).set(1.0),
            MetricKind::Histogram => c.register_histogram(&key).record(0.5),
        }
    }
}

/// `promtool`. Without it the test fails, naming the install command: no test passes by
/// skipping a check.
pub(crate) fn promtool() -> &'static str {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "promtool is missing: install it with `apt-get install -y prometheus` (scripts/test.sh installs what the tests need when run as root)"
    );
    "promtool"
}

pub(crate) fn promtool_check_metrics(text: &str) -> String {
    use std::io::Write as _;
    let bin = promtool();
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() || !report.is_empty(),
        "promtool failed silently"
    );
    report
}
