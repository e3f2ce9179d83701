//! The operator as users run it: the real binary, the real rclone, real files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use support::{BIN, DATAMOVERS, Operator, free_port, noise, operator, require_rclone, tempdir};

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tmc_test_support::Process;

/// The operator on `data`, with the test's directory (`data`'s parent) allowed as a
/// host-path and local-destination root, and four workers.
fn start(data: &Path) -> Operator {
    operator(data).args(["--concurrency", "4"]).start()
}

/// The sync Job of DataMover `name`, once it has one.
fn job_of(op: &Operator, name: &str) -> Option<Value> {
    let dm = op.datamover(name);
    let job = dm["status"]["jobName"].as_str().filter(|j| !j.is_empty())?;
    let r = op.api(
        "GET",
        &format!("/apis/batch/v1/namespaces/default/jobs/{job}"),
        None,
    );
    (r.status == 200).then(|| serde_json::from_str(&r.body).unwrap())
}

/// Waits (bounded) until DataMover `name`'s Job has a pod running; its uid.
fn running_job(op: &Operator, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(job) = job_of(op, name).filter(|j| j["status"]["active"] == 1) {
            return job["metadata"]["uid"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the sync of {name} never started: {}",
            op.datamover(name)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `datamover_*` counter lines, sorted (histograms left out).
fn counters(op: &Operator) -> Vec<String> {
    let mut lines: Vec<String> = op
        .metrics()
        .lines()
        .filter(|l| l.starts_with("datamover_") && !l.starts_with("datamover_phase_duration"))
        // The live census gauges lag a second behind; tests read them on their own.
        .filter(|l| {
            !l.starts_with("datamover_syncs_running")
                && !l.starts_with("datamover_running_sync_bytes")
        })
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Every path under `root` (dirs end in `/`) with file contents.
fn tree(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
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
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

fn sample_tree(root: &Path, big: usize) {
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::fs::write(root.join("a/b/c/deep.txt"), "deep\n").unwrap();
    std::fs::write(root.join("a/naïve ☃ 日本.txt"), "unicode\n").unwrap();
    std::fs::write(root.join("zero-bytes"), "").unwrap();
    std::fs::write(root.join("a/big.bin"), noise(big, 42)).unwrap();
}

fn pvc(name: &str, host: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  annotations:\n    datamover.a-cup-of.coffee/host-path: \"{}\"\nspec: {{accessModes: [ReadWriteOnce]}}\n---\n",
        host.display()
    )
}

fn secret(name: &str, values: &[(&str, &str)]) -> String {
    let data: String = values
        .iter()
        .map(|(k, v)| format!("  {k}: \"{v}\"\n"))
        .collect();
    format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n{data}---\n")
}

fn datamover(name: &str, pvc: &str, secret: &str, extra: &str) -> String {
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}}}\nspec:\n  sourcePvc: {pvc}\n  secretName: {secret}\n{extra}---\n"
    )
}

