//! The weekly report of a Store: every run's facts and when each job was first alerted about,
//! read the same way from SQLite and from Table Storage, then `domain::report::build`; `stream`
//! reads the runs page by page, `publish` is the StabilityReport timer's work.

mod publish;
mod stream;

pub use publish::{publish, Published, CONTAINER};
use stream::stream_runs;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::FlowError;
use crate::domain::alert::Alert;
use crate::domain::breaker::Breaker;
use crate::domain::metrics::alerts::alert_hygiene;
use crate::domain::metrics::evaluators::{changes, evaluator_figures, Change, Changes, ReleaseEvaluation};
use crate::domain::metrics::flow::{breaker_figures, gate_figures, quarantine_flow, QuarantineFact};
use crate::domain::metrics::freshness::freshness;
use crate::domain::metrics::queue::{queue_figures, HourlyDepth};
use crate::domain::report::{build, Extras, IsoWeek, WeeklyReport};
use crate::ports::{AuditSink, RowRange, Store, StoreError, Table};

/// What the report takes from the catalog that runs.
#[derive(Debug, Clone, Default)]
pub struct ReportInputs {
    /// Each dataset's freshness threshold (its `expected_every`); datasets without one are not
    /// reported on freshness.
    pub thresholds: BTreeMap<String, std::time::Duration>,
    /// The evaluation jobs (their runs' items passed ÷ scored are evaluator pass rates).
    pub evaluation_jobs: std::collections::BTreeSet<String>,
}

impl ReportInputs {
    pub fn of(catalog: &crate::domain::catalog::Catalog) -> Self {
        Self {
            thresholds: catalog.datasets.values().filter_map(|d| Some((d.id.to_string(), d.expected_every?))).collect(),
            evaluation_jobs: catalog
                .jobs
                .values()
                .filter(|j| j.kind == crate::domain::catalog::model::JobKind::Evaluation)
                .map(|j| j.id.to_string())
                .collect(),
        }
    }
}

/// The week's report of a Store (and, when given, of its audit trail: the changes).
pub async fn weekly(
    store: &dyn Store,
    audit: Option<&dyn AuditSink>,
    week: IsoWeek,
    tz: Tz,
    inputs: &ReportInputs,
) -> Result<WeeklyReport, FlowError> {
    let thresholds = &inputs.thresholds;
    let (from, to) = week.window(tz);
    let streamed = stream_runs(store, week.previous().window(tz).0, from, to, &inputs.evaluation_jobs).await?;
    let (facts, gate_decisions) = (streamed.facts, streamed.gates);
    let gates = gate_figures(gate_decisions.iter());
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
    let mut release_evaluations = Vec::new();
    for r in super::releases::records::all_records(store).await? {
        if let Some(e) = super::releases::records::evaluation(store, &r.id).await?.filter(|e| e.at >= from && e.at < to) {
            let evaluators = e.comparison["evaluators"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    (
                        v["name"].as_str().unwrap_or("").to_string(),
                        v["n"].as_u64().unwrap_or(0),
                        v["verdict"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            release_evaluations.push(ReleaseEvaluation {
                release: r.id.short().to_string(),
                at: e.at,
                verdict: super::releases::evaluation::verdict_word(e.verdict),
                evaluators,
            });
        }
    }
    release_evaluations.sort_by_key(|e| e.at);
    let changes = match audit {
        None => Changes::default(),
        Some(a) => changes(a.read(Some(from), Some(to)).await?.into_iter().map(|e| Change {
            seq: e.seq,
            at: e.at,
            kind: serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            actor: e.actor,
            subject: e.subject,
            decision: crate::domain::text::excerpt(&e.decision, 200),
        })),
    };
    let extras = Extras {
        quarantine: quarantine_flow(&items, from, to),
        breakers,
        gates,
        freshness: fresh,
        queues,
        alerts,
        evaluators: evaluator_figures(&streamed.evals),
        release_evaluations,
        changes,
    };
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
