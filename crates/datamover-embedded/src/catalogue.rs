//! The backups a destination holds: its `YYYY-MM-DD-HHMMSS` folders (what
//! `addTimestampPrefix` writes) with their time, size and file count, read with one
//! `rclone lsjson -R --files-only` of the destination, run with the secret's environment as
//! a sync is (the same [`Plan`]).
//!
//! It runs as an async child process with a deadline, awaited by the API handler that asks
//! (which holds no thread while it waits), never inside a reconcile. Folders with other
//! names are not backups and are left out; a destination that does not exist yet holds no
//! backups.

use crate::rclone::{self, Plan};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// How long one listing may take.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// One backup: a timestamp folder at the destination.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    /// The folder's name, `YYYY-MM-DD-HHMMSS`: a `DataMoverPopulator`'s `spec.path`.
    pub name: String,
    /// When it was taken, RFC 3339 UTC (from the name).
    pub time: String,
    /// Bytes in all its files.
    pub size: u64,
    /// Its files.
    pub files: u64,
}

/// One entry of `rclone lsjson`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    path: String,
    #[serde(default)]
    size: i64,
}

/// The backups at the destination of a secret's `values` with `extra` variables, newest
/// first.
///
/// # Errors
/// The secret names no destination, or rclone failed (its words, secrets scrubbed), or
/// took longer than [`DEADLINE`].
pub async fn list(
    rclone_bin: &Path,
    values: &BTreeMap<String, String>,
    extra: &[(String, String)],
) -> Result<Vec<Backup>, String> {
    let plan = Plan::new(values, &as_in_a_job(values, extra), None)?;
    let mut command = Command::new(rclone_bin);
    command.args([
        "lsjson",
        "-R",
        "--files-only",
        "--no-mimetype",
        "--no-modtime",
        "--contimeout",
        "5s",
        "--timeout",
        "60s",
        &plan.destination,
    ]);
    rclone::environment(&mut command, &plan);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|e| {
        format!(
            "cannot start {}: {e} (install rclone or pass --rclone PATH)",
            rclone_bin.display()
        )
    })?;
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "listing {} took longer than {}s",
                plan.scrub(&plan.destination),
                DEADLINE.as_secs()
            )
        })?
        .map_err(|e| format!("rclone lsjson: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = datamover::progress::last_error(&stderr).unwrap_or_default();
        if last.contains("directory not found") {
            return Ok(Vec::new());
        }
        return Err(plan.scrub(&format!("rclone lsjson exited with {}: {last}", out.status)));
    }
    let entries: Vec<Entry> = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("rclone lsjson printed something else than its listing: {e}"))?;
    Ok(summarise(&entries))
}

/// `extra` as a sync Job would give it on top of the secret's `values`: the secret's
/// `AWS_CA_BUNDLE` as rclone's CA certificate and itself emptied, an `AWS_CA_BUNDLE` in
/// `extra` renamed ([`datamover::job::ca_bundle_env`]), so the listing reaches the same
/// S3 endpoints the syncs do.
fn as_in_a_job(
    values: &BTreeMap<String, String>,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    use datamover::job::{AWS_CA_BUNDLE, RCLONE_CA_CERT};
    let mut env = Vec::new();
    if let Some(bundle) = values.get(AWS_CA_BUNDLE) {
        env.push((RCLONE_CA_CERT.to_owned(), bundle.clone()));
    }
    env.push((AWS_CA_BUNDLE.to_owned(), String::new()));
    env.extend(extra.iter().map(|(k, v)| {
        let k = if k == AWS_CA_BUNDLE {
            RCLONE_CA_CERT
        } else {
            k
        };
        (k.to_owned(), v.clone())
    }));
    env
}

/// The timestamp folders among the files' paths, newest first.
fn summarise(entries: &[Entry]) -> Vec<Backup> {
    let mut folders: BTreeMap<&str, Backup> = BTreeMap::new();
    for e in entries {
        let Some((folder, _)) = e.path.split_once('/') else {
            continue; // a file beside the folders
        };
        if !datamover::time::is_prefix(folder) {
            continue;
        }
        let b = folders.entry(folder).or_insert_with(|| Backup {
            name: folder.to_owned(),
            time: datamover::time::prefix_time(folder).unwrap_or_default(),
            ..Backup::default()
        });
        b.size += u64::try_from(e.size).unwrap_or(0);
        b.files += 1;
    }
    folders.into_values().rev().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_timestamp_folders_count_newest_first() {
        let entries: Vec<Entry> = serde_json::from_str(
            r#"[{"Path":"2026-12-01-030000/a.txt","Size":5},
                {"Path":"2026-12-01-030000/sub/b.bin","Size":1000},
                {"Path":"2026-12-02-030000/a.txt","Size":6},
                {"Path":"keep-me/x","Size":1},
                {"Path":"loose.txt","Size":1}]"#,
        )
        .unwrap();
        assert_eq!(
            summarise(&entries),
            [
                Backup {
                    name: "2026-12-02-030000".into(),
                    time: "2026-12-02T03:00:00Z".into(),
                    size: 6,
                    files: 1
                },
                Backup {
                    name: "2026-12-01-030000".into(),
                    time: "2026-12-01T03:00:00Z".into(),
                    size: 1005,
                    files: 2
                },
            ]
        );
    }
}
