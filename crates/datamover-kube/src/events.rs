//! Kubernetes Events (`events.k8s.io/v1`) for phase transitions, published through
//! kube-runtime's [`Recorder`](kube::runtime::events::Recorder).
//!
//! [`KubeCluster`](crate::KubeCluster) publishes one from `write_status` whenever a write
//! changes the phase: reason = the new phase (`CreatingClonedPVC`, ..., `Failed`), type
//! `Warning` for `Failed` and `Normal` otherwise, action `Reconcile`, note = the last error
//! or the `Ready` condition's message, regarding the DataMover (uid and resourceVersion
//! included), `reportingController` [`REPORTING_CONTROLLER`] and `reportingInstance` the
//! pod name. The Recorder names and timestamps the Event, and turns a repeat of the same
//! Event within minutes into a `series` patch instead of a new object. `kubectl describe
//! dm NAME` and `kubectl get events` show them. An Event that cannot be posted is logged
//! and counted, never fails the reconcile.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};

/// `reportingController` of the operator's Events.
pub const REPORTING_CONTROLLER: &str = "datamover.a-cup-of.coffee/datamover-operator";

/// Kubernetes caps an Event's note at 1 kB.
const MAX_NOTE: usize = 1000;

/// The Event for `dm` entering its current phase.
#[must_use]
pub fn phase_event(dm: &datamover::types::DataMover) -> Event {
    let phase = dm.status.phase.as_str();
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
    Event {
        type_: if failed {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: phase.to_owned(),
        note: Some(note.chars().take(MAX_NOTE).collect()),
        action: "Reconcile".into(),
        secondary: None,
    }
}

/// The reference to `dm` an Event is about (`regarding`).
#[must_use]
pub fn regarding(dm: &datamover::types::DataMover) -> ObjectReference {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    ObjectReference {
        api_version: Some(datamover::types::API_VERSION.into()),
        kind: Some("DataMover".into()),
        name: some(&dm.metadata.name),
        namespace: some(&dm.metadata.namespace),
        uid: some(&dm.metadata.uid),
        resource_version: some(&dm.metadata.resource_version),
        field_path: None,
    }
}
