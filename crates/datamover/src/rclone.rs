//! The sync job of the embedded backend: the real `rclone`, as a child process.
//!
//! The environment is the secret's values plus `additionalEnv`, like the original Job's
//! `envFrom`. The destination comes from the secret:
//!
//! | secret keys | destination |
//! | --- | --- |
//! | `DESTINATION` | as given: a local directory, or `remote:path` of any remote configured through rclone's own `RCLONE_CONFIG_<NAME>_*` variables |
//! | `BUCKET_NAME` with `BUCKET_HOST`, `BUCKET_PORT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `TLS_HOST` (the original operator's secret) | an S3 remote at `http(s)://BUCKET_HOST:BUCKET_PORT` (https when `TLS_HOST` is `true`), bucket `BUCKET_NAME` |
//!
//! `addTimestampPrefix` appends a `YYYY-MM-DD-HHMMSS` folder to the destination.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The name of the S3 remote configured from the original secret's keys.
const S3_REMOTE: &str = "DATAMOVERS3";

/// A sync, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What rclone syncs to (`/backups/x` or `remote:bucket/x`).
    pub destination: String,
    /// The child's environment on top of the operator's.
    pub env: Vec<(String, String)>,
    /// Values that must never appear in logs or status.
    pub secrets: Vec<String>,
}

impl Plan {
    /// The plan for a secret's values, `additionalEnv` and an optional timestamp folder.
    ///
    /// # Errors
    /// A message naming the missing key when the secret names no destination.
    pub fn new(
        values: &BTreeMap<String, String>,
        extra: &[(String, String)],
        prefix: Option<&str>,
    ) -> Result<Self, String> {
        let mut env: Vec<(String, String)> =
            values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.extend(extra.iter().cloned());
        let secrets = values.values().filter(|v| v.len() >= 4).cloned().collect();
        let base = if let Some(dest) = values.get("DESTINATION").filter(|d| !d.is_empty()) {
            dest.trim_end_matches('/').to_owned()
        } else if let Some(bucket) = values.get("BUCKET_NAME").filter(|b| !b.is_empty()) {
            let host = values
                .get("BUCKET_HOST")
                .ok_or("the secret has BUCKET_NAME but no BUCKET_HOST")?;
            let tls = values
                .get("TLS_HOST")
                .is_some_and(|t| t == "true" || t == "1");
            let scheme = if tls { "https" } else { "http" };
            let endpoint = match values.get("BUCKET_PORT").filter(|p| !p.is_empty()) {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            };
            let var = |k: &str| format!("RCLONE_CONFIG_{S3_REMOTE}_{k}");
            env.push((var("TYPE"), "s3".into()));
            env.push((var("PROVIDER"), "Other".into()));
            env.push((var("ENDPOINT"), endpoint));
            for (ours, theirs) in [
                ("ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
                ("SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
                ("REGION", "AWS_REGION"),
            ] {
                if let Some(v) = values.get(theirs) {
                    env.push((var(ours), v.clone()));
                }
            }
            format!("{S3_REMOTE}:{bucket}")
        } else {
            return Err("the secret names no destination: set DESTINATION (a local path or rclone remote:path), or the S3 keys BUCKET_NAME, BUCKET_HOST, BUCKET_PORT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY".into());
        };
        let destination = match prefix {
            Some(p) => format!("{base}/{p}"),
            None => base,
        };
        Ok(Self {
            destination,
            env,
            secrets,
        })
    }

    /// `text` with every secret value replaced by `***`.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "***"))
    }
}

/// What a finished sync reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes transferred.
    pub bytes: u64,
    /// Files transferred.
    pub files: u64,
}

