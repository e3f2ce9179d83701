//! Contract tests of the Kubernetes backend: the real reconciler, a kube-rs `Client` over a
//! scripted mock service (no API server runs here), assertions on the exact requests sent
//! and the metrics recorded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use datamover::job::Job;
use datamover::reconciler::{Context, ReconcileError, reconcile};
use datamover::types::{DataMover, PersistentVolumeClaim};
use datamover_kube::api::RetryPolicy;
use datamover_kube::{KubeCluster, Options};
use fake::{Reply, Req, datamover, eventually, list, merge, pvc, secret, server, status};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_runtime::{Event, ObjectKey, Owned, Store};

const DM: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/datamovers";
const DM_STATUS: &str =
    "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamovers/nightly/status";
const PVCS: &str = "/api/v1/persistentvolumeclaims";
const NS_PVCS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";
const SECRET: &str = "/api/v1/namespaces/default/secrets/creds";
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const JOB: &str = "/apis/batch/v1/namespaces/default/jobs/nightly-sync-0a1b2c3d";
const ALL_JOBS: &str = "/apis/batch/v1/jobs";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const PODS: &str = "/api/v1/namespaces/default/pods";
const CSI_RBD: &str = "/apis/storage.k8s.io/v1/storageclasses/csi-rbd";
const UID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

fn options() -> Options {
    Options {
        instance: "operator-0".into(),
        retry: RetryPolicy {
            attempts: 4,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        },
        watch_backoff: Duration::from_millis(1),
        ..Options::default()
    }
}

fn metrics() -> tmc_metrics::Metrics {
    tmc_metrics::Metrics::builder()
        .upkeep_interval(None)
        .build()
        .unwrap()
}

/// The API server's side of the DataMover: status merge patches with the resourceVersion
/// precondition.
struct Object {
    value: Value,
    version: u64,
    conflicts: u32,
}

impl Object {
    fn patch_status(&mut self, r: &Req) -> Reply {
        let rv = r.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_owned();
        if self.conflicts > 0 || rv != self.version.to_string() {
            self.conflicts = self.conflicts.saturating_sub(1);
            return status(409, "Conflict");
        }
        merge(&mut self.value["status"], &r.body["status"]);
        self.version += 1;
        self.value["metadata"]["resourceVersion"] = self.version.to_string().into();
        Reply::Json(200, self.value.clone())
    }
}

fn owned(mut v: Value) -> Value {
    v["metadata"]["ownerReferences"] = json!([{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
        "kind": "DataMover", "name": "nightly", "uid": UID, "controller": true}]);
    v
}

async fn start(
    mut script: impl FnMut(&Req) -> Reply + Send + 'static,
) -> (
    KubeCluster,
    fake::Log,
    tmc_metrics::Metrics,
    Arc<Context<KubeCluster>>,
) {
    // A script that does not answer the Job watch lists no Jobs and holds the watch.
    let (client, log) = server(move |r| match script(r) {
        Reply::Json(404, _) if r.path == ALL_JOBS && r.is_watch() => Reply::Hold,
        Reply::Json(404, _) if r.path == ALL_JOBS => list("JobList", "1", vec![]),
        reply => reply,
    });
    let m = metrics();
    let cluster = KubeCluster::new(client, m.collector(), options());
    let _watches = cluster.spawn_watches();
    cluster.wait_synced().await;
    let ctx = Arc::new(Context {
        cluster: Arc::new(cluster.clone()),
        metrics: m.collector(),
    });
    (cluster, log, m, ctx)
}

async fn step(
    cluster: &KubeCluster,
    ctx: &Arc<Context<KubeCluster>>,
) -> Result<String, ReconcileError> {
    let dm =
        Store::<DataMover>::get(cluster, &ObjectKey::namespaced("default", "nightly")).unwrap();
    reconcile(dm, Arc::clone(ctx)).await?;
    Ok(
        Store::<DataMover>::get(cluster, &ObjectKey::namespaced("default", "nightly"))
            .unwrap()
            .status
            .phase
            .clone(),
    )
}

/// The sync Job as the API server returns it once created, with `status`.
fn job(status: &Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "nightly-sync-0a1b2c3d", "namespace": "default",
                        "resourceVersion": "30", "uid": "job-uid",
                        "ownerReferences": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                            "kind": "DataMover", "name": "nightly", "uid": UID, "controller": true}]},
           "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]}}},
           "status": status})
}

