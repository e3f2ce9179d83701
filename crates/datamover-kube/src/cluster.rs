//! [`KubeCluster`]: the [`Cluster`] the reconciler talks through, and the
//! [`Store`](tmc_runtime::Store) the controller runtime runs on, over a Kubernetes API server.

use crate::api::{self, ApiError, RetryPolicy};
use crate::crd;
use crate::objects;
use crate::watch::{Change, Watch};
use datamover::backend::{CloneState, Cluster, ClusterError, SyncRequest};
use datamover::job::Job as SyncJob;
use datamover::types::{DataMover, PersistentVolumeClaim, Secret};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1 as core;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tmc_metrics::MetricsCollector;
use tmc_runtime::{Event, ObjectKey, Store};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

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
    /// First wait before re-listing or re-watching after a watch error; doubled up to 30 s.
    pub watch_backoff: Duration,
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
            watch_backoff: Duration::from_secs(1),
            watch_timeout_secs: 290,
        }
    }
}

/// A cached DataMover: the object as the API server sent it, and as the reconciler sees it.
#[derive(Debug, Clone)]
struct Entry {
    raw: Arc<crd::DataMover>,
    dm: Arc<DataMover>,
}

struct Inner {
    client: kube::Client,
    options: Options,
    metrics: MetricsCollector,
    datamovers: RwLock<HashMap<ObjectKey, Entry>>,
    pvcs: RwLock<HashMap<ObjectKey, Arc<PersistentVolumeClaim>>>,
    secrets: RwLock<HashMap<ObjectKey, Secret>>,
    jobs: RwLock<HashMap<ObjectKey, Arc<SyncJob>>>,
    /// `volumeBindingMode` of the storage classes read so far.
    binding_modes: RwLock<HashMap<String, String>>,
    watchers: Mutex<Vec<UnboundedSender<Event<DataMover>>>>,
    job_watchers: Mutex<Vec<UnboundedSender<Event<SyncJob>>>>,
    pvc_watchers: Mutex<Vec<UnboundedSender<Event<PersistentVolumeClaim>>>>,
    /// DataMovers, PVCs and Jobs listed once.
    synced: tokio::sync::watch::Sender<(bool, bool, bool)>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("options", &self.options)
            .field("datamovers", &read(&self.datamovers).len())
            .field("pvcs", &read(&self.pvcs).len())
            .field("secrets", &read(&self.secrets).len())
            .field("jobs", &read(&self.jobs).len())
            .finish_non_exhaustive()
    }
}

