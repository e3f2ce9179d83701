//! Restores on Kubernetes: the volume-populator pattern.

use super::*;

const PVC_UID: &str = "11111111-2222-3333-4444-555555555555";
const PRIME: &str = "prime-11111111-2222-3333-4444-555555555555";
const RESTORE_JOB: &str = "restored-restore-11111111";
const PV: &str = "/api/v1/persistentvolumes/pv-restored-1";

fn restoring_pvc() -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "restored", "namespace": "default", "uid": PVC_UID,
                        "resourceVersion": "3",
                        "annotations": {"volume.kubernetes.io/selected-node": "node-a"}},
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "csi-rbd",
                    "volumeMode": "Filesystem",
                    "resources": {"requests": {"storage": "5Gi"}},
                    "dataSourceRef": {"apiGroup": "datamover.a-cup-of.coffee",
                                      "kind": "DataMoverPopulator", "name": "nightly"}},
           "status": {"phase": "Pending"}})
}

fn populator() -> Value {
    json!({"apiVersion": "datamover.a-cup-of.coffee/v1alpha1", "kind": "DataMoverPopulator",
           "metadata": {"name": "nightly", "namespace": "default", "uid": "pop-uid",
                        "resourceVersion": "4"},
           "spec": {"secretName": "creds", "path": "2026-11-30-030000"}})
}

/// The restore pod once rclone exited, its termination message `message`.
fn pod(message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "restored-restore-11111111-x1", "namespace": "default",
                        "creationTimestamp": "2026-11-30T12:00:01Z",
                        "labels": {"job-name": RESTORE_JOB}},
           "spec": {"containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]},
           "status": {"containerStatuses": [{"name": "rclone", "ready": false, "restartCount": 0,
               "image": "", "imageID": "",
               "state": {"terminated": {"exitCode": 0, "message": message}}}]}})
}

/// The API server: the restoring PVC, the populator (if `with_populator`), the secret;
/// the prime and the Job created; the first Job and PVC watches send `job_status` and
/// the prime bound once `go` is notified; pods listed as `pod`.
fn script(
    with_populator: bool,
    job_status: Value,
    pod: Value,
    go: (Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>),
) -> impl FnMut(&Req) -> Reply + Send + 'static {
    let created = Arc::new(Mutex::new(0u32));
    let mut watched = HashSet::new();
    let owner = json!([{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "restored",
                        "uid": PVC_UID, "controller": true, "blockOwnerDeletion": true}]);
    // The Job and the prime as the watches send them once the Job ran.
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": RESTORE_JOB, "namespace": "default", "uid": "created-1",
                     "resourceVersion": "50", "creationTimestamp": "2026-11-30T12:00:00Z",
                     "labels": {"datamover.a-cup-of.coffee/operation": "restore",
                                "datamover.a-cup-of.coffee/populator": "nightly"},
                     "ownerReferences": owner},
        "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]}}},
        "status": job_status});
    let prime = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": PRIME, "namespace": "default", "uid": "created-0",
                     "resourceVersion": "51", "ownerReferences": owner},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "csi-rbd",
                 "resources": {"requests": {"storage": "5Gi"}}, "volumeName": "pv-restored-1"},
        "status": {"phase": "Bound"}});
    move |r: &Req| {
        let first_watch = r.is_watch() && watched.insert(r.path.clone());
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", ALL_JOBS) if first_watch => Reply::EventsWhen(
                Arc::clone(&go.0),
                vec![json!({"type": "MODIFIED", "object": job.clone()})],
            ),
            ("GET", PVCS) if first_watch => Reply::EventsWhen(
                Arc::clone(&go.1),
                vec![json!({"type": "MODIFIED", "object": prime.clone()})],
            ),
            _ if r.is_watch() => Reply::Hold,
            ("GET", PVCS) => list("PersistentVolumeClaimList", "3", vec![restoring_pvc()]),
            ("GET", POPULATORS) => list(
                "DataMoverPopulatorList",
                "4",
                if with_populator {
                    vec![populator()]
                } else {
                    vec![]
                },
            ),
            ("GET", SCHEDULES) => list("DataMoverScheduleList", "4", vec![]),
            ("POST", NS_PVCS) | ("POST", JOBS) => {
                let mut object = r.body.clone();
                let mut n = created.lock().unwrap();
                object["metadata"]["uid"] = json!(format!("created-{n}"));
                object["metadata"]["resourceVersion"] = json!(format!("{}", 40 + *n));
                object["metadata"]["creationTimestamp"] = json!("2026-11-30T12:00:00Z");
                object["status"] = json!({});
                *n += 1;
                Reply::Json(201, object)
            }
            ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
            ("GET", PODS) => list("PodList", "60", vec![pod.clone()]),
            ("PATCH", PV) => Reply::Json(
                200,
                json!({"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": "pv-restored-1", "resourceVersion": "61"},
                "spec": {"claimRef": r.body["spec"]["claimRef"].clone()}}),
            ),
            ("DELETE", _) => Reply::Json(
                200,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            ),
            _ => quiet(r),
        }
    }
}

