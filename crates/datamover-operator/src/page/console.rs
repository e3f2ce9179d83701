//! The console: what the page does besides showing. Every request here goes, in process,
//! through the resource API's own handlers ([`crate::api`], [`crate::backups`],
//! [`crate::control`]), so the page can do nothing the CLI could not, under the same rules
//! (validation, the host-path policy, the overlap rule).
//!
//! | path | what | API it calls |
//! | --- | --- | --- |
//! | `GET /backups?namespace=NS&schedule=NAME` (or `&datamover=NAME`) | the backups at that destination | `GET .../namespaces/NS/backups` |
//! | `POST /actions/restore` | a new PVC from a backup: `{namespace, sourceNamespace?, secret, backup, pvc, size?, sourcePvc?}` | `GET` of the PVC and populator names (both must be free), then one `/create` of a `DataMoverPopulator` `restore-<pvc>` and the PVC (both new, or neither) |
//! | `POST /actions/{trigger,suspend,resume}` | a schedule's controls: `{namespace, name}` | `POST .../datamoverschedules/NAME/{trigger,suspend,resume}` |
//! | `POST /actions/delete` | a finished (`Completed` or `Failed`) DataMover, the very one the page showed: `{namespace, name, uid}` ([`delete`]) | `GET`, then `DELETE .../datamovers/NAME` with `{"preconditions": {"uid", "resourceVersion"}}` |
//!
//! An action needs the session cookie and the session's token in `X-DataMover-CSRF` (403
//! without it: that is what a request another site makes the browser send looks like), or
//! the API token as `Authorization: Bearer`. A refusal answers `{"error": ..., "field": ...}`,
//! `field` naming the form control at fault where one is. Each action is logged with who did
//! it (the session's label) and what the API answered.

use super::session::CSRF_HEADER;
use super::{Access, PageState, Who, signed_in};
use crate::control::{self, Control};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use datamover::manifest::is_object_name;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower::ServiceExt;

mod delete;

const GROUP: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1";

/// The console's routes.
pub(super) fn routes() -> Router<PageState> {
    Router::new()
        .route("/backups", get(backups))
        .route("/actions/restore", post(restore))
        .route(
            "/actions/trigger",
            post(|s: State<PageState>, h: HeaderMap, b: Bytes| schedule(s, h, b, Control::Trigger)),
        )
        .route(
            "/actions/suspend",
            post(|s: State<PageState>, h: HeaderMap, b: Bytes| schedule(s, h, b, Control::Suspend)),
        )
        .route(
            "/actions/resume",
            post(|s: State<PageState>, h: HeaderMap, b: Bytes| schedule(s, h, b, Control::Resume)),
        )
        .route("/actions/delete", post(delete::delete))
}

/// A refusal: `{"error": message, "field": field}`.
fn refuse(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    (
        status,
        axum::Json(json!({ "error": message, "field": field })),
    )
        .into_response()
}

fn refuse_access(access: &Access) -> Response {
    match access {
        Access::Wrong => refuse(
            StatusCode::FORBIDDEN,
            "the token or session is not this operator's: sign in again",
            None,
        ),
        Access::Missing | Access::Granted => refuse(
            StatusCode::UNAUTHORIZED,
            "sign in first: GET / shows the form",
            None,
        ),
    }
}

/// Who may act: signed in and, with a session cookie, sending the session's own token.
#[allow(clippy::result_large_err)] // the error is the response itself
fn actor(state: &PageState, headers: &HeaderMap) -> Result<Who, Response> {
    let who = signed_in(state, headers).map_err(|a| refuse_access(&a))?;
    if let Who::Session(session) = &who {
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !session.csrf_matches(given) {
            tracing::warn!(session = %session.label, "page action refused: no cross-site token");
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "this action needs the page's own token in the X-DataMover-CSRF header: reload the page and try again",
                None,
            ));
        }
    }
    Ok(who)
}

/// The body as `T`, or a 400 naming what is wrong with it.
#[allow(clippy::result_large_err)] // the error is the response itself
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            &format!("the request body is not the JSON this action takes: {e}"),
            None,
        )
    })
}

/// `method uri` on the resource API, in process: its status and JSON answer.
async fn call(
    state: &PageState,
    method: Method,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/yaml")
        .body(body.map_or_else(Body::empty, Body::from));
    let Ok(request) = request else {
        return (
            StatusCode::BAD_REQUEST,
            json!({ "error": format!("not a request path: {uri}") }),
        );
    };
    let Ok(response) = state.api.clone().oneshot(request).await;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({ "error": String::from_utf8_lossy(&bytes) }));
    (status, value)
}

