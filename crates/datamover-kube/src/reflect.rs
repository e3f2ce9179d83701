//! The caches: one kube-runtime [`watcher`](kube::runtime::watcher()) and [`reflector`] store per kind (DataMovers,
//! Jobs, PVCs, Secrets; DataMoverSchedules and DataMoverPopulators), and the [`tmc_runtime::Store`] the controller runtime reads, as one
//! generic implementation over them.
//!
//! kube's watcher lists in pages (`limit`/`continue`, [`Options::page_size`](crate::Options)),
//! watches from the list's resourceVersion with bookmarks, resumes from the last
//! resourceVersion when a watch ends, relists on 410 Gone, and is polled through
//! [`WatchStreamExt::default_backoff`] (exponential, jittered, client-go's parameters). Its
//! events are applied to a reflector [`Writer`](reflector::store::Writer) and turned into
//! [`tmc_runtime::Event`]s:
//!
//! - `Apply` / `Delete`: `Applied` / `Deleted`;
//! - a (re)list (`Init`, `InitApply`..., `InitDone`): the difference against what the cache
//!   held before, so nothing that happened while no watch ran is lost: an object that is new
//!   or whose resourceVersion changed is `Applied`, an object the list no longer has is
//!   `Deleted`, an unchanged object sends nothing.
//!
//! Every completed (re)list counts as one `list-<resource>` operation in
//! `tmc_component_operations_total`, a failed list as an error of it, and every watch
//! failure (a 410 included: it is what makes the watcher relist) as an error of
//! `watch-<resource>`, classified in `tmc_component_errors_total` by its HTTP status.

use crate::KubeCluster;
use crate::api::{self, ApiError};
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::Resource as _;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use tmc_metrics::OperationTracker;
use tmc_runtime::{Event, ObjectKey};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// A kind the [`KubeCluster`] caches: the API object its reflector holds, and the object the
/// reconciler and the controller runtime read.
pub trait Cached: Sized + Send + Sync + 'static {
    /// The API object, as the API server sends it.
    type Object: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + fmt::Debug
        + Send
        + Sync
        + 'static;
    /// The operation name of a (re)list, e.g. `list-jobs`.
    const LIST: &'static str;
    /// The operation name of a watch, e.g. `watch-jobs`.
    const WATCH: &'static str;

    /// This kind's cache in `cluster`.
    fn reflected(cluster: &KubeCluster) -> &Reflected<Self>;

    /// The object as the reconciler reads it; `None` (logged) when it cannot be read.
    fn convert(object: &Self::Object, cluster: &KubeCluster) -> Option<Self>;

    /// The watcher's configuration for this kind, from the backend's (page size, watch
    /// timeout); the same by default.
    fn config(config: watcher::Config) -> watcher::Config {
        config
    }

    /// Runs before an object's event is applied and sent on (a finished Job's final
    /// statistics are read here); nothing by default.
    fn prepare(object: &Self::Object, cluster: &KubeCluster) -> impl Future<Output = ()> + Send {
        let _ = (object, cluster);
        async {}
    }
}

/// One kind's cache: kube's reflector store and the controller runtime's subscribers.
pub struct Reflected<T: Cached> {
    reader: reflector::Store<T::Object>,
    writer: Mutex<reflector::store::Writer<T::Object>>,
    watchers: Mutex<Vec<UnboundedSender<Event<T>>>>,
    synced: tokio::sync::watch::Sender<bool>,
}

impl<T: Cached> fmt::Debug for Reflected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reflected")
            .field("objects", &self.reader.len())
            .field("synced", &*self.synced.borrow())
            .finish_non_exhaustive()
    }
}

impl<T: Cached> Default for Reflected<T> {
    fn default() -> Self {
        let writer = reflector::store::Writer::default();
        Self {
            reader: writer.as_reader(),
            writer: Mutex::new(writer),
            watchers: Mutex::default(),
            synced: tokio::sync::watch::Sender::new(false),
        }
    }
}

