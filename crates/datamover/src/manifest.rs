//! Manifests: multi-document YAML (or JSON) as users give `kubectl`, validated field by field.
//!
//! Every document is checked before anything is stored; a refusal names the document, the
//! field path and what is accepted.
//!
//! ```
//! use datamover::manifest::{parse, Object};
//!
//! let objects = parse(r#"
//! apiVersion: datamover.a-cup-of.coffee/v1alpha1
//! kind: DataMover
//! metadata: { name: nightly }
//! spec: { sourcePvc: data, secretName: s3-creds, addTimestampPrefix: true }
//! "#).unwrap();
//! assert!(matches!(&objects[0], Object::DataMover(dm) if dm.spec.source_pvc == "data"));
//!
//! let err = parse("apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: x}\nspec: {secretName: s}\n").unwrap_err();
//! assert_eq!(err.to_string(), "document 1 (DataMover x): spec.sourcePvc: required: the PVC to back up");
//! ```

mod retention;
#[cfg(test)]
mod tests;
mod validate;

use crate::types::*;
use std::fmt;
use validate::type_name;
use validate::{
    dns_name, string, validate_datamover, validate_populator, validate_pvc, validate_schedule,
    validate_secret,
};
use yaml_serde::Value;

/// A parsed, validated object.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // parsed once per apply; boxing buys nothing here
pub enum Object {
    /// A DataMover.
    DataMover(DataMover),
    /// A PersistentVolumeClaim.
    PersistentVolumeClaim(PersistentVolumeClaim),
    /// A Secret.
    Secret(Secret),
    /// A sync Job (made by the operator; manifests cannot create one).
    Job(crate::job::Job),
    /// A DataMoverSchedule.
    DataMoverSchedule(crate::schedule::DataMoverSchedule),
    /// A DataMoverPopulator.
    DataMoverPopulator(crate::populator::DataMoverPopulator),
}

impl Object {
    /// The object's kind.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::DataMover(_) => Kind::DataMover,
            Self::PersistentVolumeClaim(_) => Kind::PersistentVolumeClaim,
            Self::Secret(_) => Kind::Secret,
            Self::Job(_) => Kind::Job,
            Self::DataMoverSchedule(_) => Kind::DataMoverSchedule,
            Self::DataMoverPopulator(_) => Kind::DataMoverPopulator,
        }
    }

    /// The object's metadata.
    #[must_use]
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::DataMover(o) => &o.metadata,
            Self::PersistentVolumeClaim(o) => &o.metadata,
            Self::Secret(o) => &o.metadata,
            Self::Job(o) => &o.metadata,
            Self::DataMoverSchedule(o) => &o.metadata,
            Self::DataMoverPopulator(o) => &o.metadata,
        }
    }

    /// The object's metadata, to change.
    #[must_use]
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Self::DataMover(o) => &mut o.metadata,
            Self::PersistentVolumeClaim(o) => &mut o.metadata,
            Self::Secret(o) => &mut o.metadata,
            Self::Job(o) => &mut o.metadata,
            Self::DataMoverSchedule(o) => &mut o.metadata,
            Self::DataMoverPopulator(o) => &mut o.metadata,
        }
    }

    /// The object as JSON, as the API shows it and the embedded store keeps it.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// An object serialises as its kind's own document (`apiVersion`, `kind`, `metadata`, ...).
impl serde::Serialize for Object {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::DataMover(o) => o.serialize(serializer),
            Self::PersistentVolumeClaim(o) => o.serialize(serializer),
            Self::Secret(o) => o.serialize(serializer),
            Self::Job(o) => o.serialize(serializer),
            Self::DataMoverSchedule(o) => o.serialize(serializer),
            Self::DataMoverPopulator(o) => o.serialize(serializer),
        }
    }
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document}{what}: {path}: {problem}")]
pub struct ManifestError {
    /// 1-based document number in the input.
    pub document: usize,
    /// ` (Kind name)` when known.
    pub what: String,
    /// The field path, e.g. `spec.sourcePvc`.
    pub path: String,
    /// What is wrong and what is accepted.
    pub problem: String,
}

struct Ctx {
    document: usize,
    what: String,
}

impl Ctx {
    fn err(&self, path: &str, problem: impl fmt::Display) -> ManifestError {
        ManifestError {
            document: self.document,
            what: self.what.clone(),
            path: path.to_owned(),
            problem: problem.to_string(),
        }
    }
}

/// Whether `name` is a valid object name (a DNS subdomain, as Kubernetes names objects):
/// at most 253 lowercase letters, digits, `-` and `.`, starting and ending with a letter or
/// digit.
///
/// ```
/// use datamover::manifest::is_object_name;
/// assert!(is_object_name("data-restored"));
/// assert!(!is_object_name("Data") && !is_object_name("-a") && !is_object_name("a/b"));
/// ```
#[must_use]
pub fn is_object_name(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    name.len() <= 253
        && name.bytes().all(|b| alnum(b) || b == b'-' || b == b'.')
        && name.bytes().next().is_some_and(alnum)
        && name.bytes().last().is_some_and(alnum)
}

