//! The placement, sync, migration, workspace, cluster, recovery and system families, rendered
//! line for line.

use super::helpers::*;
use crate::*;
use std::time::Duration;

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
