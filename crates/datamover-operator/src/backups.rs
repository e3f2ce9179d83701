//! The catalogue of backups: `GET .../namespaces/{ns}/backups` (and `.../v1alpha1/backups`
//! for every namespace) lists the timestamp folders at a destination, and
//! `datamover-operator get backups` prints them.
//!
//! The destination is a secret's (`?secret=NAME`), a schedule's (`?schedule=NAME`) or a
//! DataMover's (`?datamover=NAME`, its secret with its `additionalEnv`); with none given,
//! every schedule's and every DataMover's that writes timestamp folders, each destination
//! listed once. The listing is [`datamover_embedded::catalogue::list`]: one `rclone lsjson`
//! per destination, awaited by the handler without holding a thread.

use crate::api::ApiState;
use crate::client::{ServerArg, request};
use crate::output::Format;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datamover::schedule::DataMoverSchedule;
use datamover::types::{DataMover, Secret};
use datamover_embedded::catalogue;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Which destination `get backups` lists.
#[derive(clap::Args, Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct Source {
    /// The destination of this secret.
    #[arg(long)]
    #[serde(default)]
    pub(crate) secret: Option<String>,
    /// The destination of this schedule.
    #[arg(long)]
    #[serde(default)]
    pub(crate) schedule: Option<String>,
    /// The destination of this DataMover.
    #[arg(long)]
    #[serde(default)]
    pub(crate) datamover: Option<String>,
}

