//! Copies the audit trail to Log Analytics (the AuditCopy port), oldest first, in batches under
//! 1 MB, from a cursor kept in the Store: an outage only delays the copy (the cursor stays where
//! the last accepted batch ended), and a lease on the cursor keeps two instances from sending the
//! same events. Each row carries the event's `Seq` and `Hash`, so a batch sent again after a
//! crash between acceptance and the cursor write is recognisable in queries.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Deps, FlowError};
use crate::domain::audit::AuditEvent;
use crate::ports::{AuditCopy, StoreError, Table};

/// Where the cursor lives.
const PARTITION: &str = "cursor";
const ROW: &str = "audit_copy";
/// Serialized rows per call stay under this (the API takes 1 MiB per call).
pub const BATCH_BYTES: usize = 1_000_000;
/// The longest evidence text sent (the API truncates fields at 64 KB anyway).
const EVIDENCE_CHARS: usize = 32 * 1024;
/// How long one pass holds the cursor.
const LEASE_SECONDS: i64 = 120;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyReport {
    pub sent: u64,
    pub batches: u32,
    /// The cursor after the pass.
    pub cursor: u64,
    /// Why the pass stopped early (the rest goes next pass).
    pub stopped: Option<String>,
}

/// One audit event as a row of the stream (`Custom-FlowgateAudit_CL`'s columns).
pub fn row(e: &AuditEvent) -> Value {
    json!({
        "TimeGenerated": e.at,
        "Seq": e.seq,
        "Kind": e.kind,
        "Actor": e.actor,
        "Subject": e.subject,
        "Decision": e.decision,
        "Evidence": crate::domain::text::excerpt(&e.evidence.to_string(), EVIDENCE_CHARS),
        "InvocationId": e.invocation_id,
        "PrevHash": e.prev_hash,
        "Hash": e.hash,
    })
}

/// Splits rows into batches whose JSON array stays under `max` bytes.
pub fn batches(rows: Vec<Value>, max: usize) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = Vec::new();
    let mut size = 2;
    for r in rows {
        let len = r.to_string().len() + 1;
        if out.last().is_none_or(|b| !b.is_empty() && size + len > max) {
            out.push(Vec::new());
            size = 2;
        }
        size += len;
        out.last_mut().expect("pushed above").push(r);
    }
    out
}

/// Sends what was appended since the cursor, until caught up or stopped.
pub async fn copy_pass(deps: &Deps, copy: &dyn AuditCopy, now: DateTime<Utc>) -> Result<CopyReport, FlowError> {
    // Take the cursor's lease: of two instances, one copies.
    let (mut cursor, mut etag) = match deps.store.get(Table::SCHEDULES, PARTITION, ROW).await? {
        Some(e) => {
            let leased = e.body["lease_until"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t > now);
            if leased {
                return Ok(CopyReport { stopped: Some("another instance holds the copy's lease".into()), ..CopyReport::default() });
            }
            (e.body["seq"].as_u64().unwrap_or(0), Some(e.etag))
        }
        None => (0, None),
    };
    let lease = |seq: u64, held: bool| json!({ "seq": seq, "lease_until": held.then(|| now + chrono::Duration::seconds(LEASE_SECONDS)) });
    let write = |seq: u64, held: bool, etag: Option<crate::ports::ETag>| async move {
        match etag {
            Some(t) => deps.store.replace(Table::SCHEDULES, PARTITION, ROW, &lease(seq, held), &t).await,
            None => deps.store.insert(Table::SCHEDULES, PARTITION, ROW, &lease(seq, held)).await,
        }
    };
    etag = match write(cursor, true, etag).await {
        Ok(t) => Some(t),
        Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => {
            return Ok(CopyReport { stopped: Some("another instance took the copy's lease".into()), ..CopyReport::default() })
        }
        Err(e) => return Err(e.into()),
    };
    let mut report = CopyReport { cursor, ..CopyReport::default() };
    'pass: loop {
        let events = deps.audit.read_after(cursor, 5_000).await?;
        if events.is_empty() {
            break;
        }
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        let mut done = 0;
        for batch in batches(events.iter().map(row).collect(), BATCH_BYTES) {
            let n = batch.len();
            match copy.send(&batch).await {
                Ok(()) => {
                    done += n;
                    cursor = seqs[done - 1];
                    report.sent += n as u64;
                    report.batches += 1;
                    etag = Some(write(cursor, true, etag).await?);
                }
                Err(e) => {
                    tracing::warn!(error = %e, cursor, "audit copy paused");
                    report.stopped = Some(e.to_string());
                    break 'pass;
                }
            }
        }
    }
    write(cursor, false, etag).await?;
    report.cursor = cursor;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_under_the_limit_and_keep_order() {
        let rows: Vec<Value> = (0..100).map(|i| json!({ "Seq": i, "Evidence": "x".repeat(300) })).collect();
        let b = batches(rows, 4_000);
        assert!(b.len() > 5);
        for batch in &b {
            assert!(serde_json::to_string(batch).unwrap().len() <= 4_000);
        }
        let seqs: Vec<i64> = b.iter().flatten().map(|r| r["Seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (0..100).collect::<Vec<_>>());
        assert!(batches(Vec::new(), 10).is_empty());
    }
}
