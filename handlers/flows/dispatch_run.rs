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
use crate::domain::catalog::model::expand_settings;
use crate::domain::catalog::Job;
use crate::domain::ids::{instant_key, InvocationId, RunKey};
use crate::domain::messages::{DispatchMessage, QuarantineKind};
use crate::domain::run::{Outcome, RunRecord, RunStatus};
use crate::ports::{queues, JobRequest, OutgoingMessage, RunnerError, StoreError};

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
}

/// Extra time an attempt's lease lasts beyond its requests' timeouts.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

pub async fn dispatch_run(deps: &Deps, input: DispatchInput) -> Result<DispatchReport, FlowError> {
    let msg = &input.message;
    let key = msg.key();
    let now = input.now;
    let Some(job) = deps.catalog.jobs.get(&msg.job) else {
        let reason = format!("job `{}` is not in the active catalog", msg.job);
        quarantine_run(
            deps,
            &key,
            0,
            &reason,
            json!({ "message": msg_json(msg) }),
            &input,
        )
        .await?;
        return Ok(DispatchReport::Quarantined { reason });
    };

    // Load the record, creating it for a message that came without one (a manual enqueue).
    let (mut rec, etag) = match runs::load(deps.store.as_ref(), &key).await? {
        Some(x) => x,
        None => {
            runs::create(
                deps.store.as_ref(),
                &RunRecord::pending(key.job.clone(), key.logical_time, msg.trigger.clone(), now),
            )
            .await?;
            runs::load(deps.store.as_ref(), &key)
                .await?
                .ok_or_else(|| StoreError::NotFound(key.to_string()))?
        }
    };
    if rec.status.is_terminal() {
        return Ok(DispatchReport::AlreadyFinished { status: rec.status });
    }
    let lease_live = rec.status == RunStatus::Running && rec.lease_until.is_some_and(|l| l > now);
    if lease_live {
        let at = rec.lease_until.unwrap_or(now);
        send_dispatch(deps, &key, msg, rec.attempts, Some(at), now, "recheck").await?;
        return Ok(DispatchReport::InFlight { recheck_at: at });
    }
    let expected = rec.attempts + 1;
    let lost_attempt = rec.status == RunStatus::Running && msg.attempt == rec.attempts;
    if msg.attempt != expected && !lost_attempt {
        return Ok(DispatchReport::Stale {
            expected,
            got: msg.attempt,
        });
    }

    // Claim: only one instance wins the conditional write.
    let requests_budget = job.timeout.saturating_mul(4).saturating_add(LEASE_MARGIN);
    rec.status = RunStatus::Running;
    rec.attempts += 1;
    rec.started_at.get_or_insert(now);
    rec.lease_until = Some(now + chrono::Duration::from_std(requests_budget).unwrap_or_default());
    rec.next_attempt_at = None;
    rec.invocation_id = Some(input.invocation.to_string());
    let etag = match runs::replace(deps.store.as_ref(), &rec, &etag).await {
        Ok(e) => e,
        Err(StoreError::PreconditionFailed(_)) => {
            return Ok(DispatchReport::InFlight { recheck_at: now })
        }
        Err(e) => return Err(e.into()),
    };

    let started = Instant::now();
    let outcome = attempt(deps, job, &key, &rec).await?;
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    rec.last_latency_ms = Some(latency);
    rec.latencies_ms.push(latency);
    rec.lease_until = None;

    let report = match outcome {
        Outcome::Done {
            records_in,
            records_out,
            output,
        } => {
            rec.status = RunStatus::Succeeded;
            rec.finished_at = Some(now);
            rec.error = None;
            rec.records_in = records_in;
            rec.records_out = records_out;
            rec.output = output;
            DispatchReport::Succeeded {
                attempts: rec.attempts,
                records: records_in,
            }
        }
        Outcome::Retry { reason, after } if job.retry.allows_another(rec.attempts) => {
            let delay = job.retry.delay(rec.attempts, (deps.random)(), after);
            let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            // Send first: if the record write below is lost, the next attempt still comes.
            send_dispatch(deps, &key, msg, rec.attempts + 1, Some(at), now, "retry").await?;
            rec.status = RunStatus::Retrying;
            rec.next_attempt_at = Some(at);
            rec.error = Some(reason.clone());
            DispatchReport::RetryScheduled {
                attempt: rec.attempts + 1,
                at,
                reason,
            }
        }
        Outcome::Retry { reason, .. } => {
            let reason = format!("gave up after {} attempts: {reason}", rec.attempts);
            quarantine_run(deps, &key, rec.attempts, &reason, json!({}), &input).await?;
            rec.status = RunStatus::Failed;
            rec.finished_at = Some(now);
            rec.error = Some(reason.clone());
            DispatchReport::Quarantined { reason }
        }
        Outcome::Quarantine { reason } => {
            quarantine_run(deps, &key, rec.attempts, &reason, json!({}), &input).await?;
            rec.status = RunStatus::Quarantined;
            rec.finished_at = Some(now);
            rec.error = Some(reason.clone());
            DispatchReport::Quarantined { reason }
        }
    };
    match runs::replace(deps.store.as_ref(), &rec, &etag).await {
        Ok(_) => {}
        Err(StoreError::PreconditionFailed(_)) => {
            tracing::warn!(run = %key, "the run record changed during the attempt; its result was not written")
        }
        Err(e) => return Err(e.into()),
    }
    Ok(report)
}

