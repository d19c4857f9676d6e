//! Answering another system's gate: a request (an Azure Pipelines check, a GitHub deployment
//! protection rule) is recorded and queued at once, so the caller gets its answer within its
//! deadline; `complete` then runs the gate check for the release the request names (by id or by
//! source commit) and posts the decision at most once per request (the row is claimed before
//! posting: a crash there leaves the check unanswered, which fails closed, never twice).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{records, ReleaseError};
use crate::domain::audit::AuditKind;
use crate::domain::release::external::CheckMessage;
use crate::domain::release::ReleaseId;
use crate::flows::{Deps, FlowError};
use crate::ports::{queues, OutgoingMessage, StoreError, Table};

const PARTITION: &str = "external";
/// Azure Pipelines' job tokens live 48 h; the message carrying one never outlives it.
const MESSAGE_TTL: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Queued,
    /// Claimed for posting (a crash here leaves the request unanswered, never answered twice).
    Posting,
    Answered,
    /// The other system refused the decision for good.
    Undeliverable,
}

/// The record of one request (never the token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub key: String,
    pub state: CheckState,
    pub received_at: DateTime<Utc>,
    #[serde(default)]
    pub release: Option<ReleaseId>,
    #[serde(default)]
    pub passed: Option<bool>,
    #[serde(default)]
    pub reasons: Vec<String>,
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
}

