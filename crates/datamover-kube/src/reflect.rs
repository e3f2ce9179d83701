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
//! Nothing is awaited between two events: one slow API call must not stall a kind's whole
//! stream. What needs the API server (a finished Job's pod report) is read by a task
//! [`Cached::observe`] starts; the object's event is [held](Cached::held) meanwhile and
//! sent again once the task is done. What the watch sends is applied as it comes (it
//! delivers every version in order); resourceVersions are opaque and compared for equality
//! only.
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

    /// Sees an object's event before it is applied; never awaits (a finished Job whose
    /// owner waits for its final statistics starts a task that reads them); nothing by
    /// default.
    fn observe(object: &Self::Object, cluster: &KubeCluster) {
        let _ = (object, cluster);
    }

    /// Whether the object's event is held back: what its conversion needs is still being
    /// read, and whoever reads it sends the object again once it is in. Never, by default.
    fn held(object: &Self::Object, cluster: &KubeCluster) -> bool {
        let _ = (object, cluster);
        false
    }

    /// The object with `key` left the cluster: drop what was kept about it beside the
    /// cache; nothing by default.
    fn gone(key: &ObjectKey, cluster: &KubeCluster) {
        let _ = (key, cluster);
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

    /// Waits until the first list has completed.
    pub(crate) async fn wait_synced(&self) {
        let _ = self.synced.subscribe().wait_for(|s| *s).await;
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, reflector::store::Writer<T::Object>> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Caches what a create returned, so the next reconcile reads it before its watch
    /// event arrives: only while nothing with its key is cached (else the watch already
    /// delivered it, or something newer). Whether it was cached.
    pub(crate) fn remember(&self, object: T::Object) -> bool {
        self.remember_if(object, None)
    }

    /// Caches what an update returned, made with `precondition` (the resourceVersion it
    /// replaced): only while the cached object still has that version, so the watch has
    /// not delivered the answer (or anything after it) yet. resourceVersions are opaque:
    /// they are compared for equality only, never ordered. Whether it was cached.
    pub(crate) fn remember_update(&self, object: T::Object, precondition: &str) -> bool {
        self.remember_if(object, Some(precondition))
    }

    /// Caches `object` if the cached version with its key is `expected` (`None`: nothing
    /// cached).
    fn remember_if(&self, object: T::Object, expected: Option<&str>) -> bool {
        let key = key_of(object.meta());
        // Held across the check and the write, so a watch event and a write's answer
        // cannot interleave between them.
        let mut writer = self.writer();
        let cached = self.get(&key);
        let current = cached
            .as_ref()
            .map(|c| c.meta().resource_version.as_deref().unwrap_or_default());
        let fresh = current == expected;
        if fresh {
            writer.apply_watcher_event(&watcher::Event::Apply(object));
        }
        fresh
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

    /// Sends the cached object with `key` to the subscribers again, as `Applied` (what its
    /// conversion reads has arrived: its owner is reconciled again); nothing when it is not
    /// cached or is still [held](Cached::held).
    pub(crate) fn resend(&self, key: &ObjectKey, cluster: &KubeCluster) {
        if let Some(object) = self.get(key)
            && !T::held(&object, cluster)
            && let Some(t) = T::convert(&object, cluster)
        {
            self.fan_out(&Event::Applied(Arc::new(t)));
        }
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
                T::observe(&object, &cluster);
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
                        && !T::held(&object, &cluster)
                        && let Some(t) = T::convert(&object, &cluster)
                    {
                        events.push(Event::Applied(Arc::new(t)));
                    }
                    present.insert(key);
                }
                for key in before.into_keys().filter(|k| !present.contains(k)) {
                    T::gone(&key, &cluster);
                    events.push(Event::Deleted(key));
                }
                cache.synced.send_replace(true);
                for event in &events {
                    cache.fan_out(event);
                }
            }
            watcher::Event::Apply(object) => {
                T::observe(&object, &cluster);
                let key = key_of(object.meta());
                // The watch delivers every version in order: what it sends is applied.
                cache
                    .writer()
                    .apply_watcher_event(&watcher::Event::Apply(object));
                // Sent unless held, checked after the write: whoever ends a hold resends
                // what is cached then, so the last version is sent either way.
                cache.resend(&key, &cluster);
            }
            watcher::Event::Delete(object) => {
                let key = key_of(object.meta());
                T::gone(&key, &cluster);
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

    /// Ready once the reflector has listed every object: a controller started by the
    /// [`Manager`](tmc_runtime::Manager) reconciles nothing from a half-filled cache.
    fn ready(&self) -> tmc_runtime::Ready {
        let mut synced = T::reflected(self).synced.subscribe();
        Box::pin(async move {
            let _ = synced.wait_for(|s| *s).await;
        })
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

    fn version(cache: &Reflected<PersistentVolumeClaim>) -> Option<String> {
        cache
            .get(&ObjectKey::namespaced("default", "data-cloned-1"))
            .and_then(|p| p.metadata.resource_version.clone())
    }

    /// A write's answer is cached only while the cache holds what the write replaced (its
    /// precondition; for a create, nothing): an answer the watch has already passed does
    /// not replace what it delivered since. Versions are compared for equality only: a
    /// version that reads as a smaller number is not taken for an older one.
    #[test]
    fn an_answer_the_watch_passed_does_not_replace_what_it_delivered() {
        let cache = Reflected::<PersistentVolumeClaim>::default();
        assert!(cache.remember(pvc("20", "Pending")), "created");
        assert!(!cache.remember(pvc("20", "Pending")), "already cached");
        // The update of 20 answered 3 (an opaque version, not a smaller one): cached.
        assert!(cache.remember_update(pvc("3", "Bound"), "20"));
        assert_eq!(
            (version(&cache).as_deref(), phase(&cache).as_deref()),
            (Some("3"), Some("Bound"))
        );
        // The watch delivered the answer and then 4 before the answer to an update of 3
        // came back: the answer is not cached over 4.
        for (v, p) in [("3", "Bound"), ("4", "Lost")] {
            cache
                .writer()
                .apply_watcher_event(&watcher::Event::Apply(pvc(v, p)));
        }
        assert!(!cache.remember_update(pvc("x9", "Pending"), "3"), "passed");
        assert_eq!(
            (version(&cache).as_deref(), phase(&cache).as_deref()),
            (Some("4"), Some("Lost"))
        );
        // Deleted meanwhile: an update's answer does not bring it back.
        cache.forget(&ObjectKey::namespaced("default", "data-cloned-1"));
        assert!(!cache.remember_update(pvc("5", "Bound"), "4"));
        assert_eq!(version(&cache), None);
    }
}
