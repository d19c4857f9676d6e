//! The reconciliation pass on the timer: nothing stuck silently. Messages the broker dead-lettered
//! on `dispatch` and `poll` become quarantine items (completed only once the item is stored), and
//! a run that no message moves any more (past its lease, next attempt or dispatch, plus a grace
//! period) has its attempt sent again once, then is quarantined with the reason.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::alerts::ignore_missing;
use super::quarantine::{self, QuarantineItem};
use super::{runs, Deps, FlowError};
use crate::domain::audit::AuditKind;
use crate::domain::ids::{JobId, RunKey};
use crate::domain::messages::{DispatchMessage, PollMessage, QuarantineKind};
use crate::domain::run::{RunRecord, RunStatus, STUCK_GRACE_MINUTES};
use crate::ports::{queues, DeadLettered, RowRange, StoreError, Table};

/// Partition (of `Table::SCHEDULES`) of the index of runs a message should be moving: written
/// when a run is dispatched, removed when it ends. Its size is the number of runs in flight.
pub const INFLIGHT: &str = "inflight";
/// Dead-lettered messages taken per queue and pass (the rest wait for the next tick).
const DEAD_LETTERS_PER_PASS: usize = 100;

/// An entry of the in-flight index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    pub job: JobId,
    pub logical_time: DateTime<Utc>,
    /// When the pass looks at the run next.
    pub check_at: DateTime<Utc>,
    /// The run's attempt count when the pass resent it (it resends once per attempt).
    #[serde(default)]
    pub resent_at_attempt: Option<u32>,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Dead-lettered messages stored as quarantine items (and removed from the broker).
    pub dead_letters: u32,
    /// Stuck runs whose attempt was sent again.
    pub resent: u32,
    /// Runs still stuck after their resend, quarantined.
    pub stuck_quarantined: u32,
}

/// Adds a run to the in-flight index (again, after a replay), first looked at after the grace.
pub async fn track(store: &dyn crate::ports::Store, key: &RunKey, now: DateTime<Utc>) -> Result<(), StoreError> {
    let entry = InFlight {
        job: key.job.clone(),
        logical_time: key.logical_time,
        check_at: now + Duration::minutes(STUCK_GRACE_MINUTES),
        resent_at_attempt: None,
    };
    store.upsert(Table::SCHEDULES, INFLIGHT, &key.to_string(), &serde_json::to_value(entry).unwrap_or_default()).await.map(|_| ())
}

/// Removes a finished run from the in-flight index.
pub async fn untrack(store: &dyn crate::ports::Store, key: &RunKey) -> Result<(), StoreError> {
    ignore_missing(store.delete(Table::SCHEDULES, INFLIGHT, &key.to_string(), None).await)
}

/// One pass: the dead-letter sub-queues of `dispatch` and `poll`, then the in-flight index.
pub async fn pass(deps: &Deps, now: DateTime<Utc>) -> Result<ReconcileReport, FlowError> {
    let mut report = ReconcileReport::default();
    for q in [queues::DISPATCH, queues::POLL] {
        for _ in 0..DEAD_LETTERS_PER_PASS {
            let Some(m) = deps.queue.receive_dead_letter(q, now).await? else { break };
            dead_letter(deps, q, &m, now).await?;
            // Completed only now that the item is stored: a crash before this receives it again,
            // and storing it again keeps the first item.
            if deps.queue.complete_dead_letter(q, &m, now).await? {
                report.dead_letters += 1;
            }
        }
    }
    for e in deps.store.query(Table::SCHEDULES, Some(INFLIGHT), RowRange::default(), usize::MAX).await? {
        let Ok(entry) = serde_json::from_value::<InFlight>(e.body) else {
            tracing::warn!(row = %e.row, "unreadable in-flight entry removed");
            ignore_missing(deps.store.delete(Table::SCHEDULES, INFLIGHT, &e.row, None).await)?;
            continue;
        };
        if entry.check_at > now {
            continue;
        }
        let key = RunKey::new(entry.job.clone(), entry.logical_time);
        match stuck_run(deps, &key, entry, &e.etag, now).await? {
            Stuck::Resent => report.resent += 1,
            Stuck::Quarantined => report.stuck_quarantined += 1,
            Stuck::Moving | Stuck::Gone => {}
        }
    }
    if report != ReconcileReport::default() {
        tracing::warn!(
            dead_letters = report.dead_letters,
            resent = report.resent,
            stuck_quarantined = report.stuck_quarantined,
            "reconciled"
        );
    }
    Ok(report)
}

