//! Canary analysis, pure (release-gates.md §3): one Wald SPRT per metric — item failure, latency
//! over the rollout's SLO, contract violation — with p₀ from the stable release's last ≥ 300 items
//! (else the rollout's SLO rate), p₁ = p₀ + max(0.04, p₀), α = 0.05 / K and β = 0.2. ABORT when a
//! ratio crosses its upper boundary, a guardrail fires or the metric source failed four times in a
//! row; PROMOTE when every ratio is below its lower boundary after the minimum items and duration;
//! INCONCLUSIVE (a person decides) at the maximum; KEEP OBSERVING otherwise. No data is no
//! evidence, never success.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stats::{Sprt, SprtDecision};

/// What is counted per item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The run failed or was quarantined.
    ItemFailure,
    /// The run's call took longer than the rollout's latency SLO.
    LatencyOverSlo,
    /// A data contract held the run at its gate.
    ContractViolation,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Self::ItemFailure => "item failure",
            Self::LatencyOverSlo => "latency over SLO",
            Self::ContractViolation => "contract violation",
        }
    }
}

/// Items seen and how many of them had the metric's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub items: u64,
    pub events: u64,
}

/// A rollout's analysis parameters (the catalog's `releases.rollout`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryPolicy {
    pub min_items: u64,
    pub min_duration: Duration,
    pub max_items: u64,
    pub max_duration: Duration,
    /// Family-wise α, split over the metrics.
    pub alpha: f64,
    pub beta: f64,
    /// Stable items needed before their rate is p₀ (else the SLO rate is).
    pub baseline_items: u64,
    /// Consecutive failures to read the metrics that abort.
    pub max_source_errors: u32,
    /// p₀ when the stable release has too few items, per metric.
    pub slo_rates: BTreeMap<Metric, f64>,
    /// The latency SLO; without one latency is not analysed.
    pub latency_slo: Option<Duration>,
}

impl Default for CanaryPolicy {
    fn default() -> Self {
        Self {
            min_items: 30,
            min_duration: Duration::from_secs(24 * 3600),
            max_items: 400,
            max_duration: Duration::from_secs(7 * 24 * 3600),
            alpha: 0.05,
            beta: 0.2,
            baseline_items: 300,
            max_source_errors: 4,
            slo_rates: [(Metric::ItemFailure, 0.02), (Metric::LatencyOverSlo, 0.05), (Metric::ContractViolation, 0.02)].into(),
            latency_slo: None,
        }
    }
}

impl CanaryPolicy {
    /// The metrics analysed under this policy.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut m = vec![Metric::ItemFailure, Metric::ContractViolation];
        if self.latency_slo.is_some() {
            m.insert(1, Metric::LatencyOverSlo);
        }
        m
    }
}

/// What a pass decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CanaryDecision {
    KeepObserving,
    Promote,
    Abort,
    /// The maximum was reached without a decision: a person decides; never promotes by itself.
    Inconclusive,
}

/// One metric's test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricAnalysis {
    pub metric: Metric,
    pub p0: f64,
    /// Where p₀ came from: the stable release's items, or the SLO.
    pub p0_from: String,
    pub p1: f64,
    pub alpha: f64,
    pub items: u64,
    pub events: u64,
    pub llr: f64,
    pub upper: f64,
    pub lower: f64,
    pub says: String,
}

/// One analysis pass, with everything it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub decision: CanaryDecision,
    pub reasons: Vec<String>,
    pub canary_items: u64,
    pub elapsed_secs: u64,
    pub metrics: Vec<MetricAnalysis>,
}

/// What a pass sees.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub stable: BTreeMap<Metric, Counts>,
    pub canary: BTreeMap<Metric, Counts>,
    /// Canary items that hit a guardrail (quarantined: a person must look), with why.
    pub guardrails: Vec<String>,
    /// Consecutive failed reads of the metric source, this one included.
    pub source_errors: u32,
}

/// The lowest p₀ used: a stable release with no events at all still has some rate.
const MIN_P0: f64 = 0.001;