/// The Job's pod once rclone exited: its JSON log's tail, final statistics last, is the
/// termination message.
fn sync_pod() -> Value {
    let message = concat!(
        r#"{"level":"notice","msg":"Transferred: 1 KiB / 4 KiB","stats":{"bytes":1024,"transfers":1,"totalBytes":4096,"speed":100.0,"eta":30}}"#,
        "\n",
        r#"{"level":"notice","msg":"Transferred: 4 KiB / 4 KiB, 100%","stats":{"bytes":4096,"transfers":3,"totalBytes":4096,"totalTransfers":3,"speed":0.0,"eta":0}}"#,
        "\n"
    );
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "nightly-sync-0a1b2c3d-x7k2p", "namespace": "default",
                        "creationTimestamp": "2026-01-01T00:01:00Z",
                        "labels": {"job-name": "nightly-sync-0a1b2c3d", "batch.kubernetes.io/controller-uid": "job-uid"}},
           "spec": {"containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]},
           "status": {"phase": "Succeeded", "containerStatuses": [{"name": "rclone", "ready": false,
               "restartCount": 0, "image": "ghcr.io/qjoly/datamover-rclone:latest", "imageID": "",
               "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": message}}}]}})
}

/// A DataMover from `""` to `Completed`: the clone PVC (created once, never polled: its
/// watch event when it binds names the owner to re-queue), the Job (likewise), the status
/// patches, the Events, the cleanup, and the metrics, request by request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datamover_runs_through_clone_job_and_cleanup() {
    let object = Arc::new(Mutex::new(Object {
        value: datamover("nightly", "10", json!({})),
        version: 10,
        conflicts: 0,
    }));
    let dm = Arc::clone(&object);
    let job_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = Arc::clone(&job_done);
    let clone_bound = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bound = Arc::clone(&clone_bound);
    let created_clone: Arc<Mutex<Option<Value>>> = Arc::default();
    let clone_seen = Arc::clone(&created_clone);
    let script = move |r: &Req| {
        if r.path == PVCS && r.is_watch() {
            // The clone binds (the CSI driver copied the data): one MODIFIED event.
            let mut clone = clone_seen.lock().unwrap();
            return match clone.take() {
                Some(mut pvc) if bound.load(std::sync::atomic::Ordering::SeqCst) => {
                    pvc["status"] = json!({"phase": "Bound"});
                    pvc["metadata"]["resourceVersion"] = json!("21");
                    Reply::Events(vec![json!({"type": "MODIFIED", "object": pvc})])
                }
                other => {
                    *clone = other;
                    Reply::Events(vec![])
                }
            };
        }
        if r.path == ALL_JOBS && r.is_watch() {
            // The Job's status changes once it is done; until then the watch stays quiet
            // (it ends at once and is resumed).
            return if done.load(std::sync::atomic::Ordering::SeqCst) {
                Reply::Events(vec![json!({"type": "MODIFIED", "object": job(
                    &json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}))})])
            } else {
                Reply::Events(vec![])
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
                vec![pvc("data", "Bound")],
            ),
            ("GET", ALL_JOBS) => list("JobList", "29", vec![]),
            ("GET", SECRET) => Reply::Json(200, secret()),
            ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
            ("POST", JOBS) => {
                let mut created = r.body.clone();
                created["status"] = json!({});
                Reply::Json(201, created)
            }
            ("POST", NS_PVCS) => {
                // Created: Pending until the provisioner has cloned the data.
                let mut created = r.body.clone();
                created["metadata"]["resourceVersion"] = json!("20");
                created["status"] = json!({"phase": "Pending"});
                *clone_seen.lock().unwrap() = Some(created.clone());
                Reply::Json(201, created)
            }
            ("GET", CSI_RBD) => Reply::Json(
                200,
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                       "metadata": {"name": "csi-rbd"}, "provisioner": "rbd.csi.ceph.com",
                       "volumeBindingMode": "Immediate"}),
            ),
            ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
            ("GET", PODS) => list("PodList", "31", vec![sync_pod()]),
            ("DELETE", p) if p.starts_with(NS_PVCS) => Reply::Json(200, pvc("gone", "Bound")),
            _ => status(404, "NotFound"),
        }
    };
    let (cluster, log, m, ctx) = start(script).await;
    let mut job_events = Store::<Job>::watch(&cluster);
    let mut pvc_events = Store::<PersistentVolumeClaim>::watch(&cluster);
    let mut phases = vec![];
    for _ in 0..2 {
        phases.push(step(&cluster, &ctx).await.unwrap());
    }
    // The reconcile that created the clone returned at once: it is Pending, nothing polls.
    assert_eq!(phases, ["CreatingClonedPVC", "CreatingClonedPVC"]);
    assert!(
        step(&cluster, &ctx).await.unwrap() == "CreatingClonedPVC",
        "still Pending"
    );
    // The clone binds: its watch event names exactly its owner.
    clone_bound.store(true, std::sync::atomic::Ordering::SeqCst);
    let bound_clone = loop {
        match tokio::time::timeout(Duration::from_secs(5), pvc_events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Applied(p) if p.status.phase == "Bound" && p.metadata.name != "data" => {
                break p;
            }
            _ => {}
        }
    };
    assert_eq!(
        bound_clone.owners("DataMover"),
        [ObjectKey::namespaced("default", "nightly")]
    );
    for _ in 0..3 {
        phases.push(step(&cluster, &ctx).await.unwrap());
    }
    // The reconcile that created the Job returned at once: still CreatingPod, and the Job
    // was never read back.
    assert_eq!(
        phases,
        [
            "CreatingClonedPVC",
            "CreatingClonedPVC",
            "ClonedPVCReady",
            "CreatingPod",
            "CreatingPod"
        ]
    );
    // Reconciling again while the Job runs changes nothing and sends nothing.
    let before = fake::writes(&log).len();
    phases.push(step(&cluster, &ctx).await.unwrap());
    assert_eq!(fake::writes(&log).len(), before);

    // The Job completes: its watch event names exactly its owner.
    job_done.store(true, std::sync::atomic::Ordering::SeqCst);
    let completed = loop {
        match tokio::time::timeout(Duration::from_secs(5), job_events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Applied(j) if j.outcome().is_some() => break j,
            _ => {}
        }
    };
    assert_eq!(
        completed.owners("DataMover"),
        [ObjectKey::namespaced("default", "nightly")]
    );
    for _ in 0..2 {
        phases.push(step(&cluster, &ctx).await.unwrap());
    }
    assert_eq!(
        phases,
        [
            "CreatingClonedPVC",
            "CreatingClonedPVC",
            "ClonedPVCReady",
            "CreatingPod",
            "CreatingPod",
            "CreatingPod",
            "CleaningUp",
            "Completed"
        ]
    );

    let writes = fake::writes(&log);
    let lines: Vec<String> = writes.iter().map(Req::line).collect();
    let clone = {
        let o = object.lock().unwrap();
        o.value["status"]["restoredPvcName"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(clone.starts_with("data-cloned-"), "{clone}");
    let clone_path = format!("{NS_PVCS}/{clone}");
    let expected = [
        format!("GET {SECRET}"),
        format!("PATCH {DM_STATUS}"), // "" -> CreatingClonedPVC
        format!("POST {EVENTS}"),
        format!("PATCH {DM_STATUS}"), // the clone's name
        format!("POST {NS_PVCS}"),    // Pending: the reconcile returns
        format!("GET {CSI_RBD}"),     // Immediate binding: wait for the watch
        format!("PATCH {DM_STATUS}"), // the clone's watch event: -> ClonedPVCReady
        format!("POST {EVENTS}"),
        format!("PATCH {DM_STATUS}"), // -> CreatingPod
        format!("POST {EVENTS}"),
        format!("POST {JOBS}"),       // the Job, created once...
        format!("PATCH {DM_STATUS}"), // ...its name in the status; the reconcile returns
        format!("GET {PODS}"),        // the Job completed: its pod's final statistics
        format!("PATCH {DM_STATUS}"), // the Job's watch event: -> CleaningUp
        format!("POST {EVENTS}"),
        format!("DELETE {clone_path}"),
        format!("PATCH {DM_STATUS}"), // -> Completed
        format!("POST {EVENTS}"),
    ];
    assert_eq!(lines, expected);

    // The clone PVC: dataSource, same size, access modes and storage class, owned.
    let created = &writes[4].body;
    assert_eq!(created["metadata"]["name"], clone.as_str());
    assert_eq!(
        created["spec"]["dataSource"],
        json!({"kind": "PersistentVolumeClaim", "name": "data"})
    );
    assert_eq!(created["spec"]["resources"]["requests"]["storage"], "5Gi");
    assert_eq!(created["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    assert_eq!(created["spec"]["storageClassName"], "csi-rbd");
    let owner = &created["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            &owner["kind"],
            &owner["name"],
            &owner["uid"],
            &owner["controller"]
        ),
        (
            &json!("DataMover"),
            &json!("nightly"),
            &json!(UID),
            &json!(true)
        )
    );

    // The Job: the original's shape.
    let job = &writes[10].body;
    assert_eq!(writes[10].line(), format!("POST {JOBS}"));
    assert_eq!(job["metadata"]["name"], "nightly-sync-0a1b2c3d");
    assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], UID);
    assert_eq!(job["spec"]["backoffLimit"], 2);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsUser"], 65534);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        clone.as_str()
    );
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "ghcr.io/qjoly/datamover-rclone:latest");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["envFrom"], json!([{"secretRef": {"name": "creds"}}]));
    assert_eq!(
        c["env"],
        json!([{"name": "ADD_TIMESTAMP_PREFIX", "value": "true"},
               {"name": "RCLONE_USE_JSON_LOG", "value": "true"},
               {"name": "RCLONE_STATS", "value": "1m"},
               {"name": "RCLONE_STATS_LOG_LEVEL", "value": "NOTICE"},
               {"name": "RCLONE_LOG_FILE", "value": "/dev/termination-log"},
               {"name": "RCLONE_S3_NO_CHECK_BUCKET", "value": "true"}])
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "restored-data", "mountPath": "/data/"}])
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");

    // Status patches: merge patches with the resourceVersion precondition, in order.
    let patches: Vec<&Req> = writes.iter().filter(|r| r.method == "PATCH").collect();
    for (i, p) in patches.iter().enumerate() {
        assert_eq!(
            p.body["metadata"]["resourceVersion"],
            (10 + i).to_string(),
            "patch {i}"
        );
        assert!(
            p.query.contains("fieldManager=datamover-operator"),
            "{}",
            p.query
        );
    }
    assert_eq!(patches[0].body["status"]["phase"], "CreatingClonedPVC");
    assert_eq!(patches[1].body["status"]["restoredPvcName"], clone.as_str());
    assert_eq!(
        patches[4].body["status"]["jobName"],
        "nightly-sync-0a1b2c3d"
    );
    assert_eq!(patches[4].body["status"]["phase"], "CreatingPod");
    assert_eq!(patches[5].body["status"]["phase"], "CleaningUp");
    assert_eq!(patches[6].body["status"]["phase"], "Completed");
    let final_status = &object.lock().unwrap().value["status"];
    assert_eq!(final_status["destination"], "s3:backups");
    assert_eq!(final_status["attempts"], 1, "one pod, as the Job reported");
    // The termination message's final statistics, as the embedded backend counts them.
    assert_eq!(final_status["bytesTransferred"], 4096);
    assert_eq!(final_status["filesTransferred"], 3);
    let pods = writes.iter().find(|r| r.path == PODS).unwrap();
    assert!(
        pods.query
            .contains("labelSelector=job-name%3Dnightly-sync-0a1b2c3d"),
        "{}",
        pods.query
    );
    let c = &writes[10].body["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "FallbackToLogsOnError");

    // Events: one per transition, Normal, about the DataMover.
    let events: Vec<&Req> = writes.iter().filter(|r| r.path == EVENTS).collect();
    let reasons: Vec<&str> = events
        .iter()
        .map(|e| e.body["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "CreatingClonedPVC",
            "ClonedPVCReady",
            "CreatingPod",
            "CleaningUp",
            "Completed"
        ]
    );
    for e in &events {
        assert_eq!(e.body["type"], "Normal");
        assert_eq!(e.body["regarding"]["kind"], "DataMover");
        assert_eq!(e.body["regarding"]["uid"], UID);
        assert_eq!(e.body["reportingInstance"], "operator-0");
        assert_eq!(
            e.body["reportingController"],
            "datamover.a-cup-of.coffee/datamover-operator"
        );
    }

    let text = m.render();
    for line in [
        r#"datamover_operations_total{phase="CreatingClonedPVC",status="success",namespace="default"} 1"#,
        r#"datamover_operations_total{phase="CreatingPod",status="success",namespace="default"} 1"#,
        r#"datamover_pod_creation_operations_total{status="success",namespace="default"} 1"#,
        r#"datamover_data_sync_operations_total{status="success",namespace="default"} 1"#,
        r#"datamover_cleanup_operations_total{status="success",namespace="default"} 1"#,
        r#"datamover_bytes_transferred_total{namespace="default"} 4096"#,
        r#"datamover_files_transferred_total{namespace="default"} 3"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="list-pods",status="success"} 1"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="create-pvc",status="success"} 1"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="patch-status",status="success"} 7"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="create-event",status="success"} 5"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="list-datamovers",status="success"} 1"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="create-job",status="success"} 1"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="list-jobs",status="success"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
}

/// 404 on the source PVC (the watch never saw it): the DataMover fails with a Warning Event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_pvc_fails_the_datamover_with_a_warning() {
    let object = Arc::new(Mutex::new(Object {
        value: datamover("nightly", "10", json!({})),
        version: 10,
        conflicts: 0,
    }));
    let dm = Arc::clone(&object);
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        _ if r.is_watch() => Reply::Hold,
        ("GET", DM) => list(
            "DataMoverList",
            "10",
            vec![dm.lock().unwrap().value.clone()],
        ),
        ("GET", PVCS) => list("PersistentVolumeClaimList", "20", vec![]),
        ("GET", SECRET) => Reply::Json(200, secret()),
        ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
        ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
        _ => status(404, "NotFound"),
    };
    let (cluster, log, m, ctx) = start(script).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingClonedPVC");
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "Failed");
    let writes = fake::writes(&log);
    assert!(
        writes.iter().all(|r| r.path != NS_PVCS),
        "no clone may be created"
    );
    let warning = writes.iter().rfind(|r| r.path == EVENTS).unwrap();
    assert_eq!(warning.body["type"], "Warning");
    assert_eq!(warning.body["reason"], "Failed");
    assert_eq!(
        warning.body["note"],
        "the source PVC default/data does not exist"
    );
    let status = &object.lock().unwrap().value["status"];
    assert_eq!(status["conditions"][0]["reason"], "SourcePVCNotFound");
    assert!(m.render().contains(
        r#"datamover_operations_total{phase="CreatingClonedPVC",status="failure",namespace="default"} 1"#
    ));
}

