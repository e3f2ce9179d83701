//! Failures of each phase (clone, job creation, sync, cleanup, a clone unbound past the
//! timeout): the DataMover fails with the reason and the failure is counted.

use crate::helpers::*;
use datamover::backend::CloneState;
use datamover::job;
use datamover::types::Condition;

#[tokio::test(start_paused = true)]
async fn a_clone_that_fails_should_fail_the_datamover_and_count_the_phase_failure() {
    let h = Harness::new(Scripted {
        clone_fails: Some("the source volume is not a directory"),
        ..Scripted::with(datamover(false))
    });
    assert_eq!(h.step().await, "CreatingClonedPVC");
    assert_eq!(h.step().await, "Failed");
    let ready = h.condition("Ready");
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        ("CloneFailed", "the source volume is not a directory")
    );
    assert_eq!(
        h.counters(),
        [
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_that_cannot_be_created_should_fail_the_datamover_and_count_the_pod_creation_failure()
{
    let h = Harness::new(Scripted {
        create_job_fails: Some("jobs.batch is forbidden"),
        ..Scripted::with(datamover(false))
    });
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "Failed",
    ] {
        assert_eq!(h.step().await, expected);
    }
    let ready = h.condition("Ready");
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        (
            "JobCreationFailed",
            "cannot create the sync Job: jobs.batch is forbidden"
        )
    );
    assert_eq!(
        h.counters(),
        [
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="failure",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 1"#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_sync_that_fails_for_good_should_fail_the_datamover_with_the_last_pods_error() {
    let h = Harness::new(Scripted::with(datamover(true)));
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "CreatingPod",
    ] {
        assert_eq!(h.step().await, expected);
    }
    h.cluster.set_job_status(|j| {
        j.status.failed = 3;
        j.status.last_pod_error = "connection refused".into();
        j.status.conditions.push(Condition {
            type_: "Failed".into(),
            status: "True".into(),
            reason: "BackoffLimitExceeded".into(),
            message: "3 pods failed, backoffLimit is 2; the last one: connection refused".into(),
            ..Condition::default()
        });
    });
    assert_eq!(h.step().await, "Failed");
    let status = h.cluster.dm().status;
    assert_eq!((status.attempts, status.failed_attempts), (3, 3));
    assert_eq!(
        status.last_error,
        "BackoffLimitExceeded: 3 pods failed, backoffLimit is 2; the last one: connection refused"
    );
    assert_eq!(h.condition("Ready").reason, "BackoffLimitExceeded");
    // Failed is final: nothing more happens, nothing more is counted.
    assert_eq!(h.step().await, "Failed");
    assert_eq!(
        h.counters(),
        [
            r#"datamover_data_sync_operations_total{status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 1"#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cleanup_that_fails_should_fail_the_datamover_and_count_the_cleanup_failure() {
    let h = Harness::new(Scripted {
        delete_fails: Some("removing the clone: permission denied"),
        ..Scripted::with(datamover(true))
    });
    for expected in [
        "CreatingClonedPVC",
        "ClonedPVCReady",
        "CreatingPod",
        "CreatingPod",
    ] {
        assert_eq!(h.step().await, expected);
    }
    h.cluster.set_job_status(|j| complete(j, 10));
    assert_eq!(h.step().await, "CleaningUp");
    assert_eq!(h.step().await, "Failed");
    let ready = h.condition("Ready");
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        ("CleanupFailed", "removing the clone: permission denied")
    );
    assert_eq!(h.cluster.job().outcome(), Some(job::JobOutcome::Complete));
    assert_eq!(
        h.counters(),
        [
            r#"datamover_bytes_transferred_total{namespace="default"} 10"#,
            r#"datamover_cleanup_operations_total{status="failure",namespace="default"} 1"#,
            r#"datamover_data_sync_operations_total{status="success",namespace="default"} 1"#,
            r#"datamover_files_transferred_total{namespace="default"} 3"#,
            r#"datamover_operations_total{phase="CleaningUp",status="failure",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CleaningUp",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="started",namespace="default"} 1"#,
            r#"datamover_operations_total{phase="CreatingPod",status="success",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="started",namespace="default"} 1"#,
            r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 1"#,
        ]
    );
}

/// A clone still unbound at the bind timeout fails the DataMover, counted once.
#[tokio::test(start_paused = true)]
async fn a_clone_unbound_past_the_timeout_should_fail_the_datamover() {
    let cluster = Scripted {
        bind_timeout: Some(std::time::Duration::ZERO),
        ..Scripted::with(datamover(false))
    };
    *cluster.clone_state.lock().unwrap() = Some(CloneState::Pending);
    let h = Harness::new(cluster);
    assert_eq!(h.step().await, "CreatingClonedPVC");
    assert_eq!(h.step().await, "Failed");
    let dm = h.cluster.dm();
    assert_eq!(h.condition("Ready").reason, "CloneNotBound");
    assert!(
        dm.status.last_error.contains("is not Bound after 0s"),
        "{}",
        dm.status.last_error
    );
    assert!(h.counters().contains(
        &r#"datamover_operations_total{phase="CreatingClonedPVC",status="failure",namespace="default"} 1"#.to_owned()
    ), "{:?}", h.counters());
}
