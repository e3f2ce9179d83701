//! The sync Job: a `batch/v1`-shaped Job owned by its DataMover, the same object on both
//! backends. The reconciler creates it and returns; whoever runs its pods (the embedded
//! job executor (`datamover_embedded::executor`), or Kubernetes' Job controller) writes its status, and the
//! status change brings the owner back.
//!
//! Beyond `batch/v1`, the status carries the live [`SyncProgress`] of the running pod and
//! the last pod's error, so the DataMover can mirror them.

use crate::progress::SyncProgress;
use crate::types::{API_VERSION, Condition, DataMover, EnvVar, ObjectMeta, OwnerReference};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Retries of the sync Job: 3 pod attempts in all, as the original operator's Job.
pub const BACKOFF_LIMIT: u32 = 2;
/// The rclone image of the original operator.
pub const DEFAULT_IMAGE_NAME: &str = "ghcr.io/qjoly/datamover-rclone";
/// Its default tag.
pub const DEFAULT_IMAGE_TAG: &str = "latest";
/// Its default pull policy.
pub const DEFAULT_PULL_POLICY: &str = "Always";
/// The pod volume holding the clone.
pub const VOLUME_NAME: &str = "restored-data";
/// Where the clone is mounted in the sync container.
pub const MOUNT_PATH: &str = "/data/";
/// Label on everything the operator creates naming the DataMover.
pub const DATAMOVER_LABEL: &str = "datamover.a-cup-of.coffee/datamover";

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
    /// The clone, as a PVC volume.
    #[serde(default)]
    pub volumes: Vec<Volume>,
}

/// A container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    /// `rclone`.
    pub name: String,
    /// The image, `name:tag`.
    pub image: String,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default)]
    pub image_pull_policy: String,
    /// `ADD_TIMESTAMP_PREFIX` and `additionalEnv`.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// The secret, as environment.
    #[serde(default)]
    pub env_from: Vec<EnvFromSource>,
    /// The clone's mount.
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
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
}

/// How a Job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// A pod succeeded.
    Complete,
    /// `backoffLimit` exceeded: the `Failed` condition's reason and message (the last
    /// pod's error, on the embedded backend).
    Failed(String),
}

impl Job {
    /// How the Job ended, or `None` while it runs.
    #[must_use]
    pub fn outcome(&self) -> Option<JobOutcome> {
        let is = |t: &str| {
            self.status
                .conditions
                .iter()
                .find(|c| c.type_ == t && c.status == "True")
        };
        if is("Complete").is_some() {
            return Some(JobOutcome::Complete);
        }
        is("Failed").map(|c| {
            JobOutcome::Failed(match (c.reason.as_str(), c.message.as_str()) {
                ("", m) => m.to_owned(),
                (r, "") => r.to_owned(),
                (r, m) => format!("{r}: {m}"),
            })
        })
    }

    /// Pods started so far (running, succeeded and failed).
    #[must_use]
    pub fn pods(&self) -> u32 {
        self.status.active + self.status.succeeded + self.status.failed
    }

    /// The secret its pods take their environment from.
    #[must_use]
    pub fn secret_name(&self) -> Option<&str> {
        self.container()
            .and_then(|c| c.env_from.first())
            .map(|e| e.secret_ref.name.as_str())
    }

    /// The PVC its pods sync from.
    #[must_use]
    pub fn claim_name(&self) -> Option<&str> {
        self.spec
            .template
            .spec
            .volumes
            .first()
            .map(|v| v.persistent_volume_claim.claim_name.as_str())
    }

    /// The sync container.
    #[must_use]
    pub fn container(&self) -> Option<&Container> {
        self.spec.template.spec.containers.first()
    }
}

impl tmc_runtime::Resource for Job {
    const KIND: &'static str = "Job";

    fn key(&self) -> tmc_runtime::ObjectKey {
        tmc_runtime::ObjectKey::namespaced(&self.metadata.namespace, &self.metadata.name)
    }
}

impl tmc_runtime::Owned for Job {
    fn owners(&self, kind: &str) -> Vec<tmc_runtime::ObjectKey> {
        self.metadata.owners(kind)
    }
}

/// The sync Job's name: `<datamover>-sync-<first 8 characters of its uid>`, shortened to
/// 63 characters (a label value: the Job controller labels its pods with it).
///
/// ```
/// assert_eq!(datamover::job::job_name("nightly", "0a1b2c3d-4e5f"), "nightly-sync-0a1b2c3d");
/// ```
#[must_use]
pub fn job_name(dm_name: &str, uid: &str) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    let suffix = format!("-sync-{short}");
    let keep = 63usize.saturating_sub(suffix.len());
    let base: String = dm_name.chars().take(keep).collect();
    format!("{}{suffix}", base.trim_end_matches(['-', '.']))
}

