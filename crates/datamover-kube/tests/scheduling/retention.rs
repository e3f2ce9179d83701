//! A schedule's retention on Kubernetes: the prune Job it creates after a successful run
//! (the request, byte for byte), and a finished prune Job recorded, counted and deleted.

use super::*;

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const ALL_JOBS: &str = "/apis/batch/v1/jobs";
const PRUNE_JOB: &str = "nightly-prune-29933940";

fn schedule(status: Value) -> Value {
    json!({"apiVersion": "datamover.a-cup-of.coffee/v1alpha1", "kind": "DataMoverSchedule",
           "metadata": {"name": "nightly", "namespace": "default", "uid": SCHEDULE_UID,
                        "resourceVersion": "5", "generation": 1,
                        "creationTimestamp": "2026-11-30T09:30:00Z"},
           "spec": {"schedule": "0 * * * *", "sourcePvc": "data", "secretName": "creds",
                    "addTimestampPrefix": true,
                    "additionalEnv": [{"name": "RCLONE_BWLIMIT", "value": "1M"}],
                    "retention": {"keepLast": 2, "keepDaily": 7}},
           "status": status})
}

/// The schedule's run of 11:00, Completed, having written `2026-11-30-110002`.
fn run_of_eleven() -> Value {
    json!({"apiVersion": "datamover.a-cup-of.coffee/v1alpha1", "kind": "DataMover",
           "metadata": {"name": "nightly-29933940", "namespace": "default", "uid": "run-11",
                        "resourceVersion": "7",
                        "labels": {"datamover.a-cup-of.coffee/schedule": "nightly"},
                        "annotations": {"datamover.a-cup-of.coffee/scheduled-at": "2026-11-30T11:00:00Z"},
                        "ownerReferences": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                            "kind": "DataMoverSchedule", "name": "nightly", "uid": SCHEDULE_UID,
                            "controller": true, "blockOwnerDeletion": true}]},
           "spec": {"sourcePvc": "data", "secretName": "creds", "addTimestampPrefix": true},
           "status": {"phase": "Completed", "completionTime": "2026-11-30T11:05:00Z",
                      "destination": "DATAMOVERS3:backups/2026-11-30-110002"}})
}

/// Another DataMover, of no schedule, writing into the same base.
fn other() -> Value {
    json!({"apiVersion": "datamover.a-cup-of.coffee/v1alpha1", "kind": "DataMover",
           "metadata": {"name": "adhoc", "namespace": "default", "uid": "adhoc-uid",
                        "resourceVersion": "7"},
           "spec": {"sourcePvc": "data", "secretName": "creds", "addTimestampPrefix": true},
           "status": {"phase": "Completed",
                      "destination": "DATAMOVERS3:backups/2026-11-30-100000"}})
}

/// The prune Job of `run_of_eleven`, as stored, with `status`.
fn prune_job(status: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": PRUNE_JOB, "namespace": "default", "uid": "prune-uid",
                        "resourceVersion": "40", "creationTimestamp": "2026-11-30T11:05:01Z",
                        "labels": {"datamover.a-cup-of.coffee/operation": "prune",
                                   "datamover.a-cup-of.coffee/schedule": "nightly",
                                   "app.kubernetes.io/managed-by": "datamover-operator"},
                        "annotations": {"datamover.a-cup-of.coffee/after-run": "nightly-29933940"},
                        "ownerReferences": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                            "kind": "DataMoverSchedule", "name": "nightly", "uid": SCHEDULE_UID,
                            "controller": true, "blockOwnerDeletion": true}]},
           "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest",
                                    "env": [{"name": "DRY_RUN", "value": "false"}]}]}}},
           "status": status})
}

