//! Contract tests of the caches: kube-runtime's watcher and reflector under the backend
//! (paged lists, resumed watches, relists on 410 Gone without losing an event), and the
//! controller runtime over them (a kube-rs `Client` over a scripted mock service; no API
//! server runs here). Lists are kube's paged lists (`limit`, then `continue`), watches
//! kube's (`watch=true`, `resourceVersion`, `allowWatchBookmarks=true`, `timeoutSeconds`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use datamover::job::Job;
use datamover::reconciler::ReconcileError;
use datamover::types::DataMover;
use datamover_kube::{KubeCluster, Options};
use fake::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tmc_runtime::{Event, ObjectKey, Store};
use tokio::sync::{Notify, mpsc};

/// A DataMover named `name` with its own uid.
fn named(name: &str, rv: &str) -> Value {
    let mut dm = datamover(name, rv, json!({}));
    dm["metadata"]["uid"] = json!(format!("uid-{name}"));
    dm
}

/// A watch `ERROR` event: 410 Gone, the resourceVersion is too old.
fn expired() -> Value {
    json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "code": 410, "reason": "Expired",
        "message": "too old resource version: 12 (40)"}})
}

/// The controller runtime over `cluster`, owning Jobs, with a reconciler that only reports
/// the names it reconciles; stop it with the sender.
fn controller(
    cluster: &KubeCluster,
    m: &tmc_metrics::Metrics,
) -> (
    mpsc::UnboundedReceiver<String>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<tmc_runtime::ShutdownReport>,
) {
    let (tx, reconciled) = mpsc::unbounded_channel::<String>();
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
    (reconciled, stop, running)
}

/// The next `n` names reconciled, sorted.
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

/// The list and watch requests of `path`, as `list <query>` and `watch <query>`.
fn requests(log: &Log, path: &str) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == path && r.method == "GET")
        .map(|r| {
            let what = if r.is_watch() { "watch" } else { "list" };
            format!("{what} {}", r.query)
        })
        .collect()
}

/// kube's watch request from `version`, with the backend's default timeout (kube-client
/// starts every query with `&`).
fn watch_from(version: &str) -> String {
    format!(
        "watch &watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion={version}"
    )
}

/// The DataMover watch resumes from the last resourceVersion when the stream ends, and
/// relists on 410 Gone; the controller runtime's Store sees Applied, Applied, Deleted, and
/// the 410 is counted.
#[tokio::test]
async fn the_watch_resumes_from_the_last_version_and_relists_on_410() {
    let mut lists = 0;
    let mut watches = 0;
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        ("GET", DM) if r.is_watch() => {
            watches += 1;
            match watches {
                1 => Reply::Events(vec![json!({"type": "MODIFIED",
                    "object": datamover("nightly", "7", json!({"phase": "Completed"}))})]),
                2 => Reply::Events(vec![expired()]),
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
        _ => quiet(r),
    };
    let (client, log) = server(script);
    let m = metrics();
    let cluster = KubeCluster::new(client, m.collector(), options());
    let mut events = Store::<DataMover>::watch(&cluster);
    let _watches = cluster.spawn_watches();
    let mut seen = vec![];
    while seen.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Applied(dm) => seen.push(format!("applied {}", dm.metadata.resource_version)),
            Event::Deleted(key) => seen.push(format!("deleted {key}")),
        }
    }
    assert_eq!(seen, ["applied 5", "applied 7", "deleted default/nightly"]);
    eventually(|| requests(&log, DM).len() == 5).await;
    assert_eq!(
        requests(&log, DM),
        [
            "list &limit=500".to_owned(),
            watch_from("5"),
            watch_from("7"),
            "list &limit=500".to_owned(),
            watch_from("9"),
        ]
    );
    assert!(Store::<DataMover>::list(&cluster).is_empty());
    let text = m.render();
    for line in [
        r#"tmc_component_errors_total{component_type="datamover-kube",component_id="apiserver",error_type="ResourceNotFound",severity="Low"} 1"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="watch-datamovers",status="error"} 1"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="list-datamovers",status="success"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
}

