//! The sync pod of the embedded backend: the real `rclone`, as a child process.
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
//!
//! A secret's (or `additionalEnv`'s) `AWS_CA_BUNDLE` reaches rclone as its CA certificate
//! option, `RCLONE_CA_CERT`, and `AWS_CA_BUNDLE` itself empty: the Job's env says so
//! ([`datamover::job::ca_bundle_env`]), and with the variable set rclone's S3 client fails
//! at start-up (`LoadCustomCABundleError: unable to load custom CA bundle, HTTPClient's
//! transport unsupported type`).

use datamover::progress::{LastError, SyncProgress};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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
        datamover::progress::scrub(text, self.secrets.iter().map(String::as_str))
    }
}

/// The marker rclone's command line carries for the Job with `uid`, so a restarted
/// operator finds the processes a previous run left behind.
#[must_use]
pub fn marker(uid: &str) -> String {
    format!("--user-agent=datamover/{uid}")
}

/// Starts `rclone sync source destination` for the Job with `uid`: JSON logs with stats
/// every second on stderr, killed (SIGKILL) if the returned child is dropped.
///
/// # Errors
/// A message when rclone cannot be started.
pub fn spawn(rclone: &Path, source: &Path, plan: &Plan, uid: &str) -> Result<Child, String> {
    start(
        rclone,
        ["sync", &format!("{}/", source.display()), &plan.destination],
        plan,
        uid,
    )
}

/// Starts `rclone copy <plan.destination> <target>` for the restore Job with `uid` (the
/// plan's destination is the backup to read), as [`spawn`] does a sync.
///
/// # Errors
/// A message when rclone cannot be started.
pub fn spawn_restore(
    rclone: &Path,
    plan: &Plan,
    target: &Path,
    uid: &str,
) -> Result<Child, String> {
    start(
        rclone,
        ["copy", &plan.destination, &target.display().to_string()],
        plan,
        uid,
    )
}

fn start(rclone: &Path, args: [&str; 3], plan: &Plan, uid: &str) -> Result<Child, String> {
    let mut command = command(rclone, args, plan, uid);
    command.spawn().map_err(|e| {
        format!(
            "cannot start {}: {e} (install rclone or pass --rclone PATH)",
            rclone.display()
        )
    })
}

/// Variables of the operator's own environment that would change what rclone does with a
/// destination the secret configures, so they reach rclone only when the plan sets them:
/// `AWS_CA_BUNDLE` (many corporate machines and CI runners export it; rclone's S3 client
/// then fails at start-up loading it; a Job's env sets it empty, and gives a secret's
/// bundle as `RCLONE_CA_CERT`), and rclone's own configuration file.
pub const NOT_INHERITED: &[&str] = &["AWS_CA_BUNDLE", "RCLONE_CONFIG"];

/// The rclone command line and environment of a pod (see [`spawn`]).
fn command(rclone: &Path, args: [&str; 3], plan: &Plan, uid: &str) -> Command {
    let mut command = Command::new(rclone);
    command
        .args(args)
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
        .arg(marker(uid));
    environment(&mut command, plan);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Gives `command` the plan's environment on top of the operator's, without the
/// [`NOT_INHERITED`] variables the plan does not set.
pub fn environment(command: &mut Command, plan: &Plan) {
    for name in NOT_INHERITED {
        if !plan.env.iter().any(|(k, _)| k == name) {
            command.env_remove(name);
        }
    }
    command.envs(plan.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
}

/// Follows a started sync to its end, publishing its progress as rclone reports it (every
/// second), and returns the final statistics.
///
/// # Errors
/// A message (secrets scrubbed): rclone's exit status and its last error line.
pub async fn follow(
    mut child: Child,
    plan: &Plan,
    progress: &tokio::sync::watch::Sender<SyncProgress>,
) -> Result<SyncProgress, String> {
    let mut last = SyncProgress::default();
    // rclone's reason, in its words: an error it logged, else the plain line it printed
    // before its JSON log started (the one reader of both backends).
    let mut last_error = LastError::default();
    if let Some(stderr) = child.stderr.take() {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            last_error.read_line(&line);
            if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(stats) = entry.get("stats")
            {
                last.read_rclone_stats(stats);
                progress.send_replace(last);
            }
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("waiting for rclone: {e}"))?;
    if status.success() {
        last.eta_seconds = None;
        last.bytes_per_second = 0;
        progress.send_replace(last);
        Ok(last)
    } else {
        let detail = last_error
            .last()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        Err(plan.scrub(&format!("rclone exited with {status}{detail}")))
    }
}

/// Sends `signal` to `pid`; false when no such process is left.
pub fn signal(pid: u32, signal: Signal) -> bool {
    i32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .is_some_and(|p| kill(Pid::from_raw(p), signal).is_ok())
}

/// The processes whose command line carries `marker`.
fn marked(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).split('\0').any(|a| a == marker))
        })
        .collect()
}

/// Stops every process a previous operator run left for the Job with `uid` (found by its
/// [`marker`]): SIGTERM, then SIGKILL after `grace`; returns once they are gone, so two
/// pods of one Job never overlap.
pub async fn stop_left_behind(uid: &str, grace: Duration) {
    let marker = marker(uid);
    let pids = marked(&marker);
    if pids.is_empty() {
        return;
    }
    tracing::warn!(
        ?pids,
        "stopping a sync left running by a previous operator process"
    );
    for pid in &pids {
        signal(*pid, Signal::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        let left = marked(&marker);
        if left.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            for pid in left {
                signal(pid, Signal::SIGKILL);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
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

    #[test]
    fn the_operators_aws_ca_bundle_and_rclone_config_do_not_reach_rclone_unless_set() {
        let plan = Plan::new(&values(&[("DESTINATION", "/backups/")]), &[], None).unwrap();
        let cmd = command(Path::new("rclone"), ["sync", "a/", "b"], &plan, "u");
        let removed: Vec<_> = cmd
            .as_std()
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(removed, ["AWS_CA_BUNDLE", "RCLONE_CONFIG"]);
        let own = Plan::new(
            &values(&[
                ("DESTINATION", "/backups/"),
                ("AWS_CA_BUNDLE", "/etc/ca.pem"),
            ]),
            &[],
            None,
        )
        .unwrap();
        let cmd = command(Path::new("rclone"), ["sync", "a/", "b"], &own, "u");
        let envs: Vec<_> = cmd
            .as_std()
            .get_envs()
            .filter(|(k, _)| *k == "AWS_CA_BUNDLE")
            .map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(envs, [Some("/etc/ca.pem".to_owned())]);
    }

    /// A remote rclone cannot build fails before the JSON log starts: the failure says why
    /// in rclone's own words (real rclone, a destination under a temp dir's name only).
    #[tokio::test]
    async fn a_sync_that_cannot_start_says_why_in_rclones_words() {
        let dir = tmc_test_support::tempdir();
        std::fs::write(dir.join("a.txt"), "a").unwrap();
        let plan = Plan::new(
            &values(&[("DESTINATION", "nosuchremote:backups")]),
            &[],
            None,
        )
        .unwrap();
        let child = spawn(Path::new("rclone"), &dir, &plan, "test-uid").unwrap();
        let (tx, _rx) = tokio::sync::watch::channel(SyncProgress::default());
        let err = follow(child, &plan, &tx).await.unwrap_err();
        // The destination is the secret's value: scrubbed, like every secret value.
        assert_eq!(
            err,
            "rclone exited with exit status: 1: Failed to create file system for \"***\": didn't find section in config file"
        );
    }
}
