//! The `DataMover` custom resource, generated from Rust types, and its conversion to and
//! from [`datamover::types::DataMover`].
//!
//! The field names are those of [`datamover::types::DataMoverSpec`] and
//! [`datamover::types::DataMoverStatus`] (camelCase), which are the original Go operator's:
//! objects its CRD accepted deserialize unchanged. `additionalEnv` keeps the original's
//! `valueFrom` (a core/v1 `EnvVarSource`), which the Job receives as given.

use kube::CustomResource;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The sync job's default image repository (the original operator's).
pub const DEFAULT_IMAGE_NAME: &str = "ghcr.io/qjoly/datamover-rclone";
/// The sync job's default image tag.
pub const DEFAULT_IMAGE_TAG: &str = "latest";
/// The sync job's default pull policy (the original operator's).
pub const DEFAULT_PULL_POLICY: &str = "Always";

/// What to back up and where: the original operator's spec, unchanged.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "datamover.a-cup-of.coffee",
    version = "v1alpha1",
    kind = "DataMover",
    plural = "datamovers",
    singular = "datamover",
    shortname = "dm",
    namespaced,
    status = "DataMoverStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "DataMover is the Schema for the datamovers API: back up a PVC to an rclone destination.",
    printcolumn(
        name = "PHASE",
        type_ = "string",
        json_path = ".status.phase",
        description = "Phase of the DataMover operation"
    ),
    printcolumn(
        name = "AGE",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct DataMoverSpec {
    /// The name of the source PersistentVolumeClaim (PVC) to clone.
    pub source_pvc: String,
    /// The name of the secret holding the destination and its credentials (given to the
    /// sync job as `envFrom`).
    pub secret_name: String,
    /// Put the data under a `YYYY-MM-DD-HHMMSS/` folder at the destination.
    #[serde(default)]
    pub add_timestamp_prefix: bool,
    /// Delete the cloned PVC once the backup succeeded.
    #[serde(default)]
    pub delete_pvc_after_backup: bool,
    /// Additional environment variables for the sync job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_env: Vec<EnvVar>,
    /// Container image configuration for the sync job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
}

/// An environment variable of the sync job (core/v1 `EnvVar`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Name of the environment variable. Must be a `C_IDENTIFIER`.
    pub name: String,
    /// Its value; defaults to "".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Source for the variable's value (a core/v1 `EnvVarSource`). Cannot be used if value
    /// is not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "env_var_source")]
    pub value_from: Option<serde_json::Value>,
}

fn env_var_source(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Source for the environment variable's value (core/v1 EnvVarSource).",
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// The sync job's container image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Name of the container image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tag of the container image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Pull policy for the container image: `Always`, `Never` or `IfNotPresent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "pull_policy")]
    pub pull_policy: Option<String>,
}

fn pull_policy(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Pull policy for the container image.",
        "type": "string",
        "enum": ["Always", "Never", "IfNotPresent"]
    })
}

/// A condition, Kubernetes style.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Cloned`, `Synced`, `CleanedUp`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    #[serde(default)]
    pub reason: String,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
    /// RFC 3339 time of the last change.
    #[serde(default)]
    pub last_transition_time: String,
}

/// Where a DataMover is, and what happened (the original's `phase` and `restoredPvcName`,
/// and more).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataMoverStatus {
    /// The phase: empty, `CreatingClonedPVC`, `ClonedPVCReady`, `CreatingPod`, `CleaningUp`,
    /// `Completed` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// A reference to the cloned PVC (`<sourcePvc>-cloned-<unix seconds>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_pvc_name: Option<String>,
    /// Conditions with reasons and messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Sync attempts started (3 in all at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Sync attempts that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_attempts: Option<u32>,
    /// Bytes the last sync transferred (0 when the job cannot report it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_transferred: Option<u64>,
    /// Files the last sync transferred (0 when the job cannot report it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_transferred: Option<u64>,
    /// Where the data went (secrets never appear here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// RFC 3339 time the DataMover started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// RFC 3339 time it completed or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    /// Unix milliseconds the current phase started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_started_at_ms: Option<u64>,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The sync job's process id on the embedded backend; 0 on Kubernetes (the Job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_pid: Option<u32>,
}

