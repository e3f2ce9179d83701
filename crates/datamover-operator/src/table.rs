//! The `get` tables: columns per kind, AGE and PROGRESS as people read them.

use datamover::types::Kind;
use serde_json::Value;

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn n(v: &Value, pointer: &str) -> Option<u64> {
    v.pointer(pointer).and_then(Value::as_u64)
}

/// `1.2 GiB`, `85 MiB`, `512 B`.
#[must_use]
pub(crate) fn bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    #[allow(clippy::cast_precision_loss)] // display only
    let mut value = b as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A duration as kubectl prints ages: `45s`, `12m`, `5h`, `3d`.
#[must_use]
pub(crate) fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The age of an object created at the RFC 3339 `created`, at `now_ms`.
#[must_use]
pub(crate) fn age(created: &str, now_ms: u64) -> String {
    datamover::time::parse_rfc3339(created).map_or_else(
        || "<unknown>".to_owned(),
        |t| duration(now_ms.saturating_sub(t) / 1000),
    )
}

/// A sync's progress: `42% 1.2 GiB/2.9 GiB 85 MiB/s ETA 20s`, or empty.
#[must_use]
pub(crate) fn progress(p: &Value) -> String {
    let Some(done) = n(p, "/bytes") else {
        return String::new();
    };
    let mut out = Vec::new();
    match n(p, "/totalBytes").filter(|t| *t > 0) {
        Some(total) => {
            out.push(format!("{}%", (done.saturating_mul(100) / total).min(100)));
            out.push(format!("{}/{}", bytes(done), bytes(total)));
        }
        None => out.push(bytes(done)),
    }
    if let Some(rate) = n(p, "/bytesPerSecond").filter(|r| *r > 0) {
        out.push(format!("{}/s", bytes(rate)));
    }
    if let Some(eta) = n(p, "/etaSeconds") {
        out.push(format!("ETA {}", duration(eta)));
    }
    out.join(" ")
}

fn job_status(o: &Value) -> &'static str {
    let conditions = o.pointer("/status/conditions").and_then(Value::as_array);
    let is = |t: &str| {
        conditions.is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    if is("Complete") {
        "Complete"
    } else if is("Failed") {
        "Failed"
    } else if n(o, "/status/active").unwrap_or(0) > 0 {
        "Running"
    } else {
        "Pending"
    }
}

/// The header of `kind`'s table.
#[must_use]
pub(crate) fn header(kind: Kind, wide: bool, all_namespaces: bool) -> Vec<&'static str> {
    let mut h = if all_namespaces {
        vec!["NAMESPACE"]
    } else {
        vec![]
    };
    h.extend(match kind {
        Kind::DataMover if wide => vec![
            "NAME",
            "PHASE",
            "PROGRESS",
            "AGE",
            "SOURCE",
            "CLONE",
            "JOB",
            "ATTEMPTS",
            "BYTES",
            "DESTINATION",
        ],
        Kind::DataMover => vec!["NAME", "PHASE", "PROGRESS", "AGE"],
        Kind::PersistentVolumeClaim => vec!["NAME", "STATUS", "AGE"],
        Kind::Secret => vec!["NAME", "TYPE", "DATA", "AGE"],
        Kind::Job => vec!["NAME", "STATUS", "COMPLETIONS", "PODS", "PROGRESS", "AGE"],
        Kind::DataMoverSchedule if wide => vec![
            "NAME",
            "SCHEDULE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "NEXT RUN",
            "AGE",
            "LAST SUCCESS",
            "SKIPPED",
            "MISSED",
            "SOURCE",
        ],
        Kind::DataMoverSchedule => vec![
            "NAME",
            "SCHEDULE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "NEXT RUN",
            "AGE",
        ],
        Kind::DataMoverPopulator => vec!["NAME", "SECRET", "PATH", "AGE"],
    });
    h
}

/// One object's row.
#[must_use]
pub(crate) fn row(
    kind: Kind,
    o: &Value,
    wide: bool,
    all_namespaces: bool,
    now_ms: u64,
) -> Vec<String> {
    let mut cells = Vec::new();
    if all_namespaces {
        cells.push(s(o, "/metadata/namespace").to_owned());
    }
    cells.push(s(o, "/metadata/name").to_owned());
    let age = age(s(o, "/metadata/creationTimestamp"), now_ms);
    let show = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    match kind {
        Kind::DataMover => {
            cells.push(s(o, "/status/phase").to_owned());
            cells.push(
                o.pointer("/status/progress")
                    .map(progress)
                    .unwrap_or_default(),
            );
            cells.push(age);
            if wide {
                cells.push(s(o, "/spec/sourcePvc").to_owned());
                cells.push(s(o, "/status/restoredPvcName").to_owned());
                cells.push(s(o, "/status/jobName").to_owned());
                cells.push(show(n(o, "/status/attempts")));
                cells.push(show(n(o, "/status/bytesTransferred")));
                cells.push(s(o, "/status/destination").to_owned());
            }
        }
        Kind::PersistentVolumeClaim => {
            let mut status = s(o, "/status/phase").to_owned();
            let restored = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Restored"));
            if let Some(c) = restored.filter(|c| c["status"] != "True") {
                status = format!("{status} ({})", s(c, "/reason"));
            }
            cells.push(status);
            cells.push(age);
        }
        Kind::DataMoverSchedule => schedule_row(&mut cells, o, wide, now_ms, age),
        Kind::DataMoverPopulator => {
            cells.push(s(o, "/spec/secretName").to_owned());
            cells.push(s(o, "/spec/path").to_owned());
            cells.push(age);
        }
        Kind::Secret => {
            cells.push(s(o, "/type").to_owned());
            cells.push(
                o.pointer("/data")
                    .and_then(Value::as_object)
                    .map_or(0, serde_json::Map::len)
                    .to_string(),
            );
            cells.push(age);
        }
        Kind::Job => {
            cells.push(job_status(o).to_owned());
            cells.push(format!("{}/1", n(o, "/status/succeeded").unwrap_or(0)));
            cells.push(format!(
                "{} running, {} failed",
                n(o, "/status/active").unwrap_or(0),
                n(o, "/status/failed").unwrap_or(0)
            ));
            cells.push(
                o.pointer("/status/progress")
                    .map(progress)
                    .unwrap_or_default(),
            );
            cells.push(age);
        }
    }
    cells
}

