//! The wall clock the schedule reconciler reads, injectable so tests run on tokio's paused
//! clock instead of waiting for real minutes.

use std::fmt;
use std::sync::Arc;

/// Unix milliseconds, now.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time, Unix milliseconds (UTC).
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        crate::time::now_ms()
    }
}

/// A clock that starts at a given wall time and advances with tokio's clock: under
/// `tokio::time::pause`, `tokio::time::advance` moves it (and the controller's requeue
/// timers) together.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use datamover::schedule::clock::{Clock, TokioClock};
/// let clock = TokioClock::starting_at(1_000_000);
/// tokio::time::advance(std::time::Duration::from_secs(60)).await;
/// assert_eq!(clock.now_ms(), 1_060_000);
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct TokioClock {
    start_ms: u64,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start_ms` now.
    #[must_use]
    pub fn starting_at(start_ms: u64) -> Self {
        Self {
            start_ms,
            start: tokio::time::Instant::now(),
        }
    }
}

impl fmt::Debug for TokioClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioClock")
            .field("now_ms", &self.now_ms())
            .finish()
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.start_ms.saturating_add(elapsed)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}
