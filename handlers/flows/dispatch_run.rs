//! DispatchRun: one attempt of one run. Claims the run record with a conditional write, sends the
//! run's requests to its endpoint with a timeout, and ends in exactly one of: done, a retry
//! scheduled as a message (backoff with full jitter, honouring Retry-After), or quarantine.
//! A finished run key is acknowledged without running again, however often its message comes.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::attempt::call_endpoint;
use super::settle::{quarantine_run, send_dispatch, settle};
use super::{runs, Deps, FlowError};
use crate::domain::audit::AuditKind;
use crate::domain::catalog::Job;
use crate::domain::ids::InvocationId;
use crate::domain::messages::DispatchMessage;
use crate::domain::run::{Outcome, RunRecord, RunStatus};
use crate::ports::{ETag, StoreError};

/// What an attempt is given.
#[derive(Debug, Clone)]
pub struct DispatchInput {
    pub message: DispatchMessage,
    pub now: DateTime<Utc>,
    pub invocation: InvocationId,
}

/// How the invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DispatchReport {
    /// A circuit breaker is open: the run comes back when it may try.
    Deferred {
        until: DateTime<Utc>,
        reason: String,
    },
    /// A readiness gate held the run and its attempts ran out.
    Blocked {
        reason: String,
    },
    Succeeded {
        attempts: u32,
        records: u64,
    },
    RetryScheduled {
        attempt: u32,
        at: DateTime<Utc>,
        reason: String,
    },
    Quarantined {
        reason: String,
    },
    /// The run already finished: nothing to do (a duplicate or late delivery).
    AlreadyFinished {
        status: RunStatus,
    },
    /// Another attempt holds the run; a re-check is scheduled for when its lease ends.
    InFlight {
        recheck_at: DateTime<Utc>,
    },
    /// The message is for an attempt that is no longer current.
    Stale {
        expected: u32,
        got: u32,
    },
    /// A long-running job was submitted; PollJob follows it from `next_poll`.
    Submitted {
        attempt: u32,
        job_id: String,
        next_poll: DateTime<Utc>,
    },
    /// The attempt's job is already submitted and followed by PollJob (a duplicate delivery).
    Polling {
        job_id: String,
    },
}

/// Extra time an attempt's lease lasts beyond its own deadline.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// How long one attempt may spend on its requests: four request timeouts, at least a minute and at
/// most nine (the Functions host stops an invocation after `functionTimeout`, ten minutes).
pub fn attempt_budget(job: &Job) -> Duration {
    job.timeout.saturating_mul(4).clamp(Duration::from_secs(60), Duration::from_secs(540))
}

pub async fn dispatch_run(deps: &Deps, input: DispatchInput) -> Result<DispatchReport, FlowError> {
    let msg = &input.message;
    let key = msg.key();
    // The run's attempts use the release it was created under (the record says which; a message
    // names it too). The record is read once, here, and claimed below.
    let loaded = runs::load(deps.store.as_ref(), &key).await?;
    let pin = loaded.as_ref().map_or_else(|| msg.release.clone(), |(r, _)| r.release.clone());
    let deps = &deps.pinned(pin.as_ref()).await?;
    let Some(job) = deps.catalog.jobs.get(&msg.job) else {
        let reason = format!("job `{}` is not in the active catalog", msg.job);
        let evidence = json!({ "message": serde_json::to_value(msg).unwrap_or(Value::Null) });
        quarantine_run(deps, &key, 0, &reason, evidence, &input).await?;
        return Ok(DispatchReport::Quarantined { reason });
    };
    let (rec, etag) = match claim(deps, job, &input, loaded).await? {
        Claim::Won(rec, etag) => (*rec, etag),
        Claim::Skip(report) => return Ok(report),
    };
    let (mut rec, etag) = (rec, etag);
    let started = Instant::now();
    let outcome = if job.inputs.is_empty() {
        call_endpoint(deps, job, &key, &rec, msg.attempt, started + attempt_budget(job), input.now).await?
    } else {
        let decision = super::gates::decide(deps, job, key.logical_time, &rec.trigger, input.now).await?;
        let passed = decision.passed;
        let summary = decision.summary();
        let evidence = serde_json::to_value(&decision).unwrap_or_default();
        let verdict = if passed { "gates passed" } else { "held by a gate" };
        super::audit::record(deps, input.now, AuditKind::GateDecided, key.to_string(), verdict, evidence, Some(input.invocation.as_str()))
            .await?;
        rec.gate = Some(decision);
        if passed {
            call_endpoint(deps, job, &key, &rec, msg.attempt, started + attempt_budget(job), input.now).await?
        } else {
            tracing::info!(run = %key, "{summary}");
            Outcome::Held { reason: summary }
        }
    };
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    settle(deps, job, rec, etag, outcome, latency, &input).await
}

