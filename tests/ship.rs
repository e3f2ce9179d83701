//! What shipping needs, checked without Docker or a registry: the declared `rust-version` is
//! true of every locked dependency, the Dockerfile builds on that Rust, and every crate
//! without `publish = false` carries what packaging and crates.io need. Crates are found
//! through `cargo metadata`, so a new one is checked without editing this file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo metadata` of the whole lock, every feature on, read offline (no network in tests).
fn metadata() -> Value {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--all-features"])
        .args(["--locked", "--offline"])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed; it reads every locked package offline, so run \
         `cargo fetch --locked` first (.ci/run does):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// A `rust-version` (`1.90`, `1.89.0`) as (major, minor, patch).
fn version(text: &str) -> Result<(u64, u64, u64), String> {
    let parts: Vec<&str> = text.split('.').collect();
    let number = |i: usize| -> Result<u64, String> {
        parts.get(i).map_or(Ok(0), |p| {
            p.parse()
                .map_err(|_| format!("`{text}` is not a Rust version such as 1.90 or 1.90.0"))
        })
    };
    if parts.len() > 3 {
        return Err(format!(
            "`{text}` is not a Rust version such as 1.90 or 1.90.0"
        ));
    }
    Ok((number(0)?, number(1)?, number(2)?))
}

fn members(metadata: &Value) -> Vec<&Value> {
    let ids = metadata["workspace_members"].as_array().unwrap();
    let mut found: Vec<&Value> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| ids.contains(&p["id"]))
        .collect();
    found.sort_by_key(|p| p["name"].as_str().unwrap());
    found
}

/// The workspace's `rust-version`: the lowest any member declares (they all inherit it).
fn declared_rust_version(metadata: &Value) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    let mut lowest: Option<((u64, u64, u64), String)> = None;
    for member in members(metadata) {
        let name = member["name"].as_str().unwrap();
        let Some(text) = member["rust_version"].as_str() else {
            problems.push(format!(
                "{name} declares no rust-version: add `rust-version.workspace = true` to its [package]"
            ));
            continue;
        };
        match version(text) {
            Ok(v) if lowest.as_ref().is_none_or(|(low, _)| v < *low) => {
                lowest = Some((v, text.to_owned()));
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{name}: rust-version {e}")),
        }
    }
    match lowest {
        Some((_, text)) if problems.is_empty() => Ok(text),
        _ => Err(problems),
    }
}

/// Every locked package (every platform, every feature) that needs a newer Rust than the
/// workspace declares, named with the fix.
fn msrv_problems(metadata: &Value) -> Vec<String> {
    let declared = match declared_rust_version(metadata) {
        Ok(declared) => declared,
        Err(problems) => return problems,
    };
    let floor = version(&declared).unwrap();
    let ids = metadata["workspace_members"].as_array().unwrap();
    let mut problems: Vec<String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !ids.contains(&p["id"]))
        .filter_map(|p| {
            let (name, locked) = (p["name"].as_str()?, p["version"].as_str()?);
            let needs = p["rust_version"].as_str()?;
            match version(needs) {
                Ok(v) if v <= floor => None,
                Ok(_) => Some(format!(
                    "{name} {locked} needs Rust {needs}, newer than the workspace's \
                     rust-version {declared}: raise rust-version in Cargo.toml's \
                     [workspace.package] and the Dockerfile's `FROM rust:` tag to {needs}, \
                     or lock an older {name} (`cargo update -p {name} --precise VERSION`)"
                )),
                Err(e) => Some(format!("{name} {locked}: rust-version {e}")),
            }
        })
        .collect();
    problems.sort();
    problems
}

