//! The histogram cells: classic buckets alone ([`HistogramCell`]), and with native buckets
//! beside them ([`NativeHistogramCell`]); [`AnyHistogramCell`] is a series' cell, either.
//!
//! Two types rather than one with an optional native part: a classic-only cell carries
//! nothing for native buckets (no field, no check when it records), and a native cell holds
//! its native part inline, so an observation reaches the current table without first loading
//! a pointer to it.

use super::cell::{Stamp, add_f64};
#[cfg(feature = "opentelemetry")]
use super::exemplar::{Exemplar, Slot};
use super::native::NativeCell;
use crate::catalog::NativeHistogram;
use metrics::HistogramFn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A histogram with fixed buckets: one count per bucket (not cumulative; the renderer sums),
/// the last one for `+Inf`, and the sum of observations.
#[derive(Debug)]
pub(crate) struct HistogramCell {
    bounds: Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    pub(crate) stamp: Stamp,
    /// One slot per bucket, `+Inf` last.
    #[cfg(feature = "opentelemetry")]
    exemplars: Option<Box<[Slot]>>,
}

impl HistogramCell {
    pub(crate) fn new(bounds: Arc<[f64]>, stamp: Stamp, exemplars: bool) -> Self {
        #[cfg(not(feature = "opentelemetry"))]
        let _ = exemplars;
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
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
        counts.clear();
        counts.extend(self.counts.iter().map(|c| c.load(Ordering::Relaxed)));
        self.sum()
    }

    fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// The classic bucket of `value`: a linear scan from the smallest bound (bucket lists are
    /// short and most observations land low, so this beats a binary search's unpredictable
    /// steps). NaN lands in `+Inf`.
    #[inline]
    fn index(&self, value: f64) -> usize {
        self.bounds
            .iter()
            .position(|le| value <= *le)
            .unwrap_or(self.bounds.len())
    }

    #[inline]
    fn count(&self, index: usize) {
        if let Some(count) = self.counts.get(index) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keeps an exemplar of an observation in bucket `index`, if the registry keeps them.
    #[inline]
    #[cfg_attr(not(feature = "opentelemetry"), allow(clippy::unused_self))]
    fn offer_exemplar(&self, index: usize, value: f64) {
        #[cfg(feature = "opentelemetry")]
        if let Some(slot) = self.exemplars.as_deref().and_then(|s| s.get(index)) {
            slot.offer(value);
        }
        #[cfg(not(feature = "opentelemetry"))]
        let _ = (index, value);
    }
}

impl HistogramFn for HistogramCell {
    #[inline]
    fn record(&self, value: f64) {
        self.stamp.touch();
        let index = self.index(value);
        self.count(index);
        add_f64(&self.sum, value);
        self.offer_exemplar(index, value);
    }
}

/// A histogram with native buckets beside the classic ones. An observation whose native
/// bucket lies inside one classic bucket is counted in the native bucket alone (its slot's
/// tag names the classic bucket), and [`NativeHistogramCell::snapshot`] adds it to the
/// classic one: two locked writes per observation (the native bucket and the sum), as many
/// as a classic-only histogram makes.
#[derive(Debug)]
pub(crate) struct NativeHistogramCell {
    classic: HistogramCell,
    native: NativeCell,
}

impl NativeHistogramCell {
    pub(crate) fn new(
        bounds: Arc<[f64]>,
        spec: NativeHistogram,
        stamp: Stamp,
        exemplars: bool,
    ) -> Self {
        Self {
            classic: HistogramCell::new(bounds, stamp, exemplars),
            native: NativeCell::new(spec),
        }
    }

