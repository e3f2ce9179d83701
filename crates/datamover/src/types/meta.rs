//! Object metadata, owner references and environment variables, as Kubernetes has them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Standard object metadata (the subset the operator uses).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name, unique per kind and namespace.
    pub name: String,
    /// Namespace; `default` when omitted.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Set by the store at creation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Set by the store on every write; an update must carry the current one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Incremented by the store when the spec changes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// RFC 3339 creation time, set by the store.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub creation_timestamp: String,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The objects this one belongs to; deleting an owner deletes what it owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    /// The keys of this object's owners of kind `kind` (they live in its namespace).
    #[must_use]
    pub fn owners(&self, kind: &str) -> Vec<tmc_runtime::ObjectKey> {
        self.owner_references
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| tmc_runtime::ObjectKey::namespaced(&self.namespace, &r.name))
            .collect()
    }

    /// Whether the object with `uid` owns this one.
    #[must_use]
    pub fn owned_by(&self, uid: &str) -> bool {
        self.owner_references.iter().any(|r| r.uid == uid)
    }
}

/// An owner reference, as Kubernetes has them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// The owner's `apiVersion`.
    pub api_version: String,
    /// The owner's kind.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// The owner's uid.
    pub uid: String,
    /// Whether the owner is the managing controller.
    #[serde(default)]
    pub controller: bool,
    /// Whether deleting the owner waits for this object.
    #[serde(default)]
    pub block_owner_deletion: bool,
}

fn default_namespace() -> String {
    "default".to_owned()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An environment variable for the sync job (core/v1 `EnvVar`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Name of the environment variable. Must be a `C_IDENTIFIER`.
    pub name: String,
    /// Its value; defaults to "".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Source for the variable's value (a core/v1 `EnvVarSource`), given to the Job as
    /// written. Cannot be used if value is not empty. Kubernetes only: the embedded backend
    /// ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "kube",
        schemars(schema_with = "crate::types::env_var_source")
    )]
    pub value_from: Option<serde_json::Value>,
}

impl EnvVar {
    /// A variable with a plain value.
    #[must_use]
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            value_from: None,
        }
    }
}