/// A list pages: the first request asks for `limit` objects, the API server answers one
/// page and a `continue` token, the next request carries it; the objects of both pages are
/// cached and reconciled, and the watch starts from the last page's resourceVersion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_pages_with_continue_tokens() {
    let script = |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        ("GET", DM) if !r.is_watch() => match param(&r.query, "continue") {
            None => page(
                "DataMoverList",
                "10",
                Some("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAsInN0YXJ0IjoibmlnaHRseSJ9"),
                vec![named("nightly", "10")],
            ),
            Some(_) => page("DataMoverList", "11", None, vec![named("weekly", "11")]),
        },
        _ => quiet(r),
    };
    let (client, log) = server(script);
    let m = metrics();
    let cluster = KubeCluster::new(
        client,
        m.collector(),
        Options {
            page_size: 1,
            ..options()
        },
    );
    let _watches = cluster.spawn_watches();
    cluster.wait_synced().await;
    let mut cached: Vec<String> = Store::<DataMover>::list(&cluster)
        .iter()
        .map(|dm| dm.metadata.name.clone())
        .collect();
    cached.sort();
    assert_eq!(cached, ["nightly", "weekly"]);
    let (mut reconciled, stop, running) = controller(&cluster, &m);
    assert_eq!(next(&mut reconciled, 2).await, ["nightly", "weekly"]);
    eventually(|| requests(&log, DM).len() == 3).await;
    assert_eq!(
        requests(&log, DM),
        [
            "list &limit=1".to_owned(),
            "list &limit=1&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAsInN0YXJ0IjoibmlnaHRseSJ9".to_owned(),
            watch_from("11"),
        ]
    );
    assert!(m.render().contains(
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="list-datamovers",status="success"} 1"#
    ), "two pages are one list");
    let _ = stop.send(());
    running.await.unwrap();
}

/// While no watch runs (it ended in 410 Gone), a DataMover is modified, another deleted,
/// and a Job deleted. The relist loses none of it: the modified DataMover and the deleted
/// Job's owner are reconciled, the deleted DataMover leaves the cache (and is not
/// reconciled), and what did not change is not reconciled again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relist_after_410_loses_no_event() {
    let gap = Arc::new(Notify::new());
    let dm_gap = Arc::clone(&gap);
    let job_gap = Arc::new(Notify::new());
    let job_gap_script = Arc::clone(&job_gap);
    let relisted = Arc::new(AtomicBool::new(false));
    let (dm_relisted, job_relisted) = (Arc::clone(&relisted), Arc::clone(&relisted));
    let (mut dm_lists, mut dm_watches, mut job_lists, mut job_watches) = (0, 0, 0, 0);
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        ("GET", DM) if r.is_watch() => {
            dm_watches += 1;
            if dm_watches == 1 {
                Reply::EventsWhen(Arc::clone(&dm_gap), vec![expired()])
            } else {
                Reply::Hold
            }
        }
        ("GET", DM) => {
            dm_lists += 1;
            if dm_lists == 1 {
                list(
                    "DataMoverList",
                    "12",
                    vec![
                        named("nightly", "10"),
                        named("weekly", "11"),
                        named("monthly", "12"),
                        named("daily", "9"),
                    ],
                )
            } else {
                dm_relisted.store(true, Ordering::SeqCst);
                // nightly modified, monthly deleted, weekly and daily unchanged.
                list(
                    "DataMoverList",
                    "40",
                    vec![
                        named("nightly", "35"),
                        named("weekly", "11"),
                        named("daily", "9"),
                    ],
                )
            }
        }
        ("GET", ALL_JOBS) if r.is_watch() => {
            job_watches += 1;
            if job_watches == 1 {
                Reply::EventsWhen(Arc::clone(&job_gap_script), vec![expired()])
            } else {
                Reply::Hold
            }
        }
        ("GET", ALL_JOBS) => {
            job_lists += 1;
            if job_lists == 1 {
                list(
                    "JobList",
                    "31",
                    vec![job_of("weekly", "31", &json!({"active": 1}))],
                )
            } else {
                job_relisted.store(true, Ordering::SeqCst);
                // weekly's Job was deleted (its TTL ran out).
                list("JobList", "41", vec![])
            }
        }
        _ => quiet(r),
    };
    let (client, log) = server(script);
    let m = metrics();
    let cluster = KubeCluster::new(client, m.collector(), options());
    let _watches = cluster.spawn_watches();
    cluster.wait_synced().await;
    let mut events = Store::<DataMover>::watch(&cluster);
    let (mut reconciled, stop, running) = controller(&cluster, &m);
    assert_eq!(
        next(&mut reconciled, 4).await,
        ["daily", "monthly", "nightly", "weekly"],
        "the initial list"
    );

    gap.notify_one();
    job_gap.notify_one();
    assert_eq!(
        next(&mut reconciled, 2).await,
        ["nightly", "weekly"],
        "the modified DataMover, and the owner of the deleted Job"
    );
    assert!(relisted.load(Ordering::SeqCst));
    let mut store_events = vec![];
    while let Ok(event) = events.try_recv() {
        store_events.push(match event {
            Event::Applied(dm) => format!(
                "applied {} {}",
                dm.metadata.name, dm.metadata.resource_version
            ),
            Event::Deleted(key) => format!("deleted {key}"),
        });
    }
    assert_eq!(
        store_events,
        ["applied nightly 35", "deleted default/monthly"]
    );
    let key = |name| ObjectKey::namespaced("default", name);
    assert!(Store::<DataMover>::get(&cluster, &key("monthly")).is_none());
    assert_eq!(
        Store::<DataMover>::get(&cluster, &key("nightly"))
            .unwrap()
            .metadata
            .resource_version,
        "35"
    );
    assert!(Store::<Job>::get(&cluster, &key("weekly-sync")).is_none());
    // Nothing else is reconciled: not the unchanged daily, not the deleted monthly.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), reconciled.recv())
            .await
            .is_err(),
        "an unchanged or deleted DataMover was reconciled"
    );
    assert_eq!(
        requests(&log, DM),
        [
            "list &limit=500".to_owned(),
            watch_from("12"),
            "list &limit=500".to_owned(),
            watch_from("40"),
        ]
    );
    let text = m.render();
    for line in [
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="watch-datamovers",status="error"} 1"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="watch-jobs",status="error"} 1"#,
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="list-jobs",status="success"} 2"#,
        r#"tmc_component_errors_total{component_type="datamover-kube",component_id="apiserver",error_type="ResourceNotFound",severity="Low"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    let _ = stop.send(());
    running.await.unwrap();
}

