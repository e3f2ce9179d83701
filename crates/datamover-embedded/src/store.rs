//! The embedded, crash-safe object store: redb on disk, a cache in memory.
//!
//! Every write is one redb transaction, committed durably before it is visible, so a crash
//! loses nothing that was acknowledged and a restart resumes from what was stored. Objects
//! carry a uid, a resourceVersion (a store-wide counter) and a generation (bumped when the
//! spec changes); a status write must carry the current resourceVersion, so a stale writer
//! gets a [`StoreError::Conflict`] and retries.

use crate::volumes::Volumes;
use datamover::job::Job;
use datamover::manifest::Object;
use datamover::populator::DataMoverPopulator;
use datamover::schedule::DataMoverSchedule;
use datamover::time;
use datamover::types::*;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tmc_runtime::{Event, ObjectKey};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

const OBJECTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The object changed since it was read.
    #[error(
        "{kind} {namespace}/{name} was modified (resourceVersion {expected} is stale, now {actual}): re-read and retry"
    )]
    Conflict {
        /// Kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The version the writer had.
        expected: String,
        /// The stored version.
        actual: String,
    },
    /// No such object.
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        /// Kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The database failed.
    #[error("store at {path}: {source}")]
    Database {
        /// The database file.
        path: String,
        /// The redb error.
        #[source]
        source: redb::Error,
    },
    /// An object with that name exists already.
    #[error("{kind} {namespace}/{name} already exists")]
    AlreadyExists {
        /// Kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A stored object could not be read back (a bug or a foreign file).
    #[error("stored object {key} is unreadable: {message}")]
    Corrupt {
        /// The object key.
        key: String,
        /// The decoding error.
        message: String,
    },
}

type Key = (Kind, String, String);

/// The store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct EmbeddedStore {
    db: Database,
    path: String,
    cache: RwLock<BTreeMap<Key, Object>>,
    next_version: AtomicU64,
    watchers: Mutex<Vec<UnboundedSender<Event<DataMover>>>>,
    job_watchers: Mutex<Vec<UnboundedSender<Event<Job>>>>,
    schedule_watchers: Mutex<Vec<UnboundedSender<Event<DataMoverSchedule>>>>,
    pvc_watchers: Mutex<Vec<UnboundedSender<Event<PersistentVolumeClaim>>>>,
    /// Serialises writers so cache and disk change in the same order.
    write: Mutex<()>,
}

/// What `apply` did with one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A new object.
    Created,
    /// An existing object whose spec (or data) changed.
    Configured,
    /// An existing object, unchanged.
    Unchanged,
}

fn storage_key(kind: Kind, namespace: &str, name: &str) -> String {
    format!("{}/{namespace}/{name}", kind.as_str())
}

fn meta_mut(o: &mut Object) -> &mut ObjectMeta {
    match o {
        Object::DataMover(x) => &mut x.metadata,
        Object::PersistentVolumeClaim(x) => &mut x.metadata,
        Object::Secret(x) => &mut x.metadata,
        Object::Job(x) => &mut x.metadata,
        Object::DataMoverSchedule(x) => &mut x.metadata,
        Object::DataMoverPopulator(x) => &mut x.metadata,
    }
}

fn to_json(o: &Object) -> Vec<u8> {
    let value = match o {
        Object::DataMover(x) => serde_json::to_vec(x),
        Object::PersistentVolumeClaim(x) => serde_json::to_vec(x),
        Object::Secret(x) => serde_json::to_vec(x),
        Object::Job(x) => serde_json::to_vec(x),
        Object::DataMoverSchedule(x) => serde_json::to_vec(x),
        Object::DataMoverPopulator(x) => serde_json::to_vec(x),
    };
    value.unwrap_or_default()
}

fn from_json(kind: &str, bytes: &[u8]) -> Result<Object, serde_json::Error> {
    Ok(match kind {
        "DataMover" => Object::DataMover(serde_json::from_slice(bytes)?),
        "PersistentVolumeClaim" => Object::PersistentVolumeClaim(serde_json::from_slice(bytes)?),
        "Job" => Object::Job(serde_json::from_slice(bytes)?),
        "DataMoverSchedule" => Object::DataMoverSchedule(serde_json::from_slice(bytes)?),
        "DataMoverPopulator" => Object::DataMoverPopulator(serde_json::from_slice(bytes)?),
        _ => Object::Secret(serde_json::from_slice(bytes)?),
    })
}

