//! [`Embedded`]: the [`Cluster`] the reconcilers talk to on one machine. Objects live in the
//! [`EmbeddedStore`], volumes are directories laid out by [`Volumes`], and sync Jobs
//! are run by the [`executor`](crate::executor) with the real rclone.

use crate::policy::Policy;
use crate::rclone::Plan;
use crate::store::{EmbeddedStore, Preconditions, StoreError};
use crate::volumes::Volumes;
use datamover::backend::{CloneState, Cluster, ClusterError, SyncRequest};
use datamover::job::{self, Job};
use datamover::schedule::DataMoverSchedule;
use datamover::types::*;
use std::path::PathBuf;
use std::sync::Arc;

/// One machine, no Kubernetes: objects in [`EmbeddedStore`], volumes as directories under
/// `<data-dir>/volumes/<namespace>/<name>`, sync jobs run by the real rclone.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The object store.
    pub store: Arc<EmbeddedStore>,
    /// Where volumes live: `<data-dir>/volumes`.
    pub volumes: Volumes,
    /// The rclone binary.
    pub rclone: PathBuf,
    /// The host paths and local destinations allowed; checked again before each clone and sync.
    pub policy: Arc<Policy>,
}

impl Embedded {
    /// The directory holding a PVC's data.
    #[must_use]
    pub fn volume_dir(&self, pvc: &PersistentVolumeClaim) -> PathBuf {
        self.volumes.of(pvc)
    }
    /// Deletes `kind namespace/name` and, as owner references would on Kubernetes, the
    /// clones it owns with their data: a DataMover's clone, and each run's clone of a
    /// schedule (the store cascades the rest: Jobs, runs). `Ok(false)` when there was no
    /// such object.
    ///
    /// # Errors
    /// [`DeleteError::Store`] when nothing was deleted; [`DeleteError::Clone`] when the
    /// object is gone but a clone's directory could not be removed.
    pub async fn delete_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<bool, DeleteError> {
        self.delete_object_if(kind, namespace, name, Preconditions::default())
            .await
    }

