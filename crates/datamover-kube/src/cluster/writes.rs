//! What the [`KubeCluster`] writes: status merge patches (and the Event of a phase change,
//! through kube-runtime's [`Recorder`](kube::runtime::events::Recorder)), the clone's name,
//! and the create-or-adopt of the clone PVC and the sync Job; plus the storage class reads
//! a clone's state needs.

use super::{FIELD_MANAGER, KubeCluster, read, write};
use crate::api::{self, ApiError, RetryPolicy};
use crate::{crd, objects};
use datamover::backend::{CloneState, ClusterError};
use datamover::types::{DataMover, PersistentVolumeClaim};
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::HashSet;

impl KubeCluster {
    /// The status write: a JSON merge patch on the status subresource carrying the
    /// object's resourceVersion as a precondition (409: [`ClusterError::Conflict`]). Fields
    /// the new status drops are sent as `null`. When the phase changes, an Event is posted.
    ///
    /// # Errors
    /// [`ClusterError::Conflict`] when stale, [`ClusterError::NotFound`] when the DataMover
    /// is gone, [`ClusterError::Forbidden`] without RBAC, [`ClusterError::Transient`] for
    /// 429, 5xx and no answer, [`ClusterError::Volume`] for other API errors.
    pub async fn write_status_async(&self, dm: &DataMover) -> Result<DataMover, ClusterError> {
        let (ns, name) = (&dm.metadata.namespace, &dm.metadata.name);
        let old = datamover::backend::Cluster::datamover(self, ns, name);
        let body = status_patch(old.as_ref(), dm);
        let api = self.ns::<crd::DataMover>(ns);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(&body);
        let result = self
            .call("patch-status", || api.patch_status(name, &params, &patch))
            .await;
        let raw = result.map_err(|e| {
            let context = if e.is_conflict() {
                format!(
                    "writing the status of DataMover {ns}/{name}: resourceVersion {} is stale",
                    dm.metadata.resource_version
                )
            } else {
                format!("writing the status of DataMover {ns}/{name}")
            };
            api::cluster_error(&e, ns, &context, ClusterError::Volume)
        })?;
        let written = crd::to_datamover(&raw);
        // Cached at once (unless the watch passed it already): the next reconcile reads
        // this resourceVersion, not the old one.
        self.inner
            .datamovers
            .remember_update(raw, &dm.metadata.resource_version);
        let before = old.map(|o| o.status.phase).unwrap_or_default();
        if written.status.phase != before && !written.status.phase.is_empty() {
            self.publish_phase_event(&written).await;
        }
        Ok(written)
    }

