//! What goes wrong at the API: a missing source PVC, transient errors and conflicts, a foreign
//! object with the clone's name, an unavailable API server.

use crate::fake::{self, *};
use datamover::reconciler::ReconcileError;
use datamover_kube::KubeCluster;
use serde_json::json;
use std::sync::{Arc, Mutex};

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
