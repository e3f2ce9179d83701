//! `DataMoverSchedule` (`datamover.a-cup-of.coffee/v1alpha1`): DataMovers on a cron
//! schedule, with Kubernetes CronJob semantics.
//!
//! - [`cron`]: the 5-field pattern, in UTC.
//! - [`reconciler`]: one step per reconcile; it never waits, and asks to be requeued at
//!   the next run time. Each run is a DataMover owned by the schedule, named after the
//!   schedule and the scheduled minute, so a restart can never start one run twice.
//! - [`clock`]: the injectable clock the reconciler reads (tests drive tokio's paused one).
//! - [`census`]: the per-schedule gauges (seconds since the last successful backup, the
//!   interval between runs), refreshed every few seconds.

pub mod census;
pub mod clock;
pub mod cron;
pub mod reconciler;
pub mod retention;

use crate::types::{CopyMethod, DataMover, EnvVar, Image, ObjectMeta, Verify};
use serde::{Deserialize, Serialize};

/// The schedule's kind.
pub const KIND: &str = "DataMoverSchedule";
/// Label on every DataMover a schedule created, naming the schedule.
pub const SCHEDULE_LABEL: &str = "datamover.a-cup-of.coffee/schedule";
/// Annotation on every DataMover a schedule created: the scheduled time (RFC 3339).
pub const SCHEDULED_AT_ANNOTATION: &str = "datamover.a-cup-of.coffee/scheduled-at";
/// Set on a schedule to any new value to start one run now (as `trigger.manual` does in `VolSync`):
/// `datamover-operator trigger schedule NAME`, or `kubectl annotate --overwrite`. The value
/// handled last is `status.lastManualTrigger`.
pub const TRIGGER_ANNOTATION: &str = "datamover.a-cup-of.coffee/trigger";
/// `successfulJobsHistoryLimit` when not given, as CronJob.
pub const DEFAULT_SUCCESSFUL_HISTORY: u32 = 3;
/// `failedJobsHistoryLimit` when not given, as CronJob.
pub const DEFAULT_FAILED_HISTORY: u32 = 1;

// With the `kube` feature this is also the spec of the `DataMoverSchedule` custom resource
// (`DataMoverScheduleResource`); datamover-kube generates its CRD from these types.
/// What to back up, and when: the original operator's schedule spec.
#[allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) entries repeat `type_ = ...` by design"
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "kube",
    derive(kube::CustomResource, schemars::JsonSchema),
    kube(
        group = "datamover.a-cup-of.coffee",
        version = "v1alpha1",
        kind = "DataMoverSchedule",
        root = "DataMoverScheduleResource",
        plural = "datamoverschedules",
        singular = "datamoverschedule",
        namespaced,
        status = "DataMoverScheduleStatus",
        derive = "PartialEq",
        derive = "Default",
        doc = "DataMoverSchedule runs DataMovers on a cron schedule, with CronJob semantics.",
        printcolumn(name = "SCHEDULE", type_ = "string", json_path = ".spec.schedule"),
        printcolumn(name = "SUSPEND", type_ = "boolean", json_path = ".spec.suspend"),
        printcolumn(name = "ACTIVE", type_ = "integer", json_path = ".status.activeJobs"),
        printcolumn(
            name = "LAST SCHEDULE",
            type_ = "date",
            json_path = ".status.lastScheduleTime"
        ),
        printcolumn(
            name = "AGE",
            type_ = "date",
            json_path = ".metadata.creationTimestamp"
        )
    )
)]
#[serde(rename_all = "camelCase")]
pub struct DataMoverScheduleSpec {
    /// A 5-field cron pattern, in UTC (`0 3 * * *`), or `@hourly`, `@daily`, ...
    pub schedule: String,
    /// The PVC to back up.
    pub source_pvc: String,
    /// The secret holding the destination and its credentials.
    pub secret_name: String,
    /// Put each backup under a `YYYY-MM-DD-HHMMSS/` folder.
    #[serde(default)]
    pub add_timestamp_prefix: bool,
    /// Delete each run's cloned PVC once its backup succeeded.
    #[serde(default)]
    pub delete_pvc_after_backup: bool,
    /// Extra environment for the sync jobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_env: Vec<EnvVar>,
    /// The sync jobs' image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// How each run reads the source: `Clone` (default), `Direct` or `Snapshot`
    /// (Kubernetes only).
    #[serde(default, skip_serializing_if = "CopyMethod::is_clone")]
    pub copy_method: CopyMethod,
    /// The `VolumeSnapshotClass` of each run's snapshot with `copyMethod: Snapshot` (absent:
    /// the cluster's default class for the source's CSI driver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_class_name: Option<String>,
    /// What each run checks after its sync: `none` (default), `size` or `checksum`.
    #[serde(default, skip_serializing_if = "Verify::is_none")]
    pub verify: Verify,
    /// No new runs while true; running ones go on.
    #[serde(default)]
    pub suspend: bool,
    /// Finished successful DataMovers kept (default 3); older ones are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_jobs_history_limit: Option<u32>,
    /// Finished failed DataMovers kept (default 1); older ones are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_jobs_history_limit: Option<u32>,
    /// Which backups (timestamp folders) stay at the destination; after each successful
    /// run a prune Job deletes the others. Absent: every backup stays. Needs
    /// `addTimestampPrefix: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<retention::Retention>,
}

