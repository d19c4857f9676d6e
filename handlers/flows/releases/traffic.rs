//! The blue/green switch of managed online endpoints: for each switchable job whose deployment
//! differs between two releases, move the endpoint's live traffic wholly to the new deployment
//! (plan validated before any call), follow the operation, and verify by reading the endpoint
//! back. All or nothing: when one endpoint fails, the ones already switched are put back, and the
//! caller leaves the active pointer where it was.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ReleaseDeps, ReleaseError};
use crate::domain::catalog::model::expand_settings;
use crate::domain::rollout::{validate, TrafficPlan};
use crate::ports::{EndpointError, OnlineEndpoints};

/// One job whose deployment changes (an endpoint to switch when it has a `management` URL).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub job: String,
    /// The endpoint's ARM URL (settings expanded); empty when the job has no `management`: its
    /// calls are pinned, and there is no endpoint traffic to switch.
    pub url: String,
    pub from: String,
    pub to: String,
}

/// One endpoint switched: what its traffic was, to put it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Switched {
    pub planned: Planned,
    pub before: TrafficPlan,
}

/// The switches from one release's switchable jobs to another's (job → (ARM URL, deployment)):
/// jobs in both whose deployment differs.
pub fn planned(
    from: &BTreeMap<String, (String, String)>,
    to: &BTreeMap<String, (String, String)>,
    d: &ReleaseDeps,
) -> Result<Vec<Planned>, ReleaseError> {
    let mut out = Vec::new();
    for (job, (url, deployment)) in to {
        let Some((_, old)) = from.get(job).filter(|(_, old)| old != deployment) else { continue };
        let url = if url.is_empty() {
            String::new()
        } else {
            expand_settings(url, &|k| (d.settings)(k)).map_err(|e| ReleaseError::BadInput(format!("job `{job}` management: {e}")))?
        };
        out.push(Planned { job: job.clone(), url, from: old.clone(), to: deployment.clone() });
    }
    Ok(out)
}

fn failed(what: &str, e: EndpointError) -> ReleaseError {
    match e {
        EndpointError::Retryable(m) => ReleaseError::Content(format!("{what}: {m}")),
        EndpointError::Failed(m) => ReleaseError::Refused(format!("{what}: {m}")),
    }
}

/// The plan that puts all of an endpoint's live traffic on `to` (mirroring of `to` dropped).
pub fn plan_for(current: &TrafficPlan, to: &str) -> TrafficPlan {
    let mut traffic: BTreeMap<String, u32> = current.traffic.keys().map(|d| (d.clone(), 0)).collect();
    traffic.insert(to.to_string(), 100);
    let mirror = current.mirror.iter().filter(|(d, p)| d.as_str() != to && **p > 0).map(|(d, p)| (d.clone(), *p)).collect();
    TrafficPlan { traffic, mirror }
}

/// Checks every planned switch against its endpoint before any change: the deployment exists and
/// the new traffic plan is valid. Returns each endpoint's traffic now.
pub async fn preflight(endpoints: &dyn OnlineEndpoints, planned: &[Planned]) -> Result<Vec<TrafficPlan>, ReleaseError> {
    let mut out = Vec::new();
    for p in planned.iter().filter(|p| !p.url.is_empty()) {
        let now = endpoints.read(&p.url).await.map_err(|e| failed(&format!("job `{}`", p.job), e))?;
        if !now.deployments.contains(&p.to) {
            return Err(ReleaseError::BadInput(format!(
                "job `{}`: the endpoint has no deployment `{}` (it has: {}); nothing was changed",
                p.job,
                p.to,
                now.deployments.join(", ")
            )));
        }
        validate(&plan_for(&now.plan, &p.to), false)
            .map_err(|e| ReleaseError::BadInput(format!("job `{}`: {e}; nothing was changed", p.job)))?;
        out.push(now.plan);
    }
    Ok(out)
}

/// Switches every planned endpoint, or none: a failure puts back the ones already switched.
pub async fn switch_all(endpoints: &dyn OnlineEndpoints, planned: &[Planned]) -> Result<Vec<Switched>, ReleaseError> {
    let before = preflight(endpoints, planned).await?;
    let mut done: Vec<Switched> = Vec::new();
    for (p, before) in planned.iter().filter(|p| !p.url.is_empty()).zip(before) {
        if before.traffic.get(&p.to) == Some(&100) {
            continue; // already there (a canary that never switched, a repeated rollback)
        }
        let plan = plan_for(&before, &p.to);
        let result = match endpoints.set_traffic(&p.url, &plan).await {
            Ok(()) => verify(endpoints, p).await,
            Err(e) => Err(failed(&format!("switching job `{}` to `{}`", p.job, p.to), e)),
        };
        done.push(Switched { planned: p.clone(), before });
        if let Err(e) = result {
            let restored = put_back(endpoints, &done).await;
            return Err(match restored {
                Ok(()) => with_note(e, "every endpoint was put back; the active release is unchanged"),
                Err(again) => with_note(e, &format!("putting the endpoints back failed too ({again}): check their traffic")),
            });
        }
    }
    Ok(done)
}

async fn verify(endpoints: &dyn OnlineEndpoints, p: &Planned) -> Result<(), ReleaseError> {
    let after = endpoints.read(&p.url).await.map_err(|e| failed(&format!("reading job `{}`'s endpoint back", p.job), e))?;
    if after.plan.traffic.get(&p.to) == Some(&100) {
        Ok(())
    } else {
        Err(ReleaseError::Refused(format!(
            "job `{}`: the endpoint reports traffic {:?} after the switch, not 100 % on `{}`",
            p.job, after.plan.traffic, p.to
        )))
    }
}

/// Puts switched endpoints back to the traffic they had, newest first.
pub async fn put_back(endpoints: &dyn OnlineEndpoints, done: &[Switched]) -> Result<(), ReleaseError> {
    for s in done.iter().rev() {
        let now = endpoints.read(&s.planned.url).await.map_err(|e| failed("reading an endpoint to put it back", e))?;
        if now.plan.traffic == s.before.traffic {
            continue;
        }
        endpoints.set_traffic(&s.planned.url, &s.before).await.map_err(|e| failed(&format!("putting job `{}` back", s.planned.job), e))?;
    }
    Ok(())
}

/// One audit event per endpoint switched, naming the release it was switched for.
pub async fn record(
    d: &ReleaseDeps,
    done: &[Switched],
    by: &str,
    release: &crate::domain::release::ReleaseId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ReleaseError> {
    for s in done {
        let decision = format!("traffic of job `{}` switched from {} to {} (100 %)", s.planned.job, s.planned.from, s.planned.to);
        let evidence = serde_json::json!({ "release": release, "endpoint": s.planned.url, "before": s.before.traffic, "mirror_before": s.before.mirror });
        super::ops::audit(d, now, crate::domain::audit::AuditKind::TrafficSwitched, by, &s.planned.job, decision, evidence).await?;
    }
    Ok(())
}

fn with_note(e: ReleaseError, note: &str) -> ReleaseError {
    match e {
        ReleaseError::Refused(m) => ReleaseError::Refused(format!("{m}; {note}")),
        ReleaseError::Content(m) => ReleaseError::Content(format!("{m}; {note}")),
        ReleaseError::BadInput(m) => ReleaseError::BadInput(format!("{m}; {note}")),
        other => other,
    }
}
