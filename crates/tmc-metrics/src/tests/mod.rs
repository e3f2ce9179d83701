//! Exposition tests: record, render, and compare with the exact lines users scrape.

use crate::catalog::{self, CATALOG, MetricKind};
use crate::*;
use std::process::{Command, Stdio};
use std::task::{Context, Waker};
use std::time::Duration;

#[cfg(feature = "opentelemetry")]
mod exemplars;
mod formats;
mod proto;
mod protobuf;

fn fresh() -> (Metrics, MetricsCollector) {
    let m = Metrics::builder().upkeep_interval(None).build().unwrap();
    let c = m.collector();
    (m, c)
}

/// The lines of family `name` in `text` (help, type and series), sorted.
fn family(text: &str, name: &str) -> Vec<String> {
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

fn assert_family(text: &str, name: &str, series: &[&str]) {
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

fn assert_histogram(text: &str, name: &str, labels: &str, observed: &[f64]) {
    let lines = histogram_lines(name, labels, observed);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_family(text, name, &refs);
}

#[test]
fn datamover_families_render_the_seed_lines() {
    let (m, c) = fresh();
    for _ in 0..10 {
        c.datamover_phase_started("CreatingClonedPVC", "default");
    }
    for _ in 0..9 {
        c.datamover_phase_finished(
            "CreatingClonedPVC",
            "default",
            Outcome::Success,
            Duration::from_secs(2),
        );
    }
    c.datamover_phase_finished(
        "CreatingClonedPVC",
        "default",
        Outcome::Failure,
        Duration::from_millis(50),
    );
    c.datamover_pod_creation("default", DataMoverStatus::Started);
    c.datamover_pod_creation("default", DataMoverStatus::Success);
    c.datamover_pod_creation("default", DataMoverStatus::Failure);
    c.datamover_data_sync("default", Outcome::Success);
    c.datamover_data_sync("team-a", Outcome::Failure);
    c.datamover_cleanup("default", Outcome::Success);
    c.datamover_cleanup("default", Outcome::Success);
    c.datamover_transferred("default", 1_048_576, 3);
    c.datamover_transferred("default", 24, 1);
    let text = m.render();
    assert_family(
        &text,
        "datamover_bytes_transferred_total",
        &[r#"datamover_bytes_transferred_total{namespace="default"} 1048600"#],
    );
    assert_family(
        &text,
        "datamover_files_transferred_total",
        &[r#"datamover_files_transferred_total{namespace="default"} 4"#],
    );

    assert_family(
        &text,
        "datamover_operations_total",
        &[
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 10"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 9"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="failure",namespace="default"} 1"#,
        ],
    );
    assert_family(
        &text,
        "datamover_pod_creation_operations_total",
        &[
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="failure",namespace="default"} 1"#,
        ],
    );
    assert_family(
        &text,
        "datamover_data_sync_operations_total",
        &[
            r#"datamover_data_sync_operations_total{status="success",namespace="default"} 1"#,
            r#"datamover_data_sync_operations_total{status="failure",namespace="team-a"} 1"#,
        ],
    );
    assert_family(
        &text,
        "datamover_cleanup_operations_total",
        &[r#"datamover_cleanup_operations_total{status="success",namespace="default"} 2"#],
    );
    // Written out in full once: the catalog's buckets, cumulative counts, +Inf, sum, count.
    let p = r#"phase="CreatingClonedPVC",namespace="default""#;
    let expected: Vec<String> = [
        ("0.1", 1),
        ("0.5", 1),
        ("1", 1),
        ("2.5", 10),
        ("5", 10),
        ("10", 10),
        ("30", 10),
        ("60", 10),
        ("120", 10),
        ("300", 10),
        ("600", 10),
        ("1200", 10),
        ("1800", 10),
        ("3600", 10),
        ("7200", 10),
        ("14400", 10),
        ("28800", 10),
        ("86400", 10),
        ("+Inf", 10),
    ]
    .iter()
    .map(|(le, n)| format!("datamover_phase_duration_seconds_bucket{{{p},le=\"{le}\"}} {n}"))
    .chain([
        format!("datamover_phase_duration_seconds_sum{{{p}}} 18.05"),
        format!("datamover_phase_duration_seconds_count{{{p}}} 10"),
    ])
    .collect();
    let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_family(&text, "datamover_phase_duration_seconds", &refs);
}

#[test]
fn component_families_render_exactly() {
    let (m, c) = fresh();
    c.record_component_health(
        "SyncTargetController",
        "syncer-prod-cluster",
        "prod-cluster",
        HealthStatus::Healthy,
    );
    c.record_component_health(
        "PlacementController",
        "pc-1",
        "prod-cluster",
        HealthStatus::Degraded,
    );
    c.record_component_uptime(
        "SyncTargetController",
        "syncer-prod-cluster",
        "prod-cluster",
        Duration::from_secs(3600),
    );
    for _ in 0..125 {
        c.record_component_operation(
            "SyncTargetController",
            "syncer-prod-cluster",
            "sync-resource",
            "success",
        );
    }
    for _ in 0..3 {
        c.record_component_error(
            "PlacementController",
            "placement-controller-1",
            &ErrorClass {
                kind: ErrorKind::ClusterUnreachable,
                severity: Severity::High,
            },
        );
    }
    c.record_component_latency(
        "VirtualWorkspaceManager",
        "workspace-manager",
        "aggregate-resources",
        Duration::from_millis(245),
    );
    let text = m.render();
    assert_family(
        &text,
        "tmc_component_health",
        &[
            r#"tmc_component_health{component_type="SyncTargetController",component_id="syncer-prod-cluster",cluster="prod-cluster"} 1"#,
            r#"tmc_component_health{component_type="PlacementController",component_id="pc-1",cluster="prod-cluster"} 0.5"#,
        ],
    );
    assert_family(
        &text,
        "tmc_component_uptime_seconds",
        &[
            r#"tmc_component_uptime_seconds{component_type="SyncTargetController",component_id="syncer-prod-cluster",cluster="prod-cluster"} 3600"#,
        ],
    );
    assert_family(
        &text,
        "tmc_component_operations_total",
        &[
            r#"tmc_component_operations_total{component_type="SyncTargetController",component_id="syncer-prod-cluster",operation="sync-resource",status="success"} 125"#,
        ],
    );
    assert_family(
        &text,
        "tmc_component_errors_total",
        &[
            r#"tmc_component_errors_total{component_type="PlacementController",component_id="placement-controller-1",error_type="ClusterUnreachable",severity="High"} 3"#,
        ],
    );
    assert_histogram(
        &text,
        "tmc_component_operation_duration_seconds",
        r#"component_type="VirtualWorkspaceManager",component_id="workspace-manager",operation="aggregate-resources""#,
        &[0.245],
    );
}

#[test]
fn placement_sync_and_migration_families_render_exactly() {
    let (m, c) = fresh();
    c.record_placement_count("root:production", "default", "scheduled", 15);
    c.record_placement_duration(
        "root:production",
        "schedule",
        "success",
        Duration::from_secs(2),
    );
    c.record_placement_error("root:production", ErrorKind::PlacementCapacity, "cluster-1");
    c.record_placement_retry("root:production", "schedule");
    c.record_placement_retry("root:production", "schedule");
    c.record_placement_cluster_count("root:production", "default", "web-app", 3);
    c.record_sync_resource_count(
        "prod-cluster",
        "default",
        "apps/v1/Deployment",
        "synced",
        50,
    );
    c.record_sync_duration(
        "prod-cluster",
        "apps/v1/Deployment",
        "sync",
        Duration::from_millis(1500),
    );
    c.record_sync_error("prod-cluster", "apps/v1/Service", ErrorKind::SyncFailure);
    c.record_sync_backlog_size("prod-cluster", "deployment-queue", 25);
    c.record_sync_lag(
        "prod-cluster",
        "apps/v1/Deployment",
        Duration::from_secs(30),
    );
    c.record_migration_count("cluster-a", "cluster-b", "in-progress", 2);
    c.record_migration_duration(
        "cluster-a",
        "cluster-b",
        "live-migration",
        Duration::from_secs(600),
    );
    c.record_migration_error(
        "cluster-a",
        "cluster-b",
        ErrorKind::MigrationFailure,
        "data-transfer",
    );
    c.record_migration_rollback("cluster-a", "cluster-b", "health-check-failed");
    c.record_migration_data_size(
        "cluster-a",
        "cluster-b",
        "PersistentVolume",
        5 * 1024 * 1024 * 1024,
    );
    let text = m.render();

    assert_family(
        &text,
        "tmc_placements",
        &[
            r#"tmc_placements{logical_cluster="root:production",namespace="default",status="scheduled"} 15"#,
        ],
    );
    assert_histogram(
        &text,
        "tmc_placement_duration_seconds",
        r#"logical_cluster="root:production",operation="schedule",status="success""#,
        &[2.0],
    );
    assert_family(
        &text,
        "tmc_placement_errors_total",
        &[
            r#"tmc_placement_errors_total{logical_cluster="root:production",error_type="PlacementCapacity",cluster="cluster-1"} 1"#,
        ],
    );
    assert_family(
        &text,
        "tmc_placement_retries_total",
        &[
            r#"tmc_placement_retries_total{logical_cluster="root:production",operation="schedule"} 2"#,
        ],
    );
    assert_family(
        &text,
        "tmc_placement_clusters",
        &[
            r#"tmc_placement_clusters{logical_cluster="root:production",namespace="default",placement="web-app"} 3"#,
        ],
    );
    assert_family(
        &text,
        "tmc_sync_resources",
        &[
            r#"tmc_sync_resources{cluster="prod-cluster",namespace="default",gvk="apps/v1/Deployment",status="synced"} 50"#,
        ],
    );
    assert_histogram(
        &text,
        "tmc_sync_duration_seconds",
        r#"cluster="prod-cluster",gvk="apps/v1/Deployment",operation="sync""#,
        &[1.5],
    );
    assert_family(
        &text,
        "tmc_sync_errors_total",
        &[
            r#"tmc_sync_errors_total{cluster="prod-cluster",gvk="apps/v1/Service",error_type="SyncFailure"} 1"#,
        ],
    );
    assert_family(
        &text,
        "tmc_sync_backlog_size",
        &[r#"tmc_sync_backlog_size{cluster="prod-cluster",queue="deployment-queue"} 25"#],
    );
    assert_family(
        &text,
        "tmc_sync_lag_seconds",
        &[r#"tmc_sync_lag_seconds{cluster="prod-cluster",gvk="apps/v1/Deployment"} 30"#],
    );
    assert_family(
        &text,
        "tmc_migrations",
        &[
            r#"tmc_migrations{source_cluster="cluster-a",target_cluster="cluster-b",status="in-progress"} 2"#,
        ],
    );
    assert_histogram(
        &text,
        "tmc_migration_duration_seconds",
        r#"source_cluster="cluster-a",target_cluster="cluster-b",strategy="live-migration""#,
        &[600.0],
    );
    assert_family(
        &text,
        "tmc_migration_errors_total",
        &[
            r#"tmc_migration_errors_total{source_cluster="cluster-a",target_cluster="cluster-b",error_type="MigrationFailure",phase="data-transfer"} 1"#,
        ],
    );
    assert_family(
        &text,
        "tmc_migration_rollbacks_total",
        &[
            r#"tmc_migration_rollbacks_total{source_cluster="cluster-a",target_cluster="cluster-b",reason="health-check-failed"} 1"#,
        ],
    );
    assert_histogram(
        &text,
        "tmc_migration_data_size_bytes",
        r#"source_cluster="cluster-a",target_cluster="cluster-b",resource_type="PersistentVolume""#,
        &[5_368_709_120.0],
    );
}

#[test]
fn workspace_cluster_recovery_and_system_families_render_exactly() {
    let (m, c) = fresh();
    c.record_resource_aggregation("apps/v1/Deployment", "union", "success");
    c.record_resource_projection("cluster-1", "cluster-2", "v1/Service", "active");
    c.record_resource_conflict(
        "cluster-1",
        "apps/v1/StatefulSet",
        "version-conflict",
        "last-writer-wins",
    );
    c.record_virtual_workspace_count("root:production", "active", 15);
    c.record_virtual_workspace_latency("aggregate", "prod-workspace", Duration::from_millis(500));
    c.record_cluster_health("prod-cluster-1", "root:production", HealthStatus::Healthy);
    c.record_cluster_connectivity("prod-cluster-1", "root:production", true);
    c.record_cluster_connectivity("edge-2", "root:production", false);
    c.record_cluster_capacity("prod-cluster-1", "cpu", 0.75);
    c.record_cluster_resource_count("prod-cluster-1", "apps/v1/Deployment", "default", 25);
    c.record_recovery_attempt("SyncTargetController", "restart");
    c.record_recovery_attempt("SyncTargetController", "restart");
    c.record_recovery_success("SyncTargetController", "restart");
    c.record_recovery_failure("SyncTargetController", "restart");
    c.record_runtime_tasks(150);
    c.record_memory_usage(256 * 1024 * 1024);
    c.record_cpu_usage(25.5);
    c.record_api_request(
        "GET",
        "/api/v1/placements",
        "200",
        Duration::from_millis(150),
    );
    let text = m.render();

    assert_family(
        &text,
        "tmc_virtual_workspace_aggregations_total",
        &[
            r#"tmc_virtual_workspace_aggregations_total{gvk="apps/v1/Deployment",strategy="union",status="success"} 1"#,
        ],
    );
    assert_family(
        &text,
        "tmc_virtual_workspace_projections_total",
        &[
            r#"tmc_virtual_workspace_projections_total{source_cluster="cluster-1",target_cluster="cluster-2",gvk="v1/Service",status="active"} 1"#,
        ],
    );
    assert_family(
        &text,
        "tmc_virtual_workspace_conflicts_total",
        &[
            r#"tmc_virtual_workspace_conflicts_total{cluster="cluster-1",gvk="apps/v1/StatefulSet",conflict_type="version-conflict",resolution="last-writer-wins"} 1"#,
        ],
    );
    assert_family(
        &text,
        "tmc_virtual_workspaces",
        &[r#"tmc_virtual_workspaces{logical_cluster="root:production",status="active"} 15"#],
    );
    assert_histogram(
        &text,
        "tmc_virtual_workspace_operation_duration_seconds",
        r#"operation="aggregate",workspace="prod-workspace""#,
        &[0.5],
    );
    assert_family(
        &text,
        "tmc_cluster_health",
        &[r#"tmc_cluster_health{cluster="prod-cluster-1",logical_cluster="root:production"} 1"#],
    );
    assert_family(
        &text,
        "tmc_cluster_connectivity",
        &[
            r#"tmc_cluster_connectivity{cluster="prod-cluster-1",logical_cluster="root:production"} 1"#,
            r#"tmc_cluster_connectivity{cluster="edge-2",logical_cluster="root:production"} 0"#,
        ],
    );
    assert_family(
        &text,
        "tmc_cluster_capacity_utilization",
        &[r#"tmc_cluster_capacity_utilization{cluster="prod-cluster-1",resource_type="cpu"} 0.75"#],
    );
    assert_family(
        &text,
        "tmc_cluster_resources",
        &[
            r#"tmc_cluster_resources{cluster="prod-cluster-1",gvk="apps/v1/Deployment",namespace="default"} 25"#,
        ],
    );
    assert_family(
        &text,
        "tmc_recovery_attempts_total",
        &[
            r#"tmc_recovery_attempts_total{component_type="SyncTargetController",strategy="restart"} 2"#,
        ],
    );
    assert_family(
        &text,
        "tmc_recovery_successes_total",
        &[
            r#"tmc_recovery_successes_total{component_type="SyncTargetController",strategy="restart"} 1"#,
        ],
    );
    assert_family(
        &text,
        "tmc_recovery_failures_total",
        &[
            r#"tmc_recovery_failures_total{component_type="SyncTargetController",strategy="restart"} 1"#,
        ],
    );
    assert_family(&text, "tmc_runtime_tasks", &["tmc_runtime_tasks 150"]);
    assert_family(
        &text,
        "tmc_memory_usage_bytes",
        &["tmc_memory_usage_bytes 268435456"],
    );
    assert_family(
        &text,
        "tmc_cpu_usage_percent",
        &["tmc_cpu_usage_percent 25.5"],
    );
    assert_family(
        &text,
        "tmc_api_requests_total",
        &[
            r#"tmc_api_requests_total{method="GET",endpoint="/api/v1/placements",status_code="200"} 1"#,
        ],
    );
    assert_histogram(
        &text,
        "tmc_api_request_duration_seconds",
        r#"method="GET",endpoint="/api/v1/placements",status_code="200""#,
        &[0.15],
    );
}

/// Records one sample in every catalog family, through the typed methods only.
fn record_every_family(c: &MetricsCollector, value: &str) {
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

// ---------------------------------------------------------------------------------------------
// promtool

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

fn promtool_check_metrics(text: &str) -> String {
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

// ---------------------------------------------------------------------------------------------
// Label value escaping

/// Reads back the first label value of an exposition line, undoing the format's escapes.
fn first_label_value(line: &str) -> String {
    let start = line.find("=\"").unwrap() + 2;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => match chars.next().unwrap() {
                'n' => out.push('\n'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                other => panic!("invalid escape \\{other} in {line}"),
            },
            c => out.push(c),
        }
    }
    panic!("unterminated label value in {line}")
}

proptest::proptest! {
    #[test]
    fn any_label_value_round_trips_through_the_exposition(value in "(\\PC|[\"\\\\\n])*") {
        let (m, c) = fresh();
        c.record_sync_backlog_size(&value, "q", 1);
        let text = m.render();
        let line = text.lines().find(|l| l.starts_with("tmc_sync_backlog_size{")).unwrap();
        proptest::prop_assert!(!line.contains('\n'));
        proptest::prop_assert_eq!(first_label_value(line), value);
    }
}

// ---------------------------------------------------------------------------------------------
// Operation tracker

#[test]
fn tracker_records_success_error_and_cancel_with_durations() {
    let (m, c) = fresh();
    let op = c.operation("syncer", "cluster-1", "sync-deployment");
    op.start().success();
    op.start().success();
    op.start().error(&TmcError::from_http_status(
        404,
        "syncer",
        "sync-deployment",
        "gone",
    ));
    op.start().error(
        &TmcError::new(ErrorKind::SyncFailure, "syncer", "sync", "x")
            .with_severity(Severity::Critical),
    );
    drop(op.start());
    let text = m.render();
    let l = r#"component_type="syncer",component_id="cluster-1""#;
    assert_family(
        &text,
        "tmc_component_operations_total",
        &[
            &format!(
                r#"tmc_component_operations_total{{{l},operation="sync-deployment",status="success"}} 2"#
            ),
            &format!(
                r#"tmc_component_operations_total{{{l},operation="sync-deployment",status="error"}} 2"#
            ),
            &format!(
                r#"tmc_component_operations_total{{{l},operation="sync-deployment",status="cancelled"}} 1"#
            ),
        ],
    );
    assert_family(
        &text,
        "tmc_component_errors_total",
        &[
            &format!(
                r#"tmc_component_errors_total{{{l},error_type="ResourceNotFound",severity="Low"}} 1"#
            ),
            &format!(
                r#"tmc_component_errors_total{{{l},error_type="SyncFailure",severity="Critical"}} 1"#
            ),
        ],
    );
    assert!(text.contains(&format!(
        r#"tmc_component_operation_duration_seconds_count{{{l},operation="sync-deployment"}} 5"#
    )));
}

#[test]
fn tracked_future_counts_ok_err_and_drop_before_completion() {
    let (m, c) = fresh();
    let op = c.operation("reconciler", "datamover", "reconcile");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let ok: Result<(), std::io::Error> = op.track(async { Ok(()) }).await;
        ok.unwrap();
        let err: Result<(), std::io::Error> = op
            .track(async { Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)) })
            .await;
        assert!(err.is_err());
        let custom: Result<(), &str> = op
            .track_with(async { Err("quota") }, |_| {
                ErrorClass::of(ErrorKind::PlacementCapacity)
            })
            .await;
        assert!(custom.is_err());
    });
    // A future polled once, still pending, then dropped: cancelled.
    let mut pending = Box::pin(op.track(std::future::pending::<Result<(), TmcError>>()));
    assert!(
        pending
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    drop(pending);
    // A future never polled at all is also an operation that did not finish.
    drop(track_operation(
        &c,
        "reconciler",
        "datamover",
        "reconcile",
        async { Ok::<(), TmcError>(()) },
    ));

    let text = m.render();
    let l = r#"component_type="reconciler",component_id="datamover",operation="reconcile""#;
    assert_family(
        &text,
        "tmc_component_operations_total",
        &[
            &format!(r#"tmc_component_operations_total{{{l},status="success"}} 1"#),
            &format!(r#"tmc_component_operations_total{{{l},status="error"}} 2"#),
            &format!(r#"tmc_component_operations_total{{{l},status="cancelled"}} 2"#),
        ],
    );
    let e = r#"component_type="reconciler",component_id="datamover""#;
    assert_family(
        &text,
        "tmc_component_errors_total",
        &[
            &format!(
                r#"tmc_component_errors_total{{{e},error_type="ClusterUnreachable",severity="High"}} 1"#
            ),
            &format!(
                r#"tmc_component_errors_total{{{e},error_type="PlacementCapacity",severity="Medium"}} 1"#
            ),
        ],
    );
}

#[test]
fn call_tracks_a_synchronous_closure() {
    let (m, c) = fresh();
    let op = c.operation("client", "api", "get");
    assert_eq!(op.call(|| Ok::<_, ErrorKind>(7)).unwrap(), 7);
    assert!(op.call(|| Err::<(), _>(ErrorKind::RateLimited)).is_err());
    let text = m.render();
    assert!(text.contains(r#"tmc_component_operations_total{component_type="client",component_id="api",operation="get",status="success"} 1"#));
    assert!(text.contains(r#"tmc_component_errors_total{component_type="client",component_id="api",error_type="RateLimited",severity="Medium"} 1"#));
}

// ---------------------------------------------------------------------------------------------
// Custom metrics

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

// ---------------------------------------------------------------------------------------------
// Local and global recorders

#[test]
fn registries_built_locally_do_not_share_state() {
    let (a, ca) = fresh();
    let (b, _) = fresh();
    ca.record_runtime_tasks(3);
    assert!(a.render().contains("tmc_runtime_tasks 3"));
    assert!(!b.render().contains("tmc_runtime_tasks"));
}

#[test]
fn facade_collector_records_into_the_local_recorder_in_scope() {
    let (m, _) = fresh();
    let recorder = m.recorder();
    metrics::with_local_recorder(&*recorder, || {
        MetricsCollector::facade().record_runtime_tasks(11);
        metrics::counter!("myapp_plain_total").increment(1);
    });
    let text = m.render();
    assert!(text.contains("tmc_runtime_tasks 11"));
    assert!(text.contains("myapp_plain_total 1"));
}

#[test]
fn installing_twice_is_an_error_not_a_panic() {
    // The only test that touches the process-global recorder.
    let first = Metrics::builder()
        .upkeep_interval(Some(Duration::from_millis(50)))
        .install()
        .unwrap();
    assert!(Metrics::installed().is_some());
    let err = Metrics::builder().install().unwrap_err();
    assert!(matches!(err, MetricsError::AlreadyInstalled), "{err}");
    assert!(err.to_string().contains("already installed"));
    metrics::counter!("myapp_global_total").increment(4);
    assert!(first.render().contains("myapp_global_total 4"));
    assert!(
        Metrics::installed()
            .unwrap()
            .render()
            .contains("myapp_global_total 4")
    );
}

// ---------------------------------------------------------------------------------------------
// Series cap

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

// ---------------------------------------------------------------------------------------------
// Retention

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
