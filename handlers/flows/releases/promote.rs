//! Checking a release, promoting it and rolling back: the active pointer moves only by one
//! conditional write (of two concurrent switches exactly one wins), and a switch whose audit
//! event a crash kept from being written is recorded by the next reader (`converge`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::ops::{audit, check_content, governing, load, record_of, refuse};
use super::{checks, records, traffic, ReleaseDeps, ReleaseError};
use crate::domain::audit::{verify, AuditKind};
use crate::domain::principal::Principal;
use crate::domain::release::gate::{decide, Ask};
use crate::domain::release::{Activation, ActivePointer, ApprovalCheck, CheckReport, EmergencyChange, GateVerdict, ReleaseId};
use crate::ports::StoreError;

/// A gate check's result: the automated checks just run, and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub checks: CheckReport,
    pub verdict: GateVerdict,
}

/// Runs the release's automated checks (recorded), proves its approvals against the verified
/// audit chain and decides whether it may be promoted now, by `requester` when given.
pub async fn gate_check(
    d: &ReleaseDeps,
    id: &ReleaseId,
    requester: Option<&Principal>,
    emergency: bool,
    now: DateTime<Utc>,
) -> Result<Checked, ReleaseError> {
    let record = record_of(d, id).await?;
    let (bundle, view) = load(d, id).await?;
    let policy = governing(d, &view).await?;
    let report = checks::run(d, &view, &bundle, now).await;
    records::put_checks(d.store.as_ref(), &report).await?;
    let rejection = records::rejection(d.store.as_ref(), id).await?;
    let approvals = proven_approvals(d, id).await?;
    let ask = Ask { requester, emergency, azure: d.azure, now };
    let verdict = decide(&policy, &record, rejection.as_ref(), &approvals, Some(&report), ask);
    let by = requester.map_or_else(|| "system".to_string(), Principal::key);
    let decision = if verdict.passed { "gate passed".to_string() } else { format!("gate failed: {}", verdict.reasons.join("; ")) };
    audit(d, now, AuditKind::ReleaseChecked, &by, id.as_str(), decision, json!({ "checks": report.results, "verdict": verdict })).await?;
    Ok(Checked { checks: report, verdict })
}

/// Each approval of `id` with whether its event is in the verified audit chain.
pub(super) async fn proven_approvals(d: &ReleaseDeps, id: &ReleaseId) -> Result<Vec<ApprovalCheck>, ReleaseError> {
    let approvals = records::approvals(d.store.as_ref(), id).await?;
    if approvals.is_empty() {
        return Ok(Vec::new());
    }
    let chain = d.audit.read(None, None).await?;
    let intact = verify(&chain).map(|_| ()).map_err(|b| format!("the audit chain does not verify at event {:?}: {}", b.seq, b.why));
    Ok(approvals
        .into_iter()
        .map(|a| {
            let proven = intact.clone().and_then(|()| {
                let event = usize::try_from(a.audit_seq).ok().and_then(|s| s.checked_sub(1)).and_then(|i| chain.get(i));
                match event {
                    Some(e)
                        if e.seq == a.audit_seq
                            && e.hash == a.audit_hash
                            && e.kind == AuditKind::ReleaseApproved
                            && e.subject == id.as_str()
                            && e.actor == a.by.key() =>
                    {
                        Ok(())
                    }
                    _ => Err(format!("no approval event by {} at seq {}", a.by.key(), a.audit_seq)),
                }
            });
            ApprovalCheck { approval: a, proven }
        })
        .collect())
}

/// How a promotion is asked for.
#[derive(Debug, Clone, Default)]
pub struct Promotion {
    /// The emergency path: a reason and an incident id.
    pub emergency: Option<(String, String)>,
}

