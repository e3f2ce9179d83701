//! `DataMoverPopulator` (`datamover.a-cup-of.coffee/v1alpha1`): a backup a new PVC can be
//! filled from, as a Kubernetes volume populator.
//!
//! A PVC whose `spec.dataSourceRef` is
//! `{apiGroup: datamover.a-cup-of.coffee, kind: DataMoverPopulator, name: ...}` starts
//! `Pending`. The backend's restore reconciler creates a restore Job ([`job`]) for it
//! (`batch/v1`-shaped, owned by the PVC, like the sync Job); on the embedded backend the
//! executor runs it as `rclone copy <destination>/<path> <staging dir>`, and the restore
//! reconciler renames the staging dir into place in the step that writes the PVC `Bound`.
//! A missing backup path fails the Job with a clear reason, and the PVC stays `Pending`
//! with a `Restored=False` condition: nothing half-written is ever in a PVC that reports
//! `Bound`.

pub mod job;

use crate::types::{EnvVar, GROUP, Image, ObjectMeta, PersistentVolumeClaim};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The populator's kind.
pub const KIND: &str = "DataMoverPopulator";

/// How long before a restore waiting for its populator or secret looks again (both
/// backends: nothing watches for a populator or a secret to appear).
pub const RETRY_MISSING: Duration = Duration::from_secs(10);

// With the `kube` feature this is also the spec of the `DataMoverPopulator` custom resource
// (`DataMoverPopulatorResource`); datamover-kube generates its CRD from these types.
/// Where a backup is and how to read it: the original operator's populator spec.
#[allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) entries repeat `type_ = ...` by design"
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "kube",
    derive(kube::CustomResource, schemars::JsonSchema),
    kube(
        group = "datamover.a-cup-of.coffee",
        version = "v1alpha1",
        kind = "DataMoverPopulator",
        root = "DataMoverPopulatorResource",
        plural = "datamoverpopulators",
        singular = "datamoverpopulator",
        namespaced,
        derive = "PartialEq",
        derive = "Default",
        doc = "DataMoverPopulator is a backup a new PVC is filled from (spec.dataSourceRef).",
        printcolumn(name = "PATH", type_ = "string", json_path = ".spec.path"),
        printcolumn(name = "SECRET", type_ = "string", json_path = ".spec.secretName"),
        printcolumn(
            name = "AGE",
            type_ = "date",
            json_path = ".metadata.creationTimestamp"
        )
    )
)]
#[serde(rename_all = "camelCase")]
pub struct DataMoverPopulatorSpec {
    /// The secret holding the destination the backups were written to.
    pub secret_name: String,
    /// The backup inside that destination, e.g. a `YYYY-MM-DD-HHMMSS` folder; relative,
    /// without `..`.
    pub path: String,
    /// The restore job's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Extra environment for the restore job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_env: Vec<EnvVar>,
}

/// A `DataMoverPopulator`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataMoverPopulator {
    /// `datamover.a-cup-of.coffee/v1alpha1`.
    pub api_version: String,
    /// `DataMoverPopulator`.
    pub kind: String,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The backup.
    pub spec: DataMoverPopulatorSpec,
}

/// The populator a PVC's `spec.dataSourceRef` names, if it names one.
///
/// ```
/// use datamover::types::PersistentVolumeClaim;
/// let mut pvc = PersistentVolumeClaim::default();
/// assert_eq!(datamover::populator::source_of(&pvc), None);
/// pvc.spec.data_source_ref = Some(serde_json::json!({
///     "apiGroup": "datamover.a-cup-of.coffee", "kind": "DataMoverPopulator", "name": "nightly"}));
/// assert_eq!(datamover::populator::source_of(&pvc), Some("nightly"));
/// ```
#[must_use]
pub fn source_of(pvc: &PersistentVolumeClaim) -> Option<&str> {
    let r = pvc.spec.data_source_ref.as_ref()?;
    let field = |k: &str| r.get(k).and_then(serde_json::Value::as_str);
    (field("apiGroup") == Some(GROUP) && field("kind") == Some(KIND))
        .then(|| field("name"))
        .flatten()
}

/// Checks a populator's `path`: relative, no `..`, no empty segments beyond a trailing `/`.
///
/// # Errors
/// What is wrong and what is accepted.
pub fn check_path(path: &str) -> Result<(), String> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(
            "required: the backup folder inside the destination, e.g. 2026-11-30-030000".into(),
        );
    }
    if trimmed.starts_with('/') || trimmed.contains(':') || trimmed.contains('\\') {
        return Err(format!(
            "{path:?} must be relative to the secret's destination (no leading '/', ':' or '\\')"
        ));
    }
    if trimmed
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(format!(
            "{path:?} must not contain '.', '..' or empty segments: name a folder inside the destination"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_must_stay_inside_the_destination() {
        for ok in ["2026-11-30-030000", "nightly/2026-11-30-030000/", "a b/ü"] {
            super::check_path(ok).unwrap();
        }
        for bad in ["", "/etc", "../x", "a/../../b", "a//b", "remote:x", "./a"] {
            assert!(super::check_path(bad).is_err(), "{bad}");
        }
    }
}