/// The controller runtime over the Kubernetes backend, owning Jobs: a Job's status event
/// re-queues exactly its owner (`nightly`), not the other DataMover (`weekly`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_status_event_requeues_exactly_its_owner() {
    let job_done = Arc::new(Notify::new());
    let done = Arc::clone(&job_done);
    let mut watches = 0;
    let script = move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        ("GET", ALL_JOBS) if r.is_watch() => {
            watches += 1;
            if watches == 1 {
                Reply::EventsWhen(
                    Arc::clone(&done),
                    vec![json!({"type": "MODIFIED", "object": job_of("nightly", "32",
                        &json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}))})],
                )
            } else {
                Reply::Hold
            }
        }
        ("GET", DM) if !r.is_watch() => list(
            "DataMoverList",
            "11",
            vec![named("nightly", "10"), named("weekly", "11")],
        ),
        ("GET", ALL_JOBS) => list(
            "JobList",
            "31",
            vec![job_of("nightly", "31", &json!({"active": 1}))],
        ),
        _ => quiet(r),
    };
    let (client, _log) = server(script);
    let m = metrics();
    let cluster = KubeCluster::new(client, m.collector(), options());
    let _watches = cluster.spawn_watches();
    cluster.wait_synced().await;
    let (mut reconciled, stop, running) = controller(&cluster, &m);
    assert_eq!(
        next(&mut reconciled, 2).await,
        ["nightly", "weekly"],
        "the initial list"
    );
    job_done.notify_one();
    assert_eq!(
        next(&mut reconciled, 1).await,
        ["nightly"],
        "the Job's owner, and only it"
    );
    let extra = tokio::time::timeout(Duration::from_millis(300), reconciled.recv()).await;
    assert!(
        extra.is_err(),
        "weekly owns nothing that changed; reconciled again: {extra:?}"
    );
    let _ = stop.send(());
    running.await.unwrap();
}

/// The Secret watch asks the API server to leave out service-account tokens and Helm
/// releases (never a destination, and the bulk of a cluster's Secrets); the secret a
/// DataMover names is read from the cache, decoded.
#[tokio::test]
async fn the_secret_watch_leaves_out_tokens_and_helm_releases() {
    let (client, log) = server(quiet);
    let cluster = KubeCluster::new(client, metrics().collector(), options());
    let _watches = cluster.spawn_watches();
    cluster.wait_synced().await;
    let selector = "fieldSelector=type%21%3Dkubernetes.io%2Fservice-account-token%2Ctype%21%3Dhelm.sh%2Frelease.v1";
    eventually(|| requests(&log, SECRETS).len() == 2).await;
    assert_eq!(
        requests(&log, SECRETS),
        [
            format!("list &{selector}&limit=500"),
            format!(
                "watch &watch=true&timeoutSeconds=290&{selector}&allowWatchBookmarks=true&resourceVersion=1"
            ),
        ]
    );
    let secret = datamover::backend::Cluster::secret(&cluster, "default", "creds").unwrap();
    assert_eq!(
        secret.values().unwrap(),
        [
            ("AWS_ACCESS_KEY_ID".to_owned(), "minio".to_owned()),
            ("BUCKET_NAME".to_owned(), "backups".to_owned()),
        ]
        .into()
    );
}
