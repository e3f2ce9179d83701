//! Field-by-field checks of each kind's manifest: what [`parse`](super::parse) refuses,
//! with the field path and what is accepted.

use super::{Ctx, ManifestError, retention};
use crate::types::*;
use yaml_serde::Value;

pub(super) fn type_name(v: &Value) -> &'static str {
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

pub(super) fn string(
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

pub(super) fn dns_name(name: &str, ctx: &Ctx, path: &str) -> Result<(), ManifestError> {
    if super::is_object_name(name) {
        Ok(())
    } else {
        Err(ctx.err(path, format!("{name:?} is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit")))
    }
}

pub(super) fn validate_mapping_field(
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
pub(super) fn spec_of<'a>(
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
pub(super) fn backup_field(
    key: &str,
    value: &Value,
    ctx: &Ctx,
    path: &str,
) -> Result<bool, ManifestError> {
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
pub(super) fn required_name(
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
pub(super) fn direct_deletes_nothing(
    spec: &yaml_serde::Mapping,
    ctx: &Ctx,
) -> Result<(), ManifestError> {
    let direct = spec.get("copyMethod").and_then(Value::as_str) == Some("Direct");
    if direct && spec.get("deletePvcAfterBackup").and_then(Value::as_bool) == Some(true) {
        return Err(ctx.err(
            "spec.deletePvcAfterBackup",
            crate::reconciler::DIRECT_DELETES_NOTHING,
        ));
    }
    Ok(())
}

pub(super) fn validate_datamover(
    map: &yaml_serde::Mapping,
    ctx: &Ctx,
) -> Result<(), ManifestError> {
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

pub(super) fn validate_schedule(map: &yaml_serde::Mapping, ctx: &Ctx) -> Result<(), ManifestError> {
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

pub(super) fn validate_populator(
    map: &yaml_serde::Mapping,
    ctx: &Ctx,
) -> Result<(), ManifestError> {
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
pub(super) fn validate_pvc(map: &yaml_serde::Mapping, ctx: &Ctx) -> Result<(), ManifestError> {
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

pub(super) fn validate_secret(map: &yaml_serde::Mapping, ctx: &Ctx) -> Result<(), ManifestError> {
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
