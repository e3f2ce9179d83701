//! The queue's order, dedup, delays and rate limits.

use super::*;
use std::time::Duration;

fn queue() -> Queue {
    Queue::new(QueueMetrics::noop())
}

fn key(s: &str) -> ObjectKey {
    ObjectKey::from(s)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ready(q: &mut Queue, now: Instant) -> ObjectKey {
    match q.pop(now) {
        Pop::Ready(t) => t.key,
        other => panic!("expected a ready key, got {other:?}"),
    }
}

#[test]
fn queue_should_collapse_duplicate_keys() {
    let mut q = queue();
    let t0 = Instant::now();
    assert!(q.schedule(key("a"), t0, t0));
    assert!(!q.schedule(key("a"), t0, t0));
    assert!(q.schedule(key("b"), t0, t0));
    assert_eq!(q.depth(), 2);
    assert_eq!(ready(&mut q, t0), key("a"));
    assert_eq!(ready(&mut q, t0), key("b"));
    assert_eq!(q.pop(t0), Pop::Wait(None));
}

#[test]
fn queue_should_release_delayed_keys_in_due_order() {
    let mut q = queue();
    let t0 = Instant::now();
    q.schedule(key("late"), t0 + secs(3), t0);
    q.schedule(key("early"), t0 + secs(1), t0);
    q.schedule(key("mid"), t0 + secs(2), t0);
    assert_eq!(q.depth(), 0);
    assert_eq!(q.pop(t0), Pop::Wait(Some(t0 + secs(1))));
    let t3 = t0 + secs(3);
    assert_eq!(ready(&mut q, t3), key("early"));
    assert_eq!(ready(&mut q, t3), key("mid"));
    assert_eq!(ready(&mut q, t3), key("late"));
}

#[test]
fn earlier_schedule_should_win() {
    let mut q = queue();
    let t0 = Instant::now();
    q.schedule(key("a"), t0 + secs(10), t0);
    assert!(q.schedule(key("a"), t0 + secs(2), t0));
    assert!(!q.schedule(key("a"), t0 + secs(5), t0));
    assert_eq!(q.pop(t0 + secs(1)), Pop::Wait(Some(t0 + secs(2))));
    assert_eq!(ready(&mut q, t0 + secs(2)), key("a"));
    q.finish(&key("a"), 0, None, t0 + secs(2));
    // The superseded 10 s timer is stale: nothing fires.
    assert_eq!(q.pop(t0 + secs(11)), Pop::Wait(None));
}

#[test]
fn immediate_schedule_should_replace_a_pending_delay() {
    let mut q = queue();
    let t0 = Instant::now();
    q.schedule(key("a"), t0 + secs(10), t0);
    q.schedule(key("a"), t0, t0);
    assert_eq!(ready(&mut q, t0), key("a"));
    q.finish(&key("a"), 0, None, t0);
    assert_eq!(q.pop(t0 + secs(20)), Pop::Wait(None));
}

#[test]
fn running_key_should_not_be_handed_out_again_until_finished() {
    let mut q = queue();
    let t0 = Instant::now();
    q.schedule(key("a"), t0, t0);
    assert_eq!(ready(&mut q, t0), key("a"));
    assert!(!q.schedule(key("a"), t0, t0));
    assert_eq!(q.depth(), 0);
    assert_eq!(q.pop(t0), Pop::Wait(None));
    assert_eq!(q.pending(), 1);
    assert!(q.finish(&key("a"), 0, None, t0 + secs(1)));
    assert_eq!(ready(&mut q, t0 + secs(1)), key("a"));
}

#[test]
fn finish_should_keep_the_earliest_of_pending_and_requested() {
    let mut q = queue();
    let t0 = Instant::now();
    q.schedule(key("a"), t0, t0);
    ready(&mut q, t0);
    q.schedule(key("a"), t0 + secs(5), t0);
    q.finish(&key("a"), 0, Some(t0 + secs(60)), t0 + secs(1));
    assert_eq!(q.pop(t0 + secs(1)), Pop::Wait(Some(t0 + secs(5))));
}

#[test]
fn failure_count_should_persist_until_success() {
    let mut q = queue();
    let t0 = Instant::now();
    q.schedule(key("a"), t0, t0);
    let t = match q.pop(t0) {
        Pop::Ready(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(t.attempt, 0);
    // Failed, the policy says wait for a change: the count is kept while idle.
    q.finish(&key("a"), 1, None, t0);
    q.schedule(key("a"), t0, t0);
    let t = match q.pop(t0) {
        Pop::Ready(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(t.attempt, 1);
    q.finish(&key("a"), 0, None, t0);
    assert!(q.entries.is_empty(), "a success forgets the key");
}

#[test]
fn forget_should_drop_pending_work_and_failures() {
    let mut q = queue();
    let t0 = Instant::now();
    q.schedule(key("ready"), t0, t0);
    q.schedule(key("timer"), t0 + secs(1), t0);
    q.forget(&key("ready"));
    q.forget(&key("timer"));
    assert_eq!(q.depth(), 0);
    assert_eq!(q.pop(t0 + secs(2)), Pop::Wait(None));
    q.schedule(key("run"), t0, t0);
    ready(&mut q, t0);
    q.forget(&key("run"));
    q.finish(&key("run"), 3, Some(t0), t0);
    assert!(q.entries.is_empty());
}

#[test]
fn closed_queue_should_hand_out_nothing() {
    let mut q = queue();
    let t0 = Instant::now();
    q.schedule(key("a"), t0, t0);
    q.close();
    assert_eq!(q.pop(t0), Pop::Closed);
    assert!(!q.schedule(key("b"), t0, t0));
    assert_eq!(q.pending(), 1);
}

#[test]
fn rate_limit_should_hold_ready_keys_until_a_token() {
    let mut q = queue();
    q.set_rate_limit(Some(RateLimit::new(2, 1).unwrap()));
    let t0 = Instant::now();
    q.schedule(key("a"), t0, t0);
    q.schedule(key("b"), t0, t0);
    assert_eq!(ready(&mut q, t0), key("a"));
    assert_eq!(q.pop(t0), Pop::Wait(Some(t0 + Duration::from_millis(500))));
    assert_eq!(q.depth(), 1);
    assert_eq!(ready(&mut q, t0 + Duration::from_millis(500)), key("b"));
}

#[test]
fn per_key_state_should_stay_small() {
    // Map slot: key (24) + entry; the timer heap and ready line hold 48 and 24 bytes.
    assert!(std::mem::size_of::<(ObjectKey, Entry)>() <= 64);
    assert_eq!(std::mem::size_of::<Timer>(), 48);
}

#[test]
fn running_keys_should_be_listed_sorted() {
    let mut q = queue();
    let t0 = Instant::now();
    for k in ["c", "a", "b"] {
        q.schedule(key(k), t0, t0);
    }
    for _ in 0..3 {
        ready(&mut q, t0);
    }
    assert_eq!(q.running(), vec![key("a"), key("b"), key("c")]);
}
