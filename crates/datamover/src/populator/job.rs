//! The restore Job: `batch/v1`-shaped like the sync Job, owned by the PVC it fills.

use super::DataMoverPopulator;
#[cfg(doc)]
use crate::job::STATS_ENV;
use crate::job::{Job, RcloneJob};
use crate::types::{EnvVar, OwnerReference, PersistentVolumeClaim};
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

/// The Job that fills `pvc` from `populator`'s backup: `RESTORE_PATH`, [`STATS_ENV`], the CA
/// bundle's ([`ca_bundle_env`](crate::job::ca_bundle_env)) and `additionalEnv` as `env`, the PVC mounted at `/data/`, owned by the PVC; the rest as
/// every Job (the secret as `envFrom`, `backoffLimit: 2`, the image, the hardened pod).
#[must_use]
pub fn restore_job(pvc: &PersistentVolumeClaim, populator: &DataMoverPopulator) -> Job {
    let labels = BTreeMap::from([
        (OPERATION_LABEL.to_owned(), "restore".to_owned()),
        (POPULATOR_LABEL.to_owned(), populator.metadata.name.clone()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "datamover-operator".to_owned(),
        ),
    ]);
    RcloneJob {
        name: restore_job_name(&pvc.metadata.name, &pvc.metadata.uid),
        namespace: &pvc.metadata.namespace,
        labels,
        owner: OwnerReference {
            api_version: "v1".into(),
            kind: "PersistentVolumeClaim".into(),
            name: pvc.metadata.name.clone(),
            uid: pvc.metadata.uid.clone(),
            controller: true,
            block_owner_deletion: true,
        },
        image: populator.spec.image.clone().unwrap_or_default(),
        first_env: vec![EnvVar::new(RESTORE_PATH_ENV, populator.spec.path.clone())],
        additional_env: &populator.spec.additional_env,
        secret: &populator.spec.secret_name,
        claim: Some(&pvc.metadata.name),
    }
    .build()
}
