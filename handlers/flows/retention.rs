//! Retention of local records: removes what is older than the policy and finished — runs that
//! ended (with their lineage), arrivals and their contract results, delivered alerts, closed quarantine
//! items — and records what it removed as an audit event. The audit trail itself is never pruned
//! here (its chain is the proof; in Azure its immutable container's policy governs it).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::FlowError;
use crate::domain::audit::AuditKind;
use crate::domain::run::RunRecord;
use crate::ports::{AuditSink, Entity, RowRange, Store, Table};

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RetentionReport {
    pub cutoff: Option<DateTime<Utc>>,
    pub runs: u64,
    pub arrivals: u64,
    pub contract_results: u64,
    pub alerts: u64,
    pub quarantine: u64,
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

async fn all(store: &dyn Store, table: Table) -> Result<Vec<Entity>, FlowError> {
    Ok(store.query(table, None, RowRange::default(), usize::MAX).await?)
}

/// Removes records finished before `now - keep` (only counts them when `dry_run`).
pub async fn apply(
    store: &dyn Store,
    audit: &dyn AuditSink,
    keep: std::time::Duration,
    now: DateTime<Utc>,
    dry_run: bool,
    actor: &str,
) -> Result<RetentionReport, FlowError> {
    let cutoff = now - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let mut r = RetentionReport { cutoff: Some(cutoff), ..RetentionReport::default() };
    let mut doomed: Vec<(Table, Entity)> = Vec::new();
    for e in all(store, Table::RUNS).await? {
        let Ok(run) = serde_json::from_value::<RunRecord>(e.body.clone()) else { continue };
        if run.status.is_terminal() && run.finished_at.unwrap_or(run.created_at) < cutoff && run.logical_time < cutoff {
            r.runs += 1;
            doomed.push((Table::RUNS, e));
        }
    }
    for e in all(store, Table::ARRIVALS).await? {
        if time(&e.body["arrived_at"]).is_some_and(|t| t < cutoff) {
            r.arrivals += 1;
            doomed.push((Table::ARRIVALS, e));
        }
    }
    for e in all(store, Table::CONTRACT_RESULTS).await? {
        // Keyed like the arrival it checked: its time comes first.
        let at = e.row.split('|').next().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
        if at.is_some_and(|t| t < cutoff) {
            r.contract_results += 1;
            doomed.push((Table::CONTRACT_RESULTS, e));
        }
    }
    for e in all(store, Table::ALERTS).await? {
        let delivered = e.body.get("delivered").and_then(Value::as_bool).unwrap_or(true);
        if delivered && time(&e.body["raised_at"]).is_some_and(|t| t < cutoff) {
            r.alerts += 1;
            doomed.push((Table::ALERTS, e));
        }
    }
    for e in all(store, Table::QUARANTINE).await? {
        let closed = matches!(e.body["status"].as_str(), Some("replayed" | "discarded"));
        let last = e.body["history"].as_array().and_then(|h| h.last()).and_then(|h| time(&h["at"])).or_else(|| time(&e.body["at"]));
        if closed && last.is_some_and(|t| t < cutoff) {
            r.quarantine += 1;
            doomed.push((Table::QUARANTINE, e));
        }
    }
    if dry_run || doomed.is_empty() {
        return Ok(r);
    }
    for (table, e) in &doomed {
        // Conditional on the version read: a record that changed since is kept.
        match store.delete(*table, &e.partition, &e.row, Some(&e.etag)).await {
            Ok(()) | Err(crate::ports::StoreError::PreconditionFailed(_) | crate::ports::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let evidence = json!(r);
    super::audit::record_by(
        audit,
        now,
        AuditKind::RetentionApplied,
        actor,
        "local records",
        format!("removed {} record(s) finished before {}", doomed.len(), cutoff.to_rfc3339()),
        evidence,
        None,
    )
    .await?;
    Ok(r)
}
