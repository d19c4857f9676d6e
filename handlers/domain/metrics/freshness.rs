//! Freshness over a window (monitoring.md §1.2), exact from arrival instants: a dataset is fresh
//! at an instant when its newest *accepted* arrival is at most its threshold old; the share of the
//! window it was fresh is the measure of the union of [arrival, arrival + threshold) over the
//! window. Rejected arrivals never make it fresh. A dataset with no accepted arrival before an
//! instant is stale then (from its registration, taken as the start of the window).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// One dataset's freshness.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FreshnessFigures {
    pub dataset: String,
    pub threshold_secs: i64,
    pub accepted: u64,
    pub rejected: u64,
    /// Seconds of the window it was fresh, and the window's length.
    pub fresh_secs: i64,
    pub window_secs: i64,
    /// The largest lag in the window (seconds since the newest accepted arrival); `None` when
    /// nothing was ever accepted before the window's end.
    pub worst_lag_secs: Option<i64>,
    /// The lag at the window's end.
    pub lag_at_end_secs: Option<i64>,
}

impl FreshnessFigures {
    pub fn fresh_share(&self) -> f64 {
        if self.window_secs <= 0 {
            0.0
        } else {
            self.fresh_secs as f64 / self.window_secs as f64
        }
    }
}

/// `accepted`: accepted arrival instants (any order, before or in the window).
pub fn freshness(
    dataset: &str,
    accepted: &[DateTime<Utc>],
    rejected: u64,
    threshold: Duration,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> FreshnessFigures {
    let mut times: Vec<DateTime<Utc>> = accepted.iter().copied().filter(|t| *t < to).collect();
    times.sort();
    // Fresh time: the union of [a, a + threshold) cut at the window.
    let (mut fresh, mut covered_to) = (Duration::zero(), from);
    for a in &times {
        let start = (*a).max(covered_to);
        let end = (*a + threshold).min(to);
        if end > start {
            fresh += end - start;
            covered_to = end;
        }
    }
    // Worst lag: just before each arrival in the window, and at the end.
    let mut worst: Option<Duration> = None;
    let mut last: Option<DateTime<Utc>> = times.iter().rev().find(|t| **t < from).copied();
    for a in times.iter().filter(|t| **t >= from) {
        if let Some(l) = last {
            worst = Some(worst.map_or(*a - l, |w| w.max(*a - l)));
        }
        last = Some(*a);
    }
    let at_end = last.map(|l| to - l);
    if let Some(e) = at_end {
        worst = Some(worst.map_or(e, |w| w.max(e)));
    }
    FreshnessFigures {
        dataset: dataset.to_string(),
        threshold_secs: threshold.num_seconds(),
        accepted: times.iter().filter(|t| **t >= from).count() as u64,
        rejected,
        fresh_secs: fresh.num_seconds(),
        window_secs: (to - from).num_seconds(),
        worst_lag_secs: worst.map(|w| w.num_seconds()),
        lag_at_end_secs: at_end.map(|e| e.num_seconds()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn the_share_of_time_fresh_is_exact() {
        // Threshold 6 h, window 0–48 h, accepted at −2, 10, 12 and 30 h: fresh [0, 4), [10, 18),
        // [30, 36) = 18 h of 48; the worst lag 18 h (from 12 h to 30 h, and from 30 h to the end).
        let f = freshness("feed", &[t(12), t(-2), t(30), t(10)], 1, Duration::hours(6), t(0), t(48));
        assert_eq!((f.fresh_secs, f.window_secs), (18 * 3600, 48 * 3600));
        assert!((f.fresh_share() - 0.375).abs() < 1e-12);
        assert_eq!((f.worst_lag_secs, f.lag_at_end_secs), (Some(18 * 3600), Some(18 * 3600)));
        assert_eq!((f.accepted, f.rejected), (3, 1));
    }

    #[test]
    fn a_dataset_that_never_arrived_is_never_fresh() {
        let f = freshness("feed", &[], 3, Duration::hours(6), t(0), t(48));
        assert_eq!((f.fresh_secs, f.worst_lag_secs, f.lag_at_end_secs), (0, None, None));
        // Arriving mid-window: stale until then.
        let f = freshness("feed", &[t(40)], 0, Duration::hours(24), t(0), t(48));
        assert_eq!((f.fresh_secs, f.worst_lag_secs), (8 * 3600, Some(8 * 3600)));
    }
}