/// The key of an API object.
pub(crate) fn key_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> ObjectKey {
    ObjectKey::namespaced(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// Whether resourceVersion `new` is older than `old` (both numeric, as the API server's are;
/// opaque versions are never considered older).
fn older(new: Option<&str>, old: Option<&str>) -> bool {
    match (new.map(str::parse::<u64>), old.map(str::parse::<u64>)) {
        (Some(Ok(n)), Some(Ok(o))) => n < o,
        _ => false,
    }
}

impl<T: Cached> Reflected<T> {
    /// The cached API object with `key`.
    #[must_use]
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<T::Object>> {
        let mut at = ObjectRef::new(key.name());
        if let Some(ns) = key.namespace() {
            at = at.within(ns);
        }
        self.reader.get(&at)
    }

    /// Every cached API object.
    #[must_use]
    pub fn state(&self) -> Vec<Arc<T::Object>> {
        self.reader.state()
    }

    /// The first cached API object `f` accepts.
    pub fn find(&self, f: impl Fn(&T::Object) -> bool) -> Option<Arc<T::Object>> {
        self.reader.find(f)
    }

    /// Whether the first list has completed.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    async fn wait_synced(&self) {
        let _ = self.synced.subscribe().wait_for(|s| *s).await;
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, reflector::store::Writer<T::Object>> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Caches what a write returned, so the next reconcile reads it before its watch event
    /// arrives; an object older than the cached one is ignored. Whether it was cached.
    pub(crate) fn remember(&self, object: T::Object) -> bool {
        let key = key_of(object.meta());
        // Held across the check and the write, so a watch event and a write's answer
        // cannot interleave between them.
        let mut writer = self.writer();
        let stale = self.get(&key).is_some_and(|cached| {
            older(
                object.meta().resource_version.as_deref(),
                cached.meta().resource_version.as_deref(),
            )
        });
        if !stale {
            writer.apply_watcher_event(&watcher::Event::Apply(object));
        }
        !stale
    }

    /// Drops the cached object with `key` after a delete the operator made, so the next
    /// reconcile does not see it before its watch event arrives.
    pub(crate) fn forget(&self, key: &ObjectKey) {
        if let Some(object) = self.get(key) {
            self.writer()
                .apply_watcher_event(&watcher::Event::Delete((*object).clone()));
        }
    }

    pub(crate) fn subscribe(&self) -> UnboundedReceiver<Event<T>> {
        let (tx, rx) = unbounded_channel();
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }

    /// Sends `event` to every live subscriber, forgetting the ones that hung up.
    fn fan_out(&self, event: &Event<T>) {
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|w| w.send(event.clone()).is_ok());
    }
}

/// Waits until every cache has listed once.
pub(crate) async fn wait_all_synced(cluster: &KubeCluster) {
    use datamover::job::Job;
    use datamover::types::{DataMover, PersistentVolumeClaim, Secret};
    DataMover::reflected(cluster).wait_synced().await;
    PersistentVolumeClaim::reflected(cluster)
        .wait_synced()
        .await;
    Job::reflected(cluster).wait_synced().await;
    Secret::reflected(cluster).wait_synced().await;
}

/// Waits until the schedule and populator caches have listed once.
pub(crate) async fn wait_schedules_synced(cluster: &KubeCluster) {
    use datamover::populator::DataMoverPopulator;
    use datamover::schedule::DataMoverSchedule;
    DataMoverSchedule::reflected(cluster).wait_synced().await;
    DataMoverPopulator::reflected(cluster).wait_synced().await;
}

/// Runs kind `T`'s watcher into its cache forever.
pub(crate) async fn run<T: Cached>(cluster: KubeCluster, config: watcher::Config) {
    let cache = T::reflected(&cluster);
    let metrics = cluster.metrics();
    let list = metrics.operation(api::COMPONENT_TYPE, api::COMPONENT_ID, T::LIST);
    let watch = metrics.operation(api::COMPONENT_TYPE, api::COMPONENT_ID, T::WATCH);
    let mut listing: Option<OperationTracker> = None;
    // The keys and resourceVersions of a (re)list so far (the writer buffers the objects).
    let mut listed: Vec<(ObjectKey, Option<String>)> = Vec::new();
    let stream = watcher(cluster.all::<T::Object>(), T::config(config)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(event) => event,
            Err(e) => {
                let (operation, source) = match e {
                    watcher::Error::InitialListFailed(e) => (T::LIST, e),
                    watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
                        (T::WATCH, e)
                    }
                    watcher::Error::WatchError(status) => (T::WATCH, kube::Error::Api(status)),
                    watcher::Error::NoResourceVersion => {
                        tracing::warn!(
                            "{}: the API server sent no resourceVersion; relisting",
                            T::LIST
                        );
                        continue;
                    }
                };
                let error = ApiError { operation, source };
                if error.status() == Some(410) {
                    tracing::info!(%error, "resourceVersion expired (410 Gone); relisting");
                } else {
                    tracing::warn!(%error, "watch failed; retrying with backoff");
                }
                match listing.take() {
                    Some(tracker) if operation == T::LIST => tracker.error(&error),
                    _ if operation == T::LIST => list.start().error(&error),
                    _ => watch.start().error(&error),
                }
                continue;
            }
        };
        match event {
            watcher::Event::Init => {
                listing = Some(list.start());
                listed.clear();
                cache.writer().apply_watcher_event(&watcher::Event::Init);
            }
            watcher::Event::InitApply(object) => {
                T::prepare(&object, &cluster).await;
                let meta = object.meta();
                listed.push((key_of(meta), meta.resource_version.clone()));
                cache
                    .writer()
                    .apply_watcher_event(&watcher::Event::InitApply(object));
            }
            watcher::Event::InitDone => {
                let before: HashMap<ObjectKey, Option<String>> = cache
                    .state()
                    .iter()
                    .map(|o| (key_of(o.meta()), o.meta().resource_version.clone()))
                    .collect();
                cache
                    .writer()
                    .apply_watcher_event(&watcher::Event::InitDone);
                if let Some(tracker) = listing.take() {
                    tracker.success();
                }
                let mut events = Vec::new();
                let mut present = HashSet::new();
                for (key, version) in listed.drain(..) {
                    let changed = before.get(&key) != Some(&version);
                    if changed
                        && let Some(object) = cache.get(&key)
                        && let Some(t) = T::convert(&object, &cluster)
                    {
                        events.push(Event::Applied(Arc::new(t)));
                    }
                    present.insert(key);
                }
                events.extend(
                    before
                        .into_keys()
                        .filter(|k| !present.contains(k))
                        .map(Event::Deleted),
                );
                cache.synced.send_replace(true);
                for event in &events {
                    cache.fan_out(event);
                }
            }
            watcher::Event::Apply(object) => {
                T::prepare(&object, &cluster).await;
                if let Some(t) = T::convert(&object, &cluster)
                    && cache.remember(object)
                {
                    cache.fan_out(&Event::Applied(Arc::new(t)));
                }
            }
            watcher::Event::Delete(object) => {
                let key = key_of(object.meta());
                cache
                    .writer()
                    .apply_watcher_event(&watcher::Event::Delete(object));
                cache.fan_out(&Event::Deleted(key));
            }
        }
    }
}

