//! `copyMethod: Snapshot` on Kubernetes: the `VolumeSnapshot` of the source
//! ([`objects::volume_snapshot`]), created (or adopted) in one reconcile that returns, and
//! deleted in `CleaningUp`. The clone is then made from it by
//! [`clone_pvc`](datamover::backend::Cluster::clone_pvc) (`dataSource` kind
//! `VolumeSnapshot`); the CSI provisioner waits for the snapshot to be ready, and the
//! clone's `Bound` event brings the DataMover back, as for a clone.

use super::KubeCluster;
use crate::api;
use crate::objects;
use datamover::backend::ClusterError;
use datamover::types::PersistentVolumeClaim;
use kube::api::{Api, DeleteParams, DynamicObject};

/// What the API server's 404 on a `VolumeSnapshot` create means, and the fix.
const NO_SNAPSHOT_API: &str = "the VolumeSnapshot API (snapshot.storage.k8s.io/v1) is not installed in this cluster: install the CSI external-snapshotter's CRDs and controller, or use copyMethod: Clone";

impl KubeCluster {
    fn snapshots(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.inner.client.clone(),
            namespace,
            &objects::volume_snapshot_resource(),
        )
    }

    /// Creates (or adopts, when it exists and the DataMover claiming the clone `name` owns
    /// it) the `VolumeSnapshot` `name` of `source`.
    pub(super) async fn snapshot_pvc_async(
        &self,
        namespace: &str,
        source: &PersistentVolumeClaim,
        name: &str,
        class: Option<&str>,
    ) -> Result<(), ClusterError> {
        let owner = self
            .inner
            .datamovers
            .find(|d| {
                d.metadata.namespace.as_deref() == Some(namespace)
                    && d.status.as_ref().map(|s| s.restored_pvc_name.as_str()) == Some(name)
            })
            .ok_or_else(|| {
                ClusterError::Volume(format!(
                    "no DataMover in {namespace} claims the clone {name}"
                ))
            })?;
        let uid = owner.metadata.uid.clone().unwrap_or_default();
        let owner =
            objects::owner_reference(owner.metadata.name.as_deref().unwrap_or_default(), &uid);
        let snapshot =
            objects::volume_snapshot(namespace, name, &source.metadata.name, class, &owner);
        let context = format!(
            "taking the VolumeSnapshot {name} of {}",
            source.metadata.name
        );
        let created = self
            .create_or_adopt(
                &self.snapshots(namespace),
                &snapshot,
                ("DataMover", &uid),
                ("create-volumesnapshot", "get-volumesnapshot"),
                &context,
                ClusterError::Volume,
            )
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(ClusterError::NotFound(message)) => Err(ClusterError::Volume(format!(
                "{NO_SNAPSHOT_API} ({message})"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Deletes the `VolumeSnapshot` `name` (gone already: done).
    pub(super) async fn delete_snapshot_async(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<(), ClusterError> {
        let api = self.snapshots(namespace);
        let dp = DeleteParams::background();
        match self
            .call("delete-volumesnapshot", || api.delete(name, &dp))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(api::cluster_error(
                &e,
                namespace,
                &format!("deleting the VolumeSnapshot {namespace}/{name}"),
                ClusterError::Volume,
            )),
        }
    }
}
