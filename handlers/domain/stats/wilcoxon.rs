//! The paired Wilcoxon signed-rank test with Pratt's treatment of zero differences, one-sided:
//! is the candidate's score lower than the baseline's? Exact (the distribution of the signed-rank
//! sum over every assignment of signs, ties and zeros included) up to `EXACT_UP_TO` non-zero
//! differences; beyond that the normal approximation with SciPy's Pratt and tie corrections,
//! accurate at that size.

use statrs::function::erf::erfc;

/// Up to this many non-zero differences the p-value is exact.
pub const EXACT_UP_TO: usize = 200;

/// The test's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wilcoxon {
    /// Pairs, zero differences included (Pratt ranks them, then drops them).
    pub n: usize,
    /// Pairs whose difference is zero.
    pub zeros: usize,
    /// The sum of the ranks of the positive differences (SciPy's statistic for a one-sided test).
    pub r_plus: f64,
    /// P(R⁺ ≤ observed) under "no difference": small when the differences are mostly negative.
    pub p_less: f64,
    /// Whether `p_less` is exact or the normal approximation.
    pub exact: bool,
}

/// Ranks 1..=n of `values` with ties given their average rank, doubled so that they are integers.
fn doubled_ranks(values: &[f64]) -> Vec<u64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0u64; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        // Positions start+1 ..= end+1 share the average rank (start + end + 2) / 2.
        for &i in &order[start..=end] {
            ranks[i] = (start + end + 2) as u64;
        }
        start = end + 1;
    }
    ranks
}

/// The one-sided test of `differences` (candidate − baseline per pair) against "no difference",
/// alternative: the differences are centred below zero. `None` when there are no pairs, a
/// difference is not a number, or every difference is zero (no evidence).
pub fn wilcoxon_pratt_less(differences: &[f64]) -> Option<Wilcoxon> {
    if differences.is_empty() || differences.iter().any(|d| !d.is_finite()) {
        return None;
    }
    let abs: Vec<f64> = differences.iter().map(|d| d.abs()).collect();
    let ranks = doubled_ranks(&abs);
    let nonzero: Vec<(u64, bool)> = differences.iter().zip(&ranks).filter(|(d, _)| **d != 0.0).map(|(d, r)| (*r, *d > 0.0)).collect();
    if nonzero.is_empty() {
        return None;
    }
    let (n, zeros) = (differences.len(), differences.len() - nonzero.len());
    let doubled_plus: u64 = nonzero.iter().filter(|(_, positive)| *positive).map(|(r, _)| r).sum();
    let r_plus = doubled_plus as f64 / 2.0;
    if nonzero.len() <= EXACT_UP_TO {
        return Some(Wilcoxon { n, zeros, r_plus, p_less: exact_cdf(&nonzero, doubled_plus), exact: true });
    }
    Some(Wilcoxon { n, zeros, r_plus, p_less: normal_cdf(n, zeros, &nonzero, r_plus), exact: false })
}

/// P(sum of the doubled ranks that get a + sign ≤ observed), each sign + or − with probability ½.
fn exact_cdf(nonzero: &[(u64, bool)], observed: u64) -> f64 {
    let total: u64 = nonzero.iter().map(|(r, _)| r).sum();
    let mut dist = vec![0.0f64; total as usize + 1];
    dist[0] = 1.0;
    let mut reach = 0usize;
    for &(r, _) in nonzero {
        let r = r as usize;
        for s in (0..=reach).rev() {
            let p = dist[s] * 0.5;
            dist[s] = p;
            dist[s + r] += p;
        }
        reach += r;
    }
    dist[..=observed as usize].iter().sum::<f64>().min(1.0)
}

/// SciPy's normal approximation (`method="asymptotic"`, `zero_method="pratt"`, no continuity
/// correction): mean and variance over all n ranks, less the zeros' share, less the ties'.
fn normal_cdf(n: usize, zeros: usize, nonzero: &[(u64, bool)], r_plus: f64) -> f64 {
    let (nf, zf) = (n as f64, zeros as f64);
    let mean = nf * (nf + 1.0) / 4.0 - zf * (zf + 1.0) / 4.0;
    let mut var = nf * (nf + 1.0) * (2.0 * nf + 1.0) - zf * (zf + 1.0) * (2.0 * zf + 1.0);
    let mut sorted: Vec<u64> = nonzero.iter().map(|(r, _)| *r).collect();
    sorted.sort_unstable();
    for run in sorted.chunk_by(|a, b| a == b) {
        let t = run.len() as f64;
        if run.len() > 1 {
            var -= 0.5 * t * (t * t - 1.0);
        }
    }
    let z = (r_plus - mean) / (var / 24.0).sqrt();
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(doubled_ranks(&[0.3, 0.1, 0.3, 0.2]), vec![7, 2, 7, 4]);
    }

    #[test]
    fn all_negative_is_the_smallest_p() {
        // Five pairs, all worse: only one of 2^5 sign assignments is as extreme.
        let w = wilcoxon_pratt_less(&[-0.1, -0.2, -0.3, -0.4, -0.5]).unwrap();
        assert_eq!(w.r_plus, 0.0);
        assert!((w.p_less - 1.0 / 32.0).abs() < 1e-15 && w.exact);
        assert!(wilcoxon_pratt_less(&[0.0, 0.0]).is_none() && wilcoxon_pratt_less(&[]).is_none());
        assert!(wilcoxon_pratt_less(&[f64::NAN]).is_none());
    }

    #[test]
    fn exact_and_normal_agree_when_large() {
        let d: Vec<f64> = (0..EXACT_UP_TO as i64).map(|i| ((i * 37) % 23 - 12) as f64 / 10.0).collect();
        let w = wilcoxon_pratt_less(&d).unwrap();
        let nonzero: Vec<(u64, bool)> = {
            let ranks = doubled_ranks(&d.iter().map(|x| x.abs()).collect::<Vec<_>>());
            d.iter().zip(&ranks).filter(|(x, _)| **x != 0.0).map(|(x, r)| (*r, *x > 0.0)).collect()
        };
        let approx = normal_cdf(w.n, w.zeros, &nonzero, w.r_plus);
        assert!((w.p_less - approx).abs() < 0.01, "exact {} normal {approx}", w.p_less);
    }
}
