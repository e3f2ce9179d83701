//! The DataMover recording API: the `datamover_*` families of the seed.
//!
//! The phase names are the DataMover resource's (`CreatingClonedPVC`, `ClonedPVCReady`,
//! `CreatingPod`, `CleaningUp`, ...); this crate takes them as strings so it knows nothing of
//! the resource itself.

use super::{MetricsCollector, secs};
use crate::catalog::*;
use std::time::Duration;

/// The `status` label of `datamover_operations_total` and
/// `datamover_pod_creation_operations_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataMoverStatus {
    /// The operation began.
    Started,
    /// The operation finished successfully.
    Success,
    /// The operation failed.
    Failure,
}

impl DataMoverStatus {
    /// `started`, `success` or `failure`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// The `status` label of the cleanup and data sync families: `success` or `failure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It worked.
    Success,
    /// It did not.
    Failure,
}

impl Outcome {
    /// `success` or `failure`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// Why a scheduled time started no run: the `reason` label of
/// `datamover_schedule_skipped_runs_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScheduleSkip {
    /// The previous run was still active.
    Active,
    /// The operator was down at that time (a later one started instead).
    Missed,
}

impl ScheduleSkip {
    /// `active` or `missed`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Missed => "missed",
        }
    }
}

impl MetricsCollector {
    /// Counts a scheduled run starting or ending: `datamover_schedule_runs_total`.
    ///
    /// ```
    /// use tmc_metrics::{DataMoverStatus, Metrics, ScheduleSkip};
    ///
    /// let metrics = Metrics::builder().build()?;
    /// let c = metrics.collector();
    /// c.datamover_schedule_run("nightly", "prod", DataMoverStatus::Success);
    /// c.datamover_schedule_skipped("nightly", "prod", ScheduleSkip::Missed, 2);
    /// let text = metrics.render();
    /// assert!(text.contains(r#"datamover_schedule_runs_total{schedule="nightly",status="success",namespace="prod"} 1"#));
    /// assert!(text.contains(r#"datamover_schedule_skipped_runs_total{schedule="nightly",reason="missed",namespace="prod"} 2"#));
    /// # Ok::<(), tmc_metrics::MetricsError>(())
    /// ```
    pub fn datamover_schedule_run(&self, schedule: &str, namespace: &str, status: DataMoverStatus) {
        self.counter(
            &DATAMOVER_SCHEDULE_RUNS_TOTAL,
            [schedule, status.as_str(), namespace],
        )
        .increment(1);
    }

    /// Counts `n` scheduled times that started no run (nothing when 0):
    /// `datamover_schedule_skipped_runs_total`.
    pub fn datamover_schedule_skipped(
        &self,
        schedule: &str,
        namespace: &str,
        reason: ScheduleSkip,
        n: u64,
    ) {
        if n > 0 {
            self.counter(
                &DATAMOVER_SCHEDULE_SKIPPED_RUNS_TOTAL,
                [schedule, reason.as_str(), namespace],
            )
            .increment(n);
        }
    }

    /// Sets a schedule's `datamover_schedule_seconds_since_last_success` and
    /// `datamover_schedule_interval_seconds`.
    pub fn datamover_schedule_freshness(
        &self,
        schedule: &str,
        namespace: &str,
        seconds_since_success: f64,
        interval_seconds: f64,
    ) {
        self.gauge(
            &DATAMOVER_SCHEDULE_SECONDS_SINCE_LAST_SUCCESS,
            [schedule, namespace],
        )
        .set(seconds_since_success);
        self.gauge(&DATAMOVER_SCHEDULE_INTERVAL_SECONDS, [schedule, namespace])
            .set(interval_seconds);
    }

