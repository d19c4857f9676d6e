//! Lineage of finished runs: builds a run's OpenLineage events from its record, the catalog and
//! the contracts, keeps them in the Store (the record `flowgate lineage export` reads), and
//! delivers them to the configured sinks. Delivery failing never fails the run.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Deps, FlowError};
use crate::domain::catalog::Job;
use crate::domain::contract::model::LogicalType;
use crate::domain::ids::RunKey;
use crate::domain::lineage::{run_events, run_id, DatasetRef, Ending, RunFacts};
use crate::domain::run::{RunRecord, RunStatus};
use crate::ports::{RowRange, Store, Table};

/// The OpenLineage namespace of jobs and datasets (`FLOWGATE_LINEAGE_NAMESPACE`, default `flowgate`).
fn namespace(deps: &Deps) -> String {
    (deps.settings)("FLOWGATE_LINEAGE_NAMESPACE").filter(|s| !s.is_empty()).unwrap_or_else(|| "flowgate".into())
}

fn type_name(t: LogicalType) -> &'static str {
    match t {
        LogicalType::String => "string",
        LogicalType::Integer => "integer",
        LogicalType::Number => "number",
        LogicalType::Boolean => "boolean",
        LogicalType::Date => "date",
        LogicalType::Timestamp => "timestamp",
        LogicalType::Other => "other",
    }
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
        .map(|t| t.properties.iter().map(|p| (p.name.clone(), type_name(p.logical_type).to_string())).collect())
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

/// START and COMPLETE/FAIL for a run that ran and finished; None for runs that never started
/// (blocked, skipped) or are not finished.
pub fn events_for(deps: &Deps, rec: &RunRecord) -> Option<[Value; 2]> {
    let ending = match rec.status {
        RunStatus::Succeeded => Ending::Complete,
        RunStatus::Failed | RunStatus::Quarantined => Ending::Fail { message: rec.error.clone().unwrap_or_else(|| rec.status.to_string()) },
        _ => return None,
    };
    let (started, finished) = (rec.started_at?, rec.finished_at?);
    let job = deps.catalog.jobs.get(&rec.job)?;
    let ns = namespace(deps);
    let key = RunKey::new(rec.job.clone(), rec.logical_time);
    let parent = matches!(job.trigger, crate::domain::catalog::Trigger::Dependencies)
        .then(|| job.depends_on.first().map(|up| RunKey::new(up.clone(), rec.logical_time)))
        .flatten();
    let kind = kind_name(job);
    let facts = RunFacts {
        key: &key,
        namespace: &ns,
        kind: &kind,
        owner: job.owner.as_deref(),
        started,
        finished,
        ending,
        parent: parent.as_ref(),
        inputs: job.inputs.iter().filter_map(|d| dataset(deps, &ns, d, rec)).collect(),
        outputs: job.outputs.iter().filter_map(|d| dataset(deps, &ns, d, rec)).collect(),
    };
    Some(run_events(&facts))
}

fn row_of(event: &Value) -> (String, String) {
    let time = event["eventTime"].as_str().unwrap_or_default();
    let day = time.get(..10).unwrap_or("unknown").to_string();
    (day, format!("{time}|{}|{}", event["run"]["runId"].as_str().unwrap_or_default(), event["eventType"].as_str().unwrap_or_default()))
}

/// Keeps a finished run's events and delivers them. Store trouble is an error (the invocation is
/// retried); a sink that fails is logged and the events stay marked undelivered.
pub async fn record(deps: &Deps, rec: &RunRecord) -> Result<(), FlowError> {
    let Some(events) = events_for(deps, rec) else { return Ok(()) };
    for e in &events {
        let (partition, row) = row_of(e);
        deps.store.upsert(Table::LINEAGE, &partition, &row, &json!({ "event": e, "delivered": false })).await?;
    }
    match deps.lineage.emit(&events).await {
        Ok(()) => {
            for e in &events {
                let (partition, row) = row_of(e);
                deps.store.upsert(Table::LINEAGE, &partition, &row, &json!({ "event": e, "delivered": true })).await?;
            }
        }
        Err(err) => tracing::warn!(run = %run_id(&RunKey::new(rec.job.clone(), rec.logical_time)), error = %err, "lineage not delivered"),
    }
    Ok(())
}

/// Stored events with event times in [from, to), oldest first.
pub async fn export(store: &dyn Store, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Vec<Value>, FlowError> {
    let rows = store.query(Table::LINEAGE, None, RowRange::default(), usize::MAX).await?;
    let mut events: Vec<(String, Value)> = rows
        .into_iter()
        .filter_map(|e| {
            let event = e.body.get("event")?.clone();
            let t = DateTime::parse_from_rfc3339(event["eventTime"].as_str()?).ok()?.with_timezone(&Utc);
            (from.is_none_or(|f| t >= f) && to.is_none_or(|x| t < x)).then_some((e.row, event))
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(events.into_iter().map(|(_, e)| e).collect())
}
