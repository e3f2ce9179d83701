//! What a sync has moved so far, as rclone reports it: live on the embedded runner's
//! stderr, and in the termination message of a Kubernetes sync pod.

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
}
