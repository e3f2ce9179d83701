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
//! | `/create` | POST: as `/apply`, but every object must be new (`kubectl create`): 409 naming the first that exists, and nothing is stored |
//! | `/apis/datamover.a-cup-of.coffee/v1alpha1[/namespaces/{ns}]/backups[?secret=\|schedule=\|datamover=NAME]` | GET: the backups at a destination ([`crate::backups`]) |
//! | `/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/datamoverschedules/{name}/{trigger,suspend,resume}` | POST: run the schedule now, stop or restart its runs ([`crate::control`]) |
//!
//! Every request needs `Authorization: Bearer <token>` (the token of `<data-dir>/api-token`):
//! 401 without one, 403 with a wrong one. `/apply` refuses host paths and local
//! destinations outside the roots the operator was given ([`datamover_embedded::policy`]).
//!
//! A write the disk refuses answers 507 (the data dir is full) or 503 (another I/O error),
//! naming the data dir and the cause; nothing is stored then.
//!
//! A DELETE may carry Kubernetes' `DeleteOptions` as its JSON body: with
//! `{"preconditions": {"uid": "...", "resourceVersion": "..."}}` the object is deleted only
//! if it is still the one the caller read (checked under the store's write lock); otherwise
//! 409, in Kubernetes' words (`Precondition failed: UID in precondition: X, UID in object
//! meta: Y`), and nothing is deleted.
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
use datamover::manifest::{self, Object};
use datamover::types::Kind;
use datamover_embedded::Embedded;
use datamover_embedded::cluster::DeleteError;
use datamover_embedded::store::{Applied, Preconditions, StoreError};
use serde_json::{Value, json};

#[derive(Clone)]
pub(crate) struct ApiState {
    /// The embedded backend: its store, volumes and policy.
    pub(crate) cluster: Embedded,
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

pub(crate) fn to_json(object: &Object) -> Value {
    match object {
        // A Secret's values never leave the operator.
        Object::Secret(o) => {
            let mut redacted = o.clone();
            for v in redacted.data.values_mut() {
                v.clear();
            }
            Object::Secret(redacted).to_json()
        }
        other => other.to_json(),
    }
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
        .route("/apply", post(|s: State<ApiState>, b: Bytes| apply(s, b, Mode::Apply)))
        .route("/create", post(|s: State<ApiState>, b: Bytes| apply(s, b, Mode::Create)))
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
                |s: State<ApiState>, Path((ns, name)): Path<(String, String)>, b: Bytes| {
                    delete(s, Kind::DataMover, ns, name, b)
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
                |s: State<ApiState>, Path((ns, name)): Path<(String, String)>, b: Bytes| {
                    delete(s, Kind::Job, ns, name, b)
                },
            ),
        )
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/backups",
            get(crate::backups::everywhere),
        )
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/backups",
            get(crate::backups::in_namespace),
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
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/datamoverschedules/{name}/trigger",
            post(crate::control::trigger),
        )
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/datamoverschedules/{name}/suspend",
            post(crate::control::suspend),
        )
        .route(
            "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{ns}/datamoverschedules/{name}/resume",
            post(crate::control::resume),
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
    body: Bytes,
) -> Response {
    match group_kind(&plural) {
        Ok(kind) => delete(state, kind, ns, name, body).await,
        Err(r) => r,
    }
}

/// `/apply` (create or update) or `/create` (all new).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Apply,
    Create,
}

