//! What people read about releases: one release's state (approvals and whether they count,
//! rejection, last checks, emergency review, the verdict now) and the list of all of them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ops::{governing, load, record_of};
use super::promote::proven_approvals;
use super::{records, ReleaseDeps, ReleaseError};
use crate::domain::release::gate::{decide, Ask};
use crate::domain::release::{ActivePointer, CheckReport, EmergencyChange, GateVerdict, Rejection, ReleaseId, ReleaseRecord};

/// Where a release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseState {
    /// Running now.
    Active,
    /// Was active, replaced since (a rollback target).
    Retired,
    Rejected,
    /// Proposed, not yet active.
    Proposed,
    /// Running on a canary share of items, not yet active.
    Canary,
}

impl ReleaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Rejected => "rejected",
            Self::Proposed => "proposed",
            Self::Canary => "canary",
        }
    }
}

fn state_of(id: &ReleaseId, pointer: Option<&ActivePointer>, rejected: bool) -> ReleaseState {
    match pointer {
        Some(p) if &p.release == id => ReleaseState::Active,
        Some(p) if p.was_active(id) => ReleaseState::Retired,
        Some(p) if p.canary.as_ref().is_some_and(|c| &c.candidate == id) => ReleaseState::Canary,
        _ if rejected => ReleaseState::Rejected,
        _ => ReleaseState::Proposed,
    }
}

/// One release in full.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseStatus {
    pub record: ReleaseRecord,
    pub state: ReleaseState,
    pub rejection: Option<Rejection>,
    pub checks: Option<CheckReport>,
    pub emergency: Option<EmergencyChange>,
    /// `open`, `overdue` or `reviewed` for an emergency change.
    pub review_state: Option<&'static str>,
    /// Whether it could be promoted now (with the checks last run; `gate-check` runs them again).
    pub verdict: GateVerdict,
    pub warnings: Vec<String>,
    /// Its latest canary rollout, with the live figures of the last analysis.
    pub rollout: Option<super::rollout::RolloutState>,
}

pub async fn status(d: &ReleaseDeps, id: &ReleaseId, now: DateTime<Utc>) -> Result<ReleaseStatus, ReleaseError> {
    let record = record_of(d, id).await?;
    let (_, view) = load(d, id).await?;
    let policy = governing(d, &view).await?;
    let pointer = records::pointer(d.store.as_ref()).await?.map(|(p, _)| p);
    let rejection = records::rejection(d.store.as_ref(), id).await?;
    let checks = records::checks(d.store.as_ref(), id).await?;
    let approvals = proven_approvals(d, id).await?;
    let verdict = decide(
        &policy,
        &record,
        rejection.as_ref(),
        &approvals,
        checks.as_ref(),
        Ask { requester: None, emergency: false, azure: d.azure, now },
    );
    let emergency = records::emergency(d.store.as_ref(), id).await?.map(|(e, _)| e);
    Ok(ReleaseStatus {
        state: state_of(id, pointer.as_ref(), rejection.is_some()),
        review_state: emergency.as_ref().map(|e| e.review_state(now)),
        record,
        rejection,
        checks,
        emergency,
        verdict,
        warnings: view.warnings,
        rollout: super::rollout::latest_for(d.store.as_ref(), id).await?,
    })
}

/// One line of the list.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: ReleaseId,
    pub state: ReleaseState,
    pub proposed_at: DateTime<Utc>,
    pub proposed_by: String,
    pub commit: Option<String>,
    pub approvals: usize,
    /// Self-approvals among them (solo mode), never hidden.
    pub self_approvals: usize,
    pub checks_passed: Option<bool>,
}

/// Every release, newest proposal first, with the active pointer.
pub async fn list(d: &ReleaseDeps) -> Result<(Vec<Listed>, Option<ActivePointer>), ReleaseError> {
    let pointer = records::pointer(d.store.as_ref()).await?.map(|(p, _)| p);
    let mut out = Vec::new();
    for r in records::all_records(d.store.as_ref()).await? {
        let approvals = records::approvals(d.store.as_ref(), &r.id).await?;
        let rejected = records::rejection(d.store.as_ref(), &r.id).await?.is_some();
        let checks = records::checks(d.store.as_ref(), &r.id).await?;
        out.push(Listed {
            state: state_of(&r.id, pointer.as_ref(), rejected),
            proposed_at: r.proposed_at,
            proposed_by: r.proposed_by.key(),
            commit: r.commit.clone(),
            approvals: approvals.len(),
            self_approvals: approvals.iter().filter(|a| a.self_approved).count(),
            checks_passed: checks.map(|c| c.passed()),
            id: r.id,
        });
    }
    out.sort_by(|a, b| b.proposed_at.cmp(&a.proposed_at).then_with(|| a.id.cmp(&b.id)));
    Ok((out, pointer))
}
