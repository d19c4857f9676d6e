//! MonitorTick (monitoring.md §2): on every schedule tick, the alert rules are evaluated — events
//! opened by `alerts::raise`, gauges sampled from their sources — each alert's state moves in the
//! Store by fingerprint (inactive → firing → resolved), and what must be sent is claimed with a
//! conditional write before it is sent, so two overlapping ticks never send one thing twice.
//! Sends are grouped by `[alertname, job]` and delivered to every receiver; a failed delivery is
//! tried again on later ticks (`deliver`).

pub mod deliver;
pub mod gauges;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Deps, FlowError};
use crate::domain::alerting::delivery::notifications;
use crate::domain::alerting::{evaluate, AlertState, Send, Silence, Until};
use crate::domain::ids::{instant_key, JobId, RunKey};
use crate::domain::notify::Alert;
use crate::domain::run::RunStatus;
use crate::ports::{AuditSink, Entity, RowRange, Store, StoreError, Table};

/// Alert states firing, or resolved within the last day (row = fingerprint).
pub const OPEN: &str = "open";
/// Alert states resolved more than a day ago (row = resolved time + `|` + fingerprint).
pub const HISTORY: &str = "history";
/// Silences (row = when set + `|` + alert name).
pub const SILENCE: &str = "silence";

/// What a monitor tick did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonitorReport {
    /// Alerts sent firing (first time or repeat), and resolved.
    pub firing: usize,
    pub resolved: usize,
    /// Notifications made (each to every receiver).
    pub notifications: usize,
    /// Deliveries retried from earlier ticks.
    pub retried: usize,
}