/// 429 and 503 are retried and counted by kind; 409 on create adopts what this DataMover
/// owns; 409 on a status patch is a conflict the runtime retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried_and_counted_and_conflicts_adopted() {
    let object = Arc::new(Mutex::new(Object {
        value: datamover(
            "nightly",
            "10",
            json!({"phase": "CreatingClonedPVC", "phaseStartedAtMs": 1,
                   "restoredPvcName": "data-cloned-1"}),
        ),
        version: 10,
        conflicts: 0,
    }));
    let dm = Arc::clone(&object);
    let mut pvc_posts = 0;
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        _ if r.is_watch() => Reply::Hold,
        ("GET", DM) => list(
            "DataMoverList",
            "10",
            vec![dm.lock().unwrap().value.clone()],
        ),
        ("GET", PVCS) => list(
            "PersistentVolumeClaimList",
            "20",
            vec![pvc("data", "Bound")],
        ),
        ("GET", SECRET) => Reply::Json(200, secret()),
        ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
        ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
        ("POST", NS_PVCS) => {
            pvc_posts += 1;
            match pvc_posts {
                1 => status(429, "TooManyRequests"),
                2 => status(503, "ServiceUnavailable"),
                _ => status(409, "AlreadyExists"),
            }
        }
        ("GET", p) if p == format!("{NS_PVCS}/data-cloned-1") => {
            Reply::Json(200, owned(pvc("data-cloned-1", "Bound")))
        }
        ("POST", JOBS) => status(409, "AlreadyExists"),
        ("GET", JOB) => Reply::Json(
            200,
            owned(json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "nightly-sync-0a1b2c3d", "namespace": "default"},
            "status": {"failed": 3, "conditions": [{"type": "Failed", "status": "True",
                "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}})),
        ),
        _ => status(404, "NotFound"),
    };
    let (cluster, log, m, ctx) = start(script).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "ClonedPVCReady");
    let posts = fake::writes(&log)
        .iter()
        .filter(|r| r.is("POST", NS_PVCS))
        .count();
    assert_eq!(posts, 3, "429, 503, then 409 (adopted)");

    // A stale write: 409 on the status patch is a conflict, retried by the runtime.
    object.lock().unwrap().conflicts = 1;
    match step(&cluster, &ctx).await {
        Err(ReconcileError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    // The Job exists (409) and is ours: adopted, not counted as created; the reconcile
    // returns, and the next one sees that it failed its 3 attempts.
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "Failed");
    let status = object.lock().unwrap().value["status"].clone();
    assert_eq!(status["failedAttempts"], 3);
    assert!(
        status["lastError"]
            .as_str()
            .unwrap()
            .contains("BackoffLimitExceeded"),
        "{status}"
    );

    let text = m.render();
    for line in [
        r#"tmc_component_errors_total{component_type="datamover-kube",component_id="apiserver",error_type="RateLimited",severity="Medium"} 1"#,
        r#"tmc_component_errors_total{component_type="datamover-kube",component_id="apiserver",error_type="Unavailable",severity="High"} 1"#,
        r#"tmc_component_errors_total{component_type="datamover-kube",component_id="apiserver",error_type="ResourceConflict",severity="Low"} 3"#,
        r#"datamover_data_sync_operations_total{status="failure",namespace="default"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(
        !text.contains("datamover_pod_creation_operations_total{"),
        "an adopted Job was not created by us\n{text}"
    );
}

/// A 409 on create of a PVC this DataMover does not own is not adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_object_with_the_clones_name_is_not_adopted() {
    let object = Arc::new(Mutex::new(Object {
        value: datamover(
            "nightly",
            "10",
            json!({"phase": "CreatingClonedPVC", "phaseStartedAtMs": 1, "restoredPvcName": "data-cloned-1"}),
        ),
        version: 10,
        conflicts: 0,
    }));
    let dm = Arc::clone(&object);
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        _ if r.is_watch() => Reply::Hold,
        ("GET", DM) => list(
            "DataMoverList",
            "10",
            vec![dm.lock().unwrap().value.clone()],
        ),
        ("GET", PVCS) => list(
            "PersistentVolumeClaimList",
            "20",
            vec![pvc("data", "Bound")],
        ),
        ("GET", SECRET) => Reply::Json(200, secret()),
        ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
        ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
        ("POST", NS_PVCS) => status(409, "AlreadyExists"),
        ("GET", p) if p.starts_with(NS_PVCS) => Reply::Json(200, pvc("data-cloned-1", "Bound")),
        _ => status(404, "NotFound"),
    };
    let (cluster, _log, _m, ctx) = start(script).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "Failed");
    let status = object.lock().unwrap().value["status"].clone();
    assert!(
        status["lastError"]
            .as_str()
            .unwrap()
            .contains("not owned by this DataMover"),
        "{status}"
    );
}

