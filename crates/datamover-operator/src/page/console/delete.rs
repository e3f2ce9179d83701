//! `POST /actions/delete`: the page deletes a finished DataMover, and only the one it
//! showed.
//!
//! The card sends the `metadata.uid` it drew. The action reads the DataMover, refuses
//! another object under that name (deleted and created again since the page drew it: 409,
//! in Kubernetes' words) and one that has not finished (409), then deletes it through the
//! API with Kubernetes' `DeleteOptions` preconditions: that uid and the resourceVersion it
//! just read. The store checks both under its write lock as it deletes, so the object
//! deleted is the very one found finished: anything written in between (a re-creation, a
//! new phase) fails the delete, which is then judged again on what is stored now (at most
//! [`ATTEMPTS`] times), never done by name alone.

use super::{GROUP, acting_on, answer, call, refuse};
use crate::page::PageState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

/// How often a delete whose object changed between the read and the delete is judged
/// again before its conflict is answered.
const ATTEMPTS: usize = 3;

/// What the card sends: the DataMover and the uid it drew.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteTarget {
    namespace: String,
    name: String,
    /// `metadata.uid` of the DataMover the card showed.
    uid: String,
}

impl super::Named for DeleteTarget {
    fn names(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }
}

/// `POST /actions/delete`.
pub(super) async fn delete(
    State(state): State<PageState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, t) = match acting_on::<DeleteTarget>(&state, &headers, &body) {
        Ok(both) => both,
        Err(r) => return r,
    };
    let response = delete_as(&state, &t).await;
    tracing::info!(
        who = who.label(),
        action = "delete",
        datamover = %format!("{}/{}", t.namespace, t.name),
        uid = %t.uid,
        status = response.status().as_u16(),
        "page action"
    );
    response
}

async fn delete_as(state: &PageState, t: &DeleteTarget) -> Response {
    let path = format!("{GROUP}/namespaces/{}/datamovers/{}", t.namespace, t.name);
    let mut conflict = None;
    for _ in 0..ATTEMPTS {
        let dm = match call(state, Method::GET, &path, None).await {
            (StatusCode::OK, dm) => dm,
            (status, value) => return answer(status, value),
        };
        if let Err(refusal) = deletable(t, &dm) {
            return refusal;
        }
        let options = json!({"preconditions": {
            "uid": t.uid,
            "resourceVersion": dm["metadata"]["resourceVersion"],
        }});
        match call(state, Method::DELETE, &path, Some(options.to_string())).await {
            // Changed since it was read: judge it again as it is now.
            (StatusCode::CONFLICT, value) => conflict = Some(value),
            (status, value) => return answer(status, value),
        }
    }
    answer(
        StatusCode::CONFLICT,
        conflict.unwrap_or_else(|| json!({"error": "the DataMover kept changing"})),
    )
}

/// Whether the page may delete `dm` for the card `t`: the object the card showed (its uid),
/// finished (`Completed` or `Failed`).
#[allow(clippy::result_large_err)] // the error is the response itself
fn deletable(t: &DeleteTarget, dm: &Value) -> Result<(), Response> {
    let uid = dm["metadata"]["uid"].as_str().unwrap_or_default();
    if uid != t.uid {
        return Err(refuse(
            StatusCode::CONFLICT,
            &format!(
                "DataMover {}/{}: Precondition failed: UID in precondition: {}, UID in object meta: {uid}; nothing was deleted",
                t.namespace, t.name, t.uid
            ),
            None,
        ));
    }
    let phase = dm["status"]["phase"].as_str().unwrap_or_default();
    if phase == "Completed" || phase == "Failed" {
        return Ok(());
    }
    Err(refuse(
        StatusCode::CONFLICT,
        &format!(
            "DataMover {}/{} has not finished (phase {}): the page deletes finished ones only; `datamover-operator delete datamover` stops a running one",
            t.namespace,
            t.name,
            if phase.is_empty() { "Pending" } else { phase }
        ),
        None,
    ))
}