/// Passes the API's answer on; an error keeps its status and words.
fn answer(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

/// Whether `s` can be an object name ([`is_object_name`]) of at most `max` characters.
fn object_name(s: &str, max: usize) -> bool {
    s.len() <= max && is_object_name(s)
}

/// Whether `s` is a storage quantity like `10Gi`, `500Mi`, `1.5G` or `1073741824`.
fn quantity(s: &str) -> bool {
    let digits_end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    let parts: Vec<&str> = number.split('.').collect();
    let number_ok = match parts.as_slice() {
        [whole] => !whole.is_empty(),
        [whole, fraction] => !whole.is_empty() && !fraction.is_empty(),
        _ => false,
    };
    number_ok
        && [
            "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E",
        ]
        .contains(&unit)
}

/// `?namespace=&schedule=` or `?namespace=&datamover=` of `/backups`.
#[derive(Debug, Deserialize)]
struct Whose {
    namespace: String,
    schedule: Option<String>,
    datamover: Option<String>,
}

/// The backups at a schedule's or DataMover's destination, as the catalogue lists them.
async fn backups(
    State(state): State<PageState>,
    Query(whose): Query<Whose>,
    headers: HeaderMap,
) -> Response {
    if let Err(a) = signed_in(&state, &headers) {
        return refuse_access(&a);
    }
    let (key, name) = match (&whose.schedule, &whose.datamover) {
        (Some(s), None) => ("schedule", s),
        (None, Some(d)) => ("datamover", d),
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "give one of schedule= and datamover=",
                None,
            );
        }
    };
    if !object_name(&whose.namespace, 253) || !object_name(name, 253) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "namespace and schedule (or datamover) must be object names",
            None,
        );
    }
    let uri = format!(
        "{GROUP}/namespaces/{}/backups?{key}={name}",
        whose.namespace
    );
    let (status, value) = call(&state, Method::GET, &uri, None).await;
    answer(status, value)
}

/// What the restore form sends.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RestoreForm {
    /// Where the new PVC goes: the backup's own namespace (its populator reads the secret
    /// there).
    namespace: String,
    /// The namespace of the schedule or DataMover whose backup this is; empty: `namespace`.
    #[serde(default)]
    source_namespace: String,
    /// The secret naming the destination that holds the backup.
    secret: String,
    /// The backup's folder in that destination.
    backup: String,
    /// The new PVC's name.
    pvc: String,
    /// Its size; empty: the source PVC's.
    #[serde(default)]
    size: String,
    /// The PVC that was backed up, whose size and access modes are the defaults.
    #[serde(default)]
    source_pvc: String,
}

/// The longest PVC name whose populator, `restore-<pvc>`, is still a valid name.
const MAX_PVC_NAME: usize = 63 - "restore-".len();

