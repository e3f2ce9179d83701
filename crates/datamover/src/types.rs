//! The resources: `DataMover` (group `datamover.a-cup-of.coffee`, version `v1alpha1`), and the
//! core/v1 `PersistentVolumeClaim` and `Secret` shapes the embedded backend needs.
//!
//! With the `kube` feature, [`DataMoverSpec`] also derives `kube::CustomResource`: the
//! Kubernetes object is `DataMoverResource`, with the same spec and status (`datamover::crd`, feature `kube`).

use serde::{Deserialize, Serialize};

mod corev1;
mod meta;

pub use corev1::{PersistentVolumeClaim, PvcSpec, PvcStatus, Secret};
pub use meta::{EnvVar, ObjectMeta, OwnerReference};

/// The DataMover API group.
pub const GROUP: &str = "datamover.a-cup-of.coffee";
/// The DataMover API version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of DataMover objects.
pub const API_VERSION: &str = "datamover.a-cup-of.coffee/v1alpha1";
/// Annotation on a PVC naming an existing host directory that backs it, so it is backed up
/// in place instead of from `<data-dir>/volumes/<namespace>/<name>`.
pub const HOST_PATH_ANNOTATION: &str = "datamover.a-cup-of.coffee/host-path";

/// The sync job's image (used by the Kubernetes backend; recorded by the embedded one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Name of the container image, e.g. `ghcr.io/qjoly/datamover-rclone`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Tag of the container image, e.g. `latest`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// Pull policy for the container image: `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "kube", schemars(schema_with = "crate::types::pull_policy"))]
    pub pull_policy: String,
}

// With the `kube` feature this is also the spec of the `DataMover` custom resource: the
// derive generates `DataMoverResource`, the object kube-rs reads and writes, and
// datamover-kube generates the CRD from these very types (the doc comments below are the
// CRD's field descriptions: `kubectl explain datamover.spec` shows them).
/// What to back up and where: the original operator's spec, unchanged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "kube",
    derive(kube::CustomResource, schemars::JsonSchema),
    kube(
        group = "datamover.a-cup-of.coffee",
        version = "v1alpha1",
        kind = "DataMover",
        root = "DataMoverResource",
        plural = "datamovers",
        singular = "datamover",
        shortname = "dm",
        namespaced,
        status = "DataMoverStatus",
        derive = "PartialEq",
        derive = "Default",
        doc = "DataMover is the Schema for the datamovers API: back up a PVC to an rclone destination.",
        printcolumn(
            name = "PHASE",
            type_ = "string",
            json_path = ".status.phase",
            description = "Phase of the DataMover operation"
        ),
        printcolumn(
            name = "AGE",
            type_ = "date",
            json_path = ".metadata.creationTimestamp"
        )
    )
)]
#[serde(rename_all = "camelCase")]
pub struct DataMoverSpec {
    /// The name of the source PersistentVolumeClaim (PVC) to back up (cloned first, so the
    /// backup is a point-in-time copy).
    pub source_pvc: String,
    /// The name of the secret holding the destination and its credentials (given to the
    /// sync job as `envFrom`).
    pub secret_name: String,
    /// Put the data under a `YYYY-MM-DD-HHMMSS/` folder at the destination.
    #[serde(default)]
    pub add_timestamp_prefix: bool,
    /// Delete the cloned PVC once the backup succeeded.
    #[serde(default)]
    pub delete_pvc_after_backup: bool,
    /// Additional environment variables for the sync job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_env: Vec<EnvVar>,
    /// Container image configuration for the sync job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// How the data is read: `Clone` (the default, the original's behaviour: a point-in-time
    /// clone of the source is synced, then kept or deleted), `Direct` (the source volume
    /// itself is synced while in use: no clone, nothing to delete) or `Snapshot`
    /// (Kubernetes only: a `VolumeSnapshot` of the source, a PVC from it synced as a clone;
    /// the snapshot is deleted after the sync).
    #[serde(default, skip_serializing_if = "CopyMethod::is_clone")]
    pub copy_method: CopyMethod,
    /// The `VolumeSnapshotClass` of the snapshot with `copyMethod: Snapshot` (absent: the
    /// cluster's default class for the source's CSI driver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_class_name: Option<String>,
    /// What to check after the sync, between what was read and what landed: `none` (the
    /// default), `size` (every file is there with its size) or `checksum` (and its hash,
    /// downloading where the destination has none). A difference fails the sync pod,
    /// naming the first differing paths.
    #[serde(default, skip_serializing_if = "Verify::is_none")]
    pub verify: Verify,
}

