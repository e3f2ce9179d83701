//! The store's redb database: opened, written, and reopened after an I/O error.
//!
//! redb latches an I/O error: once a write failed on the disk (a full disk, a failing
//! device), every later transaction fails with `Previous I/O error occurred` until the
//! database is closed and opened again. So a failed write marks the store as failing, and
//! the next write (or [`EmbeddedStore::recover`]) first closes the database, opens it again,
//! and makes the file equal to the cache, which holds exactly what was committed and
//! acknowledged, in one durable transaction. Only then does the write go ahead. The cache
//! and the watchers are not touched by a reopen: readers and watch channels go on as before.

use super::{EmbeddedStore, Key, META, OBJECTS, StoreError, WriteErrorKind, WriteFailure};
use datamover::manifest::Object;
use redb::{Database, Durability, ReadableTable};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{MutexGuard, PoisonError};

/// `ENOSPC` and `EDQUOT` on Linux: the disk or the user's quota is full.
const NO_SPACE_ERRNOS: [i32; 2] = [28, 122];

/// The kind of a failed write, when the error is one of the disk's: `None` for any other
/// database error (those do not latch, and a reopen would not help).
pub(super) fn classify(error: &redb::Error) -> Option<(WriteErrorKind, String)> {
    match error {
        redb::Error::Io(e) => Some((io_kind(e), e.to_string())),
        redb::Error::PreviousIo => Some((
            WriteErrorKind::Io,
            "an earlier I/O error left the database unwritable until it is reopened".to_owned(),
        )),
        _ => None,
    }
}

/// `NoSpace` for a full disk or quota, `Io` for any other I/O error.
fn io_kind(e: &std::io::Error) -> WriteErrorKind {
    let no_space = e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || e.raw_os_error()
            .is_some_and(|n| NO_SPACE_ERRNOS.contains(&n));
    if no_space {
        WriteErrorKind::NoSpace
    } else {
        WriteErrorKind::Io
    }
}

/// Serialises `object` as the store keeps it.
pub(super) fn encode(object: &Object) -> Vec<u8> {
    serde_json::to_vec(object).unwrap_or_default()
}

