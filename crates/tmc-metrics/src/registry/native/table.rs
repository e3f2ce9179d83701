//! One table of a native cell: an open-addressing table of (bucket, count) slots at one
//! schema, found and claimed with atomics alone.
//!
//! A slot's tag names its bucket (sign and key) and, when every value of the bucket falls in
//! one classic bucket, that bucket's index too: a lookup that finds the native bucket has the
//! classic one with it and skips the scan of the classic bounds.

use super::key::Keys;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The bits of a tag that name the bucket: the key (0..32), the sign (32) and the mark of
/// a used slot (33).
const BUCKET: u64 = (1 << 34) - 1;

/// Where a tag keeps its classic bucket's index plus one (0: not one classic bucket).
const CLASSIC_SHIFT: u32 = 40;

/// The most classic bounds whose index fits a tag.
const CLASSIC_MAX: usize = (1 << 16) - 2;

#[derive(Debug)]
pub(super) struct Slot {
    /// 0: empty; else [`tag`] of the bucket, with its classic bucket.
    pub(super) tag: AtomicU64,
    pub(super) count: AtomicU64,
}

#[derive(Debug)]
pub(super) struct Table {
    pub(super) schema: i8,
    /// How to find a bucket at `schema`.
    pub(super) keys: Keys,
    pub(super) slots: Box<[Slot]>,
    mask: usize,
    /// Populated buckets.
    used: AtomicU32,
}

/// What adding to a table did.
pub(super) enum Added {
    /// To a bucket already there: its slot's tag.
    Existing(u64),
    /// To a bucket this call claimed.
    Claimed,
    /// Nowhere: the table is full.
    Full,
}

/// The bucket part of a tag.
#[inline]
pub(super) fn tag(negative: bool, key: i32) -> u64 {
    (1 << 33) | (u64::from(negative) << 32) | u64::from(key.cast_unsigned())
}

/// The sign and key of a tag.
pub(super) fn untag(tag: u64) -> (bool, i32) {
    #[allow(clippy::cast_possible_truncation)] // the low 32 bits are the key
    let key = (tag as u32).cast_signed();
    (tag & (1 << 32) != 0, key)
}

/// The classic bucket of a tag, if every value of its native bucket falls in one.
#[inline]
pub(super) fn classic(tag: u64) -> Option<usize> {
    #[allow(clippy::cast_possible_truncation)] // 16 bits
    let plus_one = ((tag >> CLASSIC_SHIFT) & 0xffff) as usize;
    plus_one.checked_sub(1)
}

/// The classic bits of a tag for the native bucket `key` (positive, at `keys`' schema): the
/// index of the classic bucket (of sorted `bounds`, `+Inf` after the last) that every value
/// of the native bucket falls in, plus one; 0 when a bound splits the native bucket, for a
/// negative bucket, or for bounds a tag cannot hold. Exact at the boundaries: it compares keys,
/// which are exact, never bounds computed in floating point.
pub(super) fn classic_bits(bounds: &[f64], keys: &Keys, negative: bool, key: i32) -> u64 {
    if negative || bounds.len() > CLASSIC_MAX {
        return 0;
    }
    // A value `v` of the bucket lands in classic bucket `#{b < v}`: the bounds of lower keys
    // count, those of higher keys do not, nor does a bound that is the bucket's top.
    let mut below: u64 = 0;
    for b in bounds {
        if b.is_nan() {
            return 0;
        }
        if *b <= 0.0 {
            below += 1;
            continue;
        }
        let at = keys.key(*b);
        if at < key {
            below += 1;
        } else if at == key && keys.key(b.next_up()) == key {
            return 0; // inside the bucket, not its top: it splits the bucket
        }
    }
    (below + 1) << CLASSIC_SHIFT
}

impl Table {
    pub(super) fn new(schema: i8, capacity: usize) -> Self {
        let slots = (0..capacity)
            .map(|_| Slot {
                tag: AtomicU64::new(0),
                count: AtomicU64::new(0),
            })
            .collect();
        Self {
            schema,
            keys: Keys::of(schema),
            slots,
            mask: capacity - 1,
            used: AtomicU32::new(0),
        }
    }

