//! The weekly report of a Store: every run's facts and when each job was first alerted about,
//! read the same way from SQLite and from Table Storage, then `domain::report::build`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::alert::Alert;
use crate::domain::breaker::Breaker;
use crate::domain::metrics::flow::{breaker_figures, gate_figures, quarantine_flow, QuarantineFact};
use crate::domain::metrics::alerts::alert_hygiene;
use crate::domain::metrics::freshness::freshness;
use crate::domain::metrics::queue::{queue_figures, HourlyDepth};
use crate::domain::metrics::RunFacts;
use crate::domain::report::{build, Extras, IsoWeek, WeeklyReport};
use crate::ports::{RowRange, Store, StoreError, Table};

/// `thresholds`: each dataset's freshness threshold (its `expected_every`), from the catalog that
/// runs; datasets without one are not reported on freshness.
pub async fn weekly(
    store: &dyn Store,
    week: IsoWeek,
    tz: Tz,
    thresholds: &BTreeMap<String, std::time::Duration>,
) -> Result<WeeklyReport, StoreError> {
    let runs = super::runs::list(store, None, usize::MAX).await?;
    let facts: Vec<RunFacts> = runs.iter().map(RunFacts::of).collect();
    let (from, to) = week.window(tz);
    let ended = |f: &RunFacts| f.ended_in(from, to);
    let gates = gate_figures(runs.iter().zip(&facts).filter(|(_, f)| ended(f)).filter_map(|(r, _)| r.gate.as_ref()));
    let items: Vec<QuarantineFact> = super::quarantine::list(store, true)
        .await?
        .into_iter()
        .map(|q| QuarantineFact {
            kind: serde_json::to_value(q.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            at: q.at,
            closed: q.history.iter().rev().find(|e| e.action == "replayed" || e.action == "discarded").map(|e| (e.at, e.action.clone())),
        })
        .collect();
    let mut breakers = Vec::new();
    for e in store.query(Table::BREAKERS, None, RowRange::default(), usize::MAX).await? {
        if let Ok(b) = serde_json::from_value::<Breaker>(e.body) {
            let f = breaker_figures(&format!("{}/{}", e.partition, e.row), &b.transitions, b.state, from, to);
            if f.opened > 0 || f.open_secs > 0 {
                breakers.push(f);
            }
        }
    }
    let mut fresh = Vec::new();
    for (dataset, threshold) in thresholds {
        let (mut accepted, mut rejected) = (Vec::new(), 0u64);
        for e in store.query(Table::ARRIVALS, Some(dataset), RowRange::default(), usize::MAX).await? {
            if let Ok(a) = serde_json::from_value::<super::inputs::ArrivalRecord>(e.body) {
                match a.contract_passed {
                    Some(false) => rejected += u64::from(a.arrived_at >= from && a.arrived_at < to),
                    _ => accepted.push(a.arrived_at),
                }
            }
        }
        let threshold = chrono::Duration::from_std(*threshold).unwrap_or(chrono::Duration::days(365));
        fresh.push(freshness(dataset, &accepted, rejected, threshold, from, to));
    }
    let queues = queue_figures(&hourly_depths(store).await?, from, to);
    let alerts = alert_hygiene(
        &super::monitor::states(store, from).await?,
        &silences_set(store).await?,
        &super::monitor::deliver::deliveries(store, from).await?,
        from,
        to,
    );
    let extras = Extras { quarantine: quarantine_flow(&items, from, to), breakers, gates, freshness: fresh, queues, alerts };
    let mut notices: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    for a in store
        .query(Table::ALERTS, None, RowRange::default(), usize::MAX)
        .await?
        .into_iter()
        .filter_map(|e| serde_json::from_value::<Alert>(e.body).ok())
    {
        notices.entry(a.subject.clone()).or_default().push(a.raised_at);
    }
    for v in notices.values_mut() {
        v.sort();
    }
    let notified = |job: &str, at: DateTime<Utc>| notices.get(job).and_then(|v| v.iter().find(|t| **t >= at).copied());
    Ok(build(week, tz, &facts, &notified, extras))
}

async fn hourly_depths(store: &dyn Store) -> Result<Vec<HourlyDepth>, StoreError> {
    let rows = store.query(Table::METRICS, Some(super::monitor::deliver::QUEUE_DEPTH), RowRange::default(), usize::MAX).await?;
    Ok(rows.into_iter().filter_map(|e| serde_json::from_value(e.body).ok()).collect())
}

/// Every silence with when it was set (its row key starts with that instant).
async fn silences_set(store: &dyn Store) -> Result<Vec<(DateTime<Utc>, crate::domain::alerting::Silence)>, StoreError> {
    let rows = store.query(Table::ALERT_STATE, Some(super::monitor::SILENCE), RowRange::default(), usize::MAX).await?;
    Ok(rows
        .into_iter()
        .filter_map(|e| {
            let set = e.row.split('|').next().and_then(|t| DateTime::parse_from_rfc3339(t).ok())?.with_timezone(&Utc);
            Some((set, serde_json::from_value(e.body).ok()?))
        })
        .collect())
}