#[test]
fn backups_should_arrive_identical_with_and_without_timestamp_prefix_and_cleanup_only_on_request() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    sample_tree(&source, 50 * 1024 * 1024);
    let op = start(&dir.join("data"));
    let (dest1, dest2) = (dir.join("dest-prefixed"), dir.join("dest-plain"));
    op.apply(&format!(
        "{}{}{}{}{}",
        pvc("data", &source),
        secret(
            "to-prefixed",
            &[("DESTINATION", &dest1.display().to_string())]
        ),
        secret("to-plain", &[("DESTINATION", &dest2.display().to_string())]),
        datamover(
            "prefixed",
            "data",
            "to-prefixed",
            "  addTimestampPrefix: true\n  deletePvcAfterBackup: true\n"
        ),
        datamover("plain", "data", "to-plain", ""),
    ));
    let prefixed = op.finished("prefixed", Duration::from_secs(120));
    let plain = op.finished("plain", Duration::from_secs(120));
    assert_eq!(prefixed["status"]["phase"], "Completed", "{prefixed}");
    assert_eq!(plain["status"]["phase"], "Completed", "{plain}");

    let expected = tree(&source);
    assert_eq!(
        tree(&dest2),
        expected,
        "the plain backup differs from the source"
    );
    let folders: Vec<_> = std::fs::read_dir(&dest1)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    assert!(
        folder.len() == 17 && folder.as_bytes()[4] == b'-' && folder.as_bytes()[10] == b'-',
        "{folder} is not YYYY-MM-DD-HHMMSS"
    );
    assert_eq!(
        tree(&dest1.join(folder)),
        expected,
        "the prefixed backup differs from the source"
    );
    assert_eq!(
        prefixed["status"]["destination"],
        format!("{}/{folder}", dest1.display())
    );
    assert_eq!(
        plain["status"]["bytesTransferred"].as_u64().unwrap(),
        50 * 1024 * 1024 + 5 + 8
    );
    assert_eq!(plain["status"]["filesTransferred"], 4);

    // deletePvcAfterBackup removed its clone, volume and object; the other clone stays.
    let volumes = op.data.join("volumes/default");
    let clone_of = |dm: &Value| dm["status"]["restoredPvcName"].as_str().unwrap().to_owned();
    let (gone, kept) = (clone_of(&prefixed), clone_of(&plain));
    assert!(gone.starts_with("data-cloned-") && kept.starts_with("data-cloned-"));
    assert!(!volumes.join(&gone).exists());
    assert_eq!(
        tree(&volumes.join(&kept)),
        expected,
        "the kept clone is a full copy"
    );
    let pvc_status = |name: &str| {
        op.api(
            "GET",
            &format!("/api/v1/namespaces/default/persistentvolumeclaims/{name}"),
            None,
        )
        .status
    };
    assert_eq!(pvc_status(&gone), 404);
    assert_eq!(pvc_status(&kept), 200);
    // Deleting the DataMover collects the clone it kept.
    let status = op
        .api("DELETE", &format!("{DATAMOVERS}/datamovers/plain"), None)
        .status;
    assert_eq!(status, 200);
    assert_eq!(pvc_status(&kept), 404);
    assert!(!volumes.join(&kept).exists());

    assert_eq!(
        counters(&op),
        [
            r#"datamover_bytes_transferred_total{namespace="default"} 104857626"#,
            r#"datamover_cleanup_operations_total{status="success",namespace="default"} 1"#,
            r#"datamover_data_sync_operations_total{status="success",namespace="default"} 2"#,
            r#"datamover_files_transferred_total{namespace="default"} 8"#,
            r#"datamover_operations_total{phase="CleaningUp",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CleaningUp",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 2"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 2"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 2"#,
            r#"datamover_operations_total{phase="CreatingPod",status="success",namespace="default"} 2"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 2"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 2"#,
            // Both kinds exist from the start, at 0: no write was refused.
            r#"datamover_store_write_errors_total{kind="io"} 0"#,
            r#"datamover_store_write_errors_total{kind="no_space"} 0"#,
        ]
    );
    assert!(op.metrics().contains(
        r#"datamover_phase_duration_seconds_count{phase="CreatingPod",namespace="default"} 2"#
    ));
}

