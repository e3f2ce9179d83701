//! A schedule's runs on Kubernetes: created, adopted, pruned; its status written.

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

/// A run replaced under its name since it was listed: the API server refuses the delete
/// (409, the uid precondition) and the schedule goes on as if it were gone.
#[tokio::test(start_paused = true)]
async fn a_run_replaced_under_its_name_is_not_pruned_and_does_not_fail_the_schedule() {
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
                409,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "reason": "Conflict", "code": 409,
                       "message": "Precondition failed: UID in precondition: run-10, UID in object meta: other"}),
            )
        })
    }))
    .await;
    let ctx = ctx(&cluster, &m);
    step(&cluster, &ctx).await.unwrap();
    let lines: Vec<String> = calls(&log).iter().map(Req::line).collect();
    assert_eq!(
        lines,
        [
            format!("DELETE {NS_DM}/nightly-29933880"),
            format!("PATCH {SCHEDULE_STATUS}"),
        ]
    );
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
    // Only the run it saw: another object made under its name since is left alone.
    assert_eq!(
        calls[0].body["preconditions"],
        json!({"uid": "run-10"}),
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
