//! Contract tests of the schedule reconciler and of the volume-populator restore on the
//! Kubernetes backend: a kube-rs `Client` over a scripted mock service answering as the API
//! server does (no API server runs here), with assertions on the exact requests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

mod fake;

use datamover::reconciler::ReconcileError;
use datamover::schedule::DataMoverSchedule;
use datamover::schedule::clock::{Clock, TokioClock};
use datamover::schedule::reconciler::{ScheduleContext, reconcile as reconcile_schedule};
use datamover::types::PersistentVolumeClaim;
use datamover_kube::KubeCluster;
use datamover_kube::restore::{self, RestoreContext};
use fake::*;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_runtime::{Action, ObjectKey, Store};

const SCHEDULES: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/datamoverschedules";
const POPULATORS: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/datamoverpopulators";
const NS_DM: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamovers";
const SCHEDULE_STATUS: &str =
    "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamoverschedules/nightly/status";
const SCHEDULE_UID: &str = "5c4ed01e-0000-4000-8000-000000000001";
/// 2026-11-30T12:00:30Z.
const NOW_MS: u64 = 1_796_040_030_000;

/// A cluster over `script`, with every watch (DataMovers, PVCs, Secrets, Jobs, schedules,
/// populators) listed once.
async fn boot(
    script: impl FnMut(&Req) -> Reply + Send + 'static,
) -> (KubeCluster, Log, tmc_metrics::Metrics) {
    let (client, log) = server(script);
    let m = metrics();
    let cluster = KubeCluster::new(client, m.collector(), options());
    let _core = cluster.spawn_watches();
    let _schedules = cluster.spawn_schedule_watches();
    cluster.wait_synced().await;
    cluster.wait_schedules_synced().await;
    (cluster, log, m)
}

/// The requests the reconcilers made: the watchers' lists and watches left out.
fn calls(log: &Log) -> Vec<Req> {
    fake::writes(log)
        .into_iter()
        .filter(|r| !(r.method == "GET" && (r.path == SCHEDULES || r.path == POPULATORS)))
        .collect()
}

/// `group/resource verb` of a request, as RBAC names it.
fn permission(r: &Req) -> String {
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let (group, mut rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not an API path: {}", r.path),
    };
    if let ["namespaces", _ns, inner @ ..] = rest
        && !inner.is_empty()
    {
        rest = inner;
    }
    let resource = match rest {
        [resource] | [resource, _] => (*resource).to_owned(),
        [resource, _, sub] => format!("{resource}/{sub}"),
        _ => panic!("unexpected path {}", r.path),
    };
    let verb = match (r.method.as_str(), rest.len()) {
        ("GET", _) if r.is_watch() => "watch",
        ("GET", 1) => "list",
        ("GET", _) => "get",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("DELETE", _) => "delete",
        (m, _) => panic!("unexpected method {m}"),
    };
    format!("{group}/{resource} {verb}")
}

