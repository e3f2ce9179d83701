//! The prune pod on the embedded backend: `rclone lsf --dirs-only <destination>`, the
//! retention [selection](datamover::schedule::retention::select), then `rclone purge
//! <destination>/<folder>` for each folder it prunes (never `sync`), one at a time, and
//! nothing with `DRY_RUN=true`. Before listing and before each purge it checks that no run
//! of its schedule is active; the folders live DataMovers of other schedules wrote are read
//! again from the store when it starts.

use super::Pod;
use super::rclone_pods::RclonePods;
use crate::rclone::{self, Plan};
use crate::store::EmbeddedStore;
use datamover::job::{self, Job};
use datamover::progress::SyncProgress;
use datamover::schedule::retention::{
    self, DRY_RUN_ENV, EXCLUDED_ENV, NEWEST_ENV, RETENTION_ENV, Retention, Selection,
};
use datamover::schedule::{DataMoverSchedule, KIND};
use datamover::types::DataMover;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};

/// What succeeded prune pods decided, by Job uid, until the worker takes it into the Job's
/// status.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selections(Arc<Mutex<HashMap<String, Selection>>>);

impl Selections {
    fn put(&self, uid: String, selection: Selection) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uid, selection);
    }

    /// The selection of the Job with `uid`, once.
    pub(crate) fn take(&self, uid: &str) -> Option<Selection> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid)
    }
}

/// Runs `rclone <args>` for the Job with `uid` to its end; its standard output.
async fn run(rclone: &Path, args: &[&str], plan: &Plan, uid: &str) -> Result<String, String> {
    let mut command = tokio::process::Command::new(rclone);
    command
        .args(args)
        .args(["--retries", "1", "--contimeout", "5s", "--timeout", "60s"])
        .arg(rclone::marker(uid));
    rclone::environment(&mut command, plan);
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (install rclone or pass --rclone PATH)",
                rclone.display()
            )
        })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    Err(plan.scrub(&format!(
        "rclone {} exited with {}: {last}",
        args.first().copied().unwrap_or_default(),
        output.status
    )))
}

/// The run of the schedule with `uid` in `namespace` still going, if any.
fn active_run(store: &EmbeddedStore, namespace: &str, uid: &str) -> Option<String> {
    store
        .datamovers_owned_by(namespace, uid)
        .into_iter()
        .find(|dm| {
            !matches!(
                dm.status.phase.as_str(),
                datamover::reconciler::phase::COMPLETED | datamover::reconciler::phase::FAILED
            )
        })
        .map(|dm| dm.metadata.name)
}

/// What one prune pod does, decided when it starts.
struct Prune {
    rclone: PathBuf,
    store: Arc<EmbeddedStore>,
    namespace: String,
    schedule_uid: String,
    job_uid: String,
    plan: Plan,
    rules: Retention,
    dry_run: bool,
    newest: String,
    excluded: BTreeSet<String>,
}

impl Prune {
    fn refuse_while_active(&self, before: &str) -> Result<(), String> {
        match active_run(&self.store, &self.namespace, &self.schedule_uid) {
            Some(run) => Err(format!(
                "the run {run} of the schedule started: nothing more is pruned while it is active (stopped before {before})"
            )),
            None => Ok(()),
        }
    }

    async fn run(self) -> Result<Selection, String> {
        self.refuse_while_active("listing the destination")?;
        let base = &self.plan.destination;
        let listing = run(
            &self.rclone,
            &["lsf", "--dirs-only", base],
            &self.plan,
            &self.job_uid,
        )
        .await
        .map_err(|e| format!("listing the backups at {}: {e}", self.plan.scrub(base)))?;
        let folders: Vec<String> = listing
            .lines()
            .map(|l| l.trim_end_matches('/').to_owned())
            .collect();
        let newest = (!self.newest.is_empty()).then_some(self.newest.as_str());
        let selection = retention::select(&self.rules, &folders, &self.excluded, newest);
        if self.dry_run {
            return Ok(selection);
        }
        for (done, name) in selection.pruned.iter().enumerate() {
            self.refuse_while_active(name)?;
            let target = format!("{base}/{name}");
            run(&self.rclone, &["purge", &target], &self.plan, &self.job_uid)
                .await
                .map_err(|e| {
                    format!(
                        "purging {name} (after {done} of {} pruned): {e}",
                        selection.pruned.len()
                    )
                })?;
        }
        Ok(selection)
    }
}

impl RclonePods {
    /// A prune Job's pod (see the module docs).
    pub(super) fn start_prune(&self, job: &Job) -> Result<Pod, String> {
        let ns = &job.metadata.namespace;
        let container = job.container().ok_or("the Job has no container")?;
        let (secret_name, values) = self.secret_values(job)?;
        let ours = [RETENTION_ENV, DRY_RUN_ENV, NEWEST_ENV, EXCLUDED_ENV];
        let env = |name: &str| {
            container
                .env
                .iter()
                .find(|e| e.name == name)
                .map(|e| e.value.clone())
                .unwrap_or_default()
        };
        let rules =
            Retention::decode(&env(RETENTION_ENV)).map_err(|e| format!("{RETENTION_ENV}: {e}"))?;
        rules
            .check()
            .map_err(|(field, problem)| format!("{field}: {problem}"))?;
        // As a kubelet would: `valueFrom` of the Job's own secret (the CA bundle) resolved.
        let mut extra: Vec<(String, String)> = Vec::new();
        for e in container
            .env
            .iter()
            .filter(|e| !job::is_stats_env(e) && !ours.contains(&e.name.as_str()))
        {
            if let Some(value) = super::rclone_pods::env_value(e, &secret_name, &values)? {
                extra.push((e.name.clone(), value));
            }
        }
        crate::policy::check_env(&extra)?;
        let plan =
            Plan::new(&values, &extra, None).map_err(|e| format!("secret {secret_name}: {e}"))?;
        self.cluster
            .policy
            .check_destination(&plan.destination, &plan.env, None)?;
        let schedule_uid = job
            .metadata
            .owner_references
            .iter()
            .find(|o| o.kind == KIND)
            .map(|o| o.uid.clone())
            .ok_or("the prune Job has no DataMoverSchedule owner")?;
        let store = Arc::clone(&self.cluster.store);
        let schedule = store
            .objects::<DataMoverSchedule>(Some(ns))
            .into_iter()
            .find(|s| s.metadata.uid == schedule_uid)
            .ok_or("the prune Job's DataMoverSchedule is gone")?;
        let mut excluded: BTreeSet<String> = env(EXCLUDED_ENV)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        excluded.extend(retention::excluded(
            &schedule,
            &store.objects::<DataMover>(None),
        ));
        let prune = Prune {
            rclone: self.cluster.rclone.clone(),
            store,
            namespace: ns.clone(),
            schedule_uid,
            job_uid: job.metadata.uid.clone(),
            plan,
            rules,
            dry_run: env(DRY_RUN_ENV) == "true",
            newest: env(NEWEST_ENV),
            excluded,
        };
        let (selections, uid) = (self.selections.clone(), job.metadata.uid.clone());
        Ok(Pod {
            pid: None,
            exit: Box::pin(async move {
                let selection = prune.run().await?;
                tracing::info!(job_uid = %uid, kept = selection.kept.len(), pruned = selection.pruned.len(), "prune pod done");
                selections.put(uid, selection);
                Ok(SyncProgress::default())
            }),
        })
    }
}
