//! Lineage of finished runs: what a run's OpenLineage events are made of is taken from its record,
//! the catalog and the contracts, and kept in the run record itself (a few hundred bytes, written
//! with the run's end; what `flowgate lineage export` makes the events from again), and the
//! events are delivered to the configured sinks. Delivery failing never fails the run.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Deps, FlowError};
use crate::domain::catalog::Job;
use crate::domain::contract::model::LogicalType;
use crate::domain::ids::RunKey;
use crate::domain::lineage::{run_id, DatasetRef, Ending, StoredFacts};
use crate::domain::run::{RunRecord, RunStatus};
use crate::ports::{RowRange, Store, Table};

/// The OpenLineage namespace of jobs and datasets (`FLOWGATE_LINEAGE_NAMESPACE`, default `flowgate`).
fn namespace(deps: &Deps) -> String {
    (deps.settings)("FLOWGATE_LINEAGE_NAMESPACE").filter(|s| !s.is_empty()).unwrap_or_else(|| "flowgate".into())
}

fn kind_name(job: &Job) -> String {
    serde_json::to_value(job.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn dataset(deps: &Deps, ns: &str, id: &crate::domain::ids::DatasetId, rec: &RunRecord) -> Option<DatasetRef> {
    let ds = deps.catalog.datasets.get(id)?;
    let fields = deps
        .contracts
        .get(id)
        .and_then(|c| c.tables.first())
        .map(|t| t.properties.iter().map(|p| (p.name.clone(), LogicalType::name(p.logical_type).to_string())).collect())
        .unwrap_or_default();
    let assertions = rec
        .gate
        .iter()
        .flat_map(|g| g.checks.iter())
        .filter(|c| c.dataset == id.as_str())
        .map(|c| (c.gate.clone(), c.passed, None))
        .collect();
    Some(DatasetRef { namespace: ns.to_string(), name: format!("{}/{}", ds.location.container, ds.location.prefix), fields, assertions })
}

/// What the events of a run that ran and finished are made of; None for runs that never started
/// (blocked, skipped) or are not finished.
pub fn facts_for(deps: &Deps, rec: &RunRecord) -> Option<StoredFacts> {
    let ending = match rec.status {
        RunStatus::Succeeded => Ending::Complete,
        RunStatus::Failed | RunStatus::Quarantined => Ending::Fail { message: rec.error.clone().unwrap_or_else(|| rec.status.to_string()) },
        _ => return None,
    };
    let (started, finished) = (rec.started_at?, rec.finished_at?);
    let job = deps.catalog.jobs.get(&rec.job)?;
    let ns = namespace(deps);
    let parent_job =
        matches!(job.trigger, crate::domain::catalog::Trigger::Dependencies).then(|| job.depends_on.first().cloned()).flatten();
    Some(StoredFacts {
        kind: kind_name(job),
        owner: job.owner.clone(),
        started,
        finished,
        ending,
        parent_job,
        inputs: job.inputs.iter().filter_map(|d| dataset(deps, &ns, d, rec)).collect(),
        outputs: job.outputs.iter().filter_map(|d| dataset(deps, &ns, d, rec)).collect(),
        namespace: ns,
    })
}

/// Hands a finished run's events to the configured sinks, off the invocation's path (the run's
/// answer does not wait for an OpenLineage server or Purview). A sink that fails is logged; the
/// events stay in the run record, where `flowgate lineage export` reads them.
pub fn deliver(deps: &Deps, rec: &RunRecord) {
    let Some(facts) = &rec.lineage else { return };
    let key = RunKey::new(rec.job.clone(), rec.logical_time);
    let events = facts.events(&key);
    let (sink, run) = (deps.lineage.clone(), run_id(&key));
    tokio::spawn(async move {
        if let Err(err) = sink.emit(&events).await {
            tracing::warn!(%run, error = %err, "lineage not delivered");
        }
    });
}

/// Finished runs' events with event times in [from, to), oldest first (START before its end).
pub async fn export(store: &dyn Store, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Vec<Value>, FlowError> {
    let rows = store.query(Table::RUNS, None, RowRange::default(), usize::MAX).await?;
    let mut events: Vec<(String, String, u8, Value)> = Vec::new();
    for e in rows {
        let Ok(rec) = serde_json::from_value::<RunRecord>(e.body) else { continue };
        let Some(facts) = &rec.lineage else { continue };
        for event in &facts.events(&RunKey::new(rec.job.clone(), rec.logical_time)) {
            let Some(t) = event["eventTime"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
            else {
                continue;
            };
            if from.is_none_or(|f| t >= f) && to.is_none_or(|x| t < x) {
                let order = u8::from(event["eventType"] != "START");
                let run = event["run"]["runId"].as_str().unwrap_or_default().to_string();
                events.push((event["eventTime"].as_str().unwrap_or_default().to_string(), run, order, event.clone()));
            }
        }
    }
    events.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    Ok(events.into_iter().map(|(_, _, _, e)| e).collect())
}