/// Every request in `log` is granted by the manager's `ClusterRole` in
/// `deploy/manager/rbac.yaml` (what the deployed operator may do covers what it does).
fn assert_granted(log: &Log) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/manager/rbac.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut granted = HashSet::new();
    for doc in yaml_serde::Deserializer::from_str(&text) {
        let v: Value = yaml_serde::from_value(
            <yaml_serde::Value as serde::Deserialize>::deserialize(doc).unwrap(),
        )
        .unwrap();
        if v["metadata"]["name"] != "datamover-operator-manager-role" {
            continue;
        }
        for rule in v["rules"].as_array().unwrap() {
            for g in rule["apiGroups"].as_array().unwrap() {
                for res in rule["resources"].as_array().unwrap() {
                    for verb in rule["verbs"].as_array().unwrap() {
                        granted.insert(format!(
                            "{}/{} {}",
                            g.as_str().unwrap(),
                            res.as_str().unwrap(),
                            verb.as_str().unwrap()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        !granted.is_empty(),
        "no manager role in deploy/manager/rbac.yaml"
    );
    for r in log.lock().unwrap().iter() {
        let needed = permission(r);
        assert!(
            granted.contains(&needed),
            "{} needs `{needed}`, which deploy/manager/rbac.yaml does not grant",
            r.line()
        );
    }
}

mod schedules {
    use super::*;

    fn schedule(status: Value, extra_spec: Value) -> Value {
        let mut spec = json!({"schedule": "0 * * * *", "sourcePvc": "data", "secretName": "creds",
                              "addTimestampPrefix": true});
        merge(&mut spec, &extra_spec);
        json!({"apiVersion": "datamover.a-cup-of.coffee/v1alpha1", "kind": "DataMoverSchedule",
               "metadata": {"name": "nightly", "namespace": "default", "uid": SCHEDULE_UID,
                            "resourceVersion": "5", "generation": 1,
                            "creationTimestamp": "2026-11-30T11:30:00Z"},
               "spec": spec, "status": status})
    }

    /// A finished run of the schedule, scheduled at `hour`:00 and done 5 minutes later.
    fn run(hour: u32, phase: &str) -> Value {
        let minutes = (NOW_MS / 60_000) - 60 * u64::from(12 - hour);
        let name = format!("nightly-{}", minutes - minutes % 60);
        json!({"apiVersion": "datamover.a-cup-of.coffee/v1alpha1", "kind": "DataMover",
               "metadata": {"name": name, "namespace": "default", "uid": format!("run-{hour}"),
                            "resourceVersion": "7",
                            "labels": {"datamover.a-cup-of.coffee/schedule": "nightly"},
                            "annotations": {"datamover.a-cup-of.coffee/scheduled-at": format!("2026-11-30T{hour:02}:00:00Z")},
                            "ownerReferences": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                                "kind": "DataMoverSchedule", "name": "nightly", "uid": SCHEDULE_UID,
                                "controller": true, "blockOwnerDeletion": true}]},
               "spec": {"sourcePvc": "data", "secretName": "creds"},
               "status": {"phase": phase, "completionTime": format!("2026-11-30T{hour:02}:05:00Z")}})
    }

    /// The API server's side: the schedule (status patches with the resourceVersion
    /// precondition), the DataMovers listed, and what `extra` answers.
    fn script(
        object: Arc<Mutex<Object>>,
        runs: Vec<Value>,
        extra: impl Fn(&Req) -> Option<Reply> + Send + 'static,
    ) -> impl FnMut(&Req) -> Reply + Send + 'static {
        move |r: &Req| {
            if let Some(reply) = extra(r) {
                return reply;
            }
            match (r.method.as_str(), r.path.as_str()) {
                _ if r.is_watch() => Reply::Hold,
                ("GET", SCHEDULES) => list(
                    "DataMoverScheduleList",
                    "5",
                    vec![object.lock().unwrap().value.clone()],
                ),
                ("GET", POPULATORS) => list("DataMoverPopulatorList", "5", vec![]),
                ("GET", DM) => list("DataMoverList", "7", runs.clone()),
                ("PATCH", SCHEDULE_STATUS) => object.lock().unwrap().patch_status(r),
                _ => quiet(r),
            }
        }
    }

    fn ctx(cluster: &KubeCluster, m: &tmc_metrics::Metrics) -> Arc<ScheduleContext<KubeCluster>> {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(NOW_MS));
        Arc::new(ScheduleContext {
            cluster: Arc::new(cluster.clone()),
            clock,
            metrics: m.collector(),
        })
    }

    async fn step(
        cluster: &KubeCluster,
        ctx: &Arc<ScheduleContext<KubeCluster>>,
    ) -> Result<Action, ReconcileError> {
        let object =
            Store::<DataMoverSchedule>::get(cluster, &ObjectKey::namespaced("default", "nightly"))
                .unwrap();
        reconcile_schedule(object, Arc::clone(ctx)).await
    }

    fn the_run(uid: &str) -> Value {
        json!({"apiVersion": "datamover.a-cup-of.coffee/v1alpha1", "kind": "DataMover",
               "metadata": {"name": "nightly-29934000", "namespace": "default",
                            "labels": {"datamover.a-cup-of.coffee/schedule": "nightly"},
                            "annotations": {"datamover.a-cup-of.coffee/scheduled-at": "2026-11-30T12:00:00Z"},
                            "ownerReferences": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                                "kind": "DataMoverSchedule", "name": "nightly", "uid": uid,
                                "controller": true, "blockOwnerDeletion": true}]},
               "spec": {"sourcePvc": "data", "secretName": "creds", "addTimestampPrefix": true,
                        "deletePvcAfterBackup": false}})
    }

    /// The due run is created with a POST (named after the schedule and the scheduled minute, owned by
    /// the schedule, the spec copied), the status written with it active, and the
    /// reconcile asks to come back at the next scheduled time.
    #[tokio::test(start_paused = true)]
    async fn a_due_run_is_created_owned_by_the_schedule_and_the_status_written() {
        let object = Arc::new(Mutex::new(Object {
            value: schedule(json!({}), json!({})),
            version: 5,
            conflicts: 0,
        }));
        let (cluster, log, m) = boot(script(Arc::clone(&object), vec![], |r| {
            (r.method == "POST" && r.path == NS_DM).then(|| {
                let mut created = r.body.clone();
                created["metadata"]["uid"] = json!("run-12");
                created["metadata"]["resourceVersion"] = json!("8");
                created["metadata"]["creationTimestamp"] = json!("2026-11-30T12:00:30Z");
                Reply::Json(201, created)
            })
        }))
        .await;
        let ctx = ctx(&cluster, &m);
        let action = step(&cluster, &ctx).await.unwrap();
        assert_eq!(action, Action::requeue(Duration::from_secs(59 * 60 + 30)));
        let calls = calls(&log);
        let lines: Vec<String> = calls.iter().map(Req::line).collect();
        assert_eq!(
            lines,
            [format!("POST {NS_DM}"), format!("PATCH {SCHEDULE_STATUS}")]
        );
        assert_eq!(calls[0].body, the_run(SCHEDULE_UID));
        assert_eq!(
            calls[1].body,
            json!({"metadata": {"resourceVersion": "5"},
                   "status": {"lastScheduleTime": "2026-11-30T12:00:00Z",
                              "active": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                                          "kind": "DataMover", "name": "nightly-29934000",
                                          "namespace": "default", "uid": "run-12"}],
                              "activeJobs": 1, "successfulJobs": 0, "failedJobs": 0,
                              "skippedRuns": 0, "missedRuns": 0}})
        );
        assert!(
            m.render().contains(
                r#"datamover_schedule_runs_total{schedule="nightly",status="started",namespace="default"} 1"#
            ),
            "{}",
            m.render()
        );
        // The status write was cached: the next reconcile sees its run active and writes
        // nothing.
        step(&cluster, &ctx).await.unwrap();
        assert_eq!(calls_len(&log), 2);
        assert_granted(&log);
    }

    fn calls_len(log: &Log) -> usize {
        calls(log).len()
    }

    /// A 409 on the create: the run a previous attempt created is adopted (read back, not
    /// counted as started); a 409 on the status write is a conflict, retried.
    #[tokio::test(start_paused = true)]
    async fn a_run_that_exists_is_adopted_and_a_stale_status_write_conflicts() {
        let object = Arc::new(Mutex::new(Object {
            value: schedule(json!({}), json!({})),
            version: 5,
            conflicts: 1,
        }));
        let (cluster, log, m) = boot(script(Arc::clone(&object), vec![], |r| {
            match (r.method.as_str(), r.path.as_str()) {
                ("POST", NS_DM) => Some(status(409, "AlreadyExists")),
                ("GET", p) if p == format!("{NS_DM}/nightly-29934000") => {
                    let mut existing = the_run(SCHEDULE_UID);
                    existing["metadata"]["uid"] = json!("run-12");
                    existing["metadata"]["resourceVersion"] = json!("8");
                    existing["status"] = json!({"phase": "CreatingClonedPVC"});
                    Some(Reply::Json(200, existing))
                }
                _ => None,
            }
        }))
        .await;
        let ctx = ctx(&cluster, &m);
        match step(&cluster, &ctx).await {
            Err(ReconcileError::Conflict(message)) => {
                assert!(message.contains("resourceVersion 5 is stale"), "{message}");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        step(&cluster, &ctx).await.unwrap();
        let lines: Vec<String> = calls(&log).iter().map(Req::line).collect();
        let get = format!("GET {NS_DM}/nightly-29934000");
        assert_eq!(
            lines,
            [
                format!("POST {NS_DM}"),
                get.clone(),
                format!("PATCH {SCHEDULE_STATUS}"),
                format!("POST {NS_DM}"),
                get,
                format!("PATCH {SCHEDULE_STATUS}"),
            ]
        );
        let status = object.lock().unwrap().value["status"].clone();
        assert_eq!(status["active"][0]["uid"], "run-12");
        assert_eq!(status["activeJobs"], 1);
        assert!(
            !m.render().contains("datamover_schedule_runs_total{"),
            "an adopted run is not counted as started\n{}",
            m.render()
        );
        assert_granted(&log);
    }

    /// A DataMover with the run's name that the schedule does not own is not adopted: the
    /// error names it, and no status says it is the schedule's run.
    #[tokio::test(start_paused = true)]
    async fn a_foreign_datamover_with_the_runs_name_is_not_adopted() {
        let object = Arc::new(Mutex::new(Object {
            value: schedule(json!({}), json!({})),
            version: 5,
            conflicts: 0,
        }));
        let (cluster, log, m) = boot(script(Arc::clone(&object), vec![], |r| {
            match (r.method.as_str(), r.path.as_str()) {
                ("POST", NS_DM) => Some(status(409, "AlreadyExists")),
                ("GET", p) if p == format!("{NS_DM}/nightly-29934000") => {
                    let mut foreign = the_run(SCHEDULE_UID);
                    foreign["metadata"]
                        .as_object_mut()
                        .unwrap()
                        .remove("ownerReferences");
                    foreign["metadata"]["uid"] = json!("someone-else");
                    Some(Reply::Json(200, foreign))
                }
                _ => None,
            }
        }))
        .await;
        let ctx = ctx(&cluster, &m);
        let error = step(&cluster, &ctx).await.unwrap_err().to_string();
        assert!(
            error.contains(
                "starting the scheduled run default/nightly-29934000: nightly-29934000 already exists and is not owned by this DataMoverSchedule"
            ),
            "{error}"
        );
        let lines: Vec<String> = calls(&log).iter().map(Req::line).collect();
        assert_eq!(
            lines,
            [
                format!("POST {NS_DM}"),
                format!("GET {NS_DM}/nightly-29934000")
            ]
        );
        assert_eq!(object.lock().unwrap().value["status"], json!({}));
        assert_granted(&log);
    }

    /// Finished runs beyond `successfulJobsHistoryLimit` are deleted oldest first, with
    /// `propagationPolicy: Background` (the garbage collector takes their clone and Job).
    #[tokio::test(start_paused = true)]
    async fn runs_beyond_the_history_limit_are_deleted_in_the_background() {
        let object = Arc::new(Mutex::new(Object {
            value: schedule(
                json!({"lastScheduleTime": "2026-11-30T12:00:00Z", "successfulJobs": 2}),
                json!({"successfulJobsHistoryLimit": 1}),
            ),
            version: 5,
            conflicts: 0,
        }));
        let runs = vec![run(10, "Completed"), run(11, "Completed")];
        let (cluster, log, m) = boot(script(Arc::clone(&object), runs, |r| {
            (r.method == "DELETE").then(|| {
                Reply::Json(
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                )
            })
        }))
        .await;
        let ctx = ctx(&cluster, &m);
        step(&cluster, &ctx).await.unwrap();
        let calls = calls(&log);
        let lines: Vec<String> = calls.iter().map(Req::line).collect();
        assert_eq!(
            lines,
            [
                format!("DELETE {NS_DM}/nightly-29933880"),
                format!("PATCH {SCHEDULE_STATUS}"),
            ]
        );
        assert_eq!(
            calls[0].body["propagationPolicy"], "Background",
            "{}",
            calls[0].body
        );
        assert_eq!(
            calls[1].body,
            json!({"metadata": {"resourceVersion": "5"},
                   "status": {"lastScheduleTime": "2026-11-30T12:00:00Z",
                              "lastSuccessfulTime": "2026-11-30T11:05:00Z",
                              "activeJobs": 0, "successfulJobs": 1, "failedJobs": 0,
                              "skippedRuns": 0, "missedRuns": 0}})
        );
        assert_granted(&log);
    }
}

mod restores {
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
        let pvc = Store::<PersistentVolumeClaim>::get(
            cluster,
            &ObjectKey::namespaced("default", "restored"),
        )
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
                   {"name": "RCLONE_LOG_FILE", "value": "/dev/termination-log"}])
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
            Action::requeue(datamover::populator::reconciler::RETRY_MISSING)
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
}
