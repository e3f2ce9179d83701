//! [`KubeCluster`]: the [`Cluster`] the reconciler talks through, and the
//! [`Store`](tmc_runtime::Store) the controller runtime runs on, over a Kubernetes API server.
//!
//! The reads come from kube-runtime reflector caches ([`crate::reflect`]); the writes
//! (status patches, the clone, the Job, Events) are in [`writes`](self::writes).

use crate::api::{self, ApiError, RetryPolicy};
use crate::crd;
use crate::objects;
use crate::reflect::{self, Cached, Reflected};
use datamover::backend::{CloneState, Cluster, ClusterError, SyncRequest};
use datamover::job::Job as SyncJob;
use datamover::populator::DataMoverPopulator;
use datamover::schedule::DataMoverSchedule;
use datamover::types::{DataMover, PersistentVolumeClaim, Secret};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1 as core;
use kube::api::{Api, DeleteParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tmc_metrics::MetricsCollector;
use tmc_runtime::ObjectKey;

mod cached;
pub mod prune;
mod reports;
pub mod restore;
mod schedules;
mod snapshots;
mod writes;

pub use cached::SECRET_FIELD_SELECTOR;
pub use schedules::schedule_status_patch;
pub use writes::status_patch;

/// The field manager of the operator's writes.
pub const FIELD_MANAGER: &str = "datamover-operator";

/// How a [`KubeCluster`] behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// Watch one namespace, or every namespace (`None`, the default).
    pub namespace: Option<String>,
    /// Who we are in Events (`reportingInstance`) and logs: the pod name.
    pub instance: String,
    /// Retries of 429, 5xx and connection failures within one call.
    pub retry: RetryPolicy,
    /// How long a clone may stay unbound before the clone fails (nothing polls: the
    /// clone's watch event or a requeue at this deadline brings the DataMover back).
    pub bind_timeout: Duration,
    /// Objects per page of a (re)list (`limit`; the rest follows with `continue`).
    pub page_size: u32,
    /// Server-side timeout of one watch request, in seconds; the watch then resumes.
    pub watch_timeout_secs: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            namespace: None,
            instance: std::env::var("POD_NAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "datamover-operator".into()),
            retry: RetryPolicy::default(),
            bind_timeout: datamover::backend::DEFAULT_BIND_TIMEOUT,
            page_size: 500,
            watch_timeout_secs: 290,
        }
    }
}

