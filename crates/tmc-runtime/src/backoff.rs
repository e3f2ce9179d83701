//! Per-key exponential backoff with jitter and a cap.

use crate::ConfigError;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Exponential backoff for failing keys: the `n`-th consecutive failure of a key waits
/// `initial * factor^(n-1)`, capped at `max`, then shortened by up to `jitter` (a fraction in
/// `0.0..=1.0`; the delay is multiplied by a uniform factor in `[1 - jitter, 1]`, so the cap
/// always holds). A key's failure count resets when it reconciles successfully.
///
/// The default follows Go's controller-runtime (5 ms doubling up to 1000 s) with 10 % jitter.
///
/// ```
/// use std::time::Duration;
/// use tmc_runtime::Backoff;
///
/// let b = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(5), factor: 2.0, jitter: 0.0 };
/// let delays: Vec<u64> = (1..=5).map(|n| b.delay(n).as_secs()).collect();
/// assert_eq!(delays, [1, 2, 4, 5, 5]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay after the first failure. Must be non-zero.
    pub initial: Duration,
    /// The cap. Must be at least `initial`.
    pub max: Duration,
    /// The growth per failure. Must be finite and at least 1.0.
    pub factor: f64,
    /// The random shortening, a fraction in `0.0..=1.0`; `0.0` makes delays deterministic.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(5),
            max: Duration::from_secs(1000),
            factor: 2.0,
            jitter: 0.1,
        }
    }
}

impl Backoff {
    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.initial.is_zero() {
            return Err(ConfigError::invalid("backoff.initial", "must be non-zero"));
        }
        if self.max < self.initial {
            return Err(ConfigError::invalid(
                "backoff.max",
                format!(
                    "must be at least backoff.initial ({:?}), got {:?}",
                    self.initial, self.max
                ),
            ));
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(ConfigError::invalid(
                "backoff.factor",
                format!("must be a finite number >= 1.0, got {}", self.factor),
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ConfigError::invalid(
                "backoff.jitter",
                format!("must be within 0.0..=1.0, got {}", self.jitter),
            ));
        }
        Ok(())
    }

    /// The delay after `failures` consecutive failures, before jitter: `initial *
    /// factor^(failures-1)` capped at `max`; zero for `failures == 0`.
    #[must_use]
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exponent = i32::try_from(failures - 1).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exponent);
        let max = self.max.as_secs_f64();
        if secs.is_finite() && secs < max {
            Duration::try_from_secs_f64(secs).unwrap_or(self.max)
        } else {
            self.max
        }
    }

    /// [`delay`](Self::delay) shortened by jitter; `sample` is uniform in `[0, 1)`.
    pub(crate) fn jittered(&self, failures: u32, sample: f64) -> Duration {
        let base = self.delay(failures);
        if self.jitter <= 0.0 {
            return base;
        }
        let scale = (1.0 - self.jitter * sample).clamp(0.0, 1.0);
        Duration::try_from_secs_f64(base.as_secs_f64() * scale).unwrap_or(base)
    }
}

/// A tiny lock-free `SplitMix64` generator for jitter, seeded from std's `RandomState`.
#[derive(Debug)]
pub(crate) struct Jitter {
    state: AtomicU64,
}

impl Jitter {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    pub(crate) fn new() -> Self {
        Self::with_seed(std::collections::hash_map::RandomState::new().hash_one(0x746d_6375_u64))
    }

    pub(crate) fn with_seed(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    /// A uniform sample in `[0, 1)`.
    pub(crate) fn sample(&self) -> f64 {
        let mut z = self
            .state
            .fetch_add(Self::GAMMA, Ordering::Relaxed)
            .wrapping_add(Self::GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits, exactly representable.
        #[allow(clippy::cast_precision_loss)]
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(b: &Backoff, n: u32) -> f64 {
        b.delay(n).as_secs_f64()
    }

    #[test]
    fn backoff_should_grow_by_factor_and_stop_at_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 3.0,
            jitter: 0.0,
        };
        assert_eq!(b.delay(0), Duration::ZERO);
        assert!((secs(&b, 1) - 0.1).abs() < 1e-9);
        assert!((secs(&b, 2) - 0.3).abs() < 1e-9);
        assert!((secs(&b, 3) - 0.9).abs() < 1e-9);
        assert_eq!(b.delay(4), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn default_backoff_should_match_go_controller_runtime() {
        let b = Backoff::default();
        b.validate().unwrap();
        assert_eq!(b.delay(1), Duration::from_millis(5));
        assert_eq!(b.delay(2), Duration::from_millis(10));
        assert_eq!(b.delay(40), Duration::from_secs(1000));
    }

    #[test]
    fn jitter_should_only_shorten_within_its_fraction() {
        let b = Backoff {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(10),
            factor: 2.0,
            jitter: 0.25,
        };
        let rng = Jitter::with_seed(7);
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..1000 {
            let d = b.jittered(1, rng.sample());
            assert!(d <= Duration::from_secs(10), "{d:?}");
            assert!(d >= Duration::from_millis(7500), "{d:?}");
            distinct.insert(d);
        }
        assert!(distinct.len() > 900);
        assert_eq!(b.jittered(1, 0.0), Duration::from_secs(10));
    }

    #[test]
    fn samples_should_be_in_the_unit_interval() {
        let rng = Jitter::new();
        for _ in 0..10_000 {
            let s = rng.sample();
            assert!((0.0..1.0).contains(&s));
        }
    }

    #[test]
    fn invalid_backoff_should_be_refused_naming_the_field() {
        let ok = Backoff::default();
        let cases = [
            (
                Backoff {
                    initial: Duration::ZERO,
                    ..ok
                },
                "backoff.initial",
            ),
            (
                Backoff {
                    max: Duration::from_millis(1),
                    ..ok
                },
                "backoff.max",
            ),
            (Backoff { factor: 0.5, ..ok }, "backoff.factor"),
            (
                Backoff {
                    factor: f64::NAN,
                    ..ok
                },
                "backoff.factor",
            ),
            (Backoff { jitter: 1.5, ..ok }, "backoff.jitter"),
        ];
        for (b, field) in cases {
            let err = b.validate().unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
    }
}
