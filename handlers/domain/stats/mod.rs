//! Exact statistics for decisions on few items: the Wilson interval, the one-sided exact McNemar
//! test (mid-p), Fisher's exact test, Holm's step-down correction, Wald's sequential
//! probability ratio test, and the paired Wilcoxon signed-rank test (`wilcoxon`). No normal approximation of a test statistic anywhere: at the volumes a
//! small team sees, expected cell counts below 5 are the rule. Checked against SciPy
//! (`tests/stats/fixtures.json`, made by `tests/stats/make_fixtures.py`).

use statrs::function::factorial::ln_binomial;

mod wilcoxon;
pub use wilcoxon::{wilcoxon_pratt_less, Wilcoxon, EXACT_UP_TO};

/// The 97.5 % quantile of the standard normal (a 95 % two-sided interval), as SciPy computes it.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of `successes` out of `n` at quantile `z`; `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let (x, n) = (successes as f64, n as f64);
    let z2 = z * z;
    let centre = (x + z2 / 2.0) / (n + z2);
    let half = z * (x * (n - x) / n + z2 / 4.0).sqrt() / (n + z2);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// P(X = k) for X ~ Binomial(n, ½).
fn half_pmf(n: u64, k: u64) -> f64 {
    (ln_binomial(n, k) - n as f64 * std::f64::consts::LN_2).exp()
}

/// The one-sided exact McNemar mid-p for `b` discordant pairs one way (baseline passed, candidate
/// failed) and `c` the other: P(X > b) + ½·P(X = b), X ~ Binomial(b + c, ½). Small means the
/// candidate is worse. 1 when there are no discordant pairs (no evidence).
pub fn mcnemar_mid_p(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let above: f64 = (b + 1..=n).map(|k| half_pmf(n, k)).sum();
    (above + 0.5 * half_pmf(n, b)).min(1.0)
}

/// Fisher's exact test, one-sided "greater" (as SciPy's `fisher_exact(..., alternative="greater")`):
/// for the table `[[a, b], [c, d]]`, the probability under fixed margins of a top-left cell of `a`
/// or more. With `a` failures of `a + b` canary items and `c` of `c + d` stable ones: small means
/// the canary fails more.
pub fn fisher_greater(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let (row1, row2, col1) = (a + b, c + d, a + c);
    let total = ln_binomial(row1 + row2, col1);
    let top = row1.min(col1);
    let p: f64 = (a..=top).filter(|x| col1 - x <= row2).map(|x| (ln_binomial(row1, x) + ln_binomial(row2, col1 - x) - total).exp()).sum();
    p.min(1.0)
}

/// Holm's step-down procedure at family-wise level `alpha`: for each p-value (in the order given),
/// the threshold it was held to and whether it is rejected. The smallest p is compared with α/K,
/// the next with α/(K − 1), and so on, stopping at the first that is not below its threshold.
pub fn holm(p_values: &[f64], alpha: f64) -> Vec<(f64, bool)> {
    let k = p_values.len();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]).then(i.cmp(&j)));
    let mut out = vec![(0.0, false); k];
    let mut rejecting = true;
    for (rank, &i) in order.iter().enumerate() {
        let threshold = alpha / (k - rank) as f64;
        rejecting = rejecting && p_values[i] < threshold;
        out[i] = (threshold, rejecting);
    }
    out
}

/// Wald's SPRT of H₀: p = p₀ against H₁: p = p₁ (p₁ > p₀), with error rates α and β.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sprt {
    pub p0: f64,
    pub p1: f64,
    /// ln((1 − β) / α): at or above it, accept H₁ (abort).
    pub upper: f64,
    /// ln(β / (1 − α)): at or below it, accept H₀ (promote).
    pub lower: f64,
}

/// What a sequential test says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SprtDecision {
    /// The failure rate is p₁ or worse.
    Abort,
    /// The failure rate is p₀ or better.
    Promote,
    /// Not enough evidence either way yet.
    Keep,
}

impl Sprt {
    /// `None` unless 0 < p₀ < p₁ < 1 and α, β are in (0, 1).
    pub fn new(p0: f64, p1: f64, alpha: f64, beta: f64) -> Option<Self> {
        let unit = |v: f64| v > 0.0 && v < 1.0;
        if !(unit(p0) && unit(p1) && p0 < p1 && unit(alpha) && unit(beta)) {
            return None;
        }
        Some(Self { p0, p1, upper: ((1.0 - beta) / alpha).ln(), lower: (beta / (1.0 - alpha)).ln() })
    }

    /// The log-likelihood ratio after `failures` of `n` items.
    pub fn llr(&self, n: u64, failures: u64) -> f64 {
        let (x, n) = (failures as f64, n as f64);
        x * (self.p1 / self.p0).ln() + (n - x) * ((1.0 - self.p1) / (1.0 - self.p0)).ln()
    }

    pub fn decide(&self, n: u64, failures: u64) -> SprtDecision {
        self.decide_after(n, failures, 0)
    }

