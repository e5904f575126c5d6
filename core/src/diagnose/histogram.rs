//! Log-bucketed duration histograms with a fixed, small number of buckets.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Durations shorter than this share the first bucket. It is the coarse
/// clock's tick: below it the default clock cannot tell durations apart, so
/// finer buckets would only show noise.
pub(crate) const RESOLUTION_NS: u64 = 1_000_000;

/// Buckets of a poll-time histogram: `< 1 ms`, then `[1, 2)`, `[2, 4)`, …
/// milliseconds, the last one open (`≥ 16.4 s`).
pub(crate) const POLL_BUCKETS: usize = 16;

/// Buckets of a lifetime histogram: up to `≥ 2^30 ms` (12.4 days).
pub(crate) const LIFETIME_BUCKETS: usize = 32;

/// Which bucket of an `n`-bucket histogram `ns` falls in: 0 below
/// [`RESOLUTION_NS`], then one bucket per doubling, the last one open.
pub(crate) fn bucket_of(ns: u64, n: usize) -> usize {
    let units = ns / RESOLUTION_NS;
    let bucket = (u64::BITS - units.leading_zeros()) as usize;
    bucket.min(n - 1)
}

/// The lower bound of bucket `index`, in nanoseconds.
fn bucket_floor(index: usize) -> u64 {
    match index {
        0 => 0,
        _ => RESOLUTION_NS << (index - 1),
    }
}

/// A histogram written with relaxed atomic adds. Only rare events write it
/// (a poll of at least a millisecond, a task's end), never every poll.
#[derive(Debug)]
pub(crate) struct AtomicHistogram<const N: usize>([AtomicU64; N]);

impl<const N: usize> AtomicHistogram<N> {
    pub(crate) fn new() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }

    pub(crate) fn record(&self, ns: u64) {
        self.0[bucket_of(ns, N)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> [u64; N] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}

/// One bucket of a [`Histogram`]: how many durations were at least
/// `from_ns` and below `to_ns` (`None`: no upper bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HistogramBucket {
    /// Inclusive lower bound.
    pub from_ns: u64,
    /// Exclusive upper bound; `None` for the last, open bucket.
    pub to_ns: Option<u64>,
    /// Durations in the bucket.
    pub count: u64,
}

/// A distribution of durations in logarithmic buckets (`< 1 ms`, `1–2 ms`,
/// `2–4 ms`, …) with its 50th, 90th and 99th percentiles.
///
/// A percentile is the upper bound of the bucket it falls in ("99 % of
/// polls took less than this"), or the lower bound of the last, open bucket;
/// `None` when the histogram is empty. Buckets are exact to the clock the
/// durations came from: with the default 1 ms coarse clock the first bucket
/// mixes every poll shorter than a tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Histogram {
    /// The buckets, shortest first; only non-empty ones are listed.
    pub buckets: Vec<HistogramBucket>,
    /// Median.
    pub p50_ns: Option<u64>,
    /// 90th percentile.
    pub p90_ns: Option<u64>,
    /// 99th percentile.
    pub p99_ns: Option<u64>,
}

impl Histogram {
    pub(crate) fn from_counts(counts: &[u64]) -> Self {
        let n = counts.len();
        let bound = |index: usize| (index + 1 < n).then(|| bucket_floor(index + 1));
        let total: u64 = counts.iter().sum();
        let percentile = |q: f64| -> Option<u64> {
            if total == 0 {
                return None;
            }
            // The rank of the q-quantile, 1-based: the smallest count of
            // durations that covers a fraction q of them.
            let rank = ((total as f64 * q).ceil() as u64).max(1);
            let mut seen = 0;
            for (index, &count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return Some(bound(index).unwrap_or_else(|| bucket_floor(index)));
                }
            }
            None
        };
        Self {
            buckets: counts
                .iter()
                .enumerate()
                .filter(|(_, count)| **count > 0)
                .map(|(index, &count)| HistogramBucket {
                    from_ns: bucket_floor(index),
                    to_ns: bound(index),
                    count,
                })
                .collect(),
            p50_ns: percentile(0.50),
            p90_ns: percentile(0.90),
            p99_ns: percentile(0.99),
        }
    }

    /// How many durations the histogram holds.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|bucket| bucket.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn buckets_double_from_one_millisecond() {
        assert_eq!(bucket_of(0, 16), 0);
        assert_eq!(bucket_of(MS - 1, 16), 0);
        assert_eq!(bucket_of(MS, 16), 1);
        assert_eq!(bucket_of(2 * MS - 1, 16), 1);
        assert_eq!(bucket_of(2 * MS, 16), 2);
        assert_eq!(bucket_of(150 * MS, 16), 8); // [128, 256) ms
        assert_eq!(bucket_of(u64::MAX, 16), 15);
    }

    #[test]
    fn percentiles_are_bucket_upper_bounds() {
        let mut counts = [0u64; POLL_BUCKETS];
        counts[0] = 90; // < 1 ms
        counts[4] = 9; // [8, 16) ms
        counts[8] = 1; // [128, 256) ms
        let histogram = Histogram::from_counts(&counts);
        assert_eq!(histogram.p50_ns, Some(MS));
        assert_eq!(histogram.p90_ns, Some(MS));
        assert_eq!(histogram.p99_ns, Some(16 * MS));
        assert_eq!(histogram.count(), 100);
        assert_eq!(histogram.buckets.len(), 3);
        assert_eq!(histogram.buckets[2].from_ns, 128 * MS);
        assert_eq!(histogram.buckets[2].to_ns, Some(256 * MS));
    }

    #[test]
    fn the_open_bucket_reports_its_floor_and_empty_has_none() {
        let mut counts = [0u64; 4];
        counts[3] = 1;
        let histogram = Histogram::from_counts(&counts);
        assert_eq!(histogram.p50_ns, Some(4 * MS));
        assert_eq!(histogram.buckets[0].to_ns, None);
        assert_eq!(Histogram::from_counts(&[0u64; 4]).p99_ns, None);
    }
}
