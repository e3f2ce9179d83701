//! The optional global rate limit: a token bucket over reconcile starts.

use crate::ConfigError;
use std::time::Duration;
use tokio::time::Instant;

/// A controller-wide limit on how many reconciles start per second, with a burst allowance
/// (a token bucket). Keys past the limit stay queued (and counted in `workqueue_depth`).
///
/// ```
/// use tmc_runtime::RateLimit;
///
/// let limit = RateLimit::new(10, 100)?; // Go's default bucket: 10 per second, burst 100
/// assert_eq!((limit.per_second(), limit.burst()), (10, 100));
/// assert!(RateLimit::new(0, 1).is_err());
/// # Ok::<(), tmc_runtime::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    per_second: u32,
    burst: u32,
}

impl RateLimit {
    /// At most `per_second` reconcile starts per second on average, `burst` at once.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when either is zero.
    pub fn new(per_second: u32, burst: u32) -> Result<Self, ConfigError> {
        if per_second == 0 {
            return Err(ConfigError::invalid(
                "rate_limit.per_second",
                "must be at least 1",
            ));
        }
        if burst == 0 {
            return Err(ConfigError::invalid(
                "rate_limit.burst",
                "must be at least 1",
            ));
        }
        Ok(Self { per_second, burst })
    }

    /// The sustained rate.
    #[must_use]
    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// The burst size.
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.burst
    }
}

/// The bucket as a generic cell rate algorithm: one instant of state.
#[derive(Debug)]
pub(crate) struct Bucket {
    interval: Duration,
    tolerance: Duration,
    /// The theoretical arrival time of the next token; `None` before the first.
    tat: Option<Instant>,
}

impl Bucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let interval = Duration::from_secs(1) / limit.per_second;
        let tolerance = interval
            .checked_mul(limit.burst - 1)
            .unwrap_or(Duration::MAX);
        Self {
            interval,
            tolerance,
            tat: None,
        }
    }

    /// Takes a token at `now`, or says when one will be available.
    pub(crate) fn try_acquire(&mut self, now: Instant) -> Result<(), Instant> {
        let tat = self.tat.map_or(now, |t| t.max(now));
        match now.checked_add(self.tolerance) {
            Some(limit) if tat > limit => Err(tat.checked_sub(self.tolerance).unwrap_or(now)),
            _ => {
                self.tat = Some(tat + self.interval);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_should_allow_a_burst_then_space_tokens() {
        let mut b = Bucket::new(RateLimit::new(4, 3).unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.try_acquire(t0), Ok(()));
        }
        let next = b.try_acquire(t0).unwrap_err();
        assert_eq!(next - t0, Duration::from_millis(250));
        assert_eq!(b.try_acquire(next), Ok(()));
        assert_eq!(
            b.try_acquire(next).unwrap_err() - next,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn bucket_should_refill_while_idle() {
        let mut b = Bucket::new(RateLimit::new(1, 2).unwrap());
        let t0 = Instant::now();
        assert!(b.try_acquire(t0).is_ok());
        assert!(b.try_acquire(t0).is_ok());
        assert!(b.try_acquire(t0).is_err());
        let later = t0 + Duration::from_secs(10);
        assert!(b.try_acquire(later).is_ok());
        assert!(b.try_acquire(later).is_ok());
        assert!(b.try_acquire(later).is_err());
    }

    #[test]
    fn zero_rate_or_burst_should_be_refused() {
        assert!(
            RateLimit::new(0, 5)
                .unwrap_err()
                .to_string()
                .contains("rate_limit.per_second")
        );
        assert!(
            RateLimit::new(5, 0)
                .unwrap_err()
                .to_string()
                .contains("rate_limit.burst")
        );
    }
}
