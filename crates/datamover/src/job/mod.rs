//! The Job: a `batch/v1`-shaped object running the rclone image, the same object on both
//! backends. [`sync_job`] backs a DataMover's clone up (owned by the DataMover);
//! [`restore_job`](crate::populator::job::restore_job) fills a PVC from a backup (owned by
//! the PVC); both come from one builder. The reconciler creates it and returns; whoever runs
//! its pods (the embedded job executor, `datamover_embedded::executor`, or Kubernetes' Job
//! controller) writes its status, the status change brings the owner back, and
//! [`Job::outcome`] is the one rule for how it ended.
//!
//! On Kubernetes the Job is this object as JSON (`datamover_kube` converts it with serde and
//! nothing else); the embedded executor reads the same fields and ignores those that only
//! a kubelet acts on (security context, termination message, [`STATS_ENV`]).
//!
//! Beyond `batch/v1`, the status carries the live [`SyncProgress`](crate::progress::SyncProgress) of the running pod and
//! the last pod's error, so the DataMover can mirror them.

mod model;

pub use model::*;

use crate::types::{API_VERSION, DataMover, EnvVar, ObjectMeta, OwnerReference};
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
/// The user and group the rclone container runs as (`nobody`), as in the original.
pub const NOBODY: i64 = 65534;
/// Where the rclone container's termination message is written (the kubelet's default).
pub const TERMINATION_LOG: &str = "/dev/termination-log";
/// The environment that makes rclone leave its final transfer statistics (JSON, at
/// NOTICE level, so they are logged at the default level) in the termination message,
/// where the Kubernetes backend reads the bytes and files moved. The embedded executor
/// reads rclone's statistics from its stderr instead and leaves these out
/// ([`is_stats_env`]).
pub const STATS_ENV: [(&str, &str); 4] = [
    ("RCLONE_USE_JSON_LOG", "true"),
    ("RCLONE_STATS", "1m"),
    ("RCLONE_STATS_LOG_LEVEL", "NOTICE"),
    ("RCLONE_LOG_FILE", TERMINATION_LOG),
];

/// The AWS SDKs' CA bundle variable. rclone's S3 client fails at start-up whenever it is
/// set, whatever the file (`Failed to create file system for "...": LoadCustomCABundleError:
/// unable to load custom CA bundle, HTTPClient's transport unsupported type`), so the Job
/// gives rclone the bundle as [`RCLONE_CA_CERT`] and sets this one empty (unset, to the
/// SDK): see [`ca_bundle_env`].
pub const AWS_CA_BUNDLE: &str = "AWS_CA_BUNDLE";
/// rclone's CA certificate option (`--ca-cert`) as a variable: the PEM file of the CAs its
/// HTTP client trusts, on top of the system's, for every remote (S3's `https` endpoints
/// included).
pub const RCLONE_CA_CERT: &str = "RCLONE_CA_CERT";

/// The Job's CA bundle variables, after [`STATS_ENV`] and before `additionalEnv`:
/// [`RCLONE_CA_CERT`] from the secret's `AWS_CA_BUNDLE` key when it has one (an optional
/// `secretKeyRef`: without the key, the secret's own `RCLONE_CA_CERT`, if any, stands), and
/// [`AWS_CA_BUNDLE`] empty, so the secret's `AWS_CA_BUNDLE` (given by `envFrom`) never
/// reaches rclone's S3 client. An `AWS_CA_BUNDLE` in `additionalEnv` becomes
/// `RCLONE_CA_CERT` the same way ([`ca_bundle_renamed`]). The path is read where rclone
/// runs: in the pod on Kubernetes (a file of the image, or of a volume), on the
/// operator's machine on the embedded backend.
#[must_use]
pub fn ca_bundle_env(secret: &str) -> [EnvVar; 2] {
    [
        EnvVar {
            name: RCLONE_CA_CERT.into(),
            value: String::new(),
            value_from: Some(serde_json::json!({
                "secretKeyRef": {"name": secret, "key": AWS_CA_BUNDLE, "optional": true}
            })),
        },
        EnvVar::new(AWS_CA_BUNDLE, ""),
    ]
}

