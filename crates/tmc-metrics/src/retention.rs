//! Retention: series nothing has recorded into for a while are left out of the exposition.
//!
//! Every cell of the registry stamps a coarse clock (whole seconds, advanced on upkeep and
//! render) on each update; rendering leaves out the series whose stamp is older than the
//! retention period. Nothing is deleted: a handle kept by a layer or an operation keeps
//! working, and a series recorded into again comes back with its accumulated value (a counter
//! is never reset). Memory stays bounded by the per-family series cap.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A monotonic time source for retention: the time elapsed since some fixed start.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use std::time::Duration;
///
/// // A clock a test advances by hand.
/// let secs = Arc::new(AtomicU64::new(0));
/// let now = secs.clone();
/// let clock = tmc_metrics::Clock::new(move || Duration::from_secs(now.load(Ordering::Relaxed)));
/// let metrics = tmc_metrics::Metrics::builder().retention(Some(Duration::from_secs(60))).clock(clock).build()?;
/// # Ok::<(), tmc_metrics::MetricsError>(())
/// ```
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Duration + Send + Sync>);

impl Clock {
    /// A clock reading `now`.
    pub fn new(now: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub(crate) fn now(&self) -> Duration {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The monotonic clock: time since the registry was built.
pub(crate) fn real_clock() -> Clock {
    let start = std::time::Instant::now();
    Clock::new(move || start.elapsed())
}
