//! The native cell's tables, moves and snapshots, alone and under threads.

use super::*;

#[test]
fn tables_grow_before_the_schema_drops() {
    let cell = NativeCell::new(NativeHistogram {
        schema: 3,
        zero_threshold: 0.0,
        max_buckets: 40,
    });
    let bounds: &[f64] = &[];
    let counts = [AtomicU64::new(0)];
    // 30 buckets at schema 3: more than 12 crowd the first table, which doubles twice.
    for i in 0..30 {
        cell.observe(2f64.powf(f64::from(i) / 8.0), bounds, &counts);
    }
    let s = cell.snapshot();
    assert_eq!(s.schema, 3);
    assert_eq!(s.positive, (0..30).map(|k| (k, 1)).collect::<Vec<_>>());
    // Past 40 buckets, the schema drops: 45 buckets at 3 are 23 at 2.
    for i in 30..45 {
        cell.observe(2f64.powf(f64::from(i) / 8.0), bounds, &counts);
    }
    let s = cell.snapshot();
    assert_eq!(s.schema, 2);
    assert_eq!(s.count(), 45);
    assert_eq!(s.positive.len(), 23);
    assert_eq!(s.positive[0], (0, 1));
    assert_eq!(s.positive[1], (1, 2));
    // Every observation in `+Inf`, carried by the native slots, not by `counts`.
    let mut classic = Vec::new();
    cell.classic_snapshot(&counts, &mut classic);
    assert_eq!(classic, [45]);
    assert_eq!(counts[0].load(Ordering::Relaxed), 0);
}

#[test]
fn concurrent_observations_across_moves_are_all_counted() {
    let cell = NativeCell::new(NativeHistogram {
        schema: 8,
        zero_threshold: 1e-9,
        max_buckets: 20,
    });
    let bounds: &[f64] = &[0.001, 0.01, 0.1, 1.0];
    let counts: [AtomicU64; 5] = Default::default();
    let threads = 4;
    let per_thread = 20_000u32;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (cell, counts) = (&cell, &counts);
            scope.spawn(move || {
                for i in 0..per_thread {
                    // Spread over twelve decades, both signs, some in the zero bucket.
                    let v = 1e-6 * 10f64.powf(f64::from((i * 7 + t) % 1200) / 100.0);
                    cell.observe(if i % 3 == 0 { -v } else { v }, bounds, counts);
                    if i % 5 == 0 {
                        cell.observe(0.0, bounds, counts);
                    }
                }
            });
        }
        // Snapshots while the schema drops: the count only grows, and so does every
        // classic bucket, whether a native slot or `counts` holds its observations.
        let mut last = 0;
        let (mut classic, mut last_classic) = (Vec::new(), vec![0; 5]);
        for _ in 0..200 {
            let count = cell.snapshot().count();
            assert!(count >= last, "{count} after {last}");
            last = count;
            cell.classic_snapshot(&counts, &mut classic);
            for (now, before) in classic.iter().zip(&last_classic) {
                assert!(now >= before, "{classic:?} after {last_classic:?}");
            }
            last_classic.clone_from(&classic);
        }
    });
    // The classic buckets are exactly a scan's.
    let mut expected = vec![0u64; 5];
    for t in 0..threads {
        for i in 0..per_thread {
            let v = 1e-6 * 10f64.powf(f64::from((i * 7 + t) % 1200) / 100.0);
            let v = if i % 3 == 0 { -v } else { v };
            expected[bounds.iter().position(|le| v <= *le).unwrap_or(4)] += 1;
            if i % 5 == 0 {
                expected[0] += 1;
            }
        }
    }
    let mut classic = Vec::new();
    cell.classic_snapshot(&counts, &mut classic);
    assert_eq!(classic, expected);
    let s = cell.snapshot();
    let observed = u64::from(per_thread) * 4;
    assert_eq!(s.count(), observed + observed / 5);
    assert_eq!(s.zero_count, observed / 5);
    assert_eq!(s.nan_count, 0);
    assert!(s.positive.len() + s.negative.len() <= 20, "{s:?}");
    assert!(s.schema < 8);
}
