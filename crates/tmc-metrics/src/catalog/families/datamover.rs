//! The DataMover families: the seed's, then schedules and restores, the embedded store and
//! verification.

use super::*;

// ---------------------------------------------------------------------------------------------
// DataMover (seed: datamover-metrics.md)

family!(
    /// `datamover_operations_total{phase,status,namespace}`: phase operations by status
    /// (`started`, `success`, `failure`).
    DATAMOVER_OPERATIONS_TOTAL, "datamover_operations_total", Counter, DataMover,
    ["phase", "status", "namespace"], NONE,
    "DataMover phase operations by phase and status (started, success, failure)."
);
family!(
    /// `datamover_phase_duration_seconds{phase,namespace}`: time spent in each phase.
    DATAMOVER_PHASE_DURATION_SECONDS, "datamover_phase_duration_seconds", Histogram, DataMover,
    ["phase", "namespace"], PHASE_BUCKETS,
    "Time a DataMover spent in a phase, from entering it to leaving it, in seconds."
);
family!(
    /// `datamover_cleanup_operations_total{status,namespace}`: cloned-PVC cleanups.
    DATAMOVER_CLEANUP_OPERATIONS_TOTAL, "datamover_cleanup_operations_total", Counter, DataMover,
    ["status", "namespace"], NONE,
    "Cloned PVC cleanup operations by status (success, failure)."
);
family!(
    /// `datamover_pod_creation_operations_total{status,namespace}`: sync job creations.
    DATAMOVER_POD_CREATION_OPERATIONS_TOTAL, "datamover_pod_creation_operations_total", Counter,
    DataMover, ["status", "namespace"], NONE,
    "Sync job (pod) creation operations by status (started, success, failure)."
);
family!(
    /// `datamover_data_sync_operations_total{status,namespace}`: finished data syncs.
    DATAMOVER_DATA_SYNC_OPERATIONS_TOTAL, "datamover_data_sync_operations_total", Counter,
    DataMover, ["status", "namespace"], NONE,
    "Data synchronisation jobs by final status (success, failure)."
);
family!(
    /// `datamover_bytes_transferred_total{namespace}`: bytes the sync jobs moved (from
    /// rclone's stats), counted while they run, so `rate()` is the live throughput.
    DATAMOVER_BYTES_TRANSFERRED_TOTAL, "datamover_bytes_transferred_total", Counter, DataMover,
    ["namespace"], NONE,
    "Bytes moved by sync jobs, from rclone's transfer statistics, counted as the sync runs."
);
family!(
    /// `datamover_files_transferred_total{namespace}`: files the sync jobs moved, counted
    /// while they run.
    DATAMOVER_FILES_TRANSFERRED_TOTAL, "datamover_files_transferred_total", Counter, DataMover,
    ["namespace"], NONE,
    "Files moved by sync jobs, from rclone's transfer statistics, counted as the sync runs."
);
family!(
    /// `datamover_syncs_running{namespace}`: sync Jobs with a pod running now.
    DATAMOVER_SYNCS_RUNNING, "datamover_syncs_running", Gauge, DataMover,
    ["namespace"], NONE,
    "Sync Jobs with a pod running now."
);
family!(
    /// `datamover_running_sync_bytes{namespace}`: bytes moved so far by the syncs running now.
    DATAMOVER_RUNNING_SYNC_BYTES, "datamover_running_sync_bytes", Gauge, DataMover,
    ["namespace"], NONE,
    "Bytes moved so far by the sync pods running now, from their live transfer statistics."
);

// ---------------------------------------------------------------------------------------------
// DataMover schedules and restores (issue 17)

