#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The prune script with the real `sh`, `awk` and rclone over a temp dir: it must decide
//! exactly what the Rust selection decides.

use super::PRUNE_SCRIPT;
use datamover::schedule::retention::{Retention, select};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use tmc_test_support::tempdir;

const FOLDERS: [&str; 16] = [
    "2025-10-15-030000",
    "2025-11-20-030000",
    "2025-11-30-230000",
    "2025-12-01-010000",
    "2025-12-28-120000", // Sunday of ISO week 52
    "2025-12-29-000000", // Monday of ISO week 1 of 2026
    "2026-01-01-090000",
    "2026-01-01-100000",
    "2026-01-02-100000",
    "2026-01-02-110000",
    "2026-01-03-080000",
    "2026-02-30-000000", // no such day: not a backup
    "2026-01-03-0800",   // too short
    "keep-me",
    "2025-12-01-020000", // another DataMover's
    "notes 2026-01-03-080000",
];

fn folders(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Runs the script over a destination holding [`FOLDERS`]; what remains, and the report
/// it left in its log.
fn run(rules: &Retention) -> (BTreeSet<String>, serde_json::Value) {
    let dir = tempdir();
    let dest = dir.join("dest");
    for name in FOLDERS {
        std::fs::create_dir_all(dest.join(name)).unwrap();
        std::fs::write(dest.join(name).join("f.txt"), name).unwrap();
    }
    let log = dir.join("termination-log");
    let out = Command::new("/bin/sh")
        .args(["-c", PRUNE_SCRIPT])
        .env("DESTINATION", &dest)
        .env("RETENTION", rules.encode())
        .env("DRY_RUN", rules.dry_run.to_string())
        .env("NEWEST_BACKUP", "2026-01-02-100000")
        .env("EXCLUDED_BACKUPS", "2025-12-01-020000 2099-01-01-000000")
        .env("RCLONE_LOG_FILE", &log)
        .env_remove("RCLONE_CONFIG")
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("/bin/sh runs");
    assert!(
        out.status.success(),
        "the script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();
    (folders(&dest), serde_json::from_str(last).unwrap())
}

fn rules(dry_run: bool) -> Retention {
    Retention {
        keep_last: Some(2),
        keep_daily: Some(2),
        keep_weekly: Some(3),
        keep_monthly: Some(4),
        dry_run,
        ..Retention::default()
    }
}

#[test]
fn the_script_prunes_exactly_what_the_selection_prunes() {
    let rules = rules(false);
    let names: Vec<String> = FOLDERS.iter().map(|s| (*s).to_owned()).collect();
    let excluded = BTreeSet::from([
        "2025-12-01-020000".to_owned(),
        "2099-01-01-000000".to_owned(),
    ]);
    let expected = select(&rules, &names, &excluded, Some("2026-01-02-100000"));
    // keepLast: Jan 3, Jan 2 11:00; keepDaily: Jan 3, Jan 2 11:00; keepWeekly: Jan 3 (W1,
    // from Monday Dec 29), Dec 28 (W52), Dec 1 01:00 (W49); keepMonthly: Jan 3, Dec 29,
    // Nov 30, Oct 15; the newest successful backup: Jan 2 10:00. Dec 1 02:00 is another
    // DataMover's, Feb 30 no day: neither kept nor pruned.
    assert_eq!(
        expected.kept,
        [
            "2026-01-03-080000",
            "2026-01-02-110000",
            "2026-01-02-100000",
            "2025-12-29-000000",
            "2025-12-28-120000",
            "2025-12-01-010000",
            "2025-11-30-230000",
            "2025-10-15-030000"
        ]
    );
    assert_eq!(
        expected.pruned,
        [
            "2026-01-01-100000",
            "2026-01-01-090000",
            "2025-11-20-030000"
        ]
    );
    let (left, report) = run(&rules);
    assert_eq!(
        report,
        serde_json::json!({"level": "notice", "msg": "retention",
                           "retention": {"kept": expected.kept, "pruned": expected.pruned}})
    );
    let mut want: BTreeSet<String> = FOLDERS.iter().map(|s| (*s).to_owned()).collect();
    for p in &expected.pruned {
        want.remove(p);
    }
    assert_eq!(left, want, "exactly the pruned folders are gone");
}

#[test]
fn a_dry_run_of_the_script_deletes_nothing_and_reports_the_same() {
    let (left, report) = run(&rules(true));
    let all: BTreeSet<String> = FOLDERS.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(left, all);
    assert_eq!(
        report["retention"]["pruned"],
        serde_json::json!([
            "2026-01-01-100000",
            "2026-01-01-090000",
            "2025-11-20-030000"
        ])
    );
}
