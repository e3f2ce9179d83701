//! Contract test of a failed sync on the Kubernetes backend: rclone's own words, from the
//! last pod's termination message (rclone's log file, `RCLONE_LOG_FILE=/dev/termination-log`),
//! reach the DataMover's `lastError`, its condition and its Warning Event, scrubbed of the
//! secret's values. A kube-rs `Client` over a scripted mock service (no API server runs
//! here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use fake::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tmc_runtime::{ObjectKey, Store};

/// What rclone 1.60 wrote to its log file when `AWS_CA_BUNDLE` reached it (real rclone,
/// `RCLONE_USE_JSON_LOG=true RCLONE_LOG_FILE=...`): a JSON warning, then the plain line it
/// prints when it cannot build the remote, its message going on over a second line.
const TERMINATION_MESSAGE: &str = concat!(
    r#"{"level":"warning","msg":"Config file \"/.config/rclone/rclone.conf\" not found - using defaults","source":"config/config.go:362","time":"2026-12-06T05:17:05.534747+00:00"}"#,
    "\n",
    r#"2026/12/06 05:17:05 Failed to create file system for "DATAMOVERS3:backups/2026-12-06-051700": LoadCustomCABundleError: unable to load custom CA bundle, HTTPClient's transport unsupported type"#,
    "\ncaused by: unsupported transport, *fshttp.Transport\n",
);

/// rclone's words as the DataMover shows them: the bucket (`BUCKET_NAME`, a secret value)
/// scrubbed, the two lines one.
const RCLONE_SAYS: &str = r#"Failed to create file system for "DATAMOVERS3:***/2026-12-06-051700": LoadCustomCABundleError: unable to load custom CA bundle, HTTPClient's transport unsupported type; caused by: unsupported transport, *fshttp.Transport"#;

/// A sync whose three pods could not start fails with the Job controller's reason and
/// rclone's start-up line, in the status, the condition and the Warning Event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_cannot_start_fails_in_rclones_words_scrubbed() {
    let object = Arc::new(Mutex::new(Object {
        value: datamover(
            "nightly",
            "10",
            json!({"phase": "CreatingPod", "phaseStartedAtMs": datamover::time::now_ms(),
                   "restoredPvcName": "data-cloned-1", "jobName": "nightly-sync-0a1b2c3d",
                   "destination": "s3:backups"}),
        ),
        version: 10,
        conflicts: 0,
    }));
    let dm = Arc::clone(&object);
    let job_watches = Arc::new(AtomicUsize::new(0));
    let watches = Arc::clone(&job_watches);
    let mut failed = job(
        &json!({"failed": 3, "conditions": [{"type": "Failed", "status": "True",
        "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}),
    );
    // Its pods take their environment from the secret, as the operator's Jobs do.
    failed["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
        json!([{"secretRef": {"name": "creds"}}]);
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        // The Job fails while the DataMover waits in CreatingPod: one watch event.
        (_, ALL_JOBS) if r.is_watch() => {
            if watches.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::Events(vec![json!({"type": "MODIFIED", "object": failed.clone()})])
            } else {
                Reply::Hold
            }
        }
        _ if r.is_watch() => Reply::Hold,
        ("GET", DM) => list(
            "DataMoverList",
            "10",
            vec![dm.lock().unwrap().value.clone()],
        ),
        ("GET", PVCS) => list(
            "PersistentVolumeClaimList",
            "20",
            vec![pvc("data", "Bound"), owned(pvc("data-cloned-1", "Bound"))],
        ),
        ("GET", PODS) => list(
            "PodList",
            "31",
            vec![json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "nightly-sync-0a1b2c3d-x7k2p", "namespace": "default",
                             "creationTimestamp": "2026-12-06T05:17:00Z",
                             "labels": {"job-name": "nightly-sync-0a1b2c3d"}},
                "spec": {"containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]},
                "status": {"phase": "Failed", "containerStatuses": [{"name": "rclone", "ready": false,
                    "restartCount": 0, "image": "ghcr.io/qjoly/datamover-rclone:latest", "imageID": "",
                    "state": {"terminated": {"exitCode": 1, "reason": "Error",
                                             "message": TERMINATION_MESSAGE}}}]}})],
        ),
        ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
        ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
        _ => status(404, "NotFound"),
    };
    let (cluster, log, _m, ctx) = start(script).await;
    // The report is read from the last pod before the DataMover sees the Job as failed.
    eventually(|| {
        let job: Option<Arc<datamover::job::Job>> = Store::get(
            &cluster,
            &ObjectKey::namespaced("default", "nightly-sync-0a1b2c3d"),
        );
        job.is_some_and(|j| !j.status.last_pod_error.is_empty())
    })
    .await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "Failed");

    let expected = format!(
        "BackoffLimitExceeded: Job has reached the specified backoff limit; rclone: {RCLONE_SAYS}"
    );
    let status = object.lock().unwrap().value["status"].clone();
    assert_eq!(status["lastError"], expected.as_str());
    let condition = |t: &str| {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            &condition("Synced")["reason"],
            &condition("Synced")["message"]
        ),
        (&json!("SyncFailed"), &json!(expected))
    );
    assert_eq!(condition("Ready")["message"], expected.as_str());
    let writes = fake::writes(&log);
    let warning = writes.iter().rfind(|r| r.path == EVENTS).unwrap();
    assert_eq!(
        (
            &warning.body["type"],
            &warning.body["reason"],
            &warning.body["note"]
        ),
        (&json!("Warning"), &json!("Failed"), &json!(expected))
    );
    // No secret value anywhere the operator wrote.
    for r in &writes {
        let body = r.body.to_string();
        assert!(
            !body.contains("backups/") && !body.contains("minio"),
            "{body}"
        );
    }
}
