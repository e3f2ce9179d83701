//! A schedule's controls: run now, suspend, resume.
//!
//! | path | what |
//! | --- | --- |
//! | `POST .../namespaces/{ns}/datamoverschedules/{name}/trigger` | sets [`TRIGGER_ANNOTATION`] to a new value; the schedule reconciler answers it with one run (or a skip while a run is active), as on Kubernetes after `kubectl annotate` |
//! | `POST .../namespaces/{ns}/datamoverschedules/{name}/suspend` | `spec.suspend: true`: no new runs (an active one goes on), as `kubectl patch -p '{"spec":{"suspend":true}}'` |
//! | `POST .../namespaces/{ns}/datamoverschedules/{name}/resume` | `spec.suspend: false`: runs start again at the next scheduled time |
//!
//! `datamover-operator trigger|suspend|resume schedule NAME` is the CLI side; the status
//! page's buttons call the same handlers.

use crate::api::ApiState;
use crate::client::{ServerArg, request};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datamover::schedule::{DataMoverSchedule, TRIGGER_ANNOTATION};
use serde_json::{Value, json};

/// What a control does to a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    /// One run now.
    Trigger,
    /// `spec.suspend: true`.
    Suspend,
    /// `spec.suspend: false`.
    Resume,
}

impl Control {
    /// The path segment, and the CLI's verb.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
        }
    }

    /// Changes `schedule`; what the answer reports (the trigger's value, or `suspend`).
    fn apply(self, schedule: &mut DataMoverSchedule) -> (&'static str, Value) {
        match self {
            Self::Trigger => {
                let value = datamover::time::now_ms().to_string();
                schedule
                    .metadata
                    .annotations
                    .insert(TRIGGER_ANNOTATION.into(), value.clone());
                ("trigger", Value::String(value))
            }
            Self::Suspend | Self::Resume => {
                schedule.spec.suspend = self == Self::Suspend;
                ("suspend", Value::Bool(schedule.spec.suspend))
            }
        }
    }
}

/// The API path of `control` on schedule `name` in `namespace`.
pub(crate) fn path(control: Control, namespace: &str, name: &str) -> String {
    format!(
        "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{namespace}/datamoverschedules/{name}/{}",
        control.as_str()
    )
}

/// `POST .../trigger`.
pub(crate) async fn trigger(state: State<ApiState>, names: Path<(String, String)>) -> Response {
    handle(state, names, Control::Trigger).await
}

/// `POST .../suspend`.
pub(crate) async fn suspend(state: State<ApiState>, names: Path<(String, String)>) -> Response {
    handle(state, names, Control::Suspend).await
}

/// `POST .../resume`.
pub(crate) async fn resume(state: State<ApiState>, names: Path<(String, String)>) -> Response {
    handle(state, names, Control::Resume).await
}

/// 404 for no such schedule; else what changed, stored before the answer.
async fn handle(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    control: Control,
) -> Response {
    let store = state.cluster.store.clone();
    let volumes = state.cluster.volumes.clone();
    let stored = tokio::task::spawn_blocking(move || {
        // Read, changed and written under the store's write lock: a concurrent control (or
        // the reconciler's status write) is never undone by this one.
        let mut answer = None;
        let changed = store.modify::<DataMoverSchedule>(
            &ns,
            &name,
            |schedule| answer = Some(control.apply(schedule)),
            &volumes,
        )?;
        Ok(changed
            .zip(answer)
            .map(|(_, (field, value))| (ns, name, field, value)))
    })
    .await;
    let error = |status: StatusCode, message: String| {
        (status, axum::Json(json!({ "error": message }))).into_response()
    };
    match stored {
        Ok(Ok(Some((ns, name, field, value)))) => {
            tracing::info!(schedule = %format!("{ns}/{name}"), control = control.as_str(), %value, "schedule control");
            let mut answer = json!({ "kind": "DataMoverSchedule", "namespace": ns, "name": name });
            answer[field] = value;
            axum::Json(answer).into_response()
        }
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            "no such DataMoverSchedule".to_owned(),
        ),
        Ok(Err(e)) => {
            let nothing = match control {
                Control::Trigger => "the run was not requested",
                Control::Suspend | Control::Resume => "the schedule was not changed",
            };
            let (status, message) = crate::store_health::status_and_message(
                &e,
                state.cluster.policy.data_dir(),
                nothing,
            );
            error(status, message)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `trigger|suspend|resume schedule NAME`: asks for it and says what follows.
pub(crate) fn schedule(
    server: &ServerArg,
    control: Control,
    name: &str,
    namespace: &str,
) -> Result<(), String> {
    let (status, body) = request(server, "POST", &path(control, namespace, name), None)?;
    match status {
        200 => {
            match control {
                Control::Trigger => println!(
                    "datamoverschedule/{name} triggered: its run starts now unless one is active (`get datamovers -n {namespace}`)"
                ),
                Control::Suspend => println!(
                    "datamoverschedule/{name} suspended: no new runs until `resume schedule {name}` (an active run goes on)"
                ),
                Control::Resume => println!(
                    "datamoverschedule/{name} resumed: runs start again at its next scheduled time"
                ),
            }
            Ok(())
        }
        404 => Err(format!("datamoverschedule {namespace}/{name} not found")),
        _ => Err(serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP {status}: {body}"))),
    }
}