/// The DataMover watch resumes from the last resourceVersion when the stream ends, and
/// relists on 410 Gone; the controller runtime's Store sees Applied, Applied, Deleted.
#[tokio::test]
async fn the_watch_resumes_from_the_last_version_and_relists_on_410() {
    let mut lists = 0;
    let mut watches = 0;
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        ("GET", PVCS | ALL_JOBS) if r.is_watch() => Reply::Hold,
        ("GET", ALL_JOBS) => list("JobList", "1", vec![]),
        ("GET", PVCS) => list("PersistentVolumeClaimList", "1", vec![]),
        ("GET", SECRET) => Reply::Json(200, secret()),
        ("GET", DM) if r.is_watch() => {
            watches += 1;
            match watches {
                1 => Reply::Events(vec![json!({"type": "MODIFIED",
                    "object": datamover("nightly", "7", json!({"phase": "Completed"}))})]),
                2 => Reply::Events(vec![json!({"type": "ERROR", "object": {"kind": "Status",
                    "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired",
                    "message": "too old resource version"}})]),
                _ => Reply::Hold,
            }
        }
        ("GET", DM) => {
            lists += 1;
            if lists == 1 {
                list(
                    "DataMoverList",
                    "5",
                    vec![datamover("nightly", "5", json!({}))],
                )
            } else {
                list("DataMoverList", "9", vec![])
            }
        }
        _ => status(404, "NotFound"),
    };
    let (client, log) = server(script);
    let m = metrics();
    let cluster = KubeCluster::new(client, m.collector(), options());
    let mut events = Store::<DataMover>::watch(&cluster);
    let _watches = cluster.spawn_watches();
    let mut seen = vec![];
    while seen.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Applied(dm) => seen.push(format!("applied {}", dm.metadata.resource_version)),
            Event::Deleted(key) => seen.push(format!("deleted {key}")),
        }
    }
    assert_eq!(seen, ["applied 5", "applied 7", "deleted default/nightly"]);
    eventually(|| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == DM && r.is_watch())
            .count()
            == 3
    })
    .await;
    let dm_requests: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == DM)
        .map(|r| {
            let rv = r
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("resourceVersion="))
                .unwrap_or("-");
            format!("{} {rv}", if r.is_watch() { "watch" } else { "list" })
        })
        .collect();
    assert_eq!(
        dm_requests,
        ["list -", "watch 5", "watch 7", "list -", "watch 9"]
    );
    assert!(Store::<DataMover>::list(&cluster).is_empty());
    assert!(m.render().contains(
        r#"tmc_component_errors_total{component_type="datamover-kube",component_id="apiserver",error_type="ResourceNotFound",severity="Low"} 1"#
    ));
}