async fn apply(State(state): State<ApiState>, body: Bytes, mode: Mode) -> Response {
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
    let store = state.cluster.store.clone();
    let data_dir = state.cluster.policy.data_dir().to_path_buf();
    let result = tokio::task::spawn_blocking(move || {
        state
            .cluster
            .policy
            .check_objects(&objects, &store, &state.cluster.volumes)
            .map_err(Refused::Policy)?;
        match mode {
            Mode::Apply => store.apply(objects, &state.cluster.volumes),
            Mode::Create => store
                .create_all(objects, &state.cluster.volumes)
                .map(|created| created.into_iter().map(|o| (o, Applied::Created)).collect()),
        }
        .map_err(Refused::Store)
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
        Ok(Err(Refused::Store(
            e @ datamover_embedded::store::StoreError::AlreadyExists { .. },
        ))) => error(
            StatusCode::CONFLICT,
            format!("{e}: nothing was stored (`apply` updates an existing object)"),
        ),
        Ok(Err(Refused::Store(e @ datamover_embedded::store::StoreError::Twice { .. }))) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{e}; nothing was stored"),
        ),
        Ok(Err(Refused::Store(e))) => store_error(&e, &data_dir, "nothing was stored"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// A write the store refused: 507 (the data dir is full) or 503 (another I/O error), naming
/// the data dir and the cause; 500 for anything else.
fn store_error(
    e: &datamover_embedded::store::StoreError,
    data_dir: &std::path::Path,
    nothing: &str,
) -> Response {
    let (status, message) = crate::store_health::status_and_message(e, data_dir, nothing);
    error(status, message)
}

/// Why `/apply` stored nothing.
enum Refused {
    Policy(String),
    Store(datamover_embedded::store::StoreError),
}

async fn list(State(state): State<ApiState>, kind: Kind, ns: Option<String>) -> Response {
    let items: Vec<Value> = state
        .cluster
        .store
        .list(kind, ns.as_deref())
        .iter()
        .map(to_json)
        .collect();
    axum::Json(json!({ "items": items })).into_response()
}

async fn one(State(state): State<ApiState>, kind: Kind, ns: String, name: String) -> Response {
    match state.cluster.store.get(kind, &ns, &name) {
        Some(o) => axum::Json(to_json(&o)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("{} {ns}/{name} not found", kind.as_str()),
        ),
    }
}

/// A DELETE's body: Kubernetes' `DeleteOptions`, of which the API acts on `preconditions`
/// (`uid`, `resourceVersion`: checked under the store's write lock, 409 when the stored
/// object fails them) and takes `kind` and `apiVersion` as given, `propagationPolicy` when
/// `Background` or `Foreground` (dependents are always deleted with the object, in one
/// step). Anything else (`Orphan`, `dryRun`, `orphanDependents`, ...) is refused rather
/// than ignored.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteOptions {
    #[serde(default)]
    #[allow(dead_code)] // taken, not used: the body names itself
    kind: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // as `kind`
    api_version: Option<String>,
    #[serde(default)]
    propagation_policy: Option<String>,
    #[serde(default)]
    preconditions: Preconditions,
}

/// The DELETE body as [`DeleteOptions`] (an empty body: none), or a 400 naming the fault.
#[allow(clippy::result_large_err)] // the error is the response itself
fn delete_options(body: &Bytes) -> Result<DeleteOptions, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DeleteOptions::default());
    }
    let options: DeleteOptions = serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "the DELETE body is a JSON DeleteOptions ({{\"preconditions\": {{\"uid\": ..., \"resourceVersion\": ...}}}}): {e}; nothing was deleted"
            ),
        )
    })?;
    match options.propagation_policy.as_deref() {
        None | Some("Background" | "Foreground") => Ok(options),
        Some(other) => Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "propagationPolicy {other:?}: this API deletes an object's dependents with it; give Background or Foreground, or leave it out; nothing was deleted"
            ),
        )),
    }
}

async fn delete(
    State(state): State<ApiState>,
    kind: Kind,
    ns: String,
    name: String,
    body: Bytes,
) -> Response {
    let options = match delete_options(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match state
        .cluster
        .delete_object_if(kind, &ns, &name, options.preconditions)
        .await
    {
        Ok(true) => {
            tracing::info!(kind = kind.as_str(), namespace = %ns, name = %name, "deleted");
            axum::Json(json!({ "deleted": format!("{} {ns}/{name}", kind.as_str()) }))
                .into_response()
        }
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            format!("{} {ns}/{name} not found", kind.as_str()),
        ),
        Err(e @ DeleteError::Clone { .. }) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("deleted {} {ns}/{name}, {e}", kind.as_str()),
        ),
        Err(DeleteError::Store(e @ StoreError::Precondition { .. })) => {
            error(StatusCode::CONFLICT, format!("{e}; nothing was deleted"))
        }
        Err(DeleteError::Store(e)) => {
            store_error(&e, state.cluster.policy.data_dir(), "nothing was deleted")
        }
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
    body: Bytes,
) -> Response {
    match core_kind(&plural) {
        Ok(kind) => delete(state, kind, ns, name, body).await,
        Err(r) => r,
    }
}
