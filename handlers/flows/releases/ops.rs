//! Proposing, approving, rejecting and reviewing releases: each a rule from the domain, a Store
//! row and an audit event (refusals are audited too).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::records;
use super::{ReleaseDeps, ReleaseError, ReleaseView, CONTENT_CONTAINER};
use crate::domain::audit::{AuditDraft, AuditEvent, AuditKind};
use crate::domain::principal::Principal;
use crate::domain::release::gate::may_approve;
use crate::domain::release::{Approval, Bundle, Rejection, ReleaseId, ReleasePolicy, ReleaseRecord};

pub use super::promote::{gate_check, promote, rollback, Checked, Promotion};
pub use super::status::{list, status};

/// Appends one audit event by `by` about a release.
pub(super) async fn audit(
    d: &ReleaseDeps,
    at: DateTime<Utc>,
    kind: AuditKind,
    by: &str,
    subject: &str,
    decision: impl Into<String>,
    evidence: serde_json::Value,
) -> Result<AuditEvent, ReleaseError> {
    let draft = AuditDraft {
        at,
        kind,
        actor: by.to_string(),
        subject: subject.to_string(),
        decision: decision.into(),
        evidence,
        invocation_id: None,
    };
    Ok(d.audit.append(draft).await?)
}

/// Refuses with an audit event saying why.
pub(super) async fn refuse(d: &ReleaseDeps, at: DateTime<Utc>, by: &Principal, id: &str, what: &str, why: String) -> ReleaseError {
    let evidence = json!({ "refused": what, "principal": by, "why": why });
    match audit(d, at, AuditKind::ReleaseRefused, &by.key(), id, format!("{what} refused: {why}"), evidence).await {
        Ok(_) => ReleaseError::Refused(why),
        Err(e) => e,
    }
}

fn blob_path(id: &ReleaseId) -> String {
    format!("{id}.json")
}

/// Reads a release's bundle and checks that its content still hashes to its id.
pub async fn load(d: &ReleaseDeps, id: &ReleaseId) -> Result<(Bundle, ReleaseView), ReleaseError> {
    let bytes = d.content.read(CONTENT_CONTAINER, &blob_path(id)).await?;
    let bundle: Bundle =
        serde_json::from_slice(&bytes).map_err(|e| ReleaseError::Content(format!("{CONTENT_CONTAINER}/{id}.json is unreadable: {e}")))?;
    let view = ReleaseView::from_bundle(&bundle, &|k| (d.settings)(k))
        .map_err(|p| ReleaseError::Content(format!("release {} no longer loads: {}", id.short(), p.join("; "))))?;
    if &view.id != id {
        return Err(ReleaseError::Content(format!(
            "the stored content of release {} hashes to {}: it was altered after it was proposed",
            id.short(),
            view.id.short()
        )));
    }
    Ok((bundle, view))
}

/// Checks that a release's stored bundle is the one proposed, by its bytes' SHA-256 (no parsing);
/// a record without the digest (proposed by an older flowgate) is checked by loading it.
pub(super) async fn check_content(d: &ReleaseDeps, record: &ReleaseRecord) -> Result<(), ReleaseError> {
    let Some(want) = &record.content_sha256 else {
        return load(d, &record.id).await.map(|_| ());
    };
    let bytes = d.content.read(CONTENT_CONTAINER, &blob_path(&record.id)).await?;
    if &hex::encode(Sha256::digest(&bytes)) == want {
        Ok(())
    } else {
        Err(ReleaseError::Content(format!("the stored content of release {} was altered after it was proposed", record.id.short())))
    }
}

/// The record of a release, or `NotFound`.
pub(super) async fn record_of(d: &ReleaseDeps, id: &ReleaseId) -> Result<ReleaseRecord, ReleaseError> {
    records::record(d.store.as_ref(), id).await?.ok_or_else(|| ReleaseError::NotFound(format!("{id}: it was never proposed")))
}

