//! Putting what cannot succeed where a person will see it: a record in the Store and a message on
//! the `quarantine` queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{runs, Deps, FlowError};
use crate::domain::audit::AuditKind;
use crate::domain::ids::{JobId, RunKey};
use crate::domain::messages::{QuarantineKind, QuarantineMessage, QUARANTINE_V1};
use crate::ports::{queues, AuditSink, ETag, OutgoingMessage, Queue, RowRange, Store, StoreError, Table};

/// A quarantine item as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineItem {
    pub id: String,
    pub kind: QuarantineKind,
    pub reason: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub job: Option<String>,
    #[serde(default)]
    pub logical_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    /// What was seen: an error body, or an excerpt of an unreadable message.
    #[serde(default)]
    pub evidence: Value,
    #[serde(default)]
    pub invocation_id: Option<String>,
    #[serde(default)]
    pub status: ItemStatus,
    /// What people did with it, oldest first.
    #[serde(default)]
    pub history: Vec<ItemEvent>,
}

/// Where a quarantine item stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    #[default]
    Open,
    Replayed,
    Discarded,
}

/// One thing done to an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemEvent {
    pub at: DateTime<Utc>,
    /// `quarantined`, `replayed` or `discarded`.
    pub action: String,
    pub by: String,
    #[serde(default)]
    pub note: Option<String>,
}

fn partition(kind: QuarantineKind) -> &'static str {
    match kind {
        QuarantineKind::Run => "run",
        QuarantineKind::PoisonMessage => "poison",
        QuarantineKind::Data => "data",
    }
}

/// Partition of `Table::SCHEDULES` indexing the open items (row = the item's id), so that the
/// monitor counts what waits for a person without reading every item ever quarantined.
pub const OPEN_INDEX: &str = "quarantine-open";
/// Row of the `cursor` partition of `Table::SCHEDULES` naming the UTC day the index was last
/// checked against the items: once a day it is rebuilt from them (a state written before the
/// index existed, or a write of the item that landed without its index row, is right again).
const INDEX_CHECKED: &str = "quarantine-open-index";

/// An open item as the index keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenEntry {
    #[serde(default)]
    pub job: Option<String>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

async fn index_open(store: &dyn Store, item: &QuarantineItem) -> Result<(), StoreError> {
    let entry = OpenEntry { job: item.job.clone(), reason: item.reason.clone(), at: item.at };
    store.upsert(Table::SCHEDULES, OPEN_INDEX, &item.id, &serde_json::to_value(entry).unwrap_or_default()).await.map(|_| ())
}

async fn unindex(store: &dyn Store, id: &str) -> Result<(), StoreError> {
    super::alerts::ignore_missing(store.delete(Table::SCHEDULES, OPEN_INDEX, id, None).await)
}