/// The run a dispatch or poll message names, if its body reads as one.
fn run_of(queue: &str, body: &str) -> Option<RunKey> {
    match queue {
        queues::POLL => serde_json::from_str::<PollMessage>(body).ok().map(|m| m.key()),
        _ => serde_json::from_str::<DispatchMessage>(body).ok().map(|m| m.key()),
    }
}

/// Stores a dead-lettered message as a quarantine item. A message of a run still going
/// quarantines that run (replayable like any quarantined run); any other (a finished run's, an
/// unreadable one) is kept as a poison message.
async fn dead_letter(deps: &Deps, queue: &str, m: &DeadLettered, now: DateTime<Utc>) -> Result<(), FlowError> {
    let why = format!(
        "dead-lettered on `{queue}` by the broker: {} after {} deliveries{}",
        m.reason,
        m.delivery_count,
        m.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    );
    let evidence = json!({
        "queue": queue,
        "message_id": m.message_id,
        "dead_letter_reason": m.reason,
        "dead_letter_description": m.description,
        "delivery_count": m.delivery_count,
        "enqueued_at": m.enqueued_at,
        "body": serde_json::from_str::<Value>(&m.body).unwrap_or_else(|_| Value::String(quarantine::excerpt(&m.body, 4096))),
    });
    let key = run_of(queue, &m.body);
    let open = match &key {
        Some(k) => runs::load(deps.store.as_ref(), k).await?.filter(|(r, _)| !r.status.is_terminal()),
        None => None,
    };
    let (item, subject) = match (&key, open) {
        (Some(k), Some((rec, etag))) => {
            let attempts = rec.attempts;
            finish_quarantined(deps, k, rec, &etag, &why, now).await?;
            (item(k.to_string(), QuarantineKind::Run, Some(k), attempts, &why, evidence, now), k.to_string())
        }
        _ => {
            let id = format!("dead-letter:{queue}:{}", m.message_id);
            (item(id.clone(), QuarantineKind::PoisonMessage, key.as_ref(), 0, &why, evidence, now), id)
        }
    };
    quarantine::put(deps, &item).await?;
    super::audit::record(deps, now, AuditKind::Reconciled, subject, why, item.evidence.clone(), None).await
}

fn item(
    id: String,
    kind: QuarantineKind,
    run: Option<&RunKey>,
    attempts: u32,
    why: &str,
    evidence: Value,
    now: DateTime<Utc>,
) -> QuarantineItem {
    QuarantineItem {
        id,
        kind,
        reason: why.to_string(),
        at: now,
        job: run.map(|k| k.job.to_string()),
        logical_time: run.map(|k| k.logical_time),
        attempts,
        last_error: Some(why.to_string()),
        evidence,
        invocation_id: None,
        status: Default::default(),
        history: Vec::new(),
    }
}

