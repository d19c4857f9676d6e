//! Alert events: SLA warnings and breaches of runs that have not finished (or finished late), and
//! stale datasets. Each is recorded once in the Store (idempotent across ticks and instances) and
//! audited; an event that opens an alert (monitoring.md §2.1) hands it to the monitor, which sends
//! it, repeats it and resolves it (`flows::monitor`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lifecycle::ignore_conflict;
use super::{Deps, FlowError};
use crate::domain::alert::{Alert, AlertKind};
use crate::domain::duration::format_duration;
use crate::domain::ids::{instant_key, DatasetId, JobId, RunKey};
use crate::domain::run::RunStatus;
use crate::ports::{Entity, StoreError, Table};

/// Partition of the index of runs with an SLA that has not been settled.
pub const OPEN: &str = "open";
/// Partition of datasets' freshness.
pub const FRESHNESS: &str = "freshness";

/// A run whose SLA is still being watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenRun {
    pub job: JobId,
    pub logical_time: DateTime<Utc>,
    pub warn_at: Option<DateTime<Utc>>,
    pub breach_at: DateTime<Utc>,
    /// The warning was raised: later ticks only watch for the breach.
    #[serde(default)]
    pub warned: bool,
}

/// A dataset's latest arrival, or since when flowgate has been watching it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Freshness {
    pub last_arrival: Option<DateTime<Utc>>,
    pub watching_since: DateTime<Utc>,
}

/// Records an alert event once, audits it and opens its alert for the monitor. `Ok(None)` if it
/// already existed.
pub async fn raise(deps: &Deps, alert: Alert) -> Result<Option<Alert>, FlowError> {
    let body = serde_json::to_value(&alert).unwrap_or_default();
    match deps.store.insert(Table::ALERTS, &alert.subject, &alert.id(), &body).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    tracing::warn!(kind = alert.kind.as_str(), subject = %alert.subject, "{}", alert.message);
    super::audit::record(
        deps,
        alert.raised_at,
        crate::domain::audit::AuditKind::Alerted,
        alert.id(),
        alert.message.clone(),
        body.clone(),
        None,
    )
    .await?;
    if let Some((opened, until)) = crate::domain::alerting::rules::from_signal(&alert) {
        super::monitor::open(deps, &opened, until, alert.raised_at).await?;
    }
    Ok(Some(alert))
}

fn run_alert(deps: &Deps, kind: AlertKind, open: &OpenRun, due: DateTime<Utc>, now: DateTime<Utc>, status: Option<RunStatus>) -> Alert {
    let key = RunKey::new(open.job.clone(), open.logical_time);
    let owner = deps.catalog.jobs.get(&open.job).and_then(|j| j.owner.clone());
    let state = status.map(|s| format!(" (it is {s})")).unwrap_or_default();
    let message = match kind {
        AlertKind::SlaWarning => format!("run {key} has not finished and is due by {}{state}", instant_key(due)),
        _ if status.is_some_and(RunStatus::is_terminal) => {
            format!(
                "run {key} missed its deadline {}: it ended {}{}",
                instant_key(due),
                status.map(|s| s.as_str()).unwrap_or(""),
                late_by(now, due)
            )
        }
        _ => format!("run {key} missed its deadline {}{state}", instant_key(due)),
    };
    let late = kind == AlertKind::SlaBreach && status == Some(RunStatus::Succeeded);
    Alert { kind, subject: open.job.to_string(), key: key.to_string(), raised_at: now, due_at: due, owner, message, late }
}

fn late_by(now: DateTime<Utc>, due: DateTime<Utc>) -> String {
    match (now - due).to_std() {
        Ok(d) if !d.is_zero() => format!(", {} late", format_duration(std::time::Duration::from_secs(d.as_secs()))),
        _ => String::new(),
    }
}