/// A status write the API server keeps refusing with 503 is transient: the reconcile is
/// retried with backoff, the DataMover is not failed.
#[tokio::test]
async fn an_unavailable_api_server_makes_a_write_transient_not_final() {
    let (client, _log) = server(|_| status(503, "ServiceUnavailable"));
    let cluster = KubeCluster::new(client, metrics().collector(), options());
    let mut dm = datamover::types::DataMover::default();
    dm.metadata.name = "nightly".into();
    dm.metadata.namespace = "default".into();
    let err = datamover::backend::Cluster::write_status(&cluster, &dm)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            datamover::backend::ClusterError::Transient {
                kind: tmc_metrics::ErrorKind::Unavailable,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("writing the status of DataMover default/nightly"),
        "{err}"
    );
}

/// A DataMover whose clone is named and whose phase is `CreatingClonedPVC`, and a script
/// for everything but what `extra` answers.
fn cloning(
    extra: impl Fn(&Req) -> Option<Reply> + Send + 'static,
) -> (
    Arc<Mutex<Object>>,
    impl FnMut(&Req) -> Reply + Send + 'static,
) {
    let object = Arc::new(Mutex::new(Object {
        value: datamover(
            "nightly",
            "10",
            json!({"phase": "CreatingClonedPVC", "phaseStartedAtMs": datamover::time::now_ms(),
                   "restoredPvcName": "data-cloned-1"}),
        ),
        version: 10,
        conflicts: 0,
    }));
    let dm = Arc::clone(&object);
    let script = move |r: &Req| {
        if let Some(reply) = extra(r) {
            return reply;
        }
        match (r.method.as_str(), r.path.as_str()) {
            _ if r.is_watch() => Reply::Hold,
            ("GET", DM) => list(
                "DataMoverList",
                "10",
                vec![dm.lock().unwrap().value.clone()],
            ),
            ("GET", PVCS) => list(
                "PersistentVolumeClaimList",
                "20",
                vec![pvc("data", "Bound")],
            ),
            ("GET", SECRET) => Reply::Json(200, secret()),
            ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
            ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
            _ => status(404, "NotFound"),
        }
    };
    (object, script)
}