    /// [`delete_object`](Self::delete_object) when the stored object meets `preconditions`
    /// (its uid, its resourceVersion), checked and deleted as one step under the store's
    /// write lock ([`EmbeddedStore::delete_if`]); the clones deleted are those of the
    /// DataMovers that step removed.
    ///
    /// # Errors
    /// As [`delete_object`](Self::delete_object); [`DeleteError::Store`] with
    /// [`StoreError::Precondition`] when the object fails `preconditions` (nothing deleted).
    pub async fn delete_object_if(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        preconditions: Preconditions,
    ) -> Result<bool, DeleteError> {
        let (ns, n) = (namespace.to_owned(), name.to_owned());
        let removed = self
            .store
            .write(move |s| s.delete_if(kind, &ns, &n, &preconditions))
            .await
            .map_err(DeleteError::Store)?;
        if removed.is_empty() {
            return Ok(false);
        }
        let clones: Vec<String> = if matches!(kind, Kind::DataMover | Kind::DataMoverSchedule) {
            removed
                .into_iter()
                .filter_map(|o| match o {
                    datamover::manifest::Object::DataMover(dm) => Some(dm.status.restored_pvc_name),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        for clone in clones.into_iter().filter(|c| !c.is_empty()) {
            self.delete_pvc(namespace, &clone)
                .await
                .map_err(|e| DeleteError::Clone {
                    clone,
                    message: e.to_string(),
                })?;
        }
        Ok(true)
    }
}

/// Why [`Embedded::delete_object`] failed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// The store failed: nothing was deleted.
    #[error(transparent)]
    Store(StoreError),
    /// The object is deleted, but not its clone's directory.
    #[error("but not the clone {clone}: {message}")]
    Clone {
        /// The clone's name.
        clone: String,
        /// Why.
        message: String,
    },
}

impl Cluster for Embedded {
    fn datamover(&self, namespace: &str, name: &str) -> Option<DataMover> {
        self.store.object::<DataMover>(namespace, name)
    }

    async fn write_status(&self, dm: &DataMover) -> Result<DataMover, ClusterError> {
        let dm = dm.clone();
        Ok(self.store.write(move |s| s.update_status(&dm)).await?)
    }

    async fn claim_clone_name(
        &self,
        dm: &DataMover,
        unix_seconds: u64,
    ) -> Result<DataMover, ClusterError> {
        let dm = dm.clone();
        Ok(self
            .store
            .write(move |s| s.claim_clone_name(&dm, unix_seconds))
            .await?)
    }

    fn pvc(&self, namespace: &str, name: &str) -> Option<PersistentVolumeClaim> {
        self.store.object::<PersistentVolumeClaim>(namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.store.object::<Secret>(namespace, name)
    }

    async fn clone_pvc(
        &self,
        namespace: &str,
        source: &PersistentVolumeClaim,
        clone: &str,
    ) -> Result<CloneState, ClusterError> {
        if let Some(existing) = self.store.object::<PersistentVolumeClaim>(namespace, clone) {
            // Ours (a clone of this source) or a foreign PVC that took the name.
            if crate::clones::clone_source(&existing) != Some(&source.metadata.name) {
                return Err(ClusterError::Volume(format!(
                    "the PVC {namespace}/{clone} exists and is not a clone of {}",
                    source.metadata.name
                )));
            }
            return match crate::clones::clone_failure(&existing) {
                Some(reason) => Err(ClusterError::Volume(reason.to_owned())),
                None if existing.status.phase == "Bound" => Ok(CloneState::Bound),
                None => Ok(CloneState::Pending),
            };
        }
        if let Some(host) = source.metadata.annotations.get(HOST_PATH_ANNOTATION) {
            self.policy
                .check_host_path(host)
                .map_err(ClusterError::Volume)?;
        }
        let from = self.volume_dir(source);
        if !tokio::fs::metadata(&from).await.is_ok_and(|m| m.is_dir()) {
            return Err(ClusterError::Volume(format!(
                "the source volume {} is not a directory",
                from.display()
            )));
        }
        // Owned by the DataMover that claimed the name: deleting it deletes its clone.
        let owner = self
            .store
            .find(namespace, |dm: &DataMover| {
                dm.status.restored_pvc_name == clone
            })
            .ok_or_else(|| {
                ClusterError::Volume(format!(
                    "no DataMover in {namespace} claims the clone {clone}"
                ))
            })?;
        let mut pvc = PersistentVolumeClaim {
            api_version: "v1".into(),
            kind: "PersistentVolumeClaim".into(),
            metadata: ObjectMeta {
                name: clone.to_owned(),
                namespace: namespace.to_owned(),
                owner_references: vec![OwnerReference {
                    api_version: format!("{GROUP}/{VERSION}"),
                    kind: "DataMover".into(),
                    name: owner.metadata.name.clone(),
                    uid: owner.metadata.uid,
                    controller: true,
                    block_owner_deletion: true,
                }],
                ..ObjectMeta::default()
            },
            spec: source.spec.clone(),
            status: PvcStatus {
                phase: "Pending".into(),
                ..PvcStatus::default()
            },
        };
        pvc.spec.data_source = Some(
            serde_json::json!({"kind": "PersistentVolumeClaim", "name": source.metadata.name}),
        );
        pvc.spec.data_source_ref = None;
        pvc.metadata.labels.insert(
            "datamover.a-cup-of.coffee/clone-of".into(),
            source.metadata.name.clone(),
        );
        self.store.write(move |s| s.put_pvc(pvc)).await?;
        // The provisioner copies it; its `Bound` event brings the DataMover back.
        Ok(CloneState::Pending)
    }

    async fn delete_pvc(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        self.volumes
            .remove(namespace, name)
            .await
            .map_err(ClusterError::Volume)?;
        let (ns, name) = (namespace.to_owned(), name.to_owned());
        self.store
            .write(move |s| s.delete(Kind::PersistentVolumeClaim, &ns, &name))
            .await?;
        Ok(())
    }

    fn check_sync(&self, request: &SyncRequest) -> Result<String, String> {
        Plan::new(
            &request.secret,
            &request.extra_env,
            request.prefix.as_deref(),
        )
        .map(|p| p.destination)
    }

    fn job(&self, namespace: &str, name: &str) -> Option<Job> {
        self.store.object::<Job>(namespace, name)
    }

    /// The DataMovers come with an empty `status`: the overlap rule reads their metadata
    /// and spec only, and copying every status (conditions, progress, messages) for every
    /// sync Job was most of the check's cost with a thousand DataMovers.
    fn movers(&self) -> Vec<DataMover> {
        let mut movers = self.store.objects_with(None, |dm: &DataMover| DataMover {
            api_version: dm.api_version.clone(),
            kind: dm.kind.clone(),
            metadata: dm.metadata.clone(),
            spec: dm.spec.clone(),
            status: DataMoverStatus::default(),
        });
        movers.extend(
            self.store
                .objects::<DataMoverSchedule>(None)
                .iter()
                .map(datamover::schedule::reconciler::as_datamover),
        );
        movers
    }

    fn locate(
        &self,
        values: &std::collections::BTreeMap<String, String>,
        extra: &[(String, String)],
    ) -> Result<datamover::overlap::Location, String> {
        crate::policy::locate(values, extra)
    }

    fn locate_other(
        &self,
        values: &std::collections::BTreeMap<String, String>,
        extra: &[(String, String)],
    ) -> Result<datamover::overlap::Location, String> {
        crate::policy::locate_recent(values, extra)
    }

    async fn create_job(&self, dm: &DataMover) -> Result<(Job, bool), ClusterError> {
        self.create_or_adopt_job(job::sync_job(dm)).await
    }
}

impl Embedded {
    /// Stores `job`; `true` with it when this call created it, `false` when a Job of its
    /// name existed already (adopted, as a retried reconcile finds the one it made).
    ///
    /// # Errors
    /// The store's failure, or [`ClusterError::Sync`] when the existing Job vanished.
    pub(crate) async fn create_or_adopt_job(&self, job: Job) -> Result<(Job, bool), ClusterError> {
        let (ns, name) = (job.metadata.namespace.clone(), job.metadata.name.clone());
        match self.store.write(move |s| s.create(job)).await {
            Ok(job) => Ok((job, true)),
            Err(StoreError::AlreadyExists { .. }) => self
                .store
                .object::<Job>(&ns, &name)
                .map(|j| (j, false))
                .ok_or_else(|| ClusterError::Sync(format!("the Job {ns}/{name} vanished"))),
            Err(e) => Err(e.into()),
        }
    }
}

/// A store conflict is a cluster conflict (re-read and retry); any other store failure is
/// reported in the store's words.
impl From<StoreError> for ClusterError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => Self::Conflict(e.to_string()),
            other => Self::Store(other.to_string()),
        }
    }
}
