//! Backups you can trust, and how they read their source: no backup deletes another
//! (issue 23), `copyMethod: Direct` (issue 24). The real binary, the real rclone, real files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use support::{DATAMOVERS, operator, require_rclone, tempdir};

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Every file under `root` with its contents.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// A source directory with a few files unique to `name`.
fn source(root: &Path, name: &str) -> std::path::PathBuf {
    let dir = root.join(format!("source-{name}"));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), format!("{name}\n")).unwrap();
    std::fs::write(dir.join("sub/shared-name.txt"), format!("from {name}\n")).unwrap();
    dir
}

fn pvc(name: &str, host: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  annotations:\n    datamover.a-cup-of.coffee/host-path: \"{}\"\n---\n",
        host.display()
    )
}

fn secret(name: &str, destination: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n  DESTINATION: \"{}\"\n---\n",
        destination.display()
    )
}

fn datamover(name: &str, pvc: &str, secret: &str, prefixed: bool) -> String {
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}}}\nspec:\n  sourcePvc: {pvc}\n  secretName: {secret}\n  addTimestampPrefix: {prefixed}\n---\n"
    )
}

#[test]
fn no_backup_should_delete_another_and_prefixed_ones_should_share_a_base() {
    require_rclone();
    let dir = tempdir();
    let (a, b) = (source(&dir, "a"), source(&dir, "b"));
    let backups = dir.join("backups");
    let op = operator(dir.join("data")).start();
    op.apply(&format!(
        "{}{}{}{}",
        pvc("a", &a),
        pvc("b", &b),
        secret("team-a", &backups.join("team/a")),
        datamover("backup-a", "a", "team-a", false),
    ));
    let done = op.finished("backup-a", Duration::from_secs(60));
    assert_eq!(done["status"]["phase"], "Completed", "{done}");
    assert_eq!(files(&backups.join("team/a")), files(&a));

    // A mirror around backup-a's destination, and one onto it: refused, naming backup-a,
    // and nothing of the refused apply is stored.
    let a_dest = backups.join("team/a").display().to_string();
    for (secret_name, dest, dm) in [
        ("team", backups.join("team"), "backup-b"),
        ("same-as-a", backups.join("team/a"), "backup-c"),
        ("inside-a", backups.join("team/a/b"), "backup-d"),
    ] {
        let r = op.api(
            "POST",
            "/apply",
            Some(&format!(
                "{}{}",
                secret(secret_name, &dest),
                datamover(dm, "b", secret_name, false)
            )),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let expected = format!(
            "DataMover default/{dm}: destination {} overlaps DataMover default/backup-a ({a_dest}): rclone sync makes its target equal to the source, so a sync of one would delete what the other wrote; choose a destination apart from it (two objects with addTimestampPrefix: true may share one base), or delete DataMover default/backup-a first",
            dest.display()
        );
        assert!(r.body.contains(&expected), "{}", r.body);
        for path in [
            format!("{DATAMOVERS}/datamovers/{dm}"),
            format!("/api/v1/namespaces/default/secrets/{secret_name}"),
        ] {
            assert_eq!(op.api("GET", &path, None).status, 404, "{path} was stored");
        }
    }
    assert_eq!(
        files(&backups.join("team/a")),
        files(&a),
        "backup-a is intact"
    );

    // Two timestamp-prefixed DataMovers sharing a base, applied together: each lands in
    // its own folder, and neither deletes the other's.
    let shared = backups.join("shared");
    op.apply(&format!(
        "{}{}{}",
        secret("shared", &shared),
        datamover("prefixed-a", "a", "shared", true),
        datamover("prefixed-b", "b", "shared", true),
    ));
    let mut folders = BTreeMap::new();
    for (name, src) in [("prefixed-a", &a), ("prefixed-b", &b)] {
        let dm = op.finished(name, Duration::from_secs(60));
        assert_eq!(dm["status"]["phase"], "Completed", "{dm}");
        let folder = dm["status"]["destination"].as_str().unwrap().to_owned();
        folders.insert(folder.clone(), name);
        assert_eq!(files(Path::new(&folder)), files(src), "{name} in {folder}");
    }
    assert_eq!(folders.len(), 2, "two folders: {folders:?}");
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 2);

    // A mirror into that base is refused.
    let r = op.api(
        "POST",
        "/apply",
        Some(&datamover("mirror", "a", "shared", false)),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "DataMover default/mirror: destination {} overlaps DataMover default/prefixed-",
            shared.display()
        )),
        "{}",
        r.body
    );
    for (folder, name) in &folders {
        let src = if *name == "prefixed-a" { &a } else { &b };
        assert_eq!(files(Path::new(folder)), files(src), "{name} is intact");
    }
}

