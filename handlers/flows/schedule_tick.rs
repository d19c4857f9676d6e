//! ScheduleTick: every minute, for every scheduled job, decide each slot between the job's
//! watermark and "now" (on time, missed and caught up, or skipped with a reason; overlap with the
//! previous run), create its run and dispatch it or let it wait; then start or block waiting runs,
//! raise SLA warnings and breaches and stale-data alerts, and run the monitor (alerts sent, repeated,
//! resolved; deliveries retried).
//! Two ticks at once are harmless: runs and alerts are created once, duplicate messages collapse.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::lifecycle::{self, WAITING};
use super::waiting::{waiting_pass, WaitingReport};
use super::{alerts, runs, Deps, FlowError};
use crate::domain::alert::Alert;
use crate::domain::catalog::{Job, Trigger};
use crate::domain::ids::{instant_key, InvocationId, JobId, RunKey};
use crate::domain::run::{RunStatus, RunTrigger};
use crate::domain::schedule::LocalMapping;
use crate::domain::scheduling::{decide_overlap, decide_slots, OverlapDecision, SlotDecision};
use crate::ports::{ETag, RowRange, StoreError, Table};

/// Slots decided per job per tick at most; a longer backlog continues on the next tick.
pub const MAX_SLOTS_PER_TICK: usize = 500;
/// A job seen for the first time starts with the slots of the last minute (no backfill).
const FIRST_LOOK_BACK: i64 = 60;
/// Partition of the jobs' schedule state.
pub const JOBS: &str = "job";

/// What a tick is given.
#[derive(Debug, Clone)]
pub struct TickInput {
    pub now: DateTime<Utc>,
    pub invocation: InvocationId,
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    /// Runs sent to the dispatch queue by the slot pass.
    pub enqueued: Vec<RunKey>,
    /// Runs created waiting (dependencies or overlap).
    pub waiting: Vec<RunKey>,
    /// Slots recorded as skipped, with the reason.
    pub skipped: Vec<(RunKey, String)>,
    /// Jobs with more due slots than one tick takes; they continue next tick.
    pub backlogged: Vec<JobId>,
    /// The waiting pass.
    pub dependencies: WaitingReport,
    /// Alerts raised by this tick (each alert is raised by one tick only).
    pub alerts: Vec<Alert>,
    /// What the monitor sent.
    pub monitor: super::monitor::MonitorReport,
    /// What the reconciliation pass did.
    pub reconciled: super::reconcile::ReconcileReport,
}

/// A scheduled job's state between ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    /// The last slot decided (run or skipped).
    pub last_slot: DateTime<Utc>,
    /// The latest slot that started a run.
    #[serde(default)]
    pub active: Option<DateTime<Utc>>,
    /// A slot waiting for the active run (`overlap: queue_one`).
    #[serde(default)]
    pub queued: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub etag: Option<ETag>,
    #[serde(skip)]
    pub dirty: bool,
}

/// Each instance's copy of the jobs' schedule state and when each is next due, so that a tick
/// touches only the jobs with a slot due. The Store stays the truth: every write is conditional
/// on the ETag the cache holds, and a lost race reloads the job.
#[derive(Default)]
pub struct ScheduleCache {
    inner: tokio::sync::Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    loaded: bool,
    /// Whether every scheduled job has been looked at once (and so is in `due`).
    indexed: bool,
    /// The catalog the due times were computed from (`None`: the packaged one).
    release: Option<crate::domain::release::ReleaseId>,
    states: HashMap<JobId, JobState>,
    /// Jobs by the instant their next slot is due; a job not in it is looked at every tick.
    due: BTreeMap<DateTime<Utc>, Vec<JobId>>,
    next_due: HashMap<JobId, DateTime<Utc>>,
}

