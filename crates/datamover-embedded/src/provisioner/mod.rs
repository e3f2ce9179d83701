//! The embedded backend's stand-in for a CSI driver that clones volumes: it fills a
//! `Pending` PVC whose `spec.dataSource` names another PVC with a copy of that PVC's
//! directory, then marks it `Bound`.
//!
//! On Kubernetes the storage system clones a volume while the operator does something
//! else, and the clone's watch event brings its DataMover back when it binds. The embedded
//! backend behaves the same way: [`Cluster::clone_pvc`](datamover::backend::Cluster::clone_pvc)
//! stores the clone `Pending` and returns, and this task does the copy, outside any
//! reconcile:
//!
//! - the copy is `cp -a --reflink=auto` (modes and times kept, blocks shared where the
//!   filesystem can) into a hidden staging directory, renamed into place when complete,
//!   so the clone's directory holds nothing or the whole copy;
//! - the clone is then `Bound` with a `Cloned=True` condition; a copy that fails leaves it
//!   `Pending` with `Cloned=False`, reason `CloneFailed` and the reason in the message,
//!   which the next reconcile turns into the DataMover's failure;
//! - a clone deleted while it is copied gets no directory (the staging copy is removed),
//!   a deleted clone's directory is removed (as a volume with the `Delete` reclaim policy
//!   is: a DataMover deleted mid-flight takes its clone with it), and a clone found
//!   `Pending` at start (the operator stopped mid-copy) is copied again;
//! - at most [`MAX_CONCURRENT_CLONES`] copies run at once.
//!
//! Nothing here is a controller with a work queue: there is one step per clone and no
//! retry (a failed copy fails its DataMover, as a failed CSI clone would leave the PVC
//! unbound), so a watch of PVC events and a task per clone are the whole machine.

use crate::clones::{CLONED, clone_failure, clone_source};
use crate::cluster::Embedded;
use crate::store::StoreError;
use datamover::manifest::Object;
use datamover::types::PersistentVolumeClaim;
use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tmc_runtime::{Event, ObjectKey};
use tokio::sync::Semaphore;

/// How many clones are copied at once.
pub const MAX_CONCURRENT_CLONES: usize = 4;

/// Whether `pvc` is a clone still to be copied.
fn wants_copy(pvc: &PersistentVolumeClaim) -> bool {
    pvc.status.phase == "Pending" && clone_source(pvc).is_some() && clone_failure(pvc).is_none()
}

/// Copies every clone that wants it, as its PVC events arrive, until `shutdown`. Copies
/// under way when `shutdown` resolves are abandoned (their staging directory is copied
/// again at the next start).
pub async fn run(cluster: Arc<Embedded>, shutdown: impl Future<Output = ()>) {
    // Watch before listing, so a clone stored in between is seen by one or the other.
    let mut events = cluster.store.watch::<PersistentVolumeClaim>();
    let busy = Arc::new(Mutex::new(HashSet::<String>::new()));
    // The clones seen: their directories go when they do.
    let mut clones = HashSet::<ObjectKey>::new();
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_CLONES));
    let mut tasks = tokio::task::JoinSet::new();
    let start = |pvc: PersistentVolumeClaim, tasks: &mut tokio::task::JoinSet<()>| {
        if !wants_copy(&pvc)
            || !busy
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(pvc.metadata.uid.clone())
        {
            return;
        }
        let (cluster, busy, permits) = (cluster.clone(), busy.clone(), permits.clone());
        tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let uid = pvc.metadata.uid.clone();
            // As it is now: it may have been bound, failed or deleted while it waited.
            let current = cluster
                .store
                .object::<PersistentVolumeClaim>(&pvc.metadata.namespace, &pvc.metadata.name)
                .filter(|p| p.metadata.uid == uid && wants_copy(p));
            if let Some(pvc) = current {
                copy(&cluster, pvc).await;
            }
            busy.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&uid);
        });
    };
    for object in cluster
        .store
        .list(datamover::types::Kind::PersistentVolumeClaim, None)
    {
        if let Object::PersistentVolumeClaim(pvc) = object {
            if clone_source(&pvc).is_some() {
                clones.insert(ObjectKey::namespaced(
                    &pvc.metadata.namespace,
                    &pvc.metadata.name,
                ));
            }
            start(pvc, &mut tasks);
        }
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            event = events.recv() => match event {
                Some(Event::Applied(pvc)) => {
                    if clone_source(&pvc).is_some() {
                        clones.insert(ObjectKey::namespaced(&pvc.metadata.namespace, &pvc.metadata.name));
                    }
                    start((*pvc).clone(), &mut tasks);
                }
                Some(Event::Deleted(key)) => {
                    if clones.remove(&key) {
                        remove_deleted(&cluster, &key).await;
                    }
                }
                None => break,
            },
        }
    }
    tasks.abort_all();
}

