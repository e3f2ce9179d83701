//! The one trait the reconciler talks to the cluster through, and its embedded backend.

use crate::job::{self, Job};
use crate::rclone::Plan;
use crate::store::{EmbeddedStore, StoreError};
use crate::types::*;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The object changed under us (a stale resourceVersion, HTTP 409): re-read and retry.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The object is gone (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The operator's RBAC does not allow this (HTTP 403): nothing is retried until the
    /// role changes; the message names the verb and the resource it lacks.
    #[error(
        "forbidden: the operator's RBAC does not allow `{verb}` on `{resource}`{}: grant it in the ClusterRole (deploy/manager/rbac.yaml) ({message})",
        if namespace.is_empty() { String::new() } else { format!(" in namespace {namespace}") }
    )]
    Forbidden {
        /// The verb, e.g. `create`.
        verb: String,
        /// The resource, with its API group and subresource: `jobs.batch`, `datamovers.datamover.a-cup-of.coffee/status`.
        resource: String,
        /// The namespace, empty for a cluster-scoped request.
        namespace: String,
        /// What the API server said.
        message: String,
    },
    /// A volume operation failed.
    #[error("{0}")]
    Volume(String),
    /// The sync Job could not be created (message scrubbed of secrets).
    #[error("{0}")]
    Sync(String),
    /// The cluster could not be reached or asked us to slow down (429, 5xx, timeouts):
    /// nothing is decided, the step is retried with backoff.
    #[error("{message}")]
    Transient {
        /// What kind of failure, for the error metrics.
        kind: tmc_metrics::ErrorKind,
        /// What happened.
        message: String,
        /// How long the server asked us to wait (`Retry-After`), if it said.
        retry_after: Option<std::time::Duration>,
    },
}

impl ClusterError {
    /// Whether the step should be retried by the controller (with backoff, never sooner
    /// than a `Retry-After`) rather than fail the DataMover: a conflict, a transient
    /// failure, or a missing permission an administrator can grant.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Conflict(_) | Self::Transient { .. } | Self::Forbidden { .. }
        )
    }
}

impl From<StoreError> for ClusterError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => Self::Conflict(e.to_string()),
            other => Self::Store(other),
        }
    }
}

/// Where a clone stands after [`Cluster::clone_pvc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloneState {
    /// Bound: the data is there.
    Bound,
    /// Not bound yet; its watch event brings the DataMover back when it binds.
    Pending,
    /// Its storage class binds on first use (`volumeBindingMode: WaitForFirstConsumer`):
    /// it binds when the sync Job's pod is scheduled, so the Job is created now.
    WaitsForConsumer,
}

/// How long a clone may stay unbound by default before the clone fails.
pub const DEFAULT_BIND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// A sync job, as the reconciler describes it.
#[derive(Clone, Debug)]
pub struct SyncRequest {
    /// Namespace of the DataMover.
    pub namespace: String,
    /// The cloned PVC to read from.
    pub clone: String,
    /// The secret's decoded values.
    pub secret: std::collections::BTreeMap<String, String>,
    /// `additionalEnv`.
    pub extra_env: Vec<(String, String)>,
    /// The `YYYY-MM-DD-HHMMSS` folder, with `addTimestampPrefix`.
    pub prefix: Option<String>,
    /// The DataMover's uid: marks its processes.
    pub marker: String,
}

/// What the reconciler needs from a cluster. The embedded backend implements it on one
/// machine; the Kubernetes backend implements it with PVCs and Jobs. Nothing here waits
/// for data to move: the sync is a [`Job`] whose status changes bring the DataMover back.
pub trait Cluster: Send + Sync + 'static {
    /// The current DataMover.
    fn datamover(&self, namespace: &str, name: &str) -> Option<DataMover>;
    /// Writes a DataMover's status (optimistic: the object's resourceVersion must be current).
    ///
    /// # Errors
    /// [`ClusterError::Conflict`] when stale.
    fn write_status(
        &self,
        dm: &DataMover,
    ) -> impl Future<Output = Result<DataMover, ClusterError>> + Send;
    /// Names the DataMover's clone `<sourcePvc>-cloned-<unix seconds>`, unique among the
    /// namespace's PVCs and other DataMovers' clones, and stores it in the status.
    ///
    /// # Errors
    /// [`ClusterError::Conflict`] when stale.
    fn claim_clone_name(
        &self,
        dm: &DataMover,
        unix_seconds: u64,
    ) -> impl Future<Output = Result<DataMover, ClusterError>> + Send;
    /// A PVC.
    fn pvc(&self, namespace: &str, name: &str) -> Option<PersistentVolumeClaim>;
    /// A Secret.
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret>;
    /// Clones `source` into a new PVC `clone` (owned by the DataMover that claims it) and
    /// returns where it stands now, without waiting for it to bind. Idempotent.
    fn clone_pvc(
        &self,
        namespace: &str,
        source: &PersistentVolumeClaim,
        clone: &str,
    ) -> impl Future<Output = Result<CloneState, ClusterError>> + Send;
    /// How long a clone may stay [`CloneState::Pending`] before the clone fails.
    fn bind_timeout(&self) -> std::time::Duration {
        DEFAULT_BIND_TIMEOUT
    }
    /// Deletes a PVC and its data. Idempotent.
    fn delete_pvc(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// Checks that a sync can be described (the destination resolves), before any work.
    ///
    /// # Errors
    /// A message naming what the secret lacks.
    fn check_sync(&self, request: &SyncRequest) -> Result<String, String>;
    /// The sync Job `name`, as last seen.
    fn job(&self, namespace: &str, name: &str) -> Option<Job>;
    /// Creates the sync Job of `dm` ([`job::sync_job`]: its clone, secret and env, owned by
    /// `dm`) and returns at once; `true` with it when this call created it, `false` when it
    /// existed already (adopted).
    ///
    /// # Errors
    /// [`ClusterError::Sync`] when the Job cannot be created; transient errors as
    /// [`ClusterError::Transient`].
    fn create_job(
        &self,
        dm: &DataMover,
    ) -> impl Future<Output = Result<(Job, bool), ClusterError>> + Send;
}