/// Why a conversion between the CRD type and [`datamover::types::DataMover`] failed.
#[derive(Debug, thiserror::Error)]
#[error("converting a DataMover: {0}")]
pub struct ConvertError(#[from] serde_json::Error);

/// The CRD object as the reconciler's [`datamover::types::DataMover`], through its JSON.
///
/// # Errors
/// [`ConvertError`] when the JSON shapes disagree (a bug: a test pins them).
pub fn to_datamover(object: &DataMover) -> Result<datamover::types::DataMover, ConvertError> {
    let mut value = serde_json::to_value(object)?;
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| datamover::types::API_VERSION.into());
        map.entry("kind").or_insert_with(|| "DataMover".into());
    }
    Ok(serde_json::from_value(value)?)
}

/// A [`datamover::types::DataMover`] as the CRD object, through its JSON.
///
/// # Errors
/// [`ConvertError`] when the JSON shapes disagree (a bug: a test pins them).
pub fn from_datamover(object: &datamover::types::DataMover) -> Result<DataMover, ConvertError> {
    Ok(serde_json::from_value(serde_json::to_value(object)?)?)
}

/// The `CustomResourceDefinition` of `DataMover`, as the operator's `crd` command prints it
/// and `deploy/crd/datamover.yaml` holds it.
#[must_use]
pub fn crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    DataMover::crd()
}

/// The CRD as YAML, with a header saying where it comes from.
#[must_use]
pub fn crd_yaml() -> String {
    let body = yaml_serde::to_string(&crd()).unwrap_or_default();
    format!(
        "# Generated from the Rust types in crates/datamover-kube/src/crd.rs by\n\
         # `datamover-operator crd` (or `TMC_BLESS=1 cargo test -p datamover-kube --lib crd_file`); do not edit.\n\
         {body}"
    )
}

