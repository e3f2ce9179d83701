//! The store on a real, small filesystem that fills up: a write the disk refuses fails
//! clearly, and the store writes again once space returns, without being reopened by hand,
//! keeping everything it acknowledged. Needs root (to mount a tmpfs); fails without it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::volumes::Volumes;
use datamover::job::Job;
use datamover::manifest::parse;
use datamover::progress::SyncProgress;
use std::time::Duration;
use tmc_test_support::Tmpfs;

fn dm(name: &str) -> Object {
    parse(&format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}}}\nspec: {{sourcePvc: data, secretName: s}}\n"
    ))
    .unwrap()
    .remove(0)
}

/// A Secret with 16 KiB of data: a few of them need new pages in the database file.
fn secret(name: &str) -> Object {
    parse(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n  blob: \"{}\"\n",
        "x".repeat(16 * 1024)
    ))
    .unwrap()
    .remove(0)
}

/// Applies Secrets until the disk refuses one; returns the names stored and the error.
fn apply_until_full(store: &EmbeddedStore, volumes: &Volumes) -> (Vec<String>, StoreError) {
    let mut stored = Vec::new();
    for i in 0..1000 {
        let name = format!("s{i}");
        match store.apply(vec![secret(&name)], volumes) {
            Ok(_) => stored.push(name),
            Err(e) => return (stored, e),
        }
    }
    panic!("1000 Secrets of 16 KiB fit on a full 4 MiB filesystem");
}

#[test]
fn a_full_disk_fails_writes_clearly_and_the_store_writes_again_once_space_returns() {
    let fs = Tmpfs::mount("4m");
    let file = fs.join("store.redb");
    let volumes = Volumes::new(fs.join("volumes"));
    let store = EmbeddedStore::open(&file).unwrap();
    store.apply(vec![dm("a"), dm("b")], &volumes).unwrap();
    // A progress tick, committed without durability before the disk fills.
    let a = store.object::<DataMover>("default", "a").unwrap();
    let mut job = store.create(datamover::job::sync_job(&a)).unwrap();
    job.status.active = 1;
    job.status.progress = Some(SyncProgress::default());
    let mut job = store.update_status(&job).unwrap();
    job.status.progress = Some(SyncProgress {
        bytes: 42,
        files: 3,
        ..SyncProgress::default()
    });
    let job = store.update_status(&job).unwrap();
    let mut watch = store.watch::<DataMover>();

    let (filler, _) = fs.fill("filler");
    let (stored, err) = apply_until_full(&store, &volumes);
    let expected = WriteFailure {
        path: file.display().to_string(),
        kind: WriteErrorKind::NoSpace,
        cause: "No space left on device (os error 28)".into(),
    };
    assert_eq!(err.write_failure(), Some(&expected), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot write {}: No space left on device (os error 28)",
            file.display()
        )
    );
    assert_eq!(store.write_failure(), Some(expected.clone()));
    // Refused writes change nothing that readers see.
    let refused = format!("s{}", stored.len());
    assert!(store.get(Kind::Secret, "default", &refused).is_none());
    // While the disk is full, each write reopens the database and fails for the real cause,
    // not for redb's latched "Previous I/O error".
    let again = store.apply(vec![dm("c")], &volumes).unwrap_err();
    assert_eq!(again.write_failure(), Some(&expected), "{again}");
    assert_eq!(
        store.recover().unwrap_err().write_failure(),
        Some(&expected)
    );
    assert!(store.get(Kind::DataMover, "default", "c").is_none());

    std::fs::remove_file(&filler).unwrap();
    let applied = store.apply(vec![dm("c")], &volumes).unwrap();
    assert_eq!(applied[0].1, Applied::Created);
    assert_eq!(store.write_failure(), None);
    // The watch channel opened before the failure goes on: it sees "c", and nothing refused.
    let Ok(Event::Applied(c)) = watch.try_recv() else {
        panic!("the watcher saw no event for c");
    };
    assert_eq!(c.metadata.name, "c");
    assert!(watch.try_recv().is_err());

    // Everything acknowledged is on disk: opened afresh, the store has it all, the progress
    // tick written without durability included.
    let last_version = c.metadata.resource_version.clone();
    drop(store);
    let store = EmbeddedStore::open(&file).unwrap();
    for name in ["a", "b", "c"] {
        assert!(
            store.get(Kind::DataMover, "default", name).is_some(),
            "{name}"
        );
    }
    for name in &stored {
        assert!(store.get(Kind::Secret, "default", name).is_some(), "{name}");
    }
    assert!(store.get(Kind::Secret, "default", &refused).is_none());
    let job = store.object::<Job>("default", &job.metadata.name).unwrap();
    assert_eq!(
        job.status.progress.map(|p| (p.bytes, p.files)),
        Some((42, 3))
    );
    let d = store.apply(vec![dm("d")], &volumes).unwrap();
    assert!(
        d[0].0.metadata().resource_version.parse::<u64>().unwrap()
            > last_version.parse::<u64>().unwrap(),
        "versions keep counting up"
    );
}

