//! Contract tests of leader election (the Lease requests and the gauge) and of the
//! TokenReview + SubjectAccessReview authorizer, over a scripted mock API server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use datamover_kube::auth::{Decision, TokenReviewAuthorizer};
use datamover_kube::leader::{LeaderElector, Timing};
use fake::{Reply, Req, server, status};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/datamover-operator-system/leases/datamover-operator-leader";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/datamover-operator-system/leases";

fn metrics() -> tmc_metrics::Metrics {
    tmc_metrics::Metrics::builder()
        .upkeep_interval(None)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn leader_election_creates_renews_yields_and_releases_the_lease() {
    let lease: Arc<Mutex<Option<Value>>> = Arc::default();
    let stored = Arc::clone(&lease);
    let mut version = 0;
    let script = move |r: &Req| {
        let mut l = stored.lock().unwrap();
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", LEASE) => match &*l {
                Some(v) => Reply::Json(200, v.clone()),
                None => status(404, "NotFound"),
            },
            ("POST", LEASES) | ("PUT", LEASE) => {
                if r.method == "PUT"
                    && r.body["metadata"]["resourceVersion"]
                        != l.as_ref().unwrap()["metadata"]["resourceVersion"]
                {
                    return status(409, "Conflict");
                }
                version += 1;
                let mut v = r.body.clone();
                v["metadata"]["resourceVersion"] = version.to_string().into();
                *l = Some(v.clone());
                Reply::Json(if r.method == "POST" { 201 } else { 200 }, v)
            }
            _ => status(404, "NotFound"),
        }
    };
    let (client, log) = server(script);
    let m = metrics();
    let a = LeaderElector::new(
        client.clone(),
        "datamover-operator-system",
        "datamover-operator-leader",
        "pod-a",
        m.collector(),
    );
    let gauge = |text: &str, v: u8| {
        text.contains(&format!(
            "leader_election_master_status{{name=\"datamover-operator-leader\"}} {v}"
        ))
    };
    assert!(gauge(&m.render(), 0));
    let mut leading = a.subscribe();
    a.acquire().await;
    assert!(*leading.borrow_and_update());
    assert!(gauge(&m.render(), 1));
    {
        let log = log.lock().unwrap();
        assert_eq!(log[0].line(), format!("GET {LEASE}"));
        assert_eq!(log[1].line(), format!("POST {LEASES}"));
        let spec = &log[1].body["spec"];
        assert_eq!(spec["holderIdentity"], "pod-a");
        assert_eq!(spec["leaseDurationSeconds"], 15);
        assert_eq!(spec["leaseTransitions"], 0);
        assert!(spec["renewTime"].as_str().unwrap().ends_with('Z'));
    }
    // Renewing: a replace with the resourceVersion read and the same holder.
    assert!(a.try_acquire_or_renew().await.unwrap());
    let renew = log.lock().unwrap().last().unwrap().clone();
    assert_eq!(renew.line(), format!("PUT {LEASE}"));
    assert_eq!(renew.body["metadata"]["resourceVersion"], "1");
    assert_eq!(renew.body["spec"]["holderIdentity"], "pod-a");

    // Another candidate waits while the Lease is renewed...
    let b = LeaderElector::new(
        client.clone(),
        "datamover-operator-system",
        "datamover-operator-leader",
        "pod-b",
        m.collector(),
    )
    .with_timing(Timing {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    });
    assert!(!b.try_acquire_or_renew().await.unwrap());
    // ...and takes it once it has not changed for leaseDurationSeconds (observed locally).
    tokio::time::advance(Duration::from_secs(16)).await;
    assert!(b.try_acquire_or_renew().await.unwrap());
    let taken = lease.lock().unwrap().clone().unwrap();
    assert_eq!(taken["spec"]["holderIdentity"], "pod-b");
    assert_eq!(taken["spec"]["leaseTransitions"], 1);
    // The old leader notices at its next renewal and steps down.
    let lost = a.hold().await;
    assert!(lost.to_string().contains("datamover-operator-leader"));
    assert!(!*leading.borrow_and_update());

    // Release at shutdown: the holder is cleared so another replica takes over at once.
    b.release().await.unwrap();
    let released = lease.lock().unwrap().clone().unwrap();
    assert!(released["spec"].get("holderIdentity").is_none());
    assert_eq!(released["spec"]["leaseDurationSeconds"], 1);
}

#[tokio::test(start_paused = true)]
async fn the_metrics_authorizer_reviews_tokens_and_caches_decisions() {
    let script = |r: &Req| match r.path.as_str() {
        "/apis/authentication.k8s.io/v1/tokenreviews" => {
            let token = r.body["spec"]["token"].as_str().unwrap();
            let status = if token == "bad" {
                json!({"authenticated": false})
            } else {
                json!({"authenticated": true, "user": {"username": format!("system:serviceaccount:monitoring:{token}"), "uid": "u1", "groups": ["system:serviceaccounts"]}})
            };
            Reply::Json(
                201,
                json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": r.body["spec"], "status": status}),
            )
        }
        "/apis/authorization.k8s.io/v1/subjectaccessreviews" => {
            let allowed = r.body["spec"]["user"]
                .as_str()
                .unwrap()
                .ends_with(":prometheus");
            Reply::Json(
                201,
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": r.body["spec"], "status": {"allowed": allowed}}),
            )
        }
        _ => status(404, "NotFound"),
    };
    let (client, log) = server(script);
    let auth = TokenReviewAuthorizer::new(client, metrics().collector());
    assert_eq!(
        auth.authorize(None, "/metrics").await,
        Decision::Unauthenticated
    );
    assert!(log.lock().unwrap().is_empty(), "no token, no review");

    assert_eq!(
        auth.authorize(Some("prometheus"), "/metrics").await,
        Decision::Allow
    );
    {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(
            log[0].line(),
            "POST /apis/authentication.k8s.io/v1/tokenreviews"
        );
        assert_eq!(log[0].body["spec"]["token"], "prometheus");
        assert_eq!(
            log[1].line(),
            "POST /apis/authorization.k8s.io/v1/subjectaccessreviews"
        );
        let spec = &log[1].body["spec"];
        assert_eq!(spec["user"], "system:serviceaccount:monitoring:prometheus");
        assert_eq!(spec["groups"], json!(["system:serviceaccounts"]));
        assert_eq!(
            spec["nonResourceAttributes"],
            json!({"path": "/metrics", "verb": "get"})
        );
    }
    // Cached for the TTL...
    assert_eq!(
        auth.authorize(Some("prometheus"), "/metrics").await,
        Decision::Allow
    );
    assert_eq!(log.lock().unwrap().len(), 2);
    // ...then reviewed again.
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(
        auth.authorize(Some("prometheus"), "/metrics").await,
        Decision::Allow
    );
    assert_eq!(log.lock().unwrap().len(), 4);

    assert_eq!(
        auth.authorize(Some("bad"), "/metrics").await,
        Decision::Unauthenticated
    );
    assert_eq!(
        auth.authorize(Some("grafana"), "/metrics").await,
        Decision::Forbidden
    );
}
