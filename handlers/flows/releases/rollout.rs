//! Canary rollouts: a promotion that changes a switchable job's deployment, under a catalog with
//! `releases.rollout`, starts a canary instead of switching (a share of new items of those jobs
//! runs on the candidate, pinned to its deployment); each CanaryWatch pass analyses what the
//! canary and the stable release did and records it; ABORT rolls the canary back (no new item
//! goes to the candidate) with an alert, PROMOTE switches traffic blue/green and then the active
//! pointer, INCONCLUSIVE pauses for a person.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ops::audit;
use super::traffic::{self, Planned};
use super::{records, ReleaseDeps, ReleaseError};
use crate::domain::alert::{Alert, AlertKind};
use crate::domain::audit::AuditKind;
use crate::domain::canary::{analyse, Analysis, CanaryDecision, Counts, Metric, Observations};
use crate::domain::release::policy::RolloutPolicy;
use crate::domain::release::{Activation, ActivePointer, ReleaseId};
use crate::domain::rollout::Canary;
use crate::domain::run::{RunRecord, RunStatus};
use crate::flows::{runs, Deps, FlowError};
use crate::ports::{ETag, Store, StoreError};

/// Who acts when CanaryWatch decides (`flowgate:canary-watch`).
pub fn watcher() -> crate::domain::principal::Principal {
    crate::domain::principal::Principal::system("canary-watch")
}
/// The Store partition of rollout states (table `releases`).
const STATES: &str = "rollout";
/// The prefix of the partition holding one rollout's passes.
const PASSES: &str = "rollout-pass|";

/// A rollout's running state: its last analysis and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    pub canary: Canary,
    pub passes: u64,
    /// Consecutive failed reads of the metric source.
    pub source_errors: u32,
    pub last: Option<Analysis>,
    /// Set when the rollout ended (ABORT, PROMOTE) or paused (INCONCLUSIVE).
    pub outcome: Option<CanaryDecision>,
    pub updated: DateTime<Utc>,
    /// What happened last, for people (a failed switch, a pause).
    #[serde(default)]
    pub note: Option<String>,
}

pub async fn state(store: &dyn Store, rollout: &str) -> Result<Option<(RolloutState, ETag)>, StoreError> {
    match store.get(records::TABLE, STATES, rollout).await? {
        Some(e) => Ok(Some((
            serde_json::from_value(e.body).map_err(|err| StoreError::Corrupt(format!("releases(rollout,{rollout})"), err.to_string()))?,
            e.etag,
        ))),
        None => Ok(None),
    }
}

/// The latest rollout whose candidate is `id`.
pub async fn latest_for(store: &dyn Store, id: &ReleaseId) -> Result<Option<RolloutState>, StoreError> {
    let rows = store.query(records::TABLE, Some(STATES), crate::ports::RowRange::default(), usize::MAX).await?;
    let mut states: Vec<RolloutState> = rows
        .into_iter()
        .filter_map(|e| serde_json::from_value::<RolloutState>(e.body).ok())
        .filter(|s| &s.canary.candidate == id)
        .collect();
    states.sort_by_key(|s| s.canary.started);
    Ok(states.pop())
}

async fn put_state(store: &dyn Store, s: &RolloutState) -> Result<(), StoreError> {
    store.upsert(records::TABLE, STATES, &s.canary.rollout, &serde_json::to_value(s).unwrap_or_default()).await.map(|_| ())
}

