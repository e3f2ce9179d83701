#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::volumes::Volumes;
use datamover::job::Job;
use datamover::manifest::parse;
use datamover::progress::SyncProgress;
use datamover::types::DataMover;
use tmc_test_support::tempdir;

fn dm(name: &str) -> Object {
    parse(&format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}}}\nspec: {{sourcePvc: data, secretName: s}}\n"
    ))
    .unwrap()
    .remove(0)
}

#[test]
fn store_should_persist_objects_and_versions_across_reopen() {
    let dir = tempdir();
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    let applied = store
        .apply(vec![dm("a")], &Volumes::new(dir.to_path_buf()))
        .unwrap();
    assert_eq!(applied[0].1, Applied::Created);
    let mut a = store.object::<DataMover>("default", "a").unwrap();
    assert_eq!(
        (a.metadata.generation, a.metadata.resource_version.as_str()),
        (1, "1")
    );
    a.status.phase = "CreatingClonedPVC".into();
    let a = store.update_status(&a).unwrap();
    assert_eq!(a.metadata.resource_version, "2");
    drop(store);

    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    let again = store.object::<DataMover>("default", "a").unwrap();
    assert_eq!(again.status.phase, "CreatingClonedPVC");
    assert_eq!(again.metadata.resource_version, "2");
    // Versions keep counting up after a restart.
    assert_eq!(
        store
            .apply(vec![dm("b")], &Volumes::new(dir.to_path_buf()))
            .unwrap()[0]
            .0
            .metadata()
            .resource_version,
        "3"
    );
}

#[test]
fn a_stale_status_write_is_a_conflict_and_changes_nothing() {
    let dir = tempdir();
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    store
        .apply(vec![dm("a")], &Volumes::new(dir.to_path_buf()))
        .unwrap();
    let stale = store.object::<DataMover>("default", "a").unwrap();
    let mut fresh = stale.clone();
    fresh.status.phase = "CreatingClonedPVC".into();
    store.update_status(&fresh).unwrap();
    let mut stale = stale;
    stale.status.phase = "Failed".into();
    let err = store.update_status(&stale).unwrap_err();
    assert_eq!(
        err.to_string(),
        "DataMover default/a was modified (resourceVersion 1 is stale, now 2): re-read and retry"
    );
    assert_eq!(
        store
            .object::<DataMover>("default", "a")
            .unwrap()
            .status
            .phase,
        "CreatingClonedPVC"
    );
}

#[test]
fn create_all_should_store_all_new_objects_or_none_when_one_exists() {
    let dir = tempdir();
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    let volumes = Volumes::new(dir.to_path_buf());
    let created = store.create_all(vec![dm("a"), dm("b")], &volumes).unwrap();
    assert_eq!(created.len(), 2);
    let err = store
        .create_all(vec![dm("c"), dm("b")], &volumes)
        .unwrap_err();
    assert_eq!(err.to_string(), "DataMover default/b already exists");
    let names: Vec<String> = store
        .objects::<DataMover>(None)
        .into_iter()
        .map(|d| d.metadata.name)
        .collect();
    assert_eq!(names, ["a", "b"], "c was not stored");
    // One name twice in one request: refused too, nothing stored.
    let err = store
        .create_all(vec![dm("d"), dm("d")], &volumes)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DataMover default/d appears twice in the input: give each object once"
    );
    assert!(store.object::<DataMover>("default", "d").is_none());
}

#[test]
fn modify_should_change_and_store_under_the_lock_or_say_none() {
    let dir = tempdir();
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    let volumes = Volumes::new(dir.to_path_buf());
    store.apply(vec![dm("a")], &volumes).unwrap();
    let changed = store
        .modify::<DataMover>(
            "default",
            "a",
            |d| d.spec.add_timestamp_prefix = true,
            &volumes,
        )
        .unwrap()
        .unwrap();
    assert!(changed.spec.add_timestamp_prefix);
    let stored = store.object::<DataMover>("default", "a").unwrap();
    assert!(stored.spec.add_timestamp_prefix);
    assert_eq!(stored.metadata.generation, 2);
    assert!(
        store
            .modify::<DataMover>("default", "nope", |_| {}, &volumes)
            .unwrap()
            .is_none()
    );
}