enum Claim {
    /// This invocation holds the run's lease.
    Won(Box<RunRecord>, ETag),
    /// Nothing to run; the report says why.
    Skip(DispatchReport),
}

/// Loads (or creates) the run record and takes the attempt's lease with a conditional write:
/// of two deliveries at once, exactly one wins.
async fn claim(deps: &Deps, job: &Job, input: &DispatchInput, loaded: Option<(RunRecord, ETag)>) -> Result<Claim, FlowError> {
    claim_round(deps, job, input, loaded, 0).await
}

async fn claim_round(
    deps: &Deps,
    job: &Job,
    input: &DispatchInput,
    loaded: Option<(RunRecord, ETag)>,
    round: u32,
) -> Result<Claim, FlowError> {
    let (msg, now) = (&input.message, input.now);
    let key = msg.key();
    let (mut rec, etag) = match loaded {
        Some(x) => x,
        None => {
            // A message without a record (a manual enqueue): create it, on the message's release.
            let mut pending = RunRecord::pending(key.job.clone(), key.logical_time, msg.trigger.clone(), now);
            pending.release = deps.release.clone();
            runs::create(deps.store.as_ref(), &pending).await?;
            runs::load(deps.store.as_ref(), &key).await?.ok_or_else(|| StoreError::NotFound(key.to_string()))?
        }
    };
    if rec.status.is_terminal() {
        return Ok(Claim::Skip(DispatchReport::AlreadyFinished { status: rec.status }));
    }
    if rec.status == RunStatus::Polling {
        let job_id = rec.job_handle.as_ref().map(|h| h.id.clone()).unwrap_or_default();
        return Ok(Claim::Skip(DispatchReport::Polling { job_id }));
    }
    // This claim's own write, landed though its answer was lost: the run is this attempt's.
    if round > 0 && rec.status == RunStatus::Running && rec.invocation_id.as_deref() == Some(input.invocation.as_str()) {
        return Ok(Claim::Won(Box::new(rec), etag));
    }
    if let Some(until) = rec.lease_until.filter(|l| rec.status == RunStatus::Running && *l > now) {
        send_dispatch(deps, &key, msg, rec.attempts, Some(until), now, "recheck").await?;
        return Ok(Claim::Skip(DispatchReport::InFlight { recheck_at: until }));
    }
    let expected = rec.attempts + 1;
    // An attempt whose lease ran out without a result (its instance died) is run again.
    let lost_attempt = rec.status == RunStatus::Running && msg.attempt == rec.attempts;
    if msg.attempt != expected && !lost_attempt {
        return Ok(Claim::Skip(DispatchReport::Stale { expected, got: msg.attempt }));
    }
    let lease = attempt_budget(job).saturating_add(LEASE_MARGIN);
    rec.status = RunStatus::Running;
    rec.attempts += 1;
    rec.started_at.get_or_insert(now);
    rec.lease_until = Some(now + chrono::Duration::from_std(lease).unwrap_or_default());
    rec.next_attempt_at = None;
    rec.invocation_id = Some(input.invocation.to_string());
    match runs::replace(deps.store.as_ref(), &rec, &etag).await {
        Ok(etag) => Ok(Claim::Won(Box::new(rec), etag)),
        // Someone wrote the record since it was read (another delivery's claim, or this claim
        // itself when its answer was lost): read it again and decide again.
        Err(StoreError::PreconditionFailed(_)) if round < CLAIM_ROUNDS => {
            let fresh = runs::load(deps.store.as_ref(), &key).await?;
            Box::pin(claim_round(deps, job, input, fresh, round + 1)).await
        }
        Err(StoreError::PreconditionFailed(_)) => Ok(Claim::Skip(DispatchReport::InFlight { recheck_at: now })),
        Err(e) => Err(e.into()),
    }
}

/// How often a claim reads the record again after a lost race before leaving it to the others.
const CLAIM_ROUNDS: u32 = 3;
