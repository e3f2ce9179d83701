//! The native-histogram half of a histogram cell: sparse exponential buckets.
//!
//! Recording is lock-free: the current table, an open-addressing table of (bucket, count)
//! slots, is found through an atomic generation number; an observation finds or claims its
//! bucket's slot and adds one. Finding is reads alone ([`NativeCell::locate`]), so the
//! histogram cell does it before any of its locked writes, and adding one is
//! [`NativeCell::commit`]. The fast path is a positive value whose bucket the table has; a
//! negative value or a bucket to claim take the cold path. A table starts small. When its
//! populated buckets pass the budget, the schema is lowered by one (each bucket merged with
//! its neighbour, as `client_golang` does); when they fill three quarters of it, it doubles. Either way a new
//! table becomes current and the counts of the old one are moved into it. An observation that
//! raced with the move and landed in the old table is not lost: a render merges every table
//! the cell has used, mapped to the current schema.
//!
//! A native bucket that lies inside one classic bucket also counts for that classic bucket:
//! its slot's tag names the classic bucket, the histogram cell does not add one to the
//! classic count as well, and [`NativeCell::classic_snapshot`] adds the slot's count to the
//! classic bucket's. That keeps an observation to two locked writes (the native bucket and
//! the sum), as many as a histogram without native buckets makes. A move that merges such a
//! bucket into one a classic bound splits hands its count to the classic count.

mod key;
mod table;

use crate::catalog::NativeHistogram;
use crate::validate::MAX_NATIVE_BUCKETS;
use key::lower;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use table::{Added, Table, classic, classic_bits, tag, untag};

/// The slots of a cell's first table.
const FIRST_CAPACITY: usize = 16;

/// Tables a cell may use: the first, one per schema step down (12 at most) and one per
/// doubling up to the largest table, for [`MAX_NATIVE_BUCKETS`] (8 at most).
const GENERATIONS: usize = 21;

/// The native buckets of one series.
#[derive(Debug)]
pub(crate) struct NativeCell {
    spec: NativeHistogram,
    /// The largest table: room for the budget and half again.
    max_capacity: usize,
    /// The generation of the current table: 0 for `first`, else an index in `later` + 1.
    current: AtomicU8,
    /// The first table, made on first use: most series never need another.
    first: OnceLock<Table>,
    /// The tables after the first, allocated on the first move.
    later: OnceLock<Box<[OnceLock<Table>; GENERATIONS - 1]>>,
    zero: AtomicU64,
    nan: AtomicU64,
    /// Serialises moves to a new table (rare) with each other and with snapshots.
    moving: Mutex<()>,
}

/// Where an observation goes: [`NativeCell::locate`]'s answer.
#[derive(Debug)]
pub(crate) struct Target<'a> {
    /// The count to add one to (a bucket's, the zero bucket's, NaN's), or `None` for the
    /// slow path: a bucket to claim, a table to move from.
    count: Option<&'a AtomicU64>,
    /// The classic bucket of the observation, when its native bucket knows it: then the
    /// native count is the classic bucket's too.
    pub(crate) classic: Option<usize>,
}

impl Target<'_> {
    /// Whether [`NativeCell::commit`] counts the classic bucket too: when the native bucket's
    /// count carries it, or on the slow path, which finds out whether the slot it adds to does.
    /// Otherwise the caller adds one to the classic bucket itself.
    #[inline]
    pub(crate) fn counts_classic(&self) -> bool {
        self.classic.is_some() || self.count.is_none()
    }
}

/// A snapshot of the native buckets, at the current schema.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) schema: i8,
    pub(crate) zero_count: u64,
    /// Observations that were NaN: counted in the histogram, in no bucket.
    pub(crate) nan_count: u64,
    /// `(bucket index, count)` sorted by index, counts above zero.
    pub(crate) positive: Vec<(i32, u64)>,
    pub(crate) negative: Vec<(i32, u64)>,
}

