//! The objects the operator creates: the clone PVC and the sync Job, as the original Go
//! operator builds them, plus owner references.

use crate::crd;
use datamover::types::DataMover;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvFromSource, EnvVar, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, SeccompProfile, SecretEnvSource, SecurityContext, TypedLocalObjectReference,
    Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

/// Label on the clone PVC naming its source.
pub const CLONE_OF_LABEL: &str = "datamover.a-cup-of.coffee/clone-of";
/// Label on everything the operator creates naming the DataMover.
pub const DATAMOVER_LABEL: &str = "datamover.a-cup-of.coffee/datamover";
/// The Job's pod volume holding the clone.
pub const VOLUME_NAME: &str = "restored-data";
/// Where the clone is mounted in the sync container.
pub const MOUNT_PATH: &str = "/data/";
/// Retries of the sync Job: 3 attempts in all.
pub const BACKOFF_LIMIT: i32 = 2;
/// The unprivileged user and group the sync container runs as (`nobody`).
pub const NOBODY: i64 = 65534;

/// The controller owner reference to a DataMover: deleting it collects what it owns.
#[must_use]
pub fn owner_reference(name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: datamover::types::API_VERSION.into(),
        kind: "DataMover".into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `meta` is owned by the DataMover with `uid`.
#[must_use]
pub fn owned_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .as_ref()
        .is_some_and(|refs| refs.iter().any(|r| r.uid == uid))
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

/// The clone of `source`: same size, access modes and storage class, with a `dataSource`
/// naming the source PVC, owned by the DataMover.
#[must_use]
pub fn clone_pvc(
    namespace: &str,
    clone: &str,
    source: &datamover::types::PersistentVolumeClaim,
    owner: &OwnerReference,
) -> PersistentVolumeClaim {
    let storage = source
        .spec
        .resources
        .as_ref()
        .and_then(|r| r.pointer("/requests/storage"))
        .and_then(|q| match q {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    let mut labels = labels(&owner.name);
    labels.insert(CLONE_OF_LABEL.into(), source.metadata.name.clone());
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(clone.into()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: (!source.spec.access_modes.is_empty())
                .then(|| source.spec.access_modes.clone()),
            storage_class_name: source.spec.storage_class_name.clone(),
            resources: storage.map(|s| VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(s))])),
                ..VolumeResourceRequirements::default()
            }),
            data_source: Some(TypedLocalObjectReference {
                api_group: None,
                kind: "PersistentVolumeClaim".into(),
                name: source.metadata.name.clone(),
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

/// The sync Job's name: `<datamover>-sync-<first 8 characters of its uid>`, shortened to
/// 63 characters (a label value: the Job controller labels its pods with it).
#[must_use]
pub fn job_name(dm_name: &str, uid: &str) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    let suffix = format!("-sync-{short}");
    let keep = 63usize.saturating_sub(suffix.len());
    let base: String = dm_name.chars().take(keep).collect();
    format!("{}{suffix}", base.trim_end_matches(['-', '.']))
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

/// Where the sync container's termination message is written (the kubelet's default).
pub const TERMINATION_LOG: &str = "/dev/termination-log";

/// The environment that makes rclone leave its final transfer statistics (JSON, at
/// NOTICE level, so they are logged at the default level) in the termination message.
pub const STATS_ENV: [(&str, &str); 4] = [
    ("RCLONE_USE_JSON_LOG", "true"),
    ("RCLONE_STATS", "1m"),
    ("RCLONE_STATS_LOG_LEVEL", "NOTICE"),
    ("RCLONE_LOG_FILE", TERMINATION_LOG),
];

/// The sync Job: the rclone image (`spec.image`, by default
/// `ghcr.io/qjoly/datamover-rclone:latest`, pull policy `Always`), `backoffLimit: 2`, the
/// secret as `envFrom`, `ADD_TIMESTAMP_PREFIX`, [`STATS_ENV`], `additionalEnv`, the
/// termination message at [`TERMINATION_LOG`] (the log's tail on error), the clone mounted at
/// `/data/`, and the original's hardened security context (non-root 65534, read-only root
/// filesystem, no privilege escalation, drop ALL, seccomp `RuntimeDefault`).
///
/// # Errors
/// A message naming `spec.additionalEnv[i].valueFrom` when it is not a core/v1
/// `EnvVarSource` (the CRD keeps it as given, so the API server does not check it).
pub fn sync_job(dm: &DataMover, clone: &str, owner: &OwnerReference) -> Result<Job, String> {
    let name = dm.metadata.name.clone();
    let namespace = Some(dm.metadata.namespace.clone());
    let image = dm.spec.image.clone().unwrap_or_default();
    let or = |s: String, default: &str| if s.is_empty() { default.to_owned() } else { s };
    let image_ref = format!(
        "{}:{}",
        or(image.name, crd::DEFAULT_IMAGE_NAME),
        or(image.tag, crd::DEFAULT_IMAGE_TAG)
    );
    let pull_policy = or(image.pull_policy, crd::DEFAULT_PULL_POLICY);
    let var = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    };
    let mut env = vec![var(
        "ADD_TIMESTAMP_PREFIX",
        &dm.spec.add_timestamp_prefix.to_string(),
    )];
    // rclone's JSON log, final statistics included, goes to the termination message: the
    // kubelet keeps its last 4 KiB in the pod status, where the operator reads the bytes
    // and files moved. `additionalEnv` comes after, so a DataMover can override them.
    env.extend(STATS_ENV.iter().map(|(k, v)| var(k, v)));
    for (i, e) in dm.spec.additional_env.iter().enumerate() {
        let value_from = e
            .value_from
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|err| format!("spec.additionalEnv[{i}].valueFrom ({}): {err}", e.name))?;
        env.push(EnvVar {
            name: e.name.clone(),
            value: (!e.value.is_empty() || value_from.is_none()).then(|| e.value.clone()),
            value_from,
        });
    }
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name(&name, owner.uid.as_str())),
            namespace,
            labels: Some(labels(&name)),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(BACKOFF_LIMIT),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&name)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(NOBODY),
                        run_as_group: Some(NOBODY),
                        fs_group: Some(NOBODY),
                        seccomp_profile: Some(runtime_default()),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![Container {
                        name: "rclone".into(),
                        image: Some(image_ref),
                        image_pull_policy: Some(pull_policy),
                        env: Some(env),
                        env_from: Some(vec![EnvFromSource {
                            secret_ref: Some(SecretEnvSource {
                                name: dm.spec.secret_name.clone(),
                                optional: None,
                            }),
                            ..EnvFromSource::default()
                        }]),
                        termination_message_path: Some(TERMINATION_LOG.into()),
                        termination_message_policy: Some("FallbackToLogsOnError".into()),
                        volume_mounts: Some(vec![VolumeMount {
                            name: VOLUME_NAME.into(),
                            mount_path: MOUNT_PATH.into(),
                            ..VolumeMount::default()
                        }]),
                        security_context: Some(SecurityContext {
                            allow_privilege_escalation: Some(false),
                            run_as_non_root: Some(true),
                            run_as_user: Some(NOBODY),
                            run_as_group: Some(NOBODY),
                            read_only_root_filesystem: Some(true),
                            capabilities: Some(Capabilities {
                                drop: Some(vec!["ALL".into()]),
                                add: None,
                            }),
                            seccomp_profile: Some(runtime_default()),
                            ..SecurityContext::default()
                        }),
                        ..Container::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: VOLUME_NAME.into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: clone.into(),
                            read_only: None,
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    })
}

