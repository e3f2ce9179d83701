//! The schedule reconciler ([`datamover::schedule::reconciler`], the very one the embedded
//! backend runs) on Kubernetes: the schedule and its DataMovers from the reflector caches,
//! the DataMover created with a POST (a 409 adopts the run a previous attempt created), a
//! finished run deleted with `propagationPolicy: Background` (the garbage collector then
//! deletes the clone and the Job it owns), and the status written as a merge patch on the
//! status subresource with the resourceVersion as precondition.

use super::{FIELD_MANAGER, KubeCluster, cached};
use crate::api;
use crate::crd;
use datamover::backend::ClusterError;
use datamover::job::Job as SyncJob;
use datamover::schedule::DataMoverSchedule;
use datamover::schedule::reconciler::ScheduleCluster;
use datamover::types::DataMover;
use kube::api::{DeleteParams, Patch, PatchParams};

/// The merge patch of a schedule's status write: the new status, `null` for the fields it
/// drops, and the resourceVersion precondition.
#[must_use]
pub fn schedule_status_patch(
    old: Option<&DataMoverSchedule>,
    new: &DataMoverSchedule,
) -> serde_json::Value {
    let mut status = serde_json::to_value(&new.status).unwrap_or_default();
    if let (Some(old), Some(map)) = (old, status.as_object_mut())
        && let Ok(serde_json::Value::Object(before)) = serde_json::to_value(&old.status)
    {
        for k in before.keys() {
            map.entry(k.clone()).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({
        "metadata": {"resourceVersion": new.metadata.resource_version},
        "status": status,
    })
}

impl ScheduleCluster for KubeCluster {
    fn schedule(&self, namespace: &str, name: &str) -> Option<DataMoverSchedule> {
        cached(self, namespace, name)
    }

    fn owned(&self, namespace: &str, uid: &str) -> Vec<DataMover> {
        self.inner
            .datamovers
            .state()
            .iter()
            .filter(|d| {
                d.metadata.namespace.as_deref() == Some(namespace)
                    && crate::objects::owned_by(&d.metadata, uid)
            })
            .map(|d| crd::to_datamover(d))
            .collect()
    }

    async fn create_datamover(&self, dm: DataMover) -> Result<(DataMover, bool), ClusterError> {
        let ns = dm.metadata.namespace.clone();
        let owner = dm
            .metadata
            .owner_references
            .first()
            .map(|r| r.uid.clone())
            .unwrap_or_default();
        let api = self.ns::<crd::DataMover>(&ns);
        let mut object = crd::from_datamover(&dm);
        // A new object: no status (the status subresource ignores it on create anyway).
        object.status = None;
        let context = format!("starting the scheduled run {ns}/{}", dm.metadata.name);
        let (created, fresh) = self
            .create_or_adopt(
                &api,
                &object,
                ("DataMoverSchedule", &owner),
                ("create-datamover", "get-datamover"),
                &context,
                ClusterError::Volume,
            )
            .await?;
        let readable = crd::to_datamover(&created);
        // Cached at once: the next reconcile sees its run before the watch event.
        self.inner.datamovers.remember(created);
        Ok((readable, fresh))
    }

    async fn delete_datamover(&self, dm: &DataMover) -> Result<(), ClusterError> {
        let (ns, name) = (&dm.metadata.namespace, &dm.metadata.name);
        let api = self.ns::<crd::DataMover>(ns);
        // Background: the API server's garbage collector deletes what the DataMover owns
        // (its clone, its Job) after it. Only the run the reconciler saw (its uid): another
        // object made under its name since is not this run to prune.
        let mut dp = DeleteParams::background();
        if !dm.metadata.uid.is_empty() {
            dp = dp.preconditions(kube::api::Preconditions {
                uid: Some(dm.metadata.uid.clone()),
                resource_version: None,
            });
        }
        match self
            .call("delete-datamover", || api.delete(name, &dp))
            .await
        {
            Ok(_) => Ok(()),
            // Gone already, or another object under its name (the uid precondition failed).
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(api::cluster_error(
                &e,
                ns,
                &format!("deleting the finished run {ns}/{name}"),
                ClusterError::Volume,
            )),
        }
    }

    async fn write_status(
        &self,
        schedule: &DataMoverSchedule,
    ) -> Result<DataMoverSchedule, ClusterError> {
        let (ns, name) = (&schedule.metadata.namespace, &schedule.metadata.name);
        let old: Option<DataMoverSchedule> = cached(self, ns, name);
        let body = schedule_status_patch(old.as_ref(), schedule);
        let api = self.ns::<crd::DataMoverSchedule>(ns);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(&body);
        let raw = self
            .call("patch-schedule-status", || {
                api.patch_status(name, &params, &patch)
            })
            .await
            .map_err(|e| {
                let context = if e.is_conflict() {
                    format!(
                        "writing the status of DataMoverSchedule {ns}/{name}: resourceVersion {} is stale",
                        schedule.metadata.resource_version
                    )
                } else {
                    format!("writing the status of DataMoverSchedule {ns}/{name}")
                };
                api::cluster_error(&e, ns, &context, ClusterError::Volume)
            })?;
        let written = (&raw).into();
        self.inner
            .schedules
            .remember_update(raw, &schedule.metadata.resource_version);
        Ok(written)
    }

    fn prune_jobs(&self, namespace: &str, uid: &str) -> Vec<SyncJob> {
        self.cached_prune_jobs(namespace, uid)
    }

    fn all_datamovers(&self) -> Vec<DataMover> {
        self.cached_datamovers()
    }

    async fn create_prune_job(&self, job: SyncJob) -> Result<(SyncJob, bool), ClusterError> {
        self.create_prune(job).await
    }

    async fn delete_prune_job(&self, job: &SyncJob) -> Result<(), ClusterError> {
        self.delete_prune(job).await
    }
}