impl Snapshot {
    /// Every observation: the buckets, the zero bucket and NaNs.
    pub(crate) fn count(&self) -> u64 {
        let buckets = |b: &[(i32, u64)]| b.iter().map(|(_, c)| c).sum::<u64>();
        buckets(&self.positive) + buckets(&self.negative) + self.zero_count + self.nan_count
    }
}

impl NativeCell {
    pub(crate) fn new(spec: NativeHistogram) -> Self {
        let want = usize::try_from(spec.max_buckets.min(MAX_NATIVE_BUCKETS)).unwrap_or(1);
        let max_capacity = (want + want / 2 + 1)
            .next_power_of_two()
            .max(FIRST_CAPACITY);
        Self {
            spec,
            max_capacity,
            current: AtomicU8::new(0),
            first: OnceLock::new(),
            later: OnceLock::new(),
            zero: AtomicU64::new(0),
            nan: AtomicU64::new(0),
            moving: Mutex::new(()),
        }
    }

    pub(crate) fn spec(&self) -> NativeHistogram {
        self.spec
    }

    /// Table `generation`; the first is made on first use.
    #[inline]
    fn table(&self, generation: u8) -> Option<&Table> {
        if generation == 0 {
            Some(
                self.first
                    .get_or_init(|| Table::new(self.spec.schema, FIRST_CAPACITY)),
            )
        } else {
            self.later_slot(generation)?.get()
        }
    }

    /// Where table `generation` (1 or more) lives, once `later` is allocated.
    fn later_slot(&self, generation: u8) -> Option<&OnceLock<Table>> {
        let at = usize::from(generation).checked_sub(1)?;
        self.later.get()?.get(at)
    }

    fn over_budget(&self, table: &Table) -> bool {
        table.used() > usize::try_from(self.spec.max_buckets).unwrap_or(usize::MAX)
    }

