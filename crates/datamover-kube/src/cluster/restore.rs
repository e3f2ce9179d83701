//! Restores on Kubernetes: the volume-populator pattern.
//!
//! A PVC whose `spec.dataSourceRef` is `{apiGroup: datamover.a-cup-of.coffee, kind:
//! DataMoverPopulator, name}` stays `Pending`: the API server does not bind it. For each
//! such PVC, [`reconcile`] (a controller over PVCs, owning their restore Jobs and prime
//! PVCs) does one step and returns; watch events bring it back:
//!
//! 1. the populator and its secret are read from the caches (missing: a Warning Event
//!    naming what to create, and a requeue after
//!    [`RETRY_MISSING`](datamover::populator::RETRY_MISSING));
//! 2. it creates the *prime* PVC [`prime_name`] (same storage class, access modes, volume
//!    mode and size, no `dataSourceRef`, owned by the PVC, with the PVC's
//!    `volume.kubernetes.io/selected-node` when its class waits for a first consumer) and
//!    the restore Job ([`datamover::populator::job::restore_job`], mounting the prime),
//!    each created or adopted (409);
//! 3. the Job `Complete`: the prime's `spec.volumeName` is read, that PersistentVolume's
//!    `spec.claimRef` is patched to the PVC (namespace, name, uid; resourceVersion
//!    cleared), so the PV controller binds the PVC to the populated volume, and the prime
//!    is deleted; a `Restored` Event and `datamover_restore_*` (duration from the Job's
//!    creation to its completion, bytes from the pod's termination message);
//! 4. the Job `Failed`: nothing is rebound (the PVC never binds to a half-written
//!    volume); the prime is deleted, a Warning Event `RestoreFailed` carries the Job's
//!    reason and rclone's last error, the failure is counted.
//!
//! The restore's durable record is the Job (owned by the PVC) and the prime: once the
//! prime is gone, a finished Job means the restore was handled, so a restarted operator
//! does not count it twice.

use super::{FIELD_MANAGER, KubeCluster, cached, convert};
use crate::api::{self, RetryPolicy};
use datamover::backend::ClusterError;
use datamover::job::{Job as SyncJob, JobOutcome};
use datamover::populator::DataMoverPopulator;
use datamover::populator::RETRY_MISSING;
use datamover::populator::job::{restore_job, restore_job_name};
use datamover::reconciler::ReconcileError;
use datamover::types::{PersistentVolumeClaim, Secret};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::{MetricsCollector, Outcome};
use tmc_runtime::{Action, ObjectKey};

/// The prime PVC's name prefix.
pub const PRIME_PREFIX: &str = "prime-";
/// The annotation the scheduler puts on a `WaitForFirstConsumer` PVC: copied to the prime.
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";
/// The restore container's command: `rclone copy <destination>/<RESTORE_PATH> /data/`, the
/// destination read from the secret as the sync job and the embedded backend read it
/// (`DESTINATION`, or the original operator's S3 keys).
pub const RESTORE_SCRIPT: &str = concat!(
    destination_script!(),
    r#"exec rclone copy "$base/$RESTORE_PATH" /data/ --create-empty-src-dirs
"#
);

/// The prime PVC of the PVC with `uid`: `prime-<uid>`.
///
/// ```
/// assert_eq!(datamover_kube::restore::prime_name("0a1b-2c"), "prime-0a1b-2c");
/// ```
#[must_use]
pub fn prime_name(uid: &str) -> String {
    format!("{PRIME_PREFIX}{uid}")
}

/// What the restore reconciler needs.
#[derive(Debug)]
pub struct RestoreContext {
    /// The cluster (its PVC, Job, Secret and populator caches; its writes).
    pub cluster: Arc<KubeCluster>,
    /// Where the `datamover_restore_*` metrics go.
    pub metrics: MetricsCollector,
}

fn owner(pvc: &core::PersistentVolumeClaim) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "PersistentVolumeClaim".into(),
        name: pvc.metadata.name.clone().unwrap_or_default(),
        uid: pvc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The prime PVC of `pvc`: its class, access modes, volume mode and requests, no data