impl CacheInner {
    /// The scheduled jobs to look at now: every one on the first tick, then those due.
    fn take_due(
        &mut self,
        catalog: &crate::domain::catalog::Catalog,
        release: Option<&crate::domain::release::ReleaseId>,
        now: DateTime<Utc>,
    ) -> Vec<JobId> {
        if self.release.as_ref() != release {
            // Another release became active: its schedules decide when each job is next due
            // (the watermarks stay, so no slot already decided fires again).
            self.release = release.cloned();
            self.indexed = false;
            self.due.clear();
            self.next_due.clear();
        }
        if !self.indexed {
            self.indexed = true;
            return catalog
                .jobs
                .values()
                .filter(|j| j.enabled && matches!(j.trigger, Trigger::Schedule(_)))
                .map(|j| j.id.clone())
                .collect();
        }
        let mut out: Vec<JobId> = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if *entry.key() > now {
                break;
            }
            for job in entry.remove() {
                self.next_due.remove(&job);
                out.push(job);
            }
        }
        out
    }

    fn set_due(&mut self, job: &JobId, at: DateTime<Utc>) {
        if let Some(old) = self.next_due.insert(job.clone(), at) {
            if let Some(list) = self.due.get_mut(&old) {
                list.retain(|j| j != job);
            }
        }
        self.due.entry(at).or_default().push(job.clone());
    }

    /// Looks at a job again on the next tick (after its state was reloaded).
    fn forget(&mut self, job: &JobId) {
        self.set_due(job, DateTime::<Utc>::MIN_UTC);
    }
}

pub async fn schedule_tick(deps: &Deps, input: TickInput) -> Result<TickReport, FlowError> {
    let now = input.now;
    let mut cache = deps.schedule_cache.inner.lock().await;
    if !cache.loaded {
        for e in deps.store.query(Table::SCHEDULES, Some(JOBS), RowRange::default(), usize::MAX).await? {
            if let (Ok(job), Ok(mut st)) = (JobId::parse(e.row.clone()), serde_json::from_value::<JobState>(e.body)) {
                st.etag = Some(e.etag);
                cache.states.insert(job, st);
            }
        }
        cache.loaded = true;
    }
    let part = |p: &'static str| async move { deps.store.query(Table::SCHEDULES, Some(p), RowRange::default(), usize::MAX).await };
    let waiting = part(WAITING).await?;
    let mut report = TickReport::default();
    let due = cache.take_due(&deps.catalog, deps.release.as_ref(), now);
    for id in &due {
        let Some(job) = deps.catalog.jobs.get(id) else {
            continue;
        };
        let Trigger::Schedule(cron) = &job.trigger else {
            continue;
        };
        slot_pass(deps, job, now, &mut cache.states, &mut report).await?;
        let last = cache.states.get(id).map_or(now, |s| s.last_slot);
        let next = cron.next_after(last, job.timezone).unwrap_or(DateTime::<Utc>::MAX_UTC);
        cache.set_due(id, next);
    }
    report.dependencies = waiting_pass(deps, now, &waiting, &mut cache.states).await?;
    let dirty: Vec<JobId> = cache.states.iter().filter(|(_, s)| s.dirty).map(|(j, _)| j.clone()).collect();
    for job in dirty {
        let Some(st) = cache.states.get_mut(&job) else {
            continue;
        };
        if !write_state(deps, &job, st).await? {
            // Another instance moved this job on: reload it and decide again next tick.
            if let Some(e) = deps.store.get(Table::SCHEDULES, JOBS, job.as_str()).await? {
                if let Ok(mut fresh) = serde_json::from_value::<JobState>(e.body) {
                    fresh.etag = Some(e.etag);
                    *st = fresh;
                }
            }
            cache.forget(&job);
        }
    }
    drop(cache);
    report.alerts.extend(alerts::sla_pass(deps, now, &part(alerts::OPEN).await?).await?);
    report.alerts.extend(alerts::freshness_pass(deps, now, &part(alerts::FRESHNESS).await?).await?);
    report.alerts.extend(super::releases::active::review_pass(deps, now).await?);
    // Reconciliation never holds up scheduling either: what it could not do waits a tick.
    match super::reconcile::pass(deps, now).await {
        Ok(r) => report.reconciled = r,
        Err(e) => tracing::warn!(error = %e, "reconciliation pass failed"),
    }
    report.monitor = super::monitor::tick(deps, now).await?;
    if let Some(copy) = &deps.audit_copy {
        // The copy never holds up scheduling: what it could not send goes next tick.
        match super::audit_copy::copy_pass(deps, copy.as_ref(), now).await {
            Ok(r) if r.sent > 0 => tracing::info!(sent = r.sent, batches = r.batches, cursor = r.cursor, "audit copied"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "audit copy failed"),
        }
    }
    if let Err(e) = daily_retention(deps, now).await {
        tracing::warn!(error = %e, "retention pass failed");
    }
    Ok(report)
}

