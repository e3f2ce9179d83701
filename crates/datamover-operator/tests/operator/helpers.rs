//! What the operator tests share: an operator on a temp dir, its jobs and counters, a sample
//! tree of files, and the manifests (PVC, secret, DataMover) they apply.

use crate::support::{Operator, noise, operator};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The operator on `data`, with the test's directory (`data`'s parent) allowed as a
/// host-path and local-destination root, and four workers.
pub(crate) fn start(data: &Path) -> Operator {
    operator(data).args(["--concurrency", "4"]).start()
}

/// The sync Job of DataMover `name`, once it has one.
pub(crate) fn job_of(op: &Operator, name: &str) -> Option<Value> {
    let dm = op.datamover(name);
    let job = dm["status"]["jobName"].as_str().filter(|j| !j.is_empty())?;
    let r = op.api(
        "GET",
        &format!("/apis/batch/v1/namespaces/default/jobs/{job}"),
        None,
    );
    (r.status == 200).then(|| serde_json::from_str(&r.body).unwrap())
}

/// Waits (bounded) until DataMover `name`'s Job has a pod running; its uid.
pub(crate) fn running_job(op: &Operator, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(job) = job_of(op, name).filter(|j| j["status"]["active"] == 1) {
            return job["metadata"]["uid"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the sync of {name} never started: {}",
            op.datamover(name)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `datamover_*` counter lines, sorted (histograms left out).
pub(crate) fn counters(op: &Operator) -> Vec<String> {
    let mut lines: Vec<String> = op
        .metrics()
        .lines()
        .filter(|l| l.starts_with("datamover_") && !l.starts_with("datamover_phase_duration"))
        // The live census gauges lag a second behind; tests read them on their own.
        .filter(|l| {
            !l.starts_with("datamover_syncs_running")
                && !l.starts_with("datamover_running_sync_bytes")
        })
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Every path under `root` (dirs end in `/`) with file contents.
pub(crate) fn tree(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                out.insert(format!("{rel}/"), None);
                stack.push(path);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

pub(crate) fn sample_tree(root: &Path, big: usize) {
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::fs::write(root.join("a/b/c/deep.txt"), "deep\n").unwrap();
    std::fs::write(root.join("a/naïve ☃ 日本.txt"), "unicode\n").unwrap();
    std::fs::write(root.join("zero-bytes"), "").unwrap();
    std::fs::write(root.join("a/big.bin"), noise(big, 42)).unwrap();
}

pub(crate) fn pvc(name: &str, host: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  annotations:\n    datamover.a-cup-of.coffee/host-path: \"{}\"\nspec: {{accessModes: [ReadWriteOnce]}}\n---\n",
        host.display()
    )
}

pub(crate) fn secret(name: &str, values: &[(&str, &str)]) -> String {
    let data: String = values
        .iter()
        .map(|(k, v)| format!("  {k}: \"{v}\"\n"))
        .collect();
    format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n{data}---\n")
}

pub(crate) fn datamover(name: &str, pvc: &str, secret: &str, extra: &str) -> String {
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}}}\nspec:\n  sourcePvc: {pvc}\n  secretName: {secret}\n{extra}---\n"
    )
}
