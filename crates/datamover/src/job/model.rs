//! The Job's shape: `batch/v1` and `core/v1` types, the fields the operator uses, so the
//! object serialises to what the Kubernetes API reads.

use super::NOBODY;
use crate::progress::SyncProgress;
use crate::types::{Condition, EnvVar, ObjectMeta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A `batch/v1` Job (the fields the operator uses).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// `batch/v1`.
    pub api_version: String,
    /// `Job`.
    pub kind: String,
    /// Metadata, with the owner reference to the DataMover.
    pub metadata: ObjectMeta,
    /// What to run.
    #[serde(default)]
    pub spec: JobSpec,
    /// What happened.
    #[serde(default)]
    pub status: JobStatus,
}

/// `batch/v1` `JobSpec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobSpec {
    /// Failed pods retried before the Job fails.
    pub backoff_limit: u32,
    /// The pod to run.
    pub template: PodTemplateSpec,
}

/// A pod template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodTemplateSpec {
    /// Labels of the pods.
    #[serde(default)]
    pub metadata: TemplateMeta,
    /// The pod.
    pub spec: PodSpec,
}

/// A pod template's metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateMeta {
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A pod's spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    /// `Never`: the Job retries, not the pod.
    pub restart_policy: String,
    /// The sync container.
    pub containers: Vec<Container>,
    /// The clone, as a PVC volume (none for the prune Job).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Who the pod runs as ([`PodSecurityContext::hardened`] on both backends; the
    /// embedded executor runs rclone as the operator's own user and ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
}

/// A container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    /// `rclone`.
    pub name: String,
    /// The image, `name:tag`.
    pub image: String,
    /// The entrypoint, when not the image's (the Kubernetes restore's shell script).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default)]
    pub image_pull_policy: String,
    /// `ADD_TIMESTAMP_PREFIX` and `additionalEnv`.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// The secret, as environment.
    #[serde(default)]
    pub env_from: Vec<EnvFromSource>,
    /// The clone's mount (none for the prune Job).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Where the container leaves its termination message ([`TERMINATION_LOG`](super::TERMINATION_LOG): rclone's
    /// JSON log, final statistics included, on Kubernetes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_message_path: String,
    /// `FallbackToLogsOnError`: the log's tail when the message is empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_message_policy: String,
    /// The container's privileges ([`SecurityContext::hardened`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

/// `envFrom` of a secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    /// The secret.
    pub secret_ref: SecretRef,
}

/// A secret by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRef {
    /// The secret's name, in the Job's namespace.
    pub name: String,
}

/// A volume mount.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// The volume.
    pub name: String,
    /// Where.
    pub mount_path: String,
}

/// A PVC volume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// The volume's name.
    pub name: String,
    /// The claim.
    pub persistent_volume_claim: ClaimRef,
}

/// A PVC by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRef {
    /// The PVC's name, in the Job's namespace.
    pub claim_name: String,
}

/// `batch/v1` `JobStatus`, plus the live progress and the last pod's error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// Pods running now (0 or 1).
    #[serde(default)]
    pub active: u32,
    /// Pods that succeeded.
    #[serde(default)]
    pub succeeded: u32,
    /// Pods that failed.
    #[serde(default)]
    pub failed: u32,
    /// RFC 3339 time the first pod started.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub start_time: String,
    /// RFC 3339 time the Job completed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub completion_time: String,
    /// `Complete` or `Failed` (with reason and message) once finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The running (or last) pod's transfer progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<SyncProgress>,
    /// Why the last failed pod failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_pod_error: String,
    /// A prune Job's decision once it succeeded: the backups kept and those pruned (or,
    /// in a dry run, those that would have been).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::schedule::retention::Selection>,
    /// Pods whose check after the sync failed (`spec.verify`), where the backend reads
    /// them only once the Job has ended (Kubernetes: from every pod's termination
    /// message); `None` where each is reported as it happens, as the last pod's error
    /// (the embedded executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_checks: Option<u32>,
}

/// A pod's security context (`core/v1`, the fields the operator sets).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    /// Refuse to start as root.
    pub run_as_non_root: bool,
    /// The user id.
    pub run_as_user: i64,
    /// The group id.
    pub run_as_group: i64,
    /// The group owning the pod's volumes (so a restore can write a fresh volume).
    pub fs_group: i64,
    /// The seccomp profile.
    pub seccomp_profile: SeccompProfile,
}

impl PodSecurityContext {
    /// The original operator's pod: non-root [`NOBODY`] (user, group and `fsGroup`),
    /// seccomp `RuntimeDefault`.
    #[must_use]
    pub fn hardened() -> Self {
        Self {
            run_as_non_root: true,
            run_as_user: NOBODY,
            run_as_group: NOBODY,
            fs_group: NOBODY,
            seccomp_profile: SeccompProfile::runtime_default(),
        }
    }
}

/// A container's security context (`core/v1`, the fields the operator sets).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    /// No `setuid` gains.
    pub allow_privilege_escalation: bool,
    /// Refuse to start as root.
    pub run_as_non_root: bool,
    /// The user id.
    pub run_as_user: i64,
    /// The group id.
    pub run_as_group: i64,
    /// The image's filesystem is read-only.
    pub read_only_root_filesystem: bool,
    /// Capabilities dropped.
    pub capabilities: Capabilities,
    /// The seccomp profile.
    pub seccomp_profile: SeccompProfile,
}

impl SecurityContext {
    /// The original operator's container: non-root [`NOBODY`], no privilege escalation, a
    /// read-only root filesystem, every capability dropped, seccomp `RuntimeDefault`.
    #[must_use]
    pub fn hardened() -> Self {
        Self {
            allow_privilege_escalation: false,
            run_as_non_root: true,
            run_as_user: NOBODY,
            run_as_group: NOBODY,
            read_only_root_filesystem: true,
            capabilities: Capabilities {
                drop: vec!["ALL".into()],
            },
            seccomp_profile: SeccompProfile::runtime_default(),
        }
    }
}

/// Linux capabilities to drop.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// `ALL`.
    pub drop: Vec<String>,
}

/// A seccomp profile by type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompProfile {
    /// `RuntimeDefault`.
    #[serde(rename = "type")]
    pub type_: String,
}

impl SeccompProfile {
    /// The container runtime's default profile.
    #[must_use]
    pub fn runtime_default() -> Self {
        Self {
            type_: "RuntimeDefault".into(),
        }
    }
}