#[test]
fn copy_method_direct_should_back_up_the_source_itself_without_a_clone() {
    require_rclone();
    let dir = tempdir();
    let op = operator(dir.join("data")).start();
    let dest = dir.join("backups/direct");
    op.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: app}}\n---\n{}",
        secret("direct", &dest)
    ));
    // The PVC's directory, as the operator made it: the app's data.
    let volume = op.data.join("volumes/default/app");
    std::fs::write(volume.join("state.db"), b"rows\n").unwrap();
    std::fs::create_dir_all(volume.join("logs")).unwrap();
    std::fs::write(volume.join("logs/today.log"), b"line\n").unwrap();

    let refused = op.api(
        "POST",
        "/apply",
        Some(&format!(
            "{}  copyMethod: Direct\n  deletePvcAfterBackup: true\n",
            datamover("direct-cleanup", "app", "direct", false).trim_end_matches("---\n")
        )),
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("DataMover direct-cleanup): spec.deletePvcAfterBackup: copyMethod: Direct syncs the source volume itself, so there is no clone to delete: remove deletePvcAfterBackup (or set copyMethod: Clone)"),
        "{}",
        refused.body
    );
    assert_eq!(
        op.api(
            "GET",
            &format!("{DATAMOVERS}/datamovers/direct-cleanup"),
            None
        )
        .status,
        404
    );

    op.apply(&format!(
        "{}  copyMethod: Direct\n",
        datamover("direct", "app", "direct", false).trim_end_matches("---\n")
    ));
    let done = op.finished("direct", Duration::from_secs(60));
    assert_eq!(done["status"]["phase"], "Completed", "{done}");
    assert_eq!(
        done["status"]["restoredPvcName"],
        serde_json::Value::Null,
        "{done}"
    );
    assert_eq!(files(&dest), files(&volume));
    let volumes: Vec<String> = std::fs::read_dir(op.data.join("volumes/default"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        volumes,
        ["app"],
        "no clone (nor a clone's staging dir) was made"
    );
    assert!(
        !op.metrics().contains("CreatingClonedPVC"),
        "no clone phase was counted"
    );
}

/// Runs the CLI against `op`; its stdout, or its stderr when it fails.
fn cli(op: &support::Operator, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(support::BIN)
        .args(args)
        .args(["--server", &format!("http://{}", op.api)])
        .arg("--token-file")
        .arg(op.data.join("api-token"))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8(out.stderr).unwrap())
    }
}