#[test]
fn an_unreachable_destination_should_fail_after_three_attempts_and_count_the_failures() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    sample_tree(&source, 1024);
    let op = start(&dir.join("data"));
    let closed = free_port(); // nothing listens here
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret(
            "s3",
            &[
                ("AWS_ACCESS_KEY_ID", "AKIDTESTKEY"),
                ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
                ("AWS_REGION", "us-east-1"),
                ("BUCKET_HOST", "127.0.0.1"),
                ("BUCKET_PORT", &closed.port().to_string()),
                ("BUCKET_NAME", "backups"),
                ("TLS_HOST", "false"),
            ]
        ),
        datamover("offsite", "data", "s3", ""),
    ));
    let dm = op.finished("offsite", Duration::from_secs(120));
    let status = &dm["status"];
    assert_eq!(status["phase"], "Failed", "{dm}");
    assert_eq!(
        (
            status["attempts"].as_u64(),
            status["failedAttempts"].as_u64()
        ),
        (Some(3), Some(3))
    );
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["reason"], "BackoffLimitExceeded");
    let text = dm.to_string();
    assert!(
        !text.contains("very-secret-value") && !text.contains("AKIDTESTKEY"),
        "a secret leaked into the status: {text}"
    );
    assert_eq!(
        counters(&op),
        [
            r#"datamover_data_sync_operations_total{status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 1"#,
            // One Job per DataMover; its three pods are the Job's retries.
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 1"#,
            // Both kinds exist from the start, at 0: no write was refused.
            r#"datamover_store_write_errors_total{kind="io"} 0"#,
            r#"datamover_store_write_errors_total{kind="no_space"} 0"#,
        ]
    );
}

#[test]
fn a_missing_source_pvc_or_secret_should_fail_with_a_reason_and_be_counted() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    sample_tree(&source, 16);
    let op = start(&dir.join("data"));
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        datamover("no-pvc", "missing-pvc", "whatever", ""),
        datamover("no-secret", "data", "missing-secret", ""),
    ));
    for (name, reason, message) in [
        (
            "no-pvc",
            "SourcePVCNotFound",
            "the source PVC default/missing-pvc does not exist",
        ),
        (
            "no-secret",
            "SecretNotFound",
            "the secret default/missing-secret does not exist",
        ),
    ] {
        let dm = op.finished(name, Duration::from_secs(30));
        assert_eq!(dm["status"]["phase"], "Failed");
        assert_eq!(dm["status"]["lastError"], message);
        let ready = dm["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
            .clone();
        assert_eq!(
            (ready["status"].as_str(), ready["reason"].as_str()),
            (Some("False"), Some(reason))
        );
    }
    assert_eq!(
        counters(&op),
        [
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="failure",namespace="default"} 2"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 2"#,
            // Both kinds exist from the start, at 0: no write was refused.
            r#"datamover_store_write_errors_total{kind="io"} 0"#,
            r#"datamover_store_write_errors_total{kind="no_space"} 0"#,
        ]
    );
    assert!(op.metrics().contains(
        r#"controller_runtime_reconcile_total{controller="datamover",result="error"} 0"#
    ));
}

/// The processes of this test's syncs still alive (they carry their Job's uid).
fn syncs_alive(uid: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(&format!("--user-agent=datamover/{uid}")))
        .count()
}