async fn step(cluster: &KubeCluster, ctx: &Arc<RestoreContext>) -> Action {
    let pvc =
        Store::<PersistentVolumeClaim>::get(cluster, &ObjectKey::namespaced("default", "restored"))
            .unwrap();
    restore::reconcile(pvc, Arc::clone(ctx)).await.unwrap()
}

fn events(log: &Log) -> Vec<Value> {
    calls(log)
        .into_iter()
        .filter(|r| r.is("POST", EVENTS))
        .map(|r| {
            let b = r.body;
            json!({"type": b["type"], "reason": b["reason"], "note": b["note"],
                   "regarding": b["regarding"]})
        })
        .collect()
}

fn regarding() -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "restored",
           "namespace": "default", "uid": PVC_UID, "resourceVersion": "3"})
}

async fn started(
    with_populator: bool,
    job_status: Value,
    pod: Value,
) -> (
    KubeCluster,
    Log,
    tmc_metrics::Metrics,
    Arc<RestoreContext>,
    [Arc<tokio::sync::Notify>; 2],
) {
    let go = [
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    ];
    let (cluster, log, m) = boot(script(
        with_populator,
        job_status,
        pod,
        (Arc::clone(&go[0]), Arc::clone(&go[1])),
    ))
    .await;
    let ctx = Arc::new(RestoreContext {
        cluster: Arc::new(cluster.clone()),
        metrics: m.collector(),
    });
    (cluster, log, m, ctx, go)
}

