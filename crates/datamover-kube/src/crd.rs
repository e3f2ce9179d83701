//! The `DataMover` custom resource: [`DataMover`] is [`datamover::types::DataMoverResource`],
//! which `kube::CustomResource` generates (feature `kube` of the `datamover` crate) from the
//! very spec and status types the reconciler uses, so the CRD below, its schema and the
//! reconciler cannot disagree; the reconciler's [`datamover::types::DataMover`] differs from
//! it only by its metadata's type (why: [`datamover::crd`]).
//!
//! The field names are the original Go operator's (camelCase): objects its CRD accepted
//! deserialize unchanged. `additionalEnv` keeps the original's `valueFrom` (a core/v1
//! `EnvVarSource`), which the Job receives as given.

use kube::CustomResourceExt;

/// The object kube-rs reads and writes.
pub type DataMover = datamover::types::DataMoverResource;

/// The API object as the reconciler reads it: spec and status moved, metadata mapped
/// field by field ([`datamover::crd::meta_from_kube`]).
#[must_use]
pub fn to_datamover(object: &DataMover) -> datamover::types::DataMover {
    object.into()
}

/// The reconciler's DataMover as the API object.
#[must_use]
pub fn from_datamover(object: &datamover::types::DataMover) -> DataMover {
    object.into()
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
        "# Generated from the Rust types in crates/datamover/src/types.rs by\n\
         # `datamover-operator crd` (or `TMC_BLESS=1 cargo test -p datamover-kube --lib crd_file`); do not edit.\n\
         {body}"
    )
}

/// The object kube-rs reads and writes for a `DataMoverSchedule`.
pub type DataMoverSchedule = datamover::schedule::DataMoverScheduleResource;
/// The object kube-rs reads and writes for a `DataMoverPopulator`.
pub type DataMoverPopulator = datamover::populator::DataMoverPopulatorResource;

