//! The release rules, pure: who may approve, which approvals count, and whether a release may be
//! promoted now (approvals, checks, windows), with every reason when it may not.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::policy::ReleasePolicy;
use super::{Approval, CheckReport, Rejection, ReleaseRecord};
use crate::domain::principal::Principal;

/// Why an approval is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{who} proposed this release and may not approve it (segregation of duties; a one-person team declares `releases.solo: true`)"
    )]
    SelfApproval { who: String },
    #[error("{who} does not hold the role `{role}`")]
    MissingRole { who: String, role: String },
    #[error("release {id} was rejected by {by}: {reason}")]
    Rejected { id: String, by: String, reason: String },
}

/// Whether `who` may approve `record` under `policy`.
pub fn may_approve(policy: &ReleasePolicy, record: &ReleaseRecord, rejection: Option<&Rejection>, who: &Principal) -> Result<(), Refusal> {
    if let Some(r) = rejection {
        return Err(Refusal::Rejected { id: record.id.short().into(), by: r.by.key(), reason: r.reason.clone() });
    }
    if !who.has_role(&policy.approver_role) {
        return Err(Refusal::MissingRole { who: who.key(), role: policy.approver_role.clone() });
    }
    if who.key() == record.proposed_by.key() && !policy.solo {
        return Err(Refusal::SelfApproval { who: who.key() });
    }
    Ok(())
}

/// An approval and whether its audit event was found in the verified chain.
#[derive(Debug, Clone)]
pub struct ApprovalCheck {
    pub approval: Approval,
    /// `Err` says why the audit chain does not back it.
    pub proven: Result<(), String>,
}

/// One approval as the verdict saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counted {
    pub by: String,
    pub label: Option<String>,
    pub roles: Vec<String>,
    pub at: DateTime<Utc>,
    /// Distinct from the proposer (false only in solo mode).
    pub distinct_from_author: bool,
    pub counted: bool,
    /// Why it does not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

/// What is asked: a gate check, a promotion (by someone), or an emergency promotion.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// Who asks for promotion (their approvals do not count unless solo).
    pub requester: Option<&'a Principal>,
    pub emergency: bool,
    /// In Azure mode, approvals by development identities do not count.
    pub azure: bool,
    pub now: DateTime<Utc>,
}

/// The verdict: may the release be promoted, and every reason it may not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateVerdict {
    pub release: String,
    pub passed: bool,
    pub reasons: Vec<String>,
    pub required_approvals: u32,
    pub approvals: Vec<Counted>,
    pub checks_passed: bool,
    pub window: Result<(), String>,
    /// Solo mode is in force: self-approval is allowed and reported.
    pub solo: bool,
    pub emergency: bool,
}

/// Decides whether `record` may be promoted.
pub fn decide(
    policy: &ReleasePolicy,
    record: &ReleaseRecord,
    rejection: Option<&Rejection>,
    approvals: &[ApprovalCheck],
    checks: Option<&CheckReport>,
    ask: Ask<'_>,
) -> GateVerdict {
    let mut reasons = Vec::new();
    if let Some(r) = rejection {
        reasons.push(format!("rejected by {} at {}: {}", r.by.key(), r.at.to_rfc3339(), r.reason));
    }
    let counted = count(policy, record, approvals, ask);
    let distinct = counted.iter().filter(|c| c.counted).count();
    if !ask.emergency && distinct < policy.approvals as usize {
        let mut why = format!("{distinct} of {} required approval(s)", policy.approvals);
        let refused: Vec<String> =
            counted.iter().filter_map(|c| c.why_not.as_ref().map(|w| format!("{} not counted: {w}", c.by))).collect();
        if !refused.is_empty() {
            why.push_str(&format!(" ({})", refused.join("; ")));
        }
        reasons.push(why);
    }
    let checks_passed = match checks {
        None => {
            reasons.push("the automated checks have not run for this release".into());
            false
        }
        Some(c) if c.release != record.id => {
            reasons.push("the automated checks ran for another release".into());
            false
        }
        Some(c) => {
            for r in c.results.iter().filter(|r| !r.passed) {
                reasons.push(format!("check {} of `{}` failed: {}", r.check, r.subject, r.detail));
            }
            c.passed()
        }
    };
    let window = if ask.emergency { Ok(()) } else { policy.windows.admits(ask.now) };
    if let Err(w) = &window {
        reasons.push(format!("outside the change window: {w} (only the emergency path crosses it)"));
    }
    GateVerdict {
        release: record.id.to_string(),
        passed: reasons.is_empty(),
        reasons,
        required_approvals: policy.approvals,
        approvals: counted,
        checks_passed,
        window,
        solo: policy.solo,
        emergency: ask.emergency,
    }
}

