//! The native-histogram half of a histogram cell: sparse exponential buckets.
//!
//! Recording is lock-free: the current table, an open-addressing table of (bucket, count)
//! slots, is found through an atomic generation number; an observation finds or claims its
//! bucket's slot and adds one. A table starts small. When its populated buckets pass the
//! budget, the schema is lowered by one (each bucket merged with its neighbour, as
//! `client_golang` does); when they fill three quarters of it, it doubles. Either way a new
//! table becomes current and the counts of the old one are moved into it. An observation that
//! raced with the move and landed in the old table is not lost: a render merges every table
//! the cell has used, mapped to the current schema.

use crate::catalog::NativeHistogram;
use crate::validate::MAX_NATIVE_BUCKETS;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

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

#[derive(Debug)]
struct Slot {
    /// 0: empty; else [`tag`] of the bucket.
    tag: AtomicU64,
    count: AtomicU64,
}

#[derive(Debug)]
struct Table {
    schema: i8,
    /// The bounds of one octave at `schema`, for a positive schema.
    octave: Option<&'static Octave>,
    slots: Box<[Slot]>,
    mask: usize,
    /// Populated buckets.
    used: AtomicU32,
}

/// What adding to a table did.
enum Added {
    /// To a bucket already there.
    Existing,
    /// To a bucket this call claimed.
    Claimed,
    /// Nowhere: the table is full.
    Full,
}

#[inline]
fn tag(negative: bool, key: i32) -> u64 {
    (1 << 33) | (u64::from(negative) << 32) | u64::from(key.cast_unsigned())
}

fn untag(tag: u64) -> (bool, i32) {
    #[allow(clippy::cast_possible_truncation)] // the low 32 bits are the key
    let key = (tag as u32).cast_signed();
    (tag & (1 << 32) != 0, key)
}

impl Table {
    fn new(schema: i8, capacity: usize) -> Self {
        let slots = (0..capacity)
            .map(|_| Slot {
                tag: AtomicU64::new(0),
                count: AtomicU64::new(0),
            })
            .collect();
        Self {
            schema,
            octave: (schema > 0).then(|| Octave::of(schema)),
            slots,
            mask: capacity - 1,
            used: AtomicU32::new(0),
        }
    }