/// With `FLOWGATE_RETENTION` set (e.g. `400d`), the first tick of each UTC day removes local
/// records finished longer ago (see `retention`).
async fn daily_retention(deps: &Deps, now: DateTime<Utc>) -> Result<(), FlowError> {
    let Some(keep) = (deps.settings)("FLOWGATE_RETENTION").filter(|v| !v.is_empty()) else { return Ok(()) };
    let Ok(keep) = crate::domain::duration::parse_duration(&keep) else {
        tracing::warn!(value = %keep, "FLOWGATE_RETENTION is not a duration; no retention applied");
        return Ok(());
    };
    let today = now.format("%Y-%m-%d").to_string();
    let body = serde_json::json!({ "day": today });
    let claimed = match deps.store.get(Table::SCHEDULES, "cursor", "retention").await? {
        Some(e) if e.body["day"].as_str() == Some(today.as_str()) => false,
        Some(e) => deps.store.replace(Table::SCHEDULES, "cursor", "retention", &body, &e.etag).await.is_ok(),
        None => deps.store.insert(Table::SCHEDULES, "cursor", "retention", &body).await.is_ok(),
    };
    if claimed {
        let r = super::retention::apply(deps.store.as_ref(), deps.audit.as_ref(), keep, now, false, "system").await?;
        tracing::info!(runs = r.runs, arrivals = r.arrivals, alerts = r.alerts, "retention applied");
    }
    Ok(())
}

/// Decides one job's due slots.
async fn slot_pass(
    deps: &Deps,
    job: &Job,
    now: DateTime<Utc>,
    states: &mut HashMap<JobId, JobState>,
    report: &mut TickReport,
) -> Result<(), FlowError> {
    let Trigger::Schedule(cron) = &job.trigger else {
        return Ok(());
    };
    let state = states.entry(job.id.clone()).or_insert_with(|| JobState {
        last_slot: now - Duration::seconds(FIRST_LOOK_BACK),
        active: None,
        queued: None,
        etag: None,
        dirty: true,
    });
    let mut slots = cron.slots(state.last_slot, now, job.timezone, MAX_SLOTS_PER_TICK + 1);
    if slots.len() > MAX_SLOTS_PER_TICK {
        slots.truncate(MAX_SLOTS_PER_TICK);
        report.backlogged.push(job.id.clone());
    }
    let mut merged_index = 0i64;
    for decision in decide_slots(&slots, now, job.catch_up, job.timezone) {
        match decision {
            SlotDecision::Skip(slot, reason) => {
                // A merged DST slot shares its instant with the slot that runs for it: its record
                // is kept a millisecond per merged slot after it, so that every slot has one.
                let at = if slot.mapping == LocalMapping::MergedIntoGapEnd {
                    merged_index += 1;
                    slot.at + Duration::milliseconds(merged_index)
                } else {
                    slot.at
                };
                if lifecycle::skip(deps, job, at, reason.clone(), now).await? {
                    report.skipped.push((RunKey::new(job.id.clone(), at), reason));
                }
            }
            SlotDecision::Run(slot) => start_slot(deps, job, slot.at, now, state, report).await?,
        }
    }
    if let Some(last) = slots.last() {
        state.last_slot = last.at;
        state.dirty = true;
    }
    Ok(())
}

