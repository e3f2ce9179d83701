//! The one trait the reconciler talks to the cluster through: the embedded backend
//! (`datamover-embedded`) implements it on one machine, `datamover-kube` on Kubernetes.

use crate::job::Job;
use crate::types::*;
use std::future::Future;

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The object changed under us (a stale resourceVersion, HTTP 409): re-read and retry.
    #[error("{0}")]
    Conflict(String),
    /// The backend's object store failed (its own words).
    #[error("{0}")]
    Store(String),
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

/// Why `copyMethod: Snapshot` is refused where no `VolumeSnapshot` can be taken (the
/// embedded backend: at apply, and by [`Cluster::snapshot_pvc`]'s default).
pub const SNAPSHOT_NEEDS_KUBERNETES: &str = "Snapshot needs the Kubernetes backend (VolumeSnapshots): on one machine give Clone (the default: sync a clone of the source) or Direct (sync the source itself)";

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
    /// Takes the `VolumeSnapshot` `name` of `source` (`copyMethod: Snapshot`; in the class
    /// `class`, or the cluster's default), owned by the DataMover that claims the clone of
    /// the same name, and returns at once: [`clone_pvc`](Self::clone_pvc) then makes that
    /// clone from it (a CSI provisioner waits for the snapshot to be ready). Idempotent.
    ///
    /// # Errors
    /// [`ClusterError::Volume`] where no snapshot can be taken: by default, naming the fix
    /// ([`SNAPSHOT_NEEDS_KUBERNETES`]).
    fn snapshot_pvc(
        &self,
        namespace: &str,
        source: &PersistentVolumeClaim,
        name: &str,
        class: Option<&str>,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send {
        let _ = (namespace, source, name, class);
        std::future::ready(Err(ClusterError::Volume(format!(
            "copyMethod: {SNAPSHOT_NEEDS_KUBERNETES}"
        ))))
    }
    /// Deletes the `VolumeSnapshot` `name`. Idempotent (nothing to do by default).
    fn delete_snapshot(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send {
        let _ = (namespace, name);
        std::future::ready(Ok(()))
    }
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
    /// The `YYYY-MM-DD-HHMMSS` folder the pods of the timestamp-prefixed sync Job `job`
    /// write into, when this backend knows it before they run: by default the Job's
    /// creation second ([`Job::creation_folder`], as the embedded executor names it);
    /// `None` when the pods name it themselves (on Kubernetes, the rclone image's own
    /// entrypoint, from its pod's start).
    fn sync_folder(&self, job: &Job) -> Option<String> {
        job.creation_folder()
    }
    /// Every DataMover, and every `DataMoverSchedule` as
    /// [`as_datamover`](crate::schedule::reconciler::as_datamover) shows it, in all
    /// namespaces: the objects whose destinations the
    /// [overlap rule](crate::overlap) keeps apart. The rule reads their metadata and spec
    /// only, so a backend may leave each `status` empty (the embedded one does: copying
    /// every status for every sync Job was most of the check's cost).
    fn movers(&self) -> Vec<DataMover>;
    /// Where a sync with a secret's `values` and `extra` variables on top writes, as this
    /// backend's syncs see it: [`Location::locate`](crate::overlap::Location::locate) by
    /// default; the embedded backend resolves local paths (symlinks, the working dir).
    ///
    /// # Errors
    /// The secret names no destination, or a local path cannot be resolved.
    fn locate(
        &self,
        values: &std::collections::BTreeMap<String, String>,
        extra: &[(String, String)],
    ) -> Result<crate::overlap::Location, String> {
        crate::overlap::Location::locate(values, extra)
    }
    /// [`Cluster::locate`] for the *other* objects a sync is compared with, which every
    /// sync Job's check reads again: a backend may answer from a short-lived cache (the
    /// embedded backend keeps a resolved local path for a few seconds), where the sync's own
    /// destination is always resolved afresh.
    ///
    /// # Errors
    /// As [`Cluster::locate`].
    fn locate_other(
        &self,
        values: &std::collections::BTreeMap<String, String>,
        extra: &[(String, String)],
    ) -> Result<crate::overlap::Location, String> {
        self.locate(values, extra)
    }
    /// Creates the sync Job of `dm` ([`sync_job`](crate::job::sync_job): its clone, secret and env, owned by
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