/// How long ago an RFC 3339 time was (`<none>` when empty), or how long until it is.
fn ago(t: &str, now_ms: u64) -> String {
    datamover::time::parse_rfc3339(t).map_or_else(
        || "<none>".to_owned(),
        |t| duration(now_ms.saturating_sub(t) / 1000),
    )
}

/// A schedule's cells after its name: SCHEDULE, SUSPEND, ACTIVE, LAST SCHEDULE, NEXT RUN
/// (computed from the pattern and now), AGE; wide: LAST SUCCESS, SKIPPED, MISSED, SOURCE.
fn schedule_row(cells: &mut Vec<String>, o: &Value, wide: bool, now_ms: u64, age: String) {
    let pattern = s(o, "/spec/schedule");
    let suspended = o
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let next = if suspended {
        "<suspended>".to_owned()
    } else {
        datamover::schedule::cron::CronSchedule::parse(pattern)
            .ok()
            .and_then(|c| c.next_after(now_ms))
            .map_or_else(
                || "<none>".to_owned(),
                |t| format!("in {}", duration(t.saturating_sub(now_ms).div_ceil(1000))),
            )
    };
    cells.push(pattern.to_owned());
    cells.push(suspended.to_string());
    cells.push(
        o.pointer("/status/active")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
            .to_string(),
    );
    cells.push(ago(s(o, "/status/lastScheduleTime"), now_ms));
    cells.push(next);
    cells.push(age);
    if wide {
        cells.push(ago(s(o, "/status/lastSuccessfulTime"), now_ms));
        cells.push(n(o, "/status/skippedRuns").unwrap_or(0).to_string());
        cells.push(n(o, "/status/missedRuns").unwrap_or(0).to_string());
        cells.push(s(o, "/spec/sourcePvc").to_owned());
    }
}

/// Prints rows under a header, columns aligned.
pub(crate) fn print(header: &[&str], rows: &[Vec<String>], with_header: bool) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("   ").trim_end());
    };
    if with_header {
        line(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    }
    for r in rows {
        line(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_reads_like_a_person_would_write_it() {
        let p = json!({"bytes": 1_288_490_189u64, "totalBytes": 3_113_851_290u64,
                       "bytesPerSecond": 89_128_960u64, "etaSeconds": 20});
        assert_eq!(progress(&p), "41% 1.2 GiB/2.9 GiB 85 MiB/s ETA 20s");
        assert_eq!(progress(&json!({"bytes": 512})), "512 B");
        assert_eq!(progress(&json!({})), "");
    }

    #[test]
    fn ages_are_in_kubectl_units() {
        let now = datamover::time::parse_rfc3339("2026-11-30T12:00:00Z").unwrap();
        assert_eq!(age("2026-11-30T11:59:15Z", now), "45s");
        assert_eq!(age("2026-11-30T11:48:00Z", now), "12m");
        assert_eq!(age("2026-11-30T07:00:00Z", now), "5h");
        assert_eq!(age("2026-11-27T12:00:00Z", now), "3d");
        assert_eq!(age("", now), "<unknown>");
    }

    #[test]
    fn a_schedule_row_shows_its_pattern_runs_and_next_run() {
        let now = datamover::time::parse_rfc3339("2026-11-30T12:00:20Z").unwrap();
        let schedule = json!({"metadata": {"name": "nightly", "creationTimestamp": "2026-11-30T10:00:00Z"},
                              "spec": {"schedule": "*/5 * * * *", "sourcePvc": "data"},
                              "status": {"lastScheduleTime": "2026-11-30T12:00:00Z",
                                         "active": [{"name": "nightly-29934000"}]}});
        assert_eq!(
            header(Kind::DataMoverSchedule, false, false),
            [
                "NAME",
                "SCHEDULE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "NEXT RUN",
                "AGE"
            ]
        );
        assert_eq!(
            row(Kind::DataMoverSchedule, &schedule, false, false, now),
            ["nightly", "*/5 * * * *", "false", "1", "20s", "in 4m", "2h"]
        );
        let mut suspended = schedule;
        suspended["spec"]["suspend"] = json!(true);
        suspended["status"] = json!({});
        assert_eq!(
            row(Kind::DataMoverSchedule, &suspended, false, false, now)[2..6],
            ["true", "0", "<none>", "<suspended>"]
        );
    }

    #[test]
    fn a_job_row_shows_its_status_and_pods() {
        let job = json!({"metadata": {"name": "nightly-sync-1", "namespace": "prod",
                                      "creationTimestamp": "2026-11-30T11:59:00Z"},
                         "status": {"active": 1, "failed": 1, "progress": {"bytes": 2048}}});
        let now = datamover::time::parse_rfc3339("2026-11-30T12:00:00Z").unwrap();
        assert_eq!(
            row(Kind::Job, &job, false, true, now),
            [
                "prod",
                "nightly-sync-1",
                "Running",
                "0/1",
                "1 running, 1 failed",
                "2.0 KiB",
                "60s"
            ]
        );
    }
}
