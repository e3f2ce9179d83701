//! The command line: a bad manifest refused naming the field, logs to a pipe and as JSON,
//! `get --watch`.

use crate::helpers::*;
use crate::support::{BIN, operator, require_rclone, tempdir};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tmc_test_support::Process;

#[test]
fn the_cli_should_refuse_a_bad_manifest_naming_the_field_and_store_nothing() {
    require_rclone();
    let dir = tempdir();
    let op = start(&dir.join("data"));
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        format!(
            "{}{}",
            secret(
                "ok",
                &[("DESTINATION", &dir.join("x").display().to_string())]
            ),
            datamover("bad", "data", "ok", "  deletePvcAfterBackup: maybe\n")
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["apply", "-f"])
        .arg(&file)
        .args(op.cli_args())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: document 2 (DataMover bad): spec.deletePvcAfterBackup: expected true or false, got a string"
    );
    let get = Command::new(BIN)
        .args(["get", "secrets"])
        .args(op.cli_args())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&get.stdout).trim(),
        "No secrets found in namespace default."
    );

    // The same file fixed applies, and `get` shows it.
    std::fs::write(
        &file,
        secret(
            "ok",
            &[("DESTINATION", &dir.join("x").display().to_string())],
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["apply", "-f"])
        .arg(&file)
        .args(op.cli_args())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "secret/ok created (default)"
    );
    let missing = Command::new(BIN)
        .args(["get", "dm", "nope"])
        .args(op.cli_args())
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "error: DataMover default/nope not found"
    );
}

/// Starts `run` with stdout piped (not a terminal), lets it log its start, stops it, and
/// returns what it wrote.
fn logs_of(extra: &[&str]) -> String {
    let dir = tempdir();
    operator(dir.join("data"))
        .roots(None)
        .job_backoff_seconds(None)
        .args(extra)
        .piped()
        .start()
        .stop_with_output()
}

#[test]
fn logs_to_a_pipe_should_carry_no_colour_codes_and_json_logs_should_be_json_lines() {
    let text = logs_of(&[]);
    assert!(text.contains("datamover-operator started"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI codes in a log file: {text:?}"
    );

    let json = logs_of(&["--log-format", "json"]);
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let started = lines
        .iter()
        .find(|l| l["fields"]["message"] == "datamover-operator started (embedded backend)")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(started["level"], "INFO");
    assert!(!json.contains('\u{1b}'));
}

#[test]
fn get_watch_should_print_the_rows_that_change_until_stopped() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    sample_tree(&source, 1024 * 1024);
    let op = start(&dir.join("data"));
    let mut watch = Process::spawn(
        Command::new(BIN)
            .args(["get", "dm", "-w"])
            .args(op.cli_args())
            .stdout(Stdio::piped()),
        "get -w",
        "",
    );
    let stdout = watch.take_stdout().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // Nothing yet: the header alone.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "NAME   PHASE   PROGRESS   AGE"
    );
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret(
            "local",
            &[("DESTINATION", &dir.join("dest").display().to_string())]
        ),
        // About 4 s of sync: the watch sees it run.
        datamover(
            "watched",
            "data",
            "local",
            "  additionalEnv:\n    - {name: RCLONE_BWLIMIT, value: 256k}\n"
        ),
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut phases = Vec::new();
    while !phases.iter().any(|p| p == "Completed") {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the watch printed no Completed row");
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], "watched", "{line}");
        phases.push(cells[1].to_owned());
    }
    drop(watch);
    // Rows printed as the DataMover changed: it was seen syncing, then Completed.
    assert_eq!(phases.last().map(String::as_str), Some("Completed"));
    assert!(phases.iter().any(|p| p == "CreatingPod"), "{phases:?}");
}
