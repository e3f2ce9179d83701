//! The client commands: `apply`, `get`, `describe`, `delete`.

use crate::client::{ServerArg, request};
use crate::table;
use datamover::types::Kind;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

fn read_input(path: &Path) -> Result<String, String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading stdin: {e}"))?;
        return Ok(text);
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("-f {}: {e}", path.display()))?;
    if !meta.is_dir() {
        return std::fs::read_to_string(path).map_err(|e| format!("-f {}: {e}", path.display()));
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .map_err(|e| format!("-f {}: {e}", path.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        })
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        docs.push(std::fs::read_to_string(&f).map_err(|e| format!("-f {}: {e}", f.display()))?);
    }
    Ok(docs.join("\n---\n"))
}

fn fail_on_error(status: u16, body: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        Err(value
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| format!("HTTP {status}: {body}"), str::to_owned))
    }
}

pub(crate) fn apply(server: &ServerArg, file: &Path) -> Result<(), String> {
    send(server, file, "/apply")
}

/// `create -f`: as `apply`, but every object must be new; nothing is stored otherwise.
pub(crate) fn create(server: &ServerArg, file: &Path) -> Result<(), String> {
    send(server, file, "/create")
}

fn send(server: &ServerArg, file: &Path, path: &str) -> Result<(), String> {
    let text = read_input(file)?;
    let (status, body) = request(
        server,
        "POST",
        path,
        Some(("application/yaml", text.as_bytes())),
    )?;
    let value = fail_on_error(status, &body)?;
    for item in value["items"].as_array().into_iter().flatten() {
        println!(
            "{}/{} {} ({})",
            item["kind"].as_str().unwrap_or_default().to_lowercase(),
            item["name"].as_str().unwrap_or_default(),
            item["result"].as_str().unwrap_or_default(),
            item["namespace"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// The kinds `get`, `describe` and `delete` take.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KindArg {
    /// DataMovers.
    #[value(alias = "dm", alias = "datamover")]
    Datamovers,
    /// PersistentVolumeClaims.
    #[value(
        alias = "pvcs",
        alias = "persistentvolumeclaim",
        alias = "persistentvolumeclaims"
    )]
    Pvc,
    /// Secrets (values are never shown).
    #[value(alias = "secret")]
    Secrets,
    /// Sync Jobs (`batch/v1`), one per DataMover; restore Jobs, one per restored PVC.
    #[value(alias = "job")]
    Jobs,
    /// DataMoverSchedules: DataMovers on a cron schedule.
    #[value(
        alias = "schedule",
        alias = "datamoverschedule",
        alias = "datamoverschedules"
    )]
    Schedules,
    /// DataMoverPopulators: backups PVCs are restored from.
    #[value(
        alias = "populator",
        alias = "datamoverpopulator",
        alias = "datamoverpopulators"
    )]
    Populators,
    /// Backups: the timestamp folders at a destination (`get` only; `--secret`,
    /// `--schedule` or `--datamover` says whose).
    #[value(alias = "backup")]
    Backups,
}

impl TryFrom<KindArg> for Kind {
    type Error = String;

    fn try_from(k: KindArg) -> Result<Self, String> {
        Ok(match k {
            KindArg::Datamovers => Self::DataMover,
            KindArg::Pvc => Self::PersistentVolumeClaim,
            KindArg::Secrets => Self::Secret,
            KindArg::Jobs => Self::Job,
            KindArg::Schedules => Self::DataMoverSchedule,
            KindArg::Populators => Self::DataMoverPopulator,
            KindArg::Backups => {
                return Err("backups are folders at a destination, not objects: list them with `get backups`, restore one with a DataMoverPopulator, and delete them with the schedule's retention".into());
            }
        })
    }
}

/// `get`'s output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Columns.
    Table,
    /// More columns.
    Wide,
    /// The objects as JSON.
    Json,
    /// The objects as YAML.
    Yaml,
}

