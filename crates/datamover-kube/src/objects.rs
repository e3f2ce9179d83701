//! The objects the operator creates on Kubernetes: the clone PVC (and, with `copyMethod:
//! Snapshot`, the `VolumeSnapshot` it is made from), owner references, and the core's Job
//! (one builder for both backends, [`datamover::job`]) as a `batch/v1` Job.

use datamover::types::DataMover;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    EnvVarSource, PersistentVolumeClaim, PersistentVolumeClaimSpec, TypedLocalObjectReference,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use std::collections::BTreeMap;

/// Label on the clone PVC naming its source.
pub const CLONE_OF_LABEL: &str = "datamover.a-cup-of.coffee/clone-of";

/// The controller owner reference to a DataMover: deleting it collects what it owns.
#[must_use]
pub fn owner_reference(name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: datamover::types::API_VERSION.into(),
        kind: "DataMover".into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `meta` is owned by the DataMover with `uid`.
#[must_use]
pub fn owned_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .as_ref()
        .is_some_and(|refs| refs.iter().any(|r| r.uid == uid))
}

/// The API group of `VolumeSnapshots` (`copyMethod: Snapshot`).
pub const SNAPSHOT_GROUP: &str = "snapshot.storage.k8s.io";

/// `snapshot.storage.k8s.io/v1` `VolumeSnapshot` (`volumesnapshots`): a CRD of the CSI
/// external-snapshotter, not in k8s-openapi, so written as a dynamic object.
#[must_use]
pub fn volume_snapshot_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(SNAPSHOT_GROUP, "v1", "VolumeSnapshot"),
        "volumesnapshots",
    )
}

/// The `VolumeSnapshot` `name` of the PVC `source` (`spec.source.persistentVolumeClaimName`),
/// in the `VolumeSnapshotClass` `class` (absent: the cluster's default for the driver),
/// labelled and owned like the clone.
#[must_use]
pub fn volume_snapshot(
    namespace: &str,
    name: &str,
    source: &str,
    class: Option<&str>,
    owner: &OwnerReference,
) -> DynamicObject {
    let mut spec = serde_json::json!({"source": {"persistentVolumeClaimName": source}});
    if let Some(class) = class {
        spec["volumeSnapshotClassName"] = class.into();
    }
    let mut labels = datamover::job::labels(&owner.name);
    labels.insert(CLONE_OF_LABEL.into(), source.to_owned());
    let mut snapshot = DynamicObject::new(name, &volume_snapshot_resource())
        .within(namespace)
        .data(serde_json::json!({"spec": spec}));
    snapshot.metadata.labels = Some(labels);
    snapshot.metadata.owner_references = Some(vec![owner.clone()]);
    snapshot
}

/// The clone of `source`: same size, access modes and storage class, with a `dataSource`
/// naming the source PVC (or, `from_snapshot`, the `VolumeSnapshot` of the clone's own name:
/// `copyMethod: Snapshot`), owned by the DataMover.
#[must_use]
pub fn clone_pvc(
    namespace: &str,
    clone: &str,
    source: &datamover::types::PersistentVolumeClaim,
    owner: &OwnerReference,
    from_snapshot: bool,
) -> PersistentVolumeClaim {
    let storage = source
        .spec
        .resources
        .as_ref()
        .and_then(|r| r.pointer("/requests/storage"))
        .and_then(|q| match q {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    let mut labels = datamover::job::labels(&owner.name);
    labels.insert(CLONE_OF_LABEL.into(), source.metadata.name.clone());
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(clone.into()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: (!source.spec.access_modes.is_empty())
                .then(|| source.spec.access_modes.clone()),
            storage_class_name: source.spec.storage_class_name.clone(),
            resources: storage.map(|s| VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(s))])),
                ..VolumeResourceRequirements::default()
            }),
            data_source: Some(if from_snapshot {
                TypedLocalObjectReference {
                    api_group: Some(SNAPSHOT_GROUP.into()),
                    kind: "VolumeSnapshot".into(),
                    name: clone.into(),
                }
            } else {
                TypedLocalObjectReference {
                    api_group: None,
                    kind: "PersistentVolumeClaim".into(),
                    name: source.metadata.name.clone(),
                }
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

/// A Job as the Kubernetes API reads it: the core's [`Job`](datamover::job::Job) (the
/// same object the embedded backend runs), converted by serde alone: its JSON is
/// `batch/v1`'s.
///
/// # Errors
/// A message naming `<what>.additionalEnv[i].valueFrom` when an entry is not a core/v1
/// `EnvVarSource` (the CRD keeps it as given, so the API server does not check it).
pub fn to_kube(
    job: &datamover::job::Job,
    what: &str,
    additional_env: &[datamover::types::EnvVar],
) -> Result<Job, String> {
    for (i, e) in additional_env.iter().enumerate() {
        if let Some(from) = &e.value_from {
            serde_json::from_value::<EnvVarSource>(from.clone()).map_err(|err| {
                format!("{what}.additionalEnv[{i}].valueFrom ({}): {err}", e.name)
            })?;
        }
    }
    serde_json::to_value(job)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            format!(
                "the Job {} does not read as batch/v1: {e}",
                job.metadata.name
            )
        })
}