/// The Kubernetes backend: DataMovers and PVCs come from watches into in-memory caches
/// (so the reconciler's getters are synchronous), secrets are read when a DataMover that
/// names them changes, and writes go to the API server.
///
/// Start the watches with [`spawn_watches`](Self::spawn_watches) (or run
/// [`run_watches`](Self::run_watches)), then give the cluster to the controller runtime as
/// its [`Store`] and to the reconciler's `Context` as its [`Cluster`].
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

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> ObjectKey {
    ObjectKey::namespaced(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

fn convert<T: serde::de::DeserializeOwned>(object: &impl serde::Serialize) -> Option<T> {
    serde_json::to_value(object)
        .and_then(serde_json::from_value)
        .map_err(|e| tracing::warn!(error = %e, "cannot convert an object"))
        .ok()
}

/// Sends `event` to every live watcher, forgetting the ones that hung up.
fn fan_out<K>(watchers: &Mutex<Vec<UnboundedSender<Event<K>>>>, event: &Event<K>) {
    watchers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|w| w.send(event.clone()).is_ok());
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Whether resourceVersion `new` is older than `old` (both numeric, as the API server's are;
/// opaque versions are never considered older).
fn older(new: &str, old: &str) -> bool {
    matches!((new.parse::<u64>(), old.parse::<u64>()), (Ok(n), Ok(o)) if n < o)
}

impl KubeCluster {
    /// A cluster over `client`. Nothing is requested until the watches start.
    #[must_use]
    pub fn new(client: kube::Client, metrics: MetricsCollector, options: Options) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                options,
                metrics,
                datamovers: RwLock::default(),
                pvcs: RwLock::default(),
                secrets: RwLock::default(),
                jobs: RwLock::default(),
                binding_modes: RwLock::default(),
                watchers: Mutex::default(),
                job_watchers: Mutex::default(),
                pvc_watchers: Mutex::default(),
                synced: tokio::sync::watch::Sender::new((false, false, false)),
            }),
        }
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &kube::Client {
        &self.inner.client
    }

    fn all<K>(&self) -> Api<K>
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

    /// Runs the DataMover, PVC and Job watches forever (list, watch, resume from the last
    /// resourceVersion when a watch ends, relist on 410 Gone, back off on errors).
    pub async fn run_watches(&self) {
        tokio::join!(
            self.run_datamover_watch(),
            self.run_pvc_watch(),
            self.run_job_watch()
        );
    }

    /// Spawns [`run_watches`](Self::run_watches); abort the handle to stop them.
    #[must_use]
    pub fn spawn_watches(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.run_watches().await })
    }

    /// Waits until every watch has listed once (for readiness).
    pub async fn wait_synced(&self) {
        let mut rx = self.inner.synced.subscribe();
        let _ = rx.wait_for(|(a, b, c)| *a && *b && *c).await;
    }

    /// Whether every watch has listed once.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        let (a, b, c) = *self.inner.synced.borrow();
        a && b && c
    }

    fn watch_params(&self) -> (Duration, u32) {
        (
            self.inner.options.watch_backoff,
            self.inner.options.watch_timeout_secs,
        )
    }

    async fn run_datamover_watch(&self) {
        let (backoff, timeout) = self.watch_params();
        let mut watch = Watch::new(self.all::<crd::DataMover>(), "datamovers", backoff, timeout);
        loop {
            match watch.next(&self.inner.metrics).await {
                Change::Listed(items) => {
                    let mut fresh = HashMap::new();
                    for raw in items {
                        if let Some(entry) = self.entry(raw).await {
                            fresh.insert(entry.dm.key(), entry);
                        }
                    }
                    let gone: Vec<ObjectKey> = {
                        let mut cache = write(&self.inner.datamovers);
                        let gone = cache
                            .keys()
                            .filter(|k| !fresh.contains_key(*k))
                            .cloned()
                            .collect();
                        cache.clone_from(&fresh);
                        gone
                    };
                    for key in gone {
                        self.broadcast(&Event::Deleted(key));
                    }
                    for entry in fresh.into_values() {
                        self.broadcast(&Event::Applied(entry.dm));
                    }
                    self.inner.synced.send_modify(|s| s.0 = true);
                }
                Change::Applied(raw) => {
                    if let Some(entry) = self.entry(raw).await {
                        let dm = Arc::clone(&entry.dm);
                        write(&self.inner.datamovers).insert(dm.key(), entry);
                        self.broadcast(&Event::Applied(dm));
                    }
                }
                Change::Deleted(raw) => {
                    let key = key_of(&raw.metadata);
                    write(&self.inner.datamovers).remove(&key);
                    self.broadcast(&Event::Deleted(key));
                }
            }
        }
    }

    async fn run_pvc_watch(&self) {
        let (backoff, timeout) = self.watch_params();
        let mut watch = Watch::new(
            self.all::<core::PersistentVolumeClaim>(),
            "persistentvolumeclaims",
            backoff,
            timeout,
        );
        loop {
            match watch.next(&self.inner.metrics).await {
                Change::Listed(items) => {
                    let fresh: HashMap<ObjectKey, Arc<PersistentVolumeClaim>> = items
                        .iter()
                        .filter_map(|p| Some((key_of(&p.metadata), Arc::new(convert(p)?))))
                        .collect();
                    let gone: Vec<ObjectKey> = {
                        let mut cache = write(&self.inner.pvcs);
                        let gone = cache
                            .keys()
                            .filter(|k| !fresh.contains_key(*k))
                            .cloned()
                            .collect();
                        cache.clone_from(&fresh);
                        gone
                    };
                    for key in gone {
                        fan_out(&self.inner.pvc_watchers, &Event::Deleted(key));
                    }
                    for pvc in fresh.into_values() {
                        fan_out(&self.inner.pvc_watchers, &Event::Applied(pvc));
                    }
                    self.inner.synced.send_modify(|s| s.1 = true);
                }
                Change::Applied(p) => {
                    if let Some(pvc) = convert::<PersistentVolumeClaim>(&p) {
                        let pvc = Arc::new(pvc);
                        write(&self.inner.pvcs).insert(key_of(&p.metadata), Arc::clone(&pvc));
                        fan_out(&self.inner.pvc_watchers, &Event::Applied(pvc));
                    }
                }
                Change::Deleted(p) => {
                    let key = key_of(&p.metadata);
                    write(&self.inner.pvcs).remove(&key);
                    fan_out(&self.inner.pvc_watchers, &Event::Deleted(key));
                }
            }
        }
    }

    /// The sync Jobs: a Job's status change reaches the controller (through
    /// [`Store<SyncJob>`]) and brings its owner back; nothing polls a Job.
    async fn run_job_watch(&self) {
        let (backoff, timeout) = self.watch_params();
        let mut watch = Watch::new(self.all::<Job>(), "jobs", backoff, timeout);
        loop {
            match watch.next(&self.inner.metrics).await {
                Change::Listed(items) => {
                    let mut fresh: HashMap<ObjectKey, Arc<SyncJob>> = HashMap::new();
                    for j in &items {
                        if let Some(job) = convert::<SyncJob>(j) {
                            let job = self.with_final_stats(job).await;
                            fresh.insert(key_of(&j.metadata), Arc::new(job));
                        }
                    }
                    let gone: Vec<ObjectKey> = {
                        let mut cache = write(&self.inner.jobs);
                        let gone = cache
                            .keys()
                            .filter(|k| !fresh.contains_key(*k))
                            .cloned()
                            .collect();
                        cache.clone_from(&fresh);
                        gone
                    };
                    for key in gone {
                        self.broadcast_job(&Event::Deleted(key));
                    }
                    for job in fresh.into_values() {
                        self.broadcast_job(&Event::Applied(job));
                    }
                    self.inner.synced.send_modify(|s| s.2 = true);
                }
                Change::Applied(j) => {
                    if let Some(job) = convert::<SyncJob>(&j) {
                        let job = Arc::new(self.with_final_stats(job).await);
                        write(&self.inner.jobs).insert(key_of(&j.metadata), Arc::clone(&job));
                        self.broadcast_job(&Event::Applied(job));
                    }
                }
                Change::Deleted(j) => {
                    let key = key_of(&j.metadata);
                    write(&self.inner.jobs).remove(&key);
                    self.broadcast_job(&Event::Deleted(key));
                }
            }
        }
    }

    /// A finished Job of a DataMover still in `CreatingPod`, with its final transfer
    /// statistics in `status.progress`: from the termination message of its last pod
    /// (found by the Job controller's `job-name` label), read once per Job.
    async fn with_final_stats(&self, mut job: SyncJob) -> SyncJob {
        if job.outcome().is_none() || job.status.progress.is_some() {
            return job;
        }
        let key = ObjectKey::namespaced(&job.metadata.namespace, &job.metadata.name);
        if let Some(read_before) = read(&self.inner.jobs)
            .get(&key)
            .and_then(|j| j.status.progress)
        {
            job.status.progress = Some(read_before);
            return job;
        }
        let owner_waits = job.metadata.owners("DataMover").iter().any(|k| {
            read(&self.inner.datamovers)
                .get(k)
                .is_some_and(|e| e.dm.status.phase == datamover::reconciler::phase::CREATING_POD)
        });
        if !owner_waits {
            return job;
        }
        let api = self.ns::<core::Pod>(&job.metadata.namespace);
        let lp = ListParams::default().labels(&format!("job-name={}", job.metadata.name));
        match self.call("list-pods", || api.list(&lp)).await {
            Ok(pods) => {
                job.status.progress = pods
                    .items
                    .iter()
                    .filter_map(|p| {
                        Some((
                            p.metadata.creation_timestamp.clone(),
                            termination_message(p)?,
                        ))
                    })
                    .max_by(|a, b| a.0.cmp(&b.0))
                    .and_then(|(_, message)| datamover::rclone::final_stats(&message));
            }
            Err(e) => {
                tracing::warn!(error = %e, job = %key, "cannot read the sync pod's statistics");
            }
        }
        job
    }

    fn broadcast_job(&self, event: &Event<SyncJob>) {
        fan_out(&self.inner.job_watchers, event);
    }

    /// Converts a DataMover for the cache, reading the secret it names first so the
    /// reconcile its event triggers sees it.
    async fn entry(&self, raw: crd::DataMover) -> Option<Entry> {
        let dm = match crd::to_datamover(&raw) {
            Ok(dm) => dm,
            Err(e) => {
                tracing::warn!(name = ?raw.metadata.name, error = %e, "skipping a DataMover");
                return None;
            }
        };
        self.refresh_secret(&dm.metadata.namespace, &dm.spec.secret_name)
            .await;
        Some(Entry {
            raw: Arc::new(raw),
            dm: Arc::new(dm),
        })
    }

    async fn refresh_secret(&self, namespace: &str, name: &str) {
        if name.is_empty() {
            return;
        }
        let api = self.ns::<core::Secret>(namespace);
        let key = ObjectKey::namespaced(namespace, name);
        match self.call("get-secret", || api.get(name)).await {
            Ok(s) => {
                if let Some(secret) = convert::<Secret>(&s) {
                    write(&self.inner.secrets).insert(key, secret);
                }
            }
            Err(e) if e.is_not_found() => {
                write(&self.inner.secrets).remove(&key);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the secret {key}; keeping what was read before");
            }
        }
    }

    fn broadcast(&self, event: &Event<DataMover>) {
        fan_out(&self.inner.watchers, event);
    }

    fn entry_where(&self, f: impl Fn(&Entry) -> bool) -> Option<Entry> {
        read(&self.inner.datamovers)
            .values()
            .find(|e| f(e))
            .cloned()
    }

    /// The status write: a JSON merge patch on the status subresource carrying the
    /// object's resourceVersion as a precondition (409: [`ClusterError::Conflict`]). Fields
    /// the new status drops are sent as `null`. When the phase changes, an Event is posted.
    ///
    /// # Errors
    /// [`ClusterError::Conflict`] when stale, [`ClusterError::NotFound`] when the DataMover
    /// is gone, [`ClusterError::Forbidden`] without RBAC, [`ClusterError::Transient`] for
    /// 429, 5xx and no answer, [`ClusterError::Volume`] for other API errors.
    pub async fn write_status_async(&self, dm: &DataMover) -> Result<DataMover, ClusterError> {
        let (ns, name) = (&dm.metadata.namespace, &dm.metadata.name);
        let key = ObjectKey::namespaced(ns, name);
        let old = read(&self.inner.datamovers)
            .get(&key)
            .map(|e| Arc::clone(&e.dm));
        let body = status_patch(old.as_deref(), dm);
        let api = self.ns::<crd::DataMover>(ns);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(&body);
        let result = self
            .call("patch-status", || api.patch_status(name, &params, &patch))
            .await;
        let raw = result.map_err(|e| {
            let context = if e.is_conflict() {
                format!(
                    "writing the status of DataMover {ns}/{name}: resourceVersion {} is stale",
                    dm.metadata.resource_version
                )
            } else {
                format!("writing the status of DataMover {ns}/{name}")
            };
            api::cluster_error(&e, ns, &context, ClusterError::Volume)
        })?;
        let written = crd::to_datamover(&raw)
            .map_err(|e| ClusterError::Volume(format!("DataMover {ns}/{name}: {e}")))?;
        {
            let mut cache = write(&self.inner.datamovers);
            let stale = cache.get(&key).is_some_and(|e| {
                older(
                    &written.metadata.resource_version,
                    &e.dm.metadata.resource_version,
                )
            });
            if !stale {
                cache.insert(
                    key,
                    Entry {
                        raw: Arc::new(raw),
                        dm: Arc::new(written.clone()),
                    },
                );
            }
        }
        let before = old.map(|o| o.status.phase.clone()).unwrap_or_default();
        if written.status.phase != before && !written.status.phase.is_empty() {
            self.post_phase_event(&written).await;
        }
        Ok(written)
    }

    async fn post_phase_event(&self, dm: &DataMover) {
        let body = crate::events::phase_event(
            dm,
            &dm.status.phase,
            &self.inner.options.instance,
            datamover::time::now_ms(),
        );
        let event: k8s_openapi::api::events::v1::Event = match serde_json::from_value(body) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "cannot build an Event");
                return;
            }
        };
        let api = self.ns::<k8s_openapi::api::events::v1::Event>(&dm.metadata.namespace);
        let once = RetryPolicy {
            attempts: 1,
            ..self.inner.options.retry
        };
        let pp = PostParams::default();
        let result = api::call(&self.inner.metrics, once, "create-event", || {
            api.create(&pp, &event)
        })
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot post the Event for {}", dm.status.phase);
        }
    }

    /// The clone's name: `<sourcePvc>-cloned-<unix seconds>`, the first free one among the
    /// namespace's PVCs and other DataMovers' clones, written to the status.
    ///
    /// # Errors
    /// As [`write_status_async`](Self::write_status_async).
    pub async fn claim_clone_name_async(
        &self,
        dm: &DataMover,
        unix_seconds: u64,
    ) -> Result<DataMover, ClusterError> {
        let ns = &dm.metadata.namespace;
        let mut taken: HashSet<String> = read(&self.inner.pvcs)
            .keys()
            .filter(|k| k.namespace() == Some(ns.as_str()))
            .map(|k| k.name().to_owned())
            .collect();
        taken.extend(
            read(&self.inner.datamovers)
                .values()
                .filter(|e| {
                    &e.dm.metadata.namespace == ns && e.dm.metadata.name != dm.metadata.name
                })
                .map(|e| e.dm.status.restored_pvc_name.clone()),
        );
        let name = datamover::types::free_clone_name(&dm.spec.source_pvc, unix_seconds, &taken);
        let mut claimed = dm.clone();
        claimed.status.restored_pvc_name = name;
        self.write_status_async(&claimed).await
    }

    /// Creates `object`, or adopts it when it exists (409) and `uid` owns it.
    ///
    /// # Errors
    /// As [`api::cluster_error`]; `permanent` for an object of the same name not owned
    /// by `uid`.
    async fn create_or_adopt<K>(
        &self,
        api: &Api<K>,
        object: &K,
        uid: &str,
        what: (&'static str, &'static str),
        context: &str,
        permanent: fn(String) -> ClusterError,
    ) -> Result<(K, bool), ClusterError>
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let name = object.meta().name.clone().unwrap_or_default();
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        let failed = |e: &ApiError| api::cluster_error(e, &namespace, context, permanent);
        let pp = PostParams::default();
        match self.call(what.0, || api.create(&pp, object)).await {
            Ok(created) => Ok((created, true)),
            Err(e) if e.is_conflict() => {
                let existing = self
                    .call(what.1, || api.get(&name))
                    .await
                    .map_err(|e| failed(&e))?;
                if objects::owned_by(existing.meta(), uid) {
                    tracing::info!(%name, "adopting what a previous attempt created");
                    Ok((existing, false))
                } else {
                    Err(permanent(format!(
                        "{context}: {name} already exists and is not owned by this DataMover"
                    )))
                }
            }
            Err(e) => Err(failed(&e)),
        }
    }

    /// The `volumeBindingMode` of storage class `name` (read once, then cached); `None`
    /// when it cannot be read (the clone is then treated as binding immediately).
    async fn binding_mode(&self, name: &str) -> Option<String> {
        if let Some(mode) = read(&self.inner.binding_modes).get(name) {
            return Some(mode.clone());
        }
        let api: Api<k8s_openapi::api::storage::v1::StorageClass> =
            Api::all(self.inner.client.clone());
        match self.call("get-storageclass", || api.get(name)).await {
            Ok(class) => {
                let mode = class
                    .volume_binding_mode
                    .unwrap_or_else(|| "Immediate".into());
                write(&self.inner.binding_modes).insert(name.to_owned(), mode.clone());
                Some(mode)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the storage class {name}");
                None
            }
        }
    }

    /// Where a clone stands: `Bound`, waiting for its first consumer (its storage class
    /// binds on first use), or `Pending`; `Lost` fails it.
    async fn clone_state(&self, pvc: &PersistentVolumeClaim) -> Result<CloneState, ClusterError> {
        match pvc.status.phase.as_str() {
            "Bound" => Ok(CloneState::Bound),
            "Lost" => Err(ClusterError::Volume(format!(
                "the clone {}/{} is Lost",
                pvc.metadata.namespace, pvc.metadata.name
            ))),
            _ => {
                let class = pvc.spec.storage_class_name.as_deref().unwrap_or_default();
                let waits = !class.is_empty()
                    && self.binding_mode(class).await.as_deref() == Some("WaitForFirstConsumer");
                Ok(if waits {
                    CloneState::WaitsForConsumer
                } else {
                    CloneState::Pending
                })
            }
        }
    }
}