#[test]
fn a_kill_9_during_a_sync_should_resume_complete_once_and_never_run_two_syncs() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    sample_tree(&source, 8 * 1024 * 1024);
    let dest = dir.join("dest");
    let op = start(&dir.join("data"));
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret("local", &[("DESTINATION", &dest.display().to_string())]),
        // 2 MiB/s: the sync takes about 4 s, long enough to be killed in the middle.
        datamover(
            "slow",
            "data",
            "local",
            "  additionalEnv:\n    - {name: RCLONE_BWLIMIT, value: 2M}\n"
        ),
    ));
    let uid = running_job(&op, "slow");
    let data = op.data.clone();
    // The operator alone dies; its sync lives on (killed when `_orphans` is dropped).
    let _orphans = op.kill9();
    assert_eq!(
        syncs_alive(&uid),
        1,
        "the orphaned sync pod should still be running after kill -9"
    );

    let op = start(&data);
    let deadline = Instant::now() + Duration::from_secs(120);
    let dm = loop {
        assert!(
            syncs_alive(&uid) <= 1,
            "two syncs of one DataMover ran at once"
        );
        let dm = op.datamover("slow");
        if matches!(dm["status"]["phase"].as_str(), Some("Completed" | "Failed")) {
            break dm;
        }
        assert!(
            Instant::now() < deadline,
            "the resumed DataMover did not finish: {dm}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(dm["status"]["phase"], "Completed", "{dm}");
    assert_eq!(
        dm["status"]["attempts"], 2,
        "the lost pod and the one that finished"
    );
    assert_eq!(
        dm["status"]["failedAttempts"], 1,
        "the pod lost with the operator counts as failed, as a lost pod does"
    );
    assert_eq!(
        dm["status"]["startTime"].as_str().map(str::len),
        Some(20),
        "status survived the restart"
    );
    assert_eq!(syncs_alive(&uid), 0);
    assert_eq!(tree(&dest), tree(&source));
    let counters = counters(&op);
    assert!(
        counters.contains(
            &r#"datamover_data_sync_operations_total{status="success",namespace="default"} 1"#
                .to_owned()
        ),
        "{counters:?}"
    );
    // The Job was created (and counted) by the killed process; the restarted one adopts
    // it and creates nothing.
    assert!(
        !counters
            .iter()
            .any(|c| c.starts_with("datamover_pod_creation_operations_total")),
        "{counters:?}"
    );
}

#[test]
fn a_hundred_datamovers_at_once_should_all_complete_and_the_metrics_add_up() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    sample_tree(&source, 4096);
    let op = start(&dir.join("data"));
    let mut yaml = pvc("data", &source);
    for i in 0..100 {
        let dest = dir.join(format!("dest/{i}"));
        yaml.push_str(&secret(
            &format!("dest-{i}"),
            &[("DESTINATION", &dest.display().to_string())],
        ));
        yaml.push_str(&datamover(
            &format!("backup-{i}"),
            "data",
            &format!("dest-{i}"),
            "  deletePvcAfterBackup: true\n",
        ));
    }
    op.apply(&yaml);
    for i in 0..100 {
        let dm = op.finished(&format!("backup-{i}"), Duration::from_secs(180));
        assert_eq!(dm["status"]["phase"], "Completed", "{dm}");
    }
    let expected = tree(&source);
    for i in [0, 42, 99] {
        assert_eq!(tree(&dir.join(format!("dest/{i}"))), expected);
    }
    assert_eq!(
        counters(&op),
        [
            r#"datamover_bytes_transferred_total{namespace="default"} 410900"#,
            r#"datamover_cleanup_operations_total{status="success",namespace="default"} 100"#,
            r#"datamover_data_sync_operations_total{status="success",namespace="default"} 100"#,
            r#"datamover_files_transferred_total{namespace="default"} 400"#,
            r#"datamover_operations_total{phase="CleaningUp",status="started",namespace="default"} 100"#,
            r#"datamover_operations_total{phase="CleaningUp",status="success",namespace="default"} 100"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 100"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 100"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 100"#,
            r#"datamover_operations_total{phase="CreatingPod",status="success",namespace="default"} 100"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 100"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 100"#,
            // Both kinds exist from the start, at 0: no write was refused.
            r#"datamover_store_write_errors_total{kind="io"} 0"#,
            r#"datamover_store_write_errors_total{kind="no_space"} 0"#,
        ]
    );
}

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

