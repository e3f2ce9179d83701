//! Contract tests of `copyMethod: Snapshot` on the Kubernetes backend: the `VolumeSnapshot` of
//! the source (one write, in a reconcile that returns), the PVC made from it, then the clone
//! path (Job, cleanup of the PVC and the snapshot), request by request, every request
//! granted by `deploy/manager/rbac.yaml`; and what the API server's refusals become. A
//! kube-rs `Client` over a scripted mock service (no API server runs here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use datamover::job::Job;
use datamover::types::PersistentVolumeClaim;
use fake::*;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_runtime::{Event, Store};

const SNAPSHOTS: &str = "/apis/snapshot.storage.k8s.io/v1/namespaces/default/volumesnapshots";

/// The DataMover `nightly` with `copyMethod: Snapshot` (and `spec` on top), at `status`.
fn snapshot_datamover(spec: &Value, status: Value) -> Arc<Mutex<Object>> {
    let mut value = datamover("nightly", "10", status);
    value["spec"]["copyMethod"] = json!("Snapshot");
    merge(&mut value["spec"], spec);
    Arc::new(Mutex::new(Object {
        value,
        version: 10,
        conflicts: 0,
    }))
}

fn condition(object: &Arc<Mutex<Object>>, type_: &str) -> Value {
    object.lock().unwrap().value["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == type_)
        .cloned()
        .unwrap_or(Value::Null)
}

/// From `""` to `Completed`: the snapshot, the PVC from it (its `Bound` event brings the
/// DataMover back), the Job, then the PVC and the snapshot deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_backup_runs_snapshot_pvc_job_and_cleanup() {
    let object = snapshot_datamover(&json!({"volumeSnapshotClassName": "csi-snap"}), json!({}));
    let dm = Arc::clone(&object);
    let bound = Arc::new(AtomicBool::new(false));
    let binds = Arc::clone(&bound);
    let done = Arc::new(AtomicBool::new(false));
    let ends = Arc::clone(&done);
    let created_pvc: Arc<Mutex<Option<Value>>> = Arc::default();
    let pvc_seen = Arc::clone(&created_pvc);
    let script = move |r: &Req| {
        if r.path == PVCS && r.is_watch() {
            let mut pvc = pvc_seen.lock().unwrap();
            return match pvc.take() {
                Some(mut p) if binds.load(Ordering::SeqCst) => {
                    p["status"] = json!({"phase": "Bound"});
                    p["metadata"]["resourceVersion"] = json!("21");
                    Reply::Events(vec![json!({"type": "MODIFIED", "object": p})])
                }
                other => {
                    *pvc = other;
                    Reply::Events(vec![])
                }
            };
        }
        if r.path == ALL_JOBS && r.is_watch() {
            return if ends.swap(false, Ordering::SeqCst) {
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
            ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
            ("POST", SNAPSHOTS) => {
                let mut created = r.body.clone();
                created["metadata"]["uid"] = json!("snapshot-uid");
                Reply::Json(201, created)
            }
            ("POST", NS_PVCS) => {
                let mut created = r.body.clone();
                created["metadata"]["resourceVersion"] = json!("20");
                created["status"] = json!({"phase": "Pending"});
                *pvc_seen.lock().unwrap() = Some(created.clone());
                Reply::Json(201, created)
            }
            ("GET", CSI_RBD) => Reply::Json(
                200,
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                       "metadata": {"name": "csi-rbd"}, "provisioner": "rbd.csi.ceph.com",
                       "volumeBindingMode": "Immediate"}),
            ),
            ("POST", JOBS) => {
                let mut created = r.body.clone();
                created["status"] = json!({});
                Reply::Json(201, created)
            }
            ("GET", PODS) => list("PodList", "31", vec![]),
            ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
            ("DELETE", p) if p.starts_with(SNAPSHOTS) => Reply::Json(
                200,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            ),
            ("DELETE", p) if p.starts_with(NS_PVCS) => Reply::Json(200, pvc("gone", "Bound")),
            _ => status(404, "NotFound"),
        }
    };
    let (cluster, log, m, ctx) = start(script).await;
    let mut pvc_events = Store::<PersistentVolumeClaim>::watch(&cluster);
    let mut job_events = Store::<Job>::watch(&cluster);
    let mut phases = vec![];
    for _ in 0..3 {
        phases.push(step(&cluster, &ctx).await.unwrap());
    }
    // "" -> CreatingClonedPVC; the snapshot (one write, recorded, the reconcile returns);
    // the PVC from it, Pending: nothing polls.
    assert_eq!(
        phases,
        [
            "CreatingClonedPVC",
            "CreatingClonedPVC",
            "CreatingClonedPVC"
        ]
    );
    let clone = object.lock().unwrap().value["status"]["restoredPvcName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(clone.starts_with("data-cloned-"), "{clone}");
    let snapshotted = condition(&object, "Snapshotted");
    assert_eq!(
        (
            &snapshotted["status"],
            &snapshotted["reason"],
            &snapshotted["message"]
        ),
        (
            &json!("True"),
            &json!("SnapshotCreated"),
            &json!(format!(
                "took the VolumeSnapshot {clone} of data (class csi-snap)"
            ))
        )
    );
    bound.store(true, Ordering::SeqCst);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), pvc_events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Applied(p) if p.status.phase == "Bound" && p.metadata.name == clone => break,
            _ => {}
        }
    }
    for _ in 0..3 {
        phases.push(step(&cluster, &ctx).await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), job_events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Applied(j) if j.outcome().is_some() => break,
            _ => {}
        }
    }
    for _ in 0..2 {
        phases.push(step(&cluster, &ctx).await.unwrap());
    }
    assert_eq!(
        phases[3..],
        [
            "ClonedPVCReady",
            "CreatingPod",
            "CreatingPod",
            "CleaningUp",
            "Completed"
        ]
    );

    let writes = fake::writes(&log);
    let lines: Vec<String> = writes
        .iter()
        .filter(|r| r.path != EVENTS)
        .map(Req::line)
        .collect();
    assert_eq!(
        lines,
        [
            format!("PATCH {DM_STATUS}"), // "" -> CreatingClonedPVC
            format!("PATCH {DM_STATUS}"), // the clone's name
            format!("POST {SNAPSHOTS}"),  // the snapshot, once...
            format!("PATCH {DM_STATUS}"), // ...recorded: its watch event brings the next step
            format!("POST {NS_PVCS}"),    // the PVC from the snapshot: Pending
            format!("GET {CSI_RBD}"),     // Immediate binding: wait for its watch event
            format!("PATCH {DM_STATUS}"), // Bound: -> ClonedPVCReady
            format!("PATCH {DM_STATUS}"), // -> CreatingPod
            format!("POST {JOBS}"),
            format!("PATCH {DM_STATUS}"),
            format!("GET {PODS}"),        // the Job completed: its pod's report
            format!("PATCH {DM_STATUS}"), // -> CleaningUp
            format!("DELETE {SNAPSHOTS}/{clone}"),
            format!("DELETE {NS_PVCS}/{clone}"),
            format!("PATCH {DM_STATUS}"), // -> Completed
        ]
    );
    assert_granted(&log);

    // The VolumeSnapshot: of the source, in its class, owned by the DataMover.
    let snapshot = &writes.iter().find(|r| r.path == SNAPSHOTS).unwrap().body;
    assert_eq!(
        snapshot,
        &json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {
                "name": clone,
                "namespace": "default",
                "labels": {
                    "datamover.a-cup-of.coffee/datamover": "nightly",
                    "datamover.a-cup-of.coffee/clone-of": "data",
                    "app.kubernetes.io/managed-by": "datamover-operator"
                },
                "ownerReferences": [{
                    "apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                    "kind": "DataMover",
                    "name": "nightly",
                    "uid": UID,
                    "controller": true,
                    "blockOwnerDeletion": true
                }]
            },
            "spec": {
                "volumeSnapshotClassName": "csi-snap",
                "source": {"persistentVolumeClaimName": "data"}
            }
        })
    );
    // The PVC: made from the snapshot, the source's size, access modes and class.
    let made = &writes.iter().find(|r| r.is("POST", NS_PVCS)).unwrap().body;
    assert_eq!(made["metadata"]["name"], clone.as_str());
    assert_eq!(
        made["spec"]["dataSource"],
        json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": clone})
    );
    assert_eq!(made["spec"]["resources"]["requests"]["storage"], "5Gi");
    assert_eq!(made["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    assert_eq!(made["spec"]["storageClassName"], "csi-rbd");
    assert_eq!(made["metadata"]["ownerReferences"][0]["uid"], UID);
    // The Job syncs the PVC made from the snapshot.
    let job = &writes.iter().find(|r| r.is("POST", JOBS)).unwrap().body;
    assert_eq!(
        job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        clone.as_str()
    );
    let cloned = condition(&object, "Cloned");
    assert_eq!(
        cloned["message"],
        format!("provisioned {clone} from the VolumeSnapshot {clone} of data")
    );
    let cleaned = condition(&object, "CleanedUp");
    assert_eq!(
        (&cleaned["reason"], &cleaned["message"]),
        (
            &json!("CloneDeleted"),
            &json!(format!(
                "deleted the VolumeSnapshot {clone} and the PVC {clone} made from it"
            ))
        )
    );
    let notes: Vec<String> = writes
        .iter()
        .filter(|r| r.path == EVENTS)
        .map(|e| e.body["note"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(notes[0], "snapshotting the source volume");
    let text = m.render();
    for line in [
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="create-volumesnapshot",status="success"} 1"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="delete-volumesnapshot",status="success"} 1"#,
        r#"datamover_cleanup_operations_total{status="success",namespace="default"} 1"#,
        r#"datamover_data_sync_operations_total{status="success",namespace="default"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
}

/// The API server's answers to the snapshot's create, from `CreatingClonedPVC` with the
/// clone named: the phase it leaves and the `Ready` condition's reason and message.
async fn on_snapshot_create(answer: fn() -> Reply, spec: &Value) -> (String, Value, Log) {
    let object = snapshot_datamover(
        spec,
        json!({"phase": "CreatingClonedPVC", "phaseStartedAtMs": datamover::time::now_ms(),
               "restoredPvcName": "data-cloned-1"}),
    );
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
        ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
        ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
        ("POST", SNAPSHOTS) => answer(),
        ("GET", p) if p == format!("{SNAPSHOTS}/data-cloned-1") => Reply::Json(
            200,
            owned(
                json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                         "metadata": {"name": "data-cloned-1", "namespace": "default"}}),
            ),
        ),
        _ => status(404, "NotFound"),
    };
    let (cluster, log, _m, ctx) = start(script).await;
    let phase = match step(&cluster, &ctx).await {
        Ok(phase) => phase,
        Err(e) => format!("error: {e}"),
    };
    let ready = condition(&object, "Ready");
    (phase, ready, log)
}

