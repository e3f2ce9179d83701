//! Contract tests of finished Jobs' reports (their last pod's final statistics) on the
//! Kubernetes backend: the pod is read beside the Job watch, never in it, so a pod list
//! that hangs stalls no other Job's events (a kube-rs `Client` over a scripted mock
//! service; no API server runs here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use datamover::job::{Job, JobOutcome};
use datamover::reconciler::ReconcileError;
use datamover::types::DataMover;
use fake::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tmc_runtime::{ObjectKey, Store};
use tokio::sync::{Notify, mpsc};

/// DataMover `name` (its own uid) waiting for its sync Job.
fn waiting(name: &str, rv: &str) -> Value {
    let mut dm = datamover(name, rv, json!({"phase": "CreatingPod"}));
    dm["metadata"]["uid"] = json!(format!("uid-{name}"));
    dm
}

/// The pods of `nightly-sync`: one, rclone's final statistics in its termination message.
fn nightly_pods() -> Value {
    let message = r#"{"level":"notice","msg":"Transferred: 4 KiB / 4 KiB, 100%","stats":{"bytes":4096,"transfers":3,"totalBytes":4096,"totalTransfers":3,"speed":0.0,"eta":0}}"#;
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "40"},
           "items": [{"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "nightly-sync-x7k2p", "namespace": "default",
                            "creationTimestamp": "2026-01-01T00:01:00Z",
                            "labels": {"job-name": "nightly-sync"}},
               "spec": {"containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]},
               "status": {"phase": "Succeeded", "containerStatuses": [{"name": "rclone", "ready": false,
                   "restartCount": 0, "image": "", "imageID": "",
                   "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": message}}}]}}]})
}

/// The next `n` names the controller reconciled, sorted.
async fn next(reconciled: &mut mpsc::UnboundedReceiver<String>, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..n {
        let name = tokio::time::timeout(Duration::from_secs(10), reconciled.recv())
            .await
            .expect("a reconcile")
            .unwrap();
        names.push(name);
    }
    names.sort();
    names
}

/// nightly's Job completes and its pod list hangs; weekly's Job then loses a pod. The Job
/// watch goes on: weekly is reconciled and its Job reads its failed pod while nightly's pod
/// list is still unanswered, and nightly's Job reads as running (its owner is not told it
/// completed before its statistics are in). Once the pod list answers, nightly is
/// reconciled, its Job complete with the pod's final statistics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_pod_list_stalls_no_other_jobs_events() {
    let go = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (go_script, release_script) = (Arc::clone(&go), Arc::clone(&release));
    let mut watches = 0;
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        ("GET", ALL_JOBS) if r.is_watch() => {
            watches += 1;
            if watches == 1 {
                Reply::EventsWhen(
                    Arc::clone(&go_script),
                    vec![
                        json!({"type": "MODIFIED", "object": job_of("nightly", "33",
                            &json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}))}),
                        json!({"type": "MODIFIED", "object": job_of("weekly", "34",
                            &json!({"active": 1, "failed": 1}))}),
                    ],
                )
            } else {
                Reply::Hold
            }
        }
        ("GET", ALL_JOBS) => list(
            "JobList",
            "32",
            vec![
                job_of("nightly", "31", &json!({"active": 1})),
                job_of("weekly", "32", &json!({"active": 1})),
            ],
        ),
        ("GET", DM) if !r.is_watch() => list(
            "DataMoverList",
            "11",
            vec![waiting("nightly", "10"), waiting("weekly", "11")],
        ),
        // The pod list is answered only once `release` is notified.
        ("GET", PODS) => Reply::EventsWhen(Arc::clone(&release_script), vec![nightly_pods()]),
        _ => quiet(r),
    };
    let (client, log) = server(script);
    let m = metrics();
    let cluster = datamover_kube::KubeCluster::new(client, m.collector(), options());
    let _watches = cluster.spawn_watches();
    cluster.wait_synced().await;
    let (tx, mut reconciled) = mpsc::unbounded_channel::<String>();
    let record = move |dm: Arc<DataMover>, tx: Arc<mpsc::UnboundedSender<String>>| async move {
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
    assert_eq!(
        next(&mut reconciled, 2).await,
        ["nightly", "weekly"],
        "the initial list"
    );

    go.notify_one();
    assert_eq!(
        next(&mut reconciled, 1).await,
        ["weekly"],
        "weekly's Job event, while nightly's pod list hangs"
    );
    let pod_lists = || {
        log.lock()
            .unwrap()
            .iter()
            .filter(|r| r.is("GET", PODS))
            .map(|r| r.query.clone())
            .collect::<Vec<_>>()
    };
    eventually(|| !pod_lists().is_empty()).await;
    assert_eq!(pod_lists(), ["&labelSelector=job-name%3Dnightly-sync"]);
    let job = |name: &str| -> Arc<Job> {
        Store::<Job>::get(&cluster, &ObjectKey::namespaced("default", name)).unwrap()
    };
    let weekly = job("weekly-sync");
    assert_eq!(
        (weekly.status.active, weekly.status.failed),
        (1, 1),
        "weekly's Job as its event said"
    );
    let nightly = job("nightly-sync");
    assert_eq!(nightly.metadata.resource_version, "33");
    assert_eq!(
        (nightly.outcome(), nightly.status.progress),
        (None, None),
        "nightly's Job reads as running until its statistics are in"
    );

    release.notify_one();
    assert_eq!(
        next(&mut reconciled, 1).await,
        ["nightly"],
        "nightly, once its pod is read"
    );
    let nightly = job("nightly-sync");
    assert_eq!(nightly.outcome(), Some(JobOutcome::Complete));
    let stats = nightly.status.progress.unwrap();
    assert_eq!((stats.bytes, stats.files), (4096, 3));
    assert_eq!(pod_lists().len(), 1, "read once");
    assert!(m.render().contains(
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="list-pods",status="success"} 1"#
    ));
    let _ = stop.send(());
    running.await.unwrap();
}