#[test]
fn stopping_the_operator_should_stop_its_sync_jobs() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    sample_tree(&source, 64 * 1024 * 1024);
    let mut op = start(&dir.join("data"));
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret(
            "local",
            &[("DESTINATION", &dir.join("dest").display().to_string())]
        ),
        // 2 MiB/s for 64 MiB: far longer than the 5 s shutdown deadline.
        datamover(
            "long",
            "data",
            "local",
            "  additionalEnv:\n    - {name: RCLONE_BWLIMIT, value: 2M}\n"
        ),
    ));
    let uid = running_job(&op, "long");
    assert_eq!(syncs_alive(&uid), 1);
    // SIGTERM: the operator stops taking work, waits at most 5 s, then cuts the sync off.
    op.sigterm();
    let deadline = Instant::now() + Duration::from_secs(20);
    while op.try_wait().is_none() {
        assert!(
            Instant::now() < deadline,
            "the operator did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(syncs_alive(&uid), 0, "a sync job outlived the operator");
}

/// The value of the sample `series` (exact labels) in an exposition, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn with_one_worker_twenty_throttled_syncs_should_run_at_once_and_no_reconcile_should_wait() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    // 2 MiB at 32 KiB/s: each sync takes about a minute.
    std::fs::write(source.join("data.bin"), noise(2 * 1024 * 1024, 7)).unwrap();
    let op = operator(dir.join("data"))
        .args(["--concurrency", "1", "--max-concurrent-syncs", "20"])
        .start();
    let mut yaml = pvc("data", &source);
    for i in 0..20 {
        // Each to its own destination.
        let dest = dir.join("dest").join(i.to_string());
        yaml.push_str(&secret(
            &format!("local{i:02}"),
            &[("DESTINATION", &dest.display().to_string())],
        ));
        yaml.push_str(&datamover(
            &format!("dm{i:02}"),
            "data",
            &format!("local{i:02}"),
            "  additionalEnv:\n    - {name: RCLONE_BWLIMIT, value: 32k}\n",
        ));
    }
    op.apply(&yaml);
    // Scrape twice a second for 60 s: every pod runs at once, and the work queue's longest
    // running reconcile never reaches a second.
    let (mut peak_running, mut peak_longest) = (0.0f64, 0.0f64);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let text = op.metrics();
        peak_running = peak_running
            .max(sample(&text, r#"datamover_syncs_running{namespace="default"}"#).unwrap_or(0.0));
        peak_longest = peak_longest.max(
            sample(
                &text,
                r#"workqueue_longest_running_processor_seconds{name="datamover",controller="datamover"}"#,
            )
            .unwrap(),
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(peak_running, 20.0, "all twenty pods at once");
    assert!(peak_longest < 1.0, "a reconcile ran {peak_longest} s");
    // Meanwhile each DataMover shows its live progress.
    let out = Command::new(BIN)
        .args(["get", "dm", "dm07", "-o", "json"])
        .args(op.cli_args())
        .output()
        .unwrap();
    let dm: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dm["status"]["phase"], "CreatingPod", "{dm}");
    let progress = &dm["status"]["progress"];
    assert!(progress["bytes"].as_u64().unwrap() > 0, "{dm}");
    assert_eq!(progress["totalBytes"], 2 * 1024 * 1024, "{dm}");
}

#[test]
fn deleting_a_datamover_mid_sync_should_delete_its_job_and_stop_rclone_within_5_seconds() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    sample_tree(&source, 16 * 1024 * 1024);
    let op = start(&dir.join("data"));
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret(
            "local",
            &[("DESTINATION", &dir.join("dest").display().to_string())]
        ),
        datamover(
            "doomed",
            "data",
            "local",
            "  additionalEnv:\n    - {name: RCLONE_BWLIMIT, value: 256k}\n"
        ),
    ));
    let uid = running_job(&op, "doomed");
    let job = job_of(&op, "doomed").unwrap();
    let job_name = job["metadata"]["name"].as_str().unwrap().to_owned();
    assert_eq!(syncs_alive(&uid), 1);
    let out = Command::new(BIN)
        .args(["delete", "dm", "doomed"])
        .args(op.cli_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let deleted = Instant::now();
    while syncs_alive(&uid) > 0 {
        assert!(
            deleted.elapsed() < Duration::from_secs(5),
            "rclone outlived its deleted Job by 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = op
        .api(
            "GET",
            &format!("/apis/batch/v1/namespaces/default/jobs/{job_name}"),
            None,
        )
        .status;
    assert_eq!(status, 404, "the Job is deleted with its owner");
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
