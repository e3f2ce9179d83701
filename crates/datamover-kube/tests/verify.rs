//! Contract tests of `spec.verify` on the Kubernetes backend: the sync Job the reconciler
//! writes runs the sync script (the sync, then `rclone check`, in one pod), and what its
//! last pod reports in its termination message (here: the very message the real script
//! wrote over temp dirs, with the real `sh`, `awk` and rclone) becomes `status.verifiedAt`,
//! the `Verified` condition and `datamover_verify_*`, or, for a difference, the failure
//! naming the path. A kube-rs `Client` over a scripted mock service (no API server runs
//! here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use datamover::types::Verify;
use fake::*;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_runtime::{Event, ObjectKey, Store};

/// The termination message the sync script leaves after syncing a small source to a temp
/// dir and checking it (`mode`); with `damaged`, a byte of the copy was changed (same size
/// and time) before the run, so the check fails naming it.
fn termination_message(mode: Verify, damaged: bool) -> String {
    let dir = tmc_test_support::tempdir();
    let (source, dest, log) = (dir.join("s"), dir.join("d"), dir.join("log"));
    std::fs::create_dir_all(source.join("a")).unwrap();
    std::fs::write(source.join("a/big.bin"), vec![7u8; 4096]).unwrap();
    let run = || {
        let mut command = std::process::Command::new("/bin/sh");
        command
            .args(["-c", &datamover_kube::verify::sync_script(mode), "sync"])
            .arg(format!("{}/", source.display()))
            .env("DESTINATION", &dest)
            .env_remove("RCLONE_CONFIG")
            .env_remove("AWS_CA_BUNDLE")
            .envs(datamover::job::STATS_ENV)
            .env("RCLONE_LOG_FILE", &log);
        let _ = std::fs::remove_file(&log);
        let status = command.status().unwrap();
        (status.success(), std::fs::read_to_string(&log).unwrap())
    };
    if damaged {
        assert!(run().0);
        let file = dest.join("a/big.bin");
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[100] = 8;
        std::fs::write(&file, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    let (ok, message) = run();
    assert_eq!(ok, !damaged, "{message}");
    message
}

fn pod(exit_code: i32, message: &str) -> Value {
    pod_at("x7k2p", "2026-01-01T00:01:00Z", exit_code, message)
}

/// The Job's pod `suffix`, created `at`, whose container exited with `exit_code`
/// leaving `message`.
fn pod_at(suffix: &str, at: &str, exit_code: i32, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": format!("nightly-sync-0a1b2c3d-{suffix}"), "namespace": "default",
                        "creationTimestamp": at,
                        "labels": {"job-name": "nightly-sync-0a1b2c3d"}},
           "spec": {"containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]},
           "status": {"phase": if exit_code == 0 { "Succeeded" } else { "Failed" },
               "containerStatuses": [{"name": "rclone", "ready": false,
               "restartCount": 0, "image": "ghcr.io/qjoly/datamover-rclone:latest", "imageID": "",
               "state": {"terminated": {"exitCode": exit_code, "message": message}}}]}})
}

/// The DataMover `nightly` (`verify: checksum`, its clone bound, in `CreatingPod`) and a
/// server whose Job takes the next of `job_statuses` each time `done` is set, its pod
/// leaving `pods`.
fn scenario(
    job_statuses: Vec<Value>,
    pods: Vec<Value>,
) -> (
    Arc<Mutex<Object>>,
    Arc<AtomicBool>,
    impl FnMut(&Req) -> Reply + Send + 'static,
) {
    let mut value = datamover(
        "nightly",
        "10",
        json!({"phase": "CreatingPod", "phaseStartedAtMs": datamover::time::now_ms(),
               "restoredPvcName": "data-cloned-1"}),
    );
    value["spec"]["verify"] = json!("checksum");
    let object = Arc::new(Mutex::new(Object {
        value,
        version: 10,
        conflicts: 0,
    }));
    let dm = Arc::clone(&object);
    let done = Arc::new(AtomicBool::new(false));
    let ended = Arc::clone(&done);
    let created: Arc<Mutex<Option<Value>>> = Arc::default();
    let mut statuses = job_statuses.into_iter();
    let script = move |r: &Req| {
        if r.path == ALL_JOBS && r.is_watch() {
            let job = created.lock().unwrap().clone();
            return match job.filter(|_| ended.swap(false, Ordering::SeqCst)) {
                Some(mut job) => {
                    job["status"] = statuses.next().unwrap();
                    job["metadata"]["resourceVersion"] = json!("31");
                    Reply::Events(vec![json!({"type": "MODIFIED", "object": job})])
                }
                None => Reply::Events(vec![]),
            };
        }
        if r.is_watch() {
            return Reply::Hold;
        }
        match (r.method.as_str(), r.path.as_str()) {
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
            ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
            ("POST", JOBS) => {
                let mut job = r.body.clone();
                job["metadata"]["uid"] = json!("job-uid");
                job["metadata"]["resourceVersion"] = json!("30");
                job["metadata"]["creationTimestamp"] = json!("2026-01-01T00:01:00Z");
                job["status"] = json!({});
                *created.lock().unwrap() = Some(job.clone());
                Reply::Json(201, job)
            }
            ("GET", PODS) => list("PodList", "31", pods.clone()),
            ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
            ("DELETE", p) if p.starts_with(NS_PVCS) => Reply::Json(200, pvc("gone", "Bound")),
            _ => status(404, "NotFound"),
        }
    };
    (object, done, script)
}

