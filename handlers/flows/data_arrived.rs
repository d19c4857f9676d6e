//! DataArrived: a blob landed. Record the arrival against its dataset (idempotently: the same
//! event twice is one arrival) and enqueue the jobs that run on its arrival.

use chrono::{DateTime, Utc};

use super::contract_check::{self, ContractVerdict};
use super::inputs::{arrival_row, ArrivalRecord};
use super::quarantine::{self, QuarantineItem};
use super::{lifecycle, Deps, FlowError};
use crate::domain::contract::RuleResult;
use crate::domain::ids::{InvocationId, RunKey};
use crate::domain::messages::QuarantineKind;
use crate::domain::run::{RunStatus, RunTrigger};
use crate::ports::{StoreError, Table};

/// A BlobCreated event, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobCreated {
    pub container: String,
    pub path: String,
    pub size: Option<u64>,
    pub content_type: Option<String>,
    pub event_id: Option<String>,
    pub event_time: DateTime<Utc>,
}

/// What an arrival did.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrivalReport {
    Recorded {
        dataset: String,
        duplicate: bool,
        enqueued: Vec<RunKey>,
    },
    /// No dataset's location matches the blob.
    Unmatched,
    /// The blob failed its contract: quarantined, no job runs on it.
    Rejected {
        dataset: String,
        reason: String,
    },
}

pub async fn data_arrived(
    deps: &Deps,
    event: BlobCreated,
    now: DateTime<Utc>,
    invocation: &InvocationId,
) -> Result<ArrivalReport, FlowError> {
    let Some(dataset) = deps.catalog.dataset_for_blob(&event.container, &event.path) else {
        tracing::info!(container = %event.container, path = %event.path, "blob belongs to no dataset; ignored");
        return Ok(ArrivalReport::Unmatched);
    };
    let record = ArrivalRecord {
        dataset: dataset.id.to_string(),
        container: event.container.clone(),
        path: event.path.clone(),
        size: event.size,
        content_type: event.content_type.clone(),
        event_id: event.event_id.clone(),
        arrived_at: event.event_time,
        invocation_id: Some(invocation.to_string()),
        contract_passed: None,
        schema_version: None,
    };
    let row = arrival_row(event.event_time, &event.path);
    let body = serde_json::to_value(&record).unwrap_or_default();
    let duplicate = match deps.store.insert(Table::ARRIVALS, dataset.id.as_str(), &row, &body).await {
        Ok(_) => false,
        Err(StoreError::Conflict(_)) => true,
        Err(e) => return Err(e.into()),
    };
    let mut enqueued = Vec::new();
    super::alerts::arrived(deps, &dataset.id, event.event_time).await?;
    if let Some(contract) = deps.contracts.get(&dataset.id).cloned() {
        let verdict = match contract_check::for_arrival(deps, dataset.id.as_str(), &row).await? {
            Some(v) => v, // a duplicate event: the blob was checked already
            None => {
                let v = contract_check::check_blob(deps, dataset, &contract, &event.container, &event.path, event.event_time, now).await?;
                contract_check::record(deps, &v, &row).await?;
                let failed: Vec<&RuleResult> = v.report.iter().flat_map(|r| r.failed()).collect();
                let evidence = serde_json::json!({ "blob": format!("{}/{}", v.container, v.path), "schema_version": v.schema_version, "rows": v.report.as_ref().map(|r| r.rows), "failed_rules": failed, "unusable": v.unusable });
                let decision = if v.passed { "contract passed".to_string() } else { format!("contract failed: {}", v.summary()) };
                super::audit::record(
                    deps,
                    now,
                    crate::domain::audit::AuditKind::ArrivalChecked,
                    format!("{}:{}", v.dataset, v.path),
                    decision,
                    evidence,
                    Some(invocation.as_str()),
                )
                .await?;
                let mut rec = record.clone();
                rec.contract_passed = Some(v.passed);
                rec.schema_version = v.schema_version.clone();
                deps.store.upsert(Table::ARRIVALS, dataset.id.as_str(), &row, &serde_json::to_value(&rec).unwrap_or_default()).await?;
                v
            }
        };
        if !verdict.passed {
            quarantine_blob(deps, &verdict, invocation, now).await?;
            tracing::warn!(dataset = %dataset.id, path = %event.path, "arrival failed its contract: {}", verdict.summary());
            return Ok(ArrivalReport::Rejected { dataset: dataset.id.to_string(), reason: verdict.summary() });
        }
    }
    for job in deps.catalog.jobs_on_arrival(&dataset.id) {
        let trigger = RunTrigger::Arrival { dataset: dataset.id.to_string(), container: event.container.clone(), path: event.path.clone() };
        let (status, reason) = if job.depends_on.is_empty() {
            (RunStatus::Pending, None)
        } else {
            (RunStatus::Waiting, Some("waiting for its dependencies".to_string()))
        };
        let key = create_arrival_run(deps, job, event.event_time, &trigger, status, reason, now).await?;
        if status == RunStatus::Pending {
            lifecycle::dispatch(deps, &key, trigger, now).await?;
        }
        enqueued.push(key);
    }
    tracing::info!(dataset = %dataset.id, path = %event.path, duplicate, jobs = enqueued.len(), "arrival recorded");
    Ok(ArrivalReport::Recorded { dataset: dataset.id.to_string(), duplicate, enqueued })
}

