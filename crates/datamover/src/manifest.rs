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

use crate::types::*;
use std::fmt;
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

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn string(
    v: Option<&Value>,
    ctx: &Ctx,
    path: &str,
    required: bool,
) -> Result<String, ManifestError> {
    match v {
        None | Some(Value::Null) if required => Err(ctx.err(path, "required: a string")),
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) if required && s.is_empty() => {
            Err(ctx.err(path, "must not be empty"))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ctx.err(path, format!("expected a string, got {}", type_name(other)))),
    }
}

fn dns_name(name: &str, ctx: &Ctx, path: &str) -> Result<(), ManifestError> {
    let ok = name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ctx.err(path, format!("{name:?} is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit")))
    }
}

fn validate_mapping_field(
    map: &yaml_serde::Mapping,
    ctx: &Ctx,
    field: &str,
) -> Result<(), ManifestError> {
    match map.get(field) {
        None | Some(Value::Null | Value::Mapping(_)) => Ok(()),
        Some(other) => Err(ctx.err(
            field,
            format!("expected a mapping, got {}", type_name(other)),
        )),
    }
}

/// The spec as a mapping, or a refusal naming what it needs.
fn spec_of<'a>(
    map: &'a yaml_serde::Mapping,
    ctx: &Ctx,
    needs: &str,
) -> Result<&'a yaml_serde::Mapping, ManifestError> {
    match map.get("spec") {
        Some(Value::Mapping(spec)) => Ok(spec),
        None | Some(Value::Null) => Err(ctx.err("spec", format!("required: give {needs}"))),
        Some(other) => Err(ctx.err(
            "spec",
            format!("expected a mapping, got {}", type_name(other)),
        )),
    }
}