/// `POST /actions/restore`: refuses a PVC (or populator) name in use before creating
/// anything, then creates the populator and the PVC together (both or neither).
async fn restore(State(state): State<PageState>, headers: HeaderMap, body: Bytes) -> Response {
    let who = match actor(&state, &headers) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let form: RestoreForm = match parse(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let response = restore_as(&state, &form).await;
    tracing::info!(
        who = who.label(),
        action = "restore",
        pvc = %format!("{}/{}", form.namespace.trim(), form.pvc.trim()),
        backup = %form.backup,
        secret = %form.secret,
        status = response.status().as_u16(),
        "page action"
    );
    response
}

async fn restore_as(state: &PageState, form: &RestoreForm) -> Response {
    let ns = form.namespace.trim();
    let pvc = form.pvc.trim();
    let size = form.size.trim();
    if !object_name(ns, 63) || ns.contains('.') {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a namespace is lowercase letters, digits and '-', starting and ending with a letter or digit",
            Some("namespace"),
        );
    }
    let home = form.source_namespace.trim();
    if !home.is_empty() && home != ns {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "a restore goes into the backup's namespace, {home}: its DataMoverPopulator reads the secret {} there, and a secret of that name in {ns} may name another destination",
                form.secret
            ),
            Some("namespace"),
        );
    }
    if !object_name(pvc, MAX_PVC_NAME) || pvc.contains('.') {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "a PVC name is lowercase letters, digits and '-', starting and ending with a letter or digit, at most {MAX_PVC_NAME} characters"
            ),
            Some("pvc"),
        );
    }
    if !size.is_empty() && !quantity(size) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a size is a number with an optional unit, like 10Gi or 500Mi; leave it empty for the source's",
            Some("size"),
        );
    }
    if form.backup.is_empty() || form.secret.is_empty() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "choose a backup from a list of backups",
            Some("backup"),
        );
    }
    let populator = format!("restore-{pvc}");
    let pvc_path = format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{pvc}");
    let populator_path = format!("{GROUP}/namespaces/{ns}/datamoverpopulators/{populator}");
    for (path, what) in [
        (&pvc_path, format!("PersistentVolumeClaim {ns}/{pvc}")),
        (
            &populator_path,
            format!("DataMoverPopulator {ns}/{populator}"),
        ),
    ] {
        match call(state, Method::GET, path, None).await {
            (StatusCode::NOT_FOUND, _) => {}
            (StatusCode::OK, _) => {
                return refuse(
                    StatusCode::CONFLICT,
                    &format!(
                        "{what} already exists: a restore fills a new claim, so choose another name (nothing was created)"
                    ),
                    Some("pvc"),
                );
            }
            (status, value) => return answer(status, value),
        }
    }
    // The source's size and access modes, where the form leaves them.
    let mut storage = Value::String(size.to_owned());
    let mut modes = json!(["ReadWriteOnce"]);
    if !form.source_pvc.is_empty() && object_name(&form.source_pvc, 253) {
        let path = format!(
            "/api/v1/namespaces/{ns}/persistentvolumeclaims/{}",
            form.source_pvc
        );
        if let (StatusCode::OK, source) = call(state, Method::GET, &path, None).await {
            if size.is_empty() {
                storage = source["spec"]["resources"]["requests"]["storage"].clone();
            }
            if source["spec"]["accessModes"].is_array() {
                modes = source["spec"]["accessModes"].clone();
            }
        }
    }
    let mut claim_spec = json!({
        "accessModes": modes,
        "dataSourceRef": {"apiGroup": "datamover.a-cup-of.coffee", "kind": "DataMoverPopulator", "name": populator},
    });
    if storage.as_str().is_some_and(|s| !s.is_empty()) {
        claim_spec["resources"] = json!({ "requests": { "storage": storage } });
    }
    let documents = [
        json!({
            "apiVersion": "datamover.a-cup-of.coffee/v1alpha1", "kind": "DataMoverPopulator",
            "metadata": {"name": populator, "namespace": ns},
            "spec": {"secretName": form.secret, "path": form.backup},
        }),
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": pvc, "namespace": ns},
            "spec": claim_spec,
        }),
    ];
    let text = documents
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n---\n");
    // `/create`: a restore racing this one for the name gets a 409, not our PVC reconfigured.
    match call(state, Method::POST, "/create", Some(text)).await {
        (StatusCode::OK, _) => answer(
            StatusCode::OK,
            json!({ "namespace": ns, "pvc": pvc, "populator": populator, "size": storage }),
        ),
        (StatusCode::CONFLICT, value) => refuse(
            StatusCode::CONFLICT,
            value["error"].as_str().unwrap_or("the name is taken"),
            Some("pvc"),
        ),
        (status, value) => answer(status, value),
    }
}

/// `{namespace, name}` of a schedule or a DataMover.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    namespace: String,
    name: String,
}

/// A body naming one object: its namespace and name.
trait Named {
    /// `(namespace, name)`.
    fn names(&self) -> (&str, &str);
}

impl Named for Target {
    fn names(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }
}

/// The body as `T`, its namespace and name checked as object names (400 otherwise).
#[allow(clippy::result_large_err)] // the error is the response itself
fn target<T: DeserializeOwned + Named>(body: &Bytes) -> Result<T, Response> {
    let t: T = parse(body)?;
    let (namespace, name) = t.names();
    if object_name(namespace, 253) && object_name(name, 253) {
        Ok(t)
    } else {
        Err(refuse(
            StatusCode::BAD_REQUEST,
            "namespace and name must be object names: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
            None,
        ))
    }
}

/// Who acts, and on what.
#[allow(clippy::result_large_err)] // the error is the response itself
fn acting_on<T: DeserializeOwned + Named>(
    state: &PageState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Who, T), Response> {
    Ok((actor(state, headers)?, target(body)?))
}

/// `POST /actions/{trigger,suspend,resume}`.
async fn schedule(
    State(state): State<PageState>,
    headers: HeaderMap,
    body: Bytes,
    control: Control,
) -> Response {
    let (who, t) = match acting_on::<Target>(&state, &headers, &body) {
        Ok(both) => both,
        Err(r) => return r,
    };
    let path = control::path(control, &t.namespace, &t.name);
    let (status, value) = call(&state, Method::POST, &path, None).await;
    tracing::info!(
        who = who.label(),
        action = control.as_str(),
        schedule = %format!("{}/{}", t.namespace, t.name),
        status = status.as_u16(),
        "page action"
    );
    answer(status, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes_should_be_checked_as_kubernetes_does() {
        for ok in ["a", "data-restored", "a.b", "x1"] {
            assert!(object_name(ok, 63), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a/b", "..", &"a".repeat(64)] {
            assert!(!object_name(bad, 63), "{bad}");
        }
        for ok in ["1", "10Gi", "500Mi", "1.5G", "1073741824", "2Ti"] {
            assert!(quantity(ok), "{ok}");
        }
        for bad in [
            "", "Gi", "10 Gi", "10gb", "1.", ".5Gi", "1.2.3", "-1Gi", "10GiB",
        ] {
            assert!(!quantity(bad), "{bad}");
        }
    }
}
