//! Paths, external tools, temporary directories (from `tmc-test-support`) and the shipped
//! rule files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_serde::Value;

/// Temp dirs removed when the test ends, panics included.
pub(crate) use tmc_test_support::TempDir;
/// `bin`, checked to run; without it the test fails, naming the install command.
pub(crate) use tmc_test_support::require_tool as tool;

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `deploy/`.
pub(crate) fn deploy(relative: &str) -> PathBuf {
    root().join("deploy").join(relative)
}

/// `promtool`, from the Debian package `prometheus`.
pub(crate) fn promtool() -> &'static str {
    tool("promtool", "prometheus")
}

/// Runs `bin args` in `dir`; returns whether it succeeded and its stdout and stderr together.
pub(crate) fn run(bin: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The files of `dir` (under `deploy/`) whose names end with `suffix`, sorted.
pub(crate) fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(deploy(dir))
        .unwrap_or_else(|e| panic!("deploy/{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no *{suffix} file in deploy/{dir}");
    found
}

/// The shipped rule files: `deploy/prometheus/rules/*.rules.yml`.
pub(crate) fn rule_files() -> Vec<PathBuf> {
    files("prometheus/rules", ".rules.yml")
}

/// The shipped promtool unit-test files: `deploy/prometheus/tests/*.test.yml`.
pub(crate) fn rule_test_files() -> Vec<PathBuf> {
    files("prometheus/tests", ".test.yml")
}

pub(crate) fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One rule of a shipped rule file.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The file name, e.g. `datamover-alerts.rules.yml`.
    pub(crate) file: String,
    /// The alert name or the recorded metric name.
    pub(crate) name: String,
    pub(crate) is_alert: bool,
    pub(crate) expr: String,
    pub(crate) severity: Option<String>,
    pub(crate) summary: Option<String>,
}

/// Every rule of every shipped rule file.
pub(crate) fn rules() -> Vec<Rule> {
    let mut all = Vec::new();
    for path in rule_files() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let doc = read_yaml(&path);
        let groups = doc["groups"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{file}: no groups"));
        for group in groups {
            for rule in group["rules"].as_sequence().unwrap() {
                let (name, is_alert) = match (rule["alert"].as_str(), rule["record"].as_str()) {
                    (Some(alert), None) => (alert, true),
                    (None, Some(record)) => (record, false),
                    _ => panic!("{file}: a rule is neither an alert nor a recording rule"),
                };
                all.push(Rule {
                    file: file.clone(),
                    name: name.to_owned(),
                    is_alert,
                    expr: rule["expr"].as_str().unwrap().to_owned(),
                    severity: rule["labels"]["severity"].as_str().map(str::to_owned),
                    summary: rule["annotations"]["summary"].as_str().map(str::to_owned),
                });
            }
        }
    }
    all
}

/// The metric names the shipped recording rules define.
pub(crate) fn recorded_names() -> BTreeSet<String> {
    rules()
        .into_iter()
        .filter(|r| !r.is_alert)
        .map(|r| r.name)
        .collect()
}

/// `app` served on a loopback port by a one-worker runtime of its own; it serves until the
/// returned runtime is dropped (or shut down).
pub(crate) fn serve(app: axum::Router) -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let target = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, target)
}