/// A `WaitForFirstConsumer` storage class binds the clone only when a pod uses it: the
/// clone stays Pending, and the Job is created anyway (its pod makes the clone bind).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_first_consumer_clone_gets_its_job_before_it_binds() {
    let (object, script) = cloning(|r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", NS_PVCS) => {
            let mut created = r.body.clone();
            created["status"] = json!({"phase": "Pending"});
            Some(Reply::Json(201, created))
        }
        ("GET", CSI_RBD) => Some(Reply::Json(
            200,
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                   "metadata": {"name": "csi-rbd"}, "provisioner": "rbd.csi.ceph.com",
                   "volumeBindingMode": "WaitForFirstConsumer"}),
        )),
        ("POST", JOBS) => {
            let mut created = r.body.clone();
            created["status"] = json!({});
            Some(Reply::Json(201, created))
        }
        _ => None,
    });
    let (cluster, log, _m, ctx) = start(script).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "ClonedPVCReady");
    let cloned = object.lock().unwrap().value["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Cloned")
        .cloned()
        .unwrap();
    assert_eq!(cloned["status"], "True");
    assert_eq!(cloned["reason"], "WaitForFirstConsumer");
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    let lines: Vec<String> = fake::writes(&log)
        .iter()
        .filter(|r| r.path != EVENTS)
        .map(Req::line)
        .collect();
    assert_eq!(
        lines,
        [
            format!("GET {SECRET}"),
            format!("POST {NS_PVCS}"),
            format!("GET {CSI_RBD}"),
            format!("PATCH {DM_STATUS}"),
            format!("PATCH {DM_STATUS}"),
            format!("POST {JOBS}"),
            format!("PATCH {DM_STATUS}"),
        ],
        "the clone is never polled; the Job is created while it is Pending"
    );
    assert_eq!(
        Store::<PersistentVolumeClaim>::get(
            &cluster,
            &ObjectKey::namespaced("default", "data-cloned-1")
        )
        .unwrap()
        .status
        .phase,
        "Pending"
    );
}

