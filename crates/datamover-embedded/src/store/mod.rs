//! The embedded, crash-safe object store: redb on disk, a cache in memory.
//!
//! Objects carry a uid, a resourceVersion (a store-wide counter) and a generation (bumped
//! when the spec changes); a status write must carry the current resourceVersion, so a
//! stale writer gets a [`StoreError::Conflict`] and retries. Every kind the store keeps is
//! a [`Stored`] kind: one create, one compare-and-set status write, one watch and one
//! [`tmc_runtime::Store`] adapter ([`EmbeddedStore::of`]) serve them all.
//!
//! # What is durable when
//!
//! Every write is one redb transaction; the cache and the watchers see it only once it is
//! committed, in commit order.
//! - Applies, creates, deletes and every status write that changes more than live progress
//!   (a phase, a condition, a pod started or failed, a Job's end) are committed with
//!   [`Durability::Immediate`]: on disk (fsync) before the call returns. A crash loses
//!   nothing that was acknowledged.
//! - A status write that changes only the live progress of a running sync (the executor's
//!   tick of a Job's `status.progress`, and its mirror in the DataMover's
//!   `status.progress`; see [`Stored::progress_only`]) is committed with
//!   [`Durability::None`]: visible at once, but on disk only with the next durable commit,
//!   which makes it durable too. A crash loses at most the progress ticks since then; a
//!   running sync costs no fsync per tick.
//!
//! # Disk errors
//!
//! A write the disk refuses (full, or failing) returns [`StoreError::Write`] and changes
//! nothing: not the cache, not the watchers. redb then refuses every write until its
//! database is reopened, so the store does that itself, on the next write or when
//! [`EmbeddedStore::recover`] runs, and first writes the cache (what was acknowledged) back
//! to the file. [`EmbeddedStore::write_failure`] says why writes fail meanwhile; each failure
//! counts in `datamover_store_write_errors_total{kind}`.
//!
//! # Blocking
//!
//! The store's methods block: a write is a transaction and, durable, an fsync. From async
//! code, write through [`EmbeddedStore::write`], which runs the write on tokio's blocking
//! pool. Reads are served from the cache and do not block on the disk.

mod apply;
mod delete;
mod disk;
mod error;
mod kinds;

pub use apply::Applied;
pub use delete::Preconditions;
pub use error::{StoreError, WriteErrorKind, WriteFailure};
pub use kinds::{Stored, Typed};

use datamover::manifest::Object;
use datamover::time;
use datamover::types::{DataMover, Kind, PersistentVolumeClaim};
use kinds::{Change, Watchers};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use tmc_metrics::MetricsCollector;
use tmc_runtime::{Event, ObjectKey};
use tokio::sync::mpsc::UnboundedReceiver;

const OBJECTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

type Key = (Kind, String, String);

/// The store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct EmbeddedStore {
    /// `None` while a reopen after a failed write has not succeeded yet.
    db: Mutex<Option<Database>>,
    /// The database file, for reopening it.
    file: PathBuf,
    /// The file as shown in errors.
    path: String,
    /// Why writes fail, from a failed write until the database is reopened.
    failure: RwLock<Option<WriteFailure>>,
    /// How many writes the disk refused since the store opened.
    failures: AtomicU64,
    /// Where failed writes are counted.
    metrics: MetricsCollector,
    cache: RwLock<BTreeMap<Key, Object>>,
    next_version: AtomicU64,
    watchers: Mutex<Watchers>,
    /// Serialises writers so cache and disk change in the same order.
    write: Mutex<()>,
}