struct Inner {
    client: kube::Client,
    options: Options,
    metrics: MetricsCollector,
    recorder: Recorder,
    datamovers: Reflected<DataMover>,
    pvcs: Reflected<PersistentVolumeClaim>,
    secrets: Reflected<Secret>,
    jobs: Reflected<SyncJob>,
    schedules: Reflected<DataMoverSchedule>,
    populators: Reflected<DataMoverPopulator>,
    /// The reports of finished Jobs (final statistics, a failed restore's last error),
    /// read from their last pod's termination message; dropped with the Job.
    reports: reports::Reports,
    /// `volumeBindingMode` of the storage classes read so far.
    binding_modes: RwLock<HashMap<String, String>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("options", &self.options)
            .field("datamovers", &self.datamovers)
            .field("pvcs", &self.pvcs)
            .field("secrets", &self.secrets)
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// The Kubernetes backend: DataMovers, PVCs, Secrets and Jobs come from kube-runtime
/// watchers into reflector caches (so the reconciler's getters are synchronous), and writes
/// go to the API server.
///
/// Start the watches with [`spawn_watches`](Self::spawn_watches) (or run
/// [`run_watches`](Self::run_watches)), then give the cluster to the controller runtime as
/// its [`Store`](tmc_runtime::Store) and to the reconciler's `Context` as its [`Cluster`].
#[derive(Debug, Clone)]
pub struct KubeCluster {
    inner: Arc<Inner>,
}

/// Connects with the in-cluster configuration or the kubeconfig
/// (`kube::Client::try_default`: `KUBECONFIG`, `~/.kube/config`, or the service account).
///
/// # Errors
/// When no configuration is found or the client cannot be built.
pub async fn connect(
    metrics: MetricsCollector,
    options: Options,
) -> Result<KubeCluster, kube::Error> {
    let client = kube::Client::try_default().await?;
    Ok(KubeCluster::new(client, metrics, options))
}

/// An API object as the reconciler's type of the same JSON shape (PVCs, Secrets and Jobs:
/// the embedded backend's core/v1 and batch/v1 subsets).
fn convert<T: serde::de::DeserializeOwned>(object: &impl serde::Serialize) -> Option<T> {
    serde_json::to_value(object)
        .and_then(serde_json::from_value)
        .map_err(|e| tracing::warn!(error = %e, "cannot read an object"))
        .ok()
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl KubeCluster {
    /// A cluster over `client`. Nothing is requested until the watches start.
    #[must_use]
    pub fn new(client: kube::Client, metrics: MetricsCollector, options: Options) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: crate::events::REPORTING_CONTROLLER.into(),
                instance: Some(options.instance.clone()),
            },
        );
        Self {
            inner: Arc::new(Inner {
                client,
                options,
                metrics,
                recorder,
                datamovers: Reflected::default(),
                pvcs: Reflected::default(),
                secrets: Reflected::default(),
                jobs: Reflected::default(),
                schedules: Reflected::default(),
                populators: Reflected::default(),
                reports: reports::Reports::default(),
                binding_modes: RwLock::default(),
            }),
        }
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &kube::Client {
        &self.inner.client
    }

    pub(crate) fn metrics(&self) -> &MetricsCollector {
        &self.inner.metrics
    }

    pub(crate) fn all<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.inner.options.namespace {
            Some(ns) => Api::namespaced(self.inner.client.clone(), ns),
            None => Api::all(self.inner.client.clone()),
        }
    }

    fn ns<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.inner.client.clone(), namespace)
    }

    async fn call<T, F, Fut>(&self, operation: &'static str, f: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        api::call(&self.inner.metrics, self.inner.options.retry, operation, f).await
    }

    /// Runs the DataMover, PVC, Secret and Job watchers forever (kube-runtime's: paged
    /// lists, watches resumed from the last resourceVersion, relists on 410 Gone, jittered
    /// backoff on errors).
    pub async fn run_watches(&self) {
        let config = watcher::Config::default()
            .page_size(self.inner.options.page_size)
            .timeout(self.inner.options.watch_timeout_secs);
        tokio::join!(
            reflect::run::<DataMover>(self.clone(), config.clone()),
            reflect::run::<PersistentVolumeClaim>(self.clone(), config.clone()),
            reflect::run::<Secret>(self.clone(), config.clone()),
            reflect::run::<SyncJob>(self.clone(), config),
        );
    }

    /// Spawns [`run_watches`](Self::run_watches); abort the handle to stop them.
    #[must_use]
    pub fn spawn_watches(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.run_watches().await })
    }

    /// Runs the DataMoverSchedule and DataMoverPopulator watchers forever (as
    /// [`run_watches`](Self::run_watches); apart from it, so DataMovers run on a cluster
    /// without those CRDs). The schedule controller and the restore controller read them.
    pub async fn run_schedule_watches(&self) {
        let config = watcher::Config::default()
            .page_size(self.inner.options.page_size)
            .timeout(self.inner.options.watch_timeout_secs);
        tokio::join!(
            reflect::run::<DataMoverSchedule>(self.clone(), config.clone()),
            reflect::run::<DataMoverPopulator>(self.clone(), config),
        );
    }

    /// Spawns [`run_schedule_watches`](Self::run_schedule_watches); abort the handle to
    /// stop them.
    #[must_use]
    pub fn spawn_schedule_watches(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.run_schedule_watches().await })
    }

    /// Waits until the schedule and populator watches have listed once.
    pub async fn wait_schedules_synced(&self) {
        reflect::wait_schedules_synced(self).await;
    }

    /// Waits until every watch has listed once (for readiness).
    pub async fn wait_synced(&self) {
        reflect::wait_all_synced(self).await;
    }

    /// Whether every watch has listed once.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        self.inner.datamovers.is_synced()
            && self.inner.pvcs.is_synced()
            && self.inner.secrets.is_synced()
            && self.inner.jobs.is_synced()
    }
}

