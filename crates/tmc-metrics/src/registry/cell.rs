//! The value cells behind the handles the registry gives out (histograms: `histogram.rs`).
//!
//! Each cell is a few atomics and an idle stamp, so recording is a handful of relaxed atomic
//! operations with no lock and no allocation. A cell is shared by the registry (which reads
//! it on render) and every handle registered for its series.
//!
//! Exemplars (feature `opentelemetry`, and only in a registry built with them): a slot
//! beside `value` in [`CounterCell`] and beside each bucket count in a histogram cell,
//! written by the same recording call and read by the OpenMetrics renderer after the sample
//! value. Without the feature the fields do not exist.

#[cfg(feature = "opentelemetry")]
use super::exemplar::{Exemplar, Slot};
use metrics::{CounterFn, GaugeFn};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The coarse time (whole seconds) of the last update of a series.
#[derive(Debug)]
pub(crate) struct Stamp {
    last: AtomicU64,
    now: Arc<AtomicU64>,
}

impl Stamp {
    pub(crate) fn new(now: Arc<AtomicU64>) -> Self {
        Self {
            last: AtomicU64::new(now.load(Ordering::Relaxed)),
            now,
        }
    }

    #[inline]
    pub(super) fn touch(&self) {
        let now = self.now.load(Ordering::Relaxed);
        if self.last.load(Ordering::Relaxed) != now {
            self.last.store(now, Ordering::Relaxed);
        }
    }

    /// Whether the series was updated within `period` seconds of `now`.
    pub(crate) fn live(&self, now: u64, period: Option<u64>) -> bool {
        period.is_none_or(|p| now.saturating_sub(self.last.load(Ordering::Relaxed)) <= p)
    }
}

/// A counter: a `u64` that only goes up.
#[derive(Debug)]
pub(crate) struct CounterCell {
    value: AtomicU64,
    pub(crate) stamp: Stamp,
    #[cfg(feature = "opentelemetry")]
    exemplar: Option<Box<Slot>>,
}

impl CounterCell {
    pub(crate) fn new(stamp: Stamp, exemplars: bool) -> Self {
        #[cfg(not(feature = "opentelemetry"))]
        let _ = exemplars;
        Self {
            value: AtomicU64::new(0),
            stamp,
            #[cfg(feature = "opentelemetry")]
            exemplar: exemplars.then(Box::default),
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    /// The latest exemplar, if the registry keeps them and one was recorded.
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn exemplar(&self) -> Option<Exemplar> {
        self.exemplar.as_deref().and_then(Slot::get)
    }
}

impl CounterFn for CounterCell {
    #[inline]
    fn increment(&self, value: u64) {
        self.stamp.touch();
        self.value.fetch_add(value, Ordering::Relaxed);
        #[cfg(feature = "opentelemetry")]
        if let Some(slot) = &self.exemplar {
            #[allow(clippy::cast_precision_loss)] // an increment, exact below 2^53
            slot.offer(value as f64);
        }
    }

    fn absolute(&self, value: u64) {
        self.stamp.touch();
        self.value.fetch_max(value, Ordering::Relaxed);
    }
}

/// A gauge: an `f64` stored as its bits.
#[derive(Debug)]
pub(crate) struct GaugeCell {
    bits: AtomicU64,
    pub(crate) stamp: Stamp,
}

impl GaugeCell {
    pub(crate) fn new(stamp: Stamp) -> Self {
        Self {
            bits: AtomicU64::new(0f64.to_bits()),
            stamp,
        }
    }

    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

pub(super) fn add_f64(bits: &AtomicU64, delta: f64) {
    // `fetch_update` only fails when the closure returns `None`, which it never does.
    let _ = bits.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
        Some((f64::from_bits(b) + delta).to_bits())
    });
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.stamp.touch();
        add_f64(&self.bits, value);
    }

    fn decrement(&self, value: f64) {
        self.stamp.touch();
        add_f64(&self.bits, -value);
    }

    fn set(&self, value: f64) {
        self.stamp.touch();
        self.bits.store(value.to_bits(), Ordering::Relaxed);
    }
}
