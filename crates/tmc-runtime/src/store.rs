//! Sources of objects: the store trait and an in-memory store.

use crate::{ObjectKey, Resource};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// A change to a store.
pub enum Event<K> {
    /// The object was created or updated; this is its new state.
    Applied(Arc<K>),
    /// The object with this key was deleted.
    Deleted(ObjectKey),
}

impl<K> Clone for Event<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Applied(o) => Self::Applied(Arc::clone(o)),
            Self::Deleted(k) => Self::Deleted(k.clone()),
        }
    }
}

impl<K> fmt::Debug for Event<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Applied(_) => f.write_str("Applied(..)"),
            Self::Deleted(k) => f.debug_tuple("Deleted").field(k).finish(),
        }
    }
}

/// What [`Store::ready`] returns: completes once the store can be listed completely. It
/// borrows nothing, so it can be held and awaited anywhere.
pub type Ready = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A cache of objects that can be listed, read by key and watched: what a controller runs
/// on. Nothing here knows about Kubernetes; a reflector over an API server, a database
/// table or [`MemoryStore`] all fit.
///
/// The controller calls [`watch`](Self::watch) first and [`list`](Self::list) second, then
/// reconciles every listed key and every key an event names; it waits for
/// [`ready`](Self::ready) before all of that. At run time it reads the
/// latest object with [`get`](Self::get); a key whose object is gone is dropped without a
/// reconcile.
pub trait Store<K>: Send + Sync + 'static {
    /// The object with `key`, if present.
    fn get(&self, key: &ObjectKey) -> Option<Arc<K>>;
    /// Every object.
    fn list(&self) -> Vec<Arc<K>>;
    /// A receiver of every change made after this call.
    fn watch(&self) -> UnboundedReceiver<Event<K>>;

    /// Completes once [`list`](Self::list) returns everything there is: a cache fed by a
    /// watch has its first complete listing (a reflector "synced"). A controller waits for
    /// the readiness of every store it reads before its first list, and a
    /// [`Manager`](crate::Manager) starts a controller only after that. Called any number of
    /// times, at any time; the future holds no borrow of the store.
    ///
    /// Default: ready at once, as an in-memory store or a database is complete from the
    /// start. A cache overrides it, e.g. over a `tokio::sync::watch` of its synced flag:
    /// `let mut rx = self.synced.subscribe(); Box::pin(async move { let _ = rx.wait_for(|s| *s).await; })`.
    fn ready(&self) -> Ready {
        Box::pin(std::future::ready(()))
    }
}

/// A thread-safe in-memory [`Store`]. Clones share the same objects and watchers.
///
/// ```
/// use std::sync::Arc;
/// use tmc_runtime::{Event, MemoryStore, ObjectKey, Resource, Store};
///
/// struct Job(&'static str);
/// impl Resource for Job {
///     fn key(&self) -> ObjectKey { ObjectKey::namespaced("default", self.0) }
/// }
///
/// let store = MemoryStore::new();
/// let mut events = store.watch();
/// store.apply(Job("a"));
/// assert!(store.get(&ObjectKey::from("default/a")).is_some());
/// assert!(matches!(events.try_recv(), Ok(Event::Applied(_))));
/// store.delete(&ObjectKey::from("default/a"));
/// assert!(matches!(events.try_recv(), Ok(Event::Deleted(_))));
/// assert!(store.list().is_empty());
/// ```
pub struct MemoryStore<K> {
    inner: Arc<Inner<K>>,
}

struct Inner<K> {
    objects: RwLock<HashMap<ObjectKey, Arc<K>>>,
    watchers: Mutex<Vec<UnboundedSender<Event<K>>>>,
}

impl<K> Clone for MemoryStore<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> Default for MemoryStore<K> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                objects: RwLock::new(HashMap::new()),
                watchers: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl<K> fmt::Debug for MemoryStore<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("objects", &self.len())
            .finish_non_exhaustive()
    }
}

impl<K> MemoryStore<K> {
    /// The number of objects.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ObjectKey, Arc<K>>> {
        self.inner
            .objects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Resource> MemoryStore<K> {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates or replaces the object under its key and tells every watcher.
    pub fn apply(&self, object: impl Into<Arc<K>>) {
        let object = object.into();
        let mut objects = self
            .inner
            .objects
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        objects.insert(object.key(), Arc::clone(&object));
        // Sent while the write lock is held, so a watcher sees changes in map order.
        self.broadcast(&Event::Applied(object));
    }

    /// Removes the object with `key` and tells every watcher; returns it if it was present.
    pub fn delete(&self, key: &ObjectKey) -> Option<Arc<K>> {
        let mut objects = self
            .inner
            .objects
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let removed = objects.remove(key);
        if removed.is_some() {
            self.broadcast(&Event::Deleted(key.clone()));
        }
        removed
    }

    fn broadcast(&self, event: &Event<K>) {
        let mut watchers = self
            .inner
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        watchers.retain(|w| w.send(event.clone()).is_ok());
    }
}

impl<K: Resource> Store<K> for MemoryStore<K> {
    fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.read().get(key).cloned()
    }

    fn list(&self) -> Vec<Arc<K>> {
        self.read().values().cloned().collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<K>> {
        let (tx, rx) = unbounded_channel();
        // Under the object lock: no change can slip between this and a following `list`.
        let _objects = self.read();
        self.inner
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Obj(&'static str, u32);
    impl Resource for Obj {
        fn key(&self) -> ObjectKey {
            ObjectKey::cluster(self.0)
        }
    }

    #[test]
    fn apply_should_replace_and_notify_every_live_watcher() {
        let store = MemoryStore::new();
        let mut w1 = store.watch();
        let w2 = store.watch();
        drop(w2);
        store.apply(Obj("a", 1));
        store.apply(Obj("a", 2));
        assert_eq!(store.len(), 1);
        assert_eq!(*store.get(&ObjectKey::cluster("a")).unwrap(), Obj("a", 2));
        let mut versions = vec![];
        while let Ok(Event::Applied(o)) = w1.try_recv() {
            versions.push(o.1);
        }
        assert_eq!(versions, [1, 2]);
        assert_eq!(store.inner.watchers.lock().unwrap().len(), 1);
    }

    #[test]
    fn deleting_an_absent_key_should_not_notify() {
        let store: MemoryStore<Obj> = MemoryStore::new();
        let mut w = store.watch();
        assert!(store.delete(&ObjectKey::cluster("x")).is_none());
        assert!(w.try_recv().is_err());
    }
}
