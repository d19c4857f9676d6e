//! Putting what cannot succeed where a person will see it: a record in the Store and a message on
//! the `quarantine` queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Deps, FlowError};
use crate::domain::messages::{QuarantineKind, QuarantineMessage, QUARANTINE_V1};
use crate::ports::{queues, OutgoingMessage, StoreError, Table};

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
}

fn partition(kind: QuarantineKind) -> &'static str {
    match kind {
        QuarantineKind::Run => "run",
        QuarantineKind::PoisonMessage => "poison",
        QuarantineKind::Data => "data",
    }
}

/// Records the item (idempotently: the same id twice keeps the first) and announces it.
pub async fn put(deps: &Deps, item: &QuarantineItem) -> Result<(), FlowError> {
    let body = serde_json::to_value(item).unwrap_or(Value::Null);
    match deps.store.insert(Table::QUARANTINE, partition(item.kind), &item.id, &body).await {
        Ok(_) | Err(StoreError::Conflict(_)) => {}
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

/// Keeps at most `max` bytes of a text, on a character boundary.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}
