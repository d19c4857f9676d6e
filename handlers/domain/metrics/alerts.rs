//! Alert hygiene for the week (monitoring.md §5, after Datadog's advice to review noisy and
//! flapping monitors): alerts that fired, by name; the noisiest (most notifications); those that
//! fired more than once (flapping); silences set; deliveries that failed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::alerting::delivery::{Delivery, Outcome};
use crate::domain::alerting::{AlertState, Silence};

/// One alert as the week saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoisyAlert {
    pub name: String,
    /// Its labels, `k=v` joined by spaces.
    pub labels: String,
    pub sends: u32,
    pub fired: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AlertHygiene {
    /// Alerts firing at some time in the week, by name.
    pub fired_by_name: BTreeMap<String, u64>,
    pub fired: u64,
    pub firing_at_end: u64,
    /// At most five, most sends first.
    pub noisiest: Vec<NoisyAlert>,
    /// Alerts that fired more than once.
    pub flapping: u64,
    pub silences: u64,
    pub deliveries: u64,
    /// Deliveries that failed for good (refused, gone, given up).
    pub failed_deliveries: u64,
}

/// The week `[from, to)` of the alert states, silences and delivery attempts.
pub fn alert_hygiene(
    states: &[AlertState],
    silences: &[(DateTime<Utc>, Silence)],
    log: &[Delivery],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AlertHygiene {
    let mut h = AlertHygiene::default();
    let mut noisy = Vec::new();
    for s in states.iter().filter(|s| s.fired_at < to && s.resolved_at.is_none_or(|r| r >= from)) {
        h.fired += 1;
        *h.fired_by_name.entry(s.alert.name.clone()).or_default() += 1;
        h.firing_at_end += u64::from(s.resolved_at.is_none_or(|r| r >= to));
        h.flapping += u64::from(s.fired_count > 1);
        let labels: Vec<String> = s.alert.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        noisy.push(NoisyAlert { name: s.alert.name.clone(), labels: labels.join(" "), sends: s.sends, fired: s.fired_count });
    }
    noisy.sort_by(|a, b| b.sends.cmp(&a.sends).then_with(|| a.name.cmp(&b.name)).then_with(|| a.labels.cmp(&b.labels)));
    noisy.truncate(5);
    h.noisiest = noisy;
    h.silences = silences.iter().filter(|(set, _)| *set >= from && *set < to).count() as u64;
    let week: Vec<&Delivery> = log.iter().filter(|d| d.at >= from && d.at < to).collect();
    h.deliveries = week.len() as u64;
    h.failed_deliveries = week.iter().filter(|d| matches!(d.outcome, Outcome::Refused | Outcome::Gone | Outcome::GivenUp)).count() as u64;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alerting::{AlertState, Until};
    use crate::domain::notify::{fixtures, Status};
    use chrono::{Duration, TimeZone};

    #[test]
    fn the_week_counts_what_fired_in_it_and_names_the_noisy_ones() {
        let from = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let to = from + Duration::days(7);
        let g = fixtures::group(3, Status::Firing);
        let state = |i: usize, fired: DateTime<Utc>, resolved: Option<DateTime<Utc>>, sends: u32, count: u32| AlertState {
            sends,
            fired_count: count,
            resolved_at: resolved,
            ..AlertState::opened(&g.alerts[i], Until::Gauge, fired)
        };
        let states = vec![
            state(0, from - Duration::days(2), Some(from - Duration::days(1)), 1, 1), // before the week
            state(1, from + Duration::days(1), Some(from + Duration::days(2)), 2, 3), // flapping
            state(2, to - Duration::hours(1), None, 7, 1),                            // still firing
        ];
        let h = alert_hygiene(&states, &[], &[], from, to);
        assert_eq!((h.fired, h.firing_at_end, h.flapping), (2, 1, 1));
        assert_eq!(h.fired_by_name["SlaBreach"], 2);
        assert_eq!(h.noisiest[0].sends, 7);
        assert_eq!(alert_hygiene(&[], &[], &[], from, to), AlertHygiene::default(), "nothing fired prints 0");
    }
}