fn row(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Writes a request's record over the version read as `etag`.
async fn save(deps: &Deps, record: &CheckRecord, etag: &crate::ports::ETag) -> Result<crate::ports::ETag, StoreError> {
    deps.store.replace(Table::RELEASES, PARTITION, &row(&record.key), &serde_json::to_value(record).unwrap_or_default(), etag).await
}

/// Records a request and queues its decision; `Ok(false)` for a request seen before.
pub async fn accept(deps: &Deps, msg: &CheckMessage, now: DateTime<Utc>) -> Result<bool, FlowError> {
    let key = msg.key();
    let record = CheckRecord {
        key: key.clone(),
        state: CheckState::Queued,
        received_at: now,
        release: None,
        passed: None,
        reasons: vec![],
        answered_at: None,
    };
    match deps.store.insert(Table::RELEASES, PARTITION, &row(&key), &serde_json::to_value(&record).unwrap_or_default()).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    let message = OutgoingMessage {
        message_id: row(&key),
        correlation_id: None,
        body: serde_json::to_string(msg).unwrap_or_default(),
        scheduled_enqueue_time: None,
        time_to_live: Some(MESSAGE_TTL),
        sent_at: now,
    };
    deps.queue.send(queues::CHECKS, message).await?;
    tracing::info!(request = %msg, "gate request queued");
    Ok(true)
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Completed {
    Answered {
        passed: bool,
        reasons: Vec<String>,
    },
    /// Answered (or claimed) before: nothing to do.
    AlreadyAnswered,
    /// The other system refused the decision for good.
    Undeliverable(String),
}

/// Decides a queued request and posts the decision once.
pub async fn complete(deps: &Deps, msg: &CheckMessage, now: DateTime<Utc>) -> Result<Completed, FlowError> {
    let key = msg.key();
    let Some(entity) = deps.store.get(Table::RELEASES, PARTITION, &row(&key)).await? else {
        return Ok(Completed::Undeliverable(format!("no record of request {key}")));
    };
    let mut record: CheckRecord = serde_json::from_value(entity.body).map_err(|e| StoreError::Corrupt(key.clone(), e.to_string()))?;
    if record.state != CheckState::Queued {
        return Ok(Completed::AlreadyAnswered);
    }
    let (release, passed, reasons) = decide(deps, msg, now).await?;
    record.release = release.clone();
    record.passed = Some(passed);
    record.reasons = reasons.clone();
    record.state = CheckState::Posting;
    let etag = match save(deps, &record, &entity.etag).await {
        Ok(e) => e,
        Err(StoreError::PreconditionFailed(_)) => return Ok(Completed::AlreadyAnswered),
        Err(e) => return Err(e.into()),
    };
    let (posted, system) = match msg {
        CheckMessage::AzurePipelines { task, auth_token, .. } => {
            (deps.pipelines.post_event(&task.events_url(), auth_token, &task.completed(passed)).await, "azure-pipelines")
        }
        CheckMessage::GitHub { request } => {
            let comment = comment(release.as_ref(), passed, &reasons);
            let posted = match &deps.github {
                Some(g) => g.review(request.installation, &request.callback_url, &request.review(passed, &comment)).await,
                None => Err(crate::ports::CallbackError {
                    message: "the GitHub App is not configured (FLOWGATE_GITHUB_APP_ID)".into(),
                    retryable: false,
                }),
            };
            (posted, "github")
        }
    };
    match posted {
        Err(e) if e.retryable => {
            // Not answered: give the claim back so the redelivered message tries again.
            record.state = CheckState::Queued;
            save(deps, &record, &etag).await?;
            Err(FlowError::Release(e.to_string()))
        }
        Err(e) => {
            record.state = CheckState::Undeliverable;
            save(deps, &record, &etag).await?;
            tracing::warn!(request = %msg, error = %e, "gate decision undeliverable");
            Ok(Completed::Undeliverable(e.to_string()))
        }
        Ok(()) => {
            record.state = CheckState::Answered;
            record.answered_at = Some(now);
            save(deps, &record, &etag).await?;
            let subject = release.as_ref().map_or_else(|| "none".to_string(), ToString::to_string);
            let decision = format!("answered {system} ({key}): {}", if passed { "approved" } else { "refused" });
            crate::flows::audit::record_by(
                deps.audit.as_ref(),
                now,
                AuditKind::ReleaseChecked,
                system,
                subject,
                decision,
                json!({ "reasons": reasons }),
                None,
            )
            .await?;
            Ok(Completed::Answered { passed, reasons })
        }
    }
}

/// The release a request names and whether its gate passes now.
async fn decide(deps: &Deps, msg: &CheckMessage, now: DateTime<Utc>) -> Result<(Option<ReleaseId>, bool, Vec<String>), FlowError> {
    let d = deps.release_deps();
    let (release, commit) = match msg {
        CheckMessage::AzurePipelines { release, commit, .. } => (release.clone(), commit.clone()),
        CheckMessage::GitHub { request } => (None, Some(request.sha.clone())),
    };
    let id = match (release, commit) {
        (Some(r), _) => match records::resolve(d.store.as_ref(), &r).await {
            Ok(id) => id,
            Err(e) => return Ok((None, false, vec![e.to_string()])),
        },
        (None, Some(c)) => {
            let c = c.trim().to_ascii_lowercase();
            let mut found: Vec<_> = records::all_records(d.store.as_ref())
                .await?
                .into_iter()
                .filter(|r| r.commit.as_deref().map(str::to_ascii_lowercase) == Some(c.clone()))
                .collect();
            found.sort_by_key(|r| r.proposed_at);
            match found.pop() {
                Some(r) => r.id,
                None => return Ok((None, false, vec![format!("no release was proposed from commit {c}")])),
            }
        }
        (None, None) => return Ok((None, false, vec!["the request names no release and no commit".into()])),
    };
    match super::gate_check(&d, &id, None, false, now).await {
        Ok(c) => Ok((Some(id), c.verdict.passed, c.verdict.reasons)),
        Err(e @ (ReleaseError::Store(_) | ReleaseError::Audit(_))) => Err(FlowError::Release(e.to_string())),
        Err(e) => Ok((Some(id), false, vec![e.to_string()])),
    }
}

/// A short comment for GitHub (at most 1,024 characters).
fn comment(release: Option<&ReleaseId>, passed: bool, reasons: &[String]) -> String {
    let r = release.map_or_else(|| "no release".to_string(), |id| format!("flowgate release {}", id.short()));
    if passed {
        format!("{r}: gate passed")
    } else {
        format!("{r}: gate failed: {}", reasons.join("; "))
    }
}