fn broadcast<K>(watchers: &Mutex<Vec<UnboundedSender<Event<K>>>>, events: &[Event<K>]) {
    if events.is_empty() {
        return;
    }
    let mut watchers = watchers.lock().unwrap_or_else(PoisonError::into_inner);
    watchers.retain(|w| events.iter().all(|e| w.send(e.clone()).is_ok()));
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path` and loads every object.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the file cannot be opened (another operator holds it,
    /// no permission, not a redb file), [`StoreError::Corrupt`] for an unreadable object.
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
            let key = k.value().to_owned();
            let kind = key.split('/').next().unwrap_or_default().to_owned();
            let object = from_json(&kind, v.value()).map_err(|e| StoreError::Corrupt {
                key: key.clone(),
                message: e.to_string(),
            })?;
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
            db,
            path: shown,
            cache: RwLock::new(cache),
            next_version: AtomicU64::new(version + 1),
            watchers: Mutex::default(),
            job_watchers: Mutex::default(),
            schedule_watchers: Mutex::default(),
            pvc_watchers: Mutex::default(),
            write: Mutex::default(),
        })
    }

    fn db_err(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            source: e.into(),
        }
    }

    /// Writes `objects` (with `remove` keys deleted) in one durable transaction, then updates
    /// the cache and notifies watchers.
    fn commit(&self, objects: Vec<Object>, remove: Vec<Key>) -> Result<(), StoreError> {
        let last_version = self.next_version.load(Ordering::SeqCst).saturating_sub(1);
        let txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut table = txn.open_table(OBJECTS).map_err(|e| self.db_err(e))?;
            for o in &objects {
                let m = o.metadata();
                table
                    .insert(
                        storage_key(o.kind(), &m.namespace, &m.name).as_str(),
                        to_json(o).as_slice(),
                    )
                    .map_err(|e| self.db_err(e))?;
            }
            for (kind, ns, name) in &remove {
                table
                    .remove(storage_key(*kind, ns, name).as_str())
                    .map_err(|e| self.db_err(e))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| self.db_err(e))?;
            meta.insert("resourceVersion", last_version)
                .map_err(|e| self.db_err(e))?;
        }
        txn.commit().map_err(|e| self.db_err(e))?;

        let (mut events, mut job_events) = (Vec::new(), Vec::new());
        let (mut schedule_events, mut pvc_events) = (Vec::new(), Vec::new());
        {
            let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
            for (kind, ns, name) in remove {
                if cache.remove(&(kind, ns.clone(), name.clone())).is_some() {
                    let key = ObjectKey::namespaced(&ns, &name);
                    match kind {
                        Kind::DataMover => events.push(Event::Deleted(key)),
                        Kind::Job => job_events.push(Event::Deleted(key)),
                        Kind::DataMoverSchedule => schedule_events.push(Event::Deleted(key)),
                        Kind::PersistentVolumeClaim => pvc_events.push(Event::Deleted(key)),
                        _ => {}
                    }
                }
            }
            for o in objects {
                match &o {
                    Object::DataMover(dm) => events.push(Event::Applied(Arc::new(dm.clone()))),
                    Object::Job(job) => job_events.push(Event::Applied(Arc::new(job.clone()))),
                    Object::DataMoverSchedule(x) => {
                        schedule_events.push(Event::Applied(Arc::new(x.clone())));
                    }
                    Object::PersistentVolumeClaim(x) => {
                        pvc_events.push(Event::Applied(Arc::new(x.clone())));
                    }
                    _ => {}
                }
                let m = o.metadata();
                cache.insert((o.kind(), m.namespace.clone(), m.name.clone()), o);
            }
            // Sent under the cache lock, so watchers see changes in commit order.
            broadcast(&self.watchers, &events);
            broadcast(&self.job_watchers, &job_events);
            broadcast(&self.schedule_watchers, &schedule_events);
            broadcast(&self.pvc_watchers, &pvc_events);
        }
        Ok(())
    }

    fn version(&self) -> String {
        self.next_version.fetch_add(1, Ordering::SeqCst).to_string()
    }

    /// Creates or updates every object in one transaction: all are stored, or none.
    /// Status is the operator's: an applied DataMover keeps its stored status. Secret
    /// `stringData` is folded into base64 `data`. A new PVC without the host-path
    /// annotation gets its directory in `volumes` and is `Bound`; one whose
    /// `dataSourceRef` names a `DataMoverPopulator` stays `Pending`, without a directory,
    /// until its restore fills one.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the write fails; nothing is stored then.
    pub fn apply(
        &self,
        objects: Vec<Object>,
        volumes: &Volumes,
    ) -> Result<Vec<(Object, Applied)>, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut results = Vec::new();
        let now = time::now_ms();
        for mut o in objects {
            if let Object::Secret(s) = &mut o {
                for (k, v) in std::mem::take(&mut s.string_data) {
                    s.data.insert(k, datamover::base64_encode(v.as_bytes()));
                }
                if s.type_.is_empty() {
                    s.type_ = "Opaque".into();
                }
            }
            let m = o.metadata().clone();
            let existing = self.get(o.kind(), &m.namespace, &m.name);
            let outcome = match existing {
                None => {
                    let version = self.version();
                    let meta = meta_mut(&mut o);
                    meta.uid = format!("{:016x}-{}", now, version);
                    meta.resource_version = version;
                    meta.generation = 1;
                    meta.creation_timestamp = time::rfc3339(now);
                    if let Object::PersistentVolumeClaim(pvc) = &mut o {
                        if datamover::populator::source_of(pvc).is_some() {
                            pvc.status.phase = "Pending".into();
                            results.push((o, Applied::Created));
                            continue;
                        }
                        if !pvc.metadata.annotations.contains_key(HOST_PATH_ANNOTATION) {
                            let dir = volumes.dir(&pvc.metadata.namespace, &pvc.metadata.name);
                            std::fs::create_dir_all(&dir)
                                .map_err(|e| self.db_err(redb::Error::Io(e)))?;
                        }
                        pvc.status.phase = "Bound".into();
                    }
                    Applied::Created
                }
                Some(old) => {
                    let old_meta = old.metadata().clone();
                    let changed = match (&old, &mut o) {
                        (Object::DataMover(a), Object::DataMover(b)) => {
                            b.status = a.status.clone();
                            a.spec != b.spec
                        }
                        (Object::PersistentVolumeClaim(a), Object::PersistentVolumeClaim(b)) => {
                            b.status = a.status.clone();
                            a.spec != b.spec || a.metadata.annotations != b.metadata.annotations
                        }
                        (Object::Secret(a), Object::Secret(b)) => a.data != b.data,
                        (Object::DataMoverSchedule(a), Object::DataMoverSchedule(b)) => {
                            b.status = a.status.clone();
                            a.spec != b.spec
                        }
                        (Object::DataMoverPopulator(a), Object::DataMoverPopulator(b)) => {
                            a.spec != b.spec
                        }
                        _ => true,
                    };
                    let labels_changed =
                        old_meta.labels != m.labels || old_meta.annotations != m.annotations;
                    let meta = meta_mut(&mut o);
                    meta.uid = old_meta.uid;
                    meta.creation_timestamp = old_meta.creation_timestamp;
                    meta.generation = old_meta.generation + u64::from(changed);
                    if changed || labels_changed {
                        meta.resource_version = self.version();
                        Applied::Configured
                    } else {
                        meta.resource_version = old_meta.resource_version;
                        results.push((o, Applied::Unchanged));
                        continue;
                    }
                }
            };
            results.push((o, outcome));
        }
        let writes: Vec<Object> = results
            .iter()
            .filter(|(_, a)| *a != Applied::Unchanged)
            .map(|(o, _)| o.clone())
            .collect();
        if !writes.is_empty() {
            self.commit(writes, Vec::new())?;
        }
        Ok(results)
    }

    /// Writes a DataMover's status, if `dm` carries the stored resourceVersion.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a stale version, [`StoreError::NotFound`] when deleted.
    pub fn update_status(&self, dm: &DataMover) -> Result<DataMover, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.update_status_locked(dm)
    }

    /// Names `dm`'s clone `<sourcePvc>-cloned-<N>`, N the first second from `secs` on whose
    /// name no PVC and no other DataMover has, and stores it in the status, atomically: two
    /// DataMovers cloning one PVC in the same second get different names.
    ///
    /// # Errors
    /// As [`update_status`](Self::update_status).
    pub fn claim_clone_name(&self, dm: &DataMover, secs: u64) -> Result<DataMover, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
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

    fn update_status_locked(&self, dm: &DataMover) -> Result<DataMover, StoreError> {
        let (ns, name) = (&dm.metadata.namespace, &dm.metadata.name);
        let Some(Object::DataMover(current)) = self.get(Kind::DataMover, ns, name) else {
            return Err(StoreError::NotFound {
                kind: "DataMover",
                namespace: ns.clone(),
                name: name.clone(),
            });
        };
        if current.metadata.resource_version != dm.metadata.resource_version {
            return Err(StoreError::Conflict {
                kind: "DataMover",
                namespace: ns.clone(),
                name: name.clone(),
                expected: dm.metadata.resource_version.clone(),
                actual: current.metadata.resource_version,
            });
        }
        let mut updated = current;
        updated.status = dm.status.clone();
        updated.metadata.resource_version = self.version();
        self.commit(vec![Object::DataMover(updated.clone())], Vec::new())?;
        Ok(updated)
    }

    /// Stores a PVC the operator made (a clone).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn put_pvc(&self, mut pvc: PersistentVolumeClaim) -> Result<(), StoreError> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let now = time::now_ms();
        let version = self.version();
        if pvc.metadata.uid.is_empty() {
            pvc.metadata.uid = format!("{now:016x}-{version}");
            pvc.metadata.creation_timestamp = time::rfc3339(now);
            pvc.metadata.generation = 1;
        }
        pvc.metadata.resource_version = version;
        self.commit(vec![Object::PersistentVolumeClaim(pvc)], Vec::new())
    }

    /// Deletes an object, and in the same transaction every object its owner references
    /// tie to it (transitively), as Kubernetes' garbage collector does with a background
    /// deletion; `false` when there was none.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<bool, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(object) = self.get(kind, namespace, name) else {
            return Ok(false);
        };
        let mut remove = vec![(kind, namespace.to_owned(), name.to_owned())];
        {
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            let mut owners = vec![object.metadata().uid.clone()];
            while let Some(uid) = owners.pop() {
                for ((k, ns, n), o) in cache.iter() {
                    let m = o.metadata();
                    if ns == namespace && !uid.is_empty() && m.owned_by(&uid) {
                        owners.push(m.uid.clone());
                        remove.push((*k, ns.clone(), n.clone()));
                    }
                }
            }
        }
        self.commit(Vec::new(), remove)?;
        Ok(true)
    }

    /// Creates a Job (uid, resourceVersion, creation time set here).
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when one has its name; [`StoreError::Database`].
    pub fn create_job(&self, mut job: Job) -> Result<Job, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let (ns, name) = (job.metadata.namespace.clone(), job.metadata.name.clone());
        if self.get(Kind::Job, &ns, &name).is_some() {
            return Err(StoreError::AlreadyExists {
                kind: "Job",
                namespace: ns,
                name,
            });
        }
        let now = time::now_ms();
        let version = self.version();
        job.metadata.uid = format!("{now:016x}-{version}");
        job.metadata.resource_version = version;
        job.metadata.generation = 1;
        job.metadata.creation_timestamp = time::rfc3339(now);
        self.commit(vec![Object::Job(job.clone())], Vec::new())?;
        Ok(job)
    }

    /// Writes a Job's status, if `job` carries the stored resourceVersion.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a stale version, [`StoreError::NotFound`] when deleted.
    pub fn update_job_status(&self, job: &Job) -> Result<Job, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let (ns, name) = (&job.metadata.namespace, &job.metadata.name);
        let Some(current) = self.job(ns, name) else {
            return Err(StoreError::NotFound {
                kind: "Job",
                namespace: ns.clone(),
                name: name.clone(),
            });
        };
        if current.metadata.resource_version != job.metadata.resource_version {
            return Err(StoreError::Conflict {
                kind: "Job",
                namespace: ns.clone(),
                name: name.clone(),
                expected: job.metadata.resource_version.clone(),
                actual: current.metadata.resource_version,
            });
        }
        let mut updated = current;
        updated.status = job.status.clone();
        updated.metadata.resource_version = self.version();
        self.commit(vec![Object::Job(updated.clone())], Vec::new())?;
        Ok(updated)
    }

    /// A Job.
    #[must_use]
    pub fn job(&self, namespace: &str, name: &str) -> Option<Job> {
        match self.get(Kind::Job, namespace, name) {
            Some(Object::Job(j)) => Some(j),
            _ => None,
        }
    }

    /// Every Job.
    #[must_use]
    pub fn jobs(&self) -> Vec<Job> {
        self.list(Kind::Job, None)
            .into_iter()
            .filter_map(|o| match o {
                Object::Job(j) => Some(j),
                _ => None,
            })
            .collect()
    }

    /// A receiver of every Job change from now on.
    #[must_use]
    pub fn watch_jobs(&self) -> UnboundedReceiver<Event<Job>> {
        let (tx, rx) = unbounded_channel();
        // Under the cache lock: no change slips between this and a following list.
        let _cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        self.job_watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }

    /// Creates an object the operator makes (a schedule's DataMover): uid, resourceVersion,
    /// generation and creation time are set here.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when one has its name; [`StoreError::Database`].
    pub fn create(&self, mut object: Object) -> Result<Object, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let (kind, m) = (object.kind(), object.metadata().clone());
        if self.get(kind, &m.namespace, &m.name).is_some() {
            return Err(StoreError::AlreadyExists {
                kind: kind.as_str(),
                namespace: m.namespace,
                name: m.name,
            });
        }
        let now = time::now_ms();
        let version = self.version();
        let meta = meta_mut(&mut object);
        meta.uid = format!("{now:016x}-{version}");
        meta.resource_version = version;
        meta.generation = 1;
        meta.creation_timestamp = time::rfc3339(now);
        self.commit(vec![object.clone()], Vec::new())?;
        Ok(object)
    }

    /// Writes the status of `object` (a schedule or a PVC), if it carries the stored
    /// resourceVersion; everything else stays as stored.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a stale version, [`StoreError::NotFound`] when deleted.
    pub fn update_object_status(&self, object: &Object) -> Result<Object, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let (kind, m) = (object.kind(), object.metadata());
        let Some(current) = self.get(kind, &m.namespace, &m.name) else {
            return Err(StoreError::NotFound {
                kind: kind.as_str(),
                namespace: m.namespace.clone(),
                name: m.name.clone(),
            });
        };
        if current.metadata().resource_version != m.resource_version {
            return Err(StoreError::Conflict {
                kind: kind.as_str(),
                namespace: m.namespace.clone(),
                name: m.name.clone(),
                expected: m.resource_version.clone(),
                actual: current.metadata().resource_version.clone(),
            });
        }
        let mut updated = current;
        match (&mut updated, object) {
            (Object::DataMoverSchedule(a), Object::DataMoverSchedule(b)) => {
                a.status = b.status.clone();
            }
            (Object::PersistentVolumeClaim(a), Object::PersistentVolumeClaim(b)) => {
                a.status = b.status.clone();
            }
            (Object::DataMover(a), Object::DataMover(b)) => a.status = b.status.clone(),
            (Object::Job(a), Object::Job(b)) => a.status = b.status.clone(),
            _ => {}
        }
        meta_mut(&mut updated).resource_version = self.version();
        self.commit(vec![updated.clone()], Vec::new())?;
        Ok(updated)
    }

    /// A DataMoverSchedule.
    #[must_use]
    pub fn schedule(&self, namespace: &str, name: &str) -> Option<DataMoverSchedule> {
        match self.get(Kind::DataMoverSchedule, namespace, name) {
            Some(Object::DataMoverSchedule(s)) => Some(s),
            _ => None,
        }
    }

    /// Every DataMoverSchedule.
    #[must_use]
    pub fn schedules(&self) -> Vec<DataMoverSchedule> {
        self.list(Kind::DataMoverSchedule, None)
            .into_iter()
            .filter_map(|o| match o {
                Object::DataMoverSchedule(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    /// A DataMoverPopulator.
    #[must_use]
    pub fn populator(&self, namespace: &str, name: &str) -> Option<DataMoverPopulator> {
        match self.get(Kind::DataMoverPopulator, namespace, name) {
            Some(Object::DataMoverPopulator(p)) => Some(p),
            _ => None,
        }
    }

    /// Every DataMover in `namespace` that the object with `uid` owns.
    #[must_use]
    pub fn datamovers_owned_by(&self, namespace: &str, uid: &str) -> Vec<DataMover> {
        self.list(Kind::DataMover, Some(namespace))
            .into_iter()
            .filter_map(|o| match o {
                Object::DataMover(dm) if dm.metadata.owned_by(uid) => Some(dm),
                _ => None,
            })
            .collect()
    }

    /// A receiver of every DataMoverSchedule change from now on.
    #[must_use]
    pub fn watch_schedules(&self) -> UnboundedReceiver<Event<DataMoverSchedule>> {
        let (tx, rx) = unbounded_channel();
        let _cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        self.schedule_watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }

    /// A receiver of every PVC change from now on.
    #[must_use]
    pub fn watch_pvcs(&self) -> UnboundedReceiver<Event<PersistentVolumeClaim>> {
        let (tx, rx) = unbounded_channel();
        let _cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        self.pvc_watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }

    /// One object.
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

    /// A DataMover.
    #[must_use]
    pub fn datamover(&self, namespace: &str, name: &str) -> Option<DataMover> {
        match self.get(Kind::DataMover, namespace, name) {
            Some(Object::DataMover(dm)) => Some(dm),
            _ => None,
        }
    }

    /// A PVC.
    #[must_use]
    pub fn pvc(&self, namespace: &str, name: &str) -> Option<PersistentVolumeClaim> {
        match self.get(Kind::PersistentVolumeClaim, namespace, name) {
            Some(Object::PersistentVolumeClaim(p)) => Some(p),
            _ => None,
        }
    }

    /// A Secret.
    #[must_use]
    pub fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        match self.get(Kind::Secret, namespace, name) {
            Some(Object::Secret(s)) => Some(s),
            _ => None,
        }
    }

    fn subscribe(&self) -> UnboundedReceiver<Event<DataMover>> {
        let (tx, rx) = unbounded_channel();
        let _cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }
}

/// The DataMovers of an [`EmbeddedStore`], as the controller runtime's [`tmc_runtime::Store`].
#[derive(Debug, Clone)]
pub struct DataMovers(pub Arc<EmbeddedStore>);

impl tmc_runtime::Store<DataMover> for DataMovers {
    fn get(&self, key: &ObjectKey) -> Option<Arc<DataMover>> {
        self.0
            .datamover(key.namespace().unwrap_or("default"), key.name())
            .map(Arc::new)
    }

    fn list(&self) -> Vec<Arc<DataMover>> {
        self.0
            .list(Kind::DataMover, None)
            .into_iter()
            .filter_map(|o| {
                if let Object::DataMover(dm) = o {
                    Some(Arc::new(dm))
                } else {
                    None
                }
            })
            .collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<DataMover>> {
        self.0.subscribe()
    }
}

/// The Jobs of an [`EmbeddedStore`], as the controller runtime's [`tmc_runtime::Store`], for
/// [`Controller::owns`](tmc_runtime::Controller::owns).
#[derive(Debug, Clone)]
pub struct Jobs(pub Arc<EmbeddedStore>);

impl tmc_runtime::Store<Job> for Jobs {
    fn get(&self, key: &ObjectKey) -> Option<Arc<Job>> {
        self.0
            .job(key.namespace().unwrap_or("default"), key.name())
            .map(Arc::new)
    }

    fn list(&self) -> Vec<Arc<Job>> {
        self.0.jobs().into_iter().map(Arc::new).collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<Job>> {
        self.0.watch_jobs()
    }
}

/// The DataMoverSchedules of an [`EmbeddedStore`], as the controller runtime's
/// [`tmc_runtime::Store`].
#[derive(Debug, Clone)]
pub struct Schedules(pub Arc<EmbeddedStore>);

impl tmc_runtime::Store<DataMoverSchedule> for Schedules {
    fn get(&self, key: &ObjectKey) -> Option<Arc<DataMoverSchedule>> {
        self.0
            .schedule(key.namespace().unwrap_or("default"), key.name())
            .map(Arc::new)
    }

    fn list(&self) -> Vec<Arc<DataMoverSchedule>> {
        self.0.schedules().into_iter().map(Arc::new).collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<DataMoverSchedule>> {
        self.0.watch_schedules()
    }
}

/// The PVCs of an [`EmbeddedStore`], as the controller runtime's [`tmc_runtime::Store`].
#[derive(Debug, Clone)]
pub struct Pvcs(pub Arc<EmbeddedStore>);

impl tmc_runtime::Store<PersistentVolumeClaim> for Pvcs {
    fn get(&self, key: &ObjectKey) -> Option<Arc<PersistentVolumeClaim>> {
        self.0
            .pvc(key.namespace().unwrap_or("default"), key.name())
            .map(Arc::new)
    }

    fn list(&self) -> Vec<Arc<PersistentVolumeClaim>> {
        self.0
            .list(Kind::PersistentVolumeClaim, None)
            .into_iter()
            .filter_map(|o| match o {
                Object::PersistentVolumeClaim(p) => Some(Arc::new(p)),
                _ => None,
            })
            .collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<PersistentVolumeClaim>> {
        self.0.watch_pvcs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamover::manifest::parse;

    fn dm(name: &str) -> Object {
        parse(&format!(
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}}}\nspec: {{sourcePvc: data, secretName: s}}\n"
        ))
        .unwrap()
        .remove(0)
    }

    #[test]
    fn store_should_persist_objects_and_versions_across_reopen() {
        let dir = tempdir();
        let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
        let applied = store.apply(vec![dm("a")], &Volumes::new(&dir)).unwrap();
        assert_eq!(applied[0].1, Applied::Created);
        let mut a = store.datamover("default", "a").unwrap();
        assert_eq!(
            (a.metadata.generation, a.metadata.resource_version.as_str()),
            (1, "1")
        );
        a.status.phase = "CreatingClonedPVC".into();
        let a = store.update_status(&a).unwrap();
        assert_eq!(a.metadata.resource_version, "2");
        drop(store);

        let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
        let again = store.datamover("default", "a").unwrap();
        assert_eq!(again.status.phase, "CreatingClonedPVC");
        assert_eq!(again.metadata.resource_version, "2");
        // Versions keep counting up after a restart.
        assert_eq!(
            store.apply(vec![dm("b")], &Volumes::new(&dir)).unwrap()[0]
                .0
                .metadata()
                .resource_version,
            "3"
        );
    }

    #[test]
    fn a_stale_status_write_is_a_conflict_and_changes_nothing() {
        let dir = tempdir();
        let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
        store.apply(vec![dm("a")], &Volumes::new(&dir)).unwrap();
        let stale = store.datamover("default", "a").unwrap();
        let mut fresh = stale.clone();
        fresh.status.phase = "CreatingClonedPVC".into();
        store.update_status(&fresh).unwrap();
        let mut stale = stale;
        stale.status.phase = "Failed".into();
        let err = store.update_status(&stale).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DataMover default/a was modified (resourceVersion 1 is stale, now 2): re-read and retry"
        );
        assert_eq!(
            store.datamover("default", "a").unwrap().status.phase,
            "CreatingClonedPVC"
        );
    }

    #[test]
    fn reapplying_keeps_status_and_bumps_generation_only_on_spec_change() {
        let dir = tempdir();
        let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
        store.apply(vec![dm("a")], &Volumes::new(&dir)).unwrap();
        let mut a = store.datamover("default", "a").unwrap();
        a.status.phase = "Completed".into();
        store.update_status(&a).unwrap();
        assert_eq!(
            store.apply(vec![dm("a")], &Volumes::new(&dir)).unwrap()[0].1,
            Applied::Unchanged
        );
        let Object::DataMover(mut changed) = dm("a") else {
            panic!()
        };
        changed.spec.add_timestamp_prefix = true;
        assert_eq!(
            store
                .apply(vec![Object::DataMover(changed)], &Volumes::new(&dir))
                .unwrap()[0]
                .1,
            Applied::Configured
        );
        let a = store.datamover("default", "a").unwrap();
        assert_eq!(
            (a.metadata.generation, a.status.phase.as_str()),
            (2, "Completed")
        );
    }

    #[test]
    fn clone_names_claimed_in_the_same_second_are_unique_and_stable() {
        let dir = tempdir();
        let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
        store
            .apply(vec![dm("a"), dm("b")], &Volumes::new(&dir))
            .unwrap();
        let a = store
            .claim_clone_name(&store.datamover("default", "a").unwrap(), 1000)
            .unwrap();
        let b = store
            .claim_clone_name(&store.datamover("default", "b").unwrap(), 1000)
            .unwrap();
        assert_eq!(a.status.restored_pvc_name, "data-cloned-1000");
        assert_eq!(b.status.restored_pvc_name, "data-cloned-1001");
        // Claiming again for the same DataMover may reuse its own name.
        let again = store.claim_clone_name(&a, 1000).unwrap();
        assert_eq!(again.status.restored_pvc_name, "data-cloned-1000");
    }

    pub(crate) fn tempdir() -> std::path::PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dm-store-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
