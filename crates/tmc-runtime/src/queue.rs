//! The work queue as a pure state machine: no locks, no clock (every call takes `now`).
//!
//! Each key has at most one entry and at most one pending schedule, and is in one state:
//!
//! * `Scheduled(at)`: waits in the timer heap until `at`;
//! * `Ready(since)`: due, waiting in the FIFO ready line for a worker;
//! * `Running { next }`: being reconciled; a schedule that arrives meanwhile is kept in
//!   `next` (earliest wins) and applied when the run finishes, so a key is never
//!   reconciled twice at once and a mid-run enqueue runs again after;
//! * `Idle`: not queued, kept only to remember a failure count for backoff.
//!
//! A new schedule for a key replaces its pending one only if earlier ("earliest wins");
//! duplicates of a due key collapse. The timer heap and the ready line are cleaned lazily:
//! stale positions are skipped when they surface.

use crate::ObjectKey;
use crate::metrics::QueueMetrics;
use crate::rate_limit::{Bucket, RateLimit};
use std::cmp::Ordering;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use tokio::time::Instant;

/// A key handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) key: ObjectKey,
    /// Consecutive failures so far: 0 on a first try.
    pub(crate) attempt: u32,
}

/// The answer to [`Queue::pop`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pop {
    /// Run this key now.
    Ready(Ticket),
    /// Nothing to run before this instant (`None`: until something is scheduled).
    Wait(Option<Instant>),
    /// The queue is closed: stop.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Scheduled(Instant),
    Ready(Instant),
    Running { next: Option<Instant>, gone: bool },
}

#[derive(Debug)]
struct Entry {
    state: State,
    failures: u32,
}

#[derive(Debug)]
struct Timer {
    at: Instant,
    seq: u64,
    key: ObjectKey,
}

// A min-heap on (at, seq): FIFO among keys due at the same instant.
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}

/// The work queue of one controller.
#[derive(Debug)]
pub(crate) struct Queue {
    entries: HashMap<ObjectKey, Entry>,
    ready: VecDeque<ObjectKey>,
    timers: BinaryHeap<Timer>,
    /// Running keys and when they started (at most `concurrency` entries).
    processing: HashMap<ObjectKey, Instant>,
    depth: usize,
    seq: u64,
    closed: bool,
    limiter: Option<Bucket>,
    metrics: QueueMetrics,
}

#[derive(Clone, Copy)]
enum Effect {
    Nothing,
    Ready,
    Timer(Instant),
}

impl Queue {
    pub(crate) fn new(metrics: QueueMetrics) -> Self {
        Self {
            entries: HashMap::new(),
            ready: VecDeque::new(),
            timers: BinaryHeap::new(),
            processing: HashMap::new(),
            depth: 0,
            seq: 0,
            closed: false,
            limiter: None,
            metrics,
        }
    }

    pub(crate) fn set_metrics(&mut self, metrics: QueueMetrics) {
        self.metrics = metrics;
    }

    /// Makes every queue series exist, as at controller start.
    pub(crate) fn preset_metrics(&self) {
        self.metrics.preset(self.depth);
    }

    pub(crate) fn set_rate_limit(&mut self, limit: Option<RateLimit>) {
        self.limiter = limit.map(Bucket::new);
    }

    /// Keys due and waiting for a worker (the `workqueue_depth` gauge). Keys waiting on a
    /// timer, and a re-run pending behind a running key, are not counted until due.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Schedules `key` at `at` (due now if `at <= now`). Returns whether a waiting worker
    /// should look again.
    pub(crate) fn schedule(&mut self, key: ObjectKey, at: Instant, now: Instant) -> bool {
        if self.closed {
            return false;
        }
        let due = at <= now;
        let entry = self.entries.entry(key.clone()).or_insert(Entry {
            state: State::Idle,
            failures: 0,
        });
        let effect = match entry.state {
            State::Ready(_) => Effect::Nothing,
            State::Scheduled(t) if !due && t <= at => Effect::Nothing,
            State::Idle | State::Scheduled(_) if due => {
                entry.state = State::Ready(now);
                Effect::Ready
            }
            State::Idle | State::Scheduled(_) => {
                entry.state = State::Scheduled(at);
                Effect::Timer(at)
            }
            State::Running { next, .. } => {
                let at = next.map_or(at, |n| n.min(at));
                entry.state = State::Running {
                    next: Some(at),
                    gone: false,
                };
                Effect::Nothing
            }
        };
        self.apply(effect, key)
    }