/// The controller owner reference to a DataMover: deleting it deletes what it owns.
#[must_use]
pub fn owner_reference(dm: &DataMover) -> OwnerReference {
    OwnerReference {
        api_version: API_VERSION.into(),
        kind: "DataMover".into(),
        name: dm.metadata.name.clone(),
        uid: dm.metadata.uid.clone(),
        controller: true,
        block_owner_deletion: true,
    }
}

fn labels(dm_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (DATAMOVER_LABEL.to_owned(), dm_name.to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "datamover-operator".to_owned(),
        ),
    ])
}

/// The sync Job of `dm` for its clone (`status.restoredPvcName`): the rclone image
/// (`spec.image`, by default [`DEFAULT_IMAGE_NAME`]:[`DEFAULT_IMAGE_TAG`]),
/// `backoffLimit: 2`, the secret as `envFrom`, `ADD_TIMESTAMP_PREFIX` and `additionalEnv`
/// as `env`, the clone mounted at `/data/`, owned by `dm`.
#[must_use]
pub fn sync_job(dm: &DataMover) -> Job {
    let name = &dm.metadata.name;
    let image = dm.spec.image.clone().unwrap_or_default();
    let or = |s: String, d: &str| if s.is_empty() { d.to_owned() } else { s };
    let mut env = vec![EnvVar::new(
        "ADD_TIMESTAMP_PREFIX",
        dm.spec.add_timestamp_prefix.to_string(),
    )];
    env.extend(dm.spec.additional_env.iter().cloned());
    Job {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        metadata: ObjectMeta {
            name: job_name(name, &dm.metadata.uid),
            namespace: dm.metadata.namespace.clone(),
            labels: labels(name),
            owner_references: vec![owner_reference(dm)],
            ..ObjectMeta::default()
        },
        spec: JobSpec {
            backoff_limit: BACKOFF_LIMIT,
            template: PodTemplateSpec {
                metadata: TemplateMeta {
                    labels: labels(name),
                },
                spec: PodSpec {
                    restart_policy: "Never".into(),
                    containers: vec![Container {
                        name: "rclone".into(),
                        image: format!(
                            "{}:{}",
                            or(image.name, DEFAULT_IMAGE_NAME),
                            or(image.tag, DEFAULT_IMAGE_TAG)
                        ),
                        image_pull_policy: or(image.pull_policy, DEFAULT_PULL_POLICY),
                        env,
                        env_from: vec![EnvFromSource {
                            secret_ref: SecretRef {
                                name: dm.spec.secret_name.clone(),
                            },
                        }],
                        volume_mounts: vec![VolumeMount {
                            name: VOLUME_NAME.into(),
                            mount_path: MOUNT_PATH.into(),
                        }],
                    }],
                    volumes: vec![Volume {
                        name: VOLUME_NAME.into(),
                        persistent_volume_claim: ClaimRef {
                            claim_name: dm.status.restored_pvc_name.clone(),
                        },
                    }],
                },
            },
        },
        status: JobStatus::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sync_job_is_owned_by_its_datamover_and_carries_its_env() {
        let mut dm = DataMover::default();
        dm.metadata.name = "nightly".into();
        dm.metadata.namespace = "prod".into();
        dm.metadata.uid = "0a1b2c3d-4e5f".into();
        dm.spec.secret_name = "creds".into();
        dm.spec.add_timestamp_prefix = true;
        dm.spec.additional_env = vec![EnvVar::new("RCLONE_BWLIMIT", "1M")];
        dm.status.restored_pvc_name = "data-cloned-1".into();
        let job = sync_job(&dm);
        assert_eq!(job.metadata.name, "nightly-sync-0a1b2c3d");
        assert_eq!(job.spec.backoff_limit, 2);
        assert_eq!(job.secret_name(), Some("creds"));
        assert_eq!(job.claim_name(), Some("data-cloned-1"));
        let c = job.container().unwrap();
        assert_eq!(c.image, "ghcr.io/qjoly/datamover-rclone:latest");
        let env: Vec<(&str, &str)> = c
            .env
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            env,
            [("ADD_TIMESTAMP_PREFIX", "true"), ("RCLONE_BWLIMIT", "1M")]
        );
        use tmc_runtime::Owned;
        assert_eq!(
            job.owners("DataMover"),
            [tmc_runtime::ObjectKey::namespaced("prod", "nightly")]
        );
        assert!(job.owners("Other").is_empty());
        assert_eq!(job.outcome(), None);
    }
}