/// One machine, no Kubernetes: objects in [`EmbeddedStore`], volumes as directories under
/// `<data-dir>/volumes/<namespace>/<name>`, sync jobs run by the real rclone.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The object store.
    pub store: Arc<EmbeddedStore>,
    /// `<data-dir>/volumes`.
    pub volumes: PathBuf,
    /// The rclone binary.
    pub rclone: PathBuf,
    /// The host paths and local destinations allowed; checked again before each clone and sync.
    pub policy: Arc<crate::policy::Policy>,
}

impl Embedded {
    /// The directory holding a PVC's data.
    #[must_use]
    pub fn volume_dir(&self, pvc: &PersistentVolumeClaim) -> PathBuf {
        match pvc.metadata.annotations.get(HOST_PATH_ANNOTATION) {
            Some(host) => PathBuf::from(host),
            None => self
                .volumes
                .join(&pvc.metadata.namespace)
                .join(&pvc.metadata.name),
        }
    }
}

impl Cluster for Embedded {
    fn datamover(&self, namespace: &str, name: &str) -> Option<DataMover> {
        self.store.datamover(namespace, name)
    }

    async fn write_status(&self, dm: &DataMover) -> Result<DataMover, ClusterError> {
        Ok(self.store.update_status(dm)?)
    }

    async fn claim_clone_name(
        &self,
        dm: &DataMover,
        unix_seconds: u64,
    ) -> Result<DataMover, ClusterError> {
        Ok(self.store.claim_clone_name(dm, unix_seconds)?)
    }

    fn pvc(&self, namespace: &str, name: &str) -> Option<PersistentVolumeClaim> {
        self.store.pvc(namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.store.secret(namespace, name)
    }

    async fn clone_pvc(
        &self,
        namespace: &str,
        source: &PersistentVolumeClaim,
        clone: &str,
    ) -> Result<CloneState, ClusterError> {
        if let Some(existing) = self.store.pvc(namespace, clone) {
            // Ours (a clone of this source) or a foreign PVC that took the name.
            if crate::provisioner::clone_source(&existing) != Some(&source.metadata.name) {
                return Err(ClusterError::Volume(format!(
                    "the PVC {namespace}/{clone} exists and is not a clone of {}",
                    source.metadata.name
                )));
            }
            return match crate::provisioner::clone_failure(&existing) {
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
            .list(Kind::DataMover, Some(namespace))
            .into_iter()
            .find_map(|o| match o {
                crate::manifest::Object::DataMover(dm) if dm.status.restored_pvc_name == clone => {
                    Some(dm)
                }
                _ => None,
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
        self.store.put_pvc(pvc)?;
        // The provisioner copies it; its `Bound` event brings the DataMover back.
        Ok(CloneState::Pending)
    }

    async fn delete_pvc(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        let dir = self.volumes.join(namespace).join(name);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ClusterError::Volume(format!(
                    "removing {}: {e}",
                    dir.display()
                )));
            }
        }
        self.store
            .delete(Kind::PersistentVolumeClaim, namespace, name)?;
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
        self.store.job(namespace, name)
    }

    async fn create_job(&self, dm: &DataMover) -> Result<(Job, bool), ClusterError> {
        let job = job::sync_job(dm);
        let (ns, name) = (job.metadata.namespace.clone(), job.metadata.name.clone());
        match self.store.create_job(job) {
            Ok(job) => Ok((job, true)),
            Err(StoreError::AlreadyExists { .. }) => self
                .store
                .job(&ns, &name)
                .map(|j| (j, false))
                .ok_or_else(|| ClusterError::Sync(format!("the Job {ns}/{name} vanished"))),
            Err(e) => Err(e.into()),
        }
    }
}
