//! How an attempt ends: the run record's new state (done, retrying, quarantined, deferred,
//! blocked, polling) and the messages and audit events that follow. Shared by DispatchRun and by
//! PollJob when a followed job ends.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::dispatch_run::{DispatchInput, DispatchReport};
use super::quarantine::{self, QuarantineItem};
use super::{runs, Deps, FlowError};
use crate::domain::audit::AuditKind;
use crate::domain::catalog::Job;
use crate::domain::ids::{instant_key, RunKey};
use crate::domain::messages::{DispatchMessage, QuarantineKind};
use crate::domain::run::{Outcome, RunRecord, RunStatus};
use crate::ports::{ETag, StoreError};

/// Turns the attempt's outcome into the run record's new state and the messages that follow
/// (also for PollJob, when a followed job ends).
pub(crate) async fn settle(
    deps: &Deps,
    job: &Job,
    mut rec: RunRecord,
    etag: ETag,
    outcome: Outcome,
    latency: u64,
    input: &DispatchInput,
) -> Result<DispatchReport, FlowError> {
    let (msg, now) = (&input.message, input.now);
    let key = msg.key();
    rec.last_latency_ms = Some(latency);
    rec.latencies_ms.push(latency);
    rec.lease_until = None;
    let report = match outcome {
        Outcome::Done { records_in, records_out, output } => {
            rec.status = RunStatus::Succeeded;
            rec.finished_at = Some(now);
            rec.error = None;
            if rec.reason.as_deref().is_some_and(|r| r.starts_with("held:")) {
                rec.reason = None;
            }
            rec.records_in = records_in;
            rec.records_out = records_out;
            rec.output = output;
            DispatchReport::Succeeded { attempts: rec.attempts, records: records_in }
        }
        Outcome::Retry { reason, after } => {
            let delay = job.retry.delay(rec.attempts, (deps.random)(), after);
            let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            let left = job.retry.allows_another(rec.attempts);
            if left && job.retry.within_deadline(rec.started_at.unwrap_or(now), at) {
                // Send first: if the record write below is lost, the next attempt still comes.
                send_dispatch(deps, &key, msg, rec.attempts + 1, Some(at), now, "retry").await?;
                rec.status = RunStatus::Retrying;
                rec.next_attempt_at = Some(at);
                rec.error = Some(reason.clone());
                DispatchReport::RetryScheduled { attempt: rec.attempts + 1, at, reason }
            } else {
                let why = if left { "the retry deadline would pass before the next attempt" } else { "no attempts left" };
                let reason = format!("gave up after {} attempts ({why}): {reason}", rec.attempts);
                quarantine_run(deps, &key, rec.attempts, &reason, json!({}), input).await?;
                rec.status = RunStatus::Failed;
                rec.finished_at = Some(now);
                rec.error = Some(reason.clone());
                DispatchReport::Quarantined { reason }
            }
        }
        Outcome::Submitted { mut handle } => {
            handle.submitted_at = Some(now);
            let next_poll = now + chrono::Duration::from_std(job.poll_every).unwrap_or_default();
            // Send first: if the record write below is lost, the dispatch message comes again and
            // finds the job by its name.
            super::poll_job::send_poll(deps, &key, rec.attempts, 0, next_poll, now).await?;
            rec.status = RunStatus::Polling;
            rec.polls = 0;
            rec.error = None;
            // The job's own deadline: past it, PollJob cancels the job and the attempt fails.
            rec.lease_until = Some(now + chrono::Duration::from_std(job.timeout).unwrap_or_default());
            let report = DispatchReport::Submitted { attempt: rec.attempts, job_id: handle.id.clone(), next_poll };
            rec.job_handle = Some(handle);
            report
        }
        Outcome::Quarantine { reason } => {
            quarantine_run(deps, &key, rec.attempts, &reason, json!({}), input).await?;
            rec.status = RunStatus::Quarantined;
            rec.finished_at = Some(now);
            rec.error = Some(reason.clone());
            DispatchReport::Quarantined { reason }
        }
        Outcome::Deferred { until, reason } => {
            // Not an attempt: the breaker kept it from calling. The same attempt comes back then.
            rec.attempts = rec.attempts.saturating_sub(1);
            rec.status = if rec.attempts == 0 { RunStatus::Pending } else { RunStatus::Retrying };
            rec.next_attempt_at = Some(until);
            rec.reason = Some(format!("held: {reason}"));
            rec.latencies_ms.pop();
            send_dispatch(deps, &key, msg, rec.attempts + 1, Some(until), now, "deferred").await?;
            DispatchReport::Deferred { until, reason }
        }
        Outcome::Held { reason } if job.retry.allows_another(rec.attempts) => {
            let delay = job.retry.delay(rec.attempts, (deps.random)(), None);
            let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            send_dispatch(deps, &key, msg, rec.attempts + 1, Some(at), now, "retry").await?;
            rec.status = RunStatus::Retrying;
            rec.next_attempt_at = Some(at);
            rec.reason = Some(reason.clone());
            DispatchReport::RetryScheduled { attempt: rec.attempts + 1, at, reason }
        }
        Outcome::Held { reason } => {
            let reason = format!("{reason} (still held after {} attempts)", rec.attempts);
            rec.status = RunStatus::Blocked;
            rec.finished_at = Some(now);
            rec.reason = Some(reason.clone());
            DispatchReport::Blocked { reason }
        }
    };
    // A finished run carries its lineage in the same write (no extra round trip per run).
    rec.lineage = if rec.status.is_terminal() { super::lineage::facts_for(deps, &rec) } else { None };
    match write_outcome(deps, &rec, etag).await? {
        Written::Yes => {
            let (kind, decision) = audit_of(&report);
            let mut evidence = json!({ "attempt": rec.attempts, "latency_ms": latency, "records_in": rec.records_in, "records_out": rec.records_out, "report": format!("{report:?}") });
            if let Some(h) = &rec.job_handle {
                evidence["job"] = json!({ "id": h.id, "kind": h.kind, "portal_url": h.portal_url });
            }
            super::audit::record(deps, now, kind, key.to_string(), decision, evidence, Some(input.invocation.as_str())).await?;
            if rec.status.is_terminal() {
                super::lineage::deliver(deps, &rec);
                let indexed = super::lifecycle::Indexed { sla: rec.sla_deadline.is_some(), in_flight: true };
                super::lifecycle::ended(deps, &job.id, rec.logical_time, rec.status, now, indexed).await?;
            }
            Ok(report)
        }
        Written::AlreadyFinished => Ok(report),
        Written::TakenOver => {
            tracing::warn!(run = %key, "another attempt took the run over during this one; its result was not written");
            Ok(DispatchReport::InFlight { recheck_at: now })
        }
    }
}