/// source, owned by it; its selected node, if the scheduler chose one.
#[must_use]
pub fn prime_pvc(pvc: &core::PersistentVolumeClaim) -> core::PersistentVolumeClaim {
    let spec = pvc.spec.clone().unwrap_or_default();
    let annotations: BTreeMap<String, String> = pvc
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| k.as_str() == SELECTED_NODE_ANNOTATION)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    core::PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(prime_name(pvc.metadata.uid.as_deref().unwrap_or_default())),
            namespace: pvc.metadata.namespace.clone(),
            annotations: (!annotations.is_empty()).then_some(annotations),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "datamover-operator".to_owned(),
            )])),
            owner_references: Some(vec![owner(pvc)]),
            ..ObjectMeta::default()
        },
        spec: Some(core::PersistentVolumeClaimSpec {
            access_modes: spec.access_modes,
            storage_class_name: spec.storage_class_name,
            volume_mode: spec.volume_mode,
            resources: spec.resources,
            ..core::PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

/// The restore Job as the API server receives it: [`restore_job`] (the one Job builder of
/// both backends: rclone's statistics in the termination message, non-root 65534 with
/// `fsGroup` 65534 so it can write the fresh volume, no privilege escalation, drop ALL,
/// seccomp `RuntimeDefault`), mounting `prime` and running [`RESTORE_SCRIPT`].
///
/// # Errors
/// A message when the description does not read as a `batch/v1` Job (an
/// `additionalEnv[].valueFrom` that is not an `EnvVarSource`).
pub fn restore_job_object(
    pvc: &PersistentVolumeClaim,
    prime: &str,
    populator: &DataMoverPopulator,
) -> Result<Job, String> {
    let described = restore_job(pvc, populator);
    let what = format!("DataMoverPopulator {}: spec", populator.metadata.name);
    let mut job = crate::objects::to_kube(&described, &what, &populator.spec.additional_env)?;
    let pod = job
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .ok_or("the restore Job has no pod template")?;
    for v in pod.volumes.iter_mut().flatten() {
        if let Some(claim) = v.persistent_volume_claim.as_mut() {
            prime.clone_into(&mut claim.claim_name);
        }
    }
    for c in &mut pod.containers {
        c.command = Some(vec!["/bin/sh".into(), "-c".into(), RESTORE_SCRIPT.into()]);
    }
    Ok(job)
}

/// The merge patch that hands a populated PersistentVolume to `pvc`: its `claimRef` names
/// the PVC (namespace, name, uid), the prime's resourceVersion cleared.
#[must_use]
pub fn rebind_patch(pvc: &PersistentVolumeClaim) -> serde_json::Value {
    serde_json::json!({"spec": {"claimRef": {
        "namespace": pvc.metadata.namespace,
        "name": pvc.metadata.name,
        "uid": pvc.metadata.uid,
        "resourceVersion": null,
    }}})
}

/// How long a restore took: from the Job's creation to its completion (or failure).
fn took(job: &SyncJob) -> Duration {
    let at = |t: &str| datamover::time::parse_rfc3339(t);
    let start = at(&job.metadata.creation_timestamp);
    let end = at(&job.status.completion_time).or_else(|| {
        job.status
            .conditions
            .iter()
            .filter(|c| c.status == "True")
            .find_map(|c| at(&c.last_transition_time))
    });
    match (start, end) {
        (Some(s), Some(e)) => Duration::from_millis(e.saturating_sub(s)),
        _ => Duration::ZERO,
    }
}

impl KubeCluster {
    fn raw_pvc(&self, namespace: &str, name: &str) -> Option<Arc<core::PersistentVolumeClaim>> {
        self.inner.pvcs.get(&ObjectKey::namespaced(namespace, name))
    }

    /// Publishes an Event about `pvc`; one that cannot be posted is logged and counted
    /// (`create-event`), never fails the reconcile.
    async fn pvc_event(
        &self,
        pvc: &PersistentVolumeClaim,
        warning: bool,
        reason: &str,
        note: &str,
    ) {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let regarding = core::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("PersistentVolumeClaim".into()),
            name: some(&pvc.metadata.name),
            namespace: some(&pvc.metadata.namespace),
            uid: some(&pvc.metadata.uid),
            resource_version: some(&pvc.metadata.resource_version),
            field_path: None,
        };
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Restore".into(),
            secondary: None,
        };
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
            tracing::warn!(error = %e, "cannot post the Event {reason}");
        }
    }

    /// Deletes the prime PVC (404: already gone) and forgets it, so the next reconcile
    /// knows the restore was handled.
    async fn delete_prime(&self, namespace: &str, prime: &str) -> Result<(), ClusterError> {
        datamover::backend::Cluster::delete_pvc(self, namespace, prime).await?;
        self.inner
            .pvcs
            .forget(&ObjectKey::namespaced(namespace, prime));
        Ok(())
    }
}