/// What the secret's keys say about the destination, without its credentials; with the
/// timestamp `folder` the sync writes into when it is known ([`Cluster::sync_folder`]), as
/// the sync script joins them (`<base>/<folder>`, one trailing `/` of `DESTINATION` dropped).
fn describe_destination(secret: &BTreeMap<String, String>, folder: Option<&str>) -> String {
    let base = if let Some(d) = secret.get("DESTINATION") {
        if folder.is_none() {
            return d.clone();
        }
        d.strip_suffix('/').unwrap_or(d).to_owned()
    } else if let Some(bucket) = secret.get("BUCKET_NAME") {
        match secret.get("BUCKET_HOST") {
            Some(host) => format!("s3://{host}/{bucket}"),
            None => format!("s3:{bucket}"),
        }
    } else {
        return "the destination the sync job reads from its secret".into();
    };
    match folder {
        Some(folder) => format!("{base}/{folder}"),
        None => base,
    }
}

fn cached<T: Cached>(cluster: &KubeCluster, namespace: &str, name: &str) -> Option<T> {
    let object = T::reflected(cluster).get(&ObjectKey::namespaced(namespace, name))?;
    T::convert(&object, cluster)
}

impl Cluster for KubeCluster {
    fn datamover(&self, namespace: &str, name: &str) -> Option<DataMover> {
        cached(self, namespace, name)
    }

    async fn write_status(&self, dm: &DataMover) -> Result<DataMover, ClusterError> {
        self.write_status_async(dm).await
    }

    async fn claim_clone_name(
        &self,
        dm: &DataMover,
        unix_seconds: u64,
    ) -> Result<DataMover, ClusterError> {
        self.claim_clone_name_async(dm, unix_seconds).await
    }