/// The merge patch of a status write: the new status, `null` for fields it drops, and the
/// resourceVersion precondition.
#[must_use]
pub fn status_patch(old: Option<&DataMover>, new: &DataMover) -> serde_json::Value {
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

/// The termination message of a pod's sync container, if it terminated with one.
fn termination_message(pod: &core::Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == "rclone")?
        .state
        .as_ref()?
        .terminated
        .as_ref()?
        .message
        .clone()
        .filter(|m| !m.is_empty())
}

/// What the secret's keys say about the destination, without its credentials.
fn describe_destination(secret: &BTreeMap<String, String>) -> String {
    if let Some(d) = secret.get("DESTINATION") {
        return d.clone();
    }
    if let Some(bucket) = secret.get("BUCKET_NAME") {
        return match secret.get("BUCKET_HOST") {
            Some(host) => format!("s3://{host}/{bucket}"),
            None => format!("s3:{bucket}"),
        };
    }
    "the destination the sync job reads from its secret".into()
}

impl Cluster for KubeCluster {
    fn datamover(&self, namespace: &str, name: &str) -> Option<DataMover> {
        read(&self.inner.datamovers)
            .get(&ObjectKey::namespaced(namespace, name))
            .map(|e| (*e.dm).clone())
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
        read(&self.inner.pvcs)
            .get(&ObjectKey::namespaced(namespace, name))
            .map(|p| PersistentVolumeClaim::clone(p))
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        read(&self.inner.secrets)
            .get(&ObjectKey::namespaced(namespace, name))
            .cloned()
    }

