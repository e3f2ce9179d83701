//! The value cells behind the handles the registry gives out.
//!
//! Each cell is a few atomics and an idle stamp, so recording is a handful of relaxed atomic
//! operations with no lock and no allocation. A cell is shared by the registry (which reads
//! it on render) and every handle registered for its series.
//!
//! Exemplars (feature `opentelemetry`, and only in a registry built with them): a slot
//! beside `value` in [`CounterCell`] and beside each bucket count in [`HistogramCell`],
//! written by the same recording call and read by the OpenMetrics renderer after the sample
//! value. Without the feature the fields do not exist.

#[cfg(feature = "opentelemetry")]
use super::exemplar::{Exemplar, Slot};
use super::native::NativeCell;
use crate::catalog::NativeHistogram;
use metrics::{CounterFn, GaugeFn, HistogramFn};
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
    fn touch(&self) {
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

fn add_f64(bits: &AtomicU64, delta: f64) {
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

/// A histogram with fixed buckets: one count per bucket (not cumulative; the renderer sums),
/// the last one for `+Inf`, and the sum of observations. With native buckets, an observation
/// whose native bucket lies inside one classic bucket is counted in the native bucket alone,
/// and [`HistogramCell::snapshot`] adds it to the classic one.
#[derive(Debug)]
pub(crate) struct HistogramCell {
    bounds: Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    pub(crate) stamp: Stamp,
    /// The native buckets, for a family with a native histogram.
    native: Option<Box<NativeCell>>,
    /// One slot per bucket, `+Inf` last.
    #[cfg(feature = "opentelemetry")]
    exemplars: Option<Box<[Slot]>>,
}

impl HistogramCell {
    pub(crate) fn new(
        bounds: Arc<[f64]>,
        native: Option<NativeHistogram>,
        stamp: Stamp,
        exemplars: bool,
    ) -> Self {
        #[cfg(not(feature = "opentelemetry"))]
        let _ = exemplars;
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            native: native.map(|spec| Box::new(NativeCell::new(spec))),
            #[cfg(feature = "opentelemetry")]
            exemplars: exemplars.then(|| (0..=bounds.len()).map(|_| Slot::default()).collect()),
            bounds,
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
            stamp,
        }
    }

    /// The latest exemplar of bucket `index` (not cumulative: the observation that landed
    /// in it), if the registry keeps them and one was recorded.
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn exemplar(&self, index: usize) -> Option<Exemplar> {
        self.exemplars
            .as_deref()
            .and_then(|slots| slots.get(index))
            .and_then(Slot::get)
    }

    /// The per-bucket counts (the last is `+Inf`) and the sum.
    pub(crate) fn snapshot(&self, counts: &mut Vec<u64>) -> f64 {
        if let Some(native) = self.native() {
            native.classic_snapshot(&self.counts, counts);
        } else {
            counts.clear();
            counts.extend(self.counts.iter().map(|c| c.load(Ordering::Relaxed)));
        }
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// The native buckets, if the family has a native histogram.
    pub(crate) fn native(&self) -> Option<&NativeCell> {
        self.native.as_deref()
    }
}

impl HistogramFn for HistogramCell {
    #[inline]
    fn record(&self, value: f64) {
        // The native bucket is looked up first, by reads alone: the locked writes below
        // would hold back the reads behind them, and the lookup's chain of loads then runs
        // beside the classic bucket's scan instead of after it.
        // Its slot also knows the classic bucket when no classic bound splits the native one,
        // and then its count is the classic bucket's too: one locked write fewer.
        let native = self.native.as_deref().map(|n| (n, n.locate(value)));
        self.stamp.touch();
        let index = match native.as_ref().and_then(|(_, target)| target.classic) {
            Some(index) => index,
            // A linear scan from the smallest bound: bucket lists are short and most
            // observations land low, so this beats a binary search's unpredictable steps.
            // NaN lands in `+Inf`.
            None => self
                .bounds
                .iter()
                .position(|le| value <= *le)
                .unwrap_or(self.bounds.len()),
        };
        if !native
            .as_ref()
            .is_some_and(|(_, target)| target.counts_classic())
            && let Some(count) = self.counts.get(index)
        {
            count.fetch_add(1, Ordering::Relaxed);
        }
        add_f64(&self.sum, value);
        if let Some((native, target)) = &native {
            native.commit(target, value, &self.bounds, &self.counts, index);
        }
        #[cfg(feature = "opentelemetry")]
        if let Some(slot) = self.exemplars.as_deref().and_then(|s| s.get(index)) {
            slot.offer(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::HistogramFn;

    #[test]
    fn a_native_histogram_leaves_the_classic_buckets_as_they_were() {
        // The classic bucket comes from the native bucket's slot when no bound splits it:
        // the counts must be those of a cell without one, bounds and their neighbours included.
        let bounds: Arc<[f64]> = Arc::from([0.005, 0.01, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]);
        let now = Arc::new(AtomicU64::new(0));
        let cell = |native| {
            HistogramCell::new(
                Arc::clone(&bounds),
                native,
                Stamp::new(Arc::clone(&now)),
                false,
            )
        };
        let (classic, with_native) = (cell(None), cell(Some(NativeHistogram::DEFAULT)));
        let mut values = vec![0.0, -0.0, -1.0, -0.004, f64::NAN, f64::INFINITY, 1e-300];
        for b in bounds.iter() {
            values.extend([*b, b.next_down(), b.next_up()]);
        }
        values.extend((0..2_000).map(|i| 1e-4 * 10f64.powf(f64::from(i) / 400.0)));
        for v in &values {
            classic.record(*v);
            with_native.record(*v);
        }
        // Twice, the second time from the slots the first claimed.
        for v in &values {
            classic.record(*v);
            with_native.record(*v);
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        classic.snapshot(&mut a);
        with_native.snapshot(&mut b);
        assert_eq!(a, b);
        assert_eq!(a.iter().sum::<u64>(), 2 * values.len() as u64);
        let native = with_native
            .native()
            .map(NativeCell::snapshot)
            .unwrap_or_default();
        assert_eq!(native.count(), 2 * values.len() as u64);
    }
}