    /// Where `value` goes, found by reading alone, so that a caller can look it up before
    /// it writes anything (a locked write holds back the reads after it); then
    /// [`NativeCell::commit`]. The common case, a bucket that exists, is a lookup in the
    /// current table: the key from the bits of `value`, the slot at the key, and with it the
    /// classic bucket when the native one lies inside one.
    #[inline]
    pub(crate) fn locate(&self, value: f64) -> Target<'_> {
        let abs = value.abs();
        // One comparison for both: NaN is not above the threshold either.
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN's `false` is the point
        let (count, classic) = if !(abs > self.spec.zero_threshold) {
            (
                Some(if value.is_nan() {
                    &self.nan
                } else {
                    &self.zero
                }),
                None,
            )
        } else if value.is_sign_negative() {
            // Negative buckets (rare: most histograms measure durations and sizes) are left
            // to the slow path, which keeps this one short.
            (None, None)
        } else {
            let generation = self.current.load(Ordering::Acquire);
            match self
                .table(generation)
                .and_then(|table| table.find_positive(table.keys.key(abs)))
            {
                Some((count, tag)) => (Some(count), classic(tag)),
                None => (None, None),
            }
        };
        Target { count, classic }
    }

    /// Counts the observation `value` that [`NativeCell::locate`] found `target` for, beside
    /// the classic `bounds` (sorted; a new slot records the classic bucket of its native
    /// bucket) and their per-bucket `counts`; `index` is the observation's classic bucket. A
    /// bucket found in a table that a move has left since is still counted: renders merge
    /// every table. When [`Target::counts_classic`], the classic bucket is counted here (in
    /// the native slot that carries it, or in `counts`), else the caller counts it.
    #[inline]
    pub(crate) fn commit(
        &self,
        target: &Target<'_>,
        value: f64,
        bounds: &[f64],
        counts: &[AtomicU64],
        index: usize,
    ) {
        match target.count {
            Some(count) => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            None => self.observe_new(value, bounds, counts, index),
        }
    }

    /// Counts one observation beside classic `bounds` and their `counts`, as a histogram
    /// cell does.
    #[cfg(test)]
    pub(crate) fn observe(&self, value: f64, bounds: &[f64], counts: &[AtomicU64]) {
        let target = self.locate(value);
        let index = target.classic.unwrap_or_else(|| {
            bounds
                .iter()
                .position(|le| value <= *le)
                .unwrap_or(bounds.len())
        });
        if !target.counts_classic() {
            add_one(counts, index);
        }
        self.commit(&target, value, bounds, counts, index);
    }

    /// Counts an observation of a finite or infinite `value` outside the zero bucket that
    /// [`NativeCell::locate`] did not find (a negative one, or one whose bucket is new): finds
    /// its bucket or claims its slot, moving to a new table when
    /// this one is crowded, over budget or full. Counts classic bucket `index` in `counts`
    /// unless the slot it adds to carries it.
    #[cold]
    #[inline(never)]
    fn observe_new(&self, value: f64, bounds: &[f64], counts: &[AtomicU64], index: usize) {
        let abs = value.abs();
        let negative = value < 0.0;
        loop {
            let generation = self.current.load(Ordering::Acquire);
            let Some(table) = self.table(generation) else {
                add_one(counts, index);
                return;
            };
            let key = table.keys.key(abs);
            let tag = tag(negative, key);
            // Negative observations are mostly of buckets the table has: found without
            // working out `classic_bits`.
            if let Some((count, found)) = table.find(tag) {
                count.fetch_add(1, Ordering::Relaxed);
                if classic(found).is_none() {
                    add_one(counts, index);
                }
                return;
            }
            let bits = classic_bits(bounds, &table.keys, negative, key);
            match table.add(tag, bits, 1) {
                Added::Existing(found) => {
                    if classic(found).is_none() {
                        add_one(counts, index);
                    }
                    return;
                }
                Added::Claimed => {
                    if classic(bits).is_none() {
                        add_one(counts, index);
                    }
                    if table.crowded() || self.over_budget(table) {
                        self.advance(generation, bounds, counts);
                    }
                    return;
                }
                Added::Full => {
                    if !self.advance(generation, bounds, counts) {
                        // No table left to move to: only values spread across the whole
                        // range of `f64` get here; the observation stays in the count.
                        self.nan.fetch_add(1, Ordering::Relaxed);
                        add_one(counts, index);
                        return;
                    }
                }
            }
        }
    }

    /// Moves from table `from` to new tables (a lower schema past the budget, twice the
    /// slots when crowded) until the current one fits. Whether the current table changed.
    /// A count whose old slot carried a classic bucket and whose new one does not (a classic
    /// bound splits the merged bucket) is added to that bucket in `counts`; one that a new
    /// slot could not carry as the old one did stays where it was.
    #[cold]
    fn advance(&self, from: u8, bounds: &[f64], counts: &[AtomicU64]) -> bool {
        let _guard = self.moving.lock().unwrap_or_else(PoisonError::into_inner);
        let mut generation = self.current.load(Ordering::Acquire);
        if generation != from {
            return true; // another observation moved it already
        }
        let mut moved = false;
        loop {
            let Some(old) = self.table(generation) else {
                return moved;
            };
            let (schema, capacity) =
                if self.over_budget(old) && old.schema > NativeHistogram::MIN_SCHEMA {
                    (old.schema - 1, old.slots.len())
                } else if (old.crowded() || self.over_budget(old))
                    && old.slots.len() < self.max_capacity
                {
                    (old.schema, old.slots.len() * 2)
                } else {
                    return moved;
                };
            let next = generation.saturating_add(1);
            self.later.get_or_init(Box::default);
            let Some(slot) = self.later_slot(next) else {
                return moved;
            };
            let new = slot.get_or_init(|| Table::new(schema, capacity));
            self.current.store(next, Ordering::Release);
            for slot in &old.slots {
                let tag = slot.tag.load(Ordering::Acquire);
                if tag == 0 {
                    continue;
                }
                let (negative, key) = untag(tag);
                let key = lower(key, old.schema - schema);
                let bits = classic_bits(bounds, &new.keys, negative, key);
                let (was, will) = (classic(tag), classic(bits));
                if will.is_some() && will != was {
                    // Cannot happen (a bucket inside one classic bucket is made of buckets
                    // inside it), but were it to, the count stays where it is counted right.
                    continue;
                }
                let n = slot.count.swap(0, Ordering::AcqRel);
                if n == 0 {
                    continue;
                }
                if let Added::Full = new.add(self::tag(negative, key), bits, n) {
                    // Kept where it was: renders merge every table.
                    slot.count.fetch_add(n, Ordering::Relaxed);
                } else if let (Some(c), None) = (was, will)
                    && let Some(count) = counts.get(c)
                {
                    count.fetch_add(n, Ordering::Relaxed);
                }
            }
            generation = next;
            moved = true;
        }
    }

    /// The classic per-bucket counts now: `counts` plus the native counts that carry a
    /// classic bucket, from every table used, read while no move is under way, so no count is
    /// caught between a slot and `counts` and none goes down from one scrape to the next.
    pub(crate) fn classic_snapshot(&self, counts: &[AtomicU64], out: &mut Vec<u64>) {
        let _guard = self.moving.lock().unwrap_or_else(PoisonError::into_inner);
        out.clear();
        out.extend(counts.iter().map(|c| c.load(Ordering::Relaxed)));
        let current = self.current.load(Ordering::Acquire);
        for generation in 0..=current {
            let Some(table) = self.used_table(generation) else {
                continue;
            };
            for slot in &table.slots {
                let tag = slot.tag.load(Ordering::Acquire);
                if let Some(total) = classic(tag).and_then(|c| out.get_mut(c)) {
                    *total += slot.count.load(Ordering::Relaxed);
                }
            }
        }
    }

    /// Table `generation` if it was made, without making the first.
    fn used_table(&self, generation: u8) -> Option<&Table> {
        if generation == 0 {
            self.first.get()
        } else {
            self.later_slot(generation).and_then(OnceLock::get)
        }
    }

    /// The buckets now, merged from every table used, at the current schema. Taken while no
    /// move is under way, so no count is caught between two tables: counts never go down
    /// from one scrape to the next (Prometheus would read that as a reset).
    pub(crate) fn snapshot(&self) -> Snapshot {
        let _guard = self.moving.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.current.load(Ordering::Acquire);
        let schema = self.table(current).map_or(self.spec.schema, |t| t.schema);
        let mut positive = Vec::new();
        let mut negative = Vec::new();
        for generation in 0..=current {
            let Some(table) = self.used_table(generation) else {
                continue;
            };
            for slot in &table.slots {
                let tag = slot.tag.load(Ordering::Acquire);
                let n = slot.count.load(Ordering::Relaxed);
                if tag == 0 || n == 0 {
                    continue;
                }
                let (neg, key) = untag(tag);
                let key = lower(key, table.schema - schema);
                if neg {
                    negative.push((key, n));
                } else {
                    positive.push((key, n));
                }
            }
        }
        Snapshot {
            schema,
            zero_count: self.zero.load(Ordering::Relaxed),
            nan_count: self.nan.load(Ordering::Relaxed),
            positive: merge(positive),
            negative: merge(negative),
        }
    }
}

/// Adds one to classic bucket `index`.
fn add_one(counts: &[AtomicU64], index: usize) {
    if let Some(count) = counts.get(index) {
        count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sorts by bucket and adds up the counts of equal buckets.
fn merge(mut buckets: Vec<(i32, u64)>) -> Vec<(i32, u64)> {
    buckets.sort_unstable_by_key(|(k, _)| *k);
    let mut out: Vec<(i32, u64)> = Vec::with_capacity(buckets.len());
    for (k, n) in buckets {
        match out.last_mut() {
            Some((last, sum)) if *last == k => *sum += n,
            _ => out.push((k, n)),
        }
    }
    out
}

#[cfg(test)]
mod tests;