/// Decides a canary from what it has seen by `now`.
pub fn analyse(policy: &CanaryPolicy, seen: &Observations, started: DateTime<Utc>, now: DateTime<Utc>) -> Analysis {
    let elapsed = (now - started).to_std().unwrap_or_default();
    let canary_items = seen.canary.get(&Metric::ItemFailure).map_or(0, |c| c.items);
    let metrics = policy.metrics();
    let k = metrics.len() as f64;
    let mut out = Analysis {
        decision: CanaryDecision::KeepObserving,
        reasons: vec![],
        canary_items,
        elapsed_secs: elapsed.as_secs(),
        metrics: vec![],
    };
    let mut decisions = Vec::new();
    for m in metrics {
        let stable = seen.stable.get(&m).copied().unwrap_or_default();
        let (p0, p0_from) = if stable.items >= policy.baseline_items {
            (stable.events as f64 / stable.items as f64, format!("the stable release's last {} items", stable.items))
        } else {
            let slo = policy.slo_rates.get(&m).copied().unwrap_or(0.02);
            (slo, format!("the SLO rate (the stable release has {} of the {} items needed)", stable.items, policy.baseline_items))
        };
        let p0 = p0.clamp(MIN_P0, 0.5);
        let p1 = (p0 + p0.max(0.04)).min(0.99);
        let alpha = policy.alpha / k;
        let c = seen.canary.get(&m).copied().unwrap_or_default();
        let Some(sprt) = Sprt::new(p0, p1, alpha, policy.beta) else { continue };
        let d = sprt.decide_after(c.items, c.events, policy.min_items);
        decisions.push((m, d));
        out.metrics.push(MetricAnalysis {
            metric: m,
            p0,
            p0_from,
            p1,
            alpha,
            items: c.items,
            events: c.events,
            llr: sprt.llr(c.items, c.events),
            upper: sprt.upper,
            lower: sprt.lower,
            says: format!("{d:?}").to_uppercase(),
        });
    }
    if seen.source_errors >= policy.max_source_errors {
        out.decision = CanaryDecision::Abort;
        out.reasons.push(format!("the metric source failed {} times in a row", seen.source_errors));
        return out;
    }
    if let Some(g) = seen.guardrails.first() {
        out.decision = CanaryDecision::Abort;
        out.reasons.push(format!("guardrail: {g}"));
        return out;
    }
    let aborts: Vec<&str> = decisions.iter().filter(|(_, d)| *d == SprtDecision::Abort).map(|(m, _)| m.name()).collect();
    if !aborts.is_empty() {
        out.decision = CanaryDecision::Abort;
        out.reasons.push(format!("{} worse than the stable release (SPRT upper boundary crossed)", aborts.join(", ")));
        return out;
    }
    let all_promote = !decisions.is_empty() && decisions.iter().all(|(_, d)| *d == SprtDecision::Promote);
    if all_promote && canary_items >= policy.min_items && elapsed >= policy.min_duration {
        out.decision = CanaryDecision::Promote;
        out.reasons.push(format!("every metric is below its lower boundary after {canary_items} canary items and {}", human(elapsed)));
        return out;
    }
    if canary_items >= policy.max_items || elapsed >= policy.max_duration {
        out.decision = CanaryDecision::Inconclusive;
        out.reasons.push(format!(
            "no decision after {canary_items} canary items and {}: a person decides (flowgate release promote or rollback)",
            human(elapsed)
        ));
        return out;
    }
    if canary_items == 0 {
        out.reasons.push("no canary items yet: no data is no evidence".into());
    } else if all_promote {
        out.reasons.push(format!(
            "every metric is below its lower boundary; waiting for {} items and {} (now {canary_items}, {})",
            policy.min_items,
            human(policy.min_duration),
            human(elapsed)
        ));
    } else {
        out.reasons.push(format!("not enough evidence either way after {canary_items} canary items"));
    }
    out
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 {
        format!("{:.1} days", s as f64 / 86_400.0)
    } else {
        format!("{:.1} hours", s as f64 / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + chrono::Duration::hours(hours)
    }

    fn seen(items: u64, failures: u64) -> Observations {
        let c = |events| Counts { items, events };
        Observations { canary: [(Metric::ItemFailure, c(failures)), (Metric::ContractViolation, c(0))].into(), ..Default::default() }
    }

    #[test]
    fn no_data_keeps_observing_then_is_inconclusive_never_promotes() {
        let p = CanaryPolicy::default();
        let a = analyse(&p, &Observations::default(), at(0), at(48));
        assert_eq!(a.decision, CanaryDecision::KeepObserving);
        assert!(a.reasons[0].contains("no data is no evidence"));
        let a = analyse(&p, &Observations::default(), at(0), at(24 * 7));
        assert_eq!(a.decision, CanaryDecision::Inconclusive);
    }

    #[test]
    fn clean_items_promote_only_after_the_minimum_duration() {
        let p = CanaryPolicy::default();
        // Two metrics at α/2 each: a clean canary needs a few more items than the one-metric 38.
        let a = analyse(&p, &seen(120, 0), at(0), at(2));
        assert_eq!(a.decision, CanaryDecision::KeepObserving, "{a:?}");
        assert!(a.reasons[0].contains("waiting for"));
        let a = analyse(&p, &seen(120, 0), at(0), at(25));
        assert_eq!(a.decision, CanaryDecision::Promote, "{a:?}");
        assert!(a.metrics.iter().all(|m| (m.alpha - 0.025).abs() < 1e-12));
    }

    #[test]
    fn failures_guardrails_and_a_failing_source_abort() {
        let p = CanaryPolicy::default();
        // With two metrics each at α/2 the bar is higher than the one-metric example's 3 in 10.
        assert_eq!(analyse(&p, &seen(10, 3), at(0), at(1)).decision, CanaryDecision::KeepObserving);
        let a = analyse(&p, &seen(10, 4), at(0), at(1));
        assert_eq!(a.decision, CanaryDecision::Abort, "{a:?}");
        let mut s = seen(5, 0);
        s.guardrails.push("run x was quarantined".into());
        assert_eq!(analyse(&p, &s, at(0), at(1)).decision, CanaryDecision::Abort);
        let s = Observations { source_errors: 3, ..Default::default() };
        assert_eq!(analyse(&p, &s, at(0), at(1)).decision, CanaryDecision::KeepObserving);
        let s = Observations { source_errors: 4, ..Default::default() };
        let a = analyse(&p, &s, at(0), at(1));
        assert_eq!(a.decision, CanaryDecision::Abort);
        assert!(a.reasons[0].contains("4 times in a row"));
    }

    #[test]
    fn latency_over_the_slo_is_a_third_metric_when_set() {
        let p = CanaryPolicy { latency_slo: Some(Duration::from_secs(5)), ..CanaryPolicy::default() };
        let mut s = seen(12, 0);
        s.canary.insert(Metric::LatencyOverSlo, Counts { items: 12, events: 7 });
        let a = analyse(&p, &s, at(0), at(1));
        assert_eq!(a.metrics.len(), 3);
        assert!(a.metrics.iter().all(|m| (m.alpha - 0.05 / 3.0).abs() < 1e-12));
        assert_eq!(a.decision, CanaryDecision::Abort, "half the calls over the SLO: {a:?}");
        assert!(a.reasons[0].contains("latency over SLO"));
    }

    #[test]
    fn p0_comes_from_the_stable_release_when_it_has_enough_items() {
        let p = CanaryPolicy::default();
        let mut s = seen(10, 0);
        s.stable.insert(Metric::ItemFailure, Counts { items: 300, events: 30 });
        let a = analyse(&p, &s, at(0), at(1));
        let m = &a.metrics[0];
        assert!((m.p0 - 0.1).abs() < 1e-12 && (m.p1 - 0.2).abs() < 1e-12, "{m:?}");
        assert!(m.p0_from.contains("300"));
        let s2 = seen(10, 0);
        assert!((analyse(&p, &s2, at(0), at(1)).metrics[0].p0 - 0.02).abs() < 1e-12);
    }
}
