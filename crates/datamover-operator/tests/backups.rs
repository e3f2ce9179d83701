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