/// Reconciles one PVC's restore one step. See the [module docs](self).
///
/// # Errors
/// [`ReconcileError`] when a write fails; the step is retried.
pub async fn reconcile(
    object: Arc<PersistentVolumeClaim>,
    ctx: Arc<RestoreContext>,
) -> Result<Action, ReconcileError> {
    let cluster = &ctx.cluster;
    let (ns, name) = (&object.metadata.namespace, &object.metadata.name);
    let Some(raw) = cluster.raw_pvc(ns, name) else {
        return Ok(Action::await_change());
    };
    let Some(pvc) = convert::<PersistentVolumeClaim>(&*raw) else {
        return Ok(Action::await_change());
    };
    let Some(source) = datamover::populator::source_of(&pvc).map(str::to_owned) else {
        return Ok(Action::await_change());
    };
    let bound = raw
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .is_some_and(|v| !v.is_empty());
    if pvc.status.phase == "Bound" || bound {
        return Ok(Action::await_change());
    }
    let uid = pvc.metadata.uid.clone();
    let prime = prime_name(&uid);
    let job_name = restore_job_name(name, &uid);
    let Some(job) = datamover::backend::Cluster::job(&**cluster, ns, &job_name) else {
        return start(&ctx, &raw, &pvc, &source, &prime).await;
    };
    let Some(prime_pvc) = cluster.raw_pvc(ns, &prime) else {
        // Handled already (the prime is deleted last), or not ours to finish.
        return Ok(Action::await_change());
    };
    match job.outcome() {
        None => Ok(Action::await_change()),
        Some(JobOutcome::Complete) => {
            let volume = prime_pvc
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.clone())
                .filter(|v| !v.is_empty());
            let Some(volume) = volume else {
                // The prime's binding event brings the PVC back.
                return Ok(Action::await_change());
            };
            let api: Api<core::PersistentVolume> = Api::all(cluster.inner.client.clone());
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            };
            let body = rebind_patch(&pvc);
            let patch = Patch::Merge(&body);
            cluster
                .call("patch-persistentvolume", || {
                    api.patch(&volume, &params, &patch)
                })
                .await
                .map_err(|e| {
                    api::cluster_error(
                        &e,
                        ns,
                        &format!("binding the restored volume {volume} to {ns}/{name}"),
                        ClusterError::Volume,
                    )
                })?;
            cluster.delete_prime(ns, &prime).await?;
            let p = job.status.progress.unwrap_or_default();
            let note = format!(
                "restored from DataMoverPopulator {source}: {} bytes, {} files; volume {volume} bound to this claim",
                p.bytes, p.files
            );
            cluster.pvc_event(&pvc, false, "Restored", &note).await;
            ctx.metrics
                .datamover_restore_finished(ns, Outcome::Success, took(&job), p.bytes);
            tracing::info!(pvc = %format!("{ns}/{name}"), %volume, bytes = p.bytes, "restore complete; volume rebound");
            Ok(Action::await_change())
        }
        Some(JobOutcome::Failed(reason)) => {
            let mut note = format!("restoring from DataMoverPopulator {source} failed: {reason}");
            if !job.status.last_pod_error.is_empty() {
                note = format!("{note}; rclone: {}", job.status.last_pod_error);
            }
            cluster.delete_prime(ns, &prime).await?;
            cluster.pvc_event(&pvc, true, "RestoreFailed", &note).await;
            ctx.metrics
                .datamover_restore_finished(ns, Outcome::Failure, took(&job), 0);
            tracing::warn!(pvc = %format!("{ns}/{name}"), %note, "restore failed");
            Ok(Action::await_change())
        }
    }
}

