//! A DataMover through clone, job and cleanup: every request sent, every metric recorded.

use crate::fake::{self, *};
use datamover::job::Job;
use datamover::types::PersistentVolumeClaim;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_runtime::{Event, ObjectKey, Owned, Store};

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
    let created = &writes[3].body;
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
    let job = &writes[9].body;
    assert_eq!(writes[9].line(), format!("POST {JOBS}"));
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
               // The secret's AWS_CA_BUNDLE as rclone's --ca-cert; never itself.
               {"name": "RCLONE_CA_CERT", "valueFrom": {"secretKeyRef":
                   {"name": "creds", "key": "AWS_CA_BUNDLE", "optional": true}}},
               {"name": "AWS_CA_BUNDLE"},
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
    let c = &writes[9].body["spec"]["template"]["spec"]["containers"][0];
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