/// Opens an alert for an event; the next tick sends it. An alert already open stays as it is.
pub async fn open(deps: &Deps, alert: &Alert, until: Until, now: DateTime<Utc>) -> Result<(), FlowError> {
    let state = AlertState::opened(alert, until, now);
    match deps.store.insert(Table::ALERT_STATE, OPEN, &state.fingerprint, &to_json(&state)).await {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// An alert Azure Monitor fired or resolved (`AlertIngest`): opened (or opened again), or marked
/// resolved; the next tick sends what changed, like any other alert.
pub async fn from_azure(deps: &Deps, alert: &Alert, fired: bool, now: DateTime<Utc>) -> Result<(), FlowError> {
    let fp = alert.fingerprint();
    for _ in 0..5 {
        let current = deps.store.get(Table::ALERT_STATE, OPEN, &fp).await?;
        let prev = current.as_ref().and_then(|e| serde_json::from_value::<AlertState>(e.body.clone()).ok());
        let next = match (&prev, fired) {
            (None, false) => return Ok(()), // a resolve for an alert never seen firing
            (None, true) => AlertState::opened(alert, Until::Azure { resolved: false }, now),
            (Some(p), true) if p.is_firing() => AlertState { until: Until::Azure { resolved: false }, ..p.clone() },
            (Some(p), true) => {
                AlertState { fired_count: p.fired_count + 1, ..AlertState::opened(alert, Until::Azure { resolved: false }, now) }
            }
            (Some(p), false) => AlertState { until: Until::Azure { resolved: true }, ..p.clone() },
        };
        if prev.as_ref() == Some(&next) {
            return Ok(());
        }
        let r = match &current {
            Some(e) => deps.store.replace(Table::ALERT_STATE, OPEN, &fp, &to_json(&next), &e.etag).await,
            None => deps.store.insert(Table::ALERT_STATE, OPEN, &fp, &to_json(&next)).await,
        };
        match r {
            Ok(_) => return Ok(()),
            Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Silences in force at `now`.
pub async fn silences(store: &dyn Store, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
    let rows = store.query(Table::ALERT_STATE, Some(SILENCE), RowRange::default(), usize::MAX).await?;
    Ok(rows.into_iter().filter_map(|e| serde_json::from_value::<Silence>(e.body).ok()).filter(|s| s.until > now).collect())
}

/// Records a silence (audited, with who set it and why).
pub async fn silence(store: &dyn Store, audit: &dyn AuditSink, s: &Silence, now: DateTime<Utc>) -> Result<(), FlowError> {
    let row = format!("{}|{}|{}", instant_key(now), s.name, s.job.as_deref().unwrap_or("*"));
    store.upsert(Table::ALERT_STATE, SILENCE, &row, &to_json(s)).await?;
    let scope = s.job.as_ref().map(|j| format!(" for job {j}")).unwrap_or_default();
    super::audit::record_by(
        audit,
        now,
        crate::domain::audit::AuditKind::AlertSilenced,
        &s.by,
        s.name.clone(),
        format!("{} silenced{scope} until {}: {}", s.name, instant_key(s.until), s.reason),
        to_json(s),
        None,
    )
    .await?;
    Ok(())
}

/// One tick: evaluates every rule, claims and sends what is due, retries earlier deliveries.
pub async fn tick(deps: &Deps, now: DateTime<Utc>) -> Result<MonitorReport, FlowError> {
    let silences = silences(deps.store.as_ref(), now).await?;
    let silenced = |a: &Alert| silences.iter().any(|s| s.covers(a, now));
    let open = deps.store.query(Table::ALERT_STATE, Some(OPEN), RowRange::default(), usize::MAX).await?;
    let states: Vec<(Entity, AlertState)> =
        open.into_iter().filter_map(|e| serde_json::from_value::<AlertState>(e.body.clone()).ok().map(|s| (e, s))).collect();
    let firing: HashSet<String> = states.iter().filter(|(_, s)| s.is_firing()).map(|(e, _)| e.row.clone()).collect();
    let mut gauges = gauges::sample(deps, now, &firing).await?;
    let mut sends: Vec<(Alert, Send)> = Vec::new();
    // Alerts firing after this tick (the heartbeat carries the count).
    let mut firing_after = 0;

    for (e, s) in states {
        let (alert, condition) = if s.until == Until::Gauge {
            if !gauges.sampled.contains(s.alert.name.as_str()) {
                firing_after += usize::from(s.is_firing());
                continue; // not sampled this tick: neither fires nor resolves on a guess
            }
            match gauges.firing.remove(&e.row) {
                Some(a) => (a, true),
                None => (s.alert.clone(), false),
            }
        } else {
            (s.alert.clone(), !resolved(deps, &s, now).await?)
        };
        let quiet = silenced(&alert);
        let (next, send) = evaluate(Some(&s), &alert, s.holds(condition, quiet), quiet, now);
        let Some(next) = next else { continue };
        firing_after += usize::from(next.is_firing());
        if !next.is_firing() && next.settled(now) {
            retire(deps, &e, &next).await?;
            continue;
        }
        if next == s {
            continue;
        }
        // The claim: only the tick whose write lands sends.
        match deps.store.replace(Table::ALERT_STATE, OPEN, &e.row, &to_json(&next), &e.etag).await {
            Ok(_) => {
                if send != Send::Nothing {
                    sends.push((next.alert.clone(), send));
                }
            }
            Err(StoreError::PreconditionFailed(_) | StoreError::NotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    for (fp, alert) in gauges.firing.drain() {
        let quiet = silenced(&alert);
        let (Some(next), send) = evaluate(None, &alert, true, quiet, now) else { continue };
        firing_after += 1;
        match deps.store.insert(Table::ALERT_STATE, OPEN, &fp, &to_json(&next)).await {
            Ok(_) if send != Send::Nothing => sends.push((next.alert.clone(), send)),
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }

    let mut report = MonitorReport {
        firing: sends.iter().filter(|(_, s)| *s != Send::Resolved).count(),
        resolved: sends.iter().filter(|(_, s)| *s == Send::Resolved).count(),
        ..MonitorReport::default()
    };
    let sent: Vec<Alert> = sends.iter().map(|(a, _)| a.clone()).collect();
    let notes = notifications(sends, now);
    report.notifications = notes.len();
    for n in &notes {
        tracing::warn!(notification = %n.id, alerts = n.group.alerts.len(), "{}", n.group.title());
        deliver::to_every_receiver(deps, n, now).await?;
    }
    report.retried = deliver::retry_pass(deps, now).await?;
    deliver::sample_queues(deps, &gauges.queues, now).await?;
    super::facts::tick(deps, now, firing_after, &gauges.queues, &sent).await;
    Ok(report)
}

/// Whether an alert opened by an event has stopped firing.
async fn resolved(deps: &Deps, s: &AlertState, now: DateTime<Utc>) -> Result<bool, FlowError> {
    let run_status = |job: &str, logical: DateTime<Utc>| {
        let job = JobId::parse(job).ok();
        async move {
            let Some(job) = job else { return Ok::<_, FlowError>(None) };
            Ok(super::runs::load(deps.store.as_ref(), &RunKey::new(job, logical)).await?.map(|(r, _)| r.status))
        }
    };
    Ok(match &s.until {
        Until::Gauge => false,
        Until::RunSettled { job, logical } => {
            // A run removed by retention settles it too.
            run_status(job, *logical).await?.is_none_or(|st| matches!(st, RunStatus::Succeeded | RunStatus::Skipped))
        }
        Until::RunEndedOr { job, logical, at } => now >= *at || run_status(job, *logical).await?.is_none_or(RunStatus::is_terminal),
        Until::NextSwitch => super::releases::records::pointer(deps.store.as_ref()).await?.is_some_and(|(p, _)| p.since > s.fired_at),
        Until::Azure { resolved } => *resolved,
        Until::CanaryDecided { rollout } => super::releases::records::pointer(deps.store.as_ref())
            .await?
            .is_none_or(|(p, _)| p.canary.as_ref().is_none_or(|c| &c.rollout != rollout)),
    })
}

/// Moves a state resolved a day ago from the open set to the history.
async fn retire(deps: &Deps, e: &Entity, s: &AlertState) -> Result<(), FlowError> {
    let row = format!("{}|{}", s.resolved_at.map(instant_key).unwrap_or_default(), s.fingerprint);
    match deps.store.insert(Table::ALERT_STATE, HISTORY, &row, &to_json(s)).await {
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(err) => return Err(err.into()),
    }
    match deps.store.delete(Table::ALERT_STATE, OPEN, &e.row, Some(&e.etag)).await {
        Ok(()) | Err(StoreError::NotFound(_) | StoreError::PreconditionFailed(_)) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Every alert state: the open ones, then the history newer than `since`.
pub async fn states(store: &dyn Store, since: DateTime<Utc>) -> Result<Vec<AlertState>, StoreError> {
    let mut out: Vec<AlertState> = Vec::new();
    for part in [OPEN, HISTORY] {
        let range = if part == HISTORY { RowRange { from: Some(instant_key(since)), to: None } } else { RowRange::default() };
        for e in store.query(Table::ALERT_STATE, Some(part), range, usize::MAX).await? {
            if let Ok(s) = serde_json::from_value::<AlertState>(e.body) {
                out.push(s);
            }
        }
    }
    out.sort_by(|a, b| b.is_firing().cmp(&a.is_firing()).then(a.alert.severity.cmp(&b.alert.severity)).then(b.fired_at.cmp(&a.fired_at)));
    Ok(out)
}
