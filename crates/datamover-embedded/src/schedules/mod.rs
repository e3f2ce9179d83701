//! The schedule reconciler on the embedded backend: children in the [`EmbeddedStore`](crate::store::EmbeddedStore).

use crate::cluster::{DeleteError, Embedded};
use crate::store::{Preconditions, StoreError};
use datamover::backend::ClusterError;
use datamover::job::Job;
use datamover::schedule::DataMoverSchedule;
use datamover::schedule::reconciler::ScheduleCluster;
use datamover::types::{DataMover, Kind};

impl ScheduleCluster for Embedded {
    fn schedule(&self, namespace: &str, name: &str) -> Option<DataMoverSchedule> {
        self.store.object::<DataMoverSchedule>(namespace, name)
    }

    fn owned(&self, namespace: &str, uid: &str) -> Vec<DataMover> {
        self.store.datamovers_owned_by(namespace, uid)
    }

    async fn create_datamover(&self, dm: DataMover) -> Result<(DataMover, bool), ClusterError> {
        let (ns, name) = (dm.metadata.namespace.clone(), dm.metadata.name.clone());
        match self.store.write(move |s| s.create(dm)).await {
            Ok(dm) => Ok((dm, true)),
            Err(StoreError::AlreadyExists { .. }) => self
                .store
                .object::<DataMover>(&ns, &name)
                .map(|dm| (dm, false))
                .ok_or_else(|| ClusterError::Volume(format!("the DataMover {ns}/{name} vanished"))),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_datamover(&self, dm: &DataMover) -> Result<(), ClusterError> {
        // Only the run the reconciler saw (its uid): another object made under its name
        // since is not this run to prune.
        let only = if dm.metadata.uid.is_empty() {
            Preconditions::default()
        } else {
            Preconditions::uid(dm.metadata.uid.clone())
        };
        match self
            .delete_object_if(
                Kind::DataMover,
                &dm.metadata.namespace,
                &dm.metadata.name,
                only,
            )
            .await
        {
            Ok(_) | Err(DeleteError::Store(StoreError::Precondition { .. })) => Ok(()),
            Err(DeleteError::Store(e)) => Err(e.into()),
            Err(e @ DeleteError::Clone { .. }) => Err(ClusterError::Volume(format!(
                "deleted the DataMover {}/{}, {e}",
                dm.metadata.namespace, dm.metadata.name
            ))),
        }
    }

    async fn write_status(
        &self,
        schedule: &DataMoverSchedule,
    ) -> Result<DataMoverSchedule, ClusterError> {
        let schedule = schedule.clone();
        Ok(self
            .store
            .write(move |s| s.update_status(&schedule))
            .await?)
    }

    fn prune_jobs(&self, namespace: &str, uid: &str) -> Vec<Job> {
        let mut jobs = self.store.objects::<Job>(Some(namespace));
        jobs.retain(|j| datamover::schedule::retention::is_prune(j) && j.metadata.owned_by(uid));
        jobs
    }

    fn all_datamovers(&self) -> Vec<DataMover> {
        self.store.objects::<DataMover>(None)
    }

    async fn create_prune_job(&self, job: Job) -> Result<(Job, bool), ClusterError> {
        self.create_or_adopt_job(job).await
    }

    async fn delete_prune_job(&self, job: &Job) -> Result<(), ClusterError> {
        let (ns, name) = (job.metadata.namespace.clone(), job.metadata.name.clone());
        self.store
            .write(move |s| s.delete(Kind::Job, &ns, &name))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