    fn pvc(&self, namespace: &str, name: &str) -> Option<PersistentVolumeClaim> {
        cached(self, namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        cached(self, namespace, name)
    }

    async fn clone_pvc(
        &self,
        namespace: &str,
        source: &PersistentVolumeClaim,
        clone: &str,
    ) -> Result<CloneState, ClusterError> {
        let owner = self
            .inner
            .datamovers
            .find(|d| {
                d.metadata.namespace.as_deref() == Some(namespace)
                    && d.status.as_ref().map(|s| s.restored_pvc_name.as_str()) == Some(clone)
            })
            .ok_or_else(|| {
                ClusterError::Volume(format!(
                    "no DataMover in {namespace} claims the clone {clone}"
                ))
            })?;
        let uid = owner.metadata.uid.clone().unwrap_or_default();
        // Already created (the watch saw it): where it stands, without a request.
        if let Some(existing) = self.pvc(namespace, clone)
            && existing.metadata.owned_by(&uid)
        {
            return self.clone_state(&existing).await;
        }
        let from_snapshot = owner.spec.copy_method == datamover::types::CopyMethod::Snapshot;
        let owner =
            objects::owner_reference(owner.metadata.name.as_deref().unwrap_or_default(), &uid);
        let pvc = objects::clone_pvc(namespace, clone, source, &owner, from_snapshot);
        let api = self.ns::<core::PersistentVolumeClaim>(namespace);
        let context = format!("cloning {} into {clone}", source.metadata.name);
        let (created, _) = self
            .create_or_adopt(
                &api,
                &pvc,
                ("DataMover", &uid),
                ("create-pvc", "get-pvc"),
                &context,
                ClusterError::Volume,
            )
            .await?;
        let readable: PersistentVolumeClaim = convert(&created)
            .ok_or_else(|| ClusterError::Volume(format!("{context}: the clone is unreadable")))?;
        // Cached at once, so the next reconcile finds it even before its watch event.
        self.inner.pvcs.remember(created);
        self.clone_state(&readable).await
    }

    async fn snapshot_pvc(
        &self,
        namespace: &str,
        source: &PersistentVolumeClaim,
        name: &str,
        class: Option<&str>,
    ) -> Result<(), ClusterError> {
        self.snapshot_pvc_async(namespace, source, name, class)
            .await
    }

    async fn delete_snapshot(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        self.delete_snapshot_async(namespace, name).await
    }

    fn bind_timeout(&self) -> Duration {
        self.inner.options.bind_timeout
    }

    async fn delete_pvc(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        let api = self.ns::<core::PersistentVolumeClaim>(namespace);
        let dp = DeleteParams::background();
        match self.call("delete-pvc", || api.delete(name, &dp)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(api::cluster_error(
                &e,
                namespace,
                &format!("deleting the PVC {namespace}/{name}"),
                ClusterError::Volume,
            )),
        }
    }

    fn check_sync(&self, request: &SyncRequest) -> Result<String, String> {
        if request.secret.is_empty() {
            return Err("has no keys: it must name the destination (DESTINATION, or the S3 keys BUCKET_NAME, BUCKET_HOST, AWS_ACCESS_KEY_ID, ...)".into());
        }
        Ok(describe_destination(
            &request.secret,
            request.prefix.as_deref(),
        ))
    }

    fn job(&self, namespace: &str, name: &str) -> Option<SyncJob> {
        cached(self, namespace, name)
    }

    /// The folder the Job names in [`TIMESTAMP_FOLDER_ENV`](datamover::job::TIMESTAMP_FOLDER_ENV)
    /// when its pods run the operator's sync script (`spec.verify`,
    /// [`objects::sync_job`]); `None` when they run the rclone image's own entrypoint,
    /// which names the folder from its pod's start.
    fn sync_folder(&self, job: &SyncJob) -> Option<String> {
        let runs_script = job.container().is_some_and(|c| !c.command.is_empty());
        (runs_script && job.env("ADD_TIMESTAMP_PREFIX") == Some("true"))
            .then(|| job.env(datamover::job::TIMESTAMP_FOLDER_ENV))
            .flatten()
            .map(str::to_owned)
    }

    fn movers(&self) -> Vec<DataMover> {
        let datamovers = self
            .inner
            .datamovers
            .state()
            .into_iter()
            .filter_map(|o| <DataMover as Cached>::convert(&o, self));
        let schedules = self.inner.schedules.state().into_iter().filter_map(|o| {
            <DataMoverSchedule as Cached>::convert(&o, self)
                .map(|s| datamover::schedule::reconciler::as_datamover(&s))
        });
        datamovers.chain(schedules).collect()
    }

    async fn create_job(&self, dm: &DataMover) -> Result<(SyncJob, bool), ClusterError> {
        let job = objects::sync_job(dm, datamover::time::now_ms())
            .map_err(|e| ClusterError::Sync(format!("creating the sync job: {e}")))?;
        let api = self.ns::<Job>(&dm.metadata.namespace);
        let (job, created) = self
            .create_or_adopt(
                &api,
                &job,
                ("DataMover", &dm.metadata.uid),
                ("create-job", "get-job"),
                "creating the sync job",
                ClusterError::Sync,
            )
            .await?;
        let readable = <SyncJob as Cached>::convert(&job, self)
            .ok_or_else(|| ClusterError::Sync("the created Job is unreadable".into()))?;
        self.inner.jobs.remember(job);
        Ok((readable, created))
    }
}
