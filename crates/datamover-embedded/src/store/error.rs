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
    /// The runtime shut down before a write handed to the blocking pool ran.
    #[error("the store write was cancelled: the runtime is shutting down")]
    Cancelled,
}
