//! Events: a phase change posts the recorder's event.

use crate::fake::{self, *};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A phase change is published through kube-runtime's event Recorder: one `events.k8s.io/v1`
/// Event about the DataMover (at the resourceVersion the write returned), named by the
/// Recorder after it, from this operator's controller and pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_change_posts_the_recorders_event() {
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
        ("GET", PVCS) => list(
            "PersistentVolumeClaimList",
            "20",
            vec![pvc("data", "Bound")],
        ),
        ("PATCH", DM_STATUS) => dm.lock().unwrap().patch_status(r),
        ("POST", EVENTS) => Reply::Json(201, r.body.clone()),
        _ => status(404, "NotFound"),
    };
    let (cluster, log, m, ctx) = start(script).await;
    let before = jiff_now_micros();
    assert_eq!(step(&cluster, &ctx).await.unwrap(), "CreatingClonedPVC");
    let after = jiff_now_micros();
    let events: Vec<Req> = fake::writes(&log)
        .into_iter()
        .filter(|r| r.path == EVENTS)
        .collect();
    assert_eq!(events.len(), 1, "one Event for one phase change");
    assert_eq!(events[0].method, "POST");
    let mut body = events[0].body.clone();
    // The Recorder names the Event `<object>.<nanoseconds, hex>` and stamps it now, with
    // microseconds.
    let name = body["metadata"]["name"].as_str().unwrap().to_owned();
    let suffix = name
        .strip_prefix("nightly.")
        .unwrap_or_else(|| panic!("{name}"));
    assert!(u64::from_str_radix(suffix, 16).is_ok(), "{name}");
    let time = body["eventTime"].as_str().unwrap().to_owned();
    let micros = time
        .parse::<k8s_openapi::jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{time}: {e}"))
        .as_microsecond();
    assert!((before..=after).contains(&micros), "{time}");
    assert_eq!(time.len(), "2026-01-01T00:00:00.000000Z".len(), "{time}");
    body["metadata"]["name"] = json!("NAME");
    body["eventTime"] = json!("TIME");
    assert_eq!(
        body,
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "NAME", "namespace": "default"},
            "eventTime": "TIME",
            "action": "Reconcile",
            "reason": "CreatingClonedPVC",
            "type": "Normal",
            "note": "cloning the source volume",
            "regarding": {
                "apiVersion": "datamover.a-cup-of.coffee/v1alpha1",
                "kind": "DataMover",
                "name": "nightly",
                "namespace": "default",
                "uid": UID,
                "resourceVersion": "11"
            },
            "reportingController": "datamover.a-cup-of.coffee/datamover-operator",
            "reportingInstance": "operator-0"
        })
    );
    assert!(m.render().contains(
        r#"tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation="create-event",status="success"} 1"#
    ));
}

fn jiff_now_micros() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_microsecond()
}
