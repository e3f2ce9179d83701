//! The prune Job: built by the one Job builder, owned by the schedule, mounting no volume.
//! Its pod lists the destination's folders, asks [`select`](super::select) (its rules in
//! [`RETENTION_ENV`]), and runs `rclone purge` on each folder it prunes (never `sync`);
//! with `dryRun` it purges nothing. The embedded executor runs it with the real rclone; on
//! Kubernetes the rclone image runs a script doing the same.

use super::Retention;
use crate::job::{Job, RcloneJob};
use crate::populator::job::OPERATION_LABEL;
use crate::schedule::{DataMoverSchedule, KIND, SCHEDULE_LABEL};
use crate::time;
use crate::types::{API_VERSION, DataMover, EnvVar, OwnerReference};
use std::collections::{BTreeMap, BTreeSet};

/// Annotation on a prune Job naming the run whose success it follows.
pub const AFTER_RUN_ANNOTATION: &str = "datamover.a-cup-of.coffee/after-run";
/// The prune container's rules, as [`Retention::encode`] writes them.
pub const RETENTION_ENV: &str = "RETENTION";
/// `true` when the prune deletes nothing.
pub const DRY_RUN_ENV: &str = "DRY_RUN";
/// The schedule's newest successful backup (its folder name): always kept.
pub const NEWEST_ENV: &str = "NEWEST_BACKUP";
/// The folders other live DataMovers wrote, space-separated: never candidates.
pub const EXCLUDED_ENV: &str = "EXCLUDED_BACKUPS";

/// Whether `job` is a prune Job.
#[must_use]
pub fn is_prune(job: &Job) -> bool {
    job.metadata.labels.get(OPERATION_LABEL).map(String::as_str) == Some("prune")
}

/// The prune Job's name after the run `run`: `<schedule>-prune-<unix minutes>` (the run's
/// minutes, from its name), at most 63 characters.
///
/// ```
/// assert_eq!(datamover::schedule::retention::prune_job_name("nightly", "nightly-29934000"), "nightly-prune-29934000");
/// ```
#[must_use]
pub fn prune_job_name(schedule: &str, run: &str) -> String {
    let minutes = run.rsplit('-').next().unwrap_or_default();
    let base: String = schedule.chars().take(45).collect();
    format!("{}-prune-{minutes}", base.trim_end_matches(['-', '.']))
}

/// The folder a DataMover wrote: the last part of its `status.destination`, when that is
/// a timestamp folder.
#[must_use]
pub fn folder_of(dm: &DataMover) -> Option<&str> {
    let last = dm
        .status
        .destination
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()?;
    time::is_prefix(last).then_some(last)
}

/// The folders the live DataMovers in `movers` that are not runs of `schedule` wrote: a
/// prune leaves them alone (compared by name, whatever their base: keeping a folder too
/// many is safe).
#[must_use]
pub fn excluded(schedule: &DataMoverSchedule, movers: &[DataMover]) -> BTreeSet<String> {
    movers
        .iter()
        .filter(|dm| {
            !dm.metadata
                .owner_references
                .iter()
                .any(|o| o.kind == KIND && o.uid == schedule.metadata.uid)
        })
        .filter_map(folder_of)
        .map(str::to_owned)
        .collect()
}

/// The prune Job of `schedule` after its successful run `run` (whose folder is the newest
/// backup), leaving `excluded` alone: [`RETENTION_ENV`], [`DRY_RUN_ENV`], [`NEWEST_ENV`],
/// [`EXCLUDED_ENV`] and `additionalEnv` as `env`, the secret as `envFrom`, no volume,
/// owned by the schedule.
#[must_use]
pub fn prune_job(
    schedule: &DataMoverSchedule,
    retention: &Retention,
    run: &DataMover,
    excluded: &BTreeSet<String>,
) -> Job {
    let name = &schedule.metadata.name;
    let labels = BTreeMap::from([
        (OPERATION_LABEL.to_owned(), "prune".to_owned()),
        (SCHEDULE_LABEL.to_owned(), name.clone()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "datamover-operator".to_owned(),
        ),
    ]);
    let excluded: Vec<&str> = excluded.iter().map(String::as_str).collect();
    RcloneJob {
        name: prune_job_name(name, &run.metadata.name),
        namespace: &schedule.metadata.namespace,
        labels,
        owner: OwnerReference {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            name: name.clone(),
            uid: schedule.metadata.uid.clone(),
            controller: true,
            block_owner_deletion: true,
        },
        image: schedule.spec.image.clone().unwrap_or_default(),
        first_env: vec![
            EnvVar::new(RETENTION_ENV, retention.encode()),
            EnvVar::new(DRY_RUN_ENV, retention.dry_run.to_string()),
            EnvVar::new(NEWEST_ENV, folder_of(run).unwrap_or_default()),
            EnvVar::new(EXCLUDED_ENV, excluded.join(" ")),
        ],
        additional_env: &schedule.spec.additional_env,
        secret: &schedule.spec.secret_name,
        claim: None,
    }
    .build()
}