family!(
    /// `datamover_schedule_runs_total{schedule,status,namespace}`: runs a DataMoverSchedule
    /// started (`started`) and how they ended (`success`, `failure`).
    DATAMOVER_SCHEDULE_RUNS_TOTAL, "datamover_schedule_runs_total", Counter, DataMover,
    ["schedule", "status", "namespace"], NONE,
    "Scheduled backup runs by schedule and status (started, success, failure)."
);
family!(
    /// `datamover_schedule_skipped_runs_total{schedule,reason,namespace}`: scheduled times
    /// that started no run: `active` (the previous run was still going) or `missed` (the
    /// operator was down; only the latest missed time starts).
    DATAMOVER_SCHEDULE_SKIPPED_RUNS_TOTAL, "datamover_schedule_skipped_runs_total", Counter,
    DataMover, ["schedule", "reason", "namespace"], NONE,
    "Scheduled times that started no run, by reason (active: the previous run was still going; missed: the operator was down)."
);
family!(
    /// `datamover_schedule_seconds_since_last_success{schedule,namespace}`: age of the last
    /// successful backup of a schedule (of the schedule itself before its first success).
    DATAMOVER_SCHEDULE_SECONDS_SINCE_LAST_SUCCESS, "datamover_schedule_seconds_since_last_success",
    Gauge, DataMover, ["schedule", "namespace"], NONE,
    "Seconds since the schedule's last successful backup completed (since it was created, before its first success); 0 when suspended or deleted."
);
family!(
    /// `datamover_schedule_interval_seconds{schedule,namespace}`: the time between two runs
    /// of a schedule, for alerts that compare the age of its last success with it.
    DATAMOVER_SCHEDULE_INTERVAL_SECONDS, "datamover_schedule_interval_seconds", Gauge, DataMover,
    ["schedule", "namespace"], NONE,
    "Seconds between the schedule's next run and the one after; 0 when suspended or deleted."
);
family!(
    /// `datamover_schedule_backups_pruned_total{schedule,namespace}`: timestamp folders a
    /// schedule's prune Jobs deleted under `spec.retention` (a dry run deletes none).
    DATAMOVER_SCHEDULE_BACKUPS_PRUNED_TOTAL, "datamover_schedule_backups_pruned_total", Counter,
    DataMover, ["schedule", "namespace"], NONE,
    "Backups (timestamp folders) deleted by the schedule's retention rules; a dry run deletes none."
);
family!(
    /// `datamover_schedule_prune_failures_total{schedule,namespace}`: prune Jobs of a
    /// schedule that failed (or could not be created).
    DATAMOVER_SCHEDULE_PRUNE_FAILURES_TOTAL, "datamover_schedule_prune_failures_total", Counter,
    DataMover, ["schedule", "namespace"], NONE,
    "Prunes of the schedule's old backups that failed or could not start; the backups they would have deleted are still there."
);
family!(
    /// `datamover_schedule_backups_retained{schedule,namespace}`: timestamp folders the
    /// schedule's last prune kept.
    DATAMOVER_SCHEDULE_BACKUPS_RETAINED, "datamover_schedule_backups_retained", Gauge,
    DataMover, ["schedule", "namespace"], NONE,
    "Backups (timestamp folders) of the schedule its last prune kept under spec.retention."
);
family!(
    /// `datamover_restore_operations_total{status,namespace}`: restores of a PVC from a
    /// DataMoverPopulator (`started`, `success`, `failure`).
    DATAMOVER_RESTORE_OPERATIONS_TOTAL, "datamover_restore_operations_total", Counter, DataMover,
    ["status", "namespace"], NONE,
    "Restores of a PVC from a DataMoverPopulator backup, by status (started, success, failure)."
);
family!(
    /// `datamover_restore_duration_seconds{namespace}`: from a restore's Job creation to the
    /// PVC bound (or the restore failed).
    DATAMOVER_RESTORE_DURATION_SECONDS, "datamover_restore_duration_seconds", Histogram, DataMover,
    ["namespace"], PHASE_BUCKETS,
    "Time a restore took, from its Job's creation to the PVC bound or the restore failed, in seconds."
);
family!(
    /// `datamover_restored_bytes_total{namespace}`: bytes copied into restored PVCs.
    DATAMOVER_RESTORED_BYTES_TOTAL, "datamover_restored_bytes_total", Counter, DataMover,
    ["namespace"], NONE,
    "Bytes copied from backups into restored PVCs, from rclone's transfer statistics, counted when a restore succeeds."
);

// ---------------------------------------------------------------------------------------------
// DataMover embedded store (issue 23)

family!(
    /// `datamover_store_write_errors_total{kind}`: writes of the embedded store that the disk
    /// refused: `no_space` (the data dir's filesystem or quota is full) or `io` (any other
    /// I/O error). While writes fail, the operator retries every few seconds, and each
    /// failed retry counts too.
    DATAMOVER_STORE_WRITE_ERRORS_TOTAL, "datamover_store_write_errors_total", Counter, DataMover,
    ["kind"], NONE,
    "Writes of the embedded store the disk refused, by kind (no_space: the data dir is full; io: any other I/O error); failed retries while writes fail count too."
);

// ---------------------------------------------------------------------------------------------
// DataMover verification (issue 24)

family!(
    /// `datamover_verify_operations_total{status,namespace}`: checks after a sync
    /// (`spec.verify`): `success` when what landed matched what was read, `failure` for each
    /// pod whose check found a difference.
    DATAMOVER_VERIFY_OPERATIONS_TOTAL, "datamover_verify_operations_total", Counter, DataMover,
    ["status", "namespace"], NONE,
    "Checks of a backup against its source after the sync (spec.verify), by status (success; failure: a difference was found)."
);
family!(
    /// `datamover_verify_duration_seconds{namespace}`: how long a check that passed took.
    DATAMOVER_VERIFY_DURATION_SECONDS, "datamover_verify_duration_seconds", Histogram, DataMover,
    ["namespace"], PHASE_BUCKETS,
    "Time the check after a sync took (spec.verify), for checks that passed, in seconds."
);
family!(
    /// `datamover_schedule_seconds_since_last_verified{schedule,namespace}`: age of the last
    /// backup of a schedule that passed its check (`spec.verify`), for the alert that
    /// compares it with twice the interval; 0 when it verifies nothing or is suspended.
    DATAMOVER_SCHEDULE_SECONDS_SINCE_LAST_VERIFIED, "datamover_schedule_seconds_since_last_verified",
    Gauge, DataMover, ["schedule", "namespace"], NONE,
    "Seconds since a backup of the schedule last passed its check after the sync (since it was created, before the first); 0 when it verifies nothing, is suspended or deleted."
);