/// The Dockerfile's `FROM ...rust:TAG` must build with the declared Rust.
fn dockerfile_problem(dockerfile: &str, declared: &str) -> Option<String> {
    let images: Vec<&str> = dockerfile
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let from = words.next()?;
            from.eq_ignore_ascii_case("FROM")
                .then(|| words.find(|w| !w.starts_with("--")))?
        })
        .collect();
    let Some(image) = images.iter().find(|image| {
        let repository = image.split(':').next().unwrap_or("");
        repository.rsplit('/').next() == Some("rust")
    }) else {
        return Some(format!(
            "the Dockerfile has no `FROM rust:{declared}-...` build stage (FROM lines: {images:?})"
        ));
    };
    let tag = image.split_once(':').map_or("", |(_, tag)| tag);
    let tag_version = tag.split('-').next().unwrap_or("");
    match (version(tag_version), version(declared)) {
        (Ok(found), Ok(wanted)) if found == wanted => None,
        _ => Some(format!(
            "the Dockerfile builds on `{image}`, but rust-version is {declared}: use \
             `FROM docker.io/library/rust:{declared}-bookworm`, or change both together"
        )),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn every_locked_dependency_builds_on_the_declared_rust_version() {
    let problems = msrv_problems(&metadata());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_dockerfile_builds_on_the_declared_rust_version() {
    let declared = declared_rust_version(&metadata()).unwrap();
    let problem = dockerfile_problem(&read(&root().join("Dockerfile")), &declared);
    assert_eq!(problem, None);
}

/// The check above can fail: a locked dependency that needs a newer Rust is named.
#[test]
fn a_dependency_needing_a_newer_rust_is_named() {
    let mut metadata = metadata();
    let declared = declared_rust_version(&metadata).unwrap();
    // Whatever the real lock holds (the test above judges it), plus exactly this one.
    let mut expected = msrv_problems(&metadata);
    let ids = metadata["workspace_members"].clone();
    let dependency = metadata["packages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == "serde_json" && !ids.as_array().unwrap().contains(&p["id"]))
        .expect("serde_json is locked");
    dependency["rust_version"] = "1.999".into();
    let locked = dependency["version"].as_str().unwrap().to_owned();
    expected.push(format!(
        "serde_json {locked} needs Rust 1.999, newer than the workspace's rust-version \
         {declared}: raise rust-version in Cargo.toml's [workspace.package] and the \
         Dockerfile's `FROM rust:` tag to 1.999, or lock an older serde_json \
         (`cargo update -p serde_json --precise VERSION`)"
    ));
    expected.sort();
    assert_eq!(msrv_problems(&metadata), expected);
}

/// The Dockerfile check can fail: a build image on another Rust is named.
#[test]
fn a_dockerfile_on_another_rust_is_named() {
    let dockerfile = "FROM docker.io/library/rust:1.89-bookworm AS build\nFROM gcr.io/distroless/cc-debian12:nonroot\n";
    assert_eq!(
        dockerfile_problem(dockerfile, "1.90"),
        Some(
            "the Dockerfile builds on `docker.io/library/rust:1.89-bookworm`, but rust-version \
             is 1.90: use `FROM docker.io/library/rust:1.90-bookworm`, or change both together"
                .to_owned()
        )
    );
    assert_eq!(dockerfile_problem(dockerfile, "1.89.0"), None);
    assert_eq!(
        dockerfile_problem("FROM rust:bookworm AS build\n", "1.90"),
        Some(
            "the Dockerfile builds on `rust:bookworm`, but rust-version is 1.90: use \
             `FROM docker.io/library/rust:1.90-bookworm`, or change both together"
                .to_owned()
        )
    );
}

/// What `cargo package` and crates.io need of a crate that publishes, short of the network.
fn publish_problems(package: &Value, publishable: &BTreeMap<String, bool>) -> Vec<String> {
    let name = package["name"].as_str().unwrap();
    let dir = Path::new(package["manifest_path"].as_str().unwrap())
        .parent()
        .unwrap();
    let mut problems = Vec::new();
    let mut problem = |text: String| problems.push(format!("{name}: {text}"));
    if package["description"].as_str().is_none_or(str::is_empty) {
        problem("no description".into());
    }
    if package["license"] != "Apache-2.0" {
        problem(format!("license is {}, not Apache-2.0", package["license"]));
    }
    // The license text travels with the package: LICENSE is the root's (a symlink to it).
    match std::fs::read_to_string(dir.join("LICENSE")) {
        Ok(text) if text == read(&root().join("LICENSE")) => {}
        _ => problem("no LICENSE beside its Cargo.toml: `ln -s ../../LICENSE LICENSE`".into()),
    }
    match package["readme"].as_str() {
        Some(readme) if dir.join(readme).is_file() => {}
        other => problem(format!("readme {other:?} is not a file: add README.md")),
    }
    let keywords = package["keywords"].as_array().unwrap();
    let keyword_ok = |k: &Value| {
        k.as_str().is_some_and(|k| {
            k.len() <= 20
                && k.starts_with(|c: char| c.is_ascii_alphabetic())
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_+".contains(c))
        })
    };
    if keywords.is_empty() || keywords.len() > 5 || !keywords.iter().all(keyword_ok) {
        problem(format!(
            "keywords {keywords:?}: 1 to 5, each at most 20 ASCII letters, digits, -, _ or +"
        ));
    }
    if package["categories"].as_array().unwrap().is_empty() {
        problem("no categories".into());
    }
    for field in ["repository", "homepage", "documentation"] {
        if let Some(url) = package[field].as_str()
            && (!url.starts_with("https://") || url.contains("example."))
        {
            problem(format!(
                "{field} `{url}` is not a real public URL: remove it"
            ));
        }
    }
    let features = package["features"].as_object().unwrap();
    if features.keys().any(|f| f != "default")
        && package["metadata"]["docs"]["rs"]["all-features"] != true
    {
        problem(
            "features gate items but docs.rs would build the defaults only: add \
             `[package.metadata.docs.rs] all-features = true`"
                .into(),
        );
    }
    for dep in package["dependencies"].as_array().unwrap() {
        let (Some(dep_name), Some(_)) = (dep["name"].as_str(), dep["path"].as_str()) else {
            continue;
        };
        if dep["kind"] == "dev" {
            continue; // cargo package drops dev-dependencies without a version
        }
        if dep["req"] == "*" {
            problem(format!("path dependency {dep_name} has no version"));
        }
        if publishable.get(dep_name) == Some(&false) {
            problem(format!(
                "depends on {dep_name}, which has publish = false: it could not be published"
            ));
        }
    }
    problems
}

#[test]
fn every_crate_that_publishes_carries_license_readme_keywords_and_versions() {
    let metadata = metadata();
    let declared = declared_rust_version(&metadata).unwrap();
    let members = members(&metadata);
    let publishable: BTreeMap<String, bool> = members
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["publish"] != serde_json::json!([]),
            )
        })
        .collect();
    let publishing: Vec<&&Value> = members
        .iter()
        .filter(|p| publishable[p["name"].as_str().unwrap()])
        .collect();
    assert!(!publishing.is_empty(), "no crate without publish = false");
    let mut problems = Vec::new();
    for package in publishing {
        problems.extend(publish_problems(package, &publishable));
        if package["rust_version"] != declared.as_str() {
            problems.push(format!(
                "{}: rust-version is not the workspace's",
                package["name"]
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let license = read(&root().join("LICENSE"));
    assert!(
        license
            .trim_start()
            .starts_with("Apache License\n                        Version 2.0, January 2004"),
        "LICENSE is not the Apache License 2.0 text"
    );
}

/// What users read first: each publishable library's crate documentation opens with a code
/// block that rustdoc compiles and runs (no `ignore`, `no_run` or other language).
#[test]
fn every_library_that_publishes_opens_its_docs_with_a_runnable_example() {
    let metadata = metadata();
    let mut problems = Vec::new();
    for package in members(&metadata) {
        if package["publish"] == serde_json::json!([]) {
            continue;
        }
        let name = package["name"].as_str().unwrap();
        let Some(lib) = package["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["kind"].as_array().unwrap().contains(&"lib".into()))
        else {
            continue;
        };
        let source = read(Path::new(lib["src_path"].as_str().unwrap()));
        let docs: Vec<&str> = source
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| l.trim_start_matches("//!").trim())
            .collect();
        // The summary, then at most one short paragraph, then the example.
        match docs.iter().take(8).position(|l| l.starts_with("```")) {
            Some(i) if matches!(docs[i], "```" | "```rust") => {}
            Some(i) => problems.push(format!(
                "{name}: the opening example is `{}`, not run",
                docs[i]
            )),
            None => problems.push(format!(
                "{name}: the crate docs do not open with an example (within their first 8 lines)"
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