/// Makes `id` the active release if its gate passes now, asked by `by`.
pub async fn promote(
    d: &ReleaseDeps,
    id: &ReleaseId,
    by: &Principal,
    how: &Promotion,
    now: DateTime<Utc>,
) -> Result<ActivePointer, ReleaseError> {
    converge(d).await?;
    let (_, view) = load(d, id).await?;
    let policy = governing(d, &view).await?;
    let role = if how.emergency.is_some() { &policy.emergency.role } else { &policy.promoter_role };
    if let Some((reason, incident)) = &how.emergency {
        if reason.trim().is_empty() || incident.trim().is_empty() {
            return Err(ReleaseError::BadInput("the emergency path needs --reason and --incident".into()));
        }
    }
    if !by.has_role(role) {
        return Err(refuse(d, now, by, id.as_str(), "promotion", format!("{} does not hold the role `{role}`", by.key())).await);
    }
    let read = records::pointer(d.store.as_ref()).await?;
    if read.as_ref().is_some_and(|(p, _)| &p.release == id) {
        return Err(ReleaseError::BadInput(format!("release {} is already active", id.short())));
    }
    let checked = gate_check(d, id, Some(by), how.emergency.is_some(), now).await?;
    if !checked.verdict.passed {
        return Err(refuse(d, now, by, id.as_str(), "promotion", checked.verdict.reasons.join("; ")).await);
    }
    let activation = if how.emergency.is_some() { Activation::Emergency } else { Activation::Promotion };
    let emergency = how.emergency.as_ref().map(|(reason, incident)| EmergencyChange {
        release: id.clone(),
        by: by.clone(),
        at: now,
        reason: reason.trim().chars().take(1000).collect(),
        incident: incident.trim().chars().take(128).collect(),
        review_due: now + chrono::Duration::from_std(policy.emergency.review_within).unwrap_or_else(|_| chrono::Duration::hours(72)),
        reviewed_by: None,
        reviewed_at: None,
    });
    // A deployment change: a canary first when the active policy asks for one (and this is not
    // the emergency path, nor the decision on this very canary), else the blue/green switch
    // before the pointer.
    let planned = match &read {
        Some((current, _)) => traffic::planned(&record_of(d, &current.release).await?.endpoints, &record_of(d, id).await?.endpoints, d)?,
        None => Vec::new(),
    };
    let deciding_canary = read.as_ref().and_then(|(p, _)| p.canary.as_ref()).is_some_and(|c| &c.candidate == id);
    if let (Some(rollout), Some(current), None, false) = (&policy.rollout, &read, &how.emergency, deciding_canary) {
        if !planned.is_empty() {
            return super::rollout::start(d, current.clone(), id, &by.key(), rollout, &planned, now).await;
        }
    }
    switch_with_traffic(d, read, id, by, activation, emergency, &planned, now).await
}

/// The blue/green switch of `planned` endpoints, then the pointer; a pointer that cannot move puts
/// the endpoints back.
#[allow(clippy::too_many_arguments)]
async fn switch_with_traffic(
    d: &ReleaseDeps,
    read: Option<(ActivePointer, crate::ports::ETag)>,
    id: &ReleaseId,
    by: &Principal,
    how: Activation,
    emergency: Option<EmergencyChange>,
    planned: &[traffic::Planned],
    now: DateTime<Utc>,
) -> Result<ActivePointer, ReleaseError> {
    let done = traffic::switch_all(d.endpoints.as_ref(), planned).await?;
    match switch(d, read, id, by, how, emergency, now).await {
        Ok(p) => {
            traffic::record(d, &done, &by.key(), id, now).await?;
            Ok(p)
        }
        Err(e) => {
            if let Err(again) = traffic::put_back(d.endpoints.as_ref(), &done).await {
                tracing::error!("the pointer did not move and putting the endpoints back failed: {again}");
            }
            Err(e)
        }
    }
}

/// Moves the pointer back to a release that was active before, in one recorded step: no
/// approvals or windows, only the rollback role.
pub async fn rollback(d: &ReleaseDeps, to: &ReleaseId, by: &Principal, now: DateTime<Utc>) -> Result<ActivePointer, ReleaseError> {
    converge(d).await?;
    let target = record_of(d, to).await?;
    let read = records::pointer(d.store.as_ref()).await?;
    let Some((current, _)) = &read else {
        return Err(ReleaseError::BadInput("no release is active: there is nothing to roll back".into()));
    };
    if !current.was_active(to) {
        return Err(ReleaseError::BadInput(format!("release {} was never active: a rollback goes back to a release that ran", to.short())));
    }
    if &current.release == to {
        return Err(ReleaseError::BadInput(format!("release {} is already active", to.short())));
    }
    if let Some(r) = records::rejection(d.store.as_ref(), to).await? {
        return Err(ReleaseError::BadInput(format!(
            "release {} was rejected by {} since it ran ({}); roll back to another release",
            to.short(),
            r.by.key(),
            r.reason
        )));
    }
    // Rolling back must be fast: the roles and the content are checked from the records, with
    // no catalog parsed (a record from an older flowgate is loaded instead).
    let active = record_of(d, &current.release).await?;
    let role = match &active.rollback_role {
        Some(r) => r.clone(),
        None => load(d, &current.release).await?.1.catalog.releases.rollback_role.clone(),
    };
    if !by.has_role(&role) {
        return Err(refuse(d, now, by, to.as_str(), "rollback", format!("{} does not hold the role `{role}`", by.key())).await);
    }
    check_content(d, &target).await?;
    // Traffic goes back in the same step: each switched endpoint to the target's deployment.
    let planned = traffic::planned(&active.endpoints, &target.endpoints, d)?;
    switch_with_traffic(d, read, to, by, Activation::Rollback, None, &planned, now).await
}