/// The prime PVC and the Job (mounting the prime) are created and the reconcile
/// returns; the Job's Complete event and the prime's binding bring it back: the PV's
/// claimRef is patched to the original claim, the prime deleted, the restore counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_populator_restore_fills_a_prime_and_rebinds_its_volume_to_the_claim() {
    let stats = r#"{"level":"notice","msg":"Transferred: 4 KiB / 4 KiB, 100%","stats":{"bytes":4096,"transfers":3,"totalBytes":4096,"totalTransfers":3,"speed":0.0,"eta":0}}"#;
    let complete = json!({"succeeded": 1, "completionTime": "2026-11-30T12:01:30Z",
        "conditions": [{"type": "Complete", "status": "True",
                        "lastTransitionTime": "2026-11-30T12:01:30Z"}]});
    let (cluster, log, m, ctx, go) = started(true, complete, pod(stats)).await;
    assert_eq!(step(&cluster, &ctx).await, Action::await_change());
    let first = calls(&log);
    let lines: Vec<String> = first.iter().map(Req::line).collect();
    assert_eq!(
        lines,
        [
            format!("POST {NS_PVCS}"),
            format!("POST {JOBS}"),
            format!("POST {EVENTS}")
        ]
    );
    assert_eq!(
        first[0].body,
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": PRIME, "namespace": "default",
                            "annotations": {"volume.kubernetes.io/selected-node": "node-a"},
                            "labels": {"app.kubernetes.io/managed-by": "datamover-operator"},
                            "ownerReferences": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                "name": "restored", "uid": PVC_UID, "controller": true,
                                "blockOwnerDeletion": true}]},
               "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "csi-rbd",
                        "volumeMode": "Filesystem",
                        "resources": {"requests": {"storage": "5Gi"}}}})
    );
    let job = &first[1].body;
    assert_eq!(job["metadata"]["name"], RESTORE_JOB);
    assert_eq!(
        job["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "restored",
                "uid": PVC_UID, "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(
        job["metadata"]["labels"]["datamover.a-cup-of.coffee/operation"],
        "restore"
    );
    let pod_spec = &job["spec"]["template"]["spec"];
    assert_eq!(
        pod_spec["volumes"],
        json!([{"name": "restored-data", "persistentVolumeClaim": {"claimName": PRIME}}]),
        "the Job fills the prime, never the claim itself"
    );
    let c = &pod_spec["containers"][0];
    assert_eq!(
        c["command"],
        json!(["/bin/sh", "-c", restore::RESTORE_SCRIPT])
    );
    assert_eq!(
        c["env"],
        json!([{"name": "RESTORE_PATH", "value": "2026-11-30-030000"},
               {"name": "RCLONE_USE_JSON_LOG", "value": "true"},
               {"name": "RCLONE_STATS", "value": "1m"},
               {"name": "RCLONE_STATS_LOG_LEVEL", "value": "NOTICE"},
               {"name": "RCLONE_LOG_FILE", "value": "/dev/termination-log"},
               // The secret's AWS_CA_BUNDLE as rclone's --ca-cert; never itself.
               {"name": "RCLONE_CA_CERT", "valueFrom": {"secretKeyRef":
                   {"name": "creds", "key": "AWS_CA_BUNDLE", "optional": true}}},
               {"name": "AWS_CA_BUNDLE"}])
    );
    assert_eq!(c["envFrom"], json!([{"secretRef": {"name": "creds"}}]));
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "restored-data", "mountPath": "/data/"}])
    );
    assert_eq!(pod_spec["securityContext"]["fsGroup"], 65534);

    // Nothing is done while the Job runs.
    assert_eq!(step(&cluster, &ctx).await, Action::await_change());
    assert_eq!(calls(&log).len(), 3);

    go[0].notify_one();
    go[1].notify_one();
    eventually(|| {
        let prime: Option<Arc<PersistentVolumeClaim>> =
            Store::get(&cluster, &ObjectKey::namespaced("default", PRIME));
        let job: Option<Arc<datamover::job::Job>> =
            Store::get(&cluster, &ObjectKey::namespaced("default", RESTORE_JOB));
        prime.is_some_and(|p| p.status.phase == "Bound")
            && job.is_some_and(|j| j.status.progress.is_some())
    })
    .await;
    assert_eq!(step(&cluster, &ctx).await, Action::await_change());
    let all = calls(&log);
    let rest: Vec<&Req> = all.iter().skip(3).filter(|r| !r.is("GET", PODS)).collect();
    let lines: Vec<String> = rest.iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        [
            format!("PATCH {PV}"),
            format!("DELETE {NS_PVCS}/{PRIME}"),
            format!("POST {EVENTS}")
        ]
    );
    assert_eq!(
        rest[0].body,
        json!({"spec": {"claimRef": {"namespace": "default", "name": "restored",
                                     "uid": PVC_UID, "resourceVersion": null}}})
    );
    assert_eq!(
        events(&log),
        [
            json!({"type": "Normal", "reason": "RestoreStarted",
                   "note": format!("restoring 2026-11-30-030000 of DataMoverPopulator nightly into {PRIME} (Job {RESTORE_JOB})"),
                   "regarding": regarding()}),
            json!({"type": "Normal", "reason": "Restored",
                   "note": "restored from DataMoverPopulator nightly: 4096 bytes, 3 files; volume pv-restored-1 bound to this claim",
                   "regarding": regarding()}),
        ]
    );
    let text = m.render();
    for line in [
        r#"datamover_restore_operations_total{status="started",namespace="default"} 1"#,
        r#"datamover_restore_operations_total{status="success",namespace="default"} 1"#,
        r#"datamover_restored_bytes_total{namespace="default"} 4096"#,
        r#"datamover_restore_duration_seconds_sum{namespace="default"} 90"#,
        r#"datamover_restore_duration_seconds_count{namespace="default"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    // Handled: a later reconcile (the prime's deletion event) writes nothing more.
    let before = calls(&log).len();
    assert_eq!(step(&cluster, &ctx).await, Action::await_change());
    assert_eq!(calls(&log).len(), before);
    assert_granted(&log);
}