#[test]
fn recover_reopens_the_store_once_space_returns_without_waiting_for_a_write() {
    let fs = Tmpfs::mount("4m");
    let file = fs.join("store.redb");
    let volumes = Volumes::new(fs.join("volumes"));
    let store = EmbeddedStore::open(&file).unwrap();
    assert!(!store.recover().unwrap(), "nothing had failed");
    let (filler, _) = fs.fill("filler");
    let (stored, _) = apply_until_full(&store, &volumes);
    assert!(store.write_failure().is_some());
    assert!(store.recover().is_err(), "the disk is still full");

    std::fs::remove_file(&filler).unwrap();
    assert!(store.recover().unwrap(), "reopened");
    assert_eq!(store.write_failure(), None);
    assert!(!store.recover().unwrap(), "nothing to do any more");
    drop(store);
    let store = EmbeddedStore::open(&file).unwrap();
    assert_eq!(store.list(Kind::Secret, None).len(), stored.len());
}

#[tokio::test]
async fn a_reconcile_whose_write_the_disk_refuses_fails_and_is_requeued_with_backoff() {
    use datamover::reconciler::{Context, RetryAfterPolicy, reconcile};
    use tmc_runtime::{Action, ErrorPolicy, Retry};
    let fs = Tmpfs::mount("4m");
    let file = fs.join("store.redb");
    let volumes = Volumes::new(fs.join("volumes"));
    let store = Arc::new(EmbeddedStore::open(&file).unwrap());
    // A new DataMover: its first step writes its first phase.
    store.apply(vec![dm("a")], &volumes).unwrap();
    let (filler, _) = fs.fill("filler");
    apply_until_full(&store, &volumes);
    let ctx = Arc::new(Context {
        cluster: Arc::new(crate::cluster::Embedded {
            store: Arc::clone(&store),
            volumes,
            rclone: "rclone".into(),
            policy: Arc::new(crate::policy::Policy::new(&fs, &[], &[]).unwrap()),
        }),
        metrics: tmc_metrics::Metrics::builder().build().unwrap().collector(),
    });
    let a = Arc::new(store.object::<DataMover>("default", "a").unwrap());

    let err = reconcile(Arc::clone(&a), Arc::clone(&ctx))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot write {}: No space left on device (os error 28)",
            file.display()
        )
    );
    // The operator's error policy requeues it after the backoff: the controller goes on.
    let backoff = Duration::from_millis(800);
    assert_eq!(
        RetryAfterPolicy.on_error(Arc::clone(&a), &err, Retry::new(5, backoff)),
        Action::requeue(backoff)
    );
    assert_eq!(
        store.object::<DataMover>("default", "a").unwrap().status,
        a.status,
        "nothing was written"
    );

    // Once space returns, the retried step is written.
    std::fs::remove_file(&filler).unwrap();
    reconcile(Arc::clone(&a), ctx).await.unwrap();
    let after = store.object::<DataMover>("default", "a").unwrap();
    assert_eq!(after.status.phase, "CreatingClonedPVC");
}