/// Starts a canary of `id` on the active pointer (read with `etag`): checks every endpoint first
/// (a deployment it lacks is unusable input), then one conditional write.
pub(super) async fn start(
    d: &ReleaseDeps,
    (pointer, etag): (ActivePointer, ETag),
    id: &ReleaseId,
    by: &str,
    policy: &RolloutPolicy,
    planned: &[Planned],
    now: DateTime<Utc>,
) -> Result<ActivePointer, ReleaseError> {
    traffic::preflight(d.endpoints.as_ref(), planned).await?;
    let canary = Canary {
        // Named after what it rolls out and when: the same decision gives the same sample.
        rollout: uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("flowgate-rollout:{}:{}:{}", pointer.release, id, now.to_rfc3339()).as_bytes(),
        )
        .to_string(),
        candidate: id.clone(),
        stable: pointer.release.clone(),
        share_bp: policy.share_bp,
        jobs: planned.iter().filter_map(|p| crate::domain::ids::JobId::parse(p.job.clone()).ok()).collect(),
        deployments: planned
            .iter()
            .filter_map(|p| Some((crate::domain::ids::JobId::parse(p.job.clone()).ok()?, (p.from.clone(), p.to.clone()))))
            .collect(),
        started: now,
    };
    let mut next = pointer.clone();
    next.canary = Some(canary.clone());
    match records::write_pointer(d.store.as_ref(), &next, Some(&etag)).await {
        Ok(_) => {}
        Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => {
            return Err(ReleaseError::Conflict("the active release changed while the canary was starting; nothing changed".into()))
        }
        Err(e) => return Err(e.into()),
    }
    let state = RolloutState { canary: canary.clone(), passes: 0, source_errors: 0, last: None, outcome: None, updated: now, note: None };
    put_state(d.store.as_ref(), &state).await?;
    let jobs: Vec<String> = planned.iter().map(|p| format!("{} {} → {}", p.job, p.from, p.to)).collect();
    let decision = format!("canary started: {:.1} % of new items of {} on {}", policy.share_bp as f64 / 100.0, jobs.join(", "), id.short());
    audit(d, now, AuditKind::CanaryDecided, by, id.as_str(), decision, json!({ "canary": canary, "policy": policy })).await?;
    Ok(next)
}

/// What the canary and the stable release did, from the run records of the canary's jobs.
async fn observe(store: &dyn Store, c: &Canary, policy: &RolloutPolicy) -> Result<Observations, StoreError> {
    let mut canary_runs: Vec<RunRecord> = Vec::new();
    let mut stable_runs: Vec<RunRecord> = Vec::new();
    for job in &c.jobs {
        for r in runs::list(store, Some(job.as_str()), usize::MAX).await? {
            if !r.status.is_terminal() || r.status == RunStatus::Skipped {
                continue;
            }
            if r.release.as_ref() == Some(&c.candidate) && r.created_at >= c.started {
                canary_runs.push(r);
            } else if r.release.as_ref() == Some(&c.stable) {
                stable_runs.push(r);
            }
        }
    }
    stable_runs.sort_by_key(|r| std::cmp::Reverse(r.finished_at));
    stable_runs.truncate(policy.canary.baseline_items as usize);
    let slo_ms = policy.canary.latency_slo.map(|d| d.as_millis() as u64);
    let count = |rs: &[RunRecord]| {
        let mut m = std::collections::BTreeMap::new();
        let n = rs.len() as u64;
        let failures = rs.iter().filter(|r| matches!(r.status, RunStatus::Failed | RunStatus::Quarantined)).count() as u64;
        let held = rs.iter().filter(|r| r.gate.as_ref().is_some_and(|g| !g.passed)).count() as u64;
        m.insert(Metric::ItemFailure, Counts { items: n, events: failures });
        m.insert(Metric::ContractViolation, Counts { items: n, events: held });
        if let Some(slo) = slo_ms {
            let timed: Vec<u64> = rs.iter().filter_map(|r| r.last_latency_ms).collect();
            m.insert(
                Metric::LatencyOverSlo,
                Counts { items: timed.len() as u64, events: timed.iter().filter(|l| **l > slo).count() as u64 },
            );
        }
        m
    };
    let guardrails = canary_runs
        .iter()
        .filter(|r| r.status == RunStatus::Quarantined)
        .map(|r| format!("canary run {}@{} was quarantined: {}", r.job, r.logical_time.to_rfc3339(), r.error.clone().unwrap_or_default()))
        .collect();
    Ok(Observations { stable: count(&stable_runs), canary: count(&canary_runs), guardrails, source_errors: 0 })
}

