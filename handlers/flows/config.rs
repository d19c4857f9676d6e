//! Configuration changes: when the handler starts with a catalog (or contract) whose content
//! differs from the one it last ran with, that is recorded as an audit event with both digests,
//! so an auditor sees every change of what governs the runs.

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Deps, FlowError};
use crate::domain::audit::AuditKind;
use crate::ports::{StoreError, Table};

const PARTITION: &str = "config";
const ROW: &str = "catalog";

/// The digest of the configuration: the catalog file's bytes, then each contract's, by dataset.
pub fn digest(catalog: &[u8], contracts: &[(String, Vec<u8>)]) -> String {
    let mut h = Sha256::new();
    h.update(catalog);
    for (name, bytes) in contracts {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(bytes);
    }
    hex::encode(h.finalize())
}

/// The configuration the handler last ran with: its digest and since when.
pub async fn recorded(store: &dyn crate::ports::Store) -> Result<Option<(String, Option<DateTime<Utc>>)>, StoreError> {
    Ok(store.get(Table::SCHEDULES, PARTITION, ROW).await?.and_then(|e| {
        let since = e.body["since"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
        e.body["digest"].as_str().map(|d| (d.to_string(), since))
    }))
}

/// Records the configuration now in force; `Ok(true)` when it differs from the last one seen.
pub async fn note(deps: &Deps, digest: &str, source: &str, actor: &str, now: DateTime<Utc>) -> Result<bool, FlowError> {
    let previous = deps.store.get(Table::SCHEDULES, PARTITION, ROW).await?;
    let before = previous.as_ref().and_then(|e| e.body["digest"].as_str().map(str::to_string));
    if before.as_deref() == Some(digest) {
        return Ok(false);
    }
    let body = json!({ "digest": digest, "source": source, "since": now });
    let written = match &previous {
        Some(e) => deps.store.replace(Table::SCHEDULES, PARTITION, ROW, &body, &e.etag).await,
        None => deps.store.insert(Table::SCHEDULES, PARTITION, ROW, &body).await,
    };
    match written {
        Ok(_) => {}
        // Another instance starting with the same change recorded it.
        Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    let evidence = json!({
        "previous_digest": before,
        "digest": digest,
        "source": source,
        "jobs": deps.catalog.jobs.keys().map(|j| j.as_str()).collect::<Vec<_>>(),
        "datasets": deps.catalog.datasets.keys().map(|d| d.as_str()).collect::<Vec<_>>(),
    });
    let decision = if before.is_some() { "configuration changed" } else { "first configuration" };
    super::audit::record_by(deps.audit.as_ref(), now, AuditKind::ConfigChanged, actor, "catalog", decision, evidence, None).await?;
    Ok(true)
}