/// Removes the directory of the deleted clone `key`, unless a PVC of that name exists
/// again. Clones never carry the host-path annotation: their directory is always the
/// operator's own, under the volumes root.
async fn remove_deleted(cluster: &Embedded, key: &ObjectKey) {
    let ns = key.namespace().unwrap_or("default");
    if cluster
        .store
        .object::<PersistentVolumeClaim>(ns, key.name())
        .is_some()
    {
        return;
    }
    match cluster.volumes.remove(ns, key.name()).await {
        Ok(()) => tracing::debug!(pvc = %key, "the deleted clone's directory is gone"),
        Err(e) => {
            tracing::warn!(pvc = %key, error = %e, "cannot remove a deleted clone's directory");
        }
    }
}

/// Copies one clone and records the outcome on it.
async fn copy(cluster: &Embedded, pvc: PersistentVolumeClaim) {
    let (ns, name) = (pvc.metadata.namespace.clone(), pvc.metadata.name.clone());
    let staging = cluster.volumes.clone_staging(&ns, &name);
    let result = fill(cluster, &pvc, &staging).await;
    // Still the clone we copied for? It may have been deleted (its DataMover with it).
    let current = cluster
        .store
        .object::<PersistentVolumeClaim>(&ns, &name)
        .filter(|p| p.metadata.uid == pvc.metadata.uid);
    let Some(mut current) = current else {
        let _ = tokio::fs::remove_dir_all(&staging).await;
        tracing::info!(pvc = %format!("{ns}/{name}"), "the clone was deleted while it was copied; its copy is removed");
        return;
    };
    match result {
        Ok(()) => {
            let target = cluster.volumes.dir(&ns, &name);
            let _ = tokio::fs::remove_dir_all(&target).await;
            if let Err(e) = tokio::fs::rename(&staging, &target).await {
                let _ = tokio::fs::remove_dir_all(&staging).await;
                let msg = format!("renaming the copy into {}: {e}", target.display());
                fail(cluster, &mut current, &msg).await;
                return;
            }
            current.status.phase = "Bound".into();
            let source = clone_source(&pvc).unwrap_or_default().to_owned();
            datamover::conditions::set(
                &mut current.status.conditions,
                CLONED,
                true,
                "Cloned",
                &format!("copied from PVC {source}"),
            );
            write(cluster, current).await;
        }
        Err(msg) => {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            fail(cluster, &mut current, &msg).await;
        }
    }
}

/// Copies the source's directory into `staging`.
async fn fill(
    cluster: &Embedded,
    pvc: &PersistentVolumeClaim,
    staging: &Path,
) -> Result<(), String> {
    let ns = &pvc.metadata.namespace;
    let source_name = clone_source(pvc).unwrap_or_default();
    let source = cluster
        .store
        .object::<PersistentVolumeClaim>(ns, source_name)
        .ok_or_else(|| {
            format!("the source PVC {ns}/{source_name} was deleted before it was cloned")
        })?;
    if let Some(host) = source
        .metadata
        .annotations
        .get(datamover::types::HOST_PATH_ANNOTATION)
    {
        cluster.policy.check_host_path(host)?;
    }
    let from = cluster.volume_dir(&source);
    if !tokio::fs::metadata(&from).await.is_ok_and(|m| m.is_dir()) {
        return Err(format!(
            "the source volume {} is not a directory",
            from.display()
        ));
    }
    let _ = tokio::fs::remove_dir_all(staging).await;
    tokio::fs::create_dir_all(staging)
        .await
        .map_err(|e| format!("creating {}: {e}", staging.display()))?;
    copy_dir(&from, staging).await
}

async fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let status = tokio::process::Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| format!("cannot run cp: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "copying {} to {} failed: cp exited with {status}",
            from.display(),
            to.display()
        ))
    }
}

async fn fail(cluster: &Embedded, pvc: &mut PersistentVolumeClaim, msg: &str) {
    datamover::conditions::set(
        &mut pvc.status.conditions,
        CLONED,
        false,
        "CloneFailed",
        msg,
    );
    tracing::warn!(pvc = %format!("{}/{}", pvc.metadata.namespace, pvc.metadata.name), %msg, "clone failed");
    write(cluster, pvc.clone()).await;
}

/// Writes the clone's status; a conflicting write (someone else changed the PVC) is
/// retried on the current object, a deleted PVC is left alone.
async fn write(cluster: &Embedded, mut pvc: PersistentVolumeClaim) {
    for _ in 0..5 {
        let attempt = pvc.clone();
        match cluster
            .store
            .write(move |s| s.update_status(&attempt))
            .await
        {
            Ok(_) | Err(StoreError::NotFound { .. }) => return,
            Err(StoreError::Conflict { .. }) => {
                let Some(current) = cluster
                    .store
                    .object::<PersistentVolumeClaim>(&pvc.metadata.namespace, &pvc.metadata.name)
                else {
                    return;
                };
                pvc.metadata.resource_version = current.metadata.resource_version;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record a clone's status");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
