//! The charts' data: the process's own metrics, sampled into a ring buffer that holds the
//! last hour. No external service: each sample reads the registry's exposition
//! ([`tmc_metrics::Metrics::render`]) and keeps a few numbers.
//!
//! - throughput: the growth of `datamover_bytes_transferred_total` between samples;
//! - phase durations: `datamover_phase_duration_seconds` `_sum` over `_count`, per phase;
//! - success rate: `datamover_data_sync_operations_total` by `status`, since start and over
//!   the hour.

use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// How often the metrics are sampled.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples kept: an hour of them, and one more to difference against.
const KEEP: usize = 361;

/// The counters one sample keeps, summed over namespaces.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Sample {
    at_ms: u64,
    bytes: f64,
    syncs_succeeded: f64,
    syncs_failed: f64,
}

/// The ring buffer of samples and the latest phase durations.
#[derive(Debug, Default)]
pub(crate) struct Charts {
    samples: VecDeque<Sample>,
    /// Per phase: seconds spent in all, and how many times it ended.
    phases: BTreeMap<String, (f64, f64)>,
}

impl Charts {
    /// Records one sample of `exposition` (Prometheus text) taken at `at_ms`.
    pub(crate) fn record(&mut self, at_ms: u64, exposition: &str) {
        let mut sample = Sample {
            at_ms,
            ..Sample::default()
        };
        self.phases.clear();
        for (name, labels, value) in exposition.lines().filter_map(series) {
            match name {
                "datamover_bytes_transferred_total" => sample.bytes += value,
                "datamover_data_sync_operations_total" => match label(labels, "status") {
                    Some("success") => sample.syncs_succeeded += value,
                    Some("failure") => sample.syncs_failed += value,
                    _ => {}
                },
                "datamover_phase_duration_seconds_sum"
                | "datamover_phase_duration_seconds_count" => {
                    let Some(phase) = label(labels, "phase") else {
                        continue;
                    };
                    let entry = self.phases.entry(phase.to_owned()).or_default();
                    if name.ends_with("_sum") {
                        entry.0 += value;
                    } else {
                        entry.1 += value;
                    }
                }
                _ => {}
            }
        }
        if self.samples.len() == KEEP {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// What the page draws, as JSON.
    pub(crate) fn to_json(&self) -> Value {
        let throughput: Vec<Value> = self
            .samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|(a, b)| {
                let secs = b.at_ms.saturating_sub(a.at_ms) as f64 / 1000.0;
                // A counter that went down was reset: count from zero.
                let moved = if b.bytes >= a.bytes {
                    b.bytes - a.bytes
                } else {
                    b.bytes
                };
                let rate = if secs > 0.0 { moved / secs } else { 0.0 };
                json!({ "t": b.at_ms, "bytesPerSecond": rate })
            })
            .collect();
        let phases: Vec<Value> = self
            .phases
            .iter()
            .filter(|(_, (_, count))| *count > 0.0)
            .map(|(phase, (sum, count))| {
                json!({ "phase": phase, "count": count, "meanSeconds": sum / count })
            })
            .collect();
        let (first, last) = (
            self.samples.front().copied().unwrap_or_default(),
            self.samples.back().copied().unwrap_or_default(),
        );
        json!({
            "sampleSeconds": SAMPLE_EVERY.as_secs(),
            "throughput": throughput,
            "phases": phases,
            "syncs": { "succeeded": last.syncs_succeeded, "failed": last.syncs_failed },
            "syncsLastHour": {
                "succeeded": (last.syncs_succeeded - first.syncs_succeeded).max(0.0),
                "failed": (last.syncs_failed - first.syncs_failed).max(0.0),
            },
        })
    }
}

/// One exposition line as name, labels (without braces) and value; `None` for comments.
fn series(line: &str) -> Option<(&str, &str, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}')?;
            (&line[..open], &line[open + 1..close], &line[close + 1..])
        }
        None => {
            let (name, rest) = line.split_once(' ')?;
            (name, "", rest)
        }
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, labels, value))
}

/// The value of label `name` in `labels` (`a="x",b="y"`).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split("\",").find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const T0: &str = r#"# TYPE datamover_bytes_transferred_total counter
datamover_bytes_transferred_total{namespace="a"} 1000
datamover_bytes_transferred_total{namespace="b"} 0
datamover_data_sync_operations_total{status="success",namespace="a"} 1
datamover_phase_duration_seconds_sum{phase="CreatingPod",namespace="a"} 4
datamover_phase_duration_seconds_count{phase="CreatingPod",namespace="a"} 2
datamover_phase_duration_seconds_bucket{phase="CreatingPod",namespace="a",le="5"} 2
"#;
    const T1: &str = r#"datamover_bytes_transferred_total{namespace="a"} 3000
datamover_bytes_transferred_total{namespace="b"} 2000
datamover_data_sync_operations_total{status="success",namespace="a"} 3
datamover_data_sync_operations_total{status="failure",namespace="b"} 1
datamover_phase_duration_seconds_sum{phase="CreatingPod",namespace="a"} 4
datamover_phase_duration_seconds_sum{phase="CreatingPod",namespace="b"} 5
datamover_phase_duration_seconds_count{phase="CreatingPod",namespace="a"} 2
datamover_phase_duration_seconds_count{phase="CreatingPod",namespace="b"} 1
"#;

    #[test]
    fn charts_should_derive_throughput_phase_means_and_success_from_two_samples() {
        let mut charts = Charts::default();
        charts.record(0, T0);
        charts.record(10_000, T1);
        assert_eq!(
            charts.to_json(),
            json!({
                "sampleSeconds": 10,
                "throughput": [{ "t": 10_000, "bytesPerSecond": 400.0 }],
                "phases": [{ "phase": "CreatingPod", "count": 3.0, "meanSeconds": 3.0 }],
                "syncs": { "succeeded": 3.0, "failed": 1.0 },
                "syncsLastHour": { "succeeded": 2.0, "failed": 1.0 },
            })
        );
    }

    #[test]
    fn charts_should_keep_one_hour_and_count_a_reset_counter_from_zero() {
        let mut charts = Charts::default();
        for i in 0..400u64 {
            charts.record(i * 10_000, T1);
        }
        assert_eq!(charts.samples.len(), KEEP);
        charts.record(400 * 10_000, T0);
        let json = charts.to_json();
        let points = json["throughput"].as_array().unwrap();
        assert_eq!(points.len(), KEEP - 1);
        assert_eq!(points.last().unwrap()["bytesPerSecond"], 100.0);
    }

    #[test]
    fn labels_should_be_found_by_exact_name() {
        assert_eq!(label(r#"xphase="no",phase="yes""#, "phase"), Some("yes"));
        assert_eq!(label(r#"status="success""#, "phase"), None);
        assert_eq!(series("m 2"), Some(("m", "", 2.0)));
        assert_eq!(series("# HELP m x"), None);
    }
}
