//! Enqueueing by hand, and looking at what runs.

use crate::ObjectKey;
use crate::scheduler::Scheduler;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Enqueues keys into a controller's queue by hand. Cheap to clone; usable before the
/// controller runs (the keys wait) and a no-op after it stopped.
#[derive(Clone)]
pub struct ControllerHandle {
    pub(crate) scheduler: Arc<Scheduler>,
}

impl fmt::Debug for ControllerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerHandle")
            .field("depth", &self.scheduler.lock().depth())
            .finish()
    }
}

impl ControllerHandle {
    /// Reconciles `key` as soon as a worker is free (a duplicate of a queued key collapses;
    /// a running key runs again after).
    pub fn enqueue(&self, key: ObjectKey) {
        self.scheduler.schedule(key, Duration::ZERO);
    }

    /// Reconciles `key` after `delay`, unless it is already scheduled earlier.
    pub fn enqueue_after(&self, key: ObjectKey, delay: Duration) {
        self.scheduler.schedule(key, delay);
    }

    /// The keys being reconciled right now, sorted: what a shutdown deadline reached now
    /// would cut off. Once the controller has stopped: the keys it cut off (as in its
    /// [`ShutdownReport::cut_off`](crate::ShutdownReport::cut_off)).
    #[must_use]
    pub fn in_flight(&self) -> Vec<ObjectKey> {
        self.scheduler.lock().running()
    }
}
