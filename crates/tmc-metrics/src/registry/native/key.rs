//! The bucket of a value at a schema: exact at the boundaries, as `client_golang` computes
//! it, from the binary exponent and a one-step lookup in the mantissa.

use crate::catalog::NativeHistogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

/// The bucket of `abs` (positive, finite or infinite, not NaN) at `schema`: the `i` with
/// `2^((i-1)/2^schema) < abs <= 2^(i/2^schema)`, computed from the binary exponent and
/// mantissa as `client_golang` does, so boundaries are exact.
#[cfg(test)]
pub(super) fn key(abs: f64, schema: i8) -> i32 {
    Keys::of(schema).key(abs)
}

/// Finding a key at one schema, held by each table: made only by [`Keys::of`], which fills
/// [`GRIDS`] first.
#[derive(Debug, Clone, Copy)]
pub(super) struct Keys {
    schema: i8,
}

impl Keys {
    pub(super) fn of(schema: i8) -> Self {
        fill_grids();
        Self { schema }
    }

    /// The bucket of `abs` (positive, not NaN): the `i` with `2^((i-1)/2^schema) < abs <=
    /// 2^(i/2^schema)`.
    #[inline(always)]
    pub(super) fn key(&self, abs: f64) -> i32 {
        let bits = abs.to_bits();
        #[allow(clippy::cast_possible_truncation)] // 11 bits: `abs` has no sign bit
        let biased = (bits >> 52) as i32;
        // Zero and subnormals (0) and infinity (0x7ff), in one comparison.
        if biased.wrapping_sub(1).cast_unsigned() >= 0x7fe {
            return key_rare(abs, self.schema);
        }
        let mantissa = bits & MANTISSA;
        // Go's frexp: abs = frac * 2^exp with frac in [0.5, 1).
        let exp = biased - 1022;
        if self.schema > 0 {
            // The default schema with its constants: the grid cell's address is known from
            // the value alone, so its load does not wait for the table's fields (the branch
            // on the schema is predicted: a table's schema does not change). The others
            // through their offset in the grids.
            if self.schema == NativeHistogram::DEFAULT.schema {
                positive::<{ NativeHistogram::DEFAULT.schema }>(exp, mantissa)
            } else {
                in_octave(self.schema, exp, mantissa)
            }
        } else {
            // frac == 0.5 exactly: a power of two, the top of the bucket below.
            let k = exp - i32::from(mantissa == 0);
            let shift = -i32::from(self.schema);
            (k + (1_i32 << shift) - 1) >> shift
        }
    }
}

/// [`in_octave`] at a schema known when compiling: every constant is `S`'s.
#[inline(always)]
fn positive<const S: i8>(exp: i32, mantissa: u64) -> i32 {
    in_octave(S, exp, mantissa)
}

/// The key at positive `schema` (1 to 8) of the value with exponent `exp` (Go's frexp's)
/// and `mantissa`: the octave's buckets below it and the bounds below the mantissa in its
/// octave, from the mantissa's cell in [`GRIDS`].
#[inline(always)]
fn in_octave(schema: i8, exp: i32, mantissa: u64) -> i32 {
    // The grid's cells split the mantissa's top `schema + 2` bits.
    let shift = 50 - i32::from(schema);
    let at = usize::try_from(mantissa >> shift).unwrap_or(0);
    let cell = GRIDS
        .get(grid_offset(schema) + at)
        .map_or(0, |c| c.load(Ordering::Relaxed));
    #[allow(clippy::cast_possible_truncation)] // 9 bits
    let below = (cell >> 52) as i32;
    below + i32::from(mantissa > cell & MANTISSA) + (exp - 1) * (1_i32 << schema)
}

/// Where schema `schema`'s grid starts in [`GRIDS`]: after the `2^(s+2)` cells of each
/// schema `s` below it.
const fn grid_offset(schema: i8) -> usize {
    4 * ((1 << schema) - 2)
}

/// The grids of schemas 1 to 8 ([`Octave`]'s), one after the other, each cell packed in one
/// word: the bounds below the cell's start above bit 52, the next bound's mantissa below it
/// (all ones for `+Inf`, which no mantissa exceeds). In a static, a lookup finds its cell at
/// a constant address plus an offset from the value's bits, with no pointer to load first.
/// Filled once, by the first [`Keys::of`]: every [`Keys`] is made after it, and reaches the
/// thread that looks up through the table that holds it.
static GRIDS: [AtomicU64; grid_offset(NativeHistogram::MAX_SCHEMA + 1)] =
    [const { AtomicU64::new(0) }; grid_offset(NativeHistogram::MAX_SCHEMA + 1)];