#[test]
fn reapplying_keeps_status_and_bumps_generation_only_on_spec_change() {
    let dir = tempdir();
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    store
        .apply(vec![dm("a")], &Volumes::new(dir.to_path_buf()))
        .unwrap();
    let mut a = store.object::<DataMover>("default", "a").unwrap();
    a.status.phase = "Completed".into();
    store.update_status(&a).unwrap();
    assert_eq!(
        store
            .apply(vec![dm("a")], &Volumes::new(dir.to_path_buf()))
            .unwrap()[0]
            .1,
        Applied::Unchanged
    );
    let Object::DataMover(mut changed) = dm("a") else {
        panic!()
    };
    changed.spec.add_timestamp_prefix = true;
    assert_eq!(
        store
            .apply(
                vec![Object::DataMover(changed)],
                &Volumes::new(dir.to_path_buf())
            )
            .unwrap()[0]
            .1,
        Applied::Configured
    );
    let a = store.object::<DataMover>("default", "a").unwrap();
    assert_eq!(
        (a.metadata.generation, a.status.phase.as_str()),
        (2, "Completed")
    );
}

#[test]
fn clone_names_claimed_in_the_same_second_are_unique_and_stable() {
    let dir = tempdir();
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    store
        .apply(vec![dm("a"), dm("b")], &Volumes::new(dir.to_path_buf()))
        .unwrap();
    let a = store
        .claim_clone_name(&store.object::<DataMover>("default", "a").unwrap(), 1000)
        .unwrap();
    let b = store
        .claim_clone_name(&store.object::<DataMover>("default", "b").unwrap(), 1000)
        .unwrap();
    assert_eq!(a.status.restored_pvc_name, "data-cloned-1000");
    assert_eq!(b.status.restored_pvc_name, "data-cloned-1001");
    // Claiming again for the same DataMover may reuse its own name.
    let again = store.claim_clone_name(&a, 1000).unwrap();
    assert_eq!(again.status.restored_pvc_name, "data-cloned-1000");
}

#[test]
fn a_stored_object_of_an_unknown_kind_is_refused_not_read_as_another_kind() {
    let dir = tempdir();
    let path = dir.join("store.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(OBJECTS)
            .unwrap()
            .insert(
                "Widget/default/w",
                br#"{"metadata":{"name":"w"}}"#.as_slice(),
            )
            .unwrap();
        txn.commit().unwrap();
    }
    let err = EmbeddedStore::open(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stored object Widget/default/w has the unknown kind \"Widget\": the store keeps \
         DataMover, PersistentVolumeClaim, Secret, Job, DataMoverSchedule, DataMoverPopulator"
    );
}

fn sync_job(store: &EmbeddedStore) -> Job {
    let volumes = tempdir();
    store
        .apply(vec![dm("a")], &Volumes::new(volumes.to_path_buf()))
        .unwrap();
    let a = store.object::<DataMover>("default", "a").unwrap();
    store.create(datamover::job::sync_job(&a)).unwrap()
}

#[test]
fn a_progress_tick_alone_is_progress_only_and_a_pod_change_is_not() {
    let dir = tempdir();
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    let mut job = sync_job(&store);
    job.status.active = 1;
    job.status.progress = Some(SyncProgress::default());
    let started = job;
    assert!(!Job::progress_only(&sync_job_unstarted(&store), &started));
    let mut tick = started.clone();
    tick.status.progress = Some(SyncProgress {
        bytes: 10,
        ..SyncProgress::default()
    });
    assert!(Job::progress_only(&started, &tick));
    let mut failed = tick;
    failed.status.failed = 1;
    assert!(!Job::progress_only(&started, &failed));
}

fn sync_job_unstarted(store: &EmbeddedStore) -> Job {
    store.objects::<Job>(None).into_iter().next().unwrap()
}

#[test]
fn progress_written_without_durability_is_kept_by_the_next_durable_write() {
    let dir = tempdir();
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    let mut job = sync_job(&store);
    job.status.active = 1;
    job.status.progress = Some(SyncProgress::default());
    let mut job = store.update_status(&job).unwrap();
    job.status.progress = Some(SyncProgress {
        bytes: 10,
        files: 1,
        ..SyncProgress::default()
    });
    let mut job = store.update_status(&job).unwrap();
    // Visible at once.
    assert_eq!(
        store
            .object::<Job>("default", &job.metadata.name)
            .unwrap()
            .status
            .progress
            .map(|p| (p.bytes, p.files)),
        Some((10, 1))
    );
    job.status.active = 0;
    job.status.succeeded = 1;
    store.update_status(&job).unwrap();
    let name = job.metadata.name;
    drop(store);

    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    let again = store.object::<Job>("default", &name).unwrap();
    assert_eq!(
        (
            again.status.succeeded,
            again.status.progress.map(|p| (p.bytes, p.files))
        ),
        (1, Some((10, 1)))
    );
}

