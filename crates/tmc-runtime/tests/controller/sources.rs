//! Sources of reconciles: store events, changes of owned objects, resync.

use crate::helpers::*;
use tmc_runtime::{Action, Controller, MemoryStore, ObjectKey, Owned, Resource, Store};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn store_events_should_drive_reconciles_and_deleted_objects_should_be_skipped() {
    let log = Log::new();
    let store = MemoryStore::new();
    let controller =
        Controller::new("events", store.clone()).reconciler(logged(&log, |req| async move {
            if req.key.name() == "later" {
                return Ok(Action::requeue(secs(5)));
            }
            done()
        }));
    let running = spawn_controller!(controller);
    sleep(ms(100)).await;
    store.apply(obj("a", 1));
    sleep(ms(100)).await;
    store.apply(obj("a", 2));
    store.apply(obj("gone", 1));
    store.delete(&ObjectKey::from("gone"));
    store.apply(obj("later", 1));
    sleep(ms(100)).await;
    store.delete(&ObjectKey::from("later"));
    sleep(secs(10)).await;
    running.stop().await;

    let seen: Vec<(String, u32, u64)> = log
        .calls()
        .into_iter()
        .map(|c| (c.key, c.version, c.start))
        .collect();
    assert_eq!(
        seen,
        [
            ("a".to_owned(), 1, 100),
            ("a".to_owned(), 2, 200),
            ("later".to_owned(), 1, 200)
        ],
        "a deleted object is never reconciled, and its pending requeue is dropped"
    );
}

/// An object owned by an `Obj` (or by something else), like a Job owned by a DataMover.
#[derive(Debug)]
struct Child {
    name: &'static str,
    owner_kind: &'static str,
    owner: &'static str,
    progress: u32,
}

impl Resource for Child {
    const KIND: &'static str = "Child";

    fn key(&self) -> ObjectKey {
        ObjectKey::namespaced("ns", self.name)
    }
}

impl Owned for Child {
    fn owners(&self, kind: &str) -> Vec<ObjectKey> {
        if self.owner_kind == kind {
            vec![ObjectKey::namespaced("ns", self.owner)]
        } else {
            vec![]
        }
    }
}

#[tokio::test(start_paused = true)]
async fn owned_object_changes_should_reconcile_exactly_their_owner() {
    let log = Log::new();
    let children = MemoryStore::new();
    let controller = Controller::new("owner", store(&["ns/a", "ns/b"]))
        .reconciler(logged(&log, |_| async { done() }))
        .owns(children.clone());
    let running = spawn_controller!(controller);
    sleep(ms(100)).await;
    let child = |progress| Child {
        name: "a-sync",
        owner_kind: "Obj",
        owner: "a",
        progress,
    };
    children.apply(child(1));
    sleep(ms(100)).await;
    children.apply(child(2));
    sleep(ms(100)).await;
    // Owned by another kind: nobody of ours is woken.
    children.apply(Child {
        name: "foreign",
        owner_kind: "Other",
        owner: "b",
        progress: 0,
    });
    sleep(ms(100)).await;
    // A deleted child wakes the owner its last state named.
    children.delete(&ObjectKey::namespaced("ns", "a-sync"));
    sleep(ms(100)).await;
    running.stop().await;

    assert_eq!(log.starts_of("ns/a"), [0, 100, 200, 400]);
    assert_eq!(log.starts_of("ns/b"), [0], "b owns nothing that changed");
    assert_eq!(children.len(), 1);
    assert_eq!(
        children
            .get(&ObjectKey::namespaced("ns", "foreign"))
            .unwrap()
            .progress,
        0
    );
}

/// A child that was in the store before the controller started (a cache listed before the
/// controller subscribed) and is deleted later still wakes its owner.
#[tokio::test(start_paused = true)]
async fn deleting_a_child_listed_before_the_start_should_reconcile_its_owner() {
    let log = Log::new();
    let children = MemoryStore::new();
    children.apply(Child {
        name: "a-sync",
        owner_kind: "Obj",
        owner: "a",
        progress: 1,
    });
    let controller = Controller::new("owner", store(&["ns/a", "ns/b"]))
        .reconciler(logged(&log, |_| async { done() }))
        .owns(children.clone());
    let running = spawn_controller!(controller);
    sleep(ms(100)).await;
    children.delete(&ObjectKey::namespaced("ns", "a-sync"));
    sleep(ms(100)).await;
    running.stop().await;

    assert_eq!(log.starts_of("ns/a"), [0, 100]);
    assert_eq!(log.starts_of("ns/b"), [0]);
}

#[tokio::test(start_paused = true)]
async fn resync_should_reenqueue_every_object() {
    let log = Log::new();
    let controller = Controller::new("resync", store(&["a", "b"]))
        .reconciler(logged(&log, |_| async { done() }))
        .resync(Some(secs(10)))
        .unwrap();
    let running = spawn_controller!(controller);
    sleep(secs(25)).await;
    running.stop().await;

    assert_eq!(log.starts_of("a"), [0, 10_000, 20_000]);
    assert_eq!(log.starts_of("b"), [0, 10_000, 20_000]);
}
