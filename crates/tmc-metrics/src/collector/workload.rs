//! Placement, sync, migration and virtual workspace metrics.

use super::{MetricsCollector, count, secs};
use crate::catalog::*;
use crate::error::ErrorKind;
use std::time::Duration;

impl MetricsCollector {
    /// Sets `tmc_placements` (seed: `tmc_placements_total`): placements now in `status`.
    pub fn record_placement_count(
        &self,
        logical_cluster: &str,
        namespace: &str,
        status: &str,
        n: u64,
    ) {
        self.gauge(&TMC_PLACEMENTS, [logical_cluster, namespace, status])
            .set(count(n));
    }

    /// Observes one placement operation's duration.
    pub fn record_placement_duration(
        &self,
        logical_cluster: &str,
        operation: &str,
        status: &str,
        d: Duration,
    ) {
        self.histogram(
            &TMC_PLACEMENT_DURATION_SECONDS,
            [logical_cluster, operation, status],
        )
        .record(secs(d));
    }

    /// Counts one placement error against a target cluster.
    pub fn record_placement_error(&self, logical_cluster: &str, kind: ErrorKind, cluster: &str) {
        self.counter(
            &TMC_PLACEMENT_ERRORS_TOTAL,
            [logical_cluster, kind.as_str(), cluster],
        )
        .increment(1);
    }

    /// Counts one placement retry.
    pub fn record_placement_retry(&self, logical_cluster: &str, operation: &str) {
        self.counter(&TMC_PLACEMENT_RETRIES_TOTAL, [logical_cluster, operation])
            .increment(1);
    }

    /// Sets how many clusters a placement targets.
    pub fn record_placement_cluster_count(
        &self,
        logical_cluster: &str,
        namespace: &str,
        placement: &str,
        n: u64,
    ) {
        self.gauge(
            &TMC_PLACEMENT_CLUSTERS,
            [logical_cluster, namespace, placement],
        )
        .set(count(n));
    }

    /// Sets `tmc_sync_resources` (seed: `tmc_sync_resources_total`): resources now in `status`.
    pub fn record_sync_resource_count(
        &self,
        cluster: &str,
        namespace: &str,
        gvk: &str,
        status: &str,
        n: u64,
    ) {
        self.gauge(&TMC_SYNC_RESOURCES, [cluster, namespace, gvk, status])
            .set(count(n));
    }

    /// Observes one sync operation's duration.
    pub fn record_sync_duration(&self, cluster: &str, gvk: &str, operation: &str, d: Duration) {
        self.histogram(&TMC_SYNC_DURATION_SECONDS, [cluster, gvk, operation])
            .record(secs(d));
    }

    /// Counts one sync error.
    pub fn record_sync_error(&self, cluster: &str, gvk: &str, kind: ErrorKind) {
        self.counter(&TMC_SYNC_ERRORS_TOTAL, [cluster, gvk, kind.as_str()])
            .increment(1);
    }

    /// Sets the number of items waiting in a sync queue.
    pub fn record_sync_backlog_size(&self, cluster: &str, queue: &str, n: u64) {
        self.gauge(&TMC_SYNC_BACKLOG_SIZE, [cluster, queue])
            .set(count(n));
    }

    /// Sets how far the synchronised copy trails the source.
    pub fn record_sync_lag(&self, cluster: &str, gvk: &str, lag: Duration) {
        self.gauge(&TMC_SYNC_LAG_SECONDS, [cluster, gvk])
            .set(secs(lag));
    }

    /// Sets `tmc_migrations` (seed: `tmc_migrations_total`): migrations now in `status`.
    pub fn record_migration_count(
        &self,
        source_cluster: &str,
        target_cluster: &str,
        status: &str,
        n: u64,
    ) {
        self.gauge(&TMC_MIGRATIONS, [source_cluster, target_cluster, status])
            .set(count(n));
    }

    /// Observes one migration's duration.
    pub fn record_migration_duration(
        &self,
        source_cluster: &str,
        target_cluster: &str,
        strategy: &str,
        d: Duration,
    ) {
        self.histogram(
            &TMC_MIGRATION_DURATION_SECONDS,
            [source_cluster, target_cluster, strategy],
        )
        .record(secs(d));
    }

    /// Counts one migration error in a migration phase.
    pub fn record_migration_error(
        &self,
        source_cluster: &str,
        target_cluster: &str,
        kind: ErrorKind,
        phase: &str,
    ) {
        self.counter(
            &TMC_MIGRATION_ERRORS_TOTAL,
            [source_cluster, target_cluster, kind.as_str(), phase],
        )
        .increment(1);
    }

    /// Counts one migration rollback.
    pub fn record_migration_rollback(
        &self,
        source_cluster: &str,
        target_cluster: &str,
        reason: &str,
    ) {
        self.counter(
            &TMC_MIGRATION_ROLLBACKS_TOTAL,
            [source_cluster, target_cluster, reason],
        )
        .increment(1);
    }

    /// Observes the bytes one migration moved.
    pub fn record_migration_data_size(
        &self,
        source_cluster: &str,
        target_cluster: &str,
        resource_type: &str,
        bytes: u64,
    ) {
        self.histogram(
            &TMC_MIGRATION_DATA_SIZE_BYTES,
            [source_cluster, target_cluster, resource_type],
        )
        .record(count(bytes));
    }

    /// Counts one resource aggregation.
    pub fn record_resource_aggregation(&self, gvk: &str, strategy: &str, status: &str) {
        self.counter(
            &TMC_VIRTUAL_WORKSPACE_AGGREGATIONS_TOTAL,
            [gvk, strategy, status],
        )
        .increment(1);
    }

    /// Counts one resource projection between clusters.
    pub fn record_resource_projection(
        &self,
        source_cluster: &str,
        target_cluster: &str,
        gvk: &str,
        status: &str,
    ) {
        self.counter(
            &TMC_VIRTUAL_WORKSPACE_PROJECTIONS_TOTAL,
            [source_cluster, target_cluster, gvk, status],
        )
        .increment(1);
    }

    /// Counts one resource conflict and the resolution applied.
    pub fn record_resource_conflict(
        &self,
        cluster: &str,
        gvk: &str,
        conflict_type: &str,
        resolution: &str,
    ) {
        self.counter(
            &TMC_VIRTUAL_WORKSPACE_CONFLICTS_TOTAL,
            [cluster, gvk, conflict_type, resolution],
        )
        .increment(1);
    }

    /// Sets the number of virtual workspaces in `status`.
    pub fn record_virtual_workspace_count(&self, logical_cluster: &str, status: &str, n: u64) {
        self.gauge(&TMC_VIRTUAL_WORKSPACES, [logical_cluster, status])
            .set(count(n));
    }

    /// Observes one virtual workspace operation's duration.
    pub fn record_virtual_workspace_latency(&self, operation: &str, workspace: &str, d: Duration) {
        self.histogram(
            &TMC_VIRTUAL_WORKSPACE_OPERATION_DURATION_SECONDS,
            [operation, workspace],
        )
        .record(secs(d));
    }
}