/// Runs `rclone sync source destination` to completion. `on_spawn` gets the child's PID
/// before the sync runs (to persist it). The child is killed if this future is dropped.
///
/// # Errors
/// A message (secrets scrubbed): rclone missing, or its exit status and last error line.
pub async fn sync(
    rclone: &Path,
    source: &Path,
    plan: &Plan,
    marker: &str,
    on_spawn: impl FnOnce(u32),
) -> Result<Progress, String> {
    let mut command = Command::new(rclone);
    command
        .arg("sync")
        .arg(format!("{}/", source.display()))
        .arg(&plan.destination)
        .args([
            "--create-empty-src-dirs",
            "--use-json-log",
            "--stats",
            "1s",
            "--stats-log-level",
            "NOTICE",
        ])
        .args([
            "--retries",
            "1",
            "--low-level-retries",
            "2",
            "--contimeout",
            "5s",
            "--timeout",
            "60s",
        ])
        .arg(format!("--user-agent=datamover/{marker}"))
        .envs(plan.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| {
        format!(
            "cannot start {}: {e} (install rclone or pass --rclone PATH)",
            rclone.display()
        )
    })?;
    on_spawn(child.id().unwrap_or_default());
    let mut progress = Progress::default();
    let mut last_error = String::new();
    if let Some(stderr) = child.stderr.take() {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(stats) = entry.get("stats") {
                progress.bytes = stats
                    .get("bytes")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(progress.bytes);
                progress.files = stats
                    .get("transfers")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(progress.files);
            }
            if entry.get("level").and_then(serde_json::Value::as_str) == Some("error") {
                last_error = entry
                    .get("msg")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
            }
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("waiting for rclone: {e}"))?;
    if status.success() {
        Ok(progress)
    } else {
        let detail = if last_error.is_empty() {
            String::new()
        } else {
            format!(": {last_error}")
        };
        Err(plan.scrub(&format!("rclone exited with {status}{detail}")))
    }
}

/// Stops a sync process a previous operator run left behind (it has our marker in its
/// command line), and waits for it to exit, so two syncs of one DataMover never overlap.
pub async fn stop_stale(pid: u32, marker: &str) {
    let cmdline = format!("/proc/{pid}/cmdline");
    let ours = |cmd: &[u8]| {
        String::from_utf8_lossy(cmd).contains(&format!("--user-agent=datamover/{marker}"))
    };
    if !tokio::fs::read(&cmdline).await.is_ok_and(|c| ours(&c)) {
        return;
    }
    tracing::warn!(
        pid,
        "stopping a sync left running by a previous operator process"
    );
    let _ = Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .await;
    for _ in 0..100 {
        if !tokio::fs::read(&cmdline).await.is_ok_and(|c| ours(&c)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn local_destination_with_prefix() {
        let plan = Plan::new(
            &values(&[("DESTINATION", "/backups/")]),
            &[],
            Some("2026-11-22-013828"),
        )
        .unwrap();
        assert_eq!(plan.destination, "/backups/2026-11-22-013828");
    }

    #[test]
    fn the_original_s3_secret_configures_an_s3_remote() {
        let v = values(&[
            ("AWS_ACCESS_KEY_ID", "minio"),
            ("AWS_SECRET_ACCESS_KEY", "supersecret"),
            ("AWS_REGION", "us-east-1"),
            ("BUCKET_HOST", "minio.local"),
            ("BUCKET_NAME", "backups"),
            ("BUCKET_PORT", "9000"),
            ("TLS_HOST", "false"),
        ]);
        let plan = Plan::new(
            &v,
            &[("RCLONE_S3_NO_CHECK_BUCKET".into(), "true".into())],
            None,
        )
        .unwrap();
        assert_eq!(plan.destination, "DATAMOVERS3:backups");
        let env: BTreeMap<_, _> = plan.env.iter().cloned().collect();
        assert_eq!(
            env["RCLONE_CONFIG_DATAMOVERS3_ENDPOINT"],
            "http://minio.local:9000"
        );
        assert_eq!(
            env["RCLONE_CONFIG_DATAMOVERS3_SECRET_ACCESS_KEY"],
            "supersecret"
        );
        assert_eq!(env["RCLONE_S3_NO_CHECK_BUCKET"], "true");
        // Every secret value is scrubbed, the access key id included.
        assert_eq!(
            plan.scrub("auth supersecret failed for minio"),
            "auth *** failed for ***"
        );
    }

    #[test]
    fn a_secret_without_destination_is_refused_with_the_keys_to_set() {
        let err = Plan::new(&values(&[("FOO", "bar")]), &[], None).unwrap_err();
        assert!(
            err.starts_with("the secret names no destination: set DESTINATION"),
            "{err}"
        );
    }
}