/// A delete with preconditions deletes the object the caller read, or nothing: the
/// DataMover deleted and created again under its name since is refused by its uid, one
/// changed since by its resourceVersion, both checked as the delete happens.
#[test]
fn delete_if_should_delete_only_the_object_its_preconditions_name() {
    let dir = tempdir();
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    let volumes = Volumes::new(dir.to_path_buf());
    store.apply(vec![dm("a")], &volumes).unwrap();
    let seen = store.object::<DataMover>("default", "a").unwrap();
    // Deleted and created again: same name, another uid.
    assert!(store.delete(Kind::DataMover, "default", "a").unwrap());
    store.apply(vec![dm("a")], &volumes).unwrap();
    let now = store.object::<DataMover>("default", "a").unwrap();
    assert_ne!(now.metadata.uid, seen.metadata.uid);
    let job = store.create(datamover::job::sync_job(&now)).unwrap();

    let err = store
        .delete_if(
            Kind::DataMover,
            "default",
            "a",
            &Preconditions::uid(seen.metadata.uid.clone()),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "DataMover default/a: Precondition failed: UID in precondition: {}, UID in object meta: {}",
            seen.metadata.uid, now.metadata.uid
        )
    );
    assert_eq!(store.object::<DataMover>("default", "a"), Some(now.clone()));
    assert!(store.object::<Job>("default", &job.metadata.name).is_some());

    // Changed since it was read: refused by its resourceVersion.
    let mut changed = now.clone();
    changed.status.phase = "Failed".into();
    let changed = store.update_status(&changed).unwrap();
    let stale = Preconditions {
        uid: Some(now.metadata.uid.clone()),
        resource_version: Some(now.metadata.resource_version.clone()),
    };
    let err = store
        .delete_if(Kind::DataMover, "default", "a", &stale)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "DataMover default/a: Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in object meta: {}",
            now.metadata.resource_version, changed.metadata.resource_version
        )
    );
    assert_eq!(
        store.object::<DataMover>("default", "a"),
        Some(changed.clone())
    );

    // The object as stored: deleted with what it owns, both returned.
    let current = Preconditions {
        uid: Some(changed.metadata.uid.clone()),
        resource_version: Some(changed.metadata.resource_version),
    };
    let removed = store
        .delete_if(Kind::DataMover, "default", "a", &current)
        .unwrap();
    let names: Vec<(Kind, String)> = removed
        .iter()
        .map(|o| (o.kind(), o.metadata().name.clone()))
        .collect();
    assert_eq!(
        names,
        [
            (Kind::DataMover, "a".to_owned()),
            (Kind::Job, job.metadata.name.clone())
        ]
    );
    assert_eq!(store.object::<DataMover>("default", "a"), None);
    assert!(store.object::<Job>("default", &job.metadata.name).is_none());
    // Nothing left to delete: nothing removed, whatever the preconditions.
    assert!(
        store
            .delete_if(Kind::DataMover, "default", "a", &current)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn movers_carry_metadata_and_spec_but_no_status_and_find_clones_only_the_match() {
    use datamover::backend::Cluster;
    let dir = tempdir();
    let store = std::sync::Arc::new(EmbeddedStore::open(&dir.join("store.redb")).unwrap());
    store
        .apply(vec![dm("a"), dm("b")], &Volumes::new(dir.to_path_buf()))
        .unwrap();
    let b = store
        .claim_clone_name(&store.object::<DataMover>("default", "b").unwrap(), 1000)
        .unwrap();
    assert_eq!(b.status.restored_pvc_name, "data-cloned-1000");
    // find: the DataMover claiming the clone, whole (status included); none for another name.
    let found = store
        .find("default", |dm: &DataMover| {
            dm.status.restored_pvc_name == "data-cloned-1000"
        })
        .unwrap();
    assert_eq!(found, b);
    assert_eq!(
        store.find("default", |dm: &DataMover| dm.status.restored_pvc_name
            == "other"),
        None
    );
    assert_eq!(
        store.find("elsewhere", |dm: &DataMover| dm.metadata.name == "b"),
        None
    );
    assert_eq!(
        store.objects_with(None, |dm: &DataMover| dm.metadata.name.clone()),
        ["a", "b"]
    );
    // movers: what the overlap rule reads (metadata and spec), the status left empty.
    let cluster = crate::cluster::Embedded {
        store: store.clone(),
        volumes: Volumes::new(dir.to_path_buf()),
        rclone: "rclone".into(),
        policy: std::sync::Arc::new(crate::policy::Policy::new(&dir, &[], &[]).unwrap()),
    };
    let movers = cluster.movers();
    let a = store.object::<DataMover>("default", "a").unwrap();
    let mut bare_b = b.clone();
    bare_b.status = datamover::types::DataMoverStatus::default();
    let mut bare_a = a;
    bare_a.status = datamover::types::DataMoverStatus::default();
    assert_eq!(movers, [bare_a, bare_b]);
    assert_eq!(movers[1].metadata.uid, b.metadata.uid);
    assert_eq!(movers[1].spec.source_pvc, "data");
}
