//! The client commands: `apply`, `get`, `describe`, `delete`.

use crate::client::{ServerArg, request};
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
    let text = read_input(file)?;
    let (status, body) = request(
        server,
        "POST",
        "/apply",
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

fn kind(word: &str) -> Result<Kind, String> {
    Kind::parse(word)
        .ok_or_else(|| format!("unknown kind {word:?}: use datamovers (dm), pvc or secrets"))
}

fn path(kind: Kind, namespace: &str, name: Option<&str>) -> String {
    let base = match kind {
        Kind::DataMover => {
            format!("/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/{namespace}/datamovers")
        }
        other => format!("/api/v1/namespaces/{namespace}/{}", other.plural()),
    };
    match name {
        Some(n) => format!("{base}/{n}"),
        None => base,
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn row(kind: Kind, o: &Value, wide: bool) -> Vec<String> {
    let mut cells = vec![s(o, "/metadata/name").to_owned()];
    match kind {
        Kind::DataMover => {
            cells.push(s(o, "/status/phase").to_owned());
            cells.push(s(o, "/metadata/creationTimestamp").to_owned());
            if wide {
                cells.push(s(o, "/spec/sourcePvc").to_owned());
                cells.push(s(o, "/status/restoredPvcName").to_owned());
                cells.push(
                    o.pointer("/status/attempts")
                        .map(Value::to_string)
                        .unwrap_or_default(),
                );
                cells.push(
                    o.pointer("/status/bytesTransferred")
                        .map(Value::to_string)
                        .unwrap_or_default(),
                );
                cells.push(s(o, "/status/destination").to_owned());
            }
        }
        Kind::PersistentVolumeClaim => {
            cells.push(s(o, "/status/phase").to_owned());
            cells.push(s(o, "/metadata/creationTimestamp").to_owned());
        }
        Kind::Secret => {
            cells.push(s(o, "/type").to_owned());
            cells.push(
                o.pointer("/data")
                    .and_then(Value::as_object)
                    .map_or(0, serde_json::Map::len)
                    .to_string(),
            );
        }
    }
    cells
}

fn header(kind: Kind, wide: bool) -> Vec<&'static str> {
    match kind {
        Kind::DataMover if wide => vec![
            "NAME",
            "PHASE",
            "CREATED",
            "SOURCE",
            "CLONE",
            "ATTEMPTS",
            "BYTES",
            "DESTINATION",
        ],
        Kind::DataMover => vec!["NAME", "PHASE", "CREATED"],
        Kind::PersistentVolumeClaim => vec!["NAME", "STATUS", "CREATED"],
        Kind::Secret => vec!["NAME", "TYPE", "DATA"],
    }
}

fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", padded.join("   ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for r in rows {
        line(r.clone());
    }
}

pub(crate) fn get(
    server: &ServerArg,
    word: &str,
    name: Option<&str>,
    namespace: &str,
    output: &str,
) -> Result<(), String> {
    let kind = kind(word)?;
    if !["table", "wide", "json", "yaml"].contains(&output) {
        return Err(format!("-o {output}: accepted are table, wide, json, yaml"));
    }
    let (status, body) = request(server, "GET", &path(kind, namespace, name), None)?;
    let value = fail_on_error(status, &body)?;
    match output {
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ),
        "yaml" => print!("{}", yaml_serde::to_string(&value).unwrap_or_default()),
        _ => {
            let items: Vec<Value> = if name.is_some() {
                vec![value]
            } else {
                value["items"].as_array().cloned().unwrap_or_default()
            };
            if items.is_empty() {
                println!("No {} found in namespace {namespace}.", kind.plural());
                return Ok(());
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|o| row(kind, o, output == "wide"))
                .collect();
            table(&header(kind, output == "wide"), &rows);
        }
    }
    Ok(())
}

/// One request about one object; its JSON, or the server's error.
fn one(
    server: &ServerArg,
    method: &str,
    word: &str,
    name: &str,
    namespace: &str,
) -> Result<(Kind, Value), String> {
    let kind = kind(word)?;
    let (status, body) = request(server, method, &path(kind, namespace, Some(name)), None)?;
    Ok((kind, fail_on_error(status, &body)?))
}

pub(crate) fn describe(
    server: &ServerArg,
    word: &str,
    name: &str,
    namespace: &str,
) -> Result<(), String> {
    let (_, value) = one(server, "GET", word, name, namespace)?;
    print!("{}", yaml_serde::to_string(&value).unwrap_or_default());
    Ok(())
}

pub(crate) fn delete(
    server: &ServerArg,
    word: &str,
    name: &str,
    namespace: &str,
) -> Result<(), String> {
    let (kind, _) = one(server, "DELETE", word, name, namespace)?;
    println!("{}/{name} deleted", kind.as_str().to_lowercase());
    Ok(())
}
