//! Schedules and restores as users run them: the real binary, the real rclone, real files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use support::{BIN, DATAMOVERS as GROUP, Operator, operator, require_rclone, tempdir};

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs the CLI against `op`.
fn cli(op: &Operator, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(["--server", &format!("http://{}", op.api)])
        .arg("--token-file")
        .arg(op.data.join("api-token"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The DataMovers a schedule created.
fn runs_of(op: &Operator, schedule: &str) -> Vec<Value> {
    let all = op.get(&format!("{GROUP}/datamovers"));
    all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["metadata"]["labels"]["datamover.a-cup-of.coffee/schedule"] == schedule)
        .cloned()
        .collect()
}

/// Every path under `root` (dirs end in `/`) with its contents' checksum (FNV-1a 64) and
/// length.
fn tree(root: &Path) -> BTreeMap<String, Option<(u64, usize)>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                out.insert(format!("{rel}/"), None);
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let sum = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                out.insert(rel, Some((sum, bytes.len())));
            }
        }
    }
    out
}

/// Unicode names, an empty directory, a 0-byte file, a deep file, 3 MiB of noise.
fn sample_tree(root: &Path) {
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::fs::write(root.join("a/b/c/deep.txt"), "deep\n").unwrap();
    std::fs::write(root.join("a/naïve ☃ 日本.txt"), "unicode\n").unwrap();
    std::fs::write(root.join("zero-bytes"), "").unwrap();
    let mut x = 42u64;
    let noise: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(root.join("a/big.bin"), noise).unwrap();
}

/// A source PVC on `host`, a secret with `DESTINATION` `dest`.
fn source_and_secret(host: &Path, dest: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  annotations:\n    datamover.a-cup-of.coffee/host-path: \"{}\"\nspec: {{accessModes: [ReadWriteOnce]}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: backup}}\nstringData:\n  DESTINATION: \"{}\"\n---\n",
        host.display(),
        dest.display()
    )
}

fn schedule(extra: &str) -> String {
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {{name: every-minute}}\nspec:\n  schedule: \"* * * * *\"\n  sourcePvc: data\n  secretName: backup\n  addTimestampPrefix: true\n  deletePvcAfterBackup: true\n{extra}"
    )
}

fn metric(text: &str, line: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
}