/// A 403 is not retried in place nor does it fail the DataMover: the reconcile returns a
/// permission error naming the verb, the resource and the namespace the RBAC lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_names_the_verb_and_resource_the_rbac_lacks() {
    let (object, script) = cloning(|r| {
        r.is("POST", NS_PVCS).then(|| {
            Reply::Json(
                403,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "persistentvolumeclaims is forbidden: User \"system:serviceaccount:datamover-operator-system:datamover-operator-controller-manager\" cannot create resource \"persistentvolumeclaims\" in API group \"\" in the namespace \"default\"",
                   "reason": "Forbidden", "details": {"kind": "persistentvolumeclaims"}, "code": 403}),
            )
        })
    });
    let (cluster, log, m, ctx) = start(script).await;
    let err = step(&cluster, &ctx).await.unwrap_err();
    let ReconcileError::Forbidden(message) = &err else {
        panic!("expected a permission error, got {err:?}");
    };
    assert!(
        message.starts_with(
            "forbidden: the operator's RBAC does not allow `create` on `persistentvolumeclaims` in namespace default"
        ),
        "{message}"
    );
    assert!(message.contains("cannot create resource"), "{message}");
    assert_eq!(
        fake::writes(&log)
            .iter()
            .filter(|r| r.is("POST", NS_PVCS))
            .count(),
        1,
        "a 403 is not retried in place"
    );
    assert_eq!(
        object.lock().unwrap().value["status"]["phase"],
        "CreatingClonedPVC",
        "the DataMover is not failed: granting the verb lets it proceed"
    );
    assert!(m.render().contains(
        r#"tmc_component_errors_total{component_type="datamover-kube",component_id="apiserver",error_type="Forbidden",severity="High"} 1"#
    ));
}