/// Checks one of the fields DataMovers, schedules and populators share; `false` when `key`
/// is not one of them.
fn backup_field(key: &str, value: &Value, ctx: &Ctx, path: &str) -> Result<bool, ManifestError> {
    match key {
        "sourcePvc" | "secretName" => {}
        "verify" => {
            let mode = string(Some(value), ctx, path, false)?;
            if !Verify::VALUES.contains(&mode.as_str()) {
                return Err(ctx.err(
                    path,
                    format!(
                        "{mode:?} is not a verification: give none (the default), size (every file there with its size) or checksum (and its hash)"
                    ),
                ));
            }
        }
        "copyMethod" => {
            let method = string(Some(value), ctx, path, false)?;
            if method == "Snapshot" {
                // What this parser checks is applied to the embedded backend.
                return Err(ctx.err(path, crate::backend::SNAPSHOT_NEEDS_KUBERNETES));
            }
            if !CopyMethod::VALUES.contains(&method.as_str()) {
                return Err(ctx.err(
                    path,
                    format!(
                        "{method:?} is not a copy method: give Clone (the default: sync a clone of the source), Direct (sync the source itself) or, on Kubernetes, Snapshot (sync a PVC made from a VolumeSnapshot of the source)"
                    ),
                ));
            }
        }
        "volumeSnapshotClassName" => {
            string(Some(value), ctx, path, false)?;
        }
        "addTimestampPrefix" | "deletePvcAfterBackup" | "suspend" => {
            if !matches!(value, Value::Bool(_)) {
                return Err(ctx.err(
                    path,
                    format!("expected true or false, got {}", type_name(value)),
                ));
            }
        }
        "additionalEnv" => {
            let Value::Sequence(items) = value else {
                return Err(ctx.err(
                    path,
                    format!(
                        "expected a list of {{name, value}}, got {}",
                        type_name(value)
                    ),
                ));
            };
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let Value::Mapping(env) = item else {
                    return Err(ctx.err(&p, "expected a mapping with name and value"));
                };
                let name = string(env.get("name"), ctx, &format!("{p}.name"), true)?;
                if !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
                    || name.starts_with(|c: char| c.is_ascii_digit())
                {
                    return Err(ctx.err(
                        &format!("{p}.name"),
                        format!("{name:?} is not a valid variable name (letters, digits, '_')"),
                    ));
                }
                string(env.get("value"), ctx, &format!("{p}.value"), false)?;
            }
        }
        "image" => {
            let Value::Mapping(image) = value else {
                return Err(ctx.err(
                    path,
                    format!(
                        "expected a mapping {{name, tag, pullPolicy}}, got {}",
                        type_name(value)
                    ),
                ));
            };
            for (k, v) in image {
                let k = k.as_str().unwrap_or_default();
                let p = format!("{path}.{k}");
                match k {
                    "name" | "tag" => {
                        string(Some(v), ctx, &p, false)?;
                    }
                    "pullPolicy" => {
                        let policy = string(Some(v), ctx, &p, false)?;
                        if !["Always", "IfNotPresent", "Never", ""].contains(&policy.as_str()) {
                            return Err(ctx.err(
                                &p,
                                format!("{policy:?}: accepted are Always, IfNotPresent, Never"),
                            ));
                        }
                    }
                    other => {
                        return Err(ctx.err(
                            &p,
                            format!("unknown field {other:?}: accepted are name, tag, pullPolicy"),
                        ));
                    }
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A required name field of `spec` (a PVC or a secret), checked as a DNS name.
fn required_name(
    spec: &yaml_serde::Mapping,
    ctx: &Ctx,
    field: &str,
    what: &str,
) -> Result<(), ManifestError> {
    let path = format!("spec.{field}");
    let value = string(spec.get(field), ctx, &path, false)?;
    if value.is_empty() {
        return Err(ctx.err(&path, format!("required: {what}")));
    }
    dns_name(&value, ctx, &path)
}

/// `copyMethod: Direct` with `deletePvcAfterBackup: true` is refused: the PVC it would
/// delete is the source.
fn direct_deletes_nothing(spec: &yaml_serde::Mapping, ctx: &Ctx) -> Result<(), ManifestError> {
    let direct = spec.get("copyMethod").and_then(Value::as_str) == Some("Direct");
    if direct && spec.get("deletePvcAfterBackup").and_then(Value::as_bool) == Some(true) {
        return Err(ctx.err(
            "spec.deletePvcAfterBackup",
            crate::reconciler::DIRECT_DELETES_NOTHING,
        ));
    }
    Ok(())
}

fn validate_datamover(map: &yaml_serde::Mapping, ctx: &Ctx) -> Result<(), ManifestError> {
    let spec = spec_of(map, ctx, "spec.sourcePvc and spec.secretName")?;
    for (key, value) in spec {
        let key = key.as_str().unwrap_or_default();
        let path = format!("spec.{key}");
        if key == "suspend" || !backup_field(key, value, ctx, &path)? {
            return Err(ctx.err(
                &path,
                format!("unknown field {key:?}: accepted are sourcePvc, secretName, addTimestampPrefix, deletePvcAfterBackup, additionalEnv, image, copyMethod, volumeSnapshotClassName, verify"),
            ));
        }
    }
    direct_deletes_nothing(spec, ctx)?;
    required_name(spec, ctx, "sourcePvc", "the PVC to back up")?;
    required_name(spec, ctx, "secretName", "the secret naming the destination")
}

fn validate_schedule(map: &yaml_serde::Mapping, ctx: &Ctx) -> Result<(), ManifestError> {
    let spec = spec_of(
        map,
        ctx,
        "spec.schedule, spec.sourcePvc and spec.secretName",
    )?;
    for (key, value) in spec {
        let key = key.as_str().unwrap_or_default();
        let path = format!("spec.{key}");
        match key {
            "schedule" => {
                let pattern = string(Some(value), ctx, &path, true)?;
                crate::schedule::cron::CronSchedule::parse(&pattern)
                    .map_err(|e| ctx.err(&path, e))?;
            }
            "successfulJobsHistoryLimit" | "failedJobsHistoryLimit" => {
                if value.as_u64().is_none_or(|n| n > 1000) {
                    return Err(ctx.err(
                        &path,
                        format!(
                            "expected a whole number from 0 to 1000 (finished DataMovers kept), got {}",
                            match value {
                                Value::Number(n) => n.to_string(),
                                other => type_name(other).to_owned(),
                            }
                        ),
                    ));
                }
            }
            "retention" => retention::validate(value, spec, ctx)?,
            _ if backup_field(key, value, ctx, &path)? => {}
            other => {
                return Err(ctx.err(
                    &path,
                    format!("unknown field {other:?}: accepted are schedule, sourcePvc, secretName, addTimestampPrefix, deletePvcAfterBackup, additionalEnv, image, copyMethod, volumeSnapshotClassName, verify, suspend, successfulJobsHistoryLimit, failedJobsHistoryLimit, retention"),
                ));
            }
        }
    }
    if spec.get("schedule").is_none() {
        return Err(ctx.err(
            "spec.schedule",
            "required: a 5-field cron pattern in UTC, e.g. \"0 3 * * *\"",
        ));
    }
    direct_deletes_nothing(spec, ctx)?;
    required_name(spec, ctx, "sourcePvc", "the PVC to back up")?;
    required_name(spec, ctx, "secretName", "the secret naming the destination")
}

fn validate_populator(map: &yaml_serde::Mapping, ctx: &Ctx) -> Result<(), ManifestError> {
    let spec = spec_of(map, ctx, "spec.secretName and spec.path")?;
    for (key, value) in spec {
        let key = key.as_str().unwrap_or_default();
        let path = format!("spec.{key}");
        match key {
            "path" => {
                let p = string(Some(value), ctx, &path, false)?;
                crate::populator::check_path(&p).map_err(|e| ctx.err(&path, e))?;
            }
            "secretName" | "additionalEnv" | "image" => {
                backup_field(key, value, ctx, &path)?;
            }
            other => {
                return Err(ctx.err(
                    &path,
                    format!("unknown field {other:?}: accepted are secretName, path, image, additionalEnv"),
                ));
            }
        }
    }
    if spec.get("path").is_none() {
        return Err(ctx.err(
            "spec.path",
            "required: the backup folder inside the destination, e.g. 2026-11-30-030000",
        ));
    }
    required_name(
        spec,
        ctx,
        "secretName",
        "the secret naming the destination the backup is in",
    )
}

/// A PVC: `spec` a mapping; a `dataSourceRef` naming a populator names it fully.
fn validate_pvc(map: &yaml_serde::Mapping, ctx: &Ctx) -> Result<(), ManifestError> {
    validate_mapping_field(map, ctx, "spec")?;
    let Some(Value::Mapping(spec)) = map.get("spec") else {
        return Ok(());
    };
    let Some(r) = spec.get("dataSourceRef") else {
        return Ok(());
    };
    let Value::Mapping(r) = r else {
        return Err(ctx.err(
            "spec.dataSourceRef",
            format!(
                "expected a mapping {{apiGroup, kind, name}}, got {}",
                type_name(r)
            ),
        ));
    };
    let kind = string(r.get("kind"), ctx, "spec.dataSourceRef.kind", true)?;
    let group = string(r.get("apiGroup"), ctx, "spec.dataSourceRef.apiGroup", false)?;
    if kind == crate::populator::KIND && group != GROUP {
        return Err(ctx.err(
            "spec.dataSourceRef.apiGroup",
            format!("{group:?}: a DataMoverPopulator is in apiGroup {GROUP:?}"),
        ));
    }
    if group == GROUP && kind != crate::populator::KIND {
        return Err(ctx.err(
            "spec.dataSourceRef.kind",
            format!("{kind:?}: accepted is DataMoverPopulator (restore from a backup)"),
        ));
    }
    let name = string(r.get("name"), ctx, "spec.dataSourceRef.name", true)?;
    dns_name(&name, ctx, "spec.dataSourceRef.name")
}

fn validate_secret(map: &yaml_serde::Mapping, ctx: &Ctx) -> Result<(), ManifestError> {
    for field in ["data", "stringData"] {
        match map.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(m)) => {
                for (k, v) in m {
                    let key = k.as_str().unwrap_or_default();
                    let path = format!("{field}.{key}");
                    let value = string(Some(v), ctx, &path, false)?;
                    if field == "data" && crate::base64_decode(&value).is_none() {
                        return Err(
                            ctx.err(&path, "not valid base64: put plain values under stringData")
                        );
                    }
                }
            }
            Some(other) => {
                return Err(ctx.err(
                    field,
                    format!("expected a mapping, got {}", type_name(other)),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"
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
---
apiVersion: v1
kind: Secret
metadata: {name: my-secret}
data:
  AWS_ACCESS_KEY_ID: bWluaW8=
stringData:
  BUCKET_NAME: backups
---
"#;

    #[test]
    fn the_original_operators_manifests_parse_unchanged() {
        let objects = parse(ORIGINAL).unwrap();
        assert_eq!(objects.len(), 2);
        let Object::DataMover(dm) = &objects[0] else {
            panic!()
        };
        assert_eq!(dm.spec.additional_env[0].name, "RCLONE_S3_NO_CHECK_BUCKET");
        assert!(dm.spec.add_timestamp_prefix && dm.spec.delete_pvc_after_backup);
        assert_eq!(dm.spec.image.as_ref().unwrap().pull_policy, "IfNotPresent");
        let Object::Secret(secret) = &objects[1] else {
            panic!()
        };
        let values = secret.values().unwrap();
        assert_eq!(values["AWS_ACCESS_KEY_ID"], "minio");
        assert_eq!(values["BUCKET_NAME"], "backups");
    }

    #[test]
    fn refusals_name_the_document_field_and_fix() {
        let cases = [
            (
                "kind: Pod\napiVersion: v1\nmetadata: {name: p}\n",
                "document 1 (Pod p): kind: unknown kind \"Pod\": accepted are DataMover, DataMoverSchedule, DataMoverPopulator (datamover.a-cup-of.coffee/v1alpha1), PersistentVolumeClaim (v1), Secret (v1)",
            ),
            (
                "apiVersion: v1\nkind: DataMover\nmetadata: {name: a}\nspec: {}\n",
                "document 1 (DataMover a): apiVersion: DataMover needs apiVersion \"datamover.a-cup-of.coffee/v1alpha1\", not \"v1\"",
            ),
            (
                "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s, addTimestampPrefix: \"yes\"}\n",
                "document 1 (DataMover a): spec.addTimestampPrefix: expected true or false, got a string",
            ),
            (
                "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePVC: p, secretName: s}\n",
                "document 1 (DataMover a): spec.sourcePVC: unknown field \"sourcePVC\": accepted are sourcePvc, secretName, addTimestampPrefix, deletePvcAfterBackup, additionalEnv, image, copyMethod, volumeSnapshotClassName, verify",
            ),
            (
                "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: A_B}\nspec: {sourcePvc: p, secretName: s}\n",
                "document 1 (DataMover A_B): metadata.name: \"A_B\" is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
            ),
            (
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {K: \"not base64!\"}\n",
                "document 1 (Secret s): data.K: not valid base64: put plain values under stringData",
            ),
            (
                "apiVersion: v1\nkind: Secret\nmetadata: {}\n",
                "document 1: metadata.name: required: a string",
            ),
            (
                "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s, additionalEnv: [{name: 1X}]}\n",
                "document 1 (DataMover a): spec.additionalEnv[0].name: \"1X\" is not a valid variable name (letters, digits, '_')",
            ),
            (
                "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s, copyMethod: Snapshot}\n",
                "document 1 (DataMover a): spec.copyMethod: Snapshot needs the Kubernetes backend (VolumeSnapshots): on one machine give Clone (the default: sync a clone of the source) or Direct (sync the source itself)",
            ),
            (
                "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {name: a}\nspec: {schedule: \"@daily\", sourcePvc: p, secretName: s, copyMethod: Snapshot, volumeSnapshotClassName: csi-snap}\n",
                "document 1 (DataMoverSchedule a): spec.copyMethod: Snapshot needs the Kubernetes backend (VolumeSnapshots): on one machine give Clone (the default: sync a clone of the source) or Direct (sync the source itself)",
            ),
            (
                "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s, copyMethod: clone}\n",
                "document 1 (DataMover a): spec.copyMethod: \"clone\" is not a copy method: give Clone (the default: sync a clone of the source), Direct (sync the source itself) or, on Kubernetes, Snapshot (sync a PVC made from a VolumeSnapshot of the source)",
            ),
            (
                "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {name: a}\nspec: {schedule: \"@daily\", sourcePvc: p, secretName: s, copyMethod: Direct, deletePvcAfterBackup: true}\n",
                "document 1 (DataMoverSchedule a): spec.deletePvcAfterBackup: copyMethod: Direct syncs the source volume itself, so there is no clone to delete: remove deletePvcAfterBackup (or set copyMethod: Clone)",
            ),
            (
                "a: [1\n",
                "document 1: (document): not valid YAML: did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 4",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input).unwrap_err().to_string(), expected, "{input}");
        }
    }

    #[test]
    fn schedules_populators_and_restore_pvcs_are_validated_field_by_field() {
        let head = "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nmetadata: {name: a}\n";
        let cases = [
            (
                "kind: DataMoverSchedule\nspec: {schedule: '0 3 * * * *', sourcePvc: p, secretName: s}\n",
                "document 1 (DataMoverSchedule a): spec.schedule: \"0 3 * * * *\" has 6 fields: give 5 (minute hour day-of-month month day-of-week, UTC), e.g. \"0 3 * * *\" for 03:00 every day, or @hourly, @daily, @weekly, @monthly, @yearly",
            ),
            (
                "kind: DataMoverSchedule\nspec: {sourcePvc: p, secretName: s}\n",
                "document 1 (DataMoverSchedule a): spec.schedule: required: a 5-field cron pattern in UTC, e.g. \"0 3 * * *\"",
            ),
            (
                "kind: DataMoverSchedule\nspec: {schedule: '@daily', sourcePvc: p, secretName: s, successfulJobsHistoryLimit: -1}\n",
                "document 1 (DataMoverSchedule a): spec.successfulJobsHistoryLimit: expected a whole number from 0 to 1000 (finished DataMovers kept), got -1",
            ),
            (
                "kind: DataMoverSchedule\nspec: {schedule: '@daily', sourcePvc: p, secretName: s, suspended: true}\n",
                "document 1 (DataMoverSchedule a): spec.suspended: unknown field \"suspended\": accepted are schedule, sourcePvc, secretName, addTimestampPrefix, deletePvcAfterBackup, additionalEnv, image, copyMethod, volumeSnapshotClassName, verify, suspend, successfulJobsHistoryLimit, failedJobsHistoryLimit, retention",
            ),
            (
                "kind: DataMoverPopulator\nspec: {secretName: s, path: ../etc}\n",
                "document 1 (DataMoverPopulator a): spec.path: \"../etc\" must not contain '.', '..' or empty segments: name a folder inside the destination",
            ),
            (
                "kind: DataMoverPopulator\nspec: {secretName: s}\n",
                "document 1 (DataMoverPopulator a): spec.path: required: the backup folder inside the destination, e.g. 2026-11-30-030000",
            ),
            (
                "kind: DataMover\nspec: {sourcePvc: p, secretName: s, suspend: true}\n",
                "document 1 (DataMover a): spec.suspend: unknown field \"suspend\": accepted are sourcePvc, secretName, addTimestampPrefix, deletePvcAfterBackup, additionalEnv, image, copyMethod, volumeSnapshotClassName, verify",
            ),
        ];
        for (doc, expected) in cases {
            let input = format!("{head}{doc}");
            assert_eq!(parse(&input).unwrap_err().to_string(), expected, "{input}");
        }
        let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: r}\nspec: {dataSourceRef: {apiGroup: datamover.a-cup-of.coffee, kind: DataMover, name: x}}\n";
        assert_eq!(
            parse(pvc).unwrap_err().to_string(),
            "document 1 (PersistentVolumeClaim r): spec.dataSourceRef.kind: \"DataMover\": accepted is DataMoverPopulator (restore from a backup)"
        );
        let ok = "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {name: n}\nspec: {schedule: '*/5 * * * *', sourcePvc: p, secretName: s, suspend: true, failedJobsHistoryLimit: 0}\nstatus: {skippedRuns: 4}\n";
        let Object::DataMoverSchedule(s) = &parse(ok).unwrap()[0] else {
            panic!()
        };
        assert_eq!(
            (s.spec.suspend, s.failed_history(), s.successful_history()),
            (true, 0, 3)
        );
        assert_eq!(s.status.skipped_runs, 0, "status is the operator's");
    }

    #[test]
    fn the_second_document_is_numbered_and_status_is_ignored() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: p}\nspec: 3\n";
        assert_eq!(parse(text).unwrap_err().document, 2);
        let dm = "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: a}\nspec: {sourcePvc: p, secretName: s}\nstatus: {phase: Completed}\n";
        let Object::DataMover(dm) = &parse(dm).unwrap()[0] else {
            panic!()
        };
        assert_eq!(dm.status.phase, "");
    }
}
