//! Lock-free histograms with fixed buckets, observed by the pipeline's threads
//! and read by `/metrics` at each scrape. Values are integers in a base unit
//! (nanoseconds, rows) so that an observation is a handful of relaxed atomic
//! adds on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket bounds of a batch's time in a stage, in nanoseconds: 10 µs to 10 s.
pub const DURATION_BOUNDS_NS: &[u64] = &[
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// Bucket bounds of a batch's size, in rows.
pub const ROW_BOUNDS: &[u64] = &[1, 4, 16, 64, 256, 1024, 4096, 16384, 65536];

#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One count per bound, plus the overflow bucket; not cumulative.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

#[derive(Debug)]
pub struct HistogramSnapshot {
    pub sum: u64,
    pub count: u64,
    pub bounds: &'static [u64],
    /// Observations per bucket (not cumulative): one per bound, then the
    /// overflow bucket.
    pub counts: Vec<u64>,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: u64) {
        let bucket = self.bounds.partition_point(|&bound| bound < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn sum(&self) -> u64 {
        self.sum.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        HistogramSnapshot {
            sum: self.sum(),
            count: counts.iter().sum(),
            bounds: self.bounds,
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_the_rest_overflows() {
        let h = Histogram::new(&[1, 4, 16]);
        for v in [0, 1, 2, 4, 5, 16, 17, 1000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.counts, vec![2, 2, 2, 2]);
        assert_eq!(s.count, 8);
        assert_eq!(s.sum, 1045);
    }
}
