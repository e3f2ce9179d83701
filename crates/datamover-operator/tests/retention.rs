//! Retention as users run it (issue 24): the real binary, the real rclone, real folders.
//! The destination is seeded with older timestamp folders and a folder with another name;
//! one real scheduled run then prunes (or, with `dryRun`, reports) what `keepLast: 2` does
//! not keep.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use support::{
    DATAMOVERS as GROUP, Operator, now_ms, operator, pvc, require_rclone, secret, tempdir,
};

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// The seeded backups, oldest first: 2020, long before any real run.
const OLD: [&str; 3] = [
    "2020-01-01-030000",
    "2020-01-02-030000",
    "2020-01-03-030000",
];

/// The folders (names) directly under `dir`.
fn folders(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every file under `root` with its bytes, by relative path.
fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A source with a few files, a destination holding [`OLD`] and `keep-me`, and an operator
/// with the PVC and the secret.
fn setup(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, Operator) {
    let (source, dest) = (dir.join("source"), dir.join("dest"));
    std::fs::create_dir_all(source.join("sub")).unwrap();
    std::fs::write(source.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(source.join("sub/b.bin"), support::noise(64 * 1024, 7)).unwrap();
    for name in OLD.iter().chain(&["keep-me"]) {
        std::fs::create_dir_all(dest.join(name)).unwrap();
        std::fs::write(dest.join(name).join("old.txt"), *name).unwrap();
    }
    let op = operator(dir.join("data")).start();
    op.apply(&format!(
        "{}{}",
        pvc("data", &source),
        secret("backup", &dest)
    ));
    (source, dest, op)
}

/// A schedule that runs once, at the start of the next minute that is at least 15 s away
/// (its pattern names that minute of the hour: the next run is an hour later).
fn schedule_once(retention: &str) -> String {
    let next = (now_ms() + 15_000) / 60_000 + 1;
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {{name: kept}}\nspec:\n  schedule: \"{} * * * *\"\n  sourcePvc: data\n  secretName: backup\n  addTimestampPrefix: true\n  deletePvcAfterBackup: true\n  retention: {retention}\n",
        next % 60
    )
}

/// Waits for the schedule's first prune to be recorded; the schedule as it is then.
fn pruned(op: &Operator) -> Value {
    let path = format!("{GROUP}/datamoverschedules/kept");
    op.wait_for(
        "the run and the prune after it",
        Duration::from_secs(150),
        || {
            !op.get(&path)["status"]["retention"]["lastPruneTime"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        },
    );
    op.get(&path)
}

/// The folder the schedule's run named `name` wrote.
fn folder_of_run(op: &Operator, name: &str) -> String {
    let run = op.datamover(name);
    assert_eq!(run["status"]["phase"], "Completed", "{run}");
    let destination = run["status"]["destination"].as_str().unwrap();
    destination.rsplit('/').next().unwrap().to_owned()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn metric(text: &str, line: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
}

#[test]
fn keep_last_two_prunes_the_older_backups_and_never_another_name_or_another_datamovers() {
    require_rclone();
    let dir = tempdir();
    let (source, dest, op) = setup(&dir);
    // Another DataMover writing timestamp folders into the same base: its folder is not
    // the schedule's to prune (without that rule it would be kept as one of the two newest
    // and 2020-01-03 pruned).
    op.apply(&support::datamover(
        "other",
        "data",
        "backup",
        "  addTimestampPrefix: true\n",
    ));
    let other = op.finished("other", Duration::from_secs(60));
    let other_folder = other["status"]["destination"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    op.apply(&schedule_once("{keepLast: 2}"));

    let schedule = pruned(&op);
    let status = &schedule["status"]["retention"];
    let run = status["afterRun"].as_str().unwrap();
    let newest = folder_of_run(&op, run);
    assert_eq!(status["error"], Value::Null, "{status}");
    assert_eq!(status["dryRun"], false);
    assert_eq!(
        strings(&status["kept"]),
        [newest.clone(), OLD[2].to_owned()]
    );
    assert_eq!(strings(&status["pruned"]), [OLD[1], OLD[0]]);
    assert_eq!(
        folders(&dest),
        BTreeSet::from([
            newest.clone(),
            OLD[2].to_owned(),
            other_folder,
            "keep-me".to_owned()
        ]),
        "exactly the two newest of the schedule's backups remain, beside the other DataMover's and keep-me"
    );
    assert_eq!(
        files(&dest.join(&newest)),
        files(&source),
        "the newest backup is identical to the source"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("keep-me/old.txt")).unwrap(),
        "keep-me",
        "a folder with another name is untouched"
    );
    let text = op.metrics();
    for (line, value) in [
        (
            r#"datamover_schedule_backups_pruned_total{schedule="kept",namespace="default"}"#,
            2.0,
        ),
        (
            r#"datamover_schedule_backups_retained{schedule="kept",namespace="default"}"#,
            2.0,
        ),
    ] {
        assert_eq!(metric(&text, line), Some(value), "{line}\n{text}");
    }
    assert_eq!(
        metric(
            &text,
            r#"datamover_schedule_prune_failures_total{schedule="kept",namespace="default"}"#
        ),
        None,
        "no prune failed"
    );
}

#[test]
fn a_dry_run_deletes_nothing_and_names_what_would_go() {
    require_rclone();
    let dir = tempdir();
    let (_source, dest, op) = setup(&dir);
    op.apply(&schedule_once("{keepLast: 2, dryRun: true}"));

    let schedule = pruned(&op);
    let status = &schedule["status"]["retention"];
    let newest = folder_of_run(&op, status["afterRun"].as_str().unwrap());
    assert_eq!(status["dryRun"], true);
    assert_eq!(
        strings(&status["kept"]),
        [newest.clone(), OLD[2].to_owned()]
    );
    assert_eq!(strings(&status["pruned"]), [OLD[1], OLD[0]]);
    let mut all: BTreeSet<String> = OLD.iter().map(|s| (*s).to_owned()).collect();
    all.extend([newest, "keep-me".to_owned()]);
    assert_eq!(folders(&dest), all, "a dry run deletes nothing");
    let text = op.metrics();
    assert_eq!(
        metric(
            &text,
            r#"datamover_schedule_backups_pruned_total{schedule="kept",namespace="default"}"#
        ),
        None,
        "a dry run prunes nothing\n{text}"
    );
    let retained = r#"datamover_schedule_backups_retained{schedule="kept",namespace="default"}"#;
    assert_eq!(metric(&text, retained), Some(2.0), "{text}");
    // Deleted, the schedule retains nothing (the census sets it within 5 s).
    let r = op.api("DELETE", &format!("{GROUP}/datamoverschedules/kept"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    op.wait_for(
        "the retained gauge of the deleted schedule to read 0",
        Duration::from_secs(30),
        || metric(&op.metrics(), retained) == Some(0.0),
    );
}

#[test]
fn retention_without_the_timestamp_prefix_is_refused_and_nothing_is_stored() {
    let dir = tempdir();
    let op = operator(dir.join("data")).start();
    let text = schedule_once("{keepLast: 2}").replace("  addTimestampPrefix: true\n", "");
    let r = op.api("POST", "/apply", Some(&text));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["error"],
        "document 1 (DataMoverSchedule kept): spec.retention: needs spec.addTimestampPrefix: true: without it every run syncs over one copy and there are no backups to prune; set addTimestampPrefix: true, or remove spec.retention"
    );
    let listed = op.get(&format!("{GROUP}/datamoverschedules"));
    assert_eq!(listed["items"], serde_json::json!([]), "nothing stored");
}