fn storage_key(kind: Kind, namespace: &str, name: &str) -> String {
    format!("{}/{namespace}/{name}", kind.as_str())
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path` and loads every object.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the file cannot be opened (another operator holds it,
    /// no permission, not a redb file), [`StoreError::Corrupt`] for an unreadable object,
    /// [`StoreError::UnknownKind`] for one of a kind the store does not keep.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let db_err = |e: redb::Error| StoreError::Database {
            path: shown.clone(),
            source: e,
        };
        let db = Database::create(path).map_err(|e| db_err(e.into()))?;
        let txn = db.begin_write().map_err(|e| db_err(e.into()))?;
        txn.open_table(OBJECTS).map_err(|e| db_err(e.into()))?;
        txn.open_table(META).map_err(|e| db_err(e.into()))?;
        txn.commit().map_err(|e| db_err(e.into()))?;

        let mut cache = BTreeMap::new();
        let read = db.begin_read().map_err(|e| db_err(e.into()))?;
        let objects = read.open_table(OBJECTS).map_err(|e| db_err(e.into()))?;
        for entry in objects.iter().map_err(|e| db_err(e.into()))? {
            let (k, v) = entry.map_err(|e| db_err(e.into()))?;
            let object = kinds::decode(k.value(), v.value())?;
            let m = object.metadata();
            cache.insert((object.kind(), m.namespace.clone(), m.name.clone()), object);
        }
        let meta = read.open_table(META).map_err(|e| db_err(e.into()))?;
        let version = meta
            .get("resourceVersion")
            .map_err(|e| db_err(e.into()))?
            .map_or(0, |v| v.value());
        drop((objects, meta, read));
        Ok(Self {
            db: Mutex::new(Some(db)),
            file: path.to_owned(),
            path: shown,
            failure: RwLock::default(),
            failures: AtomicU64::new(0),
            metrics: MetricsCollector::facade(),
            cache: RwLock::new(cache),
            next_version: AtomicU64::new(version + 1),
            watchers: Mutex::default(),
            write: Mutex::default(),
        })
    }

    /// Counts failed writes in `metrics` rather than through the `metrics` facade.
    #[must_use]
    pub fn with_metrics(mut self, metrics: MetricsCollector) -> Self {
        self.metrics = metrics;
        self
    }

    fn db_err(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            source: e.into(),
        }
    }

    /// The writer's lock: one write at a time.
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `objects` (with `remove` keys deleted) in one transaction, durable unless
    /// `durability` says otherwise, then updates the cache and notifies watchers.
    fn commit(
        &self,
        objects: Vec<Object>,
        remove: Vec<Key>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.write_txn(&objects, &remove, durability)?;

        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        // Sent under the cache lock, so watchers see changes in commit order.
        for (kind, ns, name) in remove {
            if cache.remove(&(kind, ns.clone(), name.clone())).is_some() {
                watchers.send(kind, &Change::Deleted(ObjectKey::namespaced(&ns, &name)));
            }
        }
        for o in objects {
            watchers.send(o.kind(), &Change::Applied(&o));
            let m = o.metadata();
            cache.insert((o.kind(), m.namespace.clone(), m.name.clone()), o);
        }
        Ok(())
    }

    /// The next resourceVersion.
    fn version(&self) -> String {
        self.next_version.fetch_add(1, Ordering::SeqCst).to_string()
    }

    /// Gives a new object its identity: uid, resourceVersion, generation 1, creation time.
    fn mint(&self, object: &mut Object) {
        let now = time::now_ms();
        let version = self.version();
        let meta = object.metadata_mut();
        meta.uid = format!("{now:016x}-{version}");
        meta.resource_version = version;
        meta.generation = 1;
        meta.creation_timestamp = time::rfc3339(now);
    }

    /// Runs the write `f` on tokio's blocking pool, off the async workers: a write is a
    /// redb transaction and, durable, an fsync.
    ///
    /// # Errors
    /// `f`'s error; [`StoreError::Cancelled`] when the runtime shuts down first.
    pub async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Self) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(self);
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Cancelled),
        }
    }

    /// Creates an object the operator makes (a schedule's DataMover, a Job): uid,
    /// resourceVersion, generation and creation time are set here.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when one has its name; [`StoreError::Write`] when the
    /// disk refuses the write.
    pub fn create<K: Stored>(&self, object: K) -> Result<K, StoreError> {
        let _guard = self.lock();
        let m = object.meta();
        if self.get(K::STORE_KIND, &m.namespace, &m.name).is_some() {
            return Err(StoreError::AlreadyExists {
                kind: K::STORE_KIND.as_str(),
                namespace: m.namespace.clone(),
                name: m.name.clone(),
            });
        }
        let mut object = object.into_object();
        self.mint(&mut object);
        self.commit(vec![object.clone()], Vec::new(), Durability::Immediate)?;
        K::from_object(object).ok_or_else(|| self.wrong_kind::<K>())
    }

    /// Not reachable: an object converted from `K` converts back.
    fn wrong_kind<K: Stored>(&self) -> StoreError {
        StoreError::Corrupt {
            key: self.path.clone(),
            message: format!("a {} changed kind", K::STORE_KIND.as_str()),
        }
    }

    /// Writes the status of `object`, if it carries the stored resourceVersion; everything
    /// else stays as stored. A write of live progress alone is not durable (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a stale version, [`StoreError::NotFound`] when deleted,
    /// [`StoreError::Write`] when the disk refuses the write.
    pub fn update_status<K: Stored>(&self, object: &K) -> Result<K, StoreError> {
        let _guard = self.lock();
        self.update_status_locked(object)
    }

    fn update_status_locked<K: Stored>(&self, object: &K) -> Result<K, StoreError> {
        let m = object.meta();
        let Some(current) = self.object::<K>(&m.namespace, &m.name) else {
            return Err(StoreError::NotFound {
                kind: K::STORE_KIND.as_str(),
                namespace: m.namespace.clone(),
                name: m.name.clone(),
            });
        };
        if current.meta().resource_version != m.resource_version {
            return Err(StoreError::Conflict {
                kind: K::STORE_KIND.as_str(),
                namespace: m.namespace.clone(),
                name: m.name.clone(),
                expected: m.resource_version.clone(),
                actual: current.meta().resource_version.clone(),
            });
        }
        let durability = if K::progress_only(&current, object) {
            Durability::None
        } else {
            Durability::Immediate
        };
        let mut updated = current;
        updated.copy_status(object);
        updated.meta_mut().resource_version = self.version();
        self.commit(vec![updated.clone().into_object()], Vec::new(), durability)?;
        Ok(updated)
    }

    /// Names `dm`'s clone `<sourcePvc>-cloned-<N>`, N the first second from `secs` on whose
    /// name no PVC and no other DataMover has, and stores it in the status, atomically: two
    /// DataMovers cloning one PVC in the same second get different names.
    ///
    /// # Errors
    /// As [`update_status`](Self::update_status).
    pub fn claim_clone_name(&self, dm: &DataMover, secs: u64) -> Result<DataMover, StoreError> {
        let _guard = self.lock();
        let ns = &dm.metadata.namespace;
        let taken: std::collections::HashSet<String> = {
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            cache
                .iter()
                .filter(|((_, n, _), _)| n == ns)
                .filter_map(|((kind, _, name), o)| match (kind, o) {
                    (Kind::PersistentVolumeClaim, _) => Some(name.clone()),
                    (Kind::DataMover, Object::DataMover(other))
                        if other.metadata.name != dm.metadata.name =>
                    {
                        Some(other.status.restored_pvc_name.clone())
                    }
                    _ => None,
                })
                .collect()
        };
        let name = datamover::types::free_clone_name(&dm.spec.source_pvc, secs, &taken);
        let mut claimed = dm.clone();
        claimed.status.restored_pvc_name = name;
        self.update_status_locked(&claimed)
    }

    /// Stores a PVC the operator made (a clone): a new one gets its identity here.
    ///
    /// # Errors
    /// [`StoreError::Write`] when the disk refuses the write.
    pub fn put_pvc(&self, pvc: PersistentVolumeClaim) -> Result<(), StoreError> {
        let _guard = self.lock();
        let mut object = Object::PersistentVolumeClaim(pvc);
        if object.metadata().uid.is_empty() {
            self.mint(&mut object);
        } else {
            object.metadata_mut().resource_version = self.version();
        }
        self.commit(vec![object], Vec::new(), Durability::Immediate)
    }

    /// One object of any kind.
    #[must_use]
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Object> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(&(kind, namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every object of `kind`, in `namespace` when given, sorted by namespace and name.
    #[must_use]
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> Vec<Object> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache
            .iter()
            .filter(|((k, ns, _), _)| *k == kind && namespace.is_none_or(|n| n == ns))
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// One object of kind `K`: `store.object::<DataMover>("default", "nightly")`.
    #[must_use]
    pub fn object<K: Stored>(&self, namespace: &str, name: &str) -> Option<K> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(&(K::STORE_KIND, namespace.to_owned(), name.to_owned()))
            .and_then(K::in_object)
            .cloned()
    }

    /// Every object of kind `K`, in `namespace` when given, sorted by namespace and name.
    #[must_use]
    pub fn objects<K: Stored>(&self, namespace: Option<&str>) -> Vec<K> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache
            .iter()
            .filter(|((k, ns, _), _)| *k == K::STORE_KIND && namespace.is_none_or(|n| n == ns))
            .filter_map(|(_, o)| K::in_object(o).cloned())
            .collect()
    }

    /// `f` of every object of kind `K`, in `namespace` when given, sorted by namespace and
    /// name: for callers that need part of each, without cloning every object whole (the
    /// overlap check reads thousands per sync Job).
    #[must_use]
    pub fn objects_with<K: Stored, T>(
        &self,
        namespace: Option<&str>,
        f: impl FnMut(&K) -> T,
    ) -> Vec<T> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache
            .iter()
            .filter(|((k, ns, _), _)| *k == K::STORE_KIND && namespace.is_none_or(|n| n == ns))
            .filter_map(|(_, o)| K::in_object(o))
            .map(f)
            .collect()
    }

    /// The first object of kind `K` in `namespace` (by name) that `found` accepts: only it
    /// is cloned.
    #[must_use]
    pub fn find<K: Stored>(&self, namespace: &str, found: impl Fn(&K) -> bool) -> Option<K> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache
            .iter()
            .filter(|((k, ns, _), _)| *k == K::STORE_KIND && ns == namespace)
            .filter_map(|(_, o)| K::in_object(o))
            .find(|o| found(o))
            .cloned()
    }

    /// Every DataMover in `namespace` that the object with `uid` owns.
    #[must_use]
    pub fn datamovers_owned_by(&self, namespace: &str, uid: &str) -> Vec<DataMover> {
        let mut owned = self.objects::<DataMover>(Some(namespace));
        owned.retain(|dm| dm.metadata.owned_by(uid));
        owned
    }

    /// A receiver of every change to objects of kind `K` from now on.
    #[must_use]
    pub fn watch<K: Stored>(&self) -> UnboundedReceiver<Event<K>> {
        // Under the cache lock: no change slips between this and a following list.
        let _cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add::<K>()
    }

    /// The objects of kind `K`, as the controller runtime's [`tmc_runtime::Store`].
    #[must_use]
    pub fn of<K: Stored>(self: &Arc<Self>) -> Typed<K> {
        Typed::new(Arc::clone(self))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod disk_tests;
