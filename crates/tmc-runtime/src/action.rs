//! What a reconcile asks for next.

use std::time::Duration;

/// What happens to a key after its reconcile: run again after a delay, or wait for the next
/// change (an event, a resync or a manual enqueue).
///
/// ```
/// use std::time::Duration;
/// use tmc_runtime::Action;
///
/// assert_eq!(Action::requeue(Duration::from_secs(30)).requeue_after(), Some(Duration::from_secs(30)));
/// assert_eq!(Action::await_change().requeue_after(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Reconcile this key again after `delay` (counted as `requeue_after`). If the key is
    /// scheduled earlier meanwhile (an event, a manual enqueue), the earlier time wins.
    #[must_use]
    pub const fn requeue(delay: Duration) -> Self {
        Self {
            requeue_after: Some(delay),
        }
    }

    /// Do nothing until the object changes (counted as `success`).
    #[must_use]
    pub const fn await_change() -> Self {
        Self {
            requeue_after: None,
        }
    }

    /// The requested delay, `None` for [`await_change`](Self::await_change).
    #[must_use]
    pub const fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
}
