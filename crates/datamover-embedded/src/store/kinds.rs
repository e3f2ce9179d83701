//! The kinds the store keeps: one trait, [`Stored`], and what is generic over it (decoding,
//! the typed [`tmc_runtime::Store`] adapter, watchers keyed by kind).

use super::{EmbeddedStore, StoreError};
use datamover::job::Job;
use datamover::manifest::Object;
use datamover::populator::DataMoverPopulator;
use datamover::schedule::DataMoverSchedule;
use datamover::types::{DataMover, Kind, ObjectMeta, PersistentVolumeClaim, Secret};
use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use tmc_runtime::{Event, ObjectKey};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// A kind the store keeps: its name, its metadata, and the way in and out of [`Object`].
pub trait Stored: Clone + Send + Sync + 'static {
    /// The kind.
    const STORE_KIND: Kind;

    /// The metadata.
    fn meta(&self) -> &ObjectMeta;
    /// The metadata, to change.
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// As an [`Object`].
    fn into_object(self) -> Object;
    /// The object of this kind in `object`, if it is one.
    fn from_object(object: Object) -> Option<Self>;
    /// The object of this kind in `object`, if it is one, borrowed.
    fn in_object(object: &Object) -> Option<&Self>;
    /// Copies `from`'s status into `self`: the compare-and-set status write keeps everything
    /// else as stored. Kinds without a status have nothing to copy.
    fn copy_status(&mut self, from: &Self);
    /// Whether `new`'s status differs from `old`'s in the live progress of a running sync
    /// only: such a write need not be durable (see the [module docs](super)).
    fn progress_only(_old: &Self, _new: &Self) -> bool {
        false
    }
}

macro_rules! stored {
    ($ty:ty, $variant:ident, $($status:ident)?) => {
        impl Stored for $ty {
            const STORE_KIND: Kind = Kind::$variant;

            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
            fn into_object(self) -> Object {
                Object::$variant(self)
            }
            fn from_object(object: Object) -> Option<Self> {
                match object {
                    Object::$variant(o) => Some(o),
                    _ => None,
                }
            }
            fn in_object(object: &Object) -> Option<&Self> {
                match object {
                    Object::$variant(o) => Some(o),
                    _ => None,
                }
            }
            #[allow(unused_variables)]
            fn copy_status(&mut self, from: &Self) {
                $(self.$status.clone_from(&from.$status);)?
            }
            stored!(@progress $variant);
        }
    };
    (@progress DataMover) => {
        fn progress_only(old: &Self, new: &Self) -> bool {
            old.status.progress.is_some()
                && new.status.progress.is_some()
                && datamover::types::DataMoverStatus { progress: old.status.progress, ..new.status.clone() } == old.status
        }
    };
    (@progress Job) => {
        fn progress_only(old: &Self, new: &Self) -> bool {
            old.status.progress.is_some()
                && new.status.progress.is_some()
                && datamover::job::JobStatus { progress: old.status.progress, ..new.status.clone() } == old.status
        }
    };
    (@progress $other:ident) => {};
}

stored!(DataMover, DataMover, status);
stored!(PersistentVolumeClaim, PersistentVolumeClaim, status);
stored!(Secret, Secret,);
stored!(Job, Job, status);
stored!(DataMoverSchedule, DataMoverSchedule, status);
stored!(DataMoverPopulator, DataMoverPopulator,);

