//! The waiting pass of ScheduleTick: each run waiting for its dependencies (or for its job's
//! previous run, under `overlap: queue_one`) is started, blocked with its reason, or left waiting.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::lifecycle::{self, WaitingRun, WAITING};
use super::schedule_tick::JobState;
use super::{runs, Deps, FlowError};
use crate::domain::catalog::Job;
use crate::domain::ids::{instant_key, JobId, RunKey};
use crate::domain::run::RunStatus;
use crate::domain::scheduling::{readiness, Readiness};
use crate::ports::{Entity, RowRange, StoreError, Table};

/// What the pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaitingReport {
    pub started: Vec<RunKey>,
    pub blocked: Vec<(RunKey, String)>,
    pub still_waiting: usize,
}

/// The upstream run that counts for `logical`: the same slot, or the latest within `window`.
async fn upstream_run(
    deps: &Deps,
    upstream: &JobId,
    logical: DateTime<Utc>,
    window: std::time::Duration,
) -> Result<Option<(DateTime<Utc>, RunStatus)>, FlowError> {
    if window.is_zero() {
        return Ok(runs::load(deps.store.as_ref(), &RunKey::new(upstream.clone(), logical))
            .await?
            .map(|(r, _)| (r.logical_time, r.status)));
    }
    let from = logical - chrono::Duration::from_std(window).unwrap_or_default();
    let range = RowRange { from: Some(instant_key(from)), to: Some(instant_key(logical + chrono::Duration::milliseconds(1))) };
    let rows = deps.store.query(Table::RUNS, Some(upstream.as_str()), range, usize::MAX).await?;
    let latest = rows
        .into_iter()
        .filter_map(|e| serde_json::from_value::<crate::domain::run::RunRecord>(e.body).ok())
        .filter(|r| r.status != RunStatus::Skipped)
        .max_by_key(|r| r.logical_time);
    Ok(latest.map(|r| (r.logical_time, r.status)))
}

pub async fn waiting_pass(
    deps: &Deps,
    now: DateTime<Utc>,
    rows: &[Entity],
    states: &mut HashMap<JobId, JobState>,
) -> Result<WaitingReport, FlowError> {
    let mut report = WaitingReport::default();
    let mut entries: Vec<(String, WaitingRun)> =
        rows.iter().filter_map(|e| serde_json::from_value(e.body.clone()).ok().map(|w| (e.row.clone(), w))).collect();
    entries.sort_by_key(|(_, w)| w.logical_time);
    for (row, w) in entries {
        let key = RunKey::new(w.job.clone(), w.logical_time);
        let (Some(job), Some((mut rec, etag))) = (deps.catalog.jobs.get(&w.job), runs::load(deps.store.as_ref(), &key).await?) else {
            drop_entry(deps, &row).await?;
            continue;
        };
        if rec.status != RunStatus::Waiting {
            drop_entry(deps, &row).await?;
            continue;
        }
        // overlap: queue_one — wait while the job's previous run is going.
        if let Some(state) = states.get(&job.id).filter(|s| s.queued == Some(w.logical_time)) {
            if let Some(active) = state.active {
                let busy = runs::load(deps.store.as_ref(), &RunKey::new(job.id.clone(), active))
                    .await?
                    .is_some_and(|(r, _)| !r.status.is_terminal());
                if busy {
                    report.still_waiting += 1;
                    continue;
                }
            }
        }
        let verdict = check(deps, job, w.logical_time, now).await?;
        match verdict {
            Readiness::Ready => {
                rec.status = RunStatus::Pending;
                let waited = (now - rec.created_at).to_std().unwrap_or_default();
                rec.reason = (!waited.is_zero()).then(|| {
                    format!(
                        "started after waiting {} for its dependencies or the previous run",
                        crate::domain::duration::format_duration(std::time::Duration::from_secs(waited.as_secs()))
                    )
                });
                if !replaced(runs::replace(deps.store.as_ref(), &rec, &etag).await)? {
                    continue;
                }
                lifecycle::dispatch(&deps.pinned(rec.release.as_ref()).await?, &key, rec.trigger.clone(), now).await?;
                if let Some(state) = states.get_mut(&job.id) {
                    if state.queued == Some(w.logical_time) {
                        state.queued = None;
                        state.active = Some(w.logical_time);
                        state.dirty = true;
                    }
                }
                drop_entry(deps, &row).await?;
                report.started.push(key);
            }
            Readiness::Blocked(reason) => {
                rec.status = RunStatus::Blocked;
                rec.reason = Some(reason.clone());
                rec.finished_at = Some(now);
                if !replaced(runs::replace(deps.store.as_ref(), &rec, &etag).await)? {
                    continue;
                }
                if let Some(state) = states.get_mut(&job.id) {
                    if state.queued == Some(w.logical_time) {
                        state.queued = None;
                        state.dirty = true;
                    }
                }
                tracing::warn!(run = %key, reason = %reason, "blocked");
                drop_entry(deps, &row).await?;
                lifecycle::ended(deps, &job.id, w.logical_time, RunStatus::Blocked, now, lifecycle::Indexed::NOT_DISPATCHED).await?;
                report.blocked.push((key, reason));
            }
            Readiness::Wait(reason) => {
                if rec.reason.as_deref() != Some(reason.as_str()) {
                    rec.reason = Some(reason);
                    replaced(runs::replace(deps.store.as_ref(), &rec, &etag).await)?;
                }
                report.still_waiting += 1;
            }
        }
    }
    Ok(report)
}

async fn check(deps: &Deps, job: &Job, logical: DateTime<Utc>, now: DateTime<Utc>) -> Result<Readiness, FlowError> {
    let mut ups = Vec::with_capacity(job.depends_on.len());
    for dep in &job.depends_on {
        ups.push((dep.clone(), upstream_run(deps, dep, logical, job.wait.window).await?));
    }
    Ok(readiness(&ups, logical, now, job.wait))
}

/// `false` when another instance changed the record first (it handles the run).
fn replaced<T>(r: Result<T, StoreError>) -> Result<bool, FlowError> {
    match r {
        Ok(_) => Ok(true),
        Err(StoreError::PreconditionFailed(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn drop_entry(deps: &Deps, row: &str) -> Result<(), FlowError> {
    match deps.store.delete(Table::SCHEDULES, WAITING, row, None).await {
        Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
