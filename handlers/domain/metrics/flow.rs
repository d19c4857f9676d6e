//! The week's quarantine flow, breaker time open and gate outcomes (monitoring.md §1.2):
//! quarantine new (by kind), replayed, discarded, outstanding at the start and the end (growth =
//! end − start) and the oldest open item's age; breakers opened, time open in the window and open
//! now; gate checks evaluated and held, by gate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::breaker::{BreakerState, Transition};
use crate::domain::gate::GateDecision;

/// What a quarantine item contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantineFact {
    /// `run`, `data` or `poison_message`.
    pub kind: String,
    pub at: DateTime<Utc>,
    /// When and how it left quarantine (`replayed` or `discarded`).
    pub closed: Option<(DateTime<Utc>, String)>,
}

/// Quarantine over a window.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct QuarantineFlow {
    pub new_by_kind: BTreeMap<String, u64>,
    pub replayed: u64,
    pub discarded: u64,
    pub outstanding_start: u64,
    pub outstanding_end: u64,
    /// The oldest item still open at the end, its age in seconds.
    pub oldest_open_secs: Option<i64>,
}

pub fn quarantine_flow(items: &[QuarantineFact], from: DateTime<Utc>, to: DateTime<Utc>) -> QuarantineFlow {
    let mut q = QuarantineFlow::default();
    let open_at = |i: &QuarantineFact, t: DateTime<Utc>| i.at < t && i.closed.as_ref().is_none_or(|(c, _)| *c >= t);
    for i in items {
        if i.at >= from && i.at < to {
            *q.new_by_kind.entry(i.kind.clone()).or_default() += 1;
        }
        if let Some((c, how)) = &i.closed {
            if *c >= from && *c < to {
                match how.as_str() {
                    "replayed" => q.replayed += 1,
                    _ => q.discarded += 1,
                }
            }
        }
        q.outstanding_start += u64::from(open_at(i, from));
        if open_at(i, to) {
            q.outstanding_end += 1;
            let age = (to - i.at).num_seconds();
            q.oldest_open_secs = Some(q.oldest_open_secs.map_or(age, |a| a.max(age)));
        }
    }
    q
}

/// One breaker over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerFigures {
    pub name: String,
    /// Times it opened in the window.
    pub opened: u64,
    /// Seconds it was not closed in the window.
    pub open_secs: i64,
    pub open_now: bool,
}

/// A breaker's figures from its transitions (oldest first) and its state now.
pub fn breaker_figures(
    name: &str,
    transitions: &[Transition],
    state_now: BreakerState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BreakerFigures {
    let mut open_secs = 0;
    let mut opened = 0;
    // The state at `from`: the last transition before it, else closed.
    let mut since: Option<DateTime<Utc>> =
        transitions.iter().rev().find(|t| t.at < from).filter(|t| t.to != BreakerState::Closed).map(|_| from);
    for t in transitions.iter().filter(|t| t.at >= from && t.at < to) {
        if t.from == BreakerState::Closed && t.to != BreakerState::Closed {
            opened += 1;
        }
        match (since, t.to) {
            (None, s) if s != BreakerState::Closed => since = Some(t.at),
            (Some(s), BreakerState::Closed) => {
                open_secs += (t.at - s).num_seconds();
                since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        open_secs += (to - s).num_seconds();
    }
    BreakerFigures { name: name.to_string(), opened, open_secs, open_now: state_now != BreakerState::Closed }
}

/// Gate checks over a window: per gate (`contract`, `freshness`), checks that passed and held.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GateFigures {
    /// Gate → (passed, held).
    pub by_gate: BTreeMap<String, (u64, u64)>,
    /// Runs whose last gate decision held them.
    pub runs_held: u64,
    pub runs_checked: u64,
}

/// From each run's last gate decision (runs that ended in the window).
pub fn gate_figures<'a>(decisions: impl IntoIterator<Item = &'a GateDecision>) -> GateFigures {
    let mut g = GateFigures::default();
    for d in decisions {
        g.runs_checked += 1;
        g.runs_held += u64::from(!d.passed);
        for c in &d.checks {
            let e = g.by_gate.entry(c.gate.clone()).or_default();
            if c.passed {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn quarantine_growth_is_end_minus_start() {
        let items = vec![
            QuarantineFact { kind: "run".into(), at: t(-10), closed: Some((t(5), "replayed".into())) },
            QuarantineFact { kind: "data".into(), at: t(-5), closed: None },
            QuarantineFact { kind: "run".into(), at: t(20), closed: Some((t(30), "discarded".into())) },
            QuarantineFact { kind: "data".into(), at: t(100), closed: None },
            QuarantineFact { kind: "run".into(), at: t(200), closed: None }, // next week
        ];
        let q = quarantine_flow(&items, t(0), t(168));
        assert_eq!(q.new_by_kind, [("data".to_string(), 1), ("run".to_string(), 1)].into());
        assert_eq!((q.replayed, q.discarded, q.outstanding_start, q.outstanding_end), (1, 1, 2, 2));
        assert_eq!(q.oldest_open_secs, Some(173 * 3600));
        assert_eq!(quarantine_flow(&[], t(0), t(168)), QuarantineFlow::default());
    }

    #[test]
    fn breaker_time_open_is_cut_at_the_window() {
        let tr = |h: i64, from: BreakerState, to: BreakerState| Transition { at: t(h), from, to, reason: String::new() };
        use BreakerState::*;
        let transitions = vec![tr(-2, Closed, Open), tr(1, Open, HalfOpen), tr(2, HalfOpen, Closed), tr(10, Closed, Open)];
        let b = breaker_figures("job/x", &transitions, Open, t(0), t(12));
        assert_eq!((b.opened, b.open_secs, b.open_now), (1, 2 * 3600 + 2 * 3600, true));
        assert_eq!(breaker_figures("y", &[], Closed, t(0), t(12)).open_secs, 0);
    }
}
