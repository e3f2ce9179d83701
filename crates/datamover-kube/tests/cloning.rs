//! Contract tests of the clone and of API errors while cloning: a `WaitForFirstConsumer`
//! clone, a 403 naming what the RBAC lacks, a 429's `Retry-After` (a kube-rs `Client` over a
//! scripted mock service; no API server runs here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use datamover::reconciler::ReconcileError;
use datamover::types::{DataMover, PersistentVolumeClaim};
use fake::*;
use serde_json::json;
use std::time::Duration;
use tmc_runtime::{ObjectKey, Store};

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

/// The overlap rule on Kubernetes: a DataMover whose sync would mirror into the bucket
/// another existing DataMover writes timestamp folders to fails before its Job is created,
/// naming the other, with a Warning Event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_overlapping_another_datamovers_fails_before_its_job() {
    let mut nightly = datamover(
        "nightly",
        "10",
        json!({"phase": "CreatingPod", "restoredPvcName": "data-cloned-1"}),
    );
    nightly["spec"]["addTimestampPrefix"] = json!(false);
    nightly["spec"]["sourcePvc"] = json!("other");
    // The existing one: the fixture's prefixed backup of `data` into the same bucket.
    let mut weekly = datamover("weekly", "11", json!({"phase": "Completed"}));
    weekly["metadata"]["uid"] = json!("1f2e3d4c-0000-0000-0000-000000000000");
    let object = std::sync::Arc::new(std::sync::Mutex::new(Object {
        value: nightly,
        version: 10,
        conflicts: 0,
    }));
    let dm = std::sync::Arc::clone(&object);
    // BUCKET_NAME=backups, BUCKET_HOST=minio.storage, BUCKET_PORT=9000.
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"BUCKET_NAME": "YmFja3Vwcw==", "BUCKET_HOST": "bWluaW8uc3RvcmFnZQ==",
                 "BUCKET_PORT": "OTAwMA=="}});
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        _ if r.is_watch() => Reply::Hold,
        ("GET", DM) => list(
            "DataMoverList",
            "11",
            vec![dm.lock().unwrap().value.clone(), weekly.clone()],
        ),
        ("GET", PVCS) => list("PersistentVolumeClaimList", "20", vec![]),
        ("GET", SECRETS) => list("SecretList", "1", vec![secret.clone()]),
        ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
        ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
        _ => status(404, "NotFound"),
    };
    let (cluster, log, _m, ctx) = start(script).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "Failed");
    let writes = fake::writes(&log);
    assert!(
        writes.iter().all(|r| r.path != JOBS),
        "no Job may be created"
    );
    let expected = "destination s3://backups at http://minio.storage:9000 overlaps DataMover default/weekly (s3://backups at http://minio.storage:9000): rclone sync makes its target equal to the source, so a sync of one would delete what the other wrote; choose a destination apart from it (two objects with addTimestampPrefix: true may share one base), or delete DataMover default/weekly first";
    let status = &object.lock().unwrap().value["status"];
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["reason"], "DestinationOverlap");
    assert_eq!(ready["message"], expected);
    let warning = writes.iter().rfind(|r| r.path == EVENTS).unwrap();
    assert_eq!(warning.body["type"], "Warning");
    assert_eq!(warning.body["note"], expected);
}

/// `copyMethod: Direct` on Kubernetes: no clone is created; the sync Job mounts the source
/// PVC itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_method_direct_mounts_the_source_and_creates_no_clone() {
    let mut nightly = datamover("nightly", "10", json!({}));
    nightly["spec"]["copyMethod"] = json!("Direct");
    nightly["spec"]["deletePvcAfterBackup"] = json!(false);
    let object = std::sync::Arc::new(std::sync::Mutex::new(Object {
        value: nightly,
        version: 10,
        conflicts: 0,
    }));
    let dm = std::sync::Arc::clone(&object);
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"DESTINATION": "cmVtb3RlOmJhY2t1cHM="}});
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
        ("GET", SECRETS) => list("SecretList", "1", vec![secret.clone()]),
        ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
        ("POST", JOBS) => {
            let mut created = r.body.clone();
            created["metadata"]["uid"] = json!("job-uid");
            created["metadata"]["resourceVersion"] = json!("30");
            created["metadata"]["creationTimestamp"] = json!("2026-01-01T00:01:00Z");
            Reply::Json(201, created)
        }
        ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
        _ => status(404, "NotFound"),
    };
    let (cluster, log, _m, ctx) = start(script).await;
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingPod");
    let writes = fake::writes(&log);
    assert!(
        writes.iter().all(|r| r.path != NS_PVCS),
        "no clone may be created"
    );
    let job = writes
        .iter()
        .find(|r| r.is("POST", JOBS))
        .expect("the sync Job");
    assert_eq!(
        job.body["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "data"
    );
    let status = &object.lock().unwrap().value["status"];
    assert_eq!(
        status["restoredPvcName"],
        serde_json::Value::Null,
        "{status}"
    );
}