/// SLA pass over the open runs: a warning once past `warn_at`, a breach once past `breach_at`.
pub async fn sla_pass(deps: &Deps, now: DateTime<Utc>, open: &[Entity]) -> Result<Vec<Alert>, FlowError> {
    let mut raised = Vec::new();
    for e in open {
        let Ok(run) = serde_json::from_value::<OpenRun>(e.body.clone()) else {
            continue;
        };
        let warn_due = !run.warned && run.warn_at.is_some_and(|w| now >= w);
        if now < run.breach_at && !warn_due {
            continue; // nothing due: no read of the run
        }
        let status = super::runs::load(deps.store.as_ref(), &RunKey::new(run.job.clone(), run.logical_time)).await?.map(|(r, _)| r.status);
        if now >= run.breach_at {
            raised.extend(raise(deps, run_alert(deps, AlertKind::SlaBreach, &run, run.breach_at, now, status)).await?);
            ignore_missing(deps.store.delete(Table::SCHEDULES, OPEN, &e.row, None).await)?;
        } else {
            raised.extend(raise(deps, run_alert(deps, AlertKind::SlaWarning, &run, run.breach_at, now, status)).await?);
            // Remember it, so that the next ticks neither re-read the run nor try the alert again.
            let marked = OpenRun { warned: true, ..run };
            match deps.store.replace(Table::SCHEDULES, OPEN, &e.row, &serde_json::to_value(&marked).unwrap_or_default(), &e.etag).await {
                Ok(_) | Err(StoreError::PreconditionFailed(_) | StoreError::NotFound(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(raised)
}

/// A run ended: a success or a skip settles its SLA (a breach if it finished late); a failure
/// leaves it open, so the breach is raised when the deadline passes without the work delivered.
pub async fn run_ended(deps: &Deps, job: &JobId, logical: DateTime<Utc>, status: RunStatus, now: DateTime<Utc>) -> Result<(), FlowError> {
    if !matches!(status, RunStatus::Succeeded | RunStatus::Skipped) {
        return Ok(());
    }
    let row = RunKey::new(job.clone(), logical).to_string();
    let Some(e) = deps.store.get(Table::SCHEDULES, OPEN, &row).await? else {
        return Ok(());
    };
    if let Ok(run) = serde_json::from_value::<OpenRun>(e.body) {
        if status == RunStatus::Succeeded && now > run.breach_at {
            raise(deps, run_alert(deps, AlertKind::SlaBreach, &run, run.breach_at, now, Some(status))).await?;
        }
    }
    ignore_missing(deps.store.delete(Table::SCHEDULES, OPEN, &row, None).await)?;
    Ok(())
}

/// Freshness pass: a dataset with `expected_every` that has not had an arrival for that long
/// raises one stale-data alert per silence (keyed by its last arrival).
pub async fn freshness_pass(deps: &Deps, now: DateTime<Utc>, rows: &[Entity]) -> Result<Vec<Alert>, FlowError> {
    let mut raised = Vec::new();
    for ds in deps.catalog.datasets.values() {
        if ds.expected_every.is_none() {
            continue;
        }
        let state = rows.iter().find(|e| e.row == ds.id.as_str()).and_then(|e| serde_json::from_value::<Freshness>(e.body.clone()).ok());
        let Some(state) = state else {
            // First look: start watching now.
            let body = serde_json::to_value(Freshness { last_arrival: None, watching_since: now }).unwrap_or_default();
            ignore_conflict(deps.store.insert(Table::SCHEDULES, FRESHNESS, ds.id.as_str(), &body).await)?;
            continue;
        };
        let Some(stale) = stale(ds, &state, now) else { continue };
        let alert = Alert {
            kind: AlertKind::StaleData,
            subject: ds.id.to_string(),
            key: format!("{}@{}", ds.id, instant_key(stale.reference)),
            raised_at: now,
            due_at: stale.due,
            owner: ds.owner.clone(),
            message: stale.message,
            late: false,
        };
        raised.extend(raise(deps, alert).await?);
    }
    Ok(raised)
}

/// A dataset past its cadence: since when it was due, and what it was measured from.
#[derive(Debug, Clone, PartialEq)]
pub struct Stale {
    /// The last arrival, or when flowgate started watching.
    pub reference: DateTime<Utc>,
    /// When the next arrival was due.
    pub due: DateTime<Utc>,
    pub message: String,
}

/// Whether a dataset with `expected_every` is stale at `now` (the freshness pass records the event
/// once per silence; the monitor's `StaleData` gauge fires while it holds).
pub fn stale(ds: &crate::domain::catalog::Dataset, state: &Freshness, now: DateTime<Utc>) -> Option<Stale> {
    let every = ds.expected_every?;
    let reference = state.last_arrival.unwrap_or(state.watching_since);
    let due = reference + chrono::Duration::from_std(every).unwrap_or_default();
    if now <= due {
        return None;
    }
    let since = match state.last_arrival {
        Some(t) => format!("the last arrival was at {}", instant_key(t)),
        None => format!("nothing has arrived since flowgate started watching at {}", instant_key(state.watching_since)),
    };
    Some(Stale {
        reference,
        due,
        message: format!("dataset `{}` is stale: new data was expected every {} and {since}", ds.id, format_duration(every)),
    })
}

/// Records an arrival for freshness (keeps the latest).
pub async fn arrived(deps: &Deps, dataset: &DatasetId, at: DateTime<Utc>) -> Result<(), FlowError> {
    for _ in 0..5 {
        let current = deps.store.get(Table::SCHEDULES, FRESHNESS, dataset.as_str()).await?;
        let body = |since| serde_json::to_value(Freshness { last_arrival: Some(at), watching_since: since }).unwrap_or_default();
        let r = match current {
            None => deps.store.insert(Table::SCHEDULES, FRESHNESS, dataset.as_str(), &body(at)).await,
            Some(e) => {
                let old: Option<Freshness> = serde_json::from_value(e.body).ok();
                if old.as_ref().and_then(|o| o.last_arrival).is_some_and(|l| l >= at) {
                    return Ok(());
                }
                let since = old.map_or(at, |o| o.watching_since);
                deps.store.replace(Table::SCHEDULES, FRESHNESS, dataset.as_str(), &body(since), &e.etag).await
            }
        };
        match r {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict(_) | StoreError::PreconditionFailed(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub(crate) fn ignore_missing(r: Result<(), StoreError>) -> Result<(), StoreError> {
    match r {
        Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
