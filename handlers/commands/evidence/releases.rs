//! The releases part of the evidence pack: each release with its approvals (who, with which role,
//! whether distinct from the author, whether counted), checks, its offline evaluation, its canary
//! rollout with the last analysis, rejection and emergency review, and which release was active
//! over the window.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::flows::releases;

/// Audit kinds that belong to the release record.
pub(super) fn is_release_event(kind: &str) -> bool {
    matches!(
        kind,
        "release_proposed"
            | "release_approved"
            | "release_refused"
            | "release_rejected"
            | "release_checked"
            | "release_promoted"
            | "release_rolled_back"
            | "emergency_reviewed"
            | "access_denied"
            | "release_evaluated"
            | "canary_decided"
            | "traffic_switched"
    )
}

pub(super) async fn gather(
    st: &crate::commands::state::State,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let d = crate::commands::release::deps(st).map_err(|_| "cannot prepare the release records' reader".to_string())?;
    let (list, pointer) = releases::list(&d).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for r in list.iter().filter(|r| r.proposed_at < to) {
        let s = match releases::status(&d, &r.id, to).await {
            Ok(s) => s,
            Err(e) => {
                out.push(json!({ "id": r.id, "state": r.state, "error": e.to_string() }));
                continue;
            }
        };
        let approvals: Vec<Value> = s
            .verdict
            .approvals
            .iter()
            .map(|a| {
                json!({
                    "by": a.by, "label": a.label, "roles": a.roles, "at": a.at,
                    "distinct_from_author": a.distinct_from_author, "counted": a.counted, "why_not": a.why_not,
                })
            })
            .collect();
        out.push(json!({
            "id": r.id,
            "state": s.state,
            "proposed_by": s.record.proposed_by.key(),
            "proposed_at": s.record.proposed_at,
            "commit": s.record.commit,
            "parent": s.record.parent,
            "required_approvals": s.verdict.required_approvals,
            "solo": s.verdict.solo,
            "approvals": approvals,
            "checks": s.checks,
            "rejection": s.rejection,
            "emergency": s.emergency,
            "review_state": s.review_state,
            "evaluation": releases::records::evaluation(d.store.as_ref(), &r.id).await.map_err(|e| e.to_string())?,
            "rollout": s.rollout,
        }));
    }
    let mut active = Vec::new();
    if let Some(p) = pointer {
        let history = &p.history;
        for (i, sw) in history.iter().enumerate() {
            let until = history.get(i + 1).map(|n| n.at);
            if sw.at >= to || until.is_some_and(|u| u <= from) {
                continue;
            }
            active.push(
                json!({ "release": sw.release, "from": sw.at, "until": until, "how": sw.how, "by": sw.by, "generation": sw.generation }),
            );
        }
    }
    Ok((out, active))
}