/// Ends a run as quarantined, with what follows a run's end (SLA, dependents, the index).
async fn finish_quarantined(
    deps: &Deps,
    key: &RunKey,
    mut rec: RunRecord,
    etag: &crate::ports::ETag,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    rec.status = RunStatus::Quarantined;
    rec.finished_at = Some(now);
    rec.lease_until = None;
    rec.next_attempt_at = None;
    rec.error = Some(why.to_string());
    match runs::replace(deps.store.as_ref(), &rec, etag).await {
        Ok(_) => {
            let indexed = super::lifecycle::Indexed { sla: rec.sla_deadline.is_some(), in_flight: true };
            super::lifecycle::ended(deps, &key.job, key.logical_time, RunStatus::Quarantined, now, indexed).await
        }
        // The run moved meanwhile: it is not stuck; the item still keeps the message.
        Err(StoreError::PreconditionFailed(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

enum Stuck {
    Moving,
    Gone,
    Resent,
    Quarantined,
}

/// Looks at one in-flight run whose check is due.
async fn stuck_run(
    deps: &Deps,
    key: &RunKey,
    mut entry: InFlight,
    etag: &crate::ports::ETag,
    now: DateTime<Utc>,
) -> Result<Stuck, FlowError> {
    let row = key.to_string();
    let Some((rec, rec_etag)) = runs::load(deps.store.as_ref(), key).await?.filter(|(r, _)| r.awaited().is_some()) else {
        // Finished, waiting for dependencies (the waiting index has it), or gone.
        ignore_missing(deps.store.delete(Table::SCHEDULES, INFLIGHT, &row, None).await)?;
        return Ok(Stuck::Gone);
    };
    let grace = Duration::minutes(STUCK_GRACE_MINUTES);
    let Some((what, since)) = rec.stuck(now) else {
        entry.check_at = rec.awaited().map_or(now, |(_, at)| at) + grace;
        write(deps, &row, &entry, etag).await?;
        return Ok(Stuck::Moving);
    };
    let evidence = json!({ "status": rec.status, "attempts": rec.attempts, "awaited": what, "since": since });
    if entry.resent_at_attempt == Some(rec.attempts) {
        let why = format!("stuck: {} since {what} at {} and still not moved by its resent attempt", rec.status, since.to_rfc3339());
        let attempts = rec.attempts;
        finish_quarantined(deps, key, rec, &rec_etag, &why, now).await?;
        quarantine::put(deps, &item(row.clone(), QuarantineKind::Run, Some(key), attempts, &why, evidence.clone(), now)).await?;
        super::audit::record(deps, now, AuditKind::Reconciled, row.clone(), why, evidence, None).await?;
        ignore_missing(deps.store.delete(Table::SCHEDULES, INFLIGHT, &row, None).await)?;
        return Ok(Stuck::Quarantined);
    }
    resend(deps, key, &rec, now).await?;
    let why = format!("resent: {} since {what} at {} with no message moving it", rec.status, since.to_rfc3339());
    super::audit::record(deps, now, AuditKind::Reconciled, row.clone(), why, evidence, None).await?;
    entry.resent_at_attempt = Some(rec.attempts);
    entry.check_at = now + grace;
    write(deps, &row, &entry, etag).await?;
    Ok(Stuck::Resent)
}

/// Sends the message that moves the run on: a poll of the job it follows, the attempt its lease
/// lost, or its next attempt.
async fn resend(deps: &Deps, key: &RunKey, rec: &RunRecord, now: DateTime<Utc>) -> Result<(), FlowError> {
    let purpose = Some(format!("resend:{}", crate::domain::ids::instant_key(now)));
    match rec.status {
        RunStatus::Polling => super::poll_job::send_poll(deps, key, rec.attempts, rec.polls, now, now).await?,
        RunStatus::Running => {
            let msg = DispatchMessage::new(key, rec.attempts, rec.trigger.clone()).pinned(rec.release.clone());
            super::lifecycle::send_attempt(deps.queue.as_ref(), &msg, None, now, purpose).await?;
        }
        _ => {
            let msg = DispatchMessage::new(key, rec.attempts + 1, rec.trigger.clone()).pinned(rec.release.clone());
            super::lifecycle::send_attempt(deps.queue.as_ref(), &msg, None, now, purpose).await?;
        }
    }
    Ok(())
}

async fn write(deps: &Deps, row: &str, entry: &InFlight, etag: &crate::ports::ETag) -> Result<(), FlowError> {
    match deps.store.replace(Table::SCHEDULES, INFLIGHT, row, &serde_json::to_value(entry).unwrap_or_default(), etag).await {
        // Another pass (or the run's end) got there first.
        Ok(_) | Err(StoreError::PreconditionFailed(_) | StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
