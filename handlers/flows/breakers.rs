//! Circuit breakers in the Store, one per job and one per endpoint (instances are ephemeral, so
//! the state is not kept in memory). Every change is a conditional write; a lost race is re-read.
//! What an attempt read before its call is what it writes against after it: no second read
//! unless another instance changed the breaker meanwhile (then the write's 412 says so).

use chrono::{DateTime, Utc};

use super::{Deps, FlowError};
use crate::domain::breaker::{Admission, Breaker, Transition};
use crate::domain::catalog::model::BreakerPolicy;
use crate::domain::catalog::Job;
use crate::ports::{ETag, StoreError, Table};

/// Breakers' partitions.
pub const JOB: &str = "job";
pub const ENDPOINT: &str = "endpoint";

/// An endpoint's breaker key: its scheme, host and port (all paths of a host share it).
pub fn endpoint_key(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    format!("{scheme}://{host}").replace('/', "_")
}

/// A breaker as last read or written, with its ETag (`None`: not stored yet).
#[derive(Debug, Clone)]
pub struct Seen {
    breaker: Breaker,
    etag: Option<ETag>,
}

/// The job's and the endpoint's breakers as an attempt's admission left them.
#[derive(Debug, Clone)]
pub struct Admitted {
    job: Seen,
    endpoint: Option<Seen>,
}

/// Changes and writes one breaker, starting from `seen` when given (else reading it); re-read
/// and retried on a lost race.
async fn update<T>(
    deps: &Deps,
    part: &str,
    row: &str,
    mut seen: Option<Seen>,
    mut f: impl FnMut(&mut Breaker) -> T,
) -> Result<(T, Seen), FlowError> {
    for round in 0..32u64 {
        let (mut b, etag) = match seen.take() {
            Some(s) => (s.breaker, s.etag),
            None => match deps.store.get(Table::BREAKERS, part, row).await? {
                Some(e) => (serde_json::from_value::<Breaker>(e.body).unwrap_or_default(), Some(e.etag)),
                None => (Breaker::default(), None),
            },
        };
        let before = b.clone();
        let out = f(&mut b);
        if b == before {
            return Ok((out, Seen { breaker: b, etag }));
        }
        let body = serde_json::to_value(&b).unwrap_or_default();
        let r = match &etag {
            Some(e) => deps.store.replace(Table::BREAKERS, part, row, &body, e).await,
            None => deps.store.insert(Table::BREAKERS, part, row, &body).await,
        };
        match r {
            Ok(etag) => return Ok((out, Seen { breaker: b, etag: Some(etag) })),
            Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => {
                // Spread the retries of instances racing for the same breaker.
                tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(0..=(1 + round * 2)))).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(FlowError::Store(StoreError::Unavailable(format!("breaker {part}/{row} kept changing under us"))))
}

/// Whether the job may call its endpoint now (both breakers must agree), whether both were
/// healthy (then a success need not be recorded), and the breakers as read, for `record`.
pub async fn admit(deps: &Deps, job: &Job, endpoint: &str, now: DateTime<Utc>) -> Result<(Admission, bool, Admitted), FlowError> {
    let p: &BreakerPolicy = &job.breaker;
    let ((j, j_ok), job_seen) = update(deps, JOB, job.id.as_str(), None, |b| (b.admit(p, now), b.is_healthy(p, now))).await?;
    if let Admission::No { .. } = j {
        return Ok((j, false, Admitted { job: job_seen, endpoint: None }));
    }
    let ((e, e_ok), endpoint_seen) =
        update(deps, ENDPOINT, &endpoint_key(endpoint), None, |b| (b.admit(p, now), b.is_healthy(p, now))).await?;
    let admission = match (j, e) {
        (_, no @ Admission::No { .. }) => no,
        (Admission::Probe, _) | (_, Admission::Probe) => Admission::Probe,
        _ => Admission::Yes,
    };
    Ok((admission, j_ok && e_ok, Admitted { job: job_seen, endpoint: Some(endpoint_seen) }))
}

/// Records whether the endpoint answered well, writing against the breakers `admit` read;
/// returns the transitions it caused.
pub async fn record(
    deps: &Deps,
    job: &Job,
    endpoint: &str,
    ok: bool,
    now: DateTime<Utc>,
    admitted: Admitted,
) -> Result<Vec<(String, Transition)>, FlowError> {
    let p = &job.breaker;
    let mut out = Vec::new();
    if let (Some(t), _) = update(deps, JOB, job.id.as_str(), Some(admitted.job), |b| b.record(p, ok, now)).await? {
        out.push((format!("job {}", job.id), t));
    }
    let key = endpoint_key(endpoint);
    if let (Some(t), _) = update(deps, ENDPOINT, &key, admitted.endpoint, |b| b.record(p, ok, now)).await? {
        out.push((format!("endpoint {key}"), t));
    }
    for (what, t) in &out {
        tracing::warn!(breaker = %what, from = %t.from, to = %t.to, reason = %t.reason, "circuit breaker");
        let evidence = serde_json::to_value(t).unwrap_or_default();
        super::audit::record(
            deps,
            now,
            crate::domain::audit::AuditKind::BreakerTransition,
            what.clone(),
            format!("{} -> {}: {}", t.from, t.to, t.reason),
            evidence,
            None,
        )
        .await?;
    }
    Ok(out)
}

/// Gives back a half-open probe that did not call the endpoint after all.
pub async fn release_probe(deps: &Deps, job: &Job, endpoint: &str, admitted: Admitted) -> Result<(), FlowError> {
    update(deps, JOB, job.id.as_str(), Some(admitted.job), |b| b.probes_in_flight = b.probes_in_flight.saturating_sub(1)).await?;
    update(deps, ENDPOINT, &endpoint_key(endpoint), admitted.endpoint, |b| b.probes_in_flight = b.probes_in_flight.saturating_sub(1))
        .await?;
    Ok(())
}