/// Checks the populator and its secret, then creates (or adopts) the prime and the Job.
async fn start(
    ctx: &RestoreContext,
    raw: &core::PersistentVolumeClaim,
    pvc: &PersistentVolumeClaim,
    source: &str,
    prime: &str,
) -> Result<Action, ReconcileError> {
    let cluster = &ctx.cluster;
    let ns = &pvc.metadata.namespace;
    let Some(populator) = cached::<DataMoverPopulator>(cluster, ns, source) else {
        let note = format!(
            "the DataMoverPopulator {ns}/{source} (spec.dataSourceRef.name) does not exist: create it"
        );
        cluster
            .pvc_event(pvc, true, "PopulatorNotFound", &note)
            .await;
        return Ok(Action::requeue(RETRY_MISSING));
    };
    let restore_path = datamover::populator::job::RESTORE_PATH_ENV;
    let invalid = datamover::populator::check_path(&populator.spec.path)
        .map_err(|e| format!("spec.path: {e}"))
        .and_then(|()| {
            if populator
                .spec
                .additional_env
                .iter()
                .any(|e| e.name == restore_path)
            {
                Err(format!(
                    "spec.additionalEnv: {restore_path} is set from spec.path, not here"
                ))
            } else {
                Ok(())
            }
        });
    if let Err(e) = invalid {
        let note = format!("DataMoverPopulator {ns}/{source}: {e}");
        cluster
            .pvc_event(pvc, true, "InvalidPopulator", &note)
            .await;
        return Ok(Action::requeue(RETRY_MISSING));
    }
    let secret = &populator.spec.secret_name;
    if cached::<Secret>(cluster, ns, secret).is_none() {
        let note = format!(
            "the secret {ns}/{secret} (spec.secretName of DataMoverPopulator {source}) does not exist: create it"
        );
        cluster.pvc_event(pvc, true, "SecretNotFound", &note).await;
        return Ok(Action::requeue(RETRY_MISSING));
    }
    let uid = &pvc.metadata.uid;
    let pvcs = cluster.ns::<core::PersistentVolumeClaim>(ns);
    let context = format!(
        "creating the prime PVC {prime} of {ns}/{}",
        pvc.metadata.name
    );
    let (created, _) = cluster
        .create_or_adopt(
            &pvcs,
            &prime_pvc(raw),
            ("PersistentVolumeClaim", uid),
            ("create-pvc", "get-pvc"),
            &context,
            ClusterError::Volume,
        )
        .await?;
    cluster.inner.pvcs.remember(created);
    let job = restore_job_object(pvc, prime, &populator).map_err(ClusterError::Volume)?;
    let jobs = cluster.ns::<Job>(ns);
    let context = format!("creating the restore Job of {ns}/{}", pvc.metadata.name);
    let (job, created) = cluster
        .create_or_adopt(
            &jobs,
            &job,
            ("PersistentVolumeClaim", uid),
            ("create-job", "get-job"),
            &context,
            ClusterError::Volume,
        )
        .await?;
    let job_name = job.metadata.name.clone().unwrap_or_default();
    cluster.inner.jobs.remember(job);
    if created {
        ctx.metrics.datamover_restore_started(ns);
        let note = format!(
            "restoring {} of DataMoverPopulator {source} into {prime} (Job {job_name})",
            populator.spec.path
        );
        cluster.pvc_event(pvc, false, "RestoreStarted", &note).await;
    }
    Ok(Action::await_change())
}