    /// As `decide`, but never promotes before `min_items` items (an abort needs no minimum).
    pub fn decide_after(&self, n: u64, failures: u64, min_items: u64) -> SprtDecision {
        let llr = self.llr(n, failures);
        if llr >= self.upper {
            SprtDecision::Abort
        } else if llr <= self.lower && n >= min_items {
            SprtDecision::Promote
        } else {
            SprtDecision::Keep
        }
    }

    /// Runs the test `trials` times on items that fail at `true_rate` (drawn with `uniform`, a
    /// number in [0, 1)), each until a decision or `max_items` (then inconclusive).
    pub fn simulate(&self, true_rate: f64, trials: u64, max_items: u64, min_items: u64, uniform: &mut dyn FnMut() -> f64) -> Simulation {
        let mut sim = Simulation::default();
        let mut items_used = 0u64;
        for _ in 0..trials {
            let (mut n, mut failures) = (0u64, 0u64);
            let decision = loop {
                if n >= max_items {
                    break SprtDecision::Keep;
                }
                n += 1;
                if uniform() < true_rate {
                    failures += 1;
                }
                match self.decide_after(n, failures, min_items) {
                    SprtDecision::Keep => {}
                    d => break d,
                }
            };
            items_used += n;
            match decision {
                SprtDecision::Promote => sim.promoted += 1,
                SprtDecision::Abort => sim.aborted += 1,
                SprtDecision::Keep => sim.inconclusive += 1,
            }
        }
        sim.trials = trials;
        sim.mean_items = if trials == 0 { 0.0 } else { items_used as f64 / trials as f64 };
        sim
    }
}

/// How simulated runs of a sequential test ended.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Simulation {
    pub trials: u64,
    pub promoted: u64,
    pub aborted: u64,
    pub inconclusive: u64,
    pub mean_items: f64,
}

impl Simulation {
    /// A count as a share of the trials.
    pub fn share(&self, count: u64) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            count as f64 / self.trials as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_sprt_example_holds() {
        // release-gates.md §3: p0 = 2 %, p1 = 6 %, alpha = 0.05, beta = 0.2.
        let s = Sprt::new(0.02, 0.06, 0.05, 0.2).unwrap();
        assert!((s.upper - 2.77).abs() < 0.01 && (s.lower + 1.56).abs() < 0.01);
        assert_eq!(s.decide(37, 0), SprtDecision::Keep);
        assert_eq!(s.decide(38, 0), SprtDecision::Promote);
        assert_eq!(s.decide(64, 1), SprtDecision::Keep);
        assert_eq!(s.decide(65, 1), SprtDecision::Promote);
        assert_eq!(s.decide(93, 2), SprtDecision::Promote);
        assert_eq!(s.decide(10, 3), SprtDecision::Abort);
        assert_eq!(s.decide(50, 5), SprtDecision::Abort);
        assert_eq!(s.decide(100, 7), SprtDecision::Abort);
        assert!(Sprt::new(0.06, 0.02, 0.05, 0.2).is_none() && Sprt::new(0.0, 0.02, 0.05, 0.2).is_none());
    }

    #[test]
    fn simulated_error_rates_meet_the_design() {
        // release-gates.md §3: 5,000 runs capped at 400 items.
        let s = Sprt::new(0.02, 0.06, 0.05, 0.2).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let at_p0 = s.simulate(0.02, 5000, 400, 30, &mut || rng.f64());
        assert!(at_p0.share(at_p0.aborted) <= 0.05, "false aborts {at_p0:?}");
        let at_p1 = s.simulate(0.06, 5000, 400, 30, &mut || rng.f64());
        assert!(at_p1.share(at_p1.aborted) >= 0.75, "detection {at_p1:?}");
        assert!(at_p0.mean_items > 30.0 && at_p0.mean_items < 400.0);
    }

    #[test]
    fn five_discordant_pairs_all_one_way_are_the_least_evidence() {
        // Exact (not mid-p) one-sided p for 5 of 5 is 1/32 < 0.05; 4 of 4 is 1/16.
        assert!(mcnemar_mid_p(5, 0) < 0.05);
        assert!(mcnemar_mid_p(4, 0) > mcnemar_mid_p(5, 0));
        assert_eq!(mcnemar_mid_p(0, 0), 1.0);
    }

    #[test]
    fn holm_steps_down_and_stops() {
        let r = holm(&[0.01, 0.04, 0.03], 0.05);
        assert_eq!(r[0], (0.05 / 3.0, true));
        assert_eq!(r[2], (0.025, false), "0.03 is not below 0.025: stop");
        assert_eq!(r[1], (0.05, false), "nothing after a stop is rejected");
        assert!(holm(&[], 0.05).is_empty());
    }

    #[test]
    fn wilson_bounds_at_zero_failures() {
        // The upper bound with zero successes is z^2 / (n + z^2): 11.4 % at n = 30.
        let (lo, hi) = wilson(0, 30, Z_95).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.1135).abs() < 1e-3);
        assert!(wilson(1, 0, Z_95).is_none() && wilson(3, 2, Z_95).is_none());
    }
}