    fn apply(&mut self, effect: Effect, key: ObjectKey) -> bool {
        match effect {
            Effect::Nothing => false,
            Effect::Ready => {
                self.ready.push_back(key);
                self.depth += 1;
                self.metrics.adds.increment(1);
                self.publish_depth();
                true
            }
            Effect::Timer(at) => {
                self.seq += 1;
                self.timers.push(Timer {
                    at,
                    seq: self.seq,
                    key,
                });
                true
            }
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn publish_depth(&self) {
        self.metrics.depth.set(self.depth as f64);
    }

    /// Moves every key whose timer is due into the ready line.
    fn fire_timers(&mut self, now: Instant) {
        while self.timers.peek().is_some_and(|t| t.at <= now) {
            let Some(timer) = self.timers.pop() else {
                break;
            };
            let live = match self.entries.get_mut(&timer.key) {
                Some(e) if e.state == State::Scheduled(timer.at) => {
                    e.state = State::Ready(timer.at);
                    true
                }
                _ => false,
            };
            if live {
                self.apply(Effect::Ready, timer.key);
            }
        }
    }

    /// The next key to run, if any is due (and the rate limit allows).
    pub(crate) fn pop(&mut self, now: Instant) -> Pop {
        if self.closed {
            return Pop::Closed;
        }
        self.fire_timers(now);
        loop {
            let Some(front) = self.ready.front() else {
                return Pop::Wait(self.timers.peek().map(|t| t.at));
            };
            let Some(entry) = self.entries.get_mut(front) else {
                self.ready.pop_front();
                continue;
            };
            let State::Ready(since) = entry.state else {
                self.ready.pop_front();
                continue;
            };
            if let Some(bucket) = &mut self.limiter
                && let Err(at) = bucket.try_acquire(now)
            {
                return Pop::Wait(Some(at));
            }
            entry.state = State::Running {
                next: None,
                gone: false,
            };
            let attempt = entry.failures;
            let Some(key) = self.ready.pop_front() else {
                return Pop::Wait(None);
            };
            self.depth -= 1;
            self.publish_depth();
            self.metrics
                .queue_duration
                .record(now.saturating_duration_since(since).as_secs_f64());
            self.processing.insert(key.clone(), now);
            return Pop::Ready(Ticket { key, attempt });
        }
    }

    /// Ends the run of `key`: records its failure count (0 resets the backoff) and the
    /// requested requeue, and applies any schedule that arrived meanwhile (earliest wins).
    /// Returns whether a waiting worker should look again.
    pub(crate) fn finish(
        &mut self,
        key: &ObjectKey,
        failures: u32,
        requeue: Option<Instant>,
        now: Instant,
    ) -> bool {
        if let Some(start) = self.processing.remove(key) {
            self.metrics
                .work_duration
                .record(now.saturating_duration_since(start).as_secs_f64());
        }
        let MapEntry::Occupied(mut slot) = self.entries.entry(key.clone()) else {
            return false;
        };
        let State::Running { next, gone } = slot.get().state else {
            return false;
        };
        if gone {
            slot.remove();
            return false;
        }
        if failures > 0 && requeue.is_some() {
            self.metrics.retries.increment(1);
        }
        let entry = slot.get_mut();
        entry.failures = failures;
        let next = match (next, requeue) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let effect = match next {
            Some(at) if at <= now => {
                entry.state = State::Ready(now);
                Effect::Ready
            }
            Some(at) => {
                entry.state = State::Scheduled(at);
                Effect::Timer(at)
            }
            None if failures > 0 => {
                entry.state = State::Idle;
                Effect::Nothing
            }
            None => {
                slot.remove();
                Effect::Nothing
            }
        };
        self.apply(effect, key.clone())
    }

    /// Forgets `key` (its object was deleted): drops any pending schedule and its failure
    /// count. A running key finishes its run and is then dropped, unless scheduled again.
    pub(crate) fn forget(&mut self, key: &ObjectKey) {
        let MapEntry::Occupied(mut slot) = self.entries.entry(key.clone()) else {
            return;
        };
        match slot.get().state {
            State::Idle | State::Scheduled(_) => {
                slot.remove();
            }
            State::Ready(_) => {
                slot.remove();
                self.depth -= 1;
                self.publish_depth();
            }
            State::Running { .. } => {
                let entry = slot.get_mut();
                entry.state = State::Running {
                    next: None,
                    gone: true,
                };
                entry.failures = 0;
            }
        }
    }

    /// Stops handing out keys and accepting schedules.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Running keys, sorted.
    pub(crate) fn running(&self) -> Vec<ObjectKey> {
        let mut keys: Vec<ObjectKey> = self.processing.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Keys with a pending run (due, on a timer, or behind their running instance).
    pub(crate) fn pending(&self) -> usize {
        self.entries
            .values()
            .filter(|e| match e.state {
                State::Idle => false,
                State::Scheduled(_) | State::Ready(_) => true,
                State::Running { next, .. } => next.is_some(),
            })
            .count()
    }

    /// Updates `workqueue_unfinished_work_seconds` (sum of the running times) and
    /// `workqueue_longest_running_processor_seconds`.
    pub(crate) fn publish_unfinished(&self, now: Instant) {
        let (sum, longest) = self
            .processing
            .values()
            .map(|s| now.saturating_duration_since(*s).as_secs_f64())
            .fold((0.0, 0.0_f64), |(sum, max), d| (sum + d, max.max(d)));
        self.metrics.unfinished.set(sum);
        self.metrics.longest.set(longest);
    }
}

#[cfg(test)]
mod tests;
