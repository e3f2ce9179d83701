//! What a sync has moved so far, and why it failed, as rclone reports it: live on the
//! embedded runner's stderr, and in the termination message of a Kubernetes sync pod. One
//! reader of rclone's output for both backends: [`SyncProgress::read_rclone_stats`] and
//! [`final_stats`] for the statistics, [`LastError`] and [`last_error`] for the reason,
//! [`scrub`] for the secret values that must not be shown.

use serde::{Deserialize, Serialize};

/// What a sync has moved so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncProgress {
    /// Bytes transferred so far.
    #[serde(default)]
    pub bytes: u64,
    /// Bytes to transfer in all, once rclone knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    /// Files transferred so far.
    #[serde(default)]
    pub files: u64,
    /// Files to transfer in all, once rclone knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_files: Option<u64>,
    /// Current rate, bytes per second.
    #[serde(default)]
    pub bytes_per_second: u64,
    /// Seconds left, once rclone can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
    /// Milliseconds the check after the sync took, once it passed (`spec.verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_ms: Option<u64>,
}

impl SyncProgress {
    /// Percent done, when the total is known.
    #[must_use]
    pub fn percent(&self) -> Option<u64> {
        self.total_bytes
            .filter(|t| *t > 0)
            .map(|t| (self.bytes.saturating_mul(100) / t).min(100))
    }

    /// Reads the `stats` object of one of rclone's JSON log lines (`--use-json-log`) into
    /// this progress: what the embedded runner does with each line rclone prints.
    pub fn read_rclone_stats(&mut self, stats: &serde_json::Value) {
        let progress = self;
        let get = |k: &str| stats.get(k).and_then(serde_json::Value::as_u64);
        progress.bytes = get("bytes").unwrap_or(progress.bytes);
        progress.files = get("transfers").unwrap_or(progress.files);
        progress.total_bytes = get("totalBytes").or(progress.total_bytes);
        progress.total_files = get("totalTransfers").or(progress.total_files);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a rate in B/s
        {
            progress.bytes_per_second = stats
                .get("speed")
                .and_then(serde_json::Value::as_f64)
                .map_or(progress.bytes_per_second, |s| s.max(0.0) as u64);
        }
        progress.eta_seconds = get("eta");
    }
}

/// The final transfer statistics in rclone's JSON log `text` (the last line carrying
/// `stats`), as a finished sync's progress (no rate, no ETA): what the Kubernetes backend
/// reads from the sync pod's termination message. `None` when no line carries stats.
#[must_use]
pub fn final_stats(text: &str) -> Option<SyncProgress> {
    let stats = text
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line.trim()).ok())
        .find_map(|entry| entry.get("stats").cloned())?;
    let mut last = SyncProgress::default();
    last.read_rclone_stats(&stats);
    last.eta_seconds = None;
    last.bytes_per_second = 0;
    Some(last)
}

/// The last error rclone printed, read line by line from its output (`--use-json-log`):
/// the `msg` of its last JSON line at level `error` or `critical`, else its last plain line
/// (what it prints before its JSON log starts, such as `Failed to create file system for
/// "remote:path": ...`, or a shell's words when the image cannot run rclone), without the
/// date and time rclone puts first. A plain message that goes on over several lines
/// (`...\ncaused by: ...`) is one error, its lines joined with `; `; so is a JSON `msg` of
/// several lines. Plain lines at a level below error (`NOTICE:`, `INFO  :`, `DEBUG :`)
/// are no error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastError {
    logged: Option<String>,
    plain: Option<String>,
    /// Whether the line read last was plain: an unstamped line after it continues it.
    in_plain: bool,
}

