//! Object keys: what the work queue is keyed by.

use std::fmt;
use std::sync::Arc;

/// The identity of an object: an optional namespace and a name, displayed `namespace/name`
/// (or `name` when cluster-scoped).
///
/// The text is held once in an `Arc<str>`, so a clone is a reference-count increment: the
/// queue, its timer heap, the running set and every [`ReconcileRequest`](crate::ReconcileRequest)
/// share one allocation per key. An empty namespace means cluster-scoped.
///
/// ```
/// use tmc_runtime::ObjectKey;
///
/// let key = ObjectKey::namespaced("default", "db");
/// assert_eq!(key.to_string(), "default/db");
/// assert_eq!(key.namespace(), Some("default"));
/// assert_eq!(key.name(), "db");
/// assert_eq!(ObjectKey::from("default/db"), key);
/// assert_eq!(ObjectKey::cluster("node-1").namespace(), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// `namespace/name` or `name`.
    text: Arc<str>,
    /// Length of the namespace; 0 when cluster-scoped.
    ns_len: usize,
}

impl ObjectKey {
    /// A key from an optional namespace and a name. `Some("")` is the same as `None`.
    #[must_use]
    pub fn new(namespace: Option<&str>, name: &str) -> Self {
        match namespace {
            Some(ns) if !ns.is_empty() => {
                let mut text = String::with_capacity(ns.len() + 1 + name.len());
                text.push_str(ns);
                text.push('/');
                text.push_str(name);
                Self {
                    text: text.into(),
                    ns_len: ns.len(),
                }
            }
            _ => Self {
                text: name.into(),
                ns_len: 0,
            },
        }
    }

    /// The key of a namespaced object.
    #[must_use]
    pub fn namespaced(namespace: &str, name: &str) -> Self {
        Self::new(Some(namespace), name)
    }

    /// The key of a cluster-scoped object.
    #[must_use]
    pub fn cluster(name: &str) -> Self {
        Self::new(None, name)
    }

    /// The namespace, `None` when cluster-scoped.
    #[must_use]
    pub fn namespace(&self) -> Option<&str> {
        (self.ns_len > 0).then(|| self.text.get(..self.ns_len).unwrap_or_default())
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        let start = if self.ns_len > 0 { self.ns_len + 1 } else { 0 };
        self.text.get(start..).unwrap_or_default()
    }

    /// The display form, `namespace/name` or `name`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Parses `namespace/name` (split at the first `/`) or a bare cluster-scoped `name`.
impl From<&str> for ObjectKey {
    fn from(s: &str) -> Self {
        match s.split_once('/') {
            Some((ns, name)) => Self::new(Some(ns), name),
            None => Self::cluster(s),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectKey({:?})", &*self.text)
    }
}

/// An object a controller reconciles: anything with a key.
///
/// ```
/// use tmc_runtime::{ObjectKey, Resource};
///
/// struct Backup { namespace: String, name: String }
///
/// impl Resource for Backup {
///     fn key(&self) -> ObjectKey {
///         ObjectKey::namespaced(&self.namespace, &self.name)
///     }
/// }
/// ```
pub trait Resource: Send + Sync + 'static {
    /// The kind's name, as owner references name it (`DataMover`, `Job`). Empty by
    /// default; [`Controller::owns`](crate::Controller::owns) needs it set on the
    /// controller's own kind.
    const KIND: &'static str = "";

    /// This object's key; stable for the object's lifetime.
    fn key(&self) -> ObjectKey;
}

/// An object that names its owners, as Kubernetes owner references do: what
/// [`Controller::owns`](crate::Controller::owns) maps a changed object to.
///
/// ```
/// use tmc_runtime::{ObjectKey, Owned, Resource};
///
/// struct Job { namespace: String, name: String, owner: (String, String) }
///
/// impl Resource for Job {
///     const KIND: &'static str = "Job";
///     fn key(&self) -> ObjectKey { ObjectKey::namespaced(&self.namespace, &self.name) }
/// }
///
/// impl Owned for Job {
///     fn owners(&self, kind: &str) -> Vec<ObjectKey> {
///         let (owner_kind, owner_name) = &self.owner;
///         if owner_kind == kind {
///             vec![ObjectKey::namespaced(&self.namespace, owner_name)]
///         } else {
///             vec![]
///         }
///     }
/// }
/// ```
pub trait Owned: Resource {
    /// The keys of this object's owners of kind `kind` (an owner lives in the object's
    /// namespace, or is cluster-scoped).
    fn owners(&self, kind: &str) -> Vec<ObjectKey>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_should_display_namespace_and_name() {
        assert_eq!(ObjectKey::namespaced("ns", "a").to_string(), "ns/a");
        assert_eq!(ObjectKey::cluster("a").to_string(), "a");
        assert_eq!(ObjectKey::new(Some(""), "a"), ObjectKey::cluster("a"));
    }

    #[test]
    fn key_should_split_parts() {
        let k = ObjectKey::from("ns/a/b");
        assert_eq!(k.namespace(), Some("ns"));
        assert_eq!(k.name(), "a/b");
        let c = ObjectKey::cluster("x");
        assert_eq!((c.namespace(), c.name()), (None, "x"));
    }

    #[test]
    fn cluster_key_with_slash_should_differ_from_namespaced_key() {
        assert_ne!(ObjectKey::cluster("a/b"), ObjectKey::namespaced("a", "b"));
    }

    #[test]
    fn key_should_be_small() {
        assert_eq!(std::mem::size_of::<ObjectKey>(), 24);
    }
}