fn script(
    object: Arc<Mutex<Object>>,
    jobs: Vec<Value>,
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
            ("GET", DM) => list("DataMoverList", "7", vec![run_of_eleven(), other()]),
            ("GET", ALL_JOBS) => list("JobList", "40", jobs.clone()),
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

async fn step(cluster: &KubeCluster, m: &tmc_metrics::Metrics) -> Result<Action, ReconcileError> {
    let object =
        Store::<DataMoverSchedule>::get(cluster, &ObjectKey::namespaced("default", "nightly"))
            .unwrap();
    reconcile_schedule(object, ctx(cluster, m)).await
}

/// Nothing is due (12:00 was handled), no run is active, the 11:00 run succeeded: the prune
/// Job is created with a `POST`: the rclone image running the prune script, the rules, the
/// newest backup and the other DataMover's folder as env, the secret as `envFrom`, no
/// volume, owned by the schedule.
#[tokio::test(start_paused = true)]
async fn a_successful_run_starts_a_prune_job_running_the_script_in_the_rclone_image() {
    let object = Arc::new(Mutex::new(Object {
        value: schedule(json!({"lastScheduleTime": "2026-11-30T12:00:00Z"})),
        version: 5,
        conflicts: 0,
    }));
    let (cluster, log, m) = boot(script(Arc::clone(&object), vec![], |r| {
        (r.method == "POST" && r.path == JOBS).then(|| {
            let mut created = r.body.clone();
            created["metadata"]["uid"] = json!("prune-uid");
            created["metadata"]["resourceVersion"] = json!("41");
            created["metadata"]["creationTimestamp"] = json!("2026-11-30T12:00:31Z");
            Reply::Json(201, created)
        })
    }))
    .await;
    step(&cluster, &m).await.unwrap();
    let calls = calls(&log);
    let lines: Vec<String> = calls.iter().map(Req::line).collect();
    assert_eq!(
        lines,
        [format!("POST {JOBS}"), format!("PATCH {SCHEDULE_STATUS}")]
    );
    let labels = json!({"datamover.a-cup-of.coffee/operation": "prune",
                        "datamover.a-cup-of.coffee/schedule": "nightly",
                        "app.kubernetes.io/managed-by": "datamover-operator"});
    let hardened = json!({"allowPrivilegeEscalation": false, "runAsNonRoot": true,
                          "runAsUser": 65534, "runAsGroup": 65534,
                          "readOnlyRootFilesystem": true,
                          "capabilities": {"drop": ["ALL"]},
                          "seccompProfile": {"type": "RuntimeDefault"}});
    assert_eq!(
        calls[0].body,
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": PRUNE_JOB, "namespace": "default", "labels": labels,
                            "annotations": {"datamover.a-cup-of.coffee/after-run": "nightly-29933940"},
                            "ownerReferences": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                                "kind": "DataMoverSchedule", "name": "nightly", "uid": SCHEDULE_UID,
                                "controller": true, "blockOwnerDeletion": true}]},
               "spec": {"backoffLimit": 2, "template": {
                   "metadata": {"labels": labels},
                   "spec": {"restartPolicy": "Never",
                            "containers": [{
                                "name": "rclone",
                                "image": "ghcr.io/qjoly/datamover-rclone:latest",
                                "imagePullPolicy": "Always",
                                "command": ["/bin/sh", "-c", datamover_kube::prune::PRUNE_SCRIPT],
                                "env": [
                                    {"name": "RETENTION", "value": "keepLast=2,keepDaily=7"},
                                    {"name": "DRY_RUN", "value": "false"},
                                    {"name": "NEWEST_BACKUP", "value": "2026-11-30-110002"},
                                    {"name": "EXCLUDED_BACKUPS", "value": "2026-11-30-100000"},
                                    {"name": "RCLONE_USE_JSON_LOG", "value": "true"},
                                    {"name": "RCLONE_STATS", "value": "1m"},
                                    {"name": "RCLONE_STATS_LOG_LEVEL", "value": "NOTICE"},
                                    {"name": "RCLONE_LOG_FILE", "value": "/dev/termination-log"},
                                    // The secret's CA bundle as rclone's, never itself.
                                    {"name": "RCLONE_CA_CERT", "valueFrom": {"secretKeyRef": {"key": "AWS_CA_BUNDLE", "name": "creds", "optional": true}}},
                                    {"name": "AWS_CA_BUNDLE"},
                                    {"name": "RCLONE_BWLIMIT", "value": "1M"}],
                                "envFrom": [{"secretRef": {"name": "creds"}}],
                                "terminationMessagePath": "/dev/termination-log",
                                "terminationMessagePolicy": "FallbackToLogsOnError",
                                "securityContext": hardened}],
                            "securityContext": {"runAsNonRoot": true, "runAsUser": 65534,
                                                "runAsGroup": 65534, "fsGroup": 65534,
                                                "seccompProfile": {"type": "RuntimeDefault"}}}}},
               "status": {"active": 0, "failed": 0, "succeeded": 0}})
    );
    // The Job is cached at once: the next reconcile sees it running and creates nothing.
    step(&cluster, &m).await.unwrap();
    assert_eq!(calls_len(&log), 2);
    assert_granted(&log);
}

fn calls_len(log: &Log) -> usize {
    calls(log).len()
}

