//! PollJob: follows a submitted long-running job (Azure ML job, Foundry evaluation run) one poll
//! message at a time: still running, another poll is scheduled (never a sleep); past the job's
//! timeout, it is cancelled and the attempt fails; finished, the run settles exactly as a
//! DispatchRun attempt does (done, retry, or quarantine). Each poll message is acted on once.

use chrono::{DateTime, Utc};

use super::dispatch_run::{DispatchInput, DispatchReport};
use super::settle::settle;
use super::{runs, Deps, FlowError};
use crate::domain::ids::{InvocationId, RunKey};
use crate::domain::longjob::{azure_ml_progress, evaluation_progress, LongJobKind, Progress};
use crate::domain::messages::{DispatchMessage, PollMessage};
use crate::domain::run::{Outcome, RunStatus};
use crate::ports::{queues, OutgoingMessage, QueueError, RunnerError, StoreError};

/// How long one status or cancel request may take.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct PollInput {
    pub message: PollMessage,
    pub now: DateTime<Utc>,
    pub invocation: InvocationId,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PollReport {
    /// Not finished; asked again at `next`.
    Running { status: String, next: DateTime<Utc> },
    /// Finished: how the run settled.
    Settled(DispatchReport),
    /// Nothing to do: the run finished, moved on to another attempt, or this poll was handled.
    Ignored { why: String },
}

/// Schedules poll number `poll` of the attempt.
pub async fn send_poll(
    deps: &Deps,
    key: &RunKey,
    attempt: u32,
    poll: u32,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), QueueError> {
    let msg = PollMessage::new(key, attempt, poll);
    deps.queue
        .send(
            queues::POLL,
            OutgoingMessage {
                message_id: msg.message_id(),
                correlation_id: Some(key.to_string()),
                body: serde_json::to_string(&msg).unwrap_or_default(),
                scheduled_enqueue_time: Some(at),
                time_to_live: None,
                sent_at: now,
            },
        )
        .await
        .map(|_| ())
}

pub async fn poll_job(deps: &Deps, input: PollInput) -> Result<PollReport, FlowError> {
    let (msg, now) = (&input.message, input.now);
    let key = msg.key();
    let Some((mut rec, etag)) = runs::load(deps.store.as_ref(), &key).await? else {
        return Ok(PollReport::Ignored { why: format!("run {key} has no record") });
    };
    if rec.status != RunStatus::Polling || rec.attempts != msg.attempt || rec.polls != msg.poll {
        let why = format!("run {key} is {} at attempt {} after {} poll(s)", rec.status, rec.attempts, rec.polls);
        return Ok(PollReport::Ignored { why });
    }
    let Some(handle) = rec.job_handle.clone() else {
        return Ok(PollReport::Ignored { why: format!("run {key} follows no job") });
    };
    // The run finishes on the release it was created under.
    let deps = &deps.pinned(rec.release.as_ref()).await?;
    let mut delay = deps.catalog.jobs.get(&key.job).map(|j| j.poll_every).unwrap_or(std::time::Duration::from_secs(30));
    let progress = match deps.runner.status(&handle, REQUEST_TIMEOUT).await {
        Ok(resource) => match handle.kind {
            LongJobKind::AzureMlJob => azure_ml_progress(&resource),
            LongJobKind::Evaluation => evaluation_progress(&resource),
        }
        .map_err(|e| format!("the job's status is unreadable: {e}")),
        Err(RunnerError::Retryable { message, retry_after }) => {
            // The service is busy or unreachable: ask again later; the job's deadline still holds.
            tracing::warn!(run = %key, job = %handle.id, error = %message, "job status not read");
            delay = delay.max(retry_after.unwrap_or_default());
            Ok(Progress::Running { status: format!("unknown ({message})") })
        }
        Err(RunnerError::Permanent { message, .. }) => Err(format!("reading the job's status failed: {message}")),
    };
    let outcome = match progress {
        Err(reason) => Outcome::Quarantine { reason },
        Ok(Progress::Succeeded { records_in, records_out, summary }) => {
            tracing::info!(run = %key, job = %handle.id, %summary, "job completed");
            Outcome::Done { records_in, records_out, output: handle.portal_url.clone() }
        }
        Ok(Progress::Failed { status, message }) => {
            Outcome::Retry { reason: format!("job {} {status}: {message}", handle.id), after: None }
        }
        Ok(Progress::Canceled { message }) => {
            Outcome::Quarantine { reason: format!("job {} was cancelled outside flowgate: {message}", handle.id) }
        }
        Ok(Progress::Running { status } | Progress::Stalled { status }) if rec.lease_until.is_some_and(|d| now >= d) => {
            if let Err(e) = deps.runner.cancel(&handle, REQUEST_TIMEOUT).await {
                tracing::warn!(run = %key, job = %handle.id, error = %e, "cancelling the overdue job failed");
            }
            Outcome::Retry { reason: format!("job {} was still {status} at its timeout; cancelled", handle.id), after: None }
        }
        Ok(progress @ (Progress::Running { .. } | Progress::Stalled { .. })) => {
            let (status, stalled) = match progress {
                Progress::Stalled { status } => (status, true),
                Progress::Running { status } => (status, false),
                _ => unreachable!("matched above"),
            };
            if stalled {
                tracing::warn!(run = %key, job = %handle.id, %status, "job is not progressing");
                rec.reason = Some(format!("job {} is {status}", handle.id));
            }
            let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
            // Send first: if the record write is lost, this poll message comes again and is
            // acted on again (the next poll message then finds its number already used).
            send_poll(deps, &key, rec.attempts, rec.polls + 1, next, now).await?;
            rec.polls += 1;
            return match runs::replace(deps.store.as_ref(), &rec, &etag).await {
                Ok(_) | Err(StoreError::PreconditionFailed(_)) => Ok(PollReport::Running { status, next }),
                Err(e) => Err(e.into()),
            };
        }
    };
    let Some(job) = deps.catalog.jobs.get(&key.job) else {
        return Ok(PollReport::Ignored { why: format!("job `{}` is no longer in the catalog", key.job) });
    };
    let latency = handle.submitted_at.map(|s| u64::try_from((now - s).num_milliseconds()).unwrap_or(0)).unwrap_or(0);
    let dispatch = DispatchInput {
        message: DispatchMessage::new(&key, msg.attempt, rec.trigger.clone()).pinned(rec.release.clone()),
        now,
        invocation: input.invocation.clone(),
    };
    settle(deps, job, rec, etag, outcome, latency, &dispatch).await.map(PollReport::Settled)
}
