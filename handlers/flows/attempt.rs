//! One attempt's work once the run is claimed: the circuit breakers' admission, the requests to
//! the job's endpoint (or the submission of a long-running job), and the outputs written. Returns
//! the domain's Outcome; `settle` turns it into state.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::inputs::{self, InputError};
use super::{Deps, FlowError};
use crate::domain::breaker::Admission;
use crate::domain::catalog::model::{expand_settings, JobKind};
use crate::domain::catalog::Job;
use crate::domain::ids::{instant_key, RunKey};
use crate::domain::longjob::{job_name, LongJobKind};
use crate::domain::run::{Outcome, RunRecord};
use crate::ports::{JobRequest, JobSubmission, RunnerError};

/// The job's endpoint with its app settings filled in.
fn endpoint_of(deps: &Deps, job: &Job) -> Result<String, String> {
    let settings = deps.settings.clone();
    expand_settings(&job.endpoint, &move |k| settings(k))
}

/// Asks the circuit breakers, then runs the attempt and tells them how the endpoint answered.
pub(super) async fn call_endpoint(
    deps: &Deps,
    job: &Job,
    key: &RunKey,
    rec: &RunRecord,
    delivered_attempt: u32,
    deadline: Instant,
    now: DateTime<Utc>,
) -> Result<Outcome, FlowError> {
    // An endpoint whose settings are missing is quarantined by `attempt`; its breaker is keyed by
    // the template meanwhile.
    let expanded = endpoint_of(deps, job);
    let endpoint = expanded.clone().unwrap_or_else(|_| job.endpoint.clone());
    let (admission, healthy, admitted) = super::breakers::admit(deps, job, &endpoint, now).await?;
    if let Admission::No { until, reason } = admission {
        tracing::info!(run = %key, %reason, "deferred");
        return Ok(Outcome::Deferred { until, reason });
    }
    let (outcome, health) = attempt(deps, job, key, rec, expanded, delivered_attempt, deadline).await?;
    match health {
        // The outcome stands whatever happens to the breaker's bookkeeping: failing the invocation
        // now would only get the attempt delivered again.
        Some(true) if healthy && admission == Admission::Yes => {}
        Some(ok) => {
            if let Err(e) = super::breakers::record(deps, job, &endpoint, ok, now, admitted).await {
                tracing::warn!(run = %key, error = %e, "circuit breaker not updated");
            }
        }
        None if admission == Admission::Probe => {
            if let Err(e) = super::breakers::release_probe(deps, job, &endpoint, admitted).await {
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
    endpoint: Result<String, String>,
    delivered_attempt: u32,
    deadline: Instant,
) -> Result<(Outcome, Option<bool>), FlowError> {
    let endpoint = match endpoint {
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