/// The OpenAPI v3 schema of the served version, as JSON (what the API server validates
/// objects against).
#[must_use]
pub fn openapi_schema() -> serde_json::Value {
    let crd = crd();
    crd.spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The original operator's samples (config/samples), unchanged, plus status as it wrote it.
    const ORIGINALS: &[&str] = &[
        r#"
apiVersion: datamover.a-cup-of.coffee/v1alpha1
kind: DataMover
metadata:
  name: datamover-sample
  namespace: default
spec:
  sourcePvc: "my-pvc"
  secretName: "my-secret"
  addTimestampPrefix: true
  deletePvcAfterBackup: true
  additionalEnv:
    - name: RCLONE_S3_NO_CHECK_BUCKET
      value: "true"
  image:
    name: ghcr.io/qjoly/datamover-rclone
    tag: latest
    pullPolicy: IfNotPresent
"#,
        r#"
apiVersion: datamover.a-cup-of.coffee/v1alpha1
kind: DataMover
metadata:
  labels:
    app.kubernetes.io/name: datamover-operator
    app.kubernetes.io/managed-by: kustomize
  name: datamover-custom-image-sample
spec:
  sourcePvc: "database-storage"
  secretName: "backup-credentials"
  addTimestampPrefix: true
  deletePvcAfterBackup: true
  image:
    name: "my-registry.com/my-custom-rclone"
    tag: "v1.2.3"
    pullPolicy: "IfNotPresent"
  additionalEnv:
    - name: "CUSTOM_CONFIG"
      value: "enabled"
"#,
        r#"
apiVersion: datamover.a-cup-of.coffee/v1alpha1
kind: DataMover
metadata:
  name: datamover-without-timestamp
spec:
  sourcePvc: "my-pvc"
  secretName: "my-secret"
  addTimestampPrefix: false
  deletePvcAfterBackup: false
  additionalEnv:
    - name: "BACKUP_TYPE"
      value: "full"
    - name: FROM_SECRET
      valueFrom: {secretKeyRef: {name: other, key: k}}
status:
  phase: Completed
  restoredPvcName: my-pvc-cloned-1700000000
"#,
    ];

    fn yaml(text: &str) -> serde_json::Value {
        yaml_serde::from_str(text).unwrap()
    }

    /// `deploy/crd/datamover.yaml` must be what the types generate.
    #[test]
    fn crd_file_is_up_to_date() {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crd/datamover.yaml");
        let fresh = crd_yaml();
        if std::env::var_os("TMC_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &fresh).unwrap();
            return;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == fresh,
            "deploy/crd/datamover.yaml is stale: run `TMC_BLESS=1 cargo test -p datamover-kube --lib crd_file`"
        );
    }

    #[test]
    fn the_crd_has_the_originals_names_columns_and_status_subresource() {
        let crd = serde_json::to_value(crd()).unwrap();
        assert_eq!(
            crd["metadata"]["name"],
            "datamovers.datamover.a-cup-of.coffee"
        );
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["kind"], "DataMover");
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert_eq!(v["subresources"]["status"], serde_json::json!({}));
        let cols = &v["additionalPrinterColumns"];
        assert_eq!(cols[0]["name"], "PHASE");
        assert_eq!(cols[0]["jsonPath"], ".status.phase");
        assert_eq!(cols[1]["name"], "AGE");
        assert_eq!(cols[1]["type"], "date");
        assert_eq!(cols[1]["jsonPath"], ".metadata.creationTimestamp");
        let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let mut required: Vec<_> = spec["required"].as_array().unwrap().iter().collect();
        required.sort_by_key(|v| v.to_string());
        assert_eq!(
            required,
            [
                &serde_json::json!("secretName"),
                &serde_json::json!("sourcePvc")
            ]
        );
    }

    #[test]
    fn the_schema_accepts_the_original_manifests() {
        let validator = jsonschema::validator_for(&openapi_schema()).unwrap();
        for text in ORIGINALS {
            let doc = yaml(text);
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}\n{text}");
        }
    }

    #[test]
    fn the_schema_rejects_broken_manifests() {
        let validator = jsonschema::validator_for(&openapi_schema()).unwrap();
        let base = yaml(ORIGINALS[0]);
        let broken: &[(&str, serde_json::Value)] = &[
            ("/spec/sourcePvc", serde_json::Value::Null),
            ("/spec/addTimestampPrefix", "yes".into()),
            ("/spec/image/pullPolicy", "Sometimes".into()),
            ("/spec/additionalEnv", "A=B".into()),
            ("/spec/secretName", 7.into()),
        ];
        for (pointer, value) in broken {
            let mut doc = base.clone();
            if value.is_null() {
                doc["spec"].as_object_mut().unwrap().remove("sourcePvc");
            } else {
                *doc.pointer_mut(pointer).unwrap() = value.clone();
            }
            assert!(
                !validator.is_valid(&doc),
                "{pointer} = {value} was accepted"
            );
        }
        let mut no_name = base;
        no_name["spec"]["additionalEnv"][0]
            .as_object_mut()
            .unwrap()
            .remove("name");
        assert!(
            !validator.is_valid(&no_name),
            "an env var without a name was accepted"
        );
    }

    #[test]
    fn json_shapes_agree_both_ways_on_the_original_manifest() {
        for text in ORIGINALS {
            let doc = yaml(text);
            let typed: DataMover = serde_json::from_value(doc.clone()).unwrap();
            // The original object deserializes unchanged: its JSON round-trips exactly.
            let mut expected = doc.clone();
            let mut got = serde_json::to_value(&typed).unwrap();
            for v in [&mut expected, &mut got] {
                v.as_object_mut().unwrap().remove("status");
            }
            assert_eq!(got, expected);
            // CRD -> datamover -> CRD keeps the spec and the status.
            let dm = to_datamover(&typed).unwrap();
            assert_eq!(
                dm.spec.source_pvc,
                doc["spec"]["sourcePvc"].as_str().unwrap()
            );
            assert_eq!(
                dm.spec.additional_env[0].name,
                doc["spec"]["additionalEnv"][0]["name"].as_str().unwrap()
            );
            let back = from_datamover(&dm).unwrap();
            assert_eq!(back.spec.source_pvc, typed.spec.source_pvc);
            assert_eq!(back.spec.image, typed.spec.image);
            assert_eq!(
                back.status
                    .as_ref()
                    .and_then(|s| s.restored_pvc_name.clone())
                    .unwrap_or_default(),
                dm.status.restored_pvc_name
            );
            // datamover's own JSON of the spec is the CRD's (valueFrom aside, which it drops).
            let mut a = serde_json::to_value(&dm.spec).unwrap();
            let mut b = serde_json::to_value(&typed.spec).unwrap();
            for v in [&mut a, &mut b] {
                for env in v["additionalEnv"].as_array_mut().into_iter().flatten() {
                    let env = env.as_object_mut().unwrap();
                    env.remove("valueFrom");
                    env.entry("value").or_insert("".into());
                }
            }
            assert_eq!(a, b);
        }
        let dm = to_datamover(&serde_json::from_value(yaml(ORIGINALS[2])).unwrap()).unwrap();
        assert_eq!(dm.status.phase, "Completed");
        assert_eq!(dm.api_version, datamover::types::API_VERSION);
    }
}