/// A failed Job (a missing backup path): nothing is rebound, the prime is deleted, a
/// Warning Event carries the Job's reason and rclone's error, the failure is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_restore_rebinds_nothing_and_says_why() {
    let log_tail = concat!(
        r#"{"level":"error","msg":"Failed to copy: directory not found","source":"cmd/cmd.go:529"}"#,
        "\n"
    );
    let failed = json!({"failed": 3, "conditions": [{"type": "Failed", "status": "True",
        "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit",
        "lastTransitionTime": "2026-11-30T12:02:00Z"}]});
    let (cluster, log, m, ctx, go) = started(true, failed, pod(log_tail)).await;
    step(&cluster, &ctx).await;
    go[0].notify_one();
    go[1].notify_one();
    eventually(|| {
        let job: Option<Arc<datamover::job::Job>> =
            Store::get(&cluster, &ObjectKey::namespaced("default", RESTORE_JOB));
        job.is_some_and(|j| !j.status.last_pod_error.is_empty())
    })
    .await;
    step(&cluster, &ctx).await;
    let lines: Vec<String> = calls(&log)
        .iter()
        .filter(|r| !r.is("GET", PODS))
        .map(Req::line)
        .collect();
    assert_eq!(
        lines,
        [
            format!("POST {NS_PVCS}"),
            format!("POST {JOBS}"),
            format!("POST {EVENTS}"),
            format!("DELETE {NS_PVCS}/{PRIME}"),
            format!("POST {EVENTS}"),
        ],
        "no PersistentVolume is patched"
    );
    assert_eq!(
        events(&log)[1],
        json!({"type": "Warning", "reason": "RestoreFailed",
               "note": "restoring from DataMoverPopulator nightly failed: BackoffLimitExceeded: Job has reached the specified backoff limit; rclone: Failed to copy: directory not found",
               "regarding": regarding()})
    );
    let text = m.render();
    for line in [
        r#"datamover_restore_operations_total{status="failure",namespace="default"} 1"#,
        r#"datamover_restore_duration_seconds_sum{namespace="default"} 120"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(!text.contains(r#"datamover_restore_operations_total{status="success""#));
    assert_granted(&log);
}

/// The populator missing: a Warning Event naming what to create, nothing created, a
/// requeue later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_populator_is_named_and_retried() {
    let (cluster, log, _m, ctx, _go) = started(false, json!({}), json!({})).await;
    assert_eq!(
        step(&cluster, &ctx).await,
        Action::requeue(datamover::populator::RETRY_MISSING)
    );
    let lines: Vec<String> = calls(&log).iter().map(Req::line).collect();
    assert_eq!(lines, [format!("POST {EVENTS}")]);
    assert_eq!(
        events(&log),
        [json!({"type": "Warning", "reason": "PopulatorNotFound",
                "note": "the DataMoverPopulator default/nightly (spec.dataSourceRef.name) does not exist: create it",
                "regarding": regarding()})]
    );
}