/// The policy that decides about a change: the active release's (so a candidate cannot lower
/// its own bar), or the candidate's own when nothing is active yet.
pub(super) async fn governing(d: &ReleaseDeps, candidate: &ReleaseView) -> Result<ReleasePolicy, ReleaseError> {
    match records::pointer(d.store.as_ref()).await? {
        Some((p, _)) if p.release != candidate.id => Ok(load(d, &p.release).await?.1.catalog.releases.clone()),
        _ => Ok(candidate.catalog.releases.clone()),
    }
}

/// What `propose` did.
#[derive(Debug, Clone, Serialize)]
pub struct Proposed {
    pub id: ReleaseId,
    /// False when the same content had been proposed before (nothing changed).
    pub created: bool,
    pub record: ReleaseRecord,
    pub warnings: Vec<String>,
}

/// Stores a release's content and records its proposal. Proposing the same content again
/// changes nothing and answers the existing release.
pub async fn propose(
    d: &ReleaseDeps,
    bundle: Bundle,
    by: &Principal,
    commit: Option<String>,
    source: &str,
    now: DateTime<Utc>,
) -> Result<Proposed, ReleaseError> {
    let view = ReleaseView::from_bundle(&bundle, &|k| (d.settings)(k)).map_err(|p| ReleaseError::BadInput(p.join("\n")))?;
    if let Some(existing) = records::record(d.store.as_ref(), &view.id).await? {
        return Ok(Proposed { id: view.id, created: false, record: existing, warnings: view.warnings });
    }
    let bytes = serde_json::to_vec(&bundle).map_err(|e| ReleaseError::Content(e.to_string()))?;
    d.content.write(CONTENT_CONTAINER, &blob_path(&view.id), &bytes).await?;
    let parent = records::pointer(d.store.as_ref()).await?.map(|(p, _)| p.release);
    let record = ReleaseRecord {
        id: view.id.clone(),
        proposed_by: by.clone(),
        proposed_at: now,
        commit: commit.filter(|c| !c.trim().is_empty()).map(|c| c.trim().chars().take(64).collect()),
        parent,
        source: source.chars().take(256).collect(),
        jobs: view.catalog.jobs.len(),
        datasets: view.catalog.datasets.len(),
        contracts: view.contracts.len(),
        content_sha256: Some(hex::encode(Sha256::digest(&bytes))),
        rollback_role: Some(view.catalog.releases.rollback_role.clone()),
        endpoints: crate::domain::release::switchable(&view.catalog),
    };
    if !records::insert_record(d.store.as_ref(), &record).await? {
        let existing = record_of(d, &view.id).await?;
        return Ok(Proposed { id: view.id, created: false, record: existing, warnings: view.warnings });
    }
    let evidence = json!({
        "commit": record.commit, "parent": record.parent, "source": record.source, "principal": by,
        "jobs": record.jobs, "datasets": record.datasets, "contracts": record.contracts,
        "content": format!("{CONTENT_CONTAINER}/{}", blob_path(&view.id)),
    });
    audit(d, now, AuditKind::ReleaseProposed, &by.key(), view.id.as_str(), "proposed", evidence).await?;
    tracing::info!(release = %view.id.short(), "release proposed");
    Ok(Proposed { id: view.id, created: true, record, warnings: view.warnings })
}

/// What `approve` did.
#[derive(Debug, Clone, Serialize)]
pub struct Approved {
    pub approval: Approval,
    /// False when this person had approved already (nothing changed).
    pub created: bool,
}