    async fn clone_pvc(
        &self,
        namespace: &str,
        source: &PersistentVolumeClaim,
        clone: &str,
    ) -> Result<CloneState, ClusterError> {
        let owner = self
            .entry_where(|e| {
                e.dm.metadata.namespace == namespace && e.dm.status.restored_pvc_name == clone
            })
            .ok_or_else(|| {
                ClusterError::Volume(format!(
                    "no DataMover in {namespace} claims the clone {clone}"
                ))
            })?;
        let uid = owner.dm.metadata.uid.clone();
        // Already created (the watch saw it): where it stands, without a request.
        if let Some(existing) = self.pvc(namespace, clone)
            && existing
                .metadata
                .owner_references
                .iter()
                .any(|r| r.uid == uid)
        {
            return self.clone_state(&existing).await;
        }
        let owner = objects::owner_reference(&owner.dm.metadata.name, &uid);
        let pvc = objects::clone_pvc(namespace, clone, source, &owner);
        let api = self.ns::<core::PersistentVolumeClaim>(namespace);
        let context = format!("cloning {} into {clone}", source.metadata.name);
        let (created, _) = self
            .create_or_adopt(
                &api,
                &pvc,
                &uid,
                ("create-pvc", "get-pvc"),
                &context,
                ClusterError::Volume,
            )
            .await?;
        let created: PersistentVolumeClaim = convert(&created)
            .ok_or_else(|| ClusterError::Volume(format!("{context}: the clone is unreadable")))?;
        // Cached at once, so the next reconcile finds it even before its watch event.
        write(&self.inner.pvcs)
            .entry(ObjectKey::namespaced(namespace, clone))
            .or_insert_with(|| Arc::new(created.clone()));
        self.clone_state(&created).await
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
        Ok(describe_destination(&request.secret))
    }

