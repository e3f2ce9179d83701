//! The resource API: Kubernetes-style paths over the embedded store, JSON or YAML bodies.
//!
//! | path | methods |
//! | --- | --- |
//! | `/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/datamovers[/{name}]` | GET, DELETE |
//! | `/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/{datamoverschedules,datamoverpopulators}[/{name}]` | GET, DELETE |
//! | `/apis/datamover.a-cup-of.coffee/v1alpha1/{datamoverschedules,datamoverpopulators}` | GET: every namespace |
//! | `/api/v1/namespaces/{ns}/{persistentvolumeclaims,secrets}[/{name}]` | GET, DELETE |
//! | `/apis/batch/v1/namespaces/{ns}/jobs[/{name}]` | GET, DELETE |
//! | `/apis/datamover.a-cup-of.coffee/v1alpha1/datamovers`, `/api/v1/{plural}`, `/apis/batch/v1/jobs` | GET: every namespace |
//! | `/apply` | POST: multi-document YAML or JSON; all documents are stored, or none |
//!
//! Every request needs `Authorization: Bearer <token>` (the token of `<data-dir>/api-token`):
//! 401 without one, 403 with a wrong one. `/apply` refuses host paths and local
//! destinations outside the roots the operator was given ([`datamover::policy`]).
//!
//! Secret values are never returned: `data` keys come back with empty values. Deleting a
//! DataMover deletes the cloned PVC it made (volume and object) and its sync Job (whose
//! pod the executor then stops), as owner references would on Kubernetes.

use crate::auth::{ApiToken, require_token};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use datamover::backend::{Cluster, Embedded};
use datamover::manifest::{self, Object};
use datamover::policy::Policy;
use datamover::store::{Applied, EmbeddedStore};
use datamover::types::Kind;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) store: Arc<EmbeddedStore>,
    pub(crate) volumes: PathBuf,
    pub(crate) policy: Arc<Policy>,
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

pub(crate) fn to_json(object: &Object) -> Value {
    let value = match object {
        Object::DataMover(o) => serde_json::to_value(o),
        Object::PersistentVolumeClaim(o) => serde_json::to_value(o),
        Object::Job(o) => serde_json::to_value(o),
        Object::DataMoverSchedule(o) => serde_json::to_value(o),
        Object::DataMoverPopulator(o) => serde_json::to_value(o),
        Object::Secret(o) => {
            let mut redacted = o.clone();
            for v in redacted.data.values_mut() {
                v.clear();
            }
            serde_json::to_value(redacted)
        }
    };
    value.unwrap_or(Value::Null)
}

/// The API behind its bearer token and request metrics.
pub(crate) fn router(state: ApiState, token: ApiToken) -> Router {
    routes(state)
        .layer(axum::middleware::from_fn_with_state(token, require_token))
        .layer(tmc_tower::api::ApiMetricsLayer::with_collector(
            tmc_metrics::MetricsCollector::facade(),
        ))
}

/// The API's routes alone, for in-process reads (the status page's schedules).
pub(crate) fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/apply", post(apply))
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/datamovers",
            get(|s: State<ApiState>| list(s, Kind::DataMover, None)),
        )
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/datamovers",
            get(|s: State<ApiState>, Path(ns): Path<String>| list(s, Kind::DataMover, Some(ns))),
        )
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/datamovers/{name}",
            get(
                |s: State<ApiState>, Path((ns, name)): Path<(String, String)>| {
                    one(s, Kind::DataMover, ns, name)
                },
            )
            .delete(
                |s: State<ApiState>, Path((ns, name)): Path<(String, String)>| {
                    delete(s, Kind::DataMover, ns, name)
                },
            ),
        )
        .route(
            "/apis/batch/v1/jobs",
            get(|s: State<ApiState>| list(s, Kind::Job, None)),
        )
        .route(
            "/apis/batch/v1/namespaces/{ns}/jobs",
            get(|s: State<ApiState>, Path(ns): Path<String>| list(s, Kind::Job, Some(ns))),
        )
        .route(
            "/apis/batch/v1/namespaces/{ns}/jobs/{name}",
            get(
                |s: State<ApiState>, Path((ns, name)): Path<(String, String)>| {
                    one(s, Kind::Job, ns, name)
                },
            )
            .delete(
                |s: State<ApiState>, Path((ns, name)): Path<(String, String)>| {
                    delete(s, Kind::Job, ns, name)
                },
            ),
        )
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/{plural}",
            get(list_group_all),
        )
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/{plural}",
            get(list_group),
        )
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/{plural}/{name}",
            get(one_group).delete(delete_group),
        )
        .route("/api/v1/{plural}", get(list_core_all))
        .route("/api/v1/namespaces/{ns}/{plural}", get(list_core))
        .route(
            "/api/v1/namespaces/{ns}/{plural}/{name}",
            get(one_core).delete(delete_core),
        )
        .with_state(state)
}

#[allow(clippy::result_large_err)] // the error is the response itself
fn core_kind(plural: &str) -> Result<Kind, Response> {
    match plural {
        "persistentvolumeclaims" => Ok(Kind::PersistentVolumeClaim),
        "secrets" => Ok(Kind::Secret),
        other => Err(error(
            StatusCode::NOT_FOUND,
            format!("unknown resource {other:?}: accepted are persistentvolumeclaims, secrets"),
        )),
    }
}

#[allow(clippy::result_large_err)] // the error is the response itself
fn group_kind(plural: &str) -> Result<Kind, Response> {
    match plural {
        "datamoverschedules" => Ok(Kind::DataMoverSchedule),
        "datamoverpopulators" => Ok(Kind::DataMoverPopulator),
        other => Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "unknown resource {other:?}: accepted are datamovers, datamoverschedules, datamoverpopulators"
            ),
        )),
    }
}

