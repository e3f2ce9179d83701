//! Paths, external tools, temporary directories and the shipped rule files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use yaml_serde::Value;

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `deploy/`.
pub(crate) fn deploy(relative: &str) -> PathBuf {
    root().join("deploy").join(relative)
}

/// `bin`. Without it the test fails, naming the command that installs `package`: no test
/// passes by skipping a check.
pub(crate) fn tool(bin: &'static str, package: &str) -> &'static str {
    let found = Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{bin} is missing: install it with `apt-get install -y {package}` (scripts/test.sh installs what the tests need when run as root)"
    );
    bin
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

/// A fresh directory under the system temp dir, removed (with its content) on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(what: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "tmc-monitoring-{what}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` in this directory and returns its path.
    pub(crate) fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
