//! Verification: a verified sync records its check, and a failed check is counted.

use crate::helpers::*;

#[tokio::test(start_paused = true)]
async fn a_verified_sync_records_its_check_and_a_failed_check_is_counted() {
    let mut dm = datamover(false);
    dm.spec.verify = datamover::types::Verify::Checksum;
    let h = Harness::new(Scripted::with(dm));
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "CreatingPod",
    ] {
        assert_eq!(h.step().await, expected);
    }
    let job = h.cluster.job();
    let env = &job.container().unwrap().env;
    assert_eq!(
        (env[1].name.as_str(), env[1].value.as_str()),
        ("VERIFY", "checksum")
    );
    // The first pod's check finds a difference; the second pod's passes.
    h.cluster.set_job_status(|j| {
        j.status.failed = 1;
        j.status.last_pod_error =
            "verification (checksum) found 1 difference between what was read and what landed: a.bin differs".into();
    });
    assert_eq!(h.step().await, "CreatingPod");
    h.cluster.set_job_status(|j| {
        complete(j, 10);
        j.status.progress.as_mut().unwrap().verified_ms = Some(400);
    });
    assert_eq!(h.step().await, "Completed");
    let verified = h.condition("Verified");
    assert_eq!(
        (verified.status.as_str(), verified.message.as_str()),
        ("True", "the checksum check found no difference (0.4 s)")
    );
    assert!(!h.cluster.dm().status.verified_at.is_empty());
    let text = h.metrics.render();
    for line in [
        r#"datamover_verify_operations_total{status="failure",namespace="default"} 1"#,
        r#"datamover_verify_operations_total{status="success",namespace="default"} 1"#,
        r#"datamover_verify_duration_seconds_count{namespace="default"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}