/// A reference to a DataMover a schedule started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// `datamover.a-cup-of.coffee/v1alpha1`.
    pub api_version: String,
    /// `DataMover`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its uid.
    pub uid: String,
}

/// What a schedule did so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DataMoverScheduleStatus {
    /// RFC 3339 time of the last run started (its scheduled time).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_schedule_time: String,
    /// RFC 3339 completion time of the last run that succeeded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_successful_time: String,
    /// The runs still going.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<ObjectReference>,
    /// How many runs are going.
    #[serde(default)]
    pub active_jobs: u32,
    /// Finished successful runs kept (within `successfulJobsHistoryLimit`).
    #[serde(default)]
    pub successful_jobs: u32,
    /// Finished failed runs kept (within `failedJobsHistoryLimit`).
    #[serde(default)]
    pub failed_jobs: u32,
    /// Runs not started because the previous one was still active.
    #[serde(default)]
    pub skipped_runs: u64,
    /// Runs missed while the operator was down (at most one of those starts late).
    #[serde(default)]
    pub missed_runs: u64,
    /// RFC 3339 scheduled time of the last run skipped or missed: runs up to it are handled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_skipped_time: String,
    /// Why the last run was skipped, or why the schedule cannot run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// RFC 3339 time a run last passed its check after the sync (`spec.verify`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_verified_time: String,
    /// The value of the trigger annotation last answered (with a run, or a skip while a
    /// run was active).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_manual_trigger: String,
    /// The last prune of `spec.retention`: when, what it kept and what it pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<retention::RetentionStatus>,
}

/// A `DataMoverSchedule`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataMoverSchedule {
    /// `datamover.a-cup-of.coffee/v1alpha1`.
    pub api_version: String,
    /// `DataMoverSchedule`.
    pub kind: String,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// When and what.
    pub spec: DataMoverScheduleSpec,
    /// What happened.
    #[serde(default)]
    pub status: DataMoverScheduleStatus,
}

impl DataMoverSchedule {
    /// `successfulJobsHistoryLimit`, defaulted.
    #[must_use]
    pub fn successful_history(&self) -> u32 {
        self.spec
            .successful_jobs_history_limit
            .unwrap_or(DEFAULT_SUCCESSFUL_HISTORY)
    }

    /// `failedJobsHistoryLimit`, defaulted.
    #[must_use]
    pub fn failed_history(&self) -> u32 {
        self.spec
            .failed_jobs_history_limit
            .unwrap_or(DEFAULT_FAILED_HISTORY)
    }
}

impl tmc_runtime::Resource for DataMoverSchedule {
    const KIND: &'static str = KIND;

    fn key(&self) -> tmc_runtime::ObjectKey {
        tmc_runtime::ObjectKey::namespaced(&self.metadata.namespace, &self.metadata.name)
    }
}

/// A schedule's DataMovers change: their owner is reconciled.
impl tmc_runtime::Owned for DataMover {
    fn owners(&self, kind: &str) -> Vec<tmc_runtime::ObjectKey> {
        self.metadata.owners(kind)
    }
}