/// Sends the run's requests. Failures become outcomes; only store/queue trouble is an error.
async fn attempt(
    deps: &Deps,
    job: &Job,
    key: &RunKey,
    rec: &RunRecord,
) -> Result<Outcome, FlowError> {
    let settings = deps.settings.clone();
    let endpoint = match expand_settings(&job.endpoint, &move |k| settings(k)) {
        Ok(e) => e,
        Err(reason) => return Ok(Outcome::Quarantine { reason }),
    };
    let requests = match inputs::prepare(deps, job, key.logical_time, &rec.trigger).await {
        Ok(r) => r,
        Err(InputError::Unusable(reason)) => return Ok(Outcome::Quarantine { reason }),
        Err(InputError::Transient(reason)) => {
            return Ok(Outcome::Retry {
                reason,
                after: None,
            })
        }
    };
    let records_in = requests.len() as u64;
    let mut lines = Vec::with_capacity(requests.len());
    for (i, prepared) in requests.into_iter().enumerate() {
        let request = JobRequest {
            endpoint: endpoint.clone(),
            deployment: job.deployment.clone(),
            body: prepared.body,
            timeout: job.timeout,
            correlation_id: format!("{key}#{}:{}", rec.attempts, i + 1),
        };
        match deps.runner.invoke(&request).await {
            Ok(answer) => {
                let mut line = serde_json::Map::new();
                if let Some(k) = prepared.key {
                    line.insert(job.request.key.clone().unwrap_or_else(|| "key".into()), k);
                }
                line.insert("output".into(), answer);
                lines.push(Value::Object(line));
            }
            Err(RunnerError::Retryable {
                message,
                retry_after,
            }) => {
                return Ok(Outcome::Retry {
                    reason: format!("request {} of {records_in}: {message}", i + 1),
                    after: retry_after,
                })
            }
            Err(RunnerError::Permanent { message, .. }) => {
                return Ok(Outcome::Quarantine {
                    reason: format!("request {} of {records_in}: {message}", i + 1),
                })
            }
        }
    }
    let output = match job
        .outputs
        .first()
        .and_then(|o| deps.catalog.datasets.get(o))
    {
        Some(ds) if !lines.is_empty() || !job.inputs.is_empty() => {
            let stamp = instant_key(key.logical_time).replace([':', '-', '.'], "");
            let path = format!("{}{}/{stamp}.jsonl", ds.location.prefix, job.id);
            let mut text = String::new();
            for l in &lines {
                text.push_str(&l.to_string());
                text.push('\n');
            }
            if let Err(e) = deps
                .blobs
                .write(&ds.location.container, &path, text.as_bytes())
                .await
            {
                return Ok(if e.is_retryable() {
                    Outcome::Retry {
                        reason: format!("writing the output failed: {e}"),
                        after: None,
                    }
                } else {
                    Outcome::Quarantine {
                        reason: format!("writing the output failed: {e}"),
                    }
                });
            }
            Some(format!("{}/{path}", ds.location.container))
        }
        _ => None,
    };
    Ok(Outcome::Done {
        records_in,
        records_out: lines.len() as u64,
        output,
    })
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
    let next = DispatchMessage::new(key, attempt, msg.trigger.clone());
    let id = if purpose == "recheck" {
        format!(
            "{}:recheck:{}",
            next.message_id(),
            at.map(instant_key).unwrap_or_default()
        )
    } else {
        next.message_id()
    };
    deps.queue
        .send(
            queues::DISPATCH,
            OutgoingMessage {
                message_id: id,
                correlation_id: Some(key.to_string()),
                body: serde_json::to_string(&next).unwrap_or_default(),
                scheduled_enqueue_time: at,
                time_to_live: None,
                sent_at: now,
            },
        )
        .await?;
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
        },
    )
    .await
}

fn msg_json(m: &DispatchMessage) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}
