//! The core/v1 `PersistentVolumeClaim` and `Secret` shapes the embedded backend keeps.

use super::{Condition, ObjectMeta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The spec of a PVC (the fields the embedded backend keeps).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PvcSpec {
    /// Access modes, e.g. `ReadWriteOnce`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    /// Storage class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Requested resources (`requests.storage`), kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<serde_json::Value>,
    /// The volume to clone from (`kind: PersistentVolumeClaim`, `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<serde_json::Value>,
    /// The populator to fill the volume from (`apiGroup: datamover.a-cup-of.coffee`,
    /// `kind: DataMoverPopulator`, `name`): a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source_ref: Option<serde_json::Value>,
}

/// The status of a PVC.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PvcStatus {
    /// `Pending` or `Bound`.
    #[serde(default)]
    pub phase: String,
    /// `Restored` for a PVC filled from a `DataMoverPopulator`: why it is still pending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A `PersistentVolumeClaim` (core/v1): in the embedded backend, a directory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaim {
    /// `v1`.
    pub api_version: String,
    /// `PersistentVolumeClaim`.
    pub kind: String,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: PvcSpec,
    /// Status.
    #[serde(default)]
    pub status: PvcStatus,
}

/// A `Secret` (core/v1): `data` is base64, `stringData` plain; both are merged on apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// `v1`.
    pub api_version: String,
    /// `Secret`.
    pub kind: String,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Base64-encoded values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Plain values (folded into `data` when stored).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// `Opaque` by default.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
}

impl Secret {
    /// The decoded values of `data` and `stringData` (the latter wins), or the key whose
    /// base64 does not decode.
    ///
    /// # Errors
    /// The name of a key whose `data` value is not valid base64 or UTF-8.
    pub fn values(&self) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.data {
            let bytes = crate::base64_decode(v).ok_or_else(|| k.clone())?;
            out.insert(k.clone(), String::from_utf8(bytes).map_err(|_| k.clone())?);
        }
        for (k, v) in &self.string_data {
            out.insert(k.clone(), v.clone());
        }
        Ok(out)
    }
}

impl tmc_runtime::Resource for PersistentVolumeClaim {
    const KIND: &'static str = "PersistentVolumeClaim";

    fn key(&self) -> tmc_runtime::ObjectKey {
        tmc_runtime::ObjectKey::namespaced(&self.metadata.namespace, &self.metadata.name)
    }
}

/// A cloned PVC is owned by its DataMover: its watch event (say, `Bound`) brings the
/// DataMover back.
impl tmc_runtime::Owned for PersistentVolumeClaim {
    fn owners(&self, kind: &str) -> Vec<tmc_runtime::ObjectKey> {
        self.metadata.owners(kind)
    }
}
