//! The DataMover and component families, rendered line for line.

use super::helpers::*;
use crate::*;
use std::time::Duration;

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