/// One implementation for every cached kind: the controller runtime reads kube's reflector
/// store, converted, and receives the events `run` derives.
impl<T: Cached> tmc_runtime::Store<T> for KubeCluster {
    fn get(&self, key: &ObjectKey) -> Option<Arc<T>> {
        let object = T::reflected(self).get(key)?;
        T::convert(&object, self).map(Arc::new)
    }

    fn list(&self) -> Vec<Arc<T>> {
        T::reflected(self)
            .state()
            .iter()
            .filter_map(|o| T::convert(o, self).map(Arc::new))
            .collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<T>> {
        T::reflected(self).subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamover::types::PersistentVolumeClaim;
    use k8s_openapi::api::core::v1 as core;

    fn pvc(version: &str, phase: &str) -> core::PersistentVolumeClaim {
        core::PersistentVolumeClaim {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("data-cloned-1".into()),
                namespace: Some("default".into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            status: Some(core::PersistentVolumeClaimStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn phase(cache: &Reflected<PersistentVolumeClaim>) -> Option<String> {
        cache
            .get(&ObjectKey::namespaced("default", "data-cloned-1"))
            .and_then(|p| p.status.as_ref()?.phase.clone())
    }

    /// A write's answer older than what a watch event already cached does not replace it.
    #[test]
    fn an_older_answer_does_not_replace_a_newer_object() {
        let cache = Reflected::<PersistentVolumeClaim>::default();
        assert!(cache.remember(pvc("20", "Pending")));
        assert!(cache.remember(pvc("21", "Bound")));
        assert!(!cache.remember(pvc("20", "Pending")), "stale");
        assert_eq!(phase(&cache).as_deref(), Some("Bound"));
        // Opaque versions are never taken for older.
        assert!(cache.remember(pvc("a", "Lost")));
        assert_eq!(phase(&cache).as_deref(), Some("Lost"));
    }
}