/// A failed prune Job: its reason in `status.retention.error`, counted once in
/// `datamover_schedule_prune_failures_total`, the Job deleted; no new prune for that run.
#[tokio::test(start_paused = true)]
async fn a_failed_prune_job_is_recorded_counted_and_deleted() {
    let object = Arc::new(Mutex::new(Object {
        value: schedule(json!({"lastScheduleTime": "2026-11-30T12:00:00Z"})),
        version: 5,
        conflicts: 0,
    }));
    let failed = prune_job(
        json!({"failed": 3, "completionTime": "2026-11-30T11:09:00Z",
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit"}]}),
    );
    let delete = format!("{JOBS}/{PRUNE_JOB}");
    let deleted = delete.clone();
    let (cluster, log, m) = boot(script(Arc::clone(&object), vec![failed], move |r| {
        (r.method == "DELETE" && r.path == deleted)
            .then(|| Reply::Json(200, json!({"kind": "Status", "status": "Success"})))
    }))
    .await;
    step(&cluster, &m).await.unwrap();
    let lines: Vec<String> = calls(&log).iter().map(Req::line).collect();
    assert_eq!(
        lines,
        [
            format!("PATCH {SCHEDULE_STATUS}"),
            format!("DELETE {delete}")
        ]
    );
    let status = object.lock().unwrap().value["status"]["retention"].clone();
    assert_eq!(
        status,
        json!({"afterRun": "nightly-29933940", "lastPruneTime": "2026-11-30T11:09:00Z",
               "dryRun": false,
               "error": "the prune Job nightly-prune-29933940 failed: BackoffLimitExceeded: Job has reached the specified backoff limit"})
    );
    assert!(
        m.render().contains(
            r#"datamover_schedule_prune_failures_total{schedule="nightly",namespace="default"} 1"#
        ),
        "{}",
        m.render()
    );
    assert_granted(&log);
}

/// The prune pod's termination message: rclone's log, then the decision the script left.
fn prune_pod() -> Value {
    let message = concat!(
        r#"{"level":"info","msg":"purged","source":"operations/operations.go:1"}"#,
        "\n",
        r#"{"level":"notice","msg":"retention","retention":{"kept":["2026-11-30-110002","2026-11-29-110001"],"pruned":["2026-11-28-110003","2026-11-27-110000"]}}"#,
        "\n"
    );
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "nightly-prune-29933940-x1", "namespace": "default",
                        "creationTimestamp": "2026-11-30T11:05:02Z",
                        "labels": {"job-name": PRUNE_JOB}},
           "spec": {"containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]},
           "status": {"phase": "Succeeded", "containerStatuses": [{"name": "rclone", "ready": false,
               "restartCount": 0, "image": "ghcr.io/qjoly/datamover-rclone:latest", "imageID": "",
               "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": message}}}]}})
}

/// A prune Job that succeeded: read as running until its pod's decision is read, then
/// recorded in `status.retention` (kept and pruned, newest first), counted, and deleted.
#[tokio::test(start_paused = true)]
async fn a_succeeded_prune_job_is_recorded_from_its_pods_termination_message() {
    let object = Arc::new(Mutex::new(Object {
        value: schedule(json!({"lastScheduleTime": "2026-11-30T12:00:00Z"})),
        version: 5,
        conflicts: 0,
    }));
    let done = prune_job(
        json!({"succeeded": 1, "completionTime": "2026-11-30T11:06:00Z",
        "conditions": [{"type": "Complete", "status": "True"}]}),
    );
    let delete = format!("{JOBS}/{PRUNE_JOB}");
    let deleted = delete.clone();
    let pods = "/api/v1/namespaces/default/pods";
    let (cluster, log, m) = boot(script(Arc::clone(&object), vec![done], move |r| {
        match (r.method.as_str(), r.path.as_str()) {
            ("DELETE", p) if p == deleted => Some(Reply::Json(
                200,
                json!({"kind": "Status", "status": "Success"}),
            )),
            ("GET", p) if p == pods && !r.is_watch() => {
                Some(list("PodList", "50", vec![prune_pod()]))
            }
            _ => None,
        }
    }))
    .await;
    let key = ObjectKey::namespaced("default", PRUNE_JOB);
    for _ in 0..100 {
        let job = Store::<datamover::job::Job>::get(&cluster, &key).unwrap();
        if job.status.retention.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    step(&cluster, &m).await.unwrap();
    let lines: Vec<String> = calls(&log)
        .iter()
        .map(Req::line)
        .filter(|l| !l.starts_with("GET /api/v1/namespaces/default/pods"))
        .collect();
    assert_eq!(
        lines,
        [
            format!("PATCH {SCHEDULE_STATUS}"),
            format!("DELETE {delete}")
        ]
    );
    assert_eq!(
        object.lock().unwrap().value["status"]["retention"],
        json!({"afterRun": "nightly-29933940", "lastPruneTime": "2026-11-30T11:06:00Z",
               "dryRun": false,
               "kept": ["2026-11-30-110002", "2026-11-29-110001"],
               "pruned": ["2026-11-28-110003", "2026-11-27-110000"]})
    );
    let text = m.render();
    for line in [
        r#"datamover_schedule_backups_pruned_total{schedule="nightly",namespace="default"} 2"#,
        r#"datamover_schedule_backups_retained{schedule="nightly",namespace="default"} 2"#,
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert_granted(&log);
}
