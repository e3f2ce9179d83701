//! The restore Job: `batch/v1`-shaped like the sync Job, owned by the PVC it fills.

use super::DataMoverPopulator;
use crate::job::{
    BACKOFF_LIMIT, ClaimRef, Container, DEFAULT_IMAGE_NAME, DEFAULT_IMAGE_TAG, DEFAULT_PULL_POLICY,
    EnvFromSource, Job, JobSpec, JobStatus, MOUNT_PATH, PodSpec, PodTemplateSpec, SecretRef,
    TemplateMeta, VOLUME_NAME, Volume, VolumeMount,
};
use crate::types::{EnvVar, ObjectMeta, OwnerReference, PersistentVolumeClaim};
use std::collections::BTreeMap;

/// Label on a Job saying what it does; `restore` for a restore Job (a sync Job has none).
pub const OPERATION_LABEL: &str = "datamover.a-cup-of.coffee/operation";
/// Label on a restore Job naming its populator.
pub const POPULATOR_LABEL: &str = "datamover.a-cup-of.coffee/populator";
/// The restore container's variable naming the backup folder inside the destination.
pub const RESTORE_PATH_ENV: &str = "RESTORE_PATH";

/// Whether `job` is a restore Job.
#[must_use]
pub fn is_restore(job: &Job) -> bool {
    job.metadata.labels.get(OPERATION_LABEL).map(String::as_str) == Some("restore")
}

/// The restore Job's name: `<pvc>-restore-<first 8 characters of the PVC's uid>`, at most
/// 63 characters.
///
/// ```
/// assert_eq!(datamover::populator::job::restore_job_name("data", "0a1b2c3d-9"), "data-restore-0a1b2c3d");
/// ```
#[must_use]
pub fn restore_job_name(pvc: &str, uid: &str) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    let suffix = format!("-restore-{short}");
    let base: String = pvc
        .chars()
        .take(63usize.saturating_sub(suffix.len()))
        .collect();
    format!("{}{suffix}", base.trim_end_matches(['-', '.']))
}

/// The Job that fills `pvc` from `populator`'s backup: the secret as `envFrom`,
/// `RESTORE_PATH` and `additionalEnv` as `env`, the PVC mounted at `/data/`, owned by the
/// PVC, `backoffLimit: 2`.
#[must_use]
pub fn restore_job(pvc: &PersistentVolumeClaim, populator: &DataMoverPopulator) -> Job {
    let image = populator.spec.image.clone().unwrap_or_default();
    let or = |s: String, d: &str| if s.is_empty() { d.to_owned() } else { s };
    let labels = BTreeMap::from([
        (OPERATION_LABEL.to_owned(), "restore".to_owned()),
        (POPULATOR_LABEL.to_owned(), populator.metadata.name.clone()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "datamover-operator".to_owned(),
        ),
    ]);
    let mut env = vec![EnvVar::new(RESTORE_PATH_ENV, populator.spec.path.clone())];
    env.extend(populator.spec.additional_env.iter().cloned());
    Job {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        metadata: ObjectMeta {
            name: restore_job_name(&pvc.metadata.name, &pvc.metadata.uid),
            namespace: pvc.metadata.namespace.clone(),
            labels: labels.clone(),
            owner_references: vec![OwnerReference {
                api_version: "v1".into(),
                kind: "PersistentVolumeClaim".into(),
                name: pvc.metadata.name.clone(),
                uid: pvc.metadata.uid.clone(),
                controller: true,
                block_owner_deletion: true,
            }],
            ..ObjectMeta::default()
        },
        spec: JobSpec {
            backoff_limit: BACKOFF_LIMIT,
            template: PodTemplateSpec {
                metadata: TemplateMeta { labels },
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
                                name: populator.spec.secret_name.clone(),
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
                            claim_name: pvc.metadata.name.clone(),
                        },
                    }],
                },
            },
        },
        status: JobStatus::default(),
    }
}
