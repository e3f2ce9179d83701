//! A scripted stand-in for the API server: a kube-rs `Client` over a `tower_test` mock
//! service (as kube-rs's own mock tests do). Every request is logged (method, path, query,
//! JSON body) and answered by a script. This tests the contract (what the operator sends
//! and how it reacts to answers), not a real API server.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
}

impl Req {
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
    pub fn is_watch(&self) -> bool {
        self.query.contains("watch=true")
    }
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub enum Reply {
    /// A status code and a JSON body.
    Json(u16, Value),
    /// Never answer (a watch that stays open).
    Hold,
    /// A watch response: these events, one per line, then the stream ends.
    Events(Vec<Value>),
    /// A watch response that comes once `gap` is notified (something happens while the
    /// watch is open): these events, then the stream ends.
    EventsWhen(Arc<tokio::sync::Notify>, Vec<Value>),
}

fn event_lines(events: Vec<Value>) -> Response<Body> {
    let mut text = Vec::new();
    for e in events {
        text.extend(serde_json::to_vec(&e).unwrap());
        text.push(b'\n');
    }
    Response::builder()
        .status(200)
        .body(Body::from(text))
        .unwrap()
}

/// A Kubernetes `Status` error body.
pub fn status(code: u16, reason: &str) -> Reply {
    Reply::Json(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": format!("scripted {code}"), "reason": reason, "code": code}),
    )
}

pub type Log = Arc<Mutex<Vec<Req>>>;

/// A client whose requests `script` answers; the log of every request.
pub fn server(mut script: impl FnMut(&Req) -> Reply + Send + 'static) -> (kube::Client, Log) {
    let (service, mut handle): (_, Handle) = tower_test::mock::pair();
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let req = Req {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            seen.lock().unwrap().push(req.clone());
            match script(&req) {
                Reply::Json(code, value) => send.send_response(
                    Response::builder()
                        .status(code)
                        .body(Body::from(serde_json::to_vec(&value).unwrap()))
                        .unwrap(),
                ),
                Reply::Hold => held.push(send),
                Reply::Events(events) => send.send_response(event_lines(events)),
                Reply::EventsWhen(gap, events) => {
                    tokio::spawn(async move {
                        gap.notified().await;
                        send.send_response(event_lines(events));
                    });
                }
            }
        }
    });
    (kube::Client::new(service, "default"), log)
}

/// The requests logged so far, the watchers' watches and lists left out.
pub fn writes(log: &Log) -> Vec<Req> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| {
            !(r.method == "GET"
                && (r.is_watch()
                    || r.path.ends_with("datamovers")
                    || r.path.ends_with("datamoverschedules")
                    || r.path.ends_with("datamoverpopulators")
                    || r.path == "/apis/batch/v1/jobs"
                    || r.path.ends_with("persistentvolumeclaims")
                    || r.path == SECRETS))
        })
        .cloned()
        .collect()
}

pub fn list(kind: &str, version: &str, items: Vec<Value>) -> Reply {
    Reply::Json(
        200,
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": version}, "items": items}),
    )
}

/// The answer for the kinds a test does not look at: the secret listed, nothing else, every
/// watch held open.
pub fn quiet(r: &Req) -> Reply {
    match r.path.as_str() {
        _ if r.is_watch() => Reply::Hold,
        SECRETS => list("SecretList", "1", vec![secret()]),
        PVCS => list("PersistentVolumeClaimList", "1", vec![]),
        ALL_JOBS => list("JobList", "1", vec![]),
        DM => list("DataMoverList", "1", vec![]),
        _ => status(404, "NotFound"),
    }
}

/// One page of a paged list: its items, and the token of the next page.
pub fn page(kind: &str, version: &str, next: Option<&str>, items: Vec<Value>) -> Reply {
    let mut metadata = json!({"resourceVersion": version});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    Reply::Json(
        200,
        json!({"apiVersion": "v1", "kind": kind, "metadata": metadata, "items": items}),
    )
}

/// The value of query parameter `name` in `query`, if present.
pub fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}
/// The sync Job of DataMover `owner` (its uid `uid-<owner>`), with `status`.
pub fn job_of(owner: &str, rv: &str, status: &Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": format!("{owner}-sync"), "namespace": "default",
                        "resourceVersion": rv, "uid": format!("job-uid-{owner}"),
                        "ownerReferences": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                            "kind": "DataMover", "name": owner, "uid": format!("uid-{owner}"),
                            "controller": true}]},
           "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]}}},
           "status": status})
}

