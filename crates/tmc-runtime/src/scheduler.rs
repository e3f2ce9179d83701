//! The shared, async face of the [`Queue`]: a mutex, the clock and a wake-up.

use crate::ObjectKey;
use crate::metrics::QueueMetrics;
use crate::queue::{Pop, Queue, Ticket};
use crate::rate_limit::RateLimit;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A far-away instant for delays too large to add to the clock.
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The queue shared by the workers, the event pump and every [`ControllerHandle`](crate::ControllerHandle).
#[derive(Debug)]
pub(crate) struct Scheduler {
    queue: Mutex<Queue>,
    notify: Notify,
}

impl Scheduler {
    pub(crate) fn new(metrics: QueueMetrics) -> Self {
        Self {
            queue: Mutex::new(Queue::new(metrics)),
            notify: Notify::new(),
        }
    }

    /// The queue. No code panics while holding it, so poisoning cannot happen; recover anyway.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_metrics(&self, metrics: QueueMetrics) {
        self.lock().set_metrics(metrics);
    }

    pub(crate) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.lock().set_rate_limit(limit);
        self.notify.notify_waiters();
    }

    /// Schedules `key` after `delay` (zero: now).
    pub(crate) fn schedule(&self, key: ObjectKey, delay: Duration) {
        let now = Instant::now();
        let at = deadline(now, delay);
        if self.lock().schedule(key, at, now) {
            self.notify.notify_one();
        }
    }

    pub(crate) fn forget(&self, key: &ObjectKey) {
        self.lock().forget(key);
    }

    /// Ends a run; see [`Queue::finish`].
    pub(crate) fn finish(&self, key: &ObjectKey, failures: u32, requeue: Option<Duration>) {
        let now = Instant::now();
        let at = requeue.map(|d| deadline(now, d));
        if self.lock().finish(key, failures, at, now) {
            self.notify.notify_one();
        }
    }

    /// Waits for the next key to run; `None` once closed.
    pub(crate) async fn next(&self) -> Option<Ticket> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a wake-up between the look and the wait is kept.
            notified.as_mut().enable();
            let wait = {
                let mut queue = self.lock();
                match queue.pop(Instant::now()) {
                    Pop::Ready(ticket) => {
                        if queue.depth() > 0 {
                            // Pass the baton: another idle worker may take the next one.
                            self.notify.notify_one();
                        }
                        return Some(ticket);
                    }
                    Pop::Closed => return None,
                    Pop::Wait(at) => at,
                }
            };
            match wait {
                Some(at) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Stops handing out work and wakes every waiting worker so it can exit.
    pub(crate) fn close(&self) {
        self.lock().close();
        self.notify.notify_waiters();
    }
}

fn deadline(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or(now + FAR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn next_should_wait_for_a_delayed_key() {
        let s = Arc::new(Scheduler::new(QueueMetrics::noop()));
        let t0 = Instant::now();
        s.schedule(ObjectKey::from("a"), Duration::from_secs(5));
        let ticket = s.next().await.unwrap();
        assert_eq!(ticket.key, ObjectKey::from("a"));
        assert_eq!(Instant::now() - t0, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn next_should_wake_on_schedule_and_end_on_close() {
        let s = Arc::new(Scheduler::new(QueueMetrics::noop()));
        let waiter = tokio::spawn({
            let s = Arc::clone(&s);
            async move {
                let first = s.next().await;
                let second = s.next().await;
                (first, second)
            }
        });
        tokio::task::yield_now().await;
        s.schedule(ObjectKey::from("a"), Duration::ZERO);
        tokio::task::yield_now().await;
        s.close();
        let (first, second) = waiter.await.unwrap();
        assert_eq!(first.unwrap().key, ObjectKey::from("a"));
        assert_eq!(second, None);
    }

    #[tokio::test(start_paused = true)]
    async fn huge_delays_should_not_overflow_the_clock() {
        let s = Scheduler::new(QueueMetrics::noop());
        s.schedule(ObjectKey::from("a"), Duration::MAX);
        assert_eq!(s.lock().pending(), 1);
    }
}