/// The one conditional write, then its audit event (and the emergency review it owes), then the
/// mark that it was recorded.
pub(super) async fn switch(
    d: &ReleaseDeps,
    read: Option<(ActivePointer, crate::ports::ETag)>,
    id: &ReleaseId,
    by: &Principal,
    how: Activation,
    emergency: Option<EmergencyChange>,
    now: DateTime<Utc>,
) -> Result<ActivePointer, ReleaseError> {
    let (previous, etag) = match &read {
        Some((p, e)) => (Some(p), Some(e)),
        None => (None, None),
    };
    let pointer = ActivePointer::switched_with(previous, id.clone(), &by.key(), how, now, emergency);
    pause_for_chaos("FLOWGATE_CHAOS_PAUSE_BEFORE_SWITCH_MS").await;
    let etag = match records::write_pointer(d.store.as_ref(), &pointer, etag).await {
        Ok(e) => e,
        Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => {
            let why = "another promotion or rollback switched the active release first; nothing changed".to_string();
            return match refuse(d, now, by, id.as_str(), &how.to_string(), why.clone()).await {
                ReleaseError::Refused(_) => Err(ReleaseError::Conflict(why)),
                other => Err(other),
            };
        }
        Err(e) => return Err(e.into()),
    };
    pause_for_chaos("FLOWGATE_CHAOS_PAUSE_AFTER_SWITCH_MS").await;
    record_switch(d, pointer, etag).await
}

/// Writes the switch's audit event and marks the pointer recorded (a lost race to mark it is
/// fine: the event exists).
async fn record_switch(d: &ReleaseDeps, mut pointer: ActivePointer, etag: crate::ports::ETag) -> Result<ActivePointer, ReleaseError> {
    let kind = if pointer.how == Activation::Rollback { AuditKind::ReleaseRolledBack } else { AuditKind::ReleasePromoted };
    let evidence =
        json!({ "generation": pointer.generation, "previous": pointer.previous, "how": pointer.how, "emergency": pointer.emergency });
    let decision = match &pointer.previous {
        Some(p) => format!("{} from {}", pointer.how, p.short()),
        None => format!("{} (first active release)", pointer.how),
    };
    audit(d, pointer.since, kind, &pointer.by, pointer.release.as_str(), decision, evidence).await?;
    if let Some(change) = &pointer.emergency {
        if records::emergency(d.store.as_ref(), &change.release).await?.is_none() {
            records::put_emergency(d.store.as_ref(), change, None).await?;
        }
    }
    pointer.recorded = true;
    match records::write_pointer(d.store.as_ref(), &pointer, Some(&etag)).await {
        Ok(_) | Err(StoreError::PreconditionFailed(_)) => Ok(pointer),
        Err(e) => Err(e.into()),
    }
}

/// Records a switch that a crash left without its audit event. Returns the pointer.
pub async fn converge(d: &ReleaseDeps) -> Result<Option<ActivePointer>, ReleaseError> {
    match records::pointer(d.store.as_ref()).await? {
        Some((p, etag)) if !p.recorded => {
            tracing::warn!(release = %p.release.short(), generation = p.generation, "recording a switch whose audit event was not written");
            Ok(Some(record_switch(d, p, etag).await?))
        }
        other => Ok(other.map(|(p, _)| p)),
    }
}

/// Test hooks (like `flowgate local`'s hidden chaos flags): `FLOWGATE_CHAOS_PAUSE_BEFORE_SWITCH_MS`
/// holds a switch between reading the pointer and writing it (so two promotions surely overlap),
/// `FLOWGATE_CHAOS_PAUSE_AFTER_SWITCH_MS` between the write and its audit event (so a test can
/// kill the process there). Unset in production: no pause.
async fn pause_for_chaos(setting: &str) {
    if let Some(ms) = std::env::var(setting).ok().and_then(|v| v.parse::<u64>().ok()) {
        tokio::time::sleep(std::time::Duration::from_millis(ms.min(60_000))).await;
    }
}