/// An `additionalEnv` entry as the Job carries it: `AWS_CA_BUNDLE` (value or `valueFrom`)
/// becomes [`RCLONE_CA_CERT`] (see [`ca_bundle_env`]); every other entry is as written.
#[must_use]
pub fn ca_bundle_renamed(var: &EnvVar) -> EnvVar {
    let mut var = var.clone();
    if var.name == AWS_CA_BUNDLE {
        var.name = RCLONE_CA_CERT.into();
    }
    var
}

/// Whether `var` is one of [`STATS_ENV`] as the builder set it (an `additionalEnv` entry
/// that overrides one has another value and is not).
#[must_use]
pub fn is_stats_env(var: &EnvVar) -> bool {
    var.value_from.is_none()
        && STATS_ENV
            .iter()
            .any(|(k, v)| var.name == *k && var.value == *v)
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
    ///
    /// The one rule, on both backends: the Job controller's terminal conditions decide
    /// (`Complete`; `Failed` with its reason and message). Pod counts alone never do: a
    /// Kubernetes Job counts a pod succeeded before its `Complete` condition (its pods may
    /// still be terminating), and the embedded executor writes the counts and the
    /// condition in one write.
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

    /// The value the last entry for `name` in its sync container's `env` gives (the one a
    /// pod sees); `None` without one, or when it is a `valueFrom`.
    #[must_use]
    pub fn env(&self, name: &str) -> Option<&str> {
        self.container()?
            .env
            .iter()
            .rev()
            .find(|e| e.name == name)
            .filter(|e| e.value_from.is_none())
            .map(|e| e.value.as_str())
    }

    /// The `YYYY-MM-DD-HHMMSS` folder of the Job's creation second when it syncs with
    /// `ADD_TIMESTAMP_PREFIX=true` (the folder the embedded executor writes into); `None`
    /// without the prefix, or before the Job has a creation time.
    #[must_use]
    pub fn creation_folder(&self) -> Option<String> {
        if self.env("ADD_TIMESTAMP_PREFIX") != Some("true") {
            return None;
        }
        crate::time::parse_rfc3339(&self.metadata.creation_timestamp).map(crate::time::prefix)
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

/// The labels on everything the operator creates for the DataMover `dm_name`: its name
/// ([`DATAMOVER_LABEL`]) and `app.kubernetes.io/managed-by: datamover-operator`.
#[must_use]
pub fn labels(dm_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (DATAMOVER_LABEL.to_owned(), dm_name.to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "datamover-operator".to_owned(),
        ),
    ])
}

/// The sync Job of `dm` for its clone (`status.restoredPvcName`), or its source PVC with
/// `copyMethod: Direct` ([`DataMover::sync_claim`]): `ADD_TIMESTAMP_PREFIX`,
/// [`STATS_ENV`] and `additionalEnv` (last, so it can override them) as `env`, owned by
/// `dm`; the rest as every Job (see the module docs).
#[must_use]
pub fn sync_job(dm: &DataMover) -> Job {
    let name = &dm.metadata.name;
    let mut job = RcloneJob {
        name: job_name(name, &dm.metadata.uid),
        namespace: &dm.metadata.namespace,
        labels: labels(name),
        owner: owner_reference(dm),
        image: dm.spec.image.clone().unwrap_or_default(),
        first_env: vec![EnvVar::new(
            "ADD_TIMESTAMP_PREFIX",
            dm.spec.add_timestamp_prefix.to_string(),
        )],
        additional_env: &dm.spec.additional_env,
        secret: &dm.spec.secret_name,
        claim: Some(dm.sync_claim()),
    }
    .build();
    if let Some(c) = job
        .spec
        .template
        .spec
        .containers
        .first_mut()
        .filter(|_| !dm.spec.verify.is_none())
    {
        c.env
            .insert(1, EnvVar::new(VERIFY_ENV, dm.spec.verify.as_str()));
    }
    job
}

/// The sync Job's variable naming `spec.verify` (`size` or `checksum`; absent for `none`):
/// the embedded executor runs `rclone check` after the sync when it is set.
pub const VERIFY_ENV: &str = "VERIFY";

/// The variable naming the `YYYY-MM-DD-HHMMSS` folder a timestamp-prefixed sync writes
/// into, decided by the operator when it builds the Job: the Kubernetes backend's sync
/// script (`spec.verify`) writes there instead of naming a folder from its pod's start, so
/// `status.destination` names the folder written and checked. The embedded backend names
/// the folder from the Job's creation second ([`Job::creation_folder`]) and sets no such
/// variable.
pub const TIMESTAMP_FOLDER_ENV: &str = "TIMESTAMP_FOLDER";