    fn used(&self) -> usize {
        usize::try_from(self.used.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// Whether the populated buckets fill more than three quarters of the slots.
    fn crowded(&self) -> bool {
        self.used().saturating_mul(4) > self.slots.len() * 3
    }

    #[inline]
    fn add(&self, tag: u64, n: u64) -> Added {
        let hash = (tag ^ (tag >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        #[allow(clippy::cast_possible_truncation)] // the top bits, masked below
        let mut at = (hash >> 40) as usize;
        for _ in 0..self.slots.len() {
            at &= self.mask;
            let Some(slot) = self.slots.get(at) else {
                return Added::Full;
            };
            let found = slot.tag.load(Ordering::Acquire);
            if found == tag {
                slot.count.fetch_add(n, Ordering::Relaxed);
                return Added::Existing;
            }
            if found == 0 {
                match slot
                    .tag
                    .compare_exchange(0, tag, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        slot.count.fetch_add(n, Ordering::Relaxed);
                        self.used.fetch_add(1, Ordering::Relaxed);
                        return Added::Claimed;
                    }
                    Err(other) if other == tag => {
                        slot.count.fetch_add(n, Ordering::Relaxed);
                        return Added::Existing;
                    }
                    Err(_) => {}
                }
            }
            at += 1;
        }
        Added::Full
    }
}

/// The bucket of `abs` (positive, finite or infinite, not NaN) at `schema`: the `i` with
/// `2^((i-1)/2^schema) < abs <= 2^(i/2^schema)`, computed from the binary exponent and
/// mantissa as `client_golang` does, so boundaries are exact.
#[cfg(test)]
pub(crate) fn key(abs: f64, schema: i8) -> i32 {
    key_in(abs, schema, (schema > 0).then(|| Octave::of(schema)))
}

/// [`key`], with the octave of a positive `schema` at hand.
#[inline]
fn key_in(abs: f64, schema: i8, octave: Option<&Octave>) -> i32 {
    // Infinity goes past the bucket of `f64::MAX`.
    let past = i32::from(abs.is_infinite());
    let (frac, exp) = frexp(abs.min(f64::MAX));
    let key = if let Some(octave) = octave {
        let found = i32::try_from(octave.search(frac)).unwrap_or(i32::MAX);
        found + (exp - 1) * (1_i32 << schema)
    } else {
        let mut k = exp;
        if frac == 0.5 {
            k -= 1;
        }
        let shift = -i32::from(schema);
        let offset = (1_i32 << shift) - 1;
        (k + offset) >> shift
    };
    key + past
}

/// `(frac, exp)` with `abs = frac * 2^exp` and `frac` in `[0.5, 1)`, for a positive finite
/// `abs` (Go's `math.Frexp`).
#[inline]
fn frexp(abs: f64) -> (f64, i32) {
    const MANTISSA: u64 = (1 << 52) - 1;
    // A subnormal is scaled into the normal range first.
    let (abs, adjust) = if abs < f64::MIN_POSITIVE {
        (abs * 2f64.powi(64), -64)
    } else {
        (abs, 0)
    };
    let bits = abs.to_bits();
    #[allow(clippy::cast_possible_truncation)] // 11 bits
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = f64::from_bits((bits & MANTISSA) | (1022 << 52));
    (frac, biased - 1022 + adjust)
}

/// The bucket bounds of one octave at a positive schema, and a grid to find among them in
/// one step.
#[derive(Debug)]
struct Octave {
    schema: i8,
    /// `2^(j/2^schema - 1)` for `j` in `0..2^schema`, then `+Inf`.
    bounds: Vec<f64>,
    /// For each of `2^(schema+2)` equal cells of the mantissa, the bounds below the cell's
    /// start. Bounds are more than two cells apart, so a cell holds at most one.
    grid: Vec<u16>,
}

impl Octave {
    fn of(schema: i8) -> &'static Octave {
        static ALL: OnceLock<Vec<Octave>> = OnceLock::new();
        let all = ALL.get_or_init(|| (1..=NativeHistogram::MAX_SCHEMA).map(Octave::new).collect());
        let at = usize::try_from(schema - 1).unwrap_or(0);
        all.get(at)
            .or(all.first())
            .unwrap_or_else(|| unreachable!())
    }

    fn new(schema: i8) -> Self {
        let n = 1_u32 << schema;
        let mut bounds: Vec<f64> = (0..n)
            .map(|j| (f64::from(j) / f64::from(n) - 1.0).exp2())
            .collect();
        bounds.push(f64::INFINITY);
        let cells = 1_u32 << (schema + 2);
        let grid = (0..cells)
            .map(|c| {
                let start = 0.5 * (1.0 + f64::from(c) / f64::from(cells));
                u16::try_from(bounds.partition_point(|b| *b < start)).unwrap_or(u16::MAX)
            })
            .collect();
        Self {
            schema,
            bounds,
            grid,
        }
    }

    /// The bounds below `frac` (in `[0.5, 1)`): `bounds.partition_point(|b| b < frac)`.
    #[inline]
    fn search(&self, frac: f64) -> usize {
        let shift = 52 - i32::from(self.schema) - 2;
        let cell = usize::try_from((frac.to_bits() & ((1 << 52) - 1)) >> shift).unwrap_or(0);
        let below = self.grid.get(cell).map_or(0, |b| usize::from(*b));
        below + usize::from(self.bounds.get(below).is_some_and(|b| *b < frac))
    }
}

/// `key` at a schema `by` steps lower: `ceil(key / 2^by)`.
#[inline]
fn lower(key: i32, by: i8) -> i32 {
    let by = i32::from(by);
    (key + (1 << by) - 1) >> by
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

    /// Counts one observation.
    #[inline]
    pub(crate) fn observe(&self, value: f64) {
        if value.is_nan() {
            self.nan.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let abs = value.abs();
        if abs <= self.spec.zero_threshold {
            self.zero.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let negative = value < 0.0;
        loop {
            let generation = self.current.load(Ordering::Acquire);
            let Some(table) = self.table(generation) else {
                return;
            };
            let key = key_in(abs, table.schema, table.octave);
            match table.add(tag(negative, key), 1) {
                Added::Existing => return,
                Added::Claimed => {
                    if table.crowded() || self.over_budget(table) {
                        self.advance(generation);
                    }
                    return;
                }
                Added::Full => {
                    if !self.advance(generation) {
                        // No table left to move to: only values spread across the whole
                        // range of `f64` get here; the observation stays in the count.
                        self.nan.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
    }

    /// Moves from table `from` to new tables (a lower schema past the budget, twice the
    /// slots when crowded) until the current one fits. Whether the current table changed.
    #[cold]
    fn advance(&self, from: u8) -> bool {
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
                let n = slot.count.swap(0, Ordering::AcqRel);
                if n == 0 {
                    continue;
                }
                let (negative, key) = untag(tag);
                let key = lower(key, old.schema - schema);
                if let Added::Full = new.add(self::tag(negative, key), n) {
                    // Kept where it was: renders merge every table.
                    slot.count.fetch_add(n, Ordering::Relaxed);
                }
            }
            generation = next;
            moved = true;
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
            let table = if generation == 0 {
                self.first.get()
            } else {
                self.later_slot(generation).and_then(OnceLock::get)
            };
            let Some(table) = table else {
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
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_bucket_boundaries_of_every_schema() {
        // Powers of two sit on a boundary at every schema: 1 is the top of bucket 0.
        for schema in NativeHistogram::MIN_SCHEMA..=NativeHistogram::MAX_SCHEMA {
            assert_eq!(key(1.0, schema), 0, "schema {schema}");
        }
        assert_eq!(key(2.0, 0), 1);
        assert_eq!(key(2.1, 0), 2);
        assert_eq!(key(0.5, 0), -1);
        assert_eq!(key(3.0, 1), 4); // (2^(3/2), 2^2] = (2.83, 4]
        assert_eq!(key(2.0, 3), 8);
        assert_eq!(key(1.1, 3), 2); // (2^(1/8), 2^(2/8)] = (1.09, 1.19]
        assert_eq!(key(4.0, -1), 1); // (1, 4]
        assert_eq!(key(5.0, -1), 2); // (4, 16]
        assert_eq!(key(1e-310, 0), -1029); // subnormal: 2^-1030 < 1e-310 <= 2^-1029
        // A key at a lower schema is the ceiling of half the key.
        for v in [0.001, 0.3, 1.0, 1.5, 7.0, 1234.5] {
            for s in (NativeHistogram::MIN_SCHEMA + 1)..=NativeHistogram::MAX_SCHEMA {
                assert_eq!(key(v, s - 1), lower(key(v, s), 1), "{v} at {s}");
            }
        }
    }

    #[test]
    fn the_grid_finds_what_a_binary_search_finds() {
        for schema in 1..=NativeHistogram::MAX_SCHEMA {
            let octave = Octave::of(schema);
            assert_eq!(octave.schema, schema);
            let n = octave.bounds.len() - 1;
            let mut probes: Vec<f64> = (0..20_000).map(|i| 0.5 + f64::from(i) / 40_000.0).collect();
            for b in &octave.bounds[..n] {
                probes.extend([*b, b.next_down(), b.next_up()]);
            }
            for frac in probes.into_iter().filter(|f| (0.5..1.0).contains(f)) {
                let expected = octave.bounds.partition_point(|b| *b < frac);
                assert_eq!(octave.search(frac), expected, "{frac} at schema {schema}");
            }
        }
    }

    #[test]
    fn tables_grow_before_the_schema_drops() {
        let cell = NativeCell::new(NativeHistogram {
            schema: 3,
            zero_threshold: 0.0,
            max_buckets: 40,
        });
        // 30 buckets at schema 3: more than 12 crowd the first table, which doubles twice.
        for i in 0..30 {
            cell.observe(2f64.powf(f64::from(i) / 8.0));
        }
        let s = cell.snapshot();
        assert_eq!(s.schema, 3);
        assert_eq!(s.positive, (0..30).map(|k| (k, 1)).collect::<Vec<_>>());
        // Past 40 buckets, the schema drops: 45 buckets at 3 are 23 at 2.
        for i in 30..45 {
            cell.observe(2f64.powf(f64::from(i) / 8.0));
        }
        let s = cell.snapshot();
        assert_eq!(s.schema, 2);
        assert_eq!(s.count(), 45);
        assert_eq!(s.positive.len(), 23);
        assert_eq!(s.positive[0], (0, 1));
        assert_eq!(s.positive[1], (1, 2));
    }

    #[test]
    fn concurrent_observations_across_moves_are_all_counted() {
        let cell = NativeCell::new(NativeHistogram {
            schema: 8,
            zero_threshold: 1e-9,
            max_buckets: 20,
        });
        let threads = 4;
        let per_thread = 20_000u32;
        std::thread::scope(|scope| {
            for t in 0..threads {
                let cell = &cell;
                scope.spawn(move || {
                    for i in 0..per_thread {
                        // Spread over twelve decades, both signs, some in the zero bucket.
                        let v = 1e-6 * 10f64.powf(f64::from((i * 7 + t) % 1200) / 100.0);
                        cell.observe(if i % 3 == 0 { -v } else { v });
                        if i % 5 == 0 {
                            cell.observe(0.0);
                        }
                    }
                });
            }
            // Snapshots while the schema drops: the count only grows.
            let mut last = 0;
            for _ in 0..200 {
                let count = cell.snapshot().count();
                assert!(count >= last, "{count} after {last}");
                last = count;
            }
        });
        let s = cell.snapshot();
        let observed = u64::from(per_thread) * 4;
        assert_eq!(s.count(), observed + observed / 5);
        assert_eq!(s.zero_count, observed / 5);
        assert_eq!(s.nan_count, 0);
        assert!(s.positive.len() + s.negative.len() <= 20, "{s:?}");
        assert!(s.schema < 8);
    }

    #[test]
    fn frexp_is_gos() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(3.0), (0.75, 2));
        assert_eq!(frexp(0.1), (0.8, -3));
    }
}
