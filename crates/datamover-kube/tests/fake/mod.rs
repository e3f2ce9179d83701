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
                Reply::Events(events) => {
                    let mut text = Vec::new();
                    for e in events {
                        text.extend(serde_json::to_vec(&e).unwrap());
                        text.push(b'\n');
                    }
                    send.send_response(
                        Response::builder()
                            .status(200)
                            .body(Body::from(text))
                            .unwrap(),
                    );
                }
            }
        }
    });
    (kube::Client::new(service, "default"), log)
}

/// The requests logged so far, watches and lists of the watches left out.
pub fn writes(log: &Log) -> Vec<Req> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| {
            !(r.method == "GET"
                && (r.is_watch()
                    || r.path.ends_with("datamovers")
                    || r.path == "/apis/batch/v1/jobs"
                    || r.path.ends_with("persistentvolumeclaims")))
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
