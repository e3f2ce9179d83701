//! Why a store operation failed.

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
    /// One request names the same object twice.
    #[error("{kind} {namespace}/{name} appears twice in the input: give each object once")]
    Twice {
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
    /// A stored object's key names a kind this store does not keep (a foreign or newer
    /// file): it is refused, never read as another kind.
    #[error("stored object {key} has the unknown kind {kind:?}: the store keeps {accepted}")]
    UnknownKind {
        /// The object key.
        key: String,
        /// The kind it names.
        kind: String,
        /// The kinds the store keeps, comma-separated.
        accepted: String,
    },
    /// A write failed on the disk (full, or failing): nothing of it was stored. The store
    /// reopens its database on the next write, or when [`EmbeddedStore::recover`] runs.
    ///
    /// [`EmbeddedStore::recover`]: super::EmbeddedStore::recover
    #[error("{0}")]
    Write(WriteFailure),
    /// A delete's [`Preconditions`](super::Preconditions) do not hold for the stored object
    /// (it was deleted and created again, or changed): nothing was deleted.
    #[error("{kind} {namespace}/{name}: Precondition failed: {message}")]
    Precondition {
        /// Kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Which precondition, as Kubernetes words it: `UID in precondition: X, UID in
        /// object meta: Y`.
        message: String,
    },
    /// The runtime shut down before a write handed to the blocking pool ran.
    #[error("the store write was cancelled: the runtime is shutting down")]
    Cancelled,
}

/// What kind of disk error a write met: the `kind` label of
/// `datamover_store_write_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteErrorKind {
    /// The filesystem (or the quota) is full: `no_space`.
    NoSpace,
    /// Any other I/O error: `io`.
    Io,
}

impl WriteErrorKind {
    /// `no_space` or `io`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoSpace => "no_space",
            Self::Io => "io",
        }
    }
}

/// A write the disk refused: which file, what kind of error, and the system's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot write {path}: {cause}")]
pub struct WriteFailure {
    /// The database file.
    pub path: String,
    /// No space, or another I/O error.
    pub kind: WriteErrorKind,
    /// The error as the system put it, e.g. `No space left on device (os error 28)`.
    pub cause: String,
}

impl StoreError {
    /// The disk error of a failed write ([`StoreError::Write`]), if it was one.
    #[must_use]
    pub fn write_failure(&self) -> Option<&WriteFailure> {
        match self {
            Self::Write(failure) => Some(failure),
            _ => None,
        }
    }
}