impl EmbeddedStore {
    /// The database slot: `None` after a reopen failed. Held only under the writer's lock.
    fn db(&self) -> MutexGuard<'_, Option<Database>> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why writes fail now, if they do: set by a failed write, cleared once the database was
    /// reopened and a write succeeded.
    #[must_use]
    pub fn write_failure(&self) -> Option<WriteFailure> {
        self.failure
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many writes the disk refused since the store opened: a watcher that sees it
    /// grow, and [`EmbeddedStore::write_failure`] clear, knows the store failed and recovered
    /// even between two looks.
    #[must_use]
    pub fn write_failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Turns a database error of a write into what the caller sees: an error of the disk
    /// becomes [`StoreError::Write`], marks the store as failing (so the next write reopens
    /// the database) and counts in `datamover_store_write_errors_total`.
    pub(super) fn failed(&self, error: StoreError) -> StoreError {
        let StoreError::Database { source, .. } = &error else {
            return error;
        };
        let Some((kind, cause)) = classify(source) else {
            return error;
        };
        let failure = WriteFailure {
            path: self.path.clone(),
            kind,
            cause,
        };
        tracing::error!(store = %self.path, kind = kind.as_str(), cause = %failure.cause,
            "a store write failed; the next write reopens the database");
        self.metrics.datamover_store_write_errors(kind.as_str(), 1);
        self.failures
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        *self.failure.write().unwrap_or_else(PoisonError::into_inner) = Some(failure.clone());
        StoreError::Write(failure)
    }

    /// A new PVC's directory could not be made: the write is refused like one the database
    /// refused, but the database is fine, so nothing is reopened.
    pub(super) fn directory_failed(&self, dir: &Path, e: &std::io::Error) -> StoreError {
        StoreError::Write(WriteFailure {
            path: dir.display().to_string(),
            kind: io_kind(e),
            cause: e.to_string(),
        })
    }

    /// Reopens the database when a write failed before, and makes its file equal to the
    /// cache; `true` when it did. Call under the writer's lock.
    fn reopen_if_failed(&self, db: &mut Option<Database>) -> Result<bool, StoreError> {
        if db.is_some() && self.write_failure().is_none() {
            return Ok(false);
        }
        if let Some(old) = db.take() {
            // The error is the one already reported (redb logs its own); the file is left
            // for the open below to recover.
            if let Err(e) = old.close() {
                tracing::debug!(store = %self.path, error = %e, "closing the failed database");
            }
        }
        let fresh = Database::create(&self.file).map_err(|e| self.db_err(e))?;
        self.resync(&fresh)?;
        *db = Some(fresh);
        *self.failure.write().unwrap_or_else(PoisonError::into_inner) = None;
        tracing::info!(store = %self.path, "the store's database was reopened; writes go on");
        Ok(true)
    }

    /// Makes the file equal to the cache in one durable transaction, writing only what
    /// differs: a progress tick written without durability before the failure, or a
    /// transaction whose commit failed after it reached the file.
    fn resync(&self, db: &Database) -> Result<(), StoreError> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        let wanted: BTreeMap<String, Vec<u8>> = cache
            .values()
            .map(|o| {
                let m = o.metadata();
                (
                    super::storage_key(o.kind(), &m.namespace, &m.name),
                    encode(o),
                )
            })
            .collect();
        let txn = db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut table = txn.open_table(OBJECTS).map_err(|e| self.db_err(e))?;
            let mut unwanted = Vec::new();
            for entry in table.iter().map_err(|e| self.db_err(e))? {
                let (k, _) = entry.map_err(|e| self.db_err(e))?;
                if !wanted.contains_key(k.value()) {
                    unwanted.push(k.value().to_owned());
                }
            }
            for key in &unwanted {
                table.remove(key.as_str()).map_err(|e| self.db_err(e))?;
            }
            for (key, bytes) in &wanted {
                let same = table
                    .get(key.as_str())
                    .map_err(|e| self.db_err(e))?
                    .is_some_and(|v| v.value() == bytes.as_slice());
                if !same {
                    table
                        .insert(key.as_str(), bytes.as_slice())
                        .map_err(|e| self.db_err(e))?;
                }
            }
            let mut meta = txn.open_table(META).map_err(|e| self.db_err(e))?;
            let last_version = self.next_version.load(Ordering::SeqCst).saturating_sub(1);
            meta.insert("resourceVersion", last_version)
                .map_err(|e| self.db_err(e))?;
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// After a failed write: reopens the database and makes it equal to the cache, without
    /// waiting for the next write; `Ok(false)` when nothing had failed. The operator calls
    /// this on a timer while [`write_failure`](Self::write_failure) says writes fail, so it
    /// turns ready again once the disk has room, whether or not anyone writes.
    ///
    /// # Errors
    /// [`StoreError::Write`] while the disk still fails.
    pub fn recover(&self) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let mut db = self.db();
        self.reopen_if_failed(&mut db).map_err(|e| self.failed(e))
    }

    /// Writes `objects` and removes `remove` in one transaction, after reopening the
    /// database if the last write failed.
    pub(super) fn write_txn(
        &self,
        objects: &[Object],
        remove: &[Key],
        durability: Durability,
    ) -> Result<(), StoreError> {
        let mut db = self.db();
        let result = self
            .reopen_if_failed(&mut db)
            .and_then(|_| match db.as_ref() {
                Some(db) => self.write_to(db, objects, remove, durability),
                None => Err(self.db_err(redb::Error::PreviousIo)),
            });
        result.map_err(|e| self.failed(e))
    }

    fn write_to(
        &self,
        db: &Database,
        objects: &[Object],
        remove: &[Key],
        durability: Durability,
    ) -> Result<(), StoreError> {
        let last_version = self.next_version.load(Ordering::SeqCst).saturating_sub(1);
        let mut txn = db.begin_write().map_err(|e| self.db_err(e))?;
        txn.set_durability(durability).map_err(|e| self.db_err(e))?;
        {
            let mut table = txn.open_table(OBJECTS).map_err(|e| self.db_err(e))?;
            for o in objects {
                let m = o.metadata();
                let json = encode(o);
                table
                    .insert(
                        super::storage_key(o.kind(), &m.namespace, &m.name).as_str(),
                        json.as_slice(),
                    )
                    .map_err(|e| self.db_err(e))?;
            }
            for (kind, ns, name) in remove {
                table
                    .remove(super::storage_key(*kind, ns, name).as_str())
                    .map_err(|e| self.db_err(e))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| self.db_err(e))?;
            meta.insert("resourceVersion", last_version)
                .map_err(|e| self.db_err(e))?;
        }
        txn.commit().map_err(|e| self.db_err(e))
    }
}
