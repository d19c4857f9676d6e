//! The gauge rules' sources, sampled by the monitor tick: breakers (open or half-open), datasets
//! past their cadence, dead-letter queues, quarantine items waiting (every fifth minute, from the
//! index of open items), and releases (required and none active; emergency reviews overdue). A source that
//! cannot be read this tick is not sampled, so its alerts neither fire nor resolve on a guess.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Timelike, Utc};

use crate::domain::alerting::rules;
use crate::domain::breaker::{Breaker, BreakerState};
use crate::domain::notify::Alert;
use crate::flows::{alerts, breakers, Deps, FlowError};
use crate::ports::{queues, QueueCounts, RowRange, Table};

/// What the gauge rules show firing now, and which rules were sampled.
#[derive(Debug, Default)]
pub struct Gauges {
    pub sampled: HashSet<&'static str>,
    /// Firing alerts by fingerprint.
    pub firing: HashMap<String, Alert>,
    /// Each queue's depth as read this tick.
    pub queues: BTreeMap<&'static str, QueueCounts>,
}

impl Gauges {
    fn fire(&mut self, a: Alert) {
        self.firing.insert(a.fingerprint(), a);
    }
}

/// One job's quarantine items waiting: how many, by reason, and the oldest.
type Waiting = (usize, BTreeMap<String, usize>, DateTime<Utc>);

/// The queues whose depth is sampled and whose dead letters fire an alert.
pub const QUEUES: [&str; 4] = [queues::DISPATCH, queues::POLL, queues::QUARANTINE, queues::CHECKS];

/// Samples every source; `firing` holds the fingerprints that fire now (quarantine growth keeps
/// firing until nothing waits).
pub async fn sample(deps: &Deps, now: DateTime<Utc>, firing: &HashSet<String>) -> Result<Gauges, FlowError> {
    let mut g = Gauges::default();
    g.sampled.insert(rules::BREAKER_OPEN);
    for e in deps.store.query(Table::BREAKERS, None, RowRange::default(), usize::MAX).await? {
        let Ok(b) = serde_json::from_value::<Breaker>(e.body) else { continue };
        if b.state == BreakerState::Closed {
            continue;
        }
        let last = b.transitions.iter().rev().find(|t| t.from == BreakerState::Closed);
        let kind = if e.partition == breakers::JOB { "job" } else { "endpoint" };
        g.fire(rules::breaker_open(kind, &e.row, last.map_or(now, |t| t.at), last.map_or("", |t| t.reason.as_str())));
    }

    g.sampled.insert(rules::STALE_DATA);
    let fresh = deps.store.query(Table::SCHEDULES, Some(alerts::FRESHNESS), RowRange::default(), usize::MAX).await?;
    for ds in deps.catalog.datasets.values() {
        let state =
            fresh.iter().find(|e| e.row == ds.id.as_str()).and_then(|e| serde_json::from_value::<alerts::Freshness>(e.body.clone()).ok());
        if let Some(stale) = state.and_then(|s| alerts::stale(ds, &s, now)) {
            g.fire(rules::stale_data(ds.id.as_str(), stale.due, stale.message));
        }
    }

    let mut all_read = true;
    for q in QUEUES {
        match deps.queue.counts(q, now).await {
            Ok(c) => {
                if c.dead_letter > 0 {
                    g.fire(rules::dead_letters(q, c.dead_letter, now));
                }
                g.queues.insert(q, c);
            }
            Err(e) => {
                all_read = false;
                tracing::warn!(queue = q, error = %e, "queue depth not read this tick");
            }
        }
    }
    if all_read {
        g.sampled.insert(rules::DEAD_LETTERS);
    }

    if now.minute() % 5 == 0 {
        g.sampled.insert(rules::QUARANTINE_GROWTH);
        let mut by_job: BTreeMap<String, Waiting> = BTreeMap::new();
        for item in crate::flows::quarantine::open_entries(deps.store.as_ref(), now).await? {
            let job = item.job.clone().unwrap_or_else(|| "(unreadable message)".into());
            let entry = by_job.entry(job).or_insert((0, BTreeMap::new(), item.at));
            entry.0 += 1;
            *entry.1.entry(item.reason.clone()).or_default() += 1;
            entry.2 = entry.2.min(item.at);
        }
        for (job, (n, reasons, oldest)) in by_job {
            let a = rules::quarantine_growth(&job, n, &reasons, oldest);
            if quarantine_fires(n, firing.contains(&a.fingerprint())) {
                g.fire(a);
            }
        }
    }

    g.sampled.insert(rules::NO_ACTIVE_RELEASE);
    g.sampled.insert(rules::REVIEW_OVERDUE);
    if deps.releases.required && crate::flows::releases::records::pointer(deps.store.as_ref()).await?.is_none() {
        g.fire(rules::no_active_release(now));
    }
    for (change, _) in crate::flows::releases::records::emergencies(deps.store.as_ref()).await? {
        if change.review_state(now) == "overdue" {
            let summary = format!(
                "the emergency change {} (incident {}) is overdue for review by a second person: `flowgate release review {}`",
                change.release.short(),
                change.incident,
                change.release.short()
            );
            g.fire(rules::review_overdue(change.release.as_str(), change.review_due, summary));
        }
    }
    Ok(g)
}

/// Whether quarantine growth fires for a job with `n` items waiting, given whether it fires now
/// (it keeps firing until nothing waits).
fn quarantine_fires(n: usize, firing: bool) -> bool {
    n >= rules::QUARANTINE_THRESHOLD || (firing && n > 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quarantine_growth_fires_at_the_threshold_and_holds_until_nothing_waits() {
        use super::quarantine_fires;
        assert!(!quarantine_fires(4, false));
        assert!(quarantine_fires(5, false));
        assert!(quarantine_fires(1, true));
        assert!(!quarantine_fires(0, true));
    }
}
