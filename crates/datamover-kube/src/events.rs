//! Kubernetes Events (`events.k8s.io/v1`) for phase transitions.
//!
//! [`KubeCluster`](crate::KubeCluster) emits one from `write_status` whenever a write
//! changes the phase: reason = the new phase (`CreatingClonedPVC`, ..., `Failed`), type
//! `Warning` for `Failed` and `Normal` otherwise, note = the last error or the `Ready`
//! condition's message. `kubectl describe dm NAME` and `kubectl get events` show them.
//! An Event that cannot be posted is logged and counted, never fails the reconcile.

/// `reportingController` of the operator's Events.
pub const REPORTING_CONTROLLER: &str = "datamover.a-cup-of.coffee/datamover-operator";

/// The Event for `dm` entering `phase`, as the JSON body of a create request.
#[must_use]
pub fn phase_event(
    dm: &datamover::types::DataMover,
    phase: &str,
    instance: &str,
    now_ms: u64,
) -> serde_json::Value {
    let failed = phase == datamover::reconciler::phase::FAILED;
    let note = if failed && !dm.status.last_error.is_empty() {
        dm.status.last_error.clone()
    } else {
        dm.status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.message.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("entered phase {phase}"))
    };
    // Kubernetes caps notes at 1 kB.
    let note: String = note.chars().take(1000).collect();
    let micros = now_ms % 1000 * 1000;
    let time = datamover::time::rfc3339(now_ms).replace('Z', &format!(".{micros:06}Z"));
    serde_json::json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{}.{:x}", dm.metadata.name, now_ms.wrapping_mul(1_000_003) ^ u64::from(fnv(phase))),
            "namespace": dm.metadata.namespace,
        },
        "eventTime": time,
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance,
        "action": "Reconcile",
        "reason": phase,
        "type": if failed { "Warning" } else { "Normal" },
        "note": note,
        "regarding": {
            "apiVersion": datamover::types::API_VERSION,
            "kind": "DataMover",
            "name": dm.metadata.name,
            "namespace": dm.metadata.namespace,
            "uid": dm.metadata.uid,
            "resourceVersion": dm.metadata.resource_version,
        },
    })
}

fn fnv(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