    fn job(&self, namespace: &str, name: &str) -> Option<SyncJob> {
        read(&self.inner.jobs)
            .get(&ObjectKey::namespaced(namespace, name))
            .map(|j| SyncJob::clone(j))
    }

    async fn create_job(&self, dm: &DataMover) -> Result<(SyncJob, bool), ClusterError> {
        let entry = self
            .entry_where(|e| e.dm.metadata.uid == dm.metadata.uid)
            .ok_or_else(|| ClusterError::Sync("the DataMover is gone".into()))?;
        let owner = objects::owner_reference(&entry.dm.metadata.name, &entry.dm.metadata.uid);
        let job = objects::sync_job(&entry.raw, &dm.status.restored_pvc_name, &owner);
        let api = self.ns::<Job>(&dm.metadata.namespace);
        let (job, created) = self
            .create_or_adopt(
                &api,
                &job,
                &owner.uid,
                ("create-job", "get-job"),
                "creating the sync job",
                ClusterError::Sync,
            )
            .await?;
        let converted = convert::<SyncJob>(&job)
            .ok_or_else(|| ClusterError::Sync("the created Job is unreadable".into()))?;
        write(&self.inner.jobs).insert(key_of(&job.metadata), Arc::new(converted.clone()));
        Ok((converted, created))
    }
}