/// A slot that is to run: subject to overlap with the job's previous run, and to dependencies.
async fn start_slot(
    deps: &Deps,
    job: &Job,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    state: &mut JobState,
    report: &mut TickReport,
) -> Result<(), FlowError> {
    let key = RunKey::new(job.id.clone(), at);
    let previous = match state.active {
        Some(a) => runs::load(deps.store.as_ref(), &RunKey::new(job.id.clone(), a)).await?.map(|(r, _)| (a, r.status)),
        None => None,
    };
    match decide_overlap(job.overlap, previous, state.queued) {
        OverlapDecision::Skip(reason) => {
            if lifecycle::skip(deps, job, at, reason.clone(), now).await? {
                report.skipped.push((key, reason));
            }
        }
        OverlapDecision::Queue { replaces } => {
            if let Some(old) = replaces {
                replace_queued(deps, job, old, at, now, report).await?;
            }
            let active = state.active.map(instant_key).unwrap_or_default();
            let reason = format!("waiting for the previous run ({active}) to finish (overlap: queue_one)");
            lifecycle::create(deps, job, at, RunTrigger::Schedule, RunStatus::Waiting, Some(reason), now).await?;
            state.queued = Some(at);
            state.dirty = true;
            report.waiting.push(key);
        }
        OverlapDecision::Run => {
            if job.depends_on.is_empty() {
                lifecycle::create(deps, job, at, RunTrigger::Schedule, RunStatus::Pending, None, now).await?;
                lifecycle::dispatch(deps, &key, RunTrigger::Schedule, now).await?;
                tracing::info!(run = %key, "scheduled");
                report.enqueued.push(key);
            } else {
                let reason = Some("waiting for its dependencies".to_string());
                lifecycle::create(deps, job, at, RunTrigger::Schedule, RunStatus::Waiting, reason, now).await?;
                report.waiting.push(key);
            }
            state.active = Some(at);
            state.dirty = true;
        }
    }
    Ok(())
}

/// Under `overlap: queue_one`, a newer slot replaces the one that was waiting: that one is skipped.
async fn replace_queued(
    deps: &Deps,
    job: &Job,
    old: DateTime<Utc>,
    newer: DateTime<Utc>,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<(), FlowError> {
    let key = RunKey::new(job.id.clone(), old);
    let Some((mut rec, etag)) = runs::load(deps.store.as_ref(), &key).await? else {
        return Ok(());
    };
    if rec.status != RunStatus::Waiting {
        return Ok(());
    }
    let reason = format!("replaced by the newer slot {} while the previous run was still going (overlap: queue_one)", instant_key(newer));
    rec.status = RunStatus::Skipped;
    rec.reason = Some(reason.clone());
    rec.finished_at = Some(now);
    match runs::replace(deps.store.as_ref(), &rec, &etag).await {
        Ok(_) => {}
        Err(StoreError::PreconditionFailed(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let _ = deps.store.delete(Table::SCHEDULES, WAITING, &key.to_string(), None).await;
    lifecycle::ended(deps, &job.id, old, RunStatus::Skipped, now, lifecycle::Indexed { sla: rec.sla_deadline.is_some(), in_flight: false })
        .await?;
    report.skipped.push((key, reason));
    Ok(())
}

/// Writes a job's state and keeps its new ETag. `Ok(false)` when another tick changed it first.
async fn write_state(deps: &Deps, job: &JobId, st: &mut JobState) -> Result<bool, FlowError> {
    let body = serde_json::to_value(&*st).unwrap_or_default();
    let r = match &st.etag {
        Some(e) => deps.store.replace(Table::SCHEDULES, JOBS, job.as_str(), &body, e).await,
        None => deps.store.insert(Table::SCHEDULES, JOBS, job.as_str(), &body).await,
    };
    match r {
        Ok(etag) => {
            st.etag = Some(etag);
            st.dirty = false;
            Ok(true)
        }
        Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