    /// Records a schedule's finished prune: `pruned` more in
    /// `datamover_schedule_backups_pruned_total` (nothing when 0), `retained` as
    /// `datamover_schedule_backups_retained`.
    ///
    /// ```
    /// use tmc_metrics::Metrics;
    ///
    /// let metrics = Metrics::builder().build()?;
    /// let c = metrics.collector();
    /// c.datamover_schedule_pruned("nightly", "prod", 3, 2);
    /// c.datamover_schedule_prune_failed("nightly", "prod");
    /// let text = metrics.render();
    /// assert!(text.contains(r#"datamover_schedule_backups_pruned_total{schedule="nightly",namespace="prod"} 3"#));
    /// assert!(text.contains(r#"datamover_schedule_backups_retained{schedule="nightly",namespace="prod"} 2"#));
    /// assert!(text.contains(r#"datamover_schedule_prune_failures_total{schedule="nightly",namespace="prod"} 1"#));
    /// # Ok::<(), tmc_metrics::MetricsError>(())
    /// ```
    pub fn datamover_schedule_pruned(
        &self,
        schedule: &str,
        namespace: &str,
        pruned: u64,
        retained: u64,
    ) {
        if pruned > 0 {
            self.counter(
                &DATAMOVER_SCHEDULE_BACKUPS_PRUNED_TOTAL,
                [schedule, namespace],
            )
            .increment(pruned);
        }
        #[allow(clippy::cast_precision_loss, reason = "a count of folders")]
        self.gauge(&DATAMOVER_SCHEDULE_BACKUPS_RETAINED, [schedule, namespace])
            .set(retained as f64);
    }

    /// Counts a schedule's prune that failed: `datamover_schedule_prune_failures_total`.
    pub fn datamover_schedule_prune_failed(&self, schedule: &str, namespace: &str) {
        self.counter(
            &DATAMOVER_SCHEDULE_PRUNE_FAILURES_TOTAL,
            [schedule, namespace],
        )
        .increment(1);
    }

    /// Counts a restore starting: `datamover_restore_operations_total{status="started"}`.
    pub fn datamover_restore_started(&self, namespace: &str) {
        self.counter(
            &DATAMOVER_RESTORE_OPERATIONS_TOTAL,
            [DataMoverStatus::Started.as_str(), namespace],
        )
        .increment(1);
    }

    /// Counts a restore ending with `outcome`, observes how long it took in
    /// `datamover_restore_duration_seconds`, and adds the bytes it copied to
    /// `datamover_restored_bytes_total`.
    pub fn datamover_restore_finished(
        &self,
        namespace: &str,
        outcome: Outcome,
        duration: Duration,
        bytes: u64,
    ) {
        self.counter(
            &DATAMOVER_RESTORE_OPERATIONS_TOTAL,
            [outcome.as_str(), namespace],
        )
        .increment(1);
        self.histogram(&DATAMOVER_RESTORE_DURATION_SECONDS, [namespace])
            .record(secs(duration));
        self.counter(&DATAMOVER_RESTORED_BYTES_TOTAL, [namespace])
            .increment(bytes);
    }

    /// Sets `datamover_schedule_seconds_since_last_verified{schedule,namespace}`.
    pub fn datamover_schedule_verification_age(
        &self,
        schedule: &str,
        namespace: &str,
        seconds: f64,
    ) {
        self.gauge(
            &DATAMOVER_SCHEDULE_SECONDS_SINCE_LAST_VERIFIED,
            [schedule, namespace],
        )
        .set(seconds);
    }

    /// Counts a check after a sync (`spec.verify`) in `datamover_verify_operations_total`,
    /// and how long one that passed took in `datamover_verify_duration_seconds`.
    pub fn datamover_verify(&self, namespace: &str, outcome: Outcome, took: Option<Duration>) {
        self.counter(
            &DATAMOVER_VERIFY_OPERATIONS_TOTAL,
            [outcome.as_str(), namespace],
        )
        .increment(1);
        if let Some(took) = took {
            self.histogram(&DATAMOVER_VERIFY_DURATION_SECONDS, [namespace])
                .record(secs(took));
        }
    }

    /// Adds `count` to `datamover_store_write_errors_total{kind}` (`no_space` or `io`); a
    /// count of 0 makes the series exist, so an alert sees its first increase.
    pub fn datamover_store_write_errors(&self, kind: &str, count: u64) {
        self.counter(&DATAMOVER_STORE_WRITE_ERRORS_TOTAL, [kind])
            .increment(count);
    }