enum Written {
    Yes,
    /// The record was already finished: this write had landed before its answer was lost, or
    /// another attempt finished the run.
    AlreadyFinished,
    /// Another attempt holds the run now.
    TakenOver,
}

/// Writes the attempt's result. A lost race (412) is read again: if the run is still this
/// attempt's (same attempt, same invocation: the change was not another attempt's, or was this
/// write itself whose answer was lost), the result is written over it; the endpoint was called,
/// and dropping what it answered would call it again.
async fn write_outcome(deps: &Deps, rec: &RunRecord, mut etag: ETag) -> Result<Written, FlowError> {
    let key = RunKey::new(rec.job.clone(), rec.logical_time);
    for _ in 0..5 {
        match runs::replace(deps.store.as_ref(), rec, &etag).await {
            Ok(_) => return Ok(Written::Yes),
            Err(StoreError::PreconditionFailed(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let Some((current, fresh)) = runs::load(deps.store.as_ref(), &key).await? else { return Ok(Written::TakenOver) };
        if current.status.is_terminal() {
            return Ok(Written::AlreadyFinished);
        }
        if current.attempts != rec.attempts || current.invocation_id != rec.invocation_id {
            return Ok(Written::TakenOver);
        }
        etag = fresh;
    }
    Ok(Written::TakenOver)
}

/// The audit kind and decision of an attempt's end.
fn audit_of(r: &DispatchReport) -> (AuditKind, String) {
    match r {
        DispatchReport::Succeeded { attempts, .. } => (AuditKind::Attempted, format!("succeeded on attempt {attempts}")),
        DispatchReport::RetryScheduled { attempt, at, reason } => {
            (AuditKind::RetryScheduled, format!("attempt {attempt} at {}: {reason}", instant_key(*at)))
        }
        DispatchReport::Quarantined { reason } => (AuditKind::Quarantined, reason.clone()),
        DispatchReport::Blocked { reason } => (AuditKind::Blocked, reason.clone()),
        DispatchReport::Deferred { until, reason } => (AuditKind::Deferred, format!("until {}: {reason}", instant_key(*until))),
        DispatchReport::Submitted { attempt, job_id, .. } => (AuditKind::Attempted, format!("attempt {attempt} submitted job {job_id}")),
        other => (AuditKind::Attempted, format!("{other:?}")),
    }
}

pub(super) async fn send_dispatch(
    deps: &Deps,
    key: &RunKey,
    msg: &DispatchMessage,
    attempt: u32,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    purpose: &str,
) -> Result<(), FlowError> {
    let purpose = (purpose != "retry").then(|| format!("{purpose}:{}", at.map(instant_key).unwrap_or_default()));
    let next = DispatchMessage::new(key, attempt, msg.trigger.clone()).pinned(deps.release.clone());
    super::lifecycle::send_attempt(deps.queue.as_ref(), &next, at, now, purpose).await?;
    Ok(())
}

pub(super) async fn quarantine_run(
    deps: &Deps,
    key: &RunKey,
    attempts: u32,
    reason: &str,
    evidence: Value,
    input: &DispatchInput,
) -> Result<(), FlowError> {
    tracing::warn!(run = %key, attempts, reason, "quarantined");
    quarantine::put(
        deps,
        &QuarantineItem {
            id: key.to_string(),
            kind: QuarantineKind::Run,
            reason: reason.to_string(),
            at: input.now,
            job: Some(key.job.to_string()),
            logical_time: Some(key.logical_time),
            attempts,
            last_error: Some(reason.to_string()),
            evidence,
            invocation_id: Some(input.invocation.to_string()),
            status: Default::default(),
            history: Vec::new(),
        },
    )
    .await
}