/// How a Job ended, if it did: `Ok(())` complete, `Err(message)` failed.
#[must_use]
pub fn job_outcome(job: &Job) -> Option<Result<(), String>> {
    let status = job.status.as_ref()?;
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let is = |t: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == t && c.status == "True")
    };
    if is("Complete").is_some() || status.succeeded.unwrap_or(0) > 0 {
        return Some(Ok(()));
    }
    if let Some(c) = is("Failed") {
        return Some(Err(format!(
            "the sync job failed ({}): {}",
            c.reason.as_deref().unwrap_or("Failed"),
            c.message.as_deref().unwrap_or("see the job's pod logs")
        )));
    }
    if status.failed.unwrap_or(0) > BACKOFF_LIMIT {
        return Some(Err(format!(
            "the sync job failed {} times (backoffLimit {BACKOFF_LIMIT})",
            status.failed.unwrap_or(0)
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamover::types::EnvVar as Var;

    fn datamover(env: Vec<Var>) -> DataMover {
        let mut dm = DataMover::default();
        dm.metadata.name = "nightly".into();
        dm.metadata.namespace = "default".into();
        dm.spec.secret_name = "creds".into();
        dm.spec.additional_env = env;
        dm
    }

    fn env_of(job: &Job) -> serde_json::Value {
        let spec = job.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        serde_json::to_value(spec.map(|s| &s.containers[0].env)).unwrap_or_default()
    }

    #[test]
    fn value_from_reaches_the_job_as_written_without_an_empty_value() {
        let from = serde_json::json!({"secretKeyRef": {"name": "other", "key": "k"}});
        let dm = datamover(vec![
            Var::new("PLAIN", "1"),
            Var {
                name: "FROM_SECRET".into(),
                value: String::new(),
                value_from: Some(from.clone()),
            },
        ]);
        let owner = owner_reference("nightly", "0a1b2c3d");
        let job = sync_job(&dm, "data-cloned-1", &owner).unwrap();
        let env = env_of(&job);
        let tail: Vec<_> = env.as_array().unwrap().iter().skip(5).cloned().collect();
        assert_eq!(
            tail,
            [
                serde_json::json!({"name": "PLAIN", "value": "1"}),
                serde_json::json!({"name": "FROM_SECRET", "valueFrom": from}),
            ]
        );
    }

    #[test]
    fn a_value_from_that_is_no_env_var_source_is_an_error_naming_the_field() {
        let dm = datamover(vec![Var {
            name: "BROKEN".into(),
            value: String::new(),
            value_from: Some(serde_json::json!({"secretKeyRef": "creds/k"})),
        }]);
        let owner = owner_reference("nightly", "0a1b2c3d");
        let err = sync_job(&dm, "data-cloned-1", &owner).unwrap_err();
        assert!(
            err.starts_with("spec.additionalEnv[0].valueFrom (BROKEN): "),
            "{err}"
        );
    }
}