    /// Publishes the Event of `dm` entering its phase through the Recorder; one that cannot
    /// be posted is logged and counted (`create-event`), never fails the write.
    async fn publish_phase_event(&self, dm: &DataMover) {
        let event = crate::events::phase_event(dm);
        let regarding = crate::events::regarding(dm);
        let once = RetryPolicy {
            attempts: 1,
            ..self.inner.options.retry
        };
        let recorder = &self.inner.recorder;
        let result = api::call(&self.inner.metrics, once, "create-event", || {
            recorder.publish(&event, &regarding)
        })
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot post the Event for {}", dm.status.phase);
        }
    }

    /// The clone's name: `<sourcePvc>-cloned-<unix seconds>`, the first free one among the
    /// namespace's PVCs and other DataMovers' clones, written to the status.
    ///
    /// # Errors
    /// As [`write_status_async`](Self::write_status_async).
    pub async fn claim_clone_name_async(
        &self,
        dm: &DataMover,
        unix_seconds: u64,
    ) -> Result<DataMover, ClusterError> {
        let ns = dm.metadata.namespace.as_str();
        let in_ns = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            meta.namespace.as_deref() == Some(ns)
        };
        let mut taken: HashSet<String> = self
            .inner
            .pvcs
            .state()
            .iter()
            .filter(|p| in_ns(&p.metadata))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        taken.extend(
            self.inner
                .datamovers
                .state()
                .iter()
                .filter(|d| {
                    in_ns(&d.metadata)
                        && d.metadata.name.as_deref() != Some(dm.metadata.name.as_str())
                })
                .filter_map(|d| Some(d.status.as_ref()?.restored_pvc_name.clone())),
        );
        let name = datamover::types::free_clone_name(&dm.spec.source_pvc, unix_seconds, &taken);
        let mut claimed = dm.clone();
        claimed.status.restored_pvc_name = name;
        self.write_status_async(&claimed).await
    }

    /// Creates `object`, or adopts it when it exists (409) and `owner` (its kind and uid)
    /// owns it.
    ///
    /// # Errors
    /// As [`api::cluster_error`]; `permanent` for an object of the same name not owned
    /// by `uid`.
    pub(super) async fn create_or_adopt<K>(
        &self,
        api: &Api<K>,
        object: &K,
        owner: (&str, &str),
        what: (&'static str, &'static str),
        context: &str,
        permanent: fn(String) -> ClusterError,
    ) -> Result<(K, bool), ClusterError>
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let name = object.meta().name.clone().unwrap_or_default();
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        let failed = |e: &ApiError| api::cluster_error(e, &namespace, context, permanent);
        let pp = PostParams::default();
        match self.call(what.0, || api.create(&pp, object)).await {
            Ok(created) => Ok((created, true)),
            Err(e) if e.is_conflict() => {
                let existing = self
                    .call(what.1, || api.get(&name))
                    .await
                    .map_err(|e| failed(&e))?;
                if objects::owned_by(existing.meta(), owner.1) {
                    tracing::info!(%name, "adopting what a previous attempt created");
                    Ok((existing, false))
                } else {
                    Err(permanent(format!(
                        "{context}: {name} already exists and is not owned by this {}",
                        owner.0
                    )))
                }
            }
            Err(e) => Err(failed(&e)),
        }
    }

    /// The `volumeBindingMode` of storage class `name` (read once, then cached); `None`
    /// when it cannot be read (the clone is then treated as binding immediately).
    async fn binding_mode(&self, name: &str) -> Option<String> {
        if let Some(mode) = read(&self.inner.binding_modes).get(name) {
            return Some(mode.clone());
        }
        let api: Api<k8s_openapi::api::storage::v1::StorageClass> =
            Api::all(self.inner.client.clone());
        match self.call("get-storageclass", || api.get(name)).await {
            Ok(class) => {
                let mode = class
                    .volume_binding_mode
                    .unwrap_or_else(|| "Immediate".into());
                write(&self.inner.binding_modes).insert(name.to_owned(), mode.clone());
                Some(mode)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the storage class {name}");
                None
            }
        }
    }

    /// Where a clone stands: `Bound`, waiting for its first consumer (its storage class
    /// binds on first use), or `Pending`; `Lost` fails it.
    pub(super) async fn clone_state(
        &self,
        pvc: &PersistentVolumeClaim,
    ) -> Result<CloneState, ClusterError> {
        match pvc.status.phase.as_str() {
            "Bound" => Ok(CloneState::Bound),
            "Lost" => Err(ClusterError::Volume(format!(
                "the clone {}/{} is Lost",
                pvc.metadata.namespace, pvc.metadata.name
            ))),
            _ => {
                let class = pvc.spec.storage_class_name.as_deref().unwrap_or_default();
                let waits = !class.is_empty()
                    && self.binding_mode(class).await.as_deref() == Some("WaitForFirstConsumer");
                Ok(if waits {
                    CloneState::WaitsForConsumer
                } else {
                    CloneState::Pending
                })
            }
        }
    }
}

/// The merge patch of a status write: the new status, `null` for fields it drops, and the
/// resourceVersion precondition.
#[must_use]
pub fn status_patch(old: Option<&DataMover>, new: &DataMover) -> serde_json::Value {
    let mut status = serde_json::to_value(&new.status).unwrap_or_default();
    if let (Some(old), Some(map)) = (old, status.as_object_mut())
        && let Ok(serde_json::Value::Object(before)) = serde_json::to_value(&old.status)
    {
        for k in before.keys() {
            map.entry(k.clone()).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({
        "metadata": {"resourceVersion": new.metadata.resource_version},
        "status": status,
    })
}
