//! Backups to a real S3 API (moto's server, from the venv `scripts/deps.sh test` makes)
//! through the original operator's secret keys, with `AWS_CA_BUNDLE` set in the operator's
//! environment, as many machines and CI runners have it: the real binary, the real rclone,
//! boto3 reading back what landed, a restore compared file for file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::{DATAMOVERS as GROUP, Operator, operator, pvc, require_rclone, tempdir};
use tmc_test_support::pki::test_pki;
use tmc_test_support::s3::{ACCESS_KEY_ID, REGION, S3, SECRET_ACCESS_KEY, sha256_tree};

const BUCKET: &str = "backups";

/// Nested directories, a Unicode name, a 0-byte file, 1 MiB of noise (S3 keeps no empty
/// directory, so there is none).
fn sample_tree(root: &Path) {
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    std::fs::write(root.join("a/b/c/deep.txt"), "deep\n").unwrap();
    std::fs::write(root.join("a/naïve ☃ 日本.txt"), "unicode\n").unwrap();
    std::fs::write(root.join("zero-bytes"), "").unwrap();
    std::fs::write(root.join("a/big.bin"), support::noise(1024 * 1024, 23)).unwrap();
}

/// The original operator's S3 secret for `s3`, with `extra` keys (`KEY: value` lines).
fn s3_secret(name: &str, s3: &S3, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n  BUCKET_NAME: {BUCKET}\n  BUCKET_HOST: \"{}\"\n  BUCKET_PORT: \"{}\"\n  AWS_ACCESS_KEY_ID: {ACCESS_KEY_ID}\n  AWS_SECRET_ACCESS_KEY: {SECRET_ACCESS_KEY}\n  AWS_REGION: {REGION}\n  TLS_HOST: \"{}\"\n{extra}---\n",
        s3.addr.ip(),
        s3.addr.port(),
        s3.tls
    )
}

fn datamover(name: &str, secret: &str) -> String {
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}}}\nspec: {{sourcePvc: data, secretName: {secret}, addTimestampPrefix: true}}\n---\n"
    )
}

/// The DataMover `name` once it ended (`Completed` or `Failed`).
fn ended(op: &Operator, name: &str) -> Value {
    let path = format!("{GROUP}/datamovers/{name}");
    op.wait_for(&format!("{name} to end"), Duration::from_secs(120), || {
        let phase = op.get(&path)["status"]["phase"].clone();
        phase == "Completed" || phase == "Failed"
    });
    op.get(&path)
}

/// Backs `source` up with DataMover `name` through `secret`, checks with boto3 that the
/// timestamp folder holds every file, object for object (SHA-256), restores that folder
/// into a new PVC `<name>-restored` with a `DataMoverPopulator`, and checks that its
/// directory is identical to `source`.
fn backup_and_restore(op: &Operator, s3: &S3, source: &Path, name: &str, secret: &str) {
    op.apply(&datamover(name, secret));
    let dm = ended(op, name);
    assert_eq!(dm["status"]["phase"], "Completed", "{dm}");
    let destination = dm["status"]["destination"].as_str().unwrap();
    let folder = destination.rsplit('/').next().unwrap();
    assert_eq!(folder.len(), "YYYY-MM-DD-HHMMSS".len(), "{destination}");

    let source_tree = sha256_tree(source);
    let files: std::collections::BTreeMap<String, String> = source_tree
        .iter()
        .filter_map(|(path, sum)| Some((path.clone(), sum.clone()?)))
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    assert_eq!(
        s3.objects(BUCKET, &format!("{folder}/")),
        files,
        "the backup lands object for object"
    );
    // The catalogue lists it from the bucket, with the source's size and file count.
    let listed = op.get(&format!(
        "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/backups?datamover={name}"
    ));
    let backup = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == folder)
        .unwrap_or_else(|| panic!("{folder} is not in {listed}"));
    let size: u64 = walk_files(source)
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert_eq!(
        (backup["size"].as_u64(), backup["files"].as_u64()),
        (Some(size), Some(4)),
        "{backup}"
    );

    let restored = format!("{name}-restored");
    op.apply(&format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverPopulator\nmetadata: {{name: {restored}}}\nspec: {{secretName: {secret}, path: \"{folder}\"}}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {restored}}}\nspec:\n  accessModes: [ReadWriteOnce]\n  dataSourceRef: {{apiGroup: datamover.a-cup-of.coffee, kind: DataMoverPopulator, name: {restored}}}\n"
    ));
    let path = format!("/api/v1/namespaces/default/persistentvolumeclaims/{restored}");
    op.wait_for("the restore to end", Duration::from_secs(120), || {
        let pvc = op.get(&path);
        pvc["status"]["phase"] == "Bound"
            || pvc["status"]["conditions"][0]["reason"] == "RestoreFailed"
    });
    let pvc = op.get(&path);
    assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
    let volume = op.data.join("volumes/default").join(&restored);
    assert_eq!(
        sha256_tree(&volume),
        source_tree,
        "the restored PVC's directory is identical to the source"
    );
}

/// The operator's own `AWS_CA_BUNDLE` (a real PEM file) does not reach rclone: a backup
/// through the original S3 keys (`http`) lands, and restores.
#[test]
fn an_s3_backup_with_aws_ca_bundle_in_the_operators_env_should_land_and_restore_identical() {
    require_rclone();
    let dir = tempdir();
    let (ca, _, _) = test_pki(&dir);
    let source = dir.join("source");
    sample_tree(&source);
    let s3 = S3::start(&dir, None);
    s3.create_bucket(BUCKET);
    let op = operator(dir.join("data")).env("AWS_CA_BUNDLE", &ca).start();
    op.apply(&format!(
        "{}{}",
        pvc("data", &source),
        s3_secret("s3", &s3, "")
    ));
    backup_and_restore(&op, &s3, &source, "to-s3", "s3");
}

/// A secret's `AWS_CA_BUNDLE` reaches rclone as its CA certificate (`--ca-cert`), never
/// as itself: a backup to an `https` S3 endpoint whose certificate that CA signed lands
/// and restores. Without it, the same backup fails in rclone's words.
#[test]
fn an_aws_ca_bundle_in_the_secret_should_be_the_ca_rclone_trusts() {
    require_rclone();
    let dir = tempdir();
    let pki = test_pki(&dir);
    let source = dir.join("source");
    sample_tree(&source);
    let s3 = S3::start(&dir, Some(&pki));
    s3.create_bucket(BUCKET);
    let op = operator(dir.join("data"))
        .env("AWS_CA_BUNDLE", &pki.0)
        .start();
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        s3_secret("s3-tls", &s3, &format!("  AWS_CA_BUNDLE: \"{}\"\n", pki.0)),
        s3_secret("s3-untrusted", &s3, ""),
    ));
    backup_and_restore(&op, &s3, &source, "to-s3-tls", "s3-tls");

    op.apply(&datamover("untrusted", "s3-untrusted"));
    let dm = ended(&op, "untrusted");
    let error = dm["status"]["lastError"].as_str().unwrap();
    assert!(
        error.starts_with("BackoffLimitExceeded: 3 pods failed, backoffLimit is 2; the last one: rclone exited with exit status: 1: ")
            && error.contains("x509: certificate signed by unknown authority"),
        "{error}"
    );
    assert!(!error.contains(SECRET_ACCESS_KEY), "{error}");
}

/// Every file under `root`.
fn walk_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