/// Parses and validates every document in `text` (YAML, several documents separated by
/// `---`, or JSON). Empty documents are skipped.
///
/// # Errors
/// The first [`ManifestError`]: invalid YAML, an unknown kind, a missing or mistyped field.
pub fn parse(text: &str) -> Result<Vec<Object>, ManifestError> {
    let mut out = Vec::new();
    for (i, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let ctx = Ctx {
            document: i + 1,
            what: String::new(),
        };
        let value = serde::Deserialize::deserialize(doc)
            .map_err(|e| ctx.err("(document)", format!("not valid YAML: {e}")))?;
        if let Some(object) = object(&value, ctx)? {
            out.push(object);
        }
    }
    Ok(out)
}

fn object(value: &Value, mut ctx: Ctx) -> Result<Option<Object>, ManifestError> {
    let map = match value {
        Value::Null => return Ok(None),
        Value::Mapping(m) if m.is_empty() => return Ok(None),
        Value::Mapping(m) => m,
        _ => {
            return Err(ctx.err(
                "(document)",
                "expected a mapping with apiVersion, kind, metadata",
            ));
        }
    };
    let api_version = string(map.get("apiVersion"), &ctx, "apiVersion", true)?;
    let kind = string(map.get("kind"), &ctx, "kind", true)?;
    let metadata = map
        .get("metadata")
        .ok_or_else(|| ctx.err("metadata", "required: give at least metadata.name"))?;
    let Value::Mapping(meta) = metadata else {
        return Err(ctx.err("metadata", "expected a mapping"));
    };
    let name = string(meta.get("name"), &ctx, "metadata.name", true)?;
    ctx.what = format!(" ({kind} {name})");
    dns_name(&name, &ctx, "metadata.name")?;
    if let Some(ns) = meta.get("namespace") {
        dns_name(
            &string(Some(ns), &ctx, "metadata.namespace", true)?,
            &ctx,
            "metadata.namespace",
        )?;
    }
    let (expected_api, kind_enum) = match kind.as_str() {
        "DataMover" => (API_VERSION, Kind::DataMover),
        "PersistentVolumeClaim" => ("v1", Kind::PersistentVolumeClaim),
        "Secret" => ("v1", Kind::Secret),
        "DataMoverSchedule" => (API_VERSION, Kind::DataMoverSchedule),
        "DataMoverPopulator" => (API_VERSION, Kind::DataMoverPopulator),
        other => {
            return Err(ctx.err(
                "kind",
                format!("unknown kind {other:?}: accepted are DataMover, DataMoverSchedule, DataMoverPopulator ({API_VERSION}), PersistentVolumeClaim (v1), Secret (v1)"),
            ));
        }
    };
    if api_version != expected_api {
        return Err(ctx.err(
            "apiVersion",
            format!("{kind} needs apiVersion {expected_api:?}, not {api_version:?}"),
        ));
    }
    match kind_enum {
        Kind::DataMover => validate_datamover(map, &ctx)?,
        Kind::PersistentVolumeClaim => validate_pvc(map, &ctx)?,
        Kind::Secret => validate_secret(map, &ctx)?,
        Kind::Job => return Err(ctx.err("kind", "Jobs are made by the operator")),
        Kind::DataMoverSchedule => validate_schedule(map, &ctx)?,
        Kind::DataMoverPopulator => validate_populator(map, &ctx)?,
    }
    let typed = |e: yaml_serde::Error| ctx.err("(document)", e);
    Ok(Some(match kind_enum {
        Kind::DataMover => {
            let mut dm: DataMover = yaml_serde::from_value(value.clone()).map_err(typed)?;
            dm.status = DataMoverStatus::default(); // status is the operator's to write
            Object::DataMover(dm)
        }
        Kind::PersistentVolumeClaim => {
            let mut pvc: PersistentVolumeClaim =
                yaml_serde::from_value(value.clone()).map_err(typed)?;
            pvc.status = PvcStatus::default();
            Object::PersistentVolumeClaim(pvc)
        }
        Kind::Secret => Object::Secret(yaml_serde::from_value(value.clone()).map_err(typed)?),
        Kind::Job => return Err(ctx.err("kind", "Jobs are made by the operator")),
        Kind::DataMoverSchedule => {
            let mut s: crate::schedule::DataMoverSchedule =
                yaml_serde::from_value(value.clone()).map_err(typed)?;
            s.status = crate::schedule::DataMoverScheduleStatus::default();
            Object::DataMoverSchedule(s)
        }
        Kind::DataMoverPopulator => {
            Object::DataMoverPopulator(yaml_serde::from_value(value.clone()).map_err(typed)?)
        }
    }))
}