/// The sync Job of `dm` ([`datamover::job::sync_job`]) as the Kubernetes API reads it,
/// built at `now_ms`; when `spec.verify` asks for a check, its container runs
/// [`sync_command`](crate::verify::sync_command) (the sync, then the check, in one pod)
/// instead of the image's entrypoint, and with `addTimestampPrefix` the folder it writes
/// into is decided here: `now_ms`'s `YYYY-MM-DD-HHMMSS`, given to the script as
/// [`TIMESTAMP_FOLDER_ENV`](datamover::job::TIMESTAMP_FOLDER_ENV), last in `env` so
/// `additionalEnv` cannot change it (the folder `status.destination` names, read back
/// from the Job: [`Cluster::sync_folder`](datamover::backend::Cluster::sync_folder)).
///
/// # Errors
/// As [`to_kube`], naming `spec.additionalEnv[i].valueFrom`.
pub fn sync_job(dm: &DataMover, now_ms: u64) -> Result<Job, String> {
    let mut core = datamover::job::sync_job(dm);
    let command = crate::verify::sync_command(dm.spec.verify);
    if let (Some(c), Some(command)) = (core.spec.template.spec.containers.first_mut(), command) {
        c.command = command;
        if dm.spec.add_timestamp_prefix {
            c.env.push(datamover::types::EnvVar::new(
                datamover::job::TIMESTAMP_FOLDER_ENV,
                datamover::time::prefix(now_ms),
            ));
        }
    }
    to_kube(&core, "spec", &dm.spec.additional_env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamover::types::EnvVar as Var;

    fn datamover(env: Vec<Var>) -> DataMover {
        let mut dm = DataMover::default();
        dm.metadata.name = "nightly".into();
        dm.metadata.namespace = "default".into();
        dm.spec.secret_name = "creds".into();
        dm.spec.additional_env = env;
        dm.metadata.uid = "0a1b2c3d".into();
        dm.status.restored_pvc_name = "data-cloned-1".into();
        dm
    }

    fn env_of(job: &Job) -> serde_json::Value {
        let spec = job.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        serde_json::to_value(spec.map(|s| &s.containers[0].env)).unwrap_or_default()
    }

    #[test]
    fn value_from_reaches_the_job_as_written_without_an_empty_value() {
        let from = serde_json::json!({"secretKeyRef": {"name": "other", "key": "k"}});
        let dm = datamover(vec![
            Var::new("PLAIN", "1"),
            Var {
                name: "FROM_SECRET".into(),
                value: String::new(),
                value_from: Some(from.clone()),
            },
        ]);
        let job = sync_job(&dm, 0).unwrap();
        let env = env_of(&job);
        // After the operation's variable, the 4 stats variables and the CA bundle's 2.
        let tail: Vec<_> = env.as_array().unwrap().iter().skip(7).cloned().collect();
        assert_eq!(
            tail,
            [
                serde_json::json!({"name": "PLAIN", "value": "1"}),
                serde_json::json!({"name": "FROM_SECRET", "valueFrom": from}),
            ]
        );
    }

    #[test]
    fn a_value_from_that_is_no_env_var_source_is_an_error_naming_the_field() {
        let dm = datamover(vec![Var {
            name: "BROKEN".into(),
            value: String::new(),
            value_from: Some(serde_json::json!({"secretKeyRef": "creds/k"})),
        }]);
        let err = sync_job(&dm, 0).unwrap_err();
        assert!(
            err.starts_with("spec.additionalEnv[0].valueFrom (BROKEN): "),
            "{err}"
        );
    }

    /// The Job both backends run: what the embedded store holds and what is sent to the
    /// API server serialise alike, field for field, apart from what the server sets
    /// (status, and metadata beyond name, namespace, labels and owner references).
    #[test]
    fn both_backends_build_the_same_job_from_the_same_datamover() {
        let mut dm = datamover(vec![
            Var::new("RCLONE_BWLIMIT", "1M"),
            Var {
                name: "FROM_SECRET".into(),
                value: String::new(),
                value_from: Some(serde_json::json!({"secretKeyRef": {"name": "o", "key": "k"}})),
            },
        ]);
        dm.spec.add_timestamp_prefix = true;
        dm.spec.image = Some(datamover::types::Image {
            name: "registry.local/rclone".into(),
            tag: "1.2".into(),
            pull_policy: "IfNotPresent".into(),
        });
        let embedded = serde_json::to_value(datamover::job::sync_job(&dm)).unwrap();
        let kube = serde_json::to_value(sync_job(&dm, 0).unwrap()).unwrap();
        assert_eq!(kube["spec"], embedded["spec"]);
        for field in ["name", "namespace", "labels", "ownerReferences"] {
            assert_eq!(
                kube["metadata"][field], embedded["metadata"][field],
                "{field}"
            );
        }
        assert_eq!(kube["apiVersion"], "batch/v1");
        assert_eq!(kube["kind"], "Job");
        assert_eq!(kube["metadata"]["name"], "nightly-sync-0a1b2c3d");
        let container = &kube["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "registry.local/rclone:1.2");
        assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(container["securityContext"]["runAsUser"], 65534);
        assert_eq!(
            kube["spec"]["template"]["spec"]["securityContext"]["fsGroup"],
            65534
        );
        assert_eq!(
            kube["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "data-cloned-1"
        );
    }
}
