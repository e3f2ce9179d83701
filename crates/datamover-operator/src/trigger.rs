//! Run a schedule now: `POST .../namespaces/{ns}/datamoverschedules/{name}/trigger` sets the
//! schedule's [`TRIGGER_ANNOTATION`] to a new value, and the schedule reconciler answers it
//! with one run (or a skip while a run is active), as on Kubernetes after `kubectl annotate`.
//! `datamover-operator trigger schedule NAME` is the CLI side.

use crate::api::ApiState;
use crate::client::{ServerArg, request};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datamover::manifest::Object;
use datamover::schedule::{DataMoverSchedule, TRIGGER_ANNOTATION};
use serde_json::json;

/// The API path of schedule `name`'s trigger in `namespace`.
fn path(namespace: &str, name: &str) -> String {
    format!(
        "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{namespace}/datamoverschedules/{name}/trigger"
    )
}

/// The handler: 404 for no such schedule; else the annotation's new value (the time, in
/// Unix milliseconds), stored before the answer.
pub(crate) async fn handler(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let store = state.cluster.store.clone();
    let volumes = state.cluster.volumes.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let Some(mut schedule) = store.object::<DataMoverSchedule>(&ns, &name) else {
            return Ok(None);
        };
        let value = datamover::time::now_ms().to_string();
        schedule
            .metadata
            .annotations
            .insert(TRIGGER_ANNOTATION.into(), value.clone());
        store
            .apply(vec![Object::DataMoverSchedule(schedule)], &volumes)
            .map(|_| Some((ns, name, value)))
    })
    .await;
    let error = |status: StatusCode, message: String| {
        (status, axum::Json(json!({ "error": message }))).into_response()
    };
    match stored {
        Ok(Ok(Some((ns, name, value)))) => {
            tracing::info!(schedule = %format!("{ns}/{name}"), trigger = %value, "manual run requested");
            axum::Json(json!({ "kind": "DataMoverSchedule", "namespace": ns, "name": name, "trigger": value }))
                .into_response()
        }
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            "no such DataMoverSchedule".to_owned(),
        ),
        Ok(Err(e)) => {
            let (status, message) = crate::store_health::status_and_message(
                &e,
                state.cluster.policy.data_dir(),
                "the run was not requested",
            );
            error(status, message)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `trigger schedule NAME`: asks for the run and says what to watch.
pub(crate) fn schedule(server: &ServerArg, name: &str, namespace: &str) -> Result<(), String> {
    let (status, body) = request(server, "POST", &path(namespace, name), None)?;
    match status {
        200 => {
            println!(
                "datamoverschedule/{name} triggered: its run starts now unless one is active (`get datamovers -n {namespace}`)"
            );
            Ok(())
        }
        404 => Err(format!("datamoverschedule {namespace}/{name} not found")),
        _ => Err(serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP {status}: {body}"))),
    }
}