/// The API path of `kind` in `namespace` (every namespace when `None`), or of one object.
fn path(kind: Kind, namespace: Option<&str>, name: Option<&str>) -> String {
    let (group, plural) = match kind {
        Kind::DataMover | Kind::DataMoverSchedule | Kind::DataMoverPopulator => {
            ("/apis/datamover.a-cup-of.coffee/v1alpha1", kind.plural())
        }
        Kind::Job => ("/apis/batch/v1", "jobs"),
        other => ("/api/v1", other.plural()),
    };
    let base = match namespace {
        Some(ns) => format!("{group}/namespaces/{ns}/{plural}"),
        None => format!("{group}/{plural}"),
    };
    match name {
        Some(n) => format!("{base}/{n}"),
        None => base,
    }
}

fn print_value(value: &Value, format: Format) {
    match format {
        Format::Yaml => print!("{}", yaml_serde::to_string(value).unwrap_or_default()),
        _ => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
    }
}

pub(crate) fn get(
    server: &ServerArg,
    kind: Kind,
    name: Option<&str>,
    namespace: Option<&str>,
    format: Format,
    watch: bool,
) -> Result<(), String> {
    if name.is_some() && namespace.is_none() {
        return Err(
            "-A lists every namespace; to show one object, give its namespace with -n".into(),
        );
    }
    let fetch = || -> Result<Vec<Value>, String> {
        let (status, body) = request(server, "GET", &path(kind, namespace, name), None)?;
        let value = fail_on_error(status, &body)?;
        Ok(if name.is_some() {
            vec![value]
        } else {
            value["items"].as_array().cloned().unwrap_or_default()
        })
    };
    let mut items = fetch()?;
    if !watch {
        match format {
            Format::Json | Format::Yaml => {
                let value = if name.is_some() {
                    items.pop().unwrap_or(Value::Null)
                } else {
                    serde_json::json!({ "items": items })
                };
                print_value(&value, format);
            }
            Format::Table | Format::Wide => {
                if items.is_empty() {
                    match namespace {
                        Some(ns) => println!("No {} found in namespace {ns}.", kind.plural()),
                        None => println!("No {} found.", kind.plural()),
                    }
                    return Ok(());
                }
                print_rows(kind, &items, format, namespace.is_none(), true);
            }
        }
        return Ok(());
    }
    // Watch: the current state, then every change, polled once a second.
    print_rows(kind, &items, format, namespace.is_none(), true);
    let key = |o: &Value| format!("{}/{}", o["metadata"]["namespace"], o["metadata"]["name"]);
    let mut last: std::collections::HashMap<String, Value> =
        items.drain(..).map(|o| (key(&o), o)).collect();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = fetch()?;
        let changed: Vec<Value> = now
            .iter()
            .filter(|o| last.get(&key(o)) != Some(*o))
            .cloned()
            .collect();
        print_rows(kind, &changed, format, namespace.is_none(), false);
        last = now.into_iter().map(|o| (key(&o), o)).collect();
    }
}

fn print_rows(kind: Kind, items: &[Value], format: Format, all: bool, header: bool) {
    match format {
        Format::Json | Format::Yaml => {
            for o in items {
                print_value(o, format);
            }
        }
        Format::Table | Format::Wide => {
            let wide = format == Format::Wide;
            let now = datamover::time::now_ms();
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|o| table::row(kind, o, wide, all, now))
                .collect();
            table::print(&table::header(kind, wide, all), &rows, header);
        }
    }
}

/// One request about one object; its JSON, or the server's error.
fn one(
    server: &ServerArg,
    method: &str,
    kind: Kind,
    name: &str,
    namespace: &str,
) -> Result<Value, String> {
    let (status, body) = request(
        server,
        method,
        &path(kind, Some(namespace), Some(name)),
        None,
    )?;
    fail_on_error(status, &body)
}

pub(crate) fn describe(
    server: &ServerArg,
    kind: Kind,
    name: &str,
    namespace: &str,
) -> Result<(), String> {
    let value = one(server, "GET", kind, name, namespace)?;
    print!("{}", yaml_serde::to_string(&value).unwrap_or_default());
    Ok(())
}

pub(crate) fn delete(
    server: &ServerArg,
    kind: Kind,
    name: &str,
    namespace: &str,
) -> Result<(), String> {
    one(server, "DELETE", kind, name, namespace)?;
    println!("{}/{name} deleted", kind.as_str().to_lowercase());
    Ok(())
}