/// The open items, from the index (checked against the items on the first call of each UTC day).
pub async fn open_entries(store: &dyn Store, now: DateTime<Utc>) -> Result<Vec<OpenEntry>, StoreError> {
    let today = now.format("%Y-%m-%d").to_string();
    let checked = store.get(Table::SCHEDULES, "cursor", INDEX_CHECKED).await?;
    if checked.as_ref().and_then(|e| e.body["day"].as_str()) != Some(today.as_str()) {
        let open = list(store, false).await?;
        let ids: std::collections::HashSet<&str> = open.iter().map(|i| i.id.as_str()).collect();
        for e in store.query(Table::SCHEDULES, Some(OPEN_INDEX), RowRange::default(), usize::MAX).await? {
            if !ids.contains(e.row.as_str()) {
                unindex(store, &e.row).await?;
            }
        }
        for item in &open {
            index_open(store, item).await?;
        }
        let body = serde_json::json!({ "day": today });
        let written = match &checked {
            Some(e) => store.replace(Table::SCHEDULES, "cursor", INDEX_CHECKED, &body, &e.etag).await,
            None => store.insert(Table::SCHEDULES, "cursor", INDEX_CHECKED, &body).await,
        };
        match written {
            Ok(_) | Err(StoreError::Conflict(_) | StoreError::PreconditionFailed(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let rows = store.query(Table::SCHEDULES, Some(OPEN_INDEX), RowRange::default(), usize::MAX).await?;
    Ok(rows.into_iter().filter_map(|e| serde_json::from_value(e.body).ok()).collect())
}

/// Records the item (idempotently: while an item is open, the same id again keeps the first; an
/// item that was replayed and failed again is reopened with its history) and announces it.
pub async fn put(deps: &Deps, item: &QuarantineItem) -> Result<(), FlowError> {
    let part = partition(item.kind);
    let body = serde_json::to_value(item).unwrap_or(Value::Null);
    match deps.store.insert(Table::QUARANTINE, part, &item.id, &body).await {
        Ok(_) => index_open(deps.store.as_ref(), item).await?,
        Err(StoreError::Conflict(_)) => {
            let Some(e) = deps.store.get(Table::QUARANTINE, part, &item.id).await? else { return Ok(()) };
            let Ok(old) = serde_json::from_value::<QuarantineItem>(e.body) else { return Ok(()) };
            if old.status == ItemStatus::Open {
                // Again (the first write may have failed after the item landed).
                index_open(deps.store.as_ref(), &old).await?;
                return Ok(());
            }
            let mut again = item.clone();
            again.history = old.history;
            again.history.push(ItemEvent {
                at: item.at,
                action: "quarantined".into(),
                by: "system".into(),
                note: Some(item.reason.clone()),
            });
            match deps.store.replace(Table::QUARANTINE, part, &item.id, &serde_json::to_value(&again).unwrap_or_default(), &e.etag).await {
                Ok(_) => index_open(deps.store.as_ref(), &again).await?,
                Err(StoreError::PreconditionFailed(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    }
    let msg = QuarantineMessage {
        flowgate_message: QUARANTINE_V1.into(),
        id: item.id.clone(),
        kind: item.kind,
        reason: item.reason.clone(),
        at: item.at,
    };
    deps.queue
        .send(
            queues::QUARANTINE,
            OutgoingMessage {
                message_id: format!("quarantine:{}", item.id),
                correlation_id: item.job.clone(),
                body: serde_json::to_string(&msg).unwrap_or_default(),
                scheduled_enqueue_time: None,
                time_to_live: None,
                sent_at: item.at,
            },
        )
        .await?;
    Ok(())
}

pub use crate::domain::text::excerpt;

/// Why a quarantine operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("no quarantine item `{0}`")]
    NotFound(String),
    #[error("`{id}` is {status:?}, not open")]
    Closed { id: String, status: ItemStatus },
    #[error("`{0}` cannot be replayed: {1}")]
    NotReplayable(String, &'static str),
    #[error("a reason is required to discard an item")]
    NoReason,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::ports::QueueError),
    #[error("audit trail unavailable: {0}")]
    Audit(String),
    #[error("{0}")]
    Flow(String),
}

const PARTITIONS: [&str; 3] = ["run", "data", "poison"];

/// Every item, newest first; closed ones only with `include_closed`.
pub async fn list(store: &dyn Store, include_closed: bool) -> Result<Vec<QuarantineItem>, StoreError> {
    let mut out = Vec::new();
    for e in store.query(Table::QUARANTINE, None, RowRange::default(), usize::MAX).await? {
        if let Ok(item) = serde_json::from_value::<QuarantineItem>(e.body) {
            if include_closed || item.status == ItemStatus::Open {
                out.push(item);
            }
        }
    }
    out.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// One item and its ETag.
pub async fn find(store: &dyn Store, id: &str) -> Result<(QuarantineItem, ETag, &'static str), QuarantineError> {
    for part in PARTITIONS {
        if let Some(e) = store.get(Table::QUARANTINE, part, id).await? {
            let item = serde_json::from_value(e.body).map_err(|err| StoreError::Corrupt(id.to_string(), err.to_string()))?;
            return Ok((item, e.etag, part));
        }
    }
    Err(QuarantineError::NotFound(id.to_string()))
}

async fn close(
    store: &dyn Store,
    id: &str,
    status: ItemStatus,
    by: &str,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<QuarantineItem, QuarantineError> {
    let (mut item, etag, part) = find(store, id).await?;
    if item.status != ItemStatus::Open {
        return Err(QuarantineError::Closed { id: id.to_string(), status: item.status });
    }
    item.status = status;
    let action = if status == ItemStatus::Replayed { "replayed" } else { "discarded" };
    item.history.push(ItemEvent { at: now, action: action.into(), by: by.to_string(), note });
    store.replace(Table::QUARANTINE, part, id, &serde_json::to_value(&item).unwrap_or_default(), &etag).await?;
    unindex(store, id).await?;
    Ok(item)
}

/// Discards an item, with the reason and who did it. The run or blob it names is left as it is.
pub async fn discard(
    store: &dyn Store,
    audit: &dyn AuditSink,
    id: &str,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<QuarantineItem, QuarantineError> {
    if reason.trim().is_empty() {
        return Err(QuarantineError::NoReason);
    }
    let item = close(store, id, ItemStatus::Discarded, by, Some(reason.trim().to_string()), now).await?;
    super::audit::record_by(
        audit,
        now,
        AuditKind::Discarded,
        by,
        id,
        reason.trim(),
        serde_json::json!({ "kind": item.kind, "reason": item.reason }),
        None,
    )
    .await
    .map_err(|e| QuarantineError::Audit(e.to_string()))?;
    Ok(item)
}

/// Replays a quarantined run: a fresh attempt series under the same run key (its earlier attempts
/// are kept in the record). Data items are fixed at their source (land a corrected blob), and
/// unreadable messages can only be discarded.
pub async fn replay(
    store: &dyn Store,
    queue: &dyn Queue,
    audit: &dyn AuditSink,
    id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<RunKey, QuarantineError> {
    let (item, _, _) = find(store, id).await?;
    if item.status != ItemStatus::Open {
        return Err(QuarantineError::Closed { id: id.to_string(), status: item.status });
    }
    let key = match (item.kind, &item.job, item.logical_time) {
        (QuarantineKind::Run, Some(job), Some(t)) => match JobId::parse(job.clone()) {
            Ok(j) => RunKey::new(j, t),
            Err(_) => return Err(QuarantineError::NotReplayable(id.to_string(), "its job name is not valid")),
        },
        (QuarantineKind::Run, _, _) => return Err(QuarantineError::NotReplayable(id.to_string(), "it names no run")),
        (QuarantineKind::Data, _, _) => {
            return Err(QuarantineError::NotReplayable(id.to_string(), "data is fixed at its source: land a corrected blob"))
        }
        (QuarantineKind::PoisonMessage, _, _) => {
            return Err(QuarantineError::NotReplayable(id.to_string(), "an unreadable message can only be discarded"))
        }
    };
    let Some((rec, etag)) = runs::load(store, &key).await? else {
        return Err(QuarantineError::NotReplayable(id.to_string(), "its run record is gone"));
    };
    if !rec.status.is_terminal() {
        return Err(QuarantineError::NotReplayable(id.to_string(), "its run is still going"));
    }
    let rec =
        super::lifecycle::restart(store, queue, &key, rec, &etag, format!("replayed by {by}"), now).await.map_err(QuarantineError::from)?;
    close(store, id, ItemStatus::Replayed, by, None, now).await?;
    super::audit::record_by(
        audit,
        now,
        AuditKind::Replayed,
        by,
        key.to_string(),
        format!("replay {} of {id}", rec.replays),
        serde_json::json!({ "prior_attempts": rec.prior_attempts }),
        None,
    )
    .await
    .map_err(|e| QuarantineError::Audit(e.to_string()))?;
    Ok(key)
}

impl From<super::FlowError> for QuarantineError {
    fn from(e: super::FlowError) -> Self {
        match e {
            super::FlowError::Store(e) => Self::Store(e),
            super::FlowError::Queue(e) => Self::Queue(e),
            other => Self::Flow(other.to_string()),
        }
    }
}
