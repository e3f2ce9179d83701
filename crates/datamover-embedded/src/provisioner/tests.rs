//! The provisioner over a real embedded store and real directories (`cp` runs for real).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::clones::{CLONED, clone_failure, clone_source};
use crate::store::EmbeddedStore;
use datamover::backend::{CloneState, Cluster, ClusterError};
use datamover::manifest::parse;
use datamover::types::DataMover;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use tmc_test_support::{TempDir as TestDir, tempdir};

struct Fixture {
    _dir: TestDir,
    cluster: Arc<Embedded>,
}

/// A store holding the DataMover `nightly` over the PVC `data`, whose directory holds a
/// tree with a nested file, a unicode name, an empty directory, a 0-byte file and an
/// executable.
fn fixture() -> Fixture {
    let dir = tempdir();
    let store = Arc::new(EmbeddedStore::open(&dir.join("store.redb")).unwrap());
    let volumes = crate::volumes::Volumes::under_data_dir(&dir);
    let objects = parse(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec: {accessModes: [ReadWriteOnce]}\n---\n\
         apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {name: nightly}\nspec: {sourcePvc: data, secretName: s}\n",
    )
    .unwrap();
    store.apply(objects, &volumes).unwrap();
    let data = volumes.root().join("default/data");
    std::fs::create_dir_all(data.join("a/b")).unwrap();
    std::fs::create_dir_all(data.join("empty")).unwrap();
    std::fs::write(data.join("a/b/deep.txt"), "deep").unwrap();
    std::fs::write(data.join("café ☃.txt"), "unicode").unwrap();
    std::fs::write(data.join("zero"), "").unwrap();
    std::fs::write(data.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(data.join("run.sh"), std::fs::Permissions::from_mode(0o751)).unwrap();
    let policy = crate::policy::Policy::new(&dir, &[], &[]).unwrap();
    let cluster = Arc::new(Embedded {
        store,
        volumes,
        rclone: "rclone".into(),
        policy: Arc::new(policy),
    });
    Fixture { _dir: dir, cluster }
}

impl Fixture {
    /// Claims a clone name for `nightly` and asks for the clone, as the reconciler does.
    async fn clone_pvc(&self) -> (String, Result<CloneState, ClusterError>) {
        let store = &self.cluster.store;
        let mut dm = store.object::<DataMover>("default", "nightly").unwrap();
        if dm.status.restored_pvc_name.is_empty() {
            dm = store.claim_clone_name(&dm, 1_700_000_000).unwrap();
        }
        let name = dm.status.restored_pvc_name.clone();
        let source = store
            .object::<PersistentVolumeClaim>("default", "data")
            .unwrap();
        let state = self.cluster.clone_pvc("default", &source, &name).await;
        (name, state)
    }

    fn start(&self) -> tokio::sync::oneshot::Sender<()> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(run(self.cluster.clone(), async move {
            let _ = stopped.await;
        }));
        stop
    }

    /// Waits (a hang guard, not a timing assertion) until the PVC `name` satisfies `done`.
    async fn until(&self, name: &str, done: impl Fn(Option<&PersistentVolumeClaim>) -> bool) {
        let mut events = self.cluster.store.watch::<PersistentVolumeClaim>();
        let check = || {
            done(
                self.cluster
                    .store
                    .object::<PersistentVolumeClaim>("default", name)
                    .as_ref(),
            )
        };
        tokio::time::timeout(Duration::from_secs(30), async {
            while !check() {
                events.recv().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the PVC {name} never reached the expected state"));
    }
}

/// Every entry under `root`: relative path, mode, and contents for files.
fn tree(root: &Path) -> Vec<(String, u32, Option<Vec<u8>>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u32, Option<Vec<u8>>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.push((rel, mode, None));
                walk(root, &path, out);
            } else {
                out.push((rel, mode, Some(std::fs::read(&path).unwrap())));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn a_clone_should_be_pending_at_once_then_bound_holding_an_identical_tree() {
    let f = fixture();
    let _stop = f.start();
    let (name, state) = f.clone_pvc().await;
    assert_eq!(state.unwrap(), CloneState::Pending);
    let stored = f
        .cluster
        .store
        .object::<PersistentVolumeClaim>("default", &name)
        .unwrap();
    assert_eq!(
        stored.metadata.owner_references[0].name, "nightly",
        "the clone is owned by the DataMover that claimed it"
    );
    assert_eq!(clone_source(&stored), Some("data"));

    f.until(&name, |p| p.is_some_and(|p| p.status.phase == "Bound"))
        .await;
    let bound = f
        .cluster
        .store
        .object::<PersistentVolumeClaim>("default", &name)
        .unwrap();
    let cloned = bound.status.conditions.iter().find(|c| c.type_ == CLONED);
    assert_eq!(
        cloned.map(|c| (c.status.as_str(), c.message.as_str())),
        Some(("True", "copied from PVC data"))
    );
    let volumes = f.cluster.volumes.root();
    let source = tree(&volumes.join("default/data"));
    assert_eq!(source.len(), 7, "{source:?}");
    assert_eq!(tree(&volumes.join("default").join(&name)), source);
    assert!(!volumes.join(format!("default/.{name}.partial")).exists());
    // Asked again, the clone is bound: the DataMover moves on.
    assert_eq!(f.clone_pvc().await.1.unwrap(), CloneState::Bound);
}

#[tokio::test]
async fn a_clone_stored_before_the_provisioner_starts_should_be_copied_at_start() {
    let f = fixture();
    let (name, state) = f.clone_pvc().await;
    assert_eq!(state.unwrap(), CloneState::Pending);
    assert!(
        !f.cluster
            .volumes
            .root()
            .join("default")
            .join(&name)
            .exists(),
        "nothing copies a clone inside the call that asks for it"
    );
    let _stop = f.start();
    f.until(&name, |p| p.is_some_and(|p| p.status.phase == "Bound"))
        .await;
    assert_eq!(
        tree(&f.cluster.volumes.root().join("default").join(&name)),
        tree(&f.cluster.volumes.root().join("default/data"))
    );
}

#[tokio::test]
async fn a_failed_copy_should_leave_the_clone_pending_and_fail_the_next_clone_call() {
    let f = fixture();
    let (name, state) = f.clone_pvc().await;
    assert_eq!(state.unwrap(), CloneState::Pending);
    // The source's directory goes before the copy starts.
    let data = f.cluster.volumes.root().join("default/data");
    std::fs::remove_dir_all(&data).unwrap();
    let _stop = f.start();
    f.until(&name, |p| p.is_some_and(|p| clone_failure(p).is_some()))
        .await;
    let pvc = f
        .cluster
        .store
        .object::<PersistentVolumeClaim>("default", &name)
        .unwrap();
    assert_eq!(pvc.status.phase, "Pending");
    let expected = format!("the source volume {} is not a directory", data.display());
    assert_eq!(clone_failure(&pvc), Some(expected.as_str()));
    match f.clone_pvc().await.1 {
        Err(ClusterError::Volume(msg)) => assert_eq!(msg, expected),
        other => panic!("expected the clone's failure, got {other:?}"),
    }
    let dir = f.cluster.volumes.root().join("default");
    assert!(!dir.join(&name).exists());
    assert!(!dir.join(format!(".{name}.partial")).exists());
}

#[tokio::test]
async fn deleting_the_datamover_should_delete_its_clone_and_the_clones_directory() {
    let f = fixture();
    let _stop = f.start();
    let (name, _) = f.clone_pvc().await;
    f.until(&name, |p| p.is_some_and(|p| p.status.phase == "Bound"))
        .await;
    let clone_dir = f.cluster.volumes.root().join("default").join(&name);
    assert!(clone_dir.is_dir());
    assert!(
        f.cluster
            .store
            .delete(datamover::types::Kind::DataMover, "default", "nightly")
            .unwrap()
    );
    f.until(&name, |p| p.is_none()).await;
    tokio::time::timeout(Duration::from_secs(30), async {
        while clone_dir.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the deleted clone's directory is removed");
    assert!(
        f.cluster.volumes.root().join("default/data").is_dir(),
        "the source volume stays"
    );
}

#[tokio::test]
async fn a_name_taken_by_a_foreign_pvc_should_not_be_adopted() {
    let f = fixture();
    let store = &f.cluster.store;
    let dm = store.object::<DataMover>("default", "nightly").unwrap();
    let dm = store.claim_clone_name(&dm, 1_700_000_000).unwrap();
    let name = dm.status.restored_pvc_name.clone();
    let foreign = parse(&format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\nspec: {{accessModes: [ReadWriteOnce]}}\n"
    ))
    .unwrap();
    store.apply(foreign, &f.cluster.volumes).unwrap();
    match f.clone_pvc().await.1 {
        Err(ClusterError::Volume(msg)) => assert_eq!(
            msg,
            format!("the PVC default/{name} exists and is not a clone of data")
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