/// What a backup checks after its sync (`spec.verify`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// No check (the original's behaviour).
    #[default]
    None,
    /// Every file is at the destination with its size (`rclone check --size-only`).
    Size,
    /// Every file is at the destination with its hash (`rclone check`, with `--download`
    /// where the two sides share no hash).
    Checksum,
}

impl Verify {
    /// The values `verify` accepts.
    pub const VALUES: [&'static str; 3] = ["none", "size", "checksum"];

    /// `spec.verify` as written: `none`, `size` or `checksum`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Size => "size",
            Self::Checksum => "checksum",
        }
    }

    /// The default, [`Verify::None`] (left out when serialised).
    #[must_use]
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }

    /// The mode a sync Job's `VERIFY` variable names (`none` for anything else).
    #[must_use]
    pub fn from_env(value: &str) -> Self {
        match value {
            "size" => Self::Size,
            "checksum" => Self::Checksum,
            _ => Self::None,
        }
    }
}

impl DataMoverSpec {
    /// `copyMethod: Direct`.
    #[must_use]
    pub fn is_direct(&self) -> bool {
        self.copy_method == CopyMethod::Direct
    }

    /// `copyMethod: Snapshot`.
    #[must_use]
    pub fn is_snapshot(&self) -> bool {
        self.copy_method == CopyMethod::Snapshot
    }
}

impl DataMover {
    /// The PVC the sync Job reads: the source itself with `copyMethod: Direct`, else the
    /// clone (`status.restoredPvcName`).
    #[must_use]
    pub fn sync_claim(&self) -> &str {
        if self.spec.is_direct() {
            &self.spec.source_pvc
        } else {
            &self.status.restored_pvc_name
        }
    }
}

/// How a backup reads its source volume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub enum CopyMethod {
    /// Clone the source PVC first and sync the clone (a point-in-time copy).
    #[default]
    Clone,
    /// Sync the source PVC itself (no clone: for idle volumes, or data that tolerates a
    /// copy taken while it changes).
    Direct,
    /// Kubernetes only: take a `VolumeSnapshot` of the source, provision a PVC from it and
    /// sync that PVC as a clone (for CSI drivers that snapshot but do not clone); the
    /// snapshot is deleted after the sync.
    Snapshot,
}

impl CopyMethod {
    /// The values `copyMethod` takes (`Snapshot` on the Kubernetes backend only).
    pub const VALUES: [&'static str; 3] = ["Clone", "Direct", "Snapshot"];

    /// The default, [`CopyMethod::Clone`] (left out when serialised).
    #[must_use]
    pub fn is_clone(&self) -> bool {
        *self == Self::Clone
    }
}

/// A condition, Kubernetes style (fields an API server may omit default to empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    /// `Ready`, `Cloned`, `Synced`, `CleanedUp`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    pub reason: String,
    /// A human-readable message.
    pub message: String,
    /// RFC 3339 time of the last change.
    pub last_transition_time: String,
}

/// Where a DataMover is, and what happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DataMoverStatus {
    /// The phase: empty, `CreatingClonedPVC`, `ClonedPVCReady`, `CreatingPod`, `CleaningUp`,
    /// `Completed` or `Failed`.
    #[serde(default)]
    pub phase: String,
    /// The cloned PVC's name (`<sourcePvc>-cloned-<unix seconds>`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub restored_pvc_name: String,
    /// Conditions with reasons and messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Sync pods started (3 in all at most), as the Job reports them.
    #[serde(default)]
    pub attempts: u32,
    /// Sync pods that failed.
    #[serde(default)]
    pub failed_attempts: u32,
    /// The sync Job's name, once created.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub job_name: String,
    /// The running sync's progress, mirrored from its Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<crate::progress::SyncProgress>,
    /// Bytes the last sync transferred.
    #[serde(default)]
    pub bytes_transferred: u64,
    /// Files the last sync transferred.
    #[serde(default)]
    pub files_transferred: u64,
    /// Where the data went (secrets never appear here).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination: String,
    /// RFC 3339 time the backup last passed its check (`spec.verify`); the `Verified`
    /// condition says how.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verified_at: String,
    /// RFC 3339 time the DataMover started.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub start_time: String,
    /// RFC 3339 time it completed or failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub completion_time: String,
    /// Unix milliseconds the current phase started, so durations are right across restarts.
    #[serde(default)]
    pub phase_started_at_ms: u64,
    /// The last error.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_error: String,
}

