//! Sync jobs under pressure: a kill -9 mid-sync, a hundred DataMovers at once, the operator
//! stopped, one worker with twenty throttled syncs, a DataMover deleted mid-sync.

use crate::helpers::*;
use crate::support::{BIN, noise, operator, require_rclone, tempdir};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

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
