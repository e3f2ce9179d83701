//! Deleting: an object and what its owner references tie to it, in one transaction, when
//! the caller's [`Preconditions`] hold for the stored object.

use super::{EmbeddedStore, StoreError};
use datamover::manifest::Object;
use datamover::types::Kind;
use redb::Durability;
use std::sync::PoisonError;

/// What the stored object must be for a delete to happen, as Kubernetes'
/// `DeleteOptions.preconditions`: checked under the store's write lock, so nothing written
/// between the caller's read and the delete goes unseen. An empty field checks nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Preconditions {
    /// The object's `metadata.uid`: the object the caller saw, not another created under
    /// its name since.
    #[serde(default)]
    pub uid: Option<String>,
    /// The object's `metadata.resourceVersion`: the object as the caller saw it, unchanged
    /// since.
    #[serde(default)]
    pub resource_version: Option<String>,
}

impl Preconditions {
    /// `uid` must be the object's uid.
    #[must_use]
    pub fn uid(uid: impl Into<String>) -> Self {
        Self {
            uid: Some(uid.into()),
            resource_version: None,
        }
    }

    /// Why `object` fails them, in Kubernetes' words (`UID in precondition: X, UID in
    /// object meta: Y`); `None` when it meets them.
    #[must_use]
    pub fn failure(&self, object: &Object) -> Option<String> {
        let m = object.metadata();
        if let Some(uid) = self.uid.as_ref().filter(|u| **u != m.uid) {
            return Some(format!(
                "UID in precondition: {uid}, UID in object meta: {}",
                m.uid
            ));
        }
        self.resource_version
            .as_ref()
            .filter(|v| **v != m.resource_version)
            .map(|v| {
                format!(
                    "ResourceVersion in precondition: {v}, ResourceVersion in object meta: {}",
                    m.resource_version
                )
            })
    }
}

impl EmbeddedStore {
    /// Deletes an object, and in the same transaction every object its owner references
    /// tie to it (transitively), as Kubernetes' garbage collector does with a background
    /// deletion; `false` when there was none.
    ///
    /// # Errors
    /// [`StoreError::Write`] when the disk refuses the write; nothing is deleted then.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<bool, StoreError> {
        self.delete_if(kind, namespace, name, &Preconditions::default())
            .map(|removed| !removed.is_empty())
    }

    /// [`delete`](Self::delete), only when the stored object meets `preconditions`, checked
    /// and deleted as one step under the write lock: the objects removed (the object first,
    /// then those it owned), none when there was no such object.
    ///
    /// # Errors
    /// [`StoreError::Precondition`] when the stored object fails them;
    /// [`StoreError::Write`] when the disk refuses the write. Nothing is deleted then.
    pub fn delete_if(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        preconditions: &Preconditions,
    ) -> Result<Vec<Object>, StoreError> {
        let _guard = self.lock();
        let Some(object) = self.get(kind, namespace, name) else {
            return Ok(Vec::new());
        };
        if let Some(message) = preconditions.failure(&object) {
            return Err(StoreError::Precondition {
                kind: kind.as_str(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                message,
            });
        }
        let mut remove = vec![(kind, namespace.to_owned(), name.to_owned())];
        let mut removed = vec![object.clone()];
        {
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            let mut owners = vec![object.metadata().uid.clone()];
            while let Some(uid) = owners.pop() {
                for ((k, ns, n), o) in cache.iter() {
                    let m = o.metadata();
                    if ns == namespace && !uid.is_empty() && m.owned_by(&uid) {
                        owners.push(m.uid.clone());
                        remove.push((*k, ns.clone(), n.clone()));
                        removed.push(o.clone());
                    }
                }
            }
        }
        self.commit(Vec::new(), remove, Durability::Immediate)?;
        Ok(removed)
    }
}
