//! DataArrived: a blob landed. Record the arrival against its dataset (idempotently: the same
//! event twice is one arrival) and enqueue the jobs that run on its arrival.

use chrono::{DateTime, Utc};

use super::inputs::{arrival_row, ArrivalRecord};
use super::{lifecycle, Deps, FlowError};
use crate::domain::ids::{InvocationId, RunKey};
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
    };
    let body = serde_json::to_value(&record).unwrap_or_default();
    let duplicate = match deps.store.insert(Table::ARRIVALS, dataset.id.as_str(), &arrival_row(event.event_time, &event.path), &body).await
    {
        Ok(_) => false,
        Err(StoreError::Conflict(_)) => true,
        Err(e) => return Err(e.into()),
    };
    let mut enqueued = Vec::new();
    super::alerts::arrived(deps, &dataset.id, event.event_time).await?;
    for job in deps.catalog.jobs_on_arrival(&dataset.id) {
        let key = RunKey::new(job.id.clone(), event.event_time);
        let trigger = RunTrigger::Arrival { dataset: dataset.id.to_string(), container: event.container.clone(), path: event.path.clone() };
        if job.depends_on.is_empty() {
            lifecycle::create(deps, job, event.event_time, trigger.clone(), RunStatus::Pending, None, now).await?;
            lifecycle::dispatch(deps, &key, trigger, now).await?;
        } else {
            let reason = Some("waiting for its dependencies".to_string());
            lifecycle::create(deps, job, event.event_time, trigger, RunStatus::Waiting, reason, now).await?;
        }
        enqueued.push(key);
    }
    tracing::info!(dataset = %dataset.id, path = %event.path, duplicate, jobs = enqueued.len(), "arrival recorded");
    Ok(ArrivalReport::Recorded { dataset: dataset.id.to_string(), duplicate, enqueued })
}