async fn list_group(
    state: State<ApiState>,
    Path((ns, plural)): Path<(String, String)>,
) -> Response {
    match group_kind(&plural) {
        Ok(kind) => list(state, kind, Some(ns)).await,
        Err(r) => r,
    }
}

async fn list_group_all(state: State<ApiState>, Path(plural): Path<String>) -> Response {
    match group_kind(&plural) {
        Ok(kind) => list(state, kind, None).await,
        Err(r) => r,
    }
}

async fn one_group(
    state: State<ApiState>,
    Path((ns, plural, name)): Path<(String, String, String)>,
) -> Response {
    match group_kind(&plural) {
        Ok(kind) => one(state, kind, ns, name).await,
        Err(r) => r,
    }
}

async fn delete_group(
    state: State<ApiState>,
    Path((ns, plural, name)): Path<(String, String, String)>,
) -> Response {
    match group_kind(&plural) {
        Ok(kind) => delete(state, kind, ns, name).await,
        Err(r) => r,
    }
}

async fn apply(State(state): State<ApiState>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not UTF-8 text");
    };
    let objects = match manifest::parse(text) {
        Ok(o) if o.is_empty() => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "no objects in the input");
        }
        Ok(o) => o,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || {
        state
            .policy
            .check_objects(&objects, &store, &state.volumes)
            .map_err(Refused::Policy)?;
        store.apply(objects, &state.volumes).map_err(Refused::Store)
    })
    .await;
    match result {
        Ok(Err(Refused::Policy(e))) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
        Ok(Ok(applied)) => {
            let items: Vec<Value> = applied
                .iter()
                .map(|(o, a)| {
                    let m = o.metadata();
                    let result = match a {
                        Applied::Created => "created",
                        Applied::Configured => "configured",
                        Applied::Unchanged => "unchanged",
                    };
                    tracing::info!(kind = o.kind().as_str(), namespace = %m.namespace, name = %m.name, result, "applied");
                    json!({ "kind": o.kind().as_str(), "namespace": m.namespace, "name": m.name, "result": result })
                })
                .collect();
            axum::Json(json!({ "items": items })).into_response()
        }
        Ok(Err(Refused::Store(e))) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Why `/apply` stored nothing.
enum Refused {
    Policy(String),
    Store(datamover::store::StoreError),
}

async fn list(State(state): State<ApiState>, kind: Kind, ns: Option<String>) -> Response {
    let items: Vec<Value> = state
        .store
        .list(kind, ns.as_deref())
        .iter()
        .map(to_json)
        .collect();
    axum::Json(json!({ "items": items })).into_response()
}

async fn one(State(state): State<ApiState>, kind: Kind, ns: String, name: String) -> Response {
    match state.store.get(kind, &ns, &name) {
        Some(o) => axum::Json(to_json(&o)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("{} {ns}/{name} not found", kind.as_str()),
        ),
    }
}

async fn delete(State(state): State<ApiState>, kind: Kind, ns: String, name: String) -> Response {
    // A DataMover owns the clone it made, as an owner reference would on Kubernetes.
    let clone = state
        .store
        .datamover(&ns, &name)
        .map(|dm| dm.status.restored_pvc_name)
        .filter(|c| kind == Kind::DataMover && !c.is_empty());
    // A schedule owns its runs, and each run its clone.
    let mut clones: Vec<String> = clone.into_iter().collect();
    if let Some(s) = state
        .store
        .schedule(&ns, &name)
        .filter(|_| kind == Kind::DataMoverSchedule)
    {
        clones.extend(
            state
                .store
                .datamovers_owned_by(&ns, &s.metadata.uid)
                .into_iter()
                .map(|dm| dm.status.restored_pvc_name)
                .filter(|c| !c.is_empty()),
        );
    }
    let deleted = state.store.delete(kind, &ns, &name);
    for clone in clones.into_iter().filter(|_| matches!(deleted, Ok(true))) {
        let cluster = Embedded {
            store: state.store.clone(),
            volumes: state.volumes.clone(),
            rclone: "rclone".into(),
            policy: state.policy.clone(),
        };
        if let Err(e) = cluster.delete_pvc(&ns, &clone).await {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "deleted {} {ns}/{name}, but not the clone {clone}: {e}",
                    kind.as_str()
                ),
            );
        }
    }
    match deleted {
        Ok(true) => {
            tracing::info!(kind = kind.as_str(), namespace = %ns, name = %name, "deleted");
            axum::Json(json!({ "deleted": format!("{} {ns}/{name}", kind.as_str()) }))
                .into_response()
        }
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            format!("{} {ns}/{name} not found", kind.as_str()),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn list_core(state: State<ApiState>, Path((ns, plural)): Path<(String, String)>) -> Response {
    match core_kind(&plural) {
        Ok(kind) => list(state, kind, Some(ns)).await,
        Err(r) => r,
    }
}

async fn list_core_all(state: State<ApiState>, Path(plural): Path<String>) -> Response {
    match core_kind(&plural) {
        Ok(kind) => list(state, kind, None).await,
        Err(r) => r,
    }
}

async fn one_core(
    state: State<ApiState>,
    Path((ns, plural, name)): Path<(String, String, String)>,
) -> Response {
    match core_kind(&plural) {
        Ok(kind) => one(state, kind, ns, name).await,
        Err(r) => r,
    }
}

async fn delete_core(
    state: State<ApiState>,
    Path((ns, plural, name)): Path<(String, String, String)>,
) -> Response {
    match core_kind(&plural) {
        Ok(kind) => delete(state, kind, ns, name).await,
        Err(r) => r,
    }
}