/// The generated CRD files under `deploy/crd/`, and their YAML.
#[must_use]
pub fn crd_files() -> [(&'static str, String); 3] {
    [
        ("datamover.yaml", crd_yaml()),
        (
            "datamoverschedule.yaml",
            generated_yaml(
                &DataMoverSchedule::crd(),
                "crates/datamover/src/schedule/mod.rs",
            ),
        ),
        (
            "datamoverpopulator.yaml",
            generated_yaml(
                &DataMoverPopulator::crd(),
                "crates/datamover/src/populator/mod.rs",
            ),
        ),
    ]
}

fn generated_yaml(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    source: &str,
) -> String {
    let body = yaml_serde::to_string(crd).unwrap_or_default();
    format!(
        "# Generated from the Rust types in {source} by\n\
         # `TMC_BLESS=1 cargo test -p datamover-kube --lib crd_file`; do not edit.\n\
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

    /// `deploy/crd/*.yaml` must be what the types generate.
    #[test]
    fn crd_files_are_up_to_date() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crd");
        for (file, fresh) in crd_files() {
            let path = dir.join(file);
            if std::env::var_os("TMC_BLESS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &fresh).unwrap();
                continue;
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == fresh,
                "deploy/crd/{file} is stale: run `TMC_BLESS=1 cargo test -p datamover-kube --lib crd_file`"
            );
        }
    }

    fn columns(crd: &serde_json::Value) -> Vec<(String, String, String)> {
        crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let text = |k: &str| c[k].as_str().unwrap().to_owned();
                (text("name"), text("type"), text("jsonPath"))
            })
            .collect()
    }

    #[test]
    fn the_schedule_crd_has_cronjobs_columns_and_a_status_subresource() {
        let crd = serde_json::to_value(DataMoverSchedule::crd()).unwrap();
        assert_eq!(
            crd["metadata"]["name"],
            "datamoverschedules.datamover.a-cup-of.coffee"
        );
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["kind"], "DataMoverSchedule");
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert_eq!(v["subresources"]["status"], serde_json::json!({}));
        let col = |n: &str, t: &str, p: &str| (n.to_owned(), t.to_owned(), p.to_owned());
        assert_eq!(
            columns(&crd),
            [
                col("SCHEDULE", "string", ".spec.schedule"),
                col("SUSPEND", "boolean", ".spec.suspend"),
                col("ACTIVE", "integer", ".status.activeJobs"),
                col("LAST SCHEDULE", "date", ".status.lastScheduleTime"),
                col("AGE", "date", ".metadata.creationTimestamp"),
            ]
        );
        let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let mut required: Vec<&str> = spec["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["schedule", "secretName", "sourcePvc"]);
        let validator = jsonschema::validator_for(&v["schema"]["openAPIV3Schema"]).unwrap();
        let good = serde_json::json!({"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
            "kind": "DataMoverSchedule", "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *", "sourcePvc": "data", "secretName": "creds",
                     "successfulJobsHistoryLimit": 2}});
        assert!(validator.is_valid(&good));
        let mut bad = good;
        bad["spec"]["successfulJobsHistoryLimit"] = serde_json::json!(-1);
        assert!(
            !validator.is_valid(&bad),
            "a negative history limit was accepted"
        );
    }

    #[test]
    fn the_populator_crd_requires_the_secret_and_the_path() {
        let crd = serde_json::to_value(DataMoverPopulator::crd()).unwrap();
        assert_eq!(
            crd["metadata"]["name"],
            "datamoverpopulators.datamover.a-cup-of.coffee"
        );
        assert_eq!(crd["spec"]["names"]["kind"], "DataMoverPopulator");
        let v = &crd["spec"]["versions"][0];
        assert!(v["subresources"]["status"].is_null(), "no status");
        let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let mut required: Vec<&str> = spec["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["path", "secretName"]);
        let col = |n: &str, t: &str, p: &str| (n.to_owned(), t.to_owned(), p.to_owned());
        assert_eq!(
            columns(&crd),
            [
                col("PATH", "string", ".spec.path"),
                col("SECRET", "string", ".spec.secretName"),
                col("AGE", "date", ".metadata.creationTimestamp"),
            ]
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
    fn the_original_manifests_round_trip_through_the_one_type() {
        for text in ORIGINALS {
            let doc = yaml(text);
            let typed: DataMover = serde_json::from_value(doc.clone()).unwrap();
            // The original object deserializes unchanged: its JSON round-trips exactly
            // (valueFrom included).
            let mut expected = doc.clone();
            let mut got = serde_json::to_value(&typed).unwrap();
            for v in [&mut expected, &mut got] {
                v.as_object_mut().unwrap().remove("status");
            }
            assert_eq!(got, expected);
            // The reconciler's DataMover holds the same spec and status, and the metadata
            // maps back unchanged, but for an absent namespace read as `default` (where
            // `kubectl apply` puts such a manifest).
            let dm = to_datamover(&typed);
            assert_eq!(dm.spec, typed.spec);
            assert_eq!(dm.status, typed.status.clone().unwrap_or_default());
            assert_eq!(dm.metadata.name, doc["metadata"]["name"].as_str().unwrap());
            let mut meta = typed.metadata.clone();
            meta.namespace.get_or_insert_with(|| "default".into());
            assert_eq!(from_datamover(&dm).metadata, meta);
        }
        let dm = to_datamover(&serde_json::from_value(yaml(ORIGINALS[2])).unwrap());
        assert_eq!(dm.status.phase, "Completed");
        assert_eq!(dm.status.restored_pvc_name, "my-pvc-cloned-1700000000");
        assert_eq!(dm.api_version, datamover::types::API_VERSION);
        assert_eq!(
            dm.spec.additional_env[1].value_from,
            Some(serde_json::json!({"secretKeyRef": {"name": "other", "key": "k"}}))
        );
    }
}