/// A 429 whose `Retry-After` (the Status body's `details.retryAfterSeconds`, as the API
/// server sends it beside the header) is longer than the in-place retries wait: no retry
/// in place; the error carries it and the controller requeues no sooner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_transient_and_honoured() {
    let (_object, mut script) = cloning(|r| {
        r.is("PATCH", DM_STATUS).then(|| {
            Reply::Json(
                429,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "Too many requests, please try again later.", "reason": "TooManyRequests",
                   "details": {"retryAfterSeconds": 7}, "code": 429}),
            )
        })
    });
    let (cluster, log, _m, ctx) = start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", NS_PVCS) => Reply::Json(201, owned(pvc("data-cloned-1", "Bound"))),
        _ => script(r),
    })
    .await;
    let err = step(&cluster, &ctx).await.unwrap_err();
    assert!(
        matches!(
            err,
            ReconcileError::Transient {
                kind: tmc_metrics::ErrorKind::RateLimited,
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(7)
        ),
        "{err:?}"
    );
    assert_eq!(
        fake::writes(&log)
            .iter()
            .filter(|r| r.is("PATCH", DM_STATUS))
            .count(),
        1,
        "not retried in place: the server asked for 7 s"
    );
    let dm =
        Store::<DataMover>::get(&cluster, &ObjectKey::namespaced("default", "nightly")).unwrap();
    let action = tmc_runtime::ErrorPolicy::on_error(
        &datamover::reconciler::RetryAfterPolicy,
        dm,
        &err,
        tmc_runtime::Retry::new(1, Duration::from_millis(50)),
    );
    assert_eq!(action.requeue_after(), Some(Duration::from_secs(7)));
}

/// The controller runtime over the Kubernetes backend, owning Jobs: a Job's status event
/// re-queues exactly its owner (`nightly`), not the other DataMover (`weekly`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_status_event_requeues_exactly_its_owner() {
    let job_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = Arc::clone(&job_done);
    let mut weekly = datamover("weekly", "11", json!({}));
    weekly["metadata"]["uid"] = json!("ffffffff-0000-0000-0000-000000000000");
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        ("GET", ALL_JOBS) if r.is_watch() => {
            if done.swap(false, std::sync::atomic::Ordering::SeqCst) {
                Reply::Events(vec![json!({"type": "MODIFIED", "object": job(
                    &json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}))})])
            } else {
                Reply::Events(vec![])
            }
        }
        _ if r.is_watch() => Reply::Hold,
        ("GET", DM) => list(
            "DataMoverList",
            "11",
            vec![datamover("nightly", "10", json!({})), weekly.clone()],
        ),
        ("GET", PVCS) => list("PersistentVolumeClaimList", "20", vec![]),
        ("GET", ALL_JOBS) => list("JobList", "29", vec![]),
        ("GET", SECRET) => Reply::Json(200, secret()),
        _ => status(404, "NotFound"),
    };
    let (client, _log) = server(script);
    let m = metrics();
    let cluster = KubeCluster::new(client, m.collector(), options());
    let _watches = cluster.spawn_watches();
    cluster.wait_synced().await;
    let (tx, mut reconciled) = tokio::sync::mpsc::unbounded_channel::<String>();
    let record = move |dm: Arc<DataMover>, tx: Arc<tokio::sync::mpsc::UnboundedSender<String>>| async move {
        let _ = tx.send(dm.metadata.name.clone());
        Ok::<_, ReconcileError>(tmc_runtime::Action::await_change())
    };
    let controller = tmc_runtime::Controller::<DataMover>::new("datamover", cluster.clone())
        .owns::<Job>(cluster.clone())
        .reconciler(tmc_runtime::reconciler_fn(record, Arc::new(tx)))
        .metrics(m.collector());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(controller.run(async {
        let _ = stopped.await;
    }));
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), reconciled.recv())
            .await
            .unwrap()
            .unwrap()
    };
    let mut first = vec![next().await, next().await];
    first.sort();
    assert_eq!(first, ["nightly", "weekly"], "the initial list");
    job_done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(next().await, "nightly", "the Job's owner, and only it");
    let _ = stop.send(());
    running.await.unwrap();
}