/// Waits for an event of the Job that `f` holds for.
async fn job_event(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event<datamover::job::Job>>,
    f: impl Fn(&datamover::job::Job) -> bool,
) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Applied(j) if f(&j) => return,
            _ => {}
        }
    }
}

/// Waits for the Job's event once it has ended (its report read).
async fn ended(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event<datamover::job::Job>>) {
    job_event(events, |j| j.outcome().is_some()).await;
}

fn condition(status: &Value, type_: &str) -> Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
        .unwrap_or(Value::Null)
}

/// A clean copy: the Job runs the script with the check, and the pod's report records
/// the check in the status and the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_sync_job_records_the_check_its_pod_reports() {
    let message = termination_message(Verify::Checksum, false);
    let ms = datamover::verify::verified_ms(&message).unwrap();
    let (object, done, script) = scenario(
        vec![json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})],
        vec![pod(0, &message)],
    );
    let (cluster, log, m, ctx) = start(script).await;
    let mut events = Store::<datamover::job::Job>::watch(&cluster);
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");

    // The Job the reconciler wrote: the shared sync Job, its container running the sync
    // script on the clone's mount, VERIFY set.
    let writes = fake::writes(&log);
    let post = writes.iter().find(|r| r.is("POST", JOBS)).unwrap();
    let c = &post.body["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["command"],
        json!([
            "/bin/sh",
            "-c",
            datamover_kube::verify::sync_script(Verify::Checksum),
            "datamover-sync",
            "/data/"
        ])
    );
    assert_eq!(c["env"][1], json!({"name": "VERIFY", "value": "checksum"}));
    // The folder the script writes into (addTimestampPrefix: true) is decided by the
    // operator and named in the Job, last so additionalEnv cannot change it; it is the
    // folder the status names, not the Job's creation second the server answered
    // (2026-01-01T00:01:00Z) nor a second the pod's clock picks.
    let env = c["env"].as_array().unwrap();
    let last = env.last().unwrap();
    assert_eq!(last["name"], "TIMESTAMP_FOLDER");
    let folder = last["value"].as_str().unwrap().to_owned();
    assert!(datamover::time::is_prefix(&folder), "{folder}");
    assert_ne!(folder, "2026-01-01-000100");
    assert_eq!(
        env.iter()
            .filter(|e| e["name"] == "TIMESTAMP_FOLDER")
            .count(),
        1
    );
    let patch = writes
        .iter()
        .find(|r| {
            r.is("PATCH", DM_STATUS) && r.body["status"]["jobName"] == "nightly-sync-0a1b2c3d"
        })
        .unwrap();
    assert_eq!(
        patch.body["status"]["destination"],
        json!(format!("s3:backups/{folder}"))
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "restored-data", "mountPath": "/data/"}])
    );
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        post.body["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "data-cloned-1"
    );

    done.store(true, Ordering::SeqCst);
    ended(&mut events).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CleaningUp");
    let status = object.lock().unwrap().value["status"].clone();
    let verified = condition(&status, "Verified");
    #[allow(clippy::cast_precision_loss)]
    let expected = format!(
        "the checksum check found no difference ({:.1} s)",
        ms as f64 / 1000.0
    );
    assert_eq!(
        (
            &verified["status"],
            &verified["reason"],
            &verified["message"]
        ),
        (&json!("True"), &json!("Verified"), &json!(expected))
    );
    assert!(
        datamover::time::parse_rfc3339(status["verifiedAt"].as_str().unwrap()).is_some(),
        "{status}"
    );
    assert_eq!(status["destination"], json!(format!("s3:backups/{folder}")));
    // The sync's statistics, not the check's.
    assert_eq!(status["bytesTransferred"], 4096);
    assert_eq!(status["filesTransferred"], 1);
    let text = m.render();
    for line in [
        r#"datamover_verify_operations_total{status="success",namespace="default"} 1"#,
        r#"datamover_verify_duration_seconds_count{namespace="default"} 1"#,
        r#"datamover_data_sync_operations_total{status="success",namespace="default"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(
        !text.contains(r#"datamover_verify_operations_total{status="failure""#),
        "{text}"
    );
}