/// A cluster without the snapshot CRDs (404), a 409 of a snapshot this DataMover owns
/// (adopted), and a 403 (the RBAC names what it lacks; retried, not failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_servers_refusals_of_the_snapshot_name_the_fix() {
    let (phase, ready, _) = on_snapshot_create(|| status(404, "NotFound"), &json!({})).await;
    assert_eq!(phase, "Failed");
    assert_eq!(ready["reason"], "SnapshotFailed");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.starts_with("the VolumeSnapshot API (snapshot.storage.k8s.io/v1) is not installed in this cluster: install the CSI external-snapshotter's CRDs and controller, or use copyMethod: Clone (taking the VolumeSnapshot data-cloned-1 of data: "),
        "{message}"
    );

    let (phase, _, log) = on_snapshot_create(|| status(409, "AlreadyExists"), &json!({})).await;
    assert_eq!(phase, "CreatingClonedPVC");
    let lines: Vec<String> = fake::writes(&log)
        .iter()
        .filter(|r| r.path != EVENTS)
        .map(Req::line)
        .collect();
    assert_eq!(
        lines,
        [
            format!("POST {SNAPSHOTS}"),
            format!("GET {SNAPSHOTS}/data-cloned-1"),
            format!("PATCH {DM_STATUS}"),
        ],
        "adopted, and recorded as taken"
    );

    let (phase, _, _) = on_snapshot_create(|| status(403, "Forbidden"), &json!({})).await;
    assert!(
        phase.starts_with("error: forbidden: the operator's RBAC does not allow `create` on `volumesnapshots.snapshot.storage.k8s.io` in namespace default"),
        "{phase}"
    );
}