/// Records an approval by `by`, refused (and audited) when a rule forbids it.
pub async fn approve(d: &ReleaseDeps, id: &ReleaseId, by: &Principal, now: DateTime<Utc>) -> Result<Approved, ReleaseError> {
    let record = record_of(d, id).await?;
    let (_, view) = load(d, id).await?;
    let policy = governing(d, &view).await?;
    let rejection = records::rejection(d.store.as_ref(), id).await?;
    if let Some(r) = &rejection {
        // Not a decision to record: the release is closed.
        return Err(ReleaseError::BadInput(format!("release {} was rejected by {}: {}", id.short(), r.by.key(), r.reason)));
    }
    if let Err(refusal) = may_approve(&policy, &record, None, by) {
        return Err(refuse(d, now, by, id.as_str(), "approval", refusal.to_string()).await);
    }
    if let Some(existing) = records::approvals(d.store.as_ref(), id).await?.into_iter().find(|a| a.by.key() == by.key()) {
        return Ok(Approved { approval: existing, created: false });
    }
    let self_approved = by.key() == record.proposed_by.key();
    let evidence = json!({ "principal": by, "self_approved": self_approved, "solo": policy.solo, "role": policy.approver_role });
    let decision = if self_approved { "approved by its proposer (solo mode)" } else { "approved" };
    let event = audit(d, now, AuditKind::ReleaseApproved, &by.key(), id.as_str(), decision, evidence).await?;
    let approval =
        Approval { release: id.clone(), by: by.clone(), at: now, self_approved, audit_seq: event.seq, audit_hash: event.hash.clone() };
    let created = records::insert_approval(d.store.as_ref(), &approval).await?;
    Ok(Approved { approval, created })
}

/// Rejects a release: it can no longer be approved or promoted.
pub async fn reject(d: &ReleaseDeps, id: &ReleaseId, by: &Principal, reason: &str, now: DateTime<Utc>) -> Result<Rejection, ReleaseError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReleaseError::BadInput("a rejection needs a reason".into()));
    }
    record_of(d, id).await?;
    let (_, view) = load(d, id).await?;
    let policy = governing(d, &view).await?;
    if !by.has_role(&policy.approver_role) {
        return Err(refuse(
            d,
            now,
            by,
            id.as_str(),
            "rejection",
            format!("{} does not hold the role `{}`", by.key(), policy.approver_role),
        )
        .await);
    }
    if records::pointer(d.store.as_ref()).await?.is_some_and(|(p, _)| &p.release == id) {
        return Err(ReleaseError::BadInput(format!("release {} is active: roll back to another release instead", id.short())));
    }
    if let Some(r) = records::rejection(d.store.as_ref(), id).await? {
        return Ok(r);
    }
    let rejection = Rejection { release: id.clone(), by: by.clone(), at: now, reason: reason.chars().take(1000).collect() };
    audit(
        d,
        now,
        AuditKind::ReleaseRejected,
        &by.key(),
        id.as_str(),
        format!("rejected: {}", rejection.reason),
        json!({ "principal": by }),
    )
    .await?;
    records::insert_rejection(d.store.as_ref(), &rejection).await?;
    Ok(rejection)
}

/// A second person's review of an emergency change (neither its promoter nor its proposer).
pub async fn review(
    d: &ReleaseDeps,
    id: &ReleaseId,
    by: &Principal,
    now: DateTime<Utc>,
) -> Result<crate::domain::release::EmergencyChange, ReleaseError> {
    let record = record_of(d, id).await?;
    let Some((mut change, etag)) = records::emergency(d.store.as_ref(), id).await? else {
        return Err(ReleaseError::BadInput(format!("release {} was not promoted on the emergency path: nothing to review", id.short())));
    };
    if change.reviewed_at.is_some() {
        return Ok(change);
    }
    let (_, view) = load(d, id).await?;
    let policy = governing(d, &view).await?;
    let who = by.key();
    let why = if !by.has_role(&policy.approver_role) {
        Some(format!("{who} does not hold the role `{}`", policy.approver_role))
    } else if who == change.by.key() || who == record.proposed_by.key() {
        Some(format!("{who} made or proposed this emergency change; a second person must review it"))
    } else {
        None
    };
    if let Some(why) = why {
        return Err(refuse(d, now, by, id.as_str(), "review", why).await);
    }
    let late = now > change.review_due;
    change.reviewed_by = Some(by.clone());
    change.reviewed_at = Some(now);
    let evidence = json!({ "principal": by, "due": change.review_due, "late": late, "incident": change.incident });
    audit(d, now, AuditKind::EmergencyReviewed, &who, id.as_str(), if late { "reviewed late" } else { "reviewed" }, evidence).await?;
    records::put_emergency(d.store.as_ref(), &change, Some(&etag)).await?;
    Ok(change)
}