/// Other blobs that may share one millisecond of arrival time (each one more run, a millisecond
/// later) before the arrival is refused as an error.
const SAME_MILLISECOND: i64 = 1000;

/// Creates this arrival's run of `job` (or finds it, for a duplicate event) and returns its key.
/// The logical time is the event time; two blobs that arrive within one millisecond (a bulk
/// upload) are two runs, the later one a millisecond after the other, so neither is dropped.
async fn create_arrival_run(
    deps: &Deps,
    job: &crate::domain::catalog::Job,
    at: DateTime<Utc>,
    trigger: &RunTrigger,
    status: RunStatus,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<RunKey, FlowError> {
    for offset in 0..SAME_MILLISECOND {
        let logical = at + chrono::Duration::milliseconds(offset);
        let key = RunKey::new(job.id.clone(), logical);
        if lifecycle::create(deps, job, logical, trigger.clone(), status, reason.clone(), now).await? {
            return Ok(key);
        }
        match super::runs::load(deps.store.as_ref(), &key).await? {
            Some((existing, _)) if existing.trigger != *trigger => continue,
            _ => return Ok(key),
        }
    }
    Err(FlowError::Crowded(format!(
        "more than {SAME_MILLISECOND} blobs of one dataset arrived in the same millisecond for job `{}`",
        job.id
    )))
}

/// Quarantines a blob that failed its contract: a record with the failing rules as evidence (no
/// cell values); the blob stays where it landed.
async fn quarantine_blob(deps: &Deps, v: &ContractVerdict, invocation: &InvocationId, now: DateTime<Utc>) -> Result<(), FlowError> {
    let failed: Vec<&RuleResult> = v.report.iter().flat_map(|r| r.failed()).collect();
    let item = QuarantineItem {
        id: format!("data:{}:{}/{}", v.dataset, v.container, v.path),
        kind: QuarantineKind::Data,
        reason: format!("`{}` failed its data contract: {}", v.path, v.summary()),
        at: now,
        job: None,
        logical_time: Some(v.arrived_at),
        attempts: 1,
        last_error: v.unusable.clone(),
        evidence: serde_json::json!({
            "dataset": v.dataset,
            "blob": format!("{}/{}", v.container, v.path),
            "schema_version": v.schema_version,
            "rows": v.report.as_ref().map(|r| r.rows),
            "failed_rules": failed,
        }),
        invocation_id: Some(invocation.to_string()),
        status: Default::default(),
        history: Vec::new(),
    };
    quarantine::put(deps, &item).await
}