/// What differs between the sync Job and the restore Job; [`RcloneJob::build`] makes both.
#[derive(Debug)]
pub(crate) struct RcloneJob<'a> {
    /// The Job's name.
    pub(crate) name: String,
    /// Its namespace.
    pub(crate) namespace: &'a str,
    /// Its labels, and its pods'.
    pub(crate) labels: BTreeMap<String, String>,
    /// Its controller owner.
    pub(crate) owner: OwnerReference,
    /// `spec.image` of the owner (empty fields take the defaults).
    pub(crate) image: crate::types::Image,
    /// The operation's own variables, first in `env`.
    pub(crate) first_env: Vec<EnvVar>,
    /// `additionalEnv`, last in `env`.
    pub(crate) additional_env: &'a [EnvVar],
    /// The secret given as `envFrom`.
    pub(crate) secret: &'a str,
    /// The PVC mounted at [`MOUNT_PATH`]; `None` mounts nothing (the prune Job).
    pub(crate) claim: Option<&'a str>,
}

impl RcloneJob<'_> {
    /// The Job: the rclone image (by default [`DEFAULT_IMAGE_NAME`]:[`DEFAULT_IMAGE_TAG`],
    /// pull policy [`DEFAULT_PULL_POLICY`]), `backoffLimit: 2`, restart policy `Never`,
    /// the secret as `envFrom`, `env` as the operation's variable, [`STATS_ENV`], the CA
    /// bundle's ([`ca_bundle_env`]) and `additionalEnv`, the claim mounted at [`MOUNT_PATH`], the termination message at
    /// [`TERMINATION_LOG`] (the log's tail on error), and the original operator's hardened
    /// security context (non-root [`NOBODY`], read-only root filesystem, no privilege
    /// escalation, drop ALL, seccomp `RuntimeDefault`).
    pub(crate) fn build(self) -> Job {
        let or = |s: String, d: &str| if s.is_empty() { d.to_owned() } else { s };
        let mut env = self.first_env;
        env.extend(STATS_ENV.iter().map(|(k, v)| EnvVar::new(*k, *v)));
        env.extend(ca_bundle_env(self.secret));
        env.extend(self.additional_env.iter().map(ca_bundle_renamed));
        Job {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            metadata: ObjectMeta {
                name: self.name,
                namespace: self.namespace.to_owned(),
                labels: self.labels.clone(),
                owner_references: vec![self.owner],
                ..ObjectMeta::default()
            },
            spec: JobSpec {
                backoff_limit: BACKOFF_LIMIT,
                template: PodTemplateSpec {
                    metadata: TemplateMeta {
                        labels: self.labels,
                    },
                    spec: PodSpec {
                        restart_policy: "Never".into(),
                        containers: vec![Container {
                            name: "rclone".into(),
                            image: format!(
                                "{}:{}",
                                or(self.image.name, DEFAULT_IMAGE_NAME),
                                or(self.image.tag, DEFAULT_IMAGE_TAG)
                            ),
                            command: Vec::new(),
                            image_pull_policy: or(self.image.pull_policy, DEFAULT_PULL_POLICY),
                            env,
                            env_from: vec![EnvFromSource {
                                secret_ref: SecretRef {
                                    name: self.secret.to_owned(),
                                },
                            }],
                            volume_mounts: self
                                .claim
                                .map(|_| VolumeMount {
                                    name: VOLUME_NAME.into(),
                                    mount_path: MOUNT_PATH.into(),
                                })
                                .into_iter()
                                .collect(),
                            termination_message_path: TERMINATION_LOG.into(),
                            termination_message_policy: "FallbackToLogsOnError".into(),
                            security_context: Some(SecurityContext::hardened()),
                        }],
                        volumes: self
                            .claim
                            .map(|claim| Volume {
                                name: VOLUME_NAME.into(),
                                persistent_volume_claim: ClaimRef {
                                    claim_name: claim.to_owned(),
                                },
                            })
                            .into_iter()
                            .collect(),
                        security_context: Some(PodSecurityContext::hardened()),
                    },
                },
            },
            status: JobStatus::default(),
        }
    }
}

#[cfg(test)]
mod tests;