#[test]
fn get_backups_should_list_each_timestamp_folder_with_its_size_and_files() {
    require_rclone();
    let dir = tempdir();
    let a = source(&dir, "a");
    std::fs::write(a.join("big.bin"), vec![7u8; 100_000]).unwrap();
    let size: u64 = files(&a).values().map(|v| v.len() as u64).sum();
    let base = dir.join("backups/team");
    std::fs::create_dir_all(base.join("keep-me")).unwrap();
    std::fs::write(base.join("keep-me/not-a-backup.txt"), "x").unwrap();
    let op = operator(dir.join("data")).start();
    op.apply(&format!(
        "{}{}{}{}{}",
        pvc("a", &a),
        secret("team", &base),
        datamover("one", "a", "team", true),
        datamover("two", "a", "team", true),
        datamover("three", "a", "team", true),
    ));
    for name in ["one", "two", "three"] {
        let dm = op.finished(name, Duration::from_secs(60));
        assert_eq!(dm["status"]["phase"], "Completed", "{dm}");
    }
    let listed: serde_json::Value = serde_json::from_str(
        &cli(&op, &["get", "backups", "--secret", "team", "-o", "json"]).unwrap(),
    )
    .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{listed}");
    let mut names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    for i in items {
        assert_eq!(
            (i["size"].as_u64(), i["files"].as_u64()),
            (Some(size), Some(3)),
            "{i}"
        );
        assert_eq!(i["source"], "Secret team");
        let name = i["name"].as_str().unwrap();
        assert_eq!(
            i["time"].as_str(),
            datamover::time::prefix_time(name).as_deref(),
            "{i}"
        );
    }
    let sorted = {
        let mut s = names.clone();
        s.sort_unstable_by(|x, y| y.cmp(x));
        s
    };
    assert_eq!(names, sorted, "newest first");
    names.sort_unstable();
    let written: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|n| {
            let d = op.datamover(n)["status"]["destination"]
                .as_str()
                .unwrap()
                .to_owned();
            d.rsplit('/').next().unwrap().to_owned()
        })
        .collect();
    let mut written: Vec<&str> = written.iter().map(String::as_str).collect();
    written.sort_unstable();
    assert_eq!(names, written, "the folders the three DataMovers wrote");

    // By DataMover, as a table; and with no selector, every prefixed writer's destination
    // once, naming them all.
    let table = cli(&op, &["get", "backups", "--datamover", "two"]).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["SOURCE", "BACKUP", "TIME", "SIZE", "FILES"]);
    assert_eq!(table.lines().count(), 4, "{table}");
    let all: serde_json::Value =
        serde_json::from_str(&cli(&op, &["get", "backups", "-A", "-o", "json"]).unwrap()).unwrap();
    let all = all["items"].as_array().unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(
        all[0]["source"],
        "DataMover one, DataMover three, DataMover two"
    );
    assert_eq!(all[0]["namespace"], "default");

    assert_eq!(
        cli(&op, &["get", "backups", "--secret", "nope"]).unwrap_err(),
        "error: the secret default/nope does not exist\n"
    );
    assert!(
        cli(&op, &["delete", "backups", "x"])
            .unwrap_err()
            .starts_with("error: backups are folders at a destination, not objects")
    );
}

#[test]
fn verify_checksum_should_pass_on_a_fresh_backup_and_be_counted() {
    require_rclone();
    let dir = tempdir();
    let a = source(&dir, "a");
    let dest = dir.join("backups/verified");
    let op = operator(dir.join("data")).start();
    op.apply(&format!(
        "{}{}{}  verify: checksum\n",
        pvc("a", &a),
        secret("verified", &dest),
        datamover("verified", "a", "verified", false).trim_end_matches("---\n"),
    ));
    let done = op.finished("verified", Duration::from_secs(60));
    assert_eq!(done["status"]["phase"], "Completed", "{done}");
    assert!(
        !done["status"]["verifiedAt"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{done}"
    );
    let verified = done["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Verified")
        .cloned()
        .unwrap();
    assert_eq!(verified["status"], "True", "{verified}");
    assert!(
        verified["message"]
            .as_str()
            .unwrap()
            .starts_with("the checksum check found no difference ("),
        "{verified}"
    );
    let metrics = op.metrics();
    assert!(
        metrics.contains(
            r#"datamover_verify_operations_total{status="success",namespace="default"} 1"#
        ),
        "{metrics}"
    );
    let bad = op.api(
        "POST",
        "/apply",
        Some(&format!(
            "{}  verify: sha256\n",
            datamover("bad", "a", "verified", false).trim_end_matches("---\n")
        )),
    );
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("spec.verify: \\\"sha256\\\" is not a verification: give none (the default), size (every file there with its size) or checksum (and its hash)"),
        "{}",
        bad.body
    );
}