pub fn datamover(name: &str, rv: &str, status: Value) -> Value {
    json!({
        "apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
        "kind": "DataMover",
        "metadata": {"name": name, "namespace": "default", "uid": "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                     "resourceVersion": rv, "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"sourcePvc": "data", "secretName": "creds", "addTimestampPrefix": true,
                 "deletePvcAfterBackup": true,
                 "additionalEnv": [{"name": "RCLONE_S3_NO_CHECK_BUCKET", "value": "true"}]},
        "status": status,
    })
}

pub fn pvc(name: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "3", "uid": "pvc-uid"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "csi-rbd",
                 "resources": {"requests": {"storage": "5Gi"}}},
        "status": {"phase": phase},
    })
}

pub fn secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "creds", "namespace": "default"},
           "data": {"BUCKET_NAME": "YmFja3Vwcw==", "AWS_ACCESS_KEY_ID": "bWluaW8="}})
}

/// JSON merge patch (RFC 7386).
pub fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Waits until `f` holds (the watches run in the background).
pub async fn eventually(mut f: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    panic!("condition not reached");
}

// ---- The shared pieces of the contract tests: paths, the cluster, the DataMover's server side.

use datamover::reconciler::{Context, ReconcileError, reconcile};
use datamover::types::DataMover;
use datamover_kube::api::RetryPolicy;
use datamover_kube::{KubeCluster, Options};
use std::time::Duration;
use tmc_runtime::{ObjectKey, Store};

pub const DM: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/datamovers";
pub const DM_STATUS: &str =
    "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamovers/nightly/status";
pub const PVCS: &str = "/api/v1/persistentvolumeclaims";
pub const NS_PVCS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";
pub const SECRETS: &str = "/api/v1/secrets";
pub const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
pub const JOB: &str = "/apis/batch/v1/namespaces/default/jobs/nightly-sync-0a1b2c3d";
pub const ALL_JOBS: &str = "/apis/batch/v1/jobs";
pub const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
pub const PODS: &str = "/api/v1/namespaces/default/pods";
pub const CSI_RBD: &str = "/apis/storage.k8s.io/v1/storageclasses/csi-rbd";
pub const UID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

pub fn options() -> Options {
    Options {
        instance: "operator-0".into(),
        retry: RetryPolicy {
            attempts: 4,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        },
        ..Options::default()
    }
}

pub fn metrics() -> tmc_metrics::Metrics {
    tmc_metrics::Metrics::builder()
        .upkeep_interval(None)
        .build()
        .unwrap()
}

/// The API server's side of the DataMover: status merge patches with the resourceVersion
/// precondition.
pub struct Object {
    pub value: Value,
    pub version: u64,
    pub conflicts: u32,
}

impl Object {
    pub fn patch_status(&mut self, r: &Req) -> Reply {
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

pub fn owned(mut v: Value) -> Value {
    v["metadata"]["ownerReferences"] = json!([{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
        "kind": "DataMover", "name": "nightly", "uid": UID, "controller": true}]);
    v
}

pub async fn start(
    mut script: impl FnMut(&Req) -> Reply + Send + 'static,
) -> (
    KubeCluster,
    Log,
    tmc_metrics::Metrics,
    Arc<Context<KubeCluster>>,
) {
    // A script that does not answer the Job watch lists no Jobs and holds the watch.
    let (client, log) = server(move |r| match script(r) {
        Reply::Json(404, _) if r.path == ALL_JOBS && r.is_watch() => Reply::Hold,
        Reply::Json(404, _) if r.path == ALL_JOBS => list("JobList", "1", vec![]),
        // Nor the Secret watch: the secret the DataMovers name is listed, the watch held.
        Reply::Json(404, _) if r.path == SECRETS && r.is_watch() => Reply::Hold,
        Reply::Json(404, _) if r.path == SECRETS => list("SecretList", "1", vec![secret()]),
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

pub async fn step(
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
pub fn job(status: &Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "nightly-sync-0a1b2c3d", "namespace": "default",
                        "resourceVersion": "30", "uid": "job-uid",
                        "ownerReferences": [{"apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                            "kind": "DataMover", "name": "nightly", "uid": UID, "controller": true}]},
           "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "rclone", "image": "ghcr.io/qjoly/datamover-rclone:latest"}]}}},
           "status": status})
}

/// A DataMover whose clone is named and whose phase is `CreatingClonedPVC`, and a script
/// for everything but what `extra` answers.
pub fn cloning(
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
            ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
            ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
            _ => status(404, "NotFound"),
        }
    };
    (object, script)
}

// ---- RBAC: what the deployed operator may do covers what it does.

/// `group/resource verb` of a request, as RBAC names it.
pub fn permission(r: &Req) -> String {
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
pub fn assert_granted(log: &Log) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/manager/rbac.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut granted = std::collections::HashSet::new();
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
