//! DispatchRun: one attempt of one run. Claims the run record with a conditional write, sends the
//! run's requests to its endpoint with a timeout, and ends in exactly one of: done, a retry
//! scheduled as a message (backoff with full jitter, honouring Retry-After), or quarantine.
//! A finished run key is acknowledged without running again, however often its message comes.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::inputs::{self, InputError};
use super::quarantine::{self, QuarantineItem};
use super::{runs, Deps, FlowError};
use crate::domain::audit::AuditKind;
use crate::domain::breaker::Admission;
use crate::domain::catalog::model::expand_settings;
use crate::domain::catalog::model::JobKind;
use crate::domain::catalog::Job;
use crate::domain::ids::{instant_key, InvocationId, RunKey};
use crate::domain::longjob::{job_name, LongJobKind};
use crate::domain::messages::{DispatchMessage, QuarantineKind};
use crate::domain::run::{Outcome, RunRecord, RunStatus};
use crate::ports::{ETag, JobRequest, JobSubmission, RunnerError, StoreError};

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
    let Some(job) = deps.catalog.jobs.get(&msg.job) else {
        let reason = format!("job `{}` is not in the active catalog", msg.job);
        let evidence = json!({ "message": serde_json::to_value(msg).unwrap_or(Value::Null) });
        quarantine_run(deps, &key, 0, &reason, evidence, &input).await?;
        return Ok(DispatchReport::Quarantined { reason });
    };
    let (rec, etag) = match claim(deps, job, &input).await? {
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
async fn claim(deps: &Deps, job: &Job, input: &DispatchInput) -> Result<Claim, FlowError> {
    let (msg, now) = (&input.message, input.now);
    let key = msg.key();
    let (mut rec, etag) = match runs::load(deps.store.as_ref(), &key).await? {
        Some(x) => x,
        None => {
            // A message without a record (a manual enqueue): create it.
            let pending = RunRecord::pending(key.job.clone(), key.logical_time, msg.trigger.clone(), now);
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
        Err(StoreError::PreconditionFailed(_)) => Ok(Claim::Skip(DispatchReport::InFlight { recheck_at: now })),
        Err(e) => Err(e.into()),
    }
}

/// Turns the attempt's outcome into the run record's new state and the messages that follow
/// (also for PollJob, when a followed job ends).
pub(super) async fn settle(
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
    match runs::replace(deps.store.as_ref(), &rec, &etag).await {
        Ok(_) => {
            let (kind, decision) = audit_of(&report);
            let mut evidence = json!({ "attempt": rec.attempts, "latency_ms": latency, "records_in": rec.records_in, "records_out": rec.records_out, "report": format!("{report:?}") });
            if let Some(h) = &rec.job_handle {
                evidence["job"] = json!({ "id": h.id, "kind": h.kind, "portal_url": h.portal_url });
            }
            super::audit::record(deps, now, kind, key.to_string(), decision, evidence, Some(input.invocation.as_str())).await?;
            if rec.status.is_terminal() {
                super::lineage::record(deps, &rec).await?;
                super::lifecycle::ended(deps, &job.id, rec.logical_time, rec.status, now).await?;
            }
            Ok(report)
        }
        Err(StoreError::PreconditionFailed(_)) => {
            tracing::warn!(run = %key, "the run record changed during the attempt; its result was not written");
            Ok(report)
        }
        Err(e) => Err(e.into()),
    }
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

/// The job's endpoint with its app settings filled in.
fn endpoint_of(deps: &Deps, job: &Job) -> Result<String, String> {
    let settings = deps.settings.clone();
    expand_settings(&job.endpoint, &move |k| settings(k))
}

/// Asks the circuit breakers, then runs the attempt and tells them how the endpoint answered.
async fn call_endpoint(
    deps: &Deps,
    job: &Job,
    key: &RunKey,
    rec: &RunRecord,
    delivered_attempt: u32,
    deadline: Instant,
    now: DateTime<Utc>,
) -> Result<Outcome, FlowError> {
    let endpoint = endpoint_of(deps, job).unwrap_or_else(|_| job.endpoint.clone());
    let (admission, healthy) = super::breakers::admit(deps, job, &endpoint, now).await?;
    if let Admission::No { until, reason } = admission {
        tracing::info!(run = %key, %reason, "deferred");
        return Ok(Outcome::Deferred { until, reason });
    }
    let (outcome, health) = attempt(deps, job, key, rec, delivered_attempt, deadline).await?;
    match health {
        // The outcome stands whatever happens to the breaker's bookkeeping: failing the invocation
        // now would only get the attempt delivered again.
        Some(true) if healthy && admission == Admission::Yes => {}
        Some(ok) => {
            if let Err(e) = super::breakers::record(deps, job, &endpoint, ok, now).await {
                tracing::warn!(run = %key, error = %e, "circuit breaker not updated");
            }
        }
        None if admission == Admission::Probe => {
            if let Err(e) = super::breakers::release_probe(deps, job, &endpoint).await {
                tracing::warn!(run = %key, error = %e, "half-open probe not released");
            }
        }
        None => {}
    }
    Ok(outcome)
}

/// Sends the run's requests. Returns the outcome and, when the endpoint was called, whether it
/// answered well (timeouts, 408, 429 and 5xx count against its breakers; other answers do not).
/// `delivered_attempt` is the attempt the message asked for: a long-running job is named after it,
/// so an attempt run again after its instance died finds the job it had already submitted.
async fn attempt(
    deps: &Deps,
    job: &Job,
    key: &RunKey,
    rec: &RunRecord,
    delivered_attempt: u32,
    deadline: Instant,
) -> Result<(Outcome, Option<bool>), FlowError> {
    let endpoint = match endpoint_of(deps, job) {
        Ok(e) => e,
        Err(reason) => return Ok((Outcome::Quarantine { reason }, None)),
    };
    let requests = match inputs::prepare(deps, job, key.logical_time, &rec.trigger).await {
        Ok(r) => r,
        Err(InputError::Unusable(reason)) => return Ok((Outcome::Quarantine { reason }, None)),
        Err(InputError::Transient(reason)) => return Ok((Outcome::Retry { reason, after: None }, None)),
    };
    if job.kind.is_long_running() {
        return Ok(submit(deps, job, key, rec, delivered_attempt, &endpoint, requests).await);
    }
    let records_in = requests.len() as u64;
    let mut lines = Vec::with_capacity(requests.len());
    for (i, prepared) in requests.into_iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let reason = format!("the attempt reached its deadline after {i} of {records_in} requests");
            return Ok((Outcome::Retry { reason, after: None }, (i > 0).then_some(true)));
        }
        let request = JobRequest {
            endpoint: endpoint.clone(),
            deployment: job.deployment.clone(),
            body: prepared.body,
            timeout: job.timeout.min(left),
            correlation_id: format!("{key}#{}:{}", rec.attempts, i + 1),
        };
        match deps.runner.invoke(&request).await {
            Ok(mut answer) => {
                // An answer may quote its input: the record's personal data is tokenized first.
                deps.pii.scrub_json(&mut answer, &prepared.pii);
                let mut line = serde_json::Map::new();
                if let Some(k) = prepared.key {
                    line.insert(job.request.key.clone().unwrap_or_else(|| "key".into()), k);
                }
                line.insert("output".into(), answer);
                lines.push(Value::Object(line));
            }
            Err(RunnerError::Retryable { message, retry_after }) => {
                let message = deps.pii.scrub(&message, &prepared.pii);
                return Ok((
                    Outcome::Retry { reason: format!("request {} of {records_in}: {message}", i + 1), after: retry_after },
                    Some(false),
                ));
            }
            Err(RunnerError::Permanent { message, .. }) => {
                // Error bodies often echo the request (prompt flow does): scrubbed before they
                // become the quarantine record's and the audit event's evidence.
                let message = deps.pii.scrub(&message, &prepared.pii);
                return Ok((Outcome::Quarantine { reason: format!("request {} of {records_in}: {message}", i + 1) }, Some(true)));
            }
        }
    }
    let output = match job.outputs.first().and_then(|o| deps.catalog.datasets.get(o)) {
        Some(ds) if !lines.is_empty() || !job.inputs.is_empty() => {
            let stamp = instant_key(key.logical_time).replace([':', '-', '.'], "");
            let path = format!("{}{}/{stamp}.jsonl", ds.location.prefix, job.id);
            let mut text = String::new();
            for l in &lines {
                text.push_str(&l.to_string());
                text.push('\n');
            }
            if let Err(e) = deps.blobs.write(&ds.location.container, &path, text.as_bytes()).await {
                let called = (!lines.is_empty()).then_some(true);
                return Ok((
                    if e.is_retryable() {
                        Outcome::Retry { reason: format!("writing the output failed: {e}"), after: None }
                    } else {
                        Outcome::Quarantine { reason: format!("writing the output failed: {e}") }
                    },
                    called,
                ));
            }
            Some(format!("{}/{path}", ds.location.container))
        }
        _ => None,
    };
    let called = (!lines.is_empty()).then_some(true);
    Ok((Outcome::Done { records_in, records_out: lines.len() as u64, output }, called))
}

/// Starts a long-running job for this attempt: an Azure ML job gets the request body as its
/// `properties`; an evaluation run gets every prepared request body as an item.
async fn submit(
    deps: &Deps,
    job: &Job,
    key: &RunKey,
    rec: &RunRecord,
    delivered_attempt: u32,
    endpoint: &str,
    requests: Vec<inputs::PreparedRequest>,
) -> (Outcome, Option<bool>) {
    let settings = deps.settings.clone();
    let evaluation = match job.evaluation.as_deref().map(|e| expand_settings(e, &|k| settings(k))).transpose() {
        Ok(e) => e,
        Err(reason) => return (Outcome::Quarantine { reason }, None),
    };
    let (kind, body) = match job.kind {
        JobKind::Evaluation => (LongJobKind::Evaluation, json!({ "items": requests.into_iter().map(|r| r.body).collect::<Vec<_>>() })),
        _ => (LongJobKind::AzureMlJob, requests.into_iter().next().map(|r| r.body).unwrap_or_else(|| json!({}))),
    };
    let submission = JobSubmission {
        kind,
        endpoint: endpoint.to_string(),
        name: job_name(job.id.as_str(), &instant_key(key.logical_time), delivered_attempt),
        evaluation,
        body,
        timeout: job.timeout.min(Duration::from_secs(60)),
        correlation_id: format!("{key}#{}", rec.attempts),
    };
    match deps.runner.submit(&submission).await {
        Ok(handle) => (Outcome::Submitted { handle }, Some(true)),
        Err(RunnerError::Retryable { message, retry_after }) => {
            (Outcome::Retry { reason: format!("submitting the job: {message}"), after: retry_after }, Some(false))
        }
        Err(RunnerError::Permanent { message, .. }) => {
            (Outcome::Quarantine { reason: format!("submitting the job: {message}") }, Some(true))
        }
    }
}

async fn send_dispatch(
    deps: &Deps,
    key: &RunKey,
    msg: &DispatchMessage,
    attempt: u32,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    purpose: &str,
) -> Result<(), FlowError> {
    let purpose = (purpose != "retry").then(|| format!("{purpose}:{}", at.map(instant_key).unwrap_or_default()));
    super::lifecycle::send_attempt(deps.queue.as_ref(), key, attempt, msg.trigger.clone(), at, now, purpose).await?;
    Ok(())
}

async fn quarantine_run(
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
