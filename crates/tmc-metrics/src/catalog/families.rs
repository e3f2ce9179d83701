//! The family declarations. One `const` per family; [`CATALOG`] lists them all.

use super::{MetricDef, MetricKind::*, Subsystem};

/// Buckets for request and operation latencies: 1 ms to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets for DataMover phases: the seed's 0.1 s to 1200 s, extended to 24 h because a
/// backup can take hours and `DataMoverLongRunningOperation` alerts on a p95 above 1800 s,
/// which `histogram_quantile` can only report when buckets exist above it.
pub const PHASE_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
    14_400.0, 28_800.0, 86_400.0,
];

/// Buckets for long operations such as migrations: 1 s to 24 h.
pub const LONG_OPERATION_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14_400.0,
    28_800.0, 86_400.0,
];

/// Buckets for data sizes: powers of four from 1 MiB to 4 TiB.
pub const SIZE_BUCKETS: &[f64] = &[
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
    4_294_967_296.0,
    17_179_869_184.0,
    68_719_476_736.0,
    274_877_906_944.0,
    1_099_511_627_776.0,
    4_398_046_511_104.0,
];

const NONE: &[f64] = &[];
const GAUGE_TOTAL: &str = "a gauge may not end in _total (promtool check metrics rejects it); \
                           the seed declared this family as a gauge";