fn count(policy: &ReleasePolicy, record: &ReleaseRecord, approvals: &[ApprovalCheck], ask: Ask<'_>) -> Vec<Counted> {
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    let mut out = Vec::new();
    for a in approvals {
        let by = a.approval.by.key();
        let author = by == record.proposed_by.key();
        let why_not = if a.approval.release != record.id {
            Some("it is for another release".to_string())
        } else if let Err(e) = &a.proven {
            Some(format!("not backed by the verified audit chain ({e})"))
        } else if !a.approval.by.has_role(&policy.approver_role) {
            Some(format!("does not hold `{}`", policy.approver_role))
        } else if author && !policy.solo {
            Some("the proposer may not approve".into())
        } else if ask.requester.is_some_and(|r| r.key() == by) && !policy.solo {
            Some("the person asking for promotion may not approve".into())
        } else if ask.azure && a.approval.by.is_development() {
            Some("a development identity does not count in Azure".into())
        } else if seen.insert(by.clone(), ()).is_some() {
            Some("the same person approved twice".into())
        } else {
            None
        };
        out.push(Counted {
            by,
            label: a.approval.by.label.clone(),
            roles: a.approval.by.roles.iter().cloned().collect(),
            at: a.approval.at,
            distinct_from_author: !author,
            counted: why_not.is_none(),
            why_not,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{CheckResult, ReleaseId};
    use super::*;
    use crate::domain::principal::roles::RELEASE_APPROVER;

    fn dev(name: &str) -> Principal {
        Principal::development(name, [RELEASE_APPROVER.to_string()])
    }
    fn t() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }
    fn record() -> ReleaseRecord {
        ReleaseRecord {
            id: ReleaseId::parse(&"a".repeat(64)).unwrap(),
            proposed_by: dev("alice"),
            proposed_at: t(),
            commit: None,
            parent: None,
            source: "catalog.yaml".into(),
            jobs: 1,
            datasets: 1,
            contracts: 1,
            content_sha256: None,
            rollback_role: None,
            endpoints: Default::default(),
        }
    }
    fn approval(by: &str, proven: bool) -> ApprovalCheck {
        ApprovalCheck {
            approval: Approval { release: record().id, by: dev(by), at: t(), self_approved: false, audit_seq: 1, audit_hash: "h".into() },
            proven: if proven { Ok(()) } else { Err("no such event".into()) },
        }
    }
    fn checks(passed: bool) -> CheckReport {
        CheckReport {
            release: record().id,
            at: t(),
            results: vec![CheckResult { check: "smoke".into(), subject: "j".into(), passed, detail: "x".into() }],
        }
    }
    fn ask(requester: Option<&Principal>) -> Ask<'_> {
        Ask { requester, emergency: false, azure: false, now: t() }
    }

    #[test]
    fn the_proposer_may_not_approve_unless_solo() {
        let mut policy = ReleasePolicy::default();
        assert!(matches!(may_approve(&policy, &record(), None, &dev("alice")), Err(Refusal::SelfApproval { .. })));
        assert!(may_approve(&policy, &record(), None, &dev("bob")).is_ok());
        assert!(matches!(may_approve(&policy, &record(), None, &Principal::development("eve", [])), Err(Refusal::MissingRole { .. })));
        policy.solo = true;
        assert!(may_approve(&policy, &record(), None, &dev("alice")).is_ok());
    }

    #[test]
    fn only_proven_distinct_eligible_approvals_count() {
        let policy = ReleasePolicy { approvals: 2, ..ReleasePolicy::default() };
        let v = decide(&policy, &record(), None, &[approval("bob", true), approval("bob", true)], Some(&checks(true)), ask(None));
        assert!(!v.passed, "one person approving twice is one approval");
        let v = decide(&policy, &record(), None, &[approval("bob", true), approval("carol", false)], Some(&checks(true)), ask(None));
        assert!(!v.passed && v.reasons[0].contains("not backed by the verified audit chain"), "{:?}", v.reasons);
        let both = [approval("bob", true), approval("carol", true)];
        assert!(decide(&policy, &record(), None, &both, Some(&checks(true)), ask(None)).passed);
        let carol = dev("carol");
        let v = decide(&policy, &record(), None, &both, Some(&checks(true)), ask(Some(&carol)));
        assert!(!v.passed && v.reasons[0].contains("asking for promotion"), "the requester's approval does not count");
        let v = decide(&policy, &record(), None, &both, Some(&checks(true)), Ask { azure: true, ..ask(None) });
        assert!(!v.passed && v.reasons[0].contains("development identity"));
    }

    #[test]
    fn checks_and_rejections_hold_a_release() {
        let policy = ReleasePolicy::default();
        let bob = [approval("bob", true)];
        let v = decide(&policy, &record(), None, &bob, None, ask(None));
        assert!(!v.passed && v.reasons.iter().any(|r| r.contains("have not run")));
        let v = decide(&policy, &record(), None, &bob, Some(&checks(false)), ask(None));
        assert!(!v.passed && v.reasons.iter().any(|r| r.contains("check smoke of `j` failed")));
        let rejection = Rejection { release: record().id, by: dev("carol"), at: t(), reason: "no".into() };
        let v = decide(&policy, &record(), Some(&rejection), &bob, Some(&checks(true)), ask(None));
        assert!(!v.passed && v.reasons[0].starts_with("rejected by dev:carol"));
        let v = decide(&policy, &record(), None, &[], Some(&checks(true)), Ask { emergency: true, ..ask(None) });
        assert!(v.passed, "the emergency path needs no approvals, only checks: {:?}", v.reasons);
    }
}
