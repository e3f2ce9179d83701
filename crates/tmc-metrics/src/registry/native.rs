//! The native-histogram half of a histogram cell: sparse exponential buckets.
//!
//! Recording is lock-free: the cell keeps one open-addressing table of (bucket, count) slots
//! per schema it has used; an observation reads the current schema, finds or claims its
//! bucket's slot and adds one. When more buckets than the budget are populated, the schema is
//! lowered by one (each bucket merged with its neighbour, as `client_golang` does): a new
//! table at the lower schema becomes current and the counts of the old one are moved into it.
//! An observation that raced with the move and landed in the old table is not lost: a render
//! merges every table the cell has used, mapped to the current schema.

use crate::catalog::NativeHistogram;
use std::sync::atomic::{AtomicI8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Tables per cell: one per schema from [`NativeHistogram::MAX_SCHEMA`] down to
/// [`NativeHistogram::MIN_SCHEMA`].
const SCHEMAS: usize = 13;

/// The native buckets of one series.
#[derive(Debug)]
pub(crate) struct NativeCell {
    spec: NativeHistogram,
    schema: AtomicI8,
    tables: [OnceLock<Table>; SCHEMAS],
    zero: AtomicU64,
    nan: AtomicU64,
    /// Serialises schema reductions (rare).
    reducing: Mutex<()>,
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
    fn new(schema: i8, max_buckets: u32) -> Self {
        // Room for the budget and half again, so probes stay short before a reduction.
        let want = usize::try_from(max_buckets).unwrap_or(usize::MAX);
        let capacity = want
            .saturating_add(want / 2)
            .saturating_add(1)
            .next_power_of_two()
            .max(16);
        let slots = (0..capacity)
            .map(|_| Slot {
                tag: AtomicU64::new(0),
                count: AtomicU64::new(0),
            })
            .collect();
        Self {
            schema,
            slots,
            mask: capacity - 1,
            used: AtomicU32::new(0),
        }
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
#[inline]
pub(crate) fn key(abs: f64, schema: i8) -> i32 {
    if abs.is_infinite() {
        // Past the bucket of `f64::MAX`.
        return key(f64::MAX, schema).saturating_add(1);
    }
    let (frac, exp) = frexp(abs);
    if schema > 0 {
        let bounds = bounds(schema);
        let found = i32::try_from(bounds.partition_point(|b| *b < frac)).unwrap_or(i32::MAX);
        let per_octave = 1_i32 << schema;
        found + (exp - 1) * per_octave
    } else {
        let mut k = exp;
        if frac == 0.5 {
            k -= 1;
        }
        let shift = -i32::from(schema);
        let offset = (1_i32 << shift) - 1;
        (k + offset) >> shift
    }
}

/// `(frac, exp)` with `abs = frac * 2^exp` and `frac` in `[0.5, 1)`, for a positive finite
/// `abs` (Go's `math.Frexp`).
#[inline]
fn frexp(abs: f64) -> (f64, i32) {
    const MANTISSA: u64 = (1 << 52) - 1;
    let bits = abs.to_bits();
    #[allow(clippy::cast_possible_truncation)] // 11 bits
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (frac, exp) = frexp(abs * 2f64.powi(64));
        return (frac, exp - 64);
    }
    let frac = f64::from_bits((bits & MANTISSA) | (1022 << 52));
    (frac, biased - 1022)
}

/// The mantissa bounds of the buckets of one octave at a positive schema: `2^(j/2^schema - 1)`
/// for `j` in `0..2^schema`.
fn bounds(schema: i8) -> &'static [f64] {
    static BOUNDS: OnceLock<Vec<Vec<f64>>> = OnceLock::new();
    let all = BOUNDS.get_or_init(|| {
        (0..=NativeHistogram::MAX_SCHEMA)
            .map(|s| {
                let n = 1_u32 << s;
                (0..n)
                    .map(|j| (f64::from(j) / f64::from(n) - 1.0).exp2())
                    .collect()
            })
            .collect()
    });
    usize::try_from(schema)
        .ok()
        .and_then(|s| all.get(s))
        .map_or(&[], Vec::as_slice)
}

/// `key` at a schema `by` steps lower: `ceil(key / 2^by)`.
#[inline]
fn lower(key: i32, by: i8) -> i32 {
    let by = i32::from(by);
    (key + (1 << by) - 1) >> by
}

fn index(schema: i8) -> usize {
    usize::try_from(NativeHistogram::MAX_SCHEMA - schema).unwrap_or(0)
}

impl NativeCell {
    pub(crate) fn new(spec: NativeHistogram) -> Self {
        Self {
            spec,
            schema: AtomicI8::new(spec.schema),
            tables: Default::default(),
            zero: AtomicU64::new(0),
            nan: AtomicU64::new(0),
            reducing: Mutex::new(()),
        }
    }

    pub(crate) fn spec(&self) -> NativeHistogram {
        self.spec
    }

    fn table(&self, schema: i8) -> Option<&Table> {
        let max = self.spec.max_buckets;
        self.tables
            .get(index(schema))
            .map(|t| t.get_or_init(|| Table::new(schema, max)))
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
            let schema = self.schema.load(Ordering::Acquire);
            let Some(table) = self.table(schema) else {
                return;
            };
            match table.add(tag(negative, key(abs, schema)), 1) {
                Added::Existing => return,
                Added::Claimed => {
                    if table.used.load(Ordering::Relaxed) > self.spec.max_buckets {
                        self.reduce(schema);
                    }
                    return;
                }
                Added::Full if schema > NativeHistogram::MIN_SCHEMA => self.reduce(schema),
                // Every slot taken at the widest buckets: only values spread across the
                // whole range of `f64` get here; the observation stays in the count.
                Added::Full => {
                    self.nan.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// Lowers the schema from `from` until the populated buckets fit the budget.
    #[cold]
    fn reduce(&self, from: i8) {
        let _guard = self.reducing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut schema = self.schema.load(Ordering::Acquire);
        if schema != from {
            return; // another observation reduced it already
        }
        while schema > NativeHistogram::MIN_SCHEMA {
            let (Some(old), Some(new)) = (self.table(schema), self.table(schema - 1)) else {
                return;
            };
            self.schema.store(schema - 1, Ordering::Release);
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
                if let Added::Full = new.add(self::tag(negative, lower(key, 1)), n) {
                    // Kept where it was: renders merge every table.
                    slot.count.fetch_add(n, Ordering::Relaxed);
                }
            }
            schema -= 1;
            if new.used.load(Ordering::Relaxed) <= self.spec.max_buckets {
                return;
            }
        }
    }

    /// The buckets now, merged from every table used, at the current schema.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let schema = self.schema.load(Ordering::Acquire);
        let mut positive = Vec::new();
        let mut negative = Vec::new();
        for s in schema..=NativeHistogram::MAX_SCHEMA {
            let Some(table) = self.tables.get(index(s)).and_then(OnceLock::get) else {
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
    fn frexp_is_gos() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(3.0), (0.75, 2));
        assert_eq!(frexp(0.1), (0.8, -3));
    }
}
