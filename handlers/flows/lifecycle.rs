//! A run's life outside its attempts: creating it (with its SLA and waiting indexes), sending it
//! to the dispatch queue, recording a skipped slot, and what follows when it ends (a late breach,
//! the runs that depend on it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::alerts::{self, OpenRun};
use super::{runs, Deps, FlowError};
use crate::domain::audit::AuditKind;
use crate::domain::catalog::Job;
use crate::domain::ids::{JobId, RunKey};
use crate::domain::messages::DispatchMessage;
use crate::domain::run::{RunRecord, RunStatus, RunTrigger};
use crate::domain::sla::deadline;
use crate::ports::{queues, OutgoingMessage, Queue, QueueError, StoreError, Table};

/// Partition of the index of runs waiting for dependencies or for their job's previous run.
pub const WAITING: &str = "waiting";

/// An entry of the waiting index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingRun {
    pub job: JobId,
    pub logical_time: DateTime<Utc>,
}

/// Creates a run record (idempotently) with its indexes. `Ok(false)` when it already existed.
pub async fn create(
    deps: &Deps,
    job: &Job,
    logical: DateTime<Utc>,
    trigger: RunTrigger,
    status: RunStatus,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, FlowError> {
    let mut rec = RunRecord::pending(job.id.clone(), logical, trigger, now);
    rec.status = status;
    rec.reason = reason;
    // A canary in progress on this release decides, once, which release this run is on.
    rec.release = match &deps.canary {
        Some(c) if deps.release.as_ref() == Some(&c.stable) => {
            Some(c.route(&job.id, &RunKey::new(job.id.clone(), logical).to_string()).clone())
        }
        _ => deps.release.clone(),
    };
    if status.is_terminal() {
        rec.finished_at = Some(now);
    }
    let sla = job.sla.as_ref().and_then(|s| deadline(s, logical, job.timezone));
    if status != RunStatus::Skipped {
        rec.sla_deadline = sla.as_ref().map(|d| d.breach_at);
    }
    if !runs::create(deps.store.as_ref(), &rec).await? {
        return Ok(false);
    }
    let key = RunKey::new(job.id.clone(), logical);
    let (kind, decision) = match status {
        RunStatus::Skipped => (AuditKind::Skipped, rec.reason.clone().unwrap_or_else(|| "skipped".into())),
        RunStatus::Waiting => (AuditKind::Scheduled, format!("waiting: {}", rec.reason.clone().unwrap_or_default())),
        other => (AuditKind::Scheduled, other.to_string()),
    };
    super::audit::record(deps, now, kind, key.to_string(), decision, serde_json::to_value(&rec.trigger).unwrap_or_default(), None).await?;
    if status == RunStatus::Waiting {
        let body = serde_json::to_value(WaitingRun { job: job.id.clone(), logical_time: logical }).unwrap_or_default();
        ignore_conflict(deps.store.insert(Table::SCHEDULES, WAITING, &key.to_string(), &body).await)?;
    }
    if status != RunStatus::Skipped {
        if let Some(d) = sla {
            let open = OpenRun { job: job.id.clone(), logical_time: logical, warn_at: d.warn_at, breach_at: d.breach_at, warned: false };
            ignore_conflict(
                deps.store.insert(Table::SCHEDULES, alerts::OPEN, &key.to_string(), &serde_json::to_value(open).unwrap_or_default()).await,
            )?;
        }
    }
    Ok(true)
}

/// Sends a run's first attempt to the dispatch queue (duplicates collapse on the MessageId),
/// pinned to the release these dependencies are on.
pub async fn dispatch(deps: &Deps, key: &RunKey, trigger: RunTrigger, now: DateTime<Utc>) -> Result<(), FlowError> {
    super::reconcile::track(deps.store.as_ref(), key, now).await?;
    send_attempt(deps.queue.as_ref(), &DispatchMessage::new(key, 1, trigger).pinned(deps.release.clone()), None, now, None).await?;
    Ok(())
}

/// Sends an attempt of a run (the message names the run, the attempt and the run's release) to
/// the dispatch queue, visible at `at` (or at once). Its
/// MessageId is `job@time#attempt`, so duplicates collapse in the broker; a `purpose` (a
/// re-check, a deferral, a replay) is appended to keep it apart from the attempt's own message.
pub async fn send_attempt(
    queue: &dyn Queue,
    msg: &DispatchMessage,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    purpose: Option<String>,
) -> Result<(), QueueError> {
    let message_id = match purpose {
        None => msg.message_id(),
        Some(p) => format!("{}:{p}", msg.message_id()),
    };
    queue
        .send(
            queues::DISPATCH,
            OutgoingMessage {
                message_id,
                correlation_id: Some(msg.key().to_string()),
                body: serde_json::to_string(msg).unwrap_or_default(),
                scheduled_enqueue_time: at,
                time_to_live: None,
                sent_at: now,
            },
        )
        .await?;
    Ok(())
}

/// Records a slot that will not run, with the reason. Runs that depend on it are blocked.
pub async fn skip(deps: &Deps, job: &Job, logical: DateTime<Utc>, reason: String, now: DateTime<Utc>) -> Result<bool, FlowError> {
    tracing::info!(run = %RunKey::new(job.id.clone(), logical), reason = %reason, "slot skipped");
    let created = create(deps, job, logical, RunTrigger::Schedule, RunStatus::Skipped, Some(reason), now).await?;
    if created {
        // Created skipped: never watched for its SLA, never dispatched.
        ended(deps, &job.id, logical, RunStatus::Skipped, now, Indexed { sla: false, in_flight: false }).await?;
    }
    Ok(created)
}

/// Which indexes a finished run may still be in: its SLA watch (runs with a deadline) and the
/// in-flight index (runs that were dispatched). Each one known absent saves a call.
#[derive(Debug, Clone, Copy)]
pub struct Indexed {
    pub sla: bool,
    pub in_flight: bool,
}

impl Indexed {
    /// Not known: look in both.
    pub const ANY: Self = Self { sla: true, in_flight: true };
    /// A run that was never dispatched (skipped, or blocked while waiting).
    pub const NOT_DISPATCHED: Self = Self { sla: true, in_flight: false };
}

/// What follows the end of a run: an SLA breach if it ended late (or never delivered), and a
/// waiting run for each job that runs only after this one.
pub async fn ended(
    deps: &Deps,
    job: &JobId,
    logical: DateTime<Utc>,
    status: RunStatus,
    now: DateTime<Utc>,
    indexed: Indexed,
) -> Result<(), FlowError> {
    if indexed.sla {
        alerts::run_ended(deps, job, logical, status, now).await?;
    }
    if indexed.in_flight {
        super::reconcile::untrack(deps.store.as_ref(), &RunKey::new(job.clone(), logical)).await?;
    }
    super::facts::run_finished(deps, &RunKey::new(job.clone(), logical)).await;
    let Some(upstream) = deps.catalog.jobs.get(job) else {
        return Ok(());
    };
    for dependent in deps.catalog.dependents_of(&upstream.id) {
        let reason = Some(format!("waiting for its dependencies after `{job}` ended {status}"));
        create(deps, dependent, logical, RunTrigger::Schedule, RunStatus::Waiting, reason, now).await?;
    }
    Ok(())
}

pub(crate) fn ignore_conflict<T>(r: Result<T, StoreError>) -> Result<(), StoreError> {
    match r {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Starts a finished run again as a replay: a fresh attempt series under the same run key (its
/// earlier attempts kept in `prior_attempts`), its first attempt sent now on its release. Used by
/// quarantine replay and by rerunning the runs suspect data reached.
pub async fn restart(
    store: &dyn crate::ports::Store,
    queue: &dyn Queue,
    key: &RunKey,
    mut rec: RunRecord,
    etag: &crate::ports::ETag,
    reason: String,
    now: DateTime<Utc>,
) -> Result<RunRecord, FlowError> {
    rec.prior_attempts += rec.attempts;
    rec.replays += 1;
    rec.attempts = 0;
    rec.status = RunStatus::Pending;
    rec.finished_at = None;
    rec.next_attempt_at = Some(now);
    rec.lease_until = None;
    rec.error = None;
    rec.reason = Some(reason);
    runs::replace(store, &rec, etag).await?;
    super::reconcile::track(store, key, now).await?;
    let msg = DispatchMessage::new(key, 1, rec.trigger.clone()).pinned(rec.release.clone());
    send_attempt(queue, &msg, None, now, Some(format!("replay{}", rec.replays))).await?;
    Ok(rec)
}