/// Fills [`GRIDS`] once.
fn fill_grids() {
    static FILLED: Once = Once::new();
    FILLED.call_once(|| {
        for schema in 1..=NativeHistogram::MAX_SCHEMA {
            let cells = GRIDS.iter().skip(grid_offset(schema));
            for (packed, cell) in cells.zip(&Octave::of(schema).grid) {
                let next = if cell.next == u64::MAX {
                    MANTISSA
                } else {
                    cell.next
                };
                packed.store(u64::from(cell.below) << 52 | next, Ordering::Relaxed);
            }
        }
    });
}

/// The mantissa bits of an `f64`.
const MANTISSA: u64 = (1 << 52) - 1;

/// [`Keys::key`] for zero, subnormals and infinity, through [`frexp`].
#[cold]
#[inline(never)]
fn key_rare(abs: f64, schema: i8) -> i32 {
    let octave = (schema > 0).then(|| Octave::of(schema));
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
pub(super) struct Octave {
    schema: i8,
    /// `2^(j/2^schema - 1)` for `j` in `0..2^schema`, then `+Inf` (kept for the tests).
    #[cfg(test)]
    bounds: Vec<f64>,
    /// For each of `2^(schema+2)` equal cells of the mantissa, the bounds below the cell's
    /// start and the mantissa of the next bound. Bounds are more than two cells apart, so a
    /// cell holds at most one.
    grid: Vec<Cell>,
}

/// One cell of an [`Octave`]'s grid: what a lookup needs, in one load.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cell {
    /// The mantissa bits of the first bound at or above the cell's start (`u64::MAX` for
    /// `+Inf`): every bound lies in `[0.5, 1)`, one binade, so mantissas order as the bounds.
    next: u64,
    /// The bounds below the cell's start.
    below: u32,
}

impl Octave {
    pub(super) fn of(schema: i8) -> &'static Octave {
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
                let below = bounds.partition_point(|b| *b < start);
                let next = bounds
                    .get(below)
                    .filter(|b| b.is_finite())
                    .map_or(u64::MAX, |b| b.to_bits() & MANTISSA);
                Cell {
                    next,
                    below: u32::try_from(below).unwrap_or(u32::MAX),
                }
            })
            .collect();
        Self {
            schema,
            #[cfg(test)]
            bounds,
            grid,
        }
    }

    /// The bounds below `frac` (in `[0.5, 1)`): `bounds.partition_point(|b| b < frac)`.
    fn search(&self, frac: f64) -> usize {
        let mantissa = frac.to_bits() & MANTISSA;
        let shift = 50 - i32::from(self.schema);
        let at = usize::try_from(mantissa >> shift).unwrap_or(0);
        self.grid.get(at).map_or(0, |cell| {
            usize::try_from(cell.below).unwrap_or(0) + usize::from(mantissa > cell.next)
        })
    }
}

/// `key` at a schema `by` steps lower: `ceil(key / 2^by)`.
#[inline]
pub(super) fn lower(key: i32, by: i8) -> i32 {
    let by = i32::from(by);
    (key + (1 << by) - 1) >> by
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
    fn the_fast_path_agrees_with_frexp_everywhere() {
        // Every bucket boundary of the octaves around 1 and far out, and its neighbours.
        for schema in NativeHistogram::MIN_SCHEMA..=NativeHistogram::MAX_SCHEMA {
            let keys = Keys::of(schema);
            let per_octave = 1_i32 << schema.max(0);
            let mut probes = vec![f64::MIN_POSITIVE, f64::MAX, 1e-300, 1e300];
            for exp in [-1000, -60, -3, -1, 0, 1, 2, 40, 1000] {
                for j in 0..per_octave {
                    let b = (f64::from(exp) + f64::from(j) / f64::from(per_octave)).exp2();
                    probes.extend([b, b.next_down(), b.next_up()]);
                }
            }
            for v in probes {
                assert_eq!(keys.key(v), key_rare(v, schema), "{v} at schema {schema}");
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