impl LastError {
    /// Reads one line of rclone's output (a JSON log line or a plain one).
    pub fn read_line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if let Ok(entry) = serde_json::from_str::<serde_json::Value>(line)
            && entry.is_object()
        {
            self.in_plain = false;
            if matches!(
                entry.get("level").and_then(serde_json::Value::as_str),
                Some("error" | "critical")
            ) {
                let msg = entry
                    .get("msg")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                self.logged = Some(one_line(msg)).filter(|m| !m.is_empty());
            }
            return;
        }
        match unstamped(line) {
            Some(text) => {
                self.in_plain = !is_below_error(text);
                if self.in_plain {
                    let text = text.strip_prefix("ERROR :").map_or(text, str::trim_start);
                    self.plain = Some(text.to_owned());
                }
            }
            None if self.in_plain => {
                if let Some(plain) = &mut self.plain {
                    plain.push_str("; ");
                    plain.push_str(line);
                }
            }
            None => {
                self.in_plain = true;
                self.plain = Some(line.to_owned());
            }
        }
    }

    /// The last error: the last one logged as JSON, else the last plain one.
    #[must_use]
    pub fn last(&self) -> Option<&str> {
        self.logged.as_deref().or(self.plain.as_deref())
    }
}

/// The last error in rclone's output `text` (see [`LastError`]): what the Kubernetes
/// backend reads from a failed pod's termination message.
///
/// ```
/// let message = concat!(
///     "{\"level\":\"warning\",\"msg\":\"Config file not found\"}\n",
///     "2026/12/06 05:17:05 Failed to create file system for \"s3:b\": LoadCustomCABundleError: unable to load custom CA bundle\n",
///     "caused by: unsupported transport, *fshttp.Transport\n",
/// );
/// assert_eq!(
///     datamover::progress::last_error(message).as_deref(),
///     Some("Failed to create file system for \"s3:b\": LoadCustomCABundleError: unable to load custom CA bundle; caused by: unsupported transport, *fshttp.Transport")
/// );
/// ```
#[must_use]
pub fn last_error(text: &str) -> Option<String> {
    let mut last = LastError::default();
    text.lines().for_each(|line| last.read_line(line));
    last.last().map(str::to_owned)
}

/// `text` with every one of `secrets` (a secret's values) replaced by `***`, the longest
/// first. Values shorter than 4 characters are left (a `TLS_HOST` of `1` would otherwise
/// blank every digit one): short values are no secret worth the noise.
#[must_use]
pub fn scrub<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut secrets: Vec<&str> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
        .into_iter()
        .fold(text.to_owned(), |t, s| t.replace(s, "***"))
}

/// A message of several lines as one: its lines trimmed, the empty ones left out, joined
/// with `; `.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The text of a line that starts with rclone's `YYYY/MM/DD HH:MM:SS ` stamp, without it;
/// `None` for a line without one.
fn unstamped(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let digits = |r: std::ops::Range<usize>| bytes[r].iter().all(u8::is_ascii_digit);
    let stamped = bytes.len() > 20
        && digits(0..4)
        && bytes[4] == b'/'
        && digits(5..7)
        && bytes[7] == b'/'
        && digits(8..10)
        && bytes[10] == b' '
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && bytes[19] == b' ';
    stamped.then(|| line[20..].trim_start())
}