/// Every recorded pass of a rollout, oldest first.
pub async fn passes(store: &dyn Store, rollout: &str) -> Result<Vec<serde_json::Value>, StoreError> {
    let rows = store.query(records::TABLE, Some(&format!("{PASSES}{rollout}")), crate::ports::RowRange::default(), usize::MAX).await?;
    Ok(rows.into_iter().map(|e| e.body).collect())
}

/// One CanaryWatch pass: analyse the canary on the active pointer (if any), record the analysis,
/// and act on its decision. `None` when no canary is running or it is paused for a person.
pub async fn watch(deps: &Deps, now: DateTime<Utc>) -> Result<Option<Analysis>, FlowError> {
    let d = deps.release_deps();
    let Some((pointer, _)) = records::pointer(d.store.as_ref()).await? else { return Ok(None) };
    let Some(canary) = pointer.canary.clone() else { return Ok(None) };
    let mut st = match state(d.store.as_ref(), &canary.rollout).await? {
        Some((s, _)) => s,
        None => RolloutState { canary: canary.clone(), passes: 0, source_errors: 0, last: None, outcome: None, updated: now, note: None },
    };
    let stable = deps.pinned(Some(&canary.stable)).await?;
    let Some(policy) = stable.catalog.releases.rollout.clone() else {
        return Err(FlowError::Release(format!("release {} has no `releases.rollout`, yet a canary runs on it", canary.stable.short())));
    };
    let seen = match observe(d.store.as_ref(), &canary, &policy).await {
        Ok(o) => {
            st.source_errors = 0;
            o
        }
        Err(e) => {
            st.source_errors += 1;
            tracing::warn!(rollout = %canary.rollout, errors = st.source_errors, "the canary's metric source failed: {e}");
            Observations { source_errors: st.source_errors, ..Observations::default() }
        }
    };
    let analysis = analyse(&policy.canary, &seen, canary.started, now);
    st.passes += 1;
    // Every pass is kept, with what it saw and decided (`rollout-pass|<rollout>`, row = the pass).
    let pass = serde_json::json!({ "at": now, "analysis": analysis, "source_errors": st.source_errors });
    d.store.upsert(records::TABLE, &format!("{PASSES}{}", canary.rollout), &format!("{:06}", st.passes), &pass).await?;
    st.last = Some(analysis.clone());
    st.updated = now;
    let paused = st.outcome == Some(CanaryDecision::Inconclusive);
    match analysis.decision {
        CanaryDecision::Abort => {
            st.outcome = Some(CanaryDecision::Abort);
            put_state(d.store.as_ref(), &st).await?;
            abort(deps, &canary, &analysis, now).await?;
        }
        CanaryDecision::Promote if !paused => {
            put_state(d.store.as_ref(), &st).await?;
            finish(deps, &canary, &analysis, &mut st, now).await?;
        }
        CanaryDecision::Inconclusive if !paused => {
            st.outcome = Some(CanaryDecision::Inconclusive);
            st.note = Some(analysis.reasons.join("; "));
            put_state(d.store.as_ref(), &st).await?;
            decided(&d, &canary, &analysis, "INCONCLUSIVE: paused for a person", now).await?;
            alert(deps, AlertKind::CanaryInconclusive, &canary, analysis.reasons.join("; "), now).await?;
        }
        _ => put_state(d.store.as_ref(), &st).await?,
    }
    Ok(Some(analysis))
}

async fn decided(d: &ReleaseDeps, c: &Canary, a: &Analysis, what: &str, now: DateTime<Utc>) -> Result<(), FlowError> {
    let decision = format!("{what}: {}", a.reasons.join("; "));
    audit(
        d,
        now,
        AuditKind::CanaryDecided,
        &watcher().key(),
        c.candidate.as_str(),
        decision,
        json!({ "rollout": c.rollout, "analysis": a }),
    )
    .await
    .map_err(flow_error)?;
    Ok(())
}

async fn alert(deps: &Deps, kind: AlertKind, c: &Canary, message: String, now: DateTime<Utc>) -> Result<(), FlowError> {
    let alert =
        Alert { kind, subject: "releases".into(), key: c.rollout.clone(), raised_at: now, due_at: now, owner: None, message, late: false };
    crate::flows::alerts::raise(deps, alert).await.map(|_| ())
}

