//! The restore reconciler: a controller over PVCs that owns their restore Jobs.
//!
//! For a `Pending` PVC whose `dataSourceRef` names a DataMoverPopulator: check the
//! populator and its secret, create the restore Job and return; the Job's status changes
//! bring the PVC back. `Complete`: the PVC is `Bound` (`Restored=True`); `Failed`: it stays
//! `Pending` with `Restored=False`, reason `RestoreFailed` and the last pod's error. Metrics
//! are recorded after the status write that makes them true.

use crate::cluster::Embedded;
use crate::store::StoreError;
use datamover::backend::ClusterError;
use datamover::job::Job;
use datamover::job::JobOutcome;
use datamover::populator::DataMoverPopulator;
use datamover::populator::job::{restore_job, restore_job_name};
use datamover::reconciler::ReconcileError;
use datamover::time;
use datamover::types::{Condition, PersistentVolumeClaim, Secret};
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::{MetricsCollector, Outcome};
use tmc_runtime::Action;

/// What the restore reconciler needs.
#[derive(Debug)]
pub struct PopulatorContext {
    /// The embedded backend.
    pub cluster: Arc<Embedded>,
    /// Where the `datamover_restore_*` metrics go.
    pub metrics: MetricsCollector,
}

fn set_condition(pvc: &mut PersistentVolumeClaim, ok: bool, reason: &str, message: &str) {
    datamover::conditions::set(&mut pvc.status.conditions, "Restored", ok, reason, message);
}

fn restored(pvc: &PersistentVolumeClaim) -> Option<&Condition> {
    pvc.status.conditions.iter().find(|c| c.type_ == "Restored")
}

async fn write(ctx: &PopulatorContext, pvc: &PersistentVolumeClaim) -> Result<(), ReconcileError> {
    let pvc = pvc.clone();
    match ctx
        .cluster
        .store
        .write(move |s| s.update_status(&pvc))
        .await
    {
        Ok(_) => Ok(()),
        Err(e @ StoreError::Conflict { .. }) => Err(ReconcileError::Conflict(e.to_string())),
        Err(e) => Err(ClusterError::from(e).into()),
    }
}

/// Reconciles one PVC's restore one step. See the [module docs](self).
///
/// # Errors
/// [`ReconcileError`] when a write conflicts or the store fails; the step is retried.
pub async fn reconcile(
    object: Arc<PersistentVolumeClaim>,
    ctx: Arc<PopulatorContext>,
) -> Result<Action, ReconcileError> {
    let store = &ctx.cluster.store;
    let (ns, name) = (&object.metadata.namespace, &object.metadata.name);
    let Some(mut pvc) = store.object::<PersistentVolumeClaim>(ns, name) else {
        return Ok(Action::await_change());
    };
    let Some(source) = datamover::populator::source_of(&pvc).map(str::to_owned) else {
        return Ok(Action::await_change());
    };
    let failed = restored(&pvc).is_some_and(|c| c.reason == "RestoreFailed");
    if pvc.status.phase == "Bound" || failed {
        return Ok(Action::await_change());
    }
    let job_name = restore_job_name(name, &pvc.metadata.uid);
    let Some(job) = store.object::<Job>(ns, &job_name) else {
        let Some(populator) = store.object::<DataMoverPopulator>(ns, &source) else {
            let msg = format!(
                "the DataMoverPopulator {ns}/{source} (spec.dataSourceRef.name) does not exist: create it"
            );
            set_condition(&mut pvc, false, "PopulatorNotFound", &msg);
            write(&ctx, &pvc).await?;
            return Ok(Action::requeue(datamover::populator::RETRY_MISSING));
        };
        let secret = &populator.spec.secret_name;
        if store.object::<Secret>(ns, secret).is_none() {
            let msg = format!(
                "the secret {ns}/{secret} of DataMoverPopulator {source} does not exist: create it"
            );
            set_condition(&mut pvc, false, "SecretNotFound", &msg);
            write(&ctx, &pvc).await?;
            return Ok(Action::requeue(datamover::populator::RETRY_MISSING));
        }
        let job = restore_job(&pvc, &populator);
        let created = match store.write(move |s| s.create(job)).await {
            Ok(_) => true,
            Err(StoreError::AlreadyExists { .. }) => false,
            Err(e) => return Err(ClusterError::from(e).into()),
        };
        if created {
            ctx.metrics.datamover_restore_started(ns);
        }
        let msg = format!(
            "restoring {} of DataMoverPopulator {source} (Job {job_name})",
            populator.spec.path
        );
        set_condition(&mut pvc, false, "Restoring", &msg);
        write(&ctx, &pvc).await?;
        return Ok(Action::await_change());
    };
    let took = || {
        let start = time::parse_rfc3339(&job.metadata.creation_timestamp).unwrap_or(0);
        Duration::from_millis(time::now_ms().saturating_sub(start))
    };
    match job.outcome() {
        None => Ok(Action::await_change()),
        Some(JobOutcome::Complete) => {
            if let Err(message) = move_into_place(&ctx, ns, name).await {
                set_condition(&mut pvc, false, "RestoreFailed", &message);
                write(&ctx, &pvc).await?;
                ctx.metrics
                    .datamover_restore_finished(ns, Outcome::Failure, took(), 0);
                tracing::warn!(pvc = %format!("{ns}/{name}"), %message, "restore failed");
                return Ok(Action::await_change());
            }
            let p = job.status.progress.unwrap_or_default();
            let msg = format!(
                "restored from DataMoverPopulator {source}: {} bytes, {} files",
                p.bytes, p.files
            );
            pvc.status.phase = "Bound".into();
            set_condition(&mut pvc, true, "Restored", &msg);
            write(&ctx, &pvc).await?;
            ctx.metrics
                .datamover_restore_finished(ns, Outcome::Success, took(), p.bytes);
            tracing::info!(pvc = %format!("{ns}/{name}"), bytes = p.bytes, files = p.files, "restore complete");
            Ok(Action::await_change())
        }
        Some(JobOutcome::Failed(message)) => {
            set_condition(&mut pvc, false, "RestoreFailed", &message);
            write(&ctx, &pvc).await?;
            ctx.metrics
                .datamover_restore_finished(ns, Outcome::Failure, took(), 0);
            tracing::warn!(pvc = %format!("{ns}/{name}"), %message, "restore failed");
            Ok(Action::await_change())
        }
    }
}

/// Moves a completed restore's copy from its staging dir into the PVC's directory, whole
/// (one rename), right before the PVC is written `Bound`: nothing is in the PVC's
/// directory before. Already in place (the rename done, the status write lost): nothing
/// to do.
///
/// # Errors
/// A message naming the directory when the copy is missing or cannot be moved.
async fn move_into_place(ctx: &PopulatorContext, ns: &str, name: &str) -> Result<(), String> {
    let volumes = &ctx.cluster.volumes;
    let (staging, target) = (volumes.restore_staging(ns, name), volumes.dir(ns, name));
    let exists = |dir: std::path::PathBuf| async move {
        tokio::fs::try_exists(&dir)
            .await
            .map_err(|e| format!("checking {}: {e}", dir.display()))
    };
    if !exists(staging.clone()).await? {
        return if exists(target.clone()).await? {
            Ok(())
        } else {
            Err(format!(
                "the restored copy is gone from {}: delete the PVC and restore again",
                staging.display()
            ))
        };
    }
    let _ = tokio::fs::remove_dir_all(&target).await;
    tokio::fs::rename(&staging, &target)
        .await
        .map_err(|e| format!("renaming the restored data into {}: {e}", target.display()))
}