/// A byte changed at the destination: the pod fails its check, and the Job's failure
/// names the path in the status, the condition and the failure count. The Job controller
/// counts the failed pods before it marks the Job failed; only then is the last pod's
/// reason read: the check's failure is counted then, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_check_fails_the_datamover_naming_the_path_and_is_counted() {
    let message = termination_message(Verify::Checksum, true);
    let (object, done, script) = scenario(
        vec![
            json!({"failed": 3}),
            json!({"failed": 3, "conditions": [{"type": "Failed", "status": "True",
                "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}),
        ],
        vec![pod(1, &message)],
    );
    let (cluster, _log, m, ctx) = start(script).await;
    let mut events = Store::<datamover::job::Job>::watch(&cluster);
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    done.store(true, Ordering::SeqCst);
    job_event(&mut events, |j| j.status.failed == 3).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    assert_eq!(object.lock().unwrap().value["status"]["failedAttempts"], 3);
    done.store(true, Ordering::SeqCst);
    ended(&mut events).await;
    let job: Arc<datamover::job::Job> = Store::get(
        &cluster,
        &ObjectKey::namespaced("default", "nightly-sync-0a1b2c3d"),
    )
    .unwrap();
    assert!(!job.status.last_pod_error.is_empty());
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "Failed");
    let status = object.lock().unwrap().value["status"].clone();
    assert_eq!(
        status["lastError"],
        "BackoffLimitExceeded: Job has reached the specified backoff limit; rclone: verification (checksum) found 1 difference between what was read and what landed: a/big.bin differs"
    );
    assert_eq!(condition(&status, "Synced")["reason"], "SyncFailed");
    assert_eq!(condition(&status, "Verified"), Value::Null);
    assert!(status.get("verifiedAt").is_none(), "{status}");
    let text = m.render();
    for line in [
        r#"datamover_verify_operations_total{status="failure",namespace="default"} 1"#,
        r#"datamover_data_sync_operations_total{status="failure",namespace="default"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(
        !text.contains(r#"datamover_verify_operations_total{status="success""#),
        "{text}"
    );
}

/// A pod that failed its check, then one that passed on the retry: the Job completes,
/// and both checks are counted once its pods are read (Kubernetes reads a pod's report
/// only once the Job has ended).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_failed_then_passed_on_a_retry_is_counted_both_ways() {
    let failed = termination_message(Verify::Checksum, true);
    let passed = termination_message(Verify::Checksum, false);
    let (object, done, script) = scenario(
        vec![
            json!({"failed": 1, "active": 1}),
            json!({"failed": 1, "succeeded": 1,
                   "conditions": [{"type": "Complete", "status": "True"}]}),
        ],
        vec![
            pod_at("b2", "2026-01-01T00:02:00Z", 0, &passed),
            pod_at("a1", "2026-01-01T00:01:00Z", 1, &failed),
        ],
    );
    let (cluster, _log, m, ctx) = start(script).await;
    let mut events = Store::<datamover::job::Job>::watch(&cluster);
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    done.store(true, Ordering::SeqCst);
    job_event(&mut events, |j| j.status.failed == 1).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    done.store(true, Ordering::SeqCst);
    ended(&mut events).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CleaningUp");
    let status = object.lock().unwrap().value["status"].clone();
    assert_eq!(condition(&status, "Verified")["status"], "True");
    let text = m.render();
    for line in [
        r#"datamover_verify_operations_total{status="failure",namespace="default"} 1"#,
        r#"datamover_verify_operations_total{status="success",namespace="default"} 1"#,
        r#"datamover_verify_duration_seconds_count{namespace="default"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
}

/// `verify: none` keeps the original Job: the image's own entrypoint, no command, and no
/// folder named (the image names its own, from its pod's start).
#[test]
fn an_unverified_sync_job_runs_the_images_entrypoint() {
    let mut dm = datamover::types::DataMover::default();
    dm.spec.secret_name = "creds".into();
    dm.spec.add_timestamp_prefix = true;
    // 2026-12-06T05:12:09.500Z
    let at = 1_796_533_929_500;
    assert_eq!(datamover::time::prefix(at), "2026-12-06-051209");
    let job = serde_json::to_value(datamover_kube::objects::sync_job(&dm, at).unwrap()).unwrap();
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c.get("command"), None, "{c}");
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["name"] != "VERIFY" && e["name"] != "TIMESTAMP_FOLDER"),
        "{c}"
    );
    dm.spec.verify = Verify::Size;
    dm.spec.additional_env = vec![datamover::types::EnvVar::new(
        "TIMESTAMP_FOLDER",
        "chosen-by-hand",
    )];
    let job = serde_json::to_value(datamover_kube::objects::sync_job(&dm, at).unwrap()).unwrap();
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["command"][2],
        json!(datamover_kube::verify::sync_script(Verify::Size))
    );
    // A verifying, prefixed Job names the folder of the second it was built in, after
    // additionalEnv (the pod sees the last of a name).
    let env = c["env"].as_array().unwrap();
    assert_eq!(
        &env[env.len() - 2..],
        [
            json!({"name": "TIMESTAMP_FOLDER", "value": "chosen-by-hand"}),
            json!({"name": "TIMESTAMP_FOLDER", "value": "2026-12-06-051209"}),
        ]
    );
    // Without the prefix, nothing to name.
    dm.spec.add_timestamp_prefix = false;
    let job = serde_json::to_value(datamover_kube::objects::sync_job(&dm, at).unwrap()).unwrap();
    let env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(env.last().unwrap()["name"], "TIMESTAMP_FOLDER");
    assert_eq!(env.last().unwrap()["value"], "chosen-by-hand");
}
