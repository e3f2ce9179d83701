//! Failures: an unreachable destination, a missing source PVC or secret; each fails with a
//! reason and is counted.

use crate::helpers::*;
use crate::support::{free_port, require_rclone, tempdir};
use std::time::Duration;

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