    /// The per-bucket counts (the last is `+Inf`), with the native buckets that carry a
    /// classic one, and the sum.
    pub(crate) fn snapshot(&self, counts: &mut Vec<u64>) -> f64 {
        self.native.classic_snapshot(&self.classic.counts, counts);
        self.classic.sum()
    }
}

impl HistogramFn for NativeHistogramCell {
    #[inline]
    fn record(&self, value: f64) {
        let classic = &self.classic;
        // The native bucket is looked up first, by reads alone: the locked writes below
        // would hold back the reads behind them, and the lookup's chain of loads then runs
        // beside the classic bucket's scan instead of after it. Its slot also knows the
        // classic bucket when no classic bound splits the native one, and then its count is
        // the classic bucket's too.
        let target = self.native.locate(value);
        classic.stamp.touch();
        let index = match target.classic {
            Some(index) => index,
            None => classic.index(value),
        };
        if !target.counts_classic() {
            classic.count(index);
        }
        add_f64(&classic.sum, value);
        self.native
            .commit(&target, value, &classic.bounds, &classic.counts, index);
        classic.offer_exemplar(index, value);
    }
}

/// A histogram series' cell, with or without native buckets.
#[derive(Debug, Clone)]
pub(crate) enum AnyHistogramCell {
    Classic(Arc<HistogramCell>),
    Native(Arc<NativeHistogramCell>),
}

impl AnyHistogramCell {
    /// A cell with the classic `bounds`, and native buckets when `native` is set.
    pub(crate) fn new(
        bounds: Arc<[f64]>,
        native: Option<NativeHistogram>,
        stamp: Stamp,
        exemplars: bool,
    ) -> Self {
        match native {
            Some(spec) => Self::Native(Arc::new(NativeHistogramCell::new(
                bounds, spec, stamp, exemplars,
            ))),
            None => Self::Classic(Arc::new(HistogramCell::new(bounds, stamp, exemplars))),
        }
    }

    fn classic(&self) -> &HistogramCell {
        match self {
            Self::Classic(h) => h,
            Self::Native(h) => &h.classic,
        }
    }

    pub(crate) fn stamp(&self) -> &Stamp {
        &self.classic().stamp
    }

    /// The per-bucket counts (the last is `+Inf`) and the sum.
    pub(crate) fn snapshot(&self, counts: &mut Vec<u64>) -> f64 {
        match self {
            Self::Classic(h) => h.snapshot(counts),
            Self::Native(h) => h.snapshot(counts),
        }
    }

    /// The native buckets, if the family has a native histogram.
    pub(crate) fn native(&self) -> Option<&NativeCell> {
        match self {
            Self::Classic(_) => None,
            Self::Native(h) => Some(&h.native),
        }
    }

    /// The latest exemplar of bucket `index`: [`HistogramCell::exemplar`].
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn exemplar(&self, index: usize) -> Option<Exemplar> {
        self.classic().exemplar(index)
    }

    /// A `metrics` handle that records into this cell.
    pub(crate) fn handle(&self) -> metrics::Histogram {
        match self {
            Self::Classic(h) => metrics::Histogram::from_arc(Arc::clone(h)),
            Self::Native(h) => metrics::Histogram::from_arc(Arc::clone(h)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_native_histogram_leaves_the_classic_buckets_as_they_were() {
        // The classic bucket comes from the native bucket's slot when no bound splits it:
        // the counts must be those of a cell without one, bounds and their neighbours included.
        let bounds: Arc<[f64]> = Arc::from([0.005, 0.01, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]);
        let now = Arc::new(AtomicU64::new(0));
        let cell = |native| {
            AnyHistogramCell::new(
                Arc::clone(&bounds),
                native,
                Stamp::new(Arc::clone(&now)),
                false,
            )
        };
        let (classic, with_native) = (cell(None), cell(Some(NativeHistogram::DEFAULT)));
        let (h_classic, h_native) = (classic.handle(), with_native.handle());
        let mut values = vec![0.0, -0.0, -1.0, -0.004, f64::NAN, f64::INFINITY, 1e-300];
        for b in bounds.iter() {
            values.extend([*b, b.next_down(), b.next_up()]);
        }
        values.extend((0..2_000).map(|i| 1e-4 * 10f64.powf(f64::from(i) / 400.0)));
        for v in &values {
            h_classic.record(*v);
            h_native.record(*v);
        }
        // Twice, the second time from the slots the first claimed.
        for v in &values {
            h_classic.record(*v);
            h_native.record(*v);
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        classic.snapshot(&mut a);
        with_native.snapshot(&mut b);
        assert_eq!(a, b);
        assert_eq!(a.iter().sum::<u64>(), 2 * values.len() as u64);
        assert!(classic.native().is_none());
        let native = with_native
            .native()
            .map(NativeCell::snapshot)
            .unwrap_or_default();
        assert_eq!(native.count(), 2 * values.len() as u64);
    }
}
