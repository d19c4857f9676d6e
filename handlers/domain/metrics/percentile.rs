//! Percentiles by nearest rank, ⌈p·n⌉ of the sorted samples (monitoring.md §1.2): exact, the same
//! everywhere, never an approximation. Below 20 samples a p95 is the maximum, and says so.

use serde::Serialize;

/// Below this many samples the p95 is the maximum (labelled).
pub const P95_MIN_SAMPLES: usize = 20;

/// A percentile's value and how it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentile {
    pub value: u64,
    /// Samples it was taken over.
    pub n: usize,
    /// Too few samples for the percentile asked: this is the maximum.
    pub is_max: bool,
}

/// The nearest-rank percentile `p` (0 < p ≤ 1) of `samples`; `None` when there are none.
pub fn nearest_rank(samples: &[u64], p: f64) -> Option<Percentile> {
    if samples.is_empty() || !(p > 0.0 && p <= 1.0) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    Some(Percentile { value: sorted[rank - 1], n, is_max: false })
}

/// p50 and p95 as the report prints them: below 20 samples the p95 is the maximum, labelled.
pub fn p50_p95(samples: &[u64]) -> (Option<Percentile>, Option<Percentile>) {
    let p50 = nearest_rank(samples, 0.5);
    let p95 = if samples.len() < P95_MIN_SAMPLES {
        samples.iter().max().map(|m| Percentile { value: *m, n: samples.len(), is_max: true })
    } else {
        nearest_rank(samples, 0.95)
    };
    (p50, p95)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_at_1_19_and_20_samples() {
        let (p50, p95) = p50_p95(&[7]);
        assert_eq!((p50.unwrap().value, p95.unwrap()), (7, Percentile { value: 7, n: 1, is_max: true }));
        let nineteen: Vec<u64> = (1..=19).collect();
        let (p50, p95) = p50_p95(&nineteen);
        assert_eq!(p50.unwrap().value, 10, "⌈0.5·19⌉ = 10th");
        assert_eq!(p95.unwrap(), Percentile { value: 19, n: 19, is_max: true }, "below 20: the maximum, labelled");
        let twenty: Vec<u64> = (1..=20).rev().collect();
        let (p50, p95) = p50_p95(&twenty);
        assert_eq!(p50.unwrap().value, 10, "⌈0.5·20⌉ = 10th");
        assert_eq!(p95.unwrap(), Percentile { value: 19, n: 20, is_max: false }, "⌈0.95·20⌉ = 19th");
        assert_eq!(p50_p95(&[]), (None, None));
        assert!(nearest_rank(&[1, 2], 0.0).is_none() && nearest_rank(&[1, 2], 1.5).is_none());
        assert_eq!(nearest_rank(&[5, 1, 3], 1.0).unwrap().value, 5);
    }
}
