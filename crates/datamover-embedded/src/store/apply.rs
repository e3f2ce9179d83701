//! `apply`: what users give, created or updated in one transaction.

use super::{EmbeddedStore, StoreError};
use crate::volumes::Volumes;
use datamover::manifest::Object;
use datamover::types::HOST_PATH_ANNOTATION;
use redb::Durability;

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

impl EmbeddedStore {
    /// Creates or updates every object in one transaction: all are stored, or none.
    /// Status is the operator's: an applied DataMover keeps its stored status. Secret
    /// `stringData` is folded into base64 `data`. A new PVC without the host-path
    /// annotation gets its directory in `volumes` and is `Bound`; one whose
    /// `dataSourceRef` names a `DataMoverPopulator` stays `Pending`, without a directory,
    /// until its restore fills one.
    ///
    /// # Errors
    /// [`StoreError::Write`] when the disk refuses the write (or a new PVC's directory);
    /// nothing is stored then.
    pub fn apply(
        &self,
        objects: Vec<Object>,
        volumes: &Volumes,
    ) -> Result<Vec<(Object, Applied)>, StoreError> {
        let _guard = self.lock();
        self.apply_locked(objects, volumes)
    }

    /// Creates every object in one transaction, as `kubectl create` does: all are new and
    /// stored, or none is (as [`EmbeddedStore::apply`] otherwise).
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] naming the first object that exists (checked under
    /// the write lock, so two creates of one name cannot both succeed), or
    /// [`StoreError::Twice`] for one named twice; as
    /// [`EmbeddedStore::apply`] otherwise. Nothing is stored then.
    pub fn create_all(
        &self,
        objects: Vec<Object>,
        volumes: &Volumes,
    ) -> Result<Vec<Object>, StoreError> {
        let _guard = self.lock();
        let mut named = std::collections::BTreeSet::new();
        for o in &objects {
            let m = o.metadata();
            if !named.insert((o.kind(), m.namespace.as_str(), m.name.as_str())) {
                return Err(StoreError::Twice {
                    kind: o.kind().as_str(),
                    namespace: m.namespace.clone(),
                    name: m.name.clone(),
                });
            }
            if self.get(o.kind(), &m.namespace, &m.name).is_some() {
                return Err(StoreError::AlreadyExists {
                    kind: o.kind().as_str(),
                    namespace: m.namespace.clone(),
                    name: m.name.clone(),
                });
            }
        }
        Ok(self
            .apply_locked(objects, volumes)?
            .into_iter()
            .map(|(o, _)| o)
            .collect())
    }

    /// Changes the stored `K` `namespace/name` with `change` and applies it, as one step
    /// under the write lock: no other write falls between the read and the write, so two
    /// such changes (say, a run-now and a suspend) never undo each other. `None` when no
    /// such object exists.
    ///
    /// # Errors
    /// As [`EmbeddedStore::apply`]; nothing is stored then.
    pub fn modify<K: super::kinds::Stored>(
        &self,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut K),
        volumes: &Volumes,
    ) -> Result<Option<K>, StoreError> {
        let _guard = self.lock();
        let Some(mut object) = self
            .get(K::STORE_KIND, namespace, name)
            .and_then(K::from_object)
        else {
            return Ok(None);
        };
        change(&mut object);
        let applied = self.apply_locked(vec![object.into_object()], volumes)?;
        Ok(applied
            .into_iter()
            .next()
            .and_then(|(o, _)| K::from_object(o)))
    }

    /// [`EmbeddedStore::apply`], with the write lock held.
    fn apply_locked(
        &self,
        objects: Vec<Object>,
        volumes: &Volumes,
    ) -> Result<Vec<(Object, Applied)>, StoreError> {
        let mut results = Vec::new();
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
                    self.mint(&mut o);
                    if let Object::PersistentVolumeClaim(pvc) = &mut o {
                        if datamover::populator::source_of(pvc).is_some() {
                            pvc.status.phase = "Pending".into();
                            results.push((o, Applied::Created));
                            continue;
                        }
                        if !pvc.metadata.annotations.contains_key(HOST_PATH_ANNOTATION) {
                            let dir = volumes.dir(&pvc.metadata.namespace, &pvc.metadata.name);
                            std::fs::create_dir_all(&dir)
                                .map_err(|e| self.directory_failed(&dir, &e))?;
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
                    let meta = o.metadata_mut();
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
            self.commit(writes, Vec::new(), Durability::Immediate)?;
        }
        Ok(results)
    }
}
