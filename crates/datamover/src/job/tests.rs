//! The Job builder and the one rule of how a Job ended.

use super::*;
use crate::types::Condition;

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
    // copyMethod: Direct reads the source PVC itself.
    let mut direct = dm;
    direct.spec.source_pvc = "data".into();
    direct.spec.copy_method = crate::types::CopyMethod::Direct;
    assert_eq!(sync_job(&direct).claim_name(), Some("data"));
    let c = job.container().unwrap();
    assert_eq!(c.image, "ghcr.io/qjoly/datamover-rclone:latest");
    let env: Vec<(&str, &str)> = c
        .env
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_str()))
        .collect();
    // The one Job of both backends: the stats variables the kubelet's termination
    // message needs and the CA bundle's come between the operation's variable and
    // additionalEnv.
    assert_eq!(
        env,
        [
            ("ADD_TIMESTAMP_PREFIX", "true"),
            ("RCLONE_USE_JSON_LOG", "true"),
            ("RCLONE_STATS", "1m"),
            ("RCLONE_STATS_LOG_LEVEL", "NOTICE"),
            ("RCLONE_LOG_FILE", "/dev/termination-log"),
            ("RCLONE_CA_CERT", ""),
            ("AWS_CA_BUNDLE", ""),
            ("RCLONE_BWLIMIT", "1M")
        ]
    );
    assert_eq!(
        c.env[5].value_from,
        Some(
            serde_json::json!({"secretKeyRef": {"name": "creds", "key": "AWS_CA_BUNDLE", "optional": true}})
        )
    );
    assert!(c.env.iter().filter(|e| is_stats_env(e)).count() == 4);
    assert_eq!(c.termination_message_path, TERMINATION_LOG);
    use tmc_runtime::Owned;
    assert_eq!(
        job.owners("DataMover"),
        [tmc_runtime::ObjectKey::namespaced("prod", "nightly")]
    );
    assert!(job.owners("Other").is_empty());
    assert_eq!(job.outcome(), None);
}

/// rclone's S3 client fails whenever `AWS_CA_BUNDLE` is set: the bundle an
/// `additionalEnv` entry names reaches rclone as its `--ca-cert`, never as itself.
#[test]
fn an_aws_ca_bundle_in_additional_env_becomes_rclones_ca_cert() {
    let mut dm = DataMover::default();
    dm.spec.secret_name = "creds".into();
    dm.spec.additional_env = vec![EnvVar::new("AWS_CA_BUNDLE", "/etc/ssl/corp.pem")];
    let job = sync_job(&dm);
    let env: Vec<(&str, &str)> = job
        .container()
        .unwrap()
        .env
        .iter()
        .skip(5)
        .map(|e| (e.name.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("RCLONE_CA_CERT", ""),
            ("AWS_CA_BUNDLE", ""),
            ("RCLONE_CA_CERT", "/etc/ssl/corp.pem")
        ]
    );
}

/// The folder a prefixed Job's pods write into on the embedded backend: its creation
/// second; nothing without the prefix or a creation time. `env` reads what a pod sees:
/// the last entry of a name.
#[test]
fn a_prefixed_job_names_the_folder_of_its_creation_second() {
    let mut dm = DataMover::default();
    dm.spec.add_timestamp_prefix = true;
    let mut job = sync_job(&dm);
    assert_eq!(job.creation_folder(), None, "not created yet");
    job.metadata.creation_timestamp = "2026-12-06T05:12:09Z".into();
    assert_eq!(job.creation_folder().as_deref(), Some("2026-12-06-051209"));
    dm.spec.add_timestamp_prefix = false;
    let mut plain = sync_job(&dm);
    plain.metadata.creation_timestamp = "2026-12-06T05:12:09Z".into();
    assert_eq!(plain.creation_folder(), None);

    dm.spec.additional_env = vec![
        EnvVar::new(TIMESTAMP_FOLDER_ENV, "a"),
        EnvVar::new(TIMESTAMP_FOLDER_ENV, "b"),
    ];
    assert_eq!(sync_job(&dm).env(TIMESTAMP_FOLDER_ENV), Some("b"));
    assert_eq!(sync_job(&dm).env("ADD_TIMESTAMP_PREFIX"), Some("false"));
    assert_eq!(sync_job(&dm).env("UNSET"), None);
    // A secret's value is not known here.
    assert_eq!(sync_job(&dm).env(RCLONE_CA_CERT), None);
}

#[test]
fn a_job_ends_by_its_conditions_not_by_its_pod_counts() {
    let mut job = sync_job(&DataMover::default());
    assert_eq!(job.outcome(), None);
    job.status.failed = 3;
    job.status.succeeded = 1;
    assert_eq!(job.outcome(), None, "counts alone end nothing");
    job.status.conditions.push(Condition {
        type_: "Failed".into(),
        status: "True".into(),
        reason: "BackoffLimitExceeded".into(),
        message: "the last one: boom".into(),
        ..Condition::default()
    });
    assert_eq!(
        job.outcome(),
        Some(JobOutcome::Failed(
            "BackoffLimitExceeded: the last one: boom".into()
        ))
    );
    let mut done = sync_job(&DataMover::default());
    done.status.conditions.push(Condition {
        type_: "Complete".into(),
        status: "True".into(),
        ..Condition::default()
    });
    assert_eq!(done.outcome(), Some(JobOutcome::Complete));
}