/// A DataMover resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataMover {
    /// `datamover.a-cup-of.coffee/v1alpha1`.
    pub api_version: String,
    /// `DataMover`.
    pub kind: String,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The desired backup.
    pub spec: DataMoverSpec,
    /// What happened so far.
    #[serde(default)]
    pub status: DataMoverStatus,
}

/// The kinds the embedded backend stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `DataMover`.
    DataMover,
    /// `PersistentVolumeClaim`.
    PersistentVolumeClaim,
    /// `Secret`.
    Secret,
    /// `Job` (`batch/v1`): made by the operator, never applied.
    Job,
    /// `DataMoverSchedule`: DataMovers on a cron schedule.
    DataMoverSchedule,
    /// `DataMoverPopulator`: a backup a PVC can be restored from.
    DataMoverPopulator,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::DataMover,
        Self::PersistentVolumeClaim,
        Self::Secret,
        Self::Job,
        Self::DataMoverSchedule,
        Self::DataMoverPopulator,
    ];

    /// The kind whose `kind` field value is exactly `name` (`DataMover`, `Job`, ...).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The `kind` field value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DataMover => "DataMover",
            Self::PersistentVolumeClaim => "PersistentVolumeClaim",
            Self::Secret => "Secret",
            Self::Job => "Job",
            Self::DataMoverSchedule => "DataMoverSchedule",
            Self::DataMoverPopulator => "DataMoverPopulator",
        }
    }

    /// The plural resource name used in API paths.
    #[must_use]
    pub const fn plural(self) -> &'static str {
        match self {
            Self::DataMover => "datamovers",
            Self::PersistentVolumeClaim => "persistentvolumeclaims",
            Self::Secret => "secrets",
            Self::Job => "jobs",
            Self::DataMoverSchedule => "datamoverschedules",
            Self::DataMoverPopulator => "datamoverpopulators",
        }
    }

    /// The kind named by a `kubectl`-style word: `datamover`, `datamovers`, `dm`, `pvc`,
    /// `secret`, ...
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        match word.to_ascii_lowercase().as_str() {
            "datamover" | "datamovers" | "dm" => Some(Self::DataMover),
            "persistentvolumeclaim" | "persistentvolumeclaims" | "pvc" | "pvcs" => {
                Some(Self::PersistentVolumeClaim)
            }
            "secret" | "secrets" => Some(Self::Secret),
            "job" | "jobs" => Some(Self::Job),
            "datamoverschedule" | "datamoverschedules" | "schedule" | "schedules" => {
                Some(Self::DataMoverSchedule)
            }
            "datamoverpopulator" | "datamoverpopulators" | "populator" | "populators" => {
                Some(Self::DataMoverPopulator)
            }
            _ => None,
        }
    }
}

/// The name of a clone of `source_pvc`: `<sourcePvc>-cloned-<N>`, N the first second from
/// `unix_seconds` on whose name `taken` does not hold (the original's format, made unique).
///
/// ```
/// let taken = std::collections::HashSet::from(["data-cloned-10".to_owned()]);
/// assert_eq!(datamover::types::free_clone_name("data", 10, &taken), "data-cloned-11");
/// ```
#[must_use]
pub fn free_clone_name(
    source_pvc: &str,
    unix_seconds: u64,
    taken: &std::collections::HashSet<String>,
) -> String {
    (unix_seconds..)
        .map(|n| format!("{source_pvc}-cloned-{n}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_default()
}

impl tmc_runtime::Resource for DataMover {
    const KIND: &'static str = "DataMover";

    fn key(&self) -> tmc_runtime::ObjectKey {
        tmc_runtime::ObjectKey::namespaced(&self.metadata.namespace, &self.metadata.name)
    }
}

#[cfg(feature = "kube")]
/// The JSON schema of `additionalEnv[].valueFrom`: a core/v1 `EnvVarSource`, kept as given.
pub(crate) fn env_var_source(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Source for the environment variable's value (core/v1 EnvVarSource).",
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

#[cfg(feature = "kube")]
/// The JSON schema of `image.pullPolicy`: one of Kubernetes' three policies.
pub(crate) fn pull_policy(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Pull policy for the container image.",
        "type": "string",
        "enum": ["Always", "Never", "IfNotPresent"]
    })
}
