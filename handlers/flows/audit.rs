//! Writing audit events from the flows: one call per decision, with the invocation that caused it.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Deps, FlowError};
use crate::domain::audit::{AuditDraft, AuditKind};

/// Records one decision made by flowgate itself (`system`).
pub async fn record(
    deps: &Deps,
    at: DateTime<Utc>,
    kind: AuditKind,
    subject: impl Into<String>,
    decision: impl Into<String>,
    evidence: Value,
    invocation: Option<&str>,
) -> Result<(), FlowError> {
    record_by(deps.audit.as_ref(), at, kind, "system", subject, decision, evidence, invocation).await
}

/// Records one decision by a named actor (a person replaying or discarding, say).
#[allow(clippy::too_many_arguments)]
pub async fn record_by(
    audit: &dyn crate::ports::AuditSink,
    at: DateTime<Utc>,
    kind: AuditKind,
    actor: &str,
    subject: impl Into<String>,
    decision: impl Into<String>,
    evidence: Value,
    invocation: Option<&str>,
) -> Result<(), FlowError> {
    audit
        .append(AuditDraft {
            at,
            kind,
            actor: actor.to_string(),
            subject: subject.into(),
            decision: decision.into(),
            evidence,
            invocation_id: invocation.map(str::to_string),
        })
        .await?;
    Ok(())
}