/// The PVCs: a clone's watch event (it binds) brings its owning DataMover back, for
/// [`Controller::owns`](tmc_runtime::Controller::owns).
impl Store<PersistentVolumeClaim> for KubeCluster {
    fn get(&self, key: &ObjectKey) -> Option<Arc<PersistentVolumeClaim>> {
        read(&self.inner.pvcs).get(key).cloned()
    }

    fn list(&self) -> Vec<Arc<PersistentVolumeClaim>> {
        read(&self.inner.pvcs).values().cloned().collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<PersistentVolumeClaim>> {
        let (tx, rx) = unbounded_channel();
        let _cache = read(&self.inner.pvcs);
        self.inner
            .pvc_watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }
}

/// The sync Jobs, for [`Controller::owns`](tmc_runtime::Controller::owns).
impl Store<SyncJob> for KubeCluster {
    fn get(&self, key: &ObjectKey) -> Option<Arc<SyncJob>> {
        read(&self.inner.jobs).get(key).cloned()
    }

    fn list(&self) -> Vec<Arc<SyncJob>> {
        read(&self.inner.jobs).values().cloned().collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<SyncJob>> {
        let (tx, rx) = unbounded_channel();
        let _cache = read(&self.inner.jobs);
        self.inner
            .job_watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }
}

impl Store<DataMover> for KubeCluster {
    fn get(&self, key: &ObjectKey) -> Option<Arc<DataMover>> {
        read(&self.inner.datamovers)
            .get(key)
            .map(|e| Arc::clone(&e.dm))
    }

    fn list(&self) -> Vec<Arc<DataMover>> {
        read(&self.inner.datamovers)
            .values()
            .map(|e| Arc::clone(&e.dm))
            .collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<DataMover>> {
        let (tx, rx) = unbounded_channel();
        let _cache = read(&self.inner.datamovers);
        self.inner
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }
}

use tmc_runtime::Resource as _;