/// Whether a plain line's text is logged below error level.
fn is_below_error(text: &str) -> bool {
    ["NOTICE:", "INFO  :", "DEBUG :"]
        .iter()
        .any(|level| text.starts_with(level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_are_the_last_stats_line_of_a_termination_message() {
        // The tail of rclone's JSON log as the kubelet keeps it: a cut first line, stats,
        // an error, the final stats.
        let text = concat!(
            "ats\":{\"bytes\":1}}\n",
            r#"{"level":"notice","msg":"...","stats":{"bytes":1024,"transfers":1,"totalBytes":4096,"speed":512.5,"eta":6}}"#,
            "\n",
            r#"{"level":"error","msg":"one file failed"}"#,
            "\n",
            r#"{"level":"notice","msg":"...","stats":{"bytes":4096,"transfers":3,"totalBytes":4096,"totalTransfers":3,"speed":900.0,"eta":0}}"#,
            "\n"
        );
        assert_eq!(
            final_stats(text),
            Some(SyncProgress {
                bytes: 4096,
                total_bytes: Some(4096),
                files: 3,
                total_files: Some(3),
                bytes_per_second: 0,
                eta_seconds: None,
                verified_ms: None,
            })
        );
        assert_eq!(final_stats("rclone: command not found\n"), None);
    }

    /// What rclone prints when it cannot build a remote: a stamped plain line, whose
    /// message may go on over a second line; the JSON warning before it is no error.
    #[test]
    fn a_start_up_failure_is_the_plain_line_with_its_continuation() {
        let text = concat!(
            r#"{"level":"warning","msg":"Config file \"/root/.config/rclone/rclone.conf\" not found - using defaults","source":"config/config.go:362"}"#,
            "\n",
            r#"2026/12/06 05:17:05 Failed to create file system for "T:backups/q": LoadCustomCABundleError: unable to load custom CA bundle, HTTPClient's transport unsupported type"#,
            "\ncaused by: unsupported transport, *fshttp.Transport\n",
        );
        assert_eq!(
            last_error(text).as_deref(),
            Some(
                r#"Failed to create file system for "T:backups/q": LoadCustomCABundleError: unable to load custom CA bundle, HTTPClient's transport unsupported type; caused by: unsupported transport, *fshttp.Transport"#
            )
        );
        assert_eq!(
            last_error("2026/12/06 05:17:05 Failed to create file system for \"X:foo\": didn't find backend called \"nosuch\"\n").as_deref(),
            Some("Failed to create file system for \"X:foo\": didn't find backend called \"nosuch\"")
        );
        assert_eq!(
            last_error("2026/12/06 03:50:00 ERROR : too bad").as_deref(),
            Some("too bad")
        );
        assert_eq!(
            last_error("2026/12/06 05:16:16 NOTICE: Config file not found - using defaults\n"),
            None
        );
        assert_eq!(last_error("  \n"), None);
        // What a shell prints when the image cannot run rclone.
        assert_eq!(
            last_error("/entrypoint.sh: line 3: rclone: not found\n").as_deref(),
            Some("/entrypoint.sh: line 3: rclone: not found")
        );
    }

    /// An error rclone logged as JSON while copying wins over the plain summary it prints
    /// as it exits; a `msg` of several lines reads as one.
    #[test]
    fn a_logged_error_wins_over_the_plain_exit_line() {
        let text = concat!(
            r#"{"level":"error","msg":"Failed to copy: file too big for remaining disk space","object":"big.bin"}"#,
            "\n",
            r#"{"level":"error","msg":"Attempt 1/1 failed with 1 errors and: RequestError: send request failed\ncaused by: Put \"https://127.0.0.1:1/b\": x509: certificate signed by unknown authority"}"#,
            "\n",
            r#"{"level":"notice","msg":"done","stats":{"bytes":1}}"#,
            "\n2026/12/06 05:16:11 Failed to sync: RequestError: send request failed\n",
            "caused by: x509\n",
        );
        assert_eq!(
            last_error(text).as_deref(),
            Some(
                r#"Attempt 1/1 failed with 1 errors and: RequestError: send request failed; caused by: Put "https://127.0.0.1:1/b": x509: certificate signed by unknown authority"#
            )
        );
        let mut last = LastError::default();
        last.read_line(r#"{"level":"critical","msg":"  out of memory  "}"#);
        assert_eq!(last.last(), Some("out of memory"));
    }

    #[test]
    fn scrub_replaces_every_secret_value_the_longest_first() {
        assert_eq!(
            scrub(
                "auth supersecret failed for minio at 1 (supersecret-2)",
                ["minio", "supersecret", "supersecret-2", "1"]
            ),
            "auth *** failed for *** at 1 (***)"
        );
    }
}