/// ABORT: the canary is rolled back — removed from the pointer in one conditional write, so no new
/// item goes to the candidate — with its audit event and an alert.
async fn abort(deps: &Deps, c: &Canary, a: &Analysis, now: DateTime<Utc>) -> Result<(), FlowError> {
    let d = deps.release_deps();
    if !clear(&d, c).await? {
        return Ok(());
    }
    decided(&d, c, a, &format!("ABORT: canary rolled back, every new item runs on {}", c.stable.short()), now).await?;
    let message = format!(
        "the canary of release {} was aborted and rolled back to {}: {}",
        c.candidate.short(),
        c.stable.short(),
        a.reasons.join("; ")
    );
    alert(deps, AlertKind::CanaryAborted, c, message, now).await
}

/// Removes the canary from the pointer if it is still this one; `false` when it was not.
async fn clear(d: &ReleaseDeps, c: &Canary) -> Result<bool, FlowError> {
    let Some((mut pointer, etag)) = records::pointer(d.store.as_ref()).await? else { return Ok(false) };
    if pointer.canary.as_ref().map(|x| &x.rollout) != Some(&c.rollout) {
        return Ok(false);
    }
    pointer.canary = None;
    match records::write_pointer(d.store.as_ref(), &pointer, Some(&etag)).await {
        Ok(_) => Ok(true),
        Err(StoreError::PreconditionFailed(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// PROMOTE: the blue/green switch of every endpoint, then the pointer; a failed switch leaves the
/// release on stable, pauses the rollout and alerts.
async fn finish(deps: &Deps, c: &Canary, a: &Analysis, st: &mut RolloutState, now: DateTime<Utc>) -> Result<(), FlowError> {
    let d = deps.release_deps();
    let (stable, candidate) = (records::record(d.store.as_ref(), &c.stable).await?, records::record(d.store.as_ref(), &c.candidate).await?);
    let (Some(stable), Some(candidate)) = (stable, candidate) else {
        return Err(FlowError::Release("a canary's release record is missing".into()));
    };
    let result = async {
        let planned = traffic::planned(&stable.endpoints, &candidate.endpoints, &d)?;
        let done = traffic::switch_all(d.endpoints.as_ref(), &planned).await?;
        let read = records::pointer(d.store.as_ref()).await?;
        match super::promote::switch(&d, read, &c.candidate, &watcher(), Activation::Promotion, None, now).await {
            Ok(p) => {
                traffic::record(&d, &done, &watcher().key(), &c.candidate, now).await?;
                Ok((p, planned))
            }
            Err(e) => {
                let _ = traffic::put_back(d.endpoints.as_ref(), &done).await;
                Err(e)
            }
        }
    }
    .await;
    match result {
        Ok((_, planned)) => {
            st.outcome = Some(CanaryDecision::Promote);
            let switched: Vec<String> = planned.iter().map(|p| format!("{} {} → {}", p.job, p.from, p.to)).collect();
            st.note = Some(format!("switched: {}", switched.join(", ")));
            put_state(d.store.as_ref(), st).await?;
            decided(&d, c, a, &format!("PROMOTE: blue/green switch done ({})", switched.join(", ")), now).await
        }
        Err(e) => {
            st.outcome = Some(CanaryDecision::Inconclusive);
            st.note = Some(format!("the switch failed: {e}"));
            put_state(d.store.as_ref(), st).await?;
            decided(&d, c, a, &format!("PROMOTE refused by the switch ({e}); the release stays on stable"), now).await?;
            alert(deps, AlertKind::SwitchFailed, c, format!("the canary of {} passed but its switch failed: {e}", c.candidate.short()), now)
                .await
        }
    }
}

fn flow_error(e: ReleaseError) -> FlowError {
    match e {
        ReleaseError::Store(s) => FlowError::Store(s),
        ReleaseError::Audit(a) => FlowError::Audit(a),
        other => FlowError::Release(other.to_string()),
    }
}