#[test]
fn a_schedule_every_minute_should_back_up_on_the_minute_and_suspend_should_stop_new_runs() {
    require_rclone();
    let dir = tempdir();
    let (source, dest) = (dir.join("source"), dir.join("dest"));
    sample_tree(&source);
    std::fs::create_dir_all(&dest).unwrap();
    let op = operator(dir.join("data")).start();
    op.apply(&format!(
        "{}{}",
        source_and_secret(&source, &dest),
        schedule("")
    ));

    // The next minute starts a run, which completes with the real rclone.
    op.wait_for(
        "a scheduled run to complete",
        Duration::from_secs(100),
        || {
            runs_of(&op, "every-minute")
                .iter()
                .any(|d| d["status"]["phase"] == "Completed")
        },
    );
    let runs = runs_of(&op, "every-minute");
    let run = runs
        .iter()
        .find(|d| d["status"]["phase"] == "Completed")
        .unwrap();
    let owner = &run["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str()),
        (Some("DataMoverSchedule"), Some("every-minute"))
    );
    let scheduled = run["metadata"]["annotations"]["datamover.a-cup-of.coffee/scheduled-at"]
        .as_str()
        .unwrap();
    let minutes = datamover::time::parse_rfc3339(scheduled).unwrap() / 60_000;
    assert_eq!(run["metadata"]["name"], format!("every-minute-{minutes}"));
    let folder = run["status"]["destination"].as_str().unwrap();
    assert_eq!(
        tree(Path::new(folder)),
        tree(&source),
        "the backup is identical"
    );

    op.wait_for(
        "the schedule to see its run end",
        Duration::from_secs(30),
        || {
            let s = op.get(&format!("{GROUP}/datamoverschedules/every-minute"));
            !s["status"]["lastSuccessfulTime"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        },
    );
    let text = op.metrics();
    assert!(
        metric(&text, r#"datamover_schedule_runs_total{schedule="every-minute",status="success",namespace="default"}"#)
            .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    let listed = cli(&op, &["get", "schedules"]);
    let header: Vec<&str> = listed
        .lines()
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
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
    assert!(
        listed.contains("every-minute") && listed.contains("* * * * *"),
        "{listed}"
    );

    // Suspended: the next minute boundary passes without a new run.
    op.apply(&schedule("  suspend: true\n"));
    let before = runs_of(&op, "every-minute").len();
    let now = datamover::time::now_ms();
    let after_next_minute = Duration::from_millis(60_000 - now % 60_000 + 5_000);
    std::thread::sleep(after_next_minute);
    assert_eq!(
        runs_of(&op, "every-minute").len(),
        before,
        "a suspended schedule starts nothing"
    );
    assert!(cli(&op, &["get", "schedules"]).contains("<suspended>"));
}

/// A backup with the timestamp prefix (a DataMover), then a PVC populated from that folder.
fn backup(op: &Operator) -> String {
    op.apply("apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: once}\nspec: {sourcePvc: data, secretName: backup, addTimestampPrefix: true}\n");
    op.wait_for("the backup", Duration::from_secs(60), || {
        op.get(&format!("{GROUP}/datamovers/once"))["status"]["phase"] == "Completed"
    });
    let dm = op.get(&format!("{GROUP}/datamovers/once"));
    let destination = dm["status"]["destination"].as_str().unwrap();
    destination.rsplit('/').next().unwrap().to_owned()
}

fn restore(pvc: &str, path: &str) -> String {
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverPopulator\nmetadata: {{name: {pvc}-from}}\nspec: {{secretName: backup, path: \"{path}\"}}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {pvc}}}\nspec:\n  accessModes: [ReadWriteOnce]\n  dataSourceRef: {{apiGroup: datamover.a-cup-of.coffee, kind: DataMoverPopulator, name: {pvc}-from}}\n"
    )
}

#[test]
fn a_pvc_populated_from_a_timestamped_backup_should_hold_an_identical_tree() {
    require_rclone();
    let dir = tempdir();
    let (source, dest) = (dir.join("source"), dir.join("dest"));
    sample_tree(&source);
    std::fs::create_dir_all(&dest).unwrap();
    let op = operator(dir.join("data")).start();
    op.apply(&source_and_secret(&source, &dest));
    let folder = backup(&op);
    assert_eq!(folder.len(), "YYYY-MM-DD-HHMMSS".len(), "{folder}");

    op.apply(&restore("restored", &folder));
    let volume = dir.join("data/volumes/default/restored");
    op.wait_for(
        "the restored PVC to be Bound",
        Duration::from_secs(60),
        || {
            let pvc = op.get("/api/v1/namespaces/default/persistentvolumeclaims/restored");
            if pvc["status"]["phase"] != "Bound" {
                // Never half a restore in place: the directory appears whole (renamed from
                // its staging dir), just before the PVC turns Bound.
                if volume.exists() {
                    assert_eq!(
                        tree(&volume),
                        tree(&source),
                        "half a restore is visible: {pvc}"
                    );
                }
                return false;
            }
            true
        },
    );
    assert_eq!(
        tree(&volume),
        tree(&source),
        "the restored tree is identical"
    );
    let pvc = op.get("/api/v1/namespaces/default/persistentvolumeclaims/restored");
    assert_eq!(
        pvc["status"]["conditions"][0]["reason"], "Restored",
        "{pvc}"
    );
    let text = op.metrics();
    assert_eq!(
        metric(
            &text,
            r#"datamover_restore_operations_total{status="success",namespace="default"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"datamover_restored_bytes_total{namespace="default"}"#
        )
        .is_some_and(|b| b >= 3.0 * 1024.0 * 1024.0)
    );
    assert!(cli(&op, &["get", "pvc"]).contains("Bound"));
}

#[test]
fn a_missing_backup_path_should_fail_the_restore_with_a_clear_reason() {
    require_rclone();
    let dir = tempdir();
    let (source, dest) = (dir.join("source"), dir.join("dest"));
    sample_tree(&source);
    std::fs::create_dir_all(&dest).unwrap();
    let op = operator(dir.join("data")).start();
    op.apply(&source_and_secret(&source, &dest));
    op.apply(&restore("nothing", "1999-12-31-235959"));
    let path = "/api/v1/namespaces/default/persistentvolumeclaims/nothing";
    op.wait_for("the restore to fail", Duration::from_secs(60), || {
        op.get(path)["status"]["conditions"][0]["reason"] == "RestoreFailed"
    });
    let pvc = op.get(path);
    assert_eq!(pvc["status"]["phase"], "Pending");
    let message = pvc["status"]["conditions"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("the backup \"1999-12-31-235959\" does not exist at")
            && message.contains("check spec.path of the DataMoverPopulator"),
        "{message}"
    );
    assert!(!dir.join("data/volumes/default/nothing").exists());
    assert!(cli(&op, &["get", "pvc"]).contains("Pending (RestoreFailed)"));
    assert_eq!(
        metric(
            &op.metrics(),
            r#"datamover_restore_operations_total{status="failure",namespace="default"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn a_schedules_runs_into_one_mirror_should_not_refuse_each_other_nor_a_rerun_by_hand() {
    require_rclone();
    let dir = tempdir();
    let (source, dest) = (dir.join("source"), dir.join("mirror"));
    sample_tree(&source);
    let op = operator(dir.join("data")).start();
    op.apply(&format!(
        "{}apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {{name: mirror}}\nspec:\n  schedule: \"* * * * *\"\n  sourcePvc: data\n  secretName: backup\n---\napiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: by-hand}}\nspec:\n  sourcePvc: data\n  secretName: backup\n",
        source_and_secret(&source, &dest),
    ));
    let by_hand = op.finished("by-hand", Duration::from_secs(60));
    assert_eq!(by_hand["status"]["phase"], "Completed", "{by_hand}");
    // Two runs of the schedule into the same mirror, each after the other.
    op.wait_for(
        "two scheduled runs to end",
        Duration::from_secs(150),
        || {
            runs_of(&op, "mirror")
                .iter()
                .filter(|d| matches!(d["status"]["phase"].as_str(), Some("Completed" | "Failed")))
                .count()
                >= 2
        },
    );
    for run in runs_of(&op, "mirror") {
        if run["status"]["phase"] != "" {
            assert_ne!(run["status"]["phase"], "Failed", "{run}");
        }
    }
    assert_eq!(tree(&dest), tree(&source), "the mirror is the source");
}

#[test]
fn trigger_schedule_should_start_one_run_at_once_of_a_schedule_due_in_a_year() {
    require_rclone();
    let dir = tempdir();
    let (source, dest) = (dir.join("source"), dir.join("dest"));
    sample_tree(&source);
    let op = operator(dir.join("data")).start();
    op.apply(&format!(
        "{}apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {{name: yearly}}\nspec:\n  schedule: \"0 0 1 1 *\"\n  sourcePvc: data\n  secretName: backup\n  addTimestampPrefix: true\n",
        source_and_secret(&source, &dest),
    ));
    let printed = cli(&op, &["trigger", "schedule", "yearly"]);
    assert!(
        printed.starts_with("datamoverschedule/yearly triggered"),
        "{printed}"
    );
    op.wait_for(
        "the manual run to complete",
        Duration::from_secs(60),
        || {
            runs_of(&op, "yearly")
                .iter()
                .any(|d| d["status"]["phase"] == "Completed")
        },
    );
    let runs = runs_of(&op, "yearly");
    assert_eq!(runs.len(), 1, "one run: {runs:?}");
    assert!(
        runs[0]["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("yearly-now-"),
        "{}",
        runs[0]["metadata"]["name"]
    );
    let folder = runs[0]["status"]["destination"].as_str().unwrap();
    assert_eq!(
        tree(Path::new(folder)),
        tree(&source),
        "the backup is identical"
    );
    let s = op.get(&format!("{GROUP}/datamoverschedules/yearly"));
    assert!(
        !s["status"]["lastManualTrigger"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{s}"
    );
    let err = Command::new(BIN)
        .args([
            "trigger",
            "schedule",
            "nope",
            "--server",
            &format!("http://{}", op.api),
        ])
        .arg("--token-file")
        .arg(op.data.join("api-token"))
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert_eq!(
        String::from_utf8_lossy(&err.stderr),
        "error: datamoverschedule default/nope not found\n"
    );
}