macro_rules! family {
    ($(#[$doc:meta])* $ident:ident, $name:literal, $kind:ident, $sub:ident, [$($label:literal),*], $buckets:expr, $help:literal $(, seed = $seed:literal)?) => {
        $(#[$doc])*
        pub const $ident: MetricDef = MetricDef {
            name: $name,
            kind: $kind,
            help: $help,
            labels: &[$($label),*],
            buckets: $buckets,
            subsystem: Subsystem::$sub,
            seed_name: family!(@seed $($seed)?),
        };
    };
    (@seed) => { None };
    (@seed $seed:literal) => { Some(($seed, GAUGE_TOTAL)) };
}

// The DataMover families and the controller runtime's, in files of their own; `family!`
// above is in scope there.
mod datamover;
mod runtime;
pub use datamover::*;
pub use runtime::*;

// ---------------------------------------------------------------------------------------------
// TMC components

family!(
    /// `tmc_component_health`: 1 healthy, 0.5 degraded, 0.25 unknown, 0 unhealthy.
    TMC_COMPONENT_HEALTH, "tmc_component_health", Gauge, Component,
    ["component_type", "component_id", "cluster"], NONE,
    "Component health: 1 healthy, 0.5 degraded, 0.25 unknown, 0 unhealthy."
);
family!(
    /// `tmc_component_uptime_seconds`: seconds since the component started.
    TMC_COMPONENT_UPTIME_SECONDS, "tmc_component_uptime_seconds", Gauge, Component,
    ["component_type", "component_id", "cluster"], NONE,
    "Seconds since the component started."
);
family!(
    /// `tmc_component_operations_total`: operations by status (`success`, `error`, `cancelled`).
    TMC_COMPONENT_OPERATIONS_TOTAL, "tmc_component_operations_total", Counter, Component,
    ["component_type", "component_id", "operation", "status"], NONE,
    "Component operations by outcome (success, error, cancelled)."
);
family!(
    /// `tmc_component_errors_total`: errors by type and severity.
    TMC_COMPONENT_ERRORS_TOTAL, "tmc_component_errors_total", Counter, Component,
    ["component_type", "component_id", "error_type", "severity"], NONE,
    "Component errors by error type and severity (Low, Medium, High, Critical)."
);
family!(
    /// `tmc_component_operation_duration_seconds`: operation latency, every outcome.
    TMC_COMPONENT_OPERATION_DURATION_SECONDS, "tmc_component_operation_duration_seconds",
    Histogram, Component, ["component_type", "component_id", "operation"], LATENCY_BUCKETS,
    "Component operation duration in seconds, whatever the outcome."
);

// ---------------------------------------------------------------------------------------------
// Placement

family!(
    /// `tmc_placements`: current placements by status (seed: `tmc_placements_total`).
    TMC_PLACEMENTS, "tmc_placements", Gauge, Placement,
    ["logical_cluster", "namespace", "status"], NONE,
    "Current number of workload placements by status.", seed = "tmc_placements_total"
);
family!(
    /// `tmc_placement_duration_seconds`: placement decision latency.
    TMC_PLACEMENT_DURATION_SECONDS, "tmc_placement_duration_seconds", Histogram, Placement,
    ["logical_cluster", "operation", "status"], LATENCY_BUCKETS,
    "Duration of placement operations in seconds."
);
family!(
    /// `tmc_placement_errors_total`: placement errors by type and cluster.
    TMC_PLACEMENT_ERRORS_TOTAL, "tmc_placement_errors_total", Counter, Placement,
    ["logical_cluster", "error_type", "cluster"], NONE,
    "Placement errors by error type and target cluster."
);
family!(
    /// `tmc_placement_retries_total`: placement retries (named here; the seed gives only a field).
    TMC_PLACEMENT_RETRIES_TOTAL, "tmc_placement_retries_total", Counter, Placement,
    ["logical_cluster", "operation"], NONE,
    "Placement operations retried, by operation."
);
family!(
    /// `tmc_placement_clusters`: clusters a placement currently targets.
    TMC_PLACEMENT_CLUSTERS, "tmc_placement_clusters", Gauge, Placement,
    ["logical_cluster", "namespace", "placement"], NONE,
    "Number of clusters a placement currently targets."
);

// ---------------------------------------------------------------------------------------------
// Sync

family!(
    /// `tmc_sync_resources`: resources per sync status (seed: `tmc_sync_resources_total`).
    TMC_SYNC_RESOURCES, "tmc_sync_resources", Gauge, Sync,
    ["cluster", "namespace", "gvk", "status"], NONE,
    "Current number of synchronised resources by status.", seed = "tmc_sync_resources_total"
);
family!(
    /// `tmc_sync_duration_seconds`: sync operation latency.
    TMC_SYNC_DURATION_SECONDS, "tmc_sync_duration_seconds", Histogram, Sync,
    ["cluster", "gvk", "operation"], LATENCY_BUCKETS,
    "Duration of resource synchronisation operations in seconds."
);
family!(
    /// `tmc_sync_errors_total`: sync errors by type.
    TMC_SYNC_ERRORS_TOTAL, "tmc_sync_errors_total", Counter, Sync,
    ["cluster", "gvk", "error_type"], NONE,
    "Resource synchronisation errors by error type."
);
family!(
    /// `tmc_sync_backlog_size`: items waiting in a sync queue.
    TMC_SYNC_BACKLOG_SIZE, "tmc_sync_backlog_size", Gauge, Sync,
    ["cluster", "queue"], NONE,
    "Items waiting in a sync queue."
);
family!(
    /// `tmc_sync_lag_seconds`: how far a cluster's copy trails the source.
    TMC_SYNC_LAG_SECONDS, "tmc_sync_lag_seconds", Gauge, Sync,
    ["cluster", "gvk"], NONE,
    "Seconds the synchronised copy trails the source."
);

// ---------------------------------------------------------------------------------------------
// Migration

family!(
    /// `tmc_migrations`: migrations by status (seed: `tmc_migrations_total`).
    TMC_MIGRATIONS, "tmc_migrations", Gauge, Migration,
    ["source_cluster", "target_cluster", "status"], NONE,
    "Current number of migrations by status.", seed = "tmc_migrations_total"
);
family!(
    /// `tmc_migration_duration_seconds`: migration duration by strategy.
    TMC_MIGRATION_DURATION_SECONDS, "tmc_migration_duration_seconds", Histogram, Migration,
    ["source_cluster", "target_cluster", "strategy"], LONG_OPERATION_BUCKETS,
    "Duration of workload migrations in seconds, by strategy."
);
family!(
    /// `tmc_migration_errors_total`: migration errors by type and phase.
    TMC_MIGRATION_ERRORS_TOTAL, "tmc_migration_errors_total", Counter, Migration,
    ["source_cluster", "target_cluster", "error_type", "phase"], NONE,
    "Migration errors by error type and migration phase."
);
family!(
    /// `tmc_migration_rollbacks_total`: migrations rolled back (named here; the seed gives only a field).
    TMC_MIGRATION_ROLLBACKS_TOTAL, "tmc_migration_rollbacks_total", Counter, Migration,
    ["source_cluster", "target_cluster", "reason"], NONE,
    "Migrations rolled back, by reason."
);
family!(
    /// `tmc_migration_data_size_bytes`: data moved per migration.
    TMC_MIGRATION_DATA_SIZE_BYTES, "tmc_migration_data_size_bytes", Histogram, Migration,
    ["source_cluster", "target_cluster", "resource_type"], SIZE_BUCKETS,
    "Bytes of data moved by a migration, by resource type."
);

// ---------------------------------------------------------------------------------------------
// Virtual workspaces (the seed gives recorder methods only; names chosen here)

family!(
    /// `tmc_virtual_workspace_aggregations_total`: resource aggregations by strategy and status.
    TMC_VIRTUAL_WORKSPACE_AGGREGATIONS_TOTAL, "tmc_virtual_workspace_aggregations_total", Counter,
    VirtualWorkspace, ["gvk", "strategy", "status"], NONE,
    "Resource aggregations across clusters by strategy and status."
);
family!(
    /// `tmc_virtual_workspace_projections_total`: resource projections between clusters.
    TMC_VIRTUAL_WORKSPACE_PROJECTIONS_TOTAL, "tmc_virtual_workspace_projections_total", Counter,
    VirtualWorkspace, ["source_cluster", "target_cluster", "gvk", "status"], NONE,
    "Resource projections from one cluster to another by status."
);
family!(
    /// `tmc_virtual_workspace_conflicts_total`: conflicts by type and resolution.
    TMC_VIRTUAL_WORKSPACE_CONFLICTS_TOTAL, "tmc_virtual_workspace_conflicts_total", Counter,
    VirtualWorkspace, ["cluster", "gvk", "conflict_type", "resolution"], NONE,
    "Resource conflicts by conflict type and the resolution applied."
);
family!(
    /// `tmc_virtual_workspaces`: workspaces by status.
    TMC_VIRTUAL_WORKSPACES, "tmc_virtual_workspaces", Gauge, VirtualWorkspace,
    ["logical_cluster", "status"], NONE,
    "Current number of virtual workspaces by status."
);
family!(
    /// `tmc_virtual_workspace_operation_duration_seconds`: workspace operation latency.
    TMC_VIRTUAL_WORKSPACE_OPERATION_DURATION_SECONDS,
    "tmc_virtual_workspace_operation_duration_seconds", Histogram, VirtualWorkspace,
    ["operation", "workspace"], LATENCY_BUCKETS,
    "Duration of virtual workspace operations in seconds."
);

// ---------------------------------------------------------------------------------------------
// Clusters

family!(
    /// `tmc_cluster_health`: 1 healthy, 0.5 degraded, 0.25 unknown, 0 unhealthy.
    TMC_CLUSTER_HEALTH, "tmc_cluster_health", Gauge, Cluster,
    ["cluster", "logical_cluster"], NONE,
    "Cluster health: 1 healthy, 0.5 degraded, 0.25 unknown, 0 unhealthy."
);
family!(
    /// `tmc_cluster_connectivity`: 1 connected, 0 disconnected.
    TMC_CLUSTER_CONNECTIVITY, "tmc_cluster_connectivity", Gauge, Cluster,
    ["cluster", "logical_cluster"], NONE,
    "Cluster connectivity: 1 connected, 0 disconnected."
);
family!(
    /// `tmc_cluster_capacity_utilization`: used fraction of a resource, 0 to 1.
    TMC_CLUSTER_CAPACITY_UTILIZATION, "tmc_cluster_capacity_utilization", Gauge, Cluster,
    ["cluster", "resource_type"], NONE,
    "Fraction of a cluster resource in use, from 0 to 1."
);
family!(
    /// `tmc_cluster_resources`: resources in a cluster (seed: `tmc_cluster_resources_total`).
    TMC_CLUSTER_RESOURCES, "tmc_cluster_resources", Gauge, Cluster,
    ["cluster", "gvk", "namespace"], NONE,
    "Current number of resources of a kind in a cluster namespace.",
    seed = "tmc_cluster_resources_total"
);

// ---------------------------------------------------------------------------------------------
// Recovery (the seed names these in a query only; labels chosen here)

family!(
    /// `tmc_recovery_attempts_total`: recovery attempts started.
    TMC_RECOVERY_ATTEMPTS_TOTAL, "tmc_recovery_attempts_total", Counter, Recovery,
    ["component_type", "strategy"], NONE,
    "Automated recovery attempts started, by strategy."
);
family!(
    /// `tmc_recovery_successes_total`: recovery attempts that succeeded.
    TMC_RECOVERY_SUCCESSES_TOTAL, "tmc_recovery_successes_total", Counter, Recovery,
    ["component_type", "strategy"], NONE,
    "Automated recovery attempts that succeeded, by strategy."
);
family!(
    /// `tmc_recovery_failures_total`: recovery attempts that failed.
    TMC_RECOVERY_FAILURES_TOTAL, "tmc_recovery_failures_total", Counter, Recovery,
    ["component_type", "strategy"], NONE,
    "Automated recovery attempts that failed, by strategy."
);

// ---------------------------------------------------------------------------------------------
// System and API

family!(
    /// `tmc_memory_usage_bytes`: resident memory of the process.
    TMC_MEMORY_USAGE_BYTES, "tmc_memory_usage_bytes", Gauge, System, [], NONE,
    "Resident memory of the process in bytes."
);
family!(
    /// `tmc_cpu_usage_percent`: CPU used by the process, percent of one core.
    TMC_CPU_USAGE_PERCENT, "tmc_cpu_usage_percent", Gauge, System, [], NONE,
    "CPU used by the process over the last collection interval, in percent of one core."
);
family!(
    /// `tmc_runtime_tasks`: alive async runtime tasks (seed: `tmc_goroutines_total`).
    TMC_RUNTIME_TASKS, "tmc_runtime_tasks", Gauge, System, [], NONE,
    "Alive async runtime (tokio) tasks: the Rust counterpart of Go's goroutine count.",
    seed = "tmc_goroutines_total"
);
family!(
    /// `tmc_api_requests_total{method,endpoint,status_code}`: HTTP requests served.
    /// `status_code` is the HTTP code, `cancelled`, `error`, or for gRPC calls (with
    /// `ApiMetricsLayer::grpc`) `grpc_<CODE>` from `grpc-status` (`grpc_OK`, `grpc_NOT_FOUND`).
    TMC_API_REQUESTS_TOTAL, "tmc_api_requests_total", Counter, System,
    ["method", "endpoint", "status_code"], NONE,
    "HTTP requests by method, route template and status code: the HTTP code, cancelled, error, or for gRPC calls grpc_ and the gRPC code name (grpc_OK, grpc_NOT_FOUND)."
);
family!(
    /// `tmc_api_request_duration_seconds{method,endpoint,status_code}`: HTTP request latency.
    TMC_API_REQUEST_DURATION_SECONDS, "tmc_api_request_duration_seconds", Histogram, System,
    ["method", "endpoint", "status_code"], LATENCY_BUCKETS,
    "HTTP request duration in seconds, until the response body ends."
);
family!(
    /// `tmc_api_requests_in_flight{method,endpoint}`: HTTP requests being served.
    TMC_API_REQUESTS_IN_FLIGHT, "tmc_api_requests_in_flight", Gauge, System,
    ["method", "endpoint"], NONE,
    "HTTP requests currently being served, by method and route template."
);

/// Buckets for HTTP body sizes: powers of four from 64 B to 64 MiB.
pub const BODY_SIZE_BUCKETS: &[f64] = &[
    64.0,
    256.0,
    1024.0,
    4096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];
family!(
    /// `tmc_api_request_body_size_bytes{method,endpoint}`: request body sizes (opt-in).
    TMC_API_REQUEST_BODY_SIZE_BYTES, "tmc_api_request_body_size_bytes", Histogram, System,
    ["method", "endpoint"], BODY_SIZE_BUCKETS,
    "HTTP request body size in bytes, counted as the body streams (opt-in: ApiMetricsLayer::body_sizes)."
);
family!(
    /// `tmc_api_response_body_size_bytes{method,endpoint}`: response body sizes (opt-in).
    TMC_API_RESPONSE_BODY_SIZE_BYTES, "tmc_api_response_body_size_bytes", Histogram, System,
    ["method", "endpoint"], BODY_SIZE_BUCKETS,
    "HTTP response body size in bytes, counted as the body streams (opt-in: ApiMetricsLayer::body_sizes)."
);

// ---------------------------------------------------------------------------------------------
// The metric system itself

family!(
    /// `tmc_metrics_series_folded_total{metric}`: new label sets folded into an overflow series.
    TMC_METRICS_SERIES_FOLDED_TOTAL, "tmc_metrics_series_folded_total", Counter, Meta,
    ["metric"], NONE,
    "New label sets folded into a family's overflow series because the family reached its series cap."
);

/// Every family the project records, in documentation order.
pub static CATALOG: &[&MetricDef] = &[
    &DATAMOVER_OPERATIONS_TOTAL,
    &DATAMOVER_PHASE_DURATION_SECONDS,
    &DATAMOVER_CLEANUP_OPERATIONS_TOTAL,
    &DATAMOVER_POD_CREATION_OPERATIONS_TOTAL,
    &DATAMOVER_DATA_SYNC_OPERATIONS_TOTAL,
    &DATAMOVER_BYTES_TRANSFERRED_TOTAL,
    &DATAMOVER_FILES_TRANSFERRED_TOTAL,
    &DATAMOVER_SYNCS_RUNNING,
    &DATAMOVER_RUNNING_SYNC_BYTES,
    &TMC_COMPONENT_HEALTH,
    &TMC_COMPONENT_UPTIME_SECONDS,
    &TMC_COMPONENT_OPERATIONS_TOTAL,
    &TMC_COMPONENT_ERRORS_TOTAL,
    &TMC_COMPONENT_OPERATION_DURATION_SECONDS,
    &TMC_PLACEMENTS,
    &TMC_PLACEMENT_DURATION_SECONDS,
    &TMC_PLACEMENT_ERRORS_TOTAL,
    &TMC_PLACEMENT_RETRIES_TOTAL,
    &TMC_PLACEMENT_CLUSTERS,
    &TMC_SYNC_RESOURCES,
    &TMC_SYNC_DURATION_SECONDS,
    &TMC_SYNC_ERRORS_TOTAL,
    &TMC_SYNC_BACKLOG_SIZE,
    &TMC_SYNC_LAG_SECONDS,
    &TMC_MIGRATIONS,
    &TMC_MIGRATION_DURATION_SECONDS,
    &TMC_MIGRATION_ERRORS_TOTAL,
    &TMC_MIGRATION_ROLLBACKS_TOTAL,
    &TMC_MIGRATION_DATA_SIZE_BYTES,
    &TMC_VIRTUAL_WORKSPACE_AGGREGATIONS_TOTAL,
    &TMC_VIRTUAL_WORKSPACE_PROJECTIONS_TOTAL,
    &TMC_VIRTUAL_WORKSPACE_CONFLICTS_TOTAL,
    &TMC_VIRTUAL_WORKSPACES,
    &TMC_VIRTUAL_WORKSPACE_OPERATION_DURATION_SECONDS,
    &TMC_CLUSTER_HEALTH,
    &TMC_CLUSTER_CONNECTIVITY,
    &TMC_CLUSTER_CAPACITY_UTILIZATION,
    &TMC_CLUSTER_RESOURCES,
    &TMC_RECOVERY_ATTEMPTS_TOTAL,
    &TMC_RECOVERY_SUCCESSES_TOTAL,
    &TMC_RECOVERY_FAILURES_TOTAL,
    &TMC_MEMORY_USAGE_BYTES,
    &TMC_CPU_USAGE_PERCENT,
    &TMC_RUNTIME_TASKS,
    &TMC_API_REQUESTS_TOTAL,
    &TMC_API_REQUEST_DURATION_SECONDS,
    &TMC_API_REQUESTS_IN_FLIGHT,
    &TMC_API_REQUEST_BODY_SIZE_BYTES,
    &TMC_API_RESPONSE_BODY_SIZE_BYTES,
    &super::HTTP_SERVER_REQUEST_DURATION_SECONDS,
    &super::HTTP_SERVER_ACTIVE_REQUESTS,
    &super::HTTP_SERVER_REQUEST_BODY_SIZE_BYTES,
    &super::HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES,
    &CONTROLLER_RUNTIME_RECONCILE_TOTAL,
    &CONTROLLER_RUNTIME_RECONCILE_ERRORS_TOTAL,
    &CONTROLLER_RUNTIME_RECONCILE_PANICS_TOTAL,
    &CONTROLLER_RUNTIME_RECONCILE_TIMEOUTS_TOTAL,
    &CONTROLLER_RUNTIME_RECONCILE_TIME_SECONDS,
    &CONTROLLER_RUNTIME_ACTIVE_WORKERS,
    &CONTROLLER_RUNTIME_MAX_CONCURRENT_RECONCILES,
    &WORKQUEUE_DEPTH,
    &WORKQUEUE_ADDS_TOTAL,
    &WORKQUEUE_QUEUE_DURATION_SECONDS,
    &WORKQUEUE_WORK_DURATION_SECONDS,
    &WORKQUEUE_UNFINISHED_WORK_SECONDS,
    &WORKQUEUE_LONGEST_RUNNING_PROCESSOR_SECONDS,
    &WORKQUEUE_RETRIES_TOTAL,
    &LEADER_ELECTION_MASTER_STATUS,
    &TMC_METRICS_SERIES_FOLDED_TOTAL,
    &DATAMOVER_SCHEDULE_RUNS_TOTAL,
    &DATAMOVER_SCHEDULE_SKIPPED_RUNS_TOTAL,
    &DATAMOVER_SCHEDULE_SECONDS_SINCE_LAST_SUCCESS,
    &DATAMOVER_SCHEDULE_INTERVAL_SECONDS,
    &DATAMOVER_SCHEDULE_BACKUPS_PRUNED_TOTAL,
    &DATAMOVER_SCHEDULE_PRUNE_FAILURES_TOTAL,
    &DATAMOVER_SCHEDULE_BACKUPS_RETAINED,
    &DATAMOVER_RESTORE_OPERATIONS_TOTAL,
    &DATAMOVER_RESTORE_DURATION_SECONDS,
    &DATAMOVER_RESTORED_BYTES_TOTAL,
    &DATAMOVER_STORE_WRITE_ERRORS_TOTAL,
    &DATAMOVER_VERIFY_OPERATIONS_TOTAL,
    &DATAMOVER_VERIFY_DURATION_SECONDS,
    &DATAMOVER_SCHEDULE_SECONDS_SINCE_LAST_VERIFIED,
];