/// Reads back an object stored under `key` (`<Kind>/<namespace>/<name>`).
///
/// # Errors
/// [`StoreError::UnknownKind`] when the key names no kind the store keeps,
/// [`StoreError::Corrupt`] when the bytes are not that kind's JSON.
pub(super) fn decode(key: &str, bytes: &[u8]) -> Result<Object, StoreError> {
    let name = key.split('/').next().unwrap_or_default();
    let Some(kind) = Kind::from_name(name) else {
        return Err(StoreError::UnknownKind {
            key: key.to_owned(),
            kind: name.to_owned(),
            accepted: Kind::ALL.map(Kind::as_str).join(", "),
        });
    };
    fn of<K: Stored + serde::de::DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<Object> {
        serde_json::from_slice::<K>(bytes).map(K::into_object)
    }
    let object = match kind {
        Kind::DataMover => of::<DataMover>(bytes),
        Kind::PersistentVolumeClaim => of::<PersistentVolumeClaim>(bytes),
        Kind::Secret => of::<Secret>(bytes),
        Kind::Job => of::<Job>(bytes),
        Kind::DataMoverSchedule => of::<DataMoverSchedule>(bytes),
        Kind::DataMoverPopulator => of::<DataMoverPopulator>(bytes),
    };
    object.map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

/// One change, as watchers are told of it.
pub(super) enum Change<'a> {
    /// Created or updated.
    Applied(&'a Object),
    /// Deleted.
    Deleted(ObjectKey),
}

/// One changed object, shared by every watcher of its kind: made by the first, an
/// `Arc<K>` behind the type erasure.
type Shared = Option<Arc<dyn Any + Send + Sync>>;

/// Sends one change on; `false` once the receiver is gone.
type Sink = Box<dyn Fn(&Change<'_>, &mut Shared) -> bool + Send>;

/// The watchers, keyed by the kind they watch.
#[derive(Default)]
pub(super) struct Watchers(HashMap<Kind, Vec<Sink>>);

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k.as_str(), v.len())))
            .finish()
    }
}

impl Watchers {
    /// A new watcher of `K`.
    pub(super) fn add<K: Stored>(&mut self) -> UnboundedReceiver<Event<K>> {
        let (tx, rx): (UnboundedSender<Event<K>>, _) = unbounded_channel();
        let sink: Sink = Box::new(move |change, shared| match change {
            Change::Applied(o) => {
                let Some(object) = K::in_object(o) else {
                    return true;
                };
                let any = shared.get_or_insert_with(|| Arc::new(object.clone()));
                match Arc::clone(any).downcast::<K>() {
                    Ok(object) => tx.send(Event::Applied(object)).is_ok(),
                    Err(_) => tx.send(Event::Applied(Arc::new(object.clone()))).is_ok(),
                }
            }
            Change::Deleted(key) => tx.send(Event::Deleted(key.clone())).is_ok(),
        });
        self.0.entry(K::STORE_KIND).or_default().push(sink);
        rx
    }

    /// Tells the watchers of `kind` of `change`, dropping those whose receiver is gone.
    pub(super) fn send(&mut self, kind: Kind, change: &Change<'_>) {
        if let Some(sinks) = self.0.get_mut(&kind) {
            let mut shared = None;
            sinks.retain(|sink| sink(change, &mut shared));
        }
    }
}

/// The objects of kind `K` in an [`EmbeddedStore`], as the controller runtime's
/// [`tmc_runtime::Store`]: `store.of::<DataMover>()`.
pub struct Typed<K> {
    store: Arc<EmbeddedStore>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Typed<K> {
    /// The objects of kind `K` in `store`.
    #[must_use]
    pub fn new(store: Arc<EmbeddedStore>) -> Self {
        Self {
            store,
            kind: PhantomData,
        }
    }
}

impl<K> Clone for Typed<K> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.store))
    }
}

impl<K: Stored> std::fmt::Debug for Typed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typed")
            .field("kind", &K::STORE_KIND.as_str())
            .finish_non_exhaustive()
    }
}

impl<K: Stored> tmc_runtime::Store<K> for Typed<K> {
    fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.store
            .object::<K>(key.namespace().unwrap_or("default"), key.name())
            .map(Arc::new)
    }

    fn list(&self) -> Vec<Arc<K>> {
        self.store
            .objects::<K>(None)
            .into_iter()
            .map(Arc::new)
            .collect()
    }

    fn watch(&self) -> UnboundedReceiver<Event<K>> {
        self.store.watch::<K>()
    }
}