    /// Counts a phase starting: `datamover_operations_total{status="started"}`.
    pub fn datamover_phase_started(&self, phase: &str, namespace: &str) {
        self.counter(
            &DATAMOVER_OPERATIONS_TOTAL,
            [phase, DataMoverStatus::Started.as_str(), namespace],
        )
        .increment(1);
    }

    /// Counts a phase ending with `outcome` and observes how long it took in
    /// `datamover_phase_duration_seconds`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tmc_metrics::{Metrics, Outcome};
    ///
    /// let metrics = Metrics::builder().build()?;
    /// let c = metrics.collector();
    /// c.datamover_phase_started("CreatingPod", "default");
    /// c.datamover_phase_finished("CreatingPod", "default", Outcome::Success, Duration::from_secs(240));
    /// let text = metrics.render();
    /// assert!(text.contains(r#"datamover_operations_total{phase="CreatingPod",status="success",namespace="default"} 1"#));
    /// assert!(text.contains(r#"datamover_phase_duration_seconds_bucket{phase="CreatingPod",namespace="default",le="300"} 1"#));
    /// # Ok::<(), tmc_metrics::MetricsError>(())
    /// ```
    pub fn datamover_phase_finished(
        &self,
        phase: &str,
        namespace: &str,
        outcome: Outcome,
        duration: Duration,
    ) {
        let status = match outcome {
            Outcome::Success => DataMoverStatus::Success,
            Outcome::Failure => DataMoverStatus::Failure,
        };
        self.counter(
            &DATAMOVER_OPERATIONS_TOTAL,
            [phase, status.as_str(), namespace],
        )
        .increment(1);
        self.histogram(&DATAMOVER_PHASE_DURATION_SECONDS, [phase, namespace])
            .record(secs(duration));
    }

    /// Counts a sync job creation event: `datamover_pod_creation_operations_total`.
    pub fn datamover_pod_creation(&self, namespace: &str, status: DataMoverStatus) {
        self.counter(
            &DATAMOVER_POD_CREATION_OPERATIONS_TOTAL,
            [status.as_str(), namespace],
        )
        .increment(1);
    }

    /// Counts a finished data sync job: `datamover_data_sync_operations_total`.
    pub fn datamover_data_sync(&self, namespace: &str, outcome: Outcome) {
        self.counter(
            &DATAMOVER_DATA_SYNC_OPERATIONS_TOTAL,
            [outcome.as_str(), namespace],
        )
        .increment(1);
    }

    /// Adds what a sync moved since it was last counted to
    /// `datamover_bytes_transferred_total` and `datamover_files_transferred_total`.
    pub fn datamover_transferred(&self, namespace: &str, bytes: u64, files: u64) {
        self.counter(&DATAMOVER_BYTES_TRANSFERRED_TOTAL, [namespace])
            .increment(bytes);
        self.counter(&DATAMOVER_FILES_TRANSFERRED_TOTAL, [namespace])
            .increment(files);
    }

    /// Sets the live sync census of a namespace: `datamover_syncs_running` (Jobs with a pod
    /// running) and `datamover_running_sync_bytes` (what those pods moved so far).
    pub fn datamover_running_syncs(&self, namespace: &str, running: u64, bytes: u64) {
        #[allow(clippy::cast_precision_loss)] // exact up to 2^53 syncs and bytes (8 PiB)
        {
            self.gauge(&DATAMOVER_SYNCS_RUNNING, [namespace])
                .set(running as f64);
            self.gauge(&DATAMOVER_RUNNING_SYNC_BYTES, [namespace])
                .set(bytes as f64);
        }
    }

    /// Counts a cloned-PVC cleanup: `datamover_cleanup_operations_total`.
    pub fn datamover_cleanup(&self, namespace: &str, outcome: Outcome) {
        self.counter(
            &DATAMOVER_CLEANUP_OPERATIONS_TOTAL,
            [outcome.as_str(), namespace],
        )
        .increment(1);
    }
}