/// One destination to list: who writes there, and how rclone reaches it.
struct Destination {
    namespace: String,
    /// The secret naming it (a restore's `DataMoverPopulator` names the same).
    secret: String,
    sources: Vec<String>,
    values: BTreeMap<String, String>,
    extra: Vec<(String, String)>,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// `GET .../namespaces/{ns}/backups`.
pub(crate) async fn in_namespace(
    state: State<ApiState>,
    Path(ns): Path<String>,
    Query(source): Query<Source>,
) -> Response {
    list(state, Some(ns), source).await
}

/// `GET .../v1alpha1/backups`: every namespace.
pub(crate) async fn everywhere(state: State<ApiState>, Query(source): Query<Source>) -> Response {
    list(state, None, source).await
}

async fn list(State(state): State<ApiState>, ns: Option<String>, source: Source) -> Response {
    let destinations = match destinations(&state, ns.as_deref(), &source) {
        Ok(d) => d,
        Err(message) => return refuse(StatusCode::NOT_FOUND, &message),
    };
    let mut items = Vec::new();
    for d in destinations {
        let backups = match catalogue::list(&state.cluster.rclone, &d.values, &d.extra).await {
            Ok(b) => b,
            Err(e) => {
                let who = d.sources.join(", ");
                return refuse(StatusCode::BAD_GATEWAY, &format!("{who}: {e}"));
            }
        };
        let movers = state.cluster.store.objects::<DataMover>(Some(&d.namespace));
        for b in backups {
            let writer = movers.iter().find(|dm| {
                dm.spec.secret_name == d.secret
                    && dm
                        .status
                        .destination
                        .strip_suffix(b.name.as_str())
                        .is_some_and(|base| base.ends_with('/') || base.ends_with(':'))
            });
            items.push(json!({
                "namespace": d.namespace, "source": d.sources.join(", "), "secret": d.secret,
                "name": b.name, "time": b.time, "size": b.size, "files": b.files,
                "verification": writer.map(verification),
            }));
        }
    }
    axum::Json(json!({ "items": items })).into_response()
}

/// What the check after the sync of the DataMover that wrote a backup found: `result` is
/// `Passed`, `Failed`, `NotChecked` (its `spec.verify` is `none`), `NotVerified` (the
/// backend ran no check) or `Pending` (not finished); `message` says more where there is more.
fn verification(dm: &DataMover) -> Value {
    let st = &dm.status;
    let condition = st.conditions.iter().find(|c| c.type_ == "Verified");
    let (result, message) = if dm.spec.verify.is_none() {
        ("NotChecked", String::new())
    } else if let Some(c) = condition {
        let result = if c.status == "True" {
            "Passed"
        } else {
            "NotVerified"
        };
        (result, c.message.clone())
    } else if st.phase == "Failed"
        && st
            .last_error
            .contains(&format!("{} (", datamover::reconciler::VERIFY_FAILED))
    {
        ("Failed", st.last_error.clone())
    } else if st.phase == "Failed" {
        (
            "NotChecked",
            "the backup failed before its check".to_owned(),
        )
    } else {
        ("Pending", String::new())
    };
    json!({
        "result": result, "mode": dm.spec.verify.as_str(), "at": st.verified_at,
        "message": message, "datamover": dm.metadata.name,
    })
}

/// The destinations `source` names in `ns` (every namespace when `None`).
fn destinations(
    state: &ApiState,
    ns: Option<&str>,
    source: &Source,
) -> Result<Vec<Destination>, String> {
    let store = &state.cluster.store;
    let secret_of = |ns: &str, name: &str| {
        store
            .object::<Secret>(ns, name)
            .ok_or_else(|| format!("the secret {ns}/{name} does not exist"))
    };
    let one = |ns: &str, who: String, secret: &str, env: &[datamover::types::EnvVar]| {
        let values = secret_of(ns, secret)?
            .values()
            .map_err(|k| format!("secret {secret}: data.{k} is not valid base64 text"))?;
        let extra = env
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        Ok::<_, String>(Destination {
            namespace: ns.to_owned(),
            secret: secret.to_owned(),
            sources: vec![who],
            values,
            extra,
        })
    };
    let named = ns.unwrap_or("default");
    if let Some(name) = &source.secret {
        return Ok(vec![one(named, format!("Secret {name}"), name, &[])?]);
    }
    if let Some(name) = &source.schedule {
        let s = store
            .object::<DataMoverSchedule>(named, name)
            .ok_or_else(|| format!("the DataMoverSchedule {named}/{name} does not exist"))?;
        let who = format!("DataMoverSchedule {name}");
        return Ok(vec![one(
            named,
            who,
            &s.spec.secret_name,
            &s.spec.additional_env,
        )?]);
    }
    if let Some(name) = &source.datamover {
        let dm = store
            .object::<DataMover>(named, name)
            .ok_or_else(|| format!("the DataMover {named}/{name} does not exist"))?;
        let who = format!("DataMover {name}");
        return Ok(vec![one(
            named,
            who,
            &dm.spec.secret_name,
            &dm.spec.additional_env,
        )?]);
    }
    // Every object that writes timestamp folders, each destination once.
    let schedules = store.objects::<DataMoverSchedule>(ns);
    let movers = schedules
        .iter()
        .map(datamover::schedule::reconciler::as_datamover)
        .chain(store.objects::<DataMover>(ns).into_iter().filter(|d| {
            !d.metadata
                .owner_references
                .iter()
                .any(|o| o.kind == datamover::schedule::KIND)
        }))
        .filter(|d| d.spec.add_timestamp_prefix);
    let mut by_place: BTreeMap<(String, String), Destination> = BTreeMap::new();
    for dm in movers {
        let dm_ns = &dm.metadata.namespace;
        let who = format!("{} {}", dm.kind, dm.metadata.name);
        let Ok(d) = one(
            dm_ns,
            who.clone(),
            &dm.spec.secret_name,
            &dm.spec.additional_env,
        ) else {
            continue; // its secret is missing: it has written nothing
        };
        let Ok(place) = datamover_embedded::policy::locate(&d.values, &d.extra) else {
            continue;
        };
        by_place
            .entry((dm_ns.clone(), place.to_string()))
            .and_modify(|e| e.sources.push(who))
            .or_insert(d);
    }
    Ok(by_place.into_values().collect())
}

/// `get backups`: the table (or JSON, YAML) of the backups `source` names.
pub(crate) fn get(
    server: &ServerArg,
    source: &Source,
    namespace: Option<&str>,
    format: Format,
) -> Result<(), String> {
    let mut query = Vec::new();
    for (key, value) in [
        ("secret", &source.secret),
        ("schedule", &source.schedule),
        ("datamover", &source.datamover),
    ] {
        if let Some(v) = value {
            query.push(format!("{key}={v}"));
        }
    }
    if query.len() > 1 {
        return Err("give at most one of --secret, --schedule, --datamover".into());
    }
    let base = "/apis/datamover.a-cup-of.coffee/v1alpha1";
    let mut path = match namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/backups"),
        None => format!("{base}/backups"),
    };
    if let Some(q) = query.first() {
        path = format!("{path}?{q}");
    }
    let (status, body) = request(server, "GET", &path, None)?;
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::String(body.clone()));
    if status != 200 {
        return Err(value["error"]
            .as_str()
            .map_or_else(|| format!("HTTP {status}: {body}"), str::to_owned));
    }
    let items = value["items"].as_array().cloned().unwrap_or_default();
    match format {
        Format::Json | Format::Yaml => {
            let out = json!({ "items": items });
            match format {
                Format::Yaml => print!("{}", yaml_serde::to_string(&out).unwrap_or_default()),
                _ => println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default()),
            }
        }
        Format::Table | Format::Wide => {
            if items.is_empty() {
                println!("No backups found.");
                return Ok(());
            }
            let mut header = vec!["SOURCE", "BACKUP", "TIME", "SIZE", "FILES"];
            if namespace.is_none() {
                header.insert(0, "NAMESPACE");
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|i| {
                    let text = |k: &str| i[k].as_str().unwrap_or_default().to_owned();
                    let mut row = vec![
                        text("source"),
                        text("name"),
                        text("time"),
                        crate::table::bytes(i["size"].as_u64().unwrap_or(0)),
                        i["files"].as_u64().unwrap_or(0).to_string(),
                    ];
                    if namespace.is_none() {
                        row.insert(0, text("namespace"));
                    }
                    row
                })
                .collect();
            crate::table::print(&header, &rows, true);
        }
    }
    Ok(())
}