    pub(super) fn used(&self) -> usize {
        usize::try_from(self.used.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// Whether the populated buckets fill more than three quarters of the slots.
    pub(super) fn crowded(&self) -> bool {
        self.used().saturating_mul(4) > self.slots.len() * 3
    }

    /// The slot where a bucket's search starts: its key itself, the negative buckets half
    /// the table away. Neighbouring buckets (most observations land in a run of them) take
    /// neighbouring slots, so a lookup finds its bucket at the first slot it reads: no hash
    /// to compute, no collision among a run shorter than the table.
    #[inline]
    fn home(&self, tag: u64) -> usize {
        #[allow(clippy::cast_possible_truncation)] // the key's 32 bits, masked below
        let key = tag as u32 as usize;
        let negative = usize::from(tag & (1 << 32) != 0);
        key.wrapping_add(negative * (self.slots.len() >> 1)) & self.mask
    }

    /// The count and the full tag of the positive bucket `key`, if the table has it: its
    /// home slot read inline (most lookups end there), the probe past it out of line (a
    /// bucket whose home slot another took: keys a table's size apart, as an outlier's).
    #[inline]
    pub(super) fn find_positive(&self, key: i32) -> Option<(&AtomicU64, u64)> {
        let home = key.cast_unsigned() as usize & self.mask;
        let slot = self.slots.get(home)?;
        let found = slot.tag.load(Ordering::Acquire);
        let want = tag(false, key);
        if found & BUCKET == want {
            Some((&slot.count, found))
        } else if found == 0 {
            None
        } else {
            self.probe(want, home)
        }
    }

    /// [`Table::find`] past the home slot.
    #[cold]
    #[inline(never)]
    fn probe(&self, tag: u64, home: usize) -> Option<(&AtomicU64, u64)> {
        self.find_from(tag, home, 1)
    }

    /// The count and the full tag of bucket `tag`, if the table has the bucket; reads only.
    pub(super) fn find(&self, tag: u64) -> Option<(&AtomicU64, u64)> {
        self.find_from(tag, self.home(tag), 0)
    }

    /// [`Table::find`] from `step` slots past `home`.
    fn find_from(&self, tag: u64, home: usize, step: usize) -> Option<(&AtomicU64, u64)> {
        for step in step..self.slots.len() {
            let slot = self.slots.get(home.wrapping_add(step) & self.mask)?;
            let found = slot.tag.load(Ordering::Acquire);
            if found & BUCKET == tag {
                return Some((&slot.count, found));
            }
            if found == 0 {
                return None;
            }
        }
        None
    }

    /// Adds `n` to bucket `tag`, claiming a slot for it (tagged with `classic`, its
    /// [`classic_bits`]) if it has none.
    pub(super) fn add(&self, tag: u64, classic: u64, n: u64) -> Added {
        let mut at = self.home(tag);
        for _ in 0..self.slots.len() {
            at &= self.mask;
            let Some(slot) = self.slots.get(at) else {
                return Added::Full;
            };
            let found = slot.tag.load(Ordering::Acquire);
            if found & BUCKET == tag {
                slot.count.fetch_add(n, Ordering::Relaxed);
                return Added::Existing(found);
            }
            if found == 0 {
                match slot.tag.compare_exchange(
                    0,
                    tag | classic,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        slot.count.fetch_add(n, Ordering::Relaxed);
                        self.used.fetch_add(1, Ordering::Relaxed);
                        return Added::Claimed;
                    }
                    Err(other) if other & BUCKET == tag => {
                        slot.count.fetch_add(n, Ordering::Relaxed);
                        return Added::Existing(other);
                    }
                    Err(_) => {}
                }
            }
            at += 1;
        }
        Added::Full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_native_bucket_knows_its_classic_bucket_unless_a_bound_splits_it() {
        let bounds = [0.005, 0.01, 0.25, 1.0, 2.5];
        let keys = Keys::of(3);
        let of = |v: f64| classic(classic_bits(&bounds, &keys, false, keys.key(v)));
        // The classic bucket of every value in the native bucket: what a scan finds.
        let scan = |v: f64| bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        for v in [0.001, 0.02, 0.1, 0.3, 0.9, 1.5, 3.0, 1e6] {
            assert_eq!(of(v), Some(scan(v)), "{v}");
        }
        // Powers of two are the tops of native buckets: 0.25 and 1 split none.
        assert_eq!(of(0.25), Some(2));
        assert_eq!(of(0.25f64.next_up()), Some(3));
        assert_eq!(of(1.0), Some(3));
        // 0.005, 0.01 and 2.5 lie inside native buckets: those have no one classic bucket.
        for v in [0.005, 0.01, 2.5] {
            assert_eq!(of(v), None, "{v}");
            assert_eq!(of(v.next_up()), None, "{v}");
        }
        // Negative buckets are left to the scan.
        assert_eq!(classic(classic_bits(&bounds, &keys, true, 0)), None);
        // No bounds: everything is in `+Inf`, bucket 0.
        assert_eq!(classic(classic_bits(&[], &keys, false, 5)), Some(0));
    }
}
