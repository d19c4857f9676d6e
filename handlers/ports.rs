//! One trait per outside system. Flows see only these; adapters implement them (SQLite and files
//! locally, Azure services in the cloud). Every error says whether retrying can help.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Store: entities in tables, shaped so Azure Table Storage can implement it (single-entity
// conditional writes with ETags, no cross-entity transactions).

/// A table of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table(pub &'static str);

impl Table {
    /// Run records: partition = job, row = logical time.
    pub const RUNS: Table = Table("runs");
    /// Schedule watermarks: partition = `watermark`, row = job.
    pub const SCHEDULES: Table = Table("schedules");
    /// Dataset arrivals: partition = dataset, row = arrival time + `|` + blob path.
    pub const ARRIVALS: Table = Table("arrivals");
    /// Quarantine items: partition = `run` or `poison`, row = item id.
    pub const QUARANTINE: Table = Table("quarantine");
    /// Circuit breakers: partition = `job` or `endpoint`, row = the job or the endpoint's host.
    pub const BREAKERS: Table = Table("breakers");
    /// Contract results: partition = dataset, row = the arrival's row key.
    pub const CONTRACT_RESULTS: Table = Table("contract_results");
    /// Alerts: partition = the job or dataset, row = kind + `|` + key (one row per alert, ever).
    pub const ALERTS: Table = Table("alerts");
    /// The monitor's alerts: partitions `open` (firing, or resolved in the last day; row = the
    /// fingerprint), `history` (row = resolved time + `|` + fingerprint), `silence`, `outbox`
    /// (deliveries to try again), `delivery` (every attempt) and `receiver` (receivers gone).
    pub const ALERT_STATE: Table = Table("alert_state");
    /// Sampled figures: partition `queue_depth` (row = hour + `|` + queue).
    pub const METRICS: Table = Table("metrics");
    /// Releases: partition `release` (records by id), one partition per release id (approvals,
    /// rejection, checks), `pointer` (row `active`) and `emergency`.
    pub const RELEASES: Table = Table("releases");
}

/// An entity version: changes on every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(pub String);

/// One stored entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub partition: String,
    pub row: String,
    pub etag: ETag,
    pub body: Value,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("entity {0} already exists")]
    Conflict(String),
    #[error("entity {0} changed since it was read (ETag mismatch)")]
    PreconditionFailed(String),
    #[error("entity {0} does not exist")]
    NotFound(String),
    #[error("stored entity {0} is unreadable: {1}")]
    Corrupt(String, String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether trying the same call again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A row-key range: `from` inclusive, `to` exclusive; `None` is open.
#[derive(Debug, Clone, Default)]
pub struct RowRange {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn get(&self, table: Table, partition: &str, row: &str) -> Result<Option<Entity>, StoreError>;
    /// Creates an entity; `Conflict` if it exists.
    async fn insert(&self, table: Table, partition: &str, row: &str, body: &Value) -> Result<ETag, StoreError>;
    /// Replaces an entity only if its ETag still matches; `PreconditionFailed` otherwise.
    async fn replace(&self, table: Table, partition: &str, row: &str, body: &Value, etag: &ETag) -> Result<ETag, StoreError>;
    /// Creates or overwrites unconditionally.
    async fn upsert(&self, table: Table, partition: &str, row: &str, body: &Value) -> Result<ETag, StoreError>;
    /// Deletes, only if the ETag matches when one is given.
    async fn delete(&self, table: Table, partition: &str, row: &str, etag: Option<&ETag>) -> Result<(), StoreError>;
    /// Entities of one partition (or of every partition when `None`), in row order, at most `limit`.
    async fn query(&self, table: Table, partition: Option<&str>, rows: RowRange, limit: usize) -> Result<Vec<Entity>, StoreError>;
    /// One page of a whole table in (partition, row) order, after the key `after` (exclusive): at
    /// most `limit` entities; the last one's key continues. Reads a large table without holding it.
    /// The default reads the whole table (for wrappers); the adapters page for real.
    async fn page(&self, table: Table, after: Option<(&str, &str)>, limit: usize) -> Result<Vec<Entity>, StoreError> {
        let all = self.query(table, None, RowRange::default(), usize::MAX).await?;
        Ok(all.into_iter().filter(|e| after.is_none_or(|(p, r)| (e.partition.as_str(), e.row.as_str()) > (p, r))).take(limit).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Queue: Service Bus semantics (MessageId duplicate detection, scheduled enqueue, peek-lock,
// delivery count, dead-letter). The handler only sends; the host (or `flowgate local`) receives.

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    /// Duplicate detection key.
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub body: String,
    /// Becomes visible only at this instant.
    pub scheduled_enqueue_time: Option<DateTime<Utc>>,
    pub time_to_live: Option<Duration>,
    /// When the sender sent it. The local queue uses it as the enqueue time (virtual clocks); a
    /// real broker stamps its own.
    pub sent_at: DateTime<Utc>,
}

/// What the broker did with a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted,
    /// Dropped: same MessageId inside the duplicate-detection window.
    Duplicate,
}

/// Message counts of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct QueueCounts {
    pub active: u64,
    pub scheduled: u64,
    pub dead_letter: u64,
}

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue `{0}` does not exist")]
    NoSuchQueue(String),
    #[error("message too large: {0} bytes")]
    TooLarge(usize),
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// Refused for good (authorization, a malformed request): retrying will not help.
    #[error("queue refused the request: {0}")]
    Rejected(String),
}

impl QueueError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<SendOutcome, QueueError>;
    /// Sends several messages in one request where the broker allows it.
    async fn send_batch(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        for m in messages {
            self.send(queue, m).await?;
        }
        Ok(())
    }
    async fn counts(&self, queue: &str, as_of: DateTime<Utc>) -> Result<QueueCounts, QueueError>;
    /// Locks the oldest message of `queue`'s dead-letter sub-queue (peek-lock), or `None`.
    async fn receive_dead_letter(&self, queue: &str, now: DateTime<Utc>) -> Result<Option<DeadLettered>, QueueError>;
    /// Removes a dead-lettered message received with `receive_dead_letter`. `false` when its lock
    /// was lost (it will be received again).
    async fn complete_dead_letter(&self, queue: &str, message: &DeadLettered, now: DateTime<Utc>) -> Result<bool, QueueError>;
}

/// A message the broker dead-lettered, locked for the reconciliation pass.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLettered {
    pub message_id: String,
    pub body: String,
    /// The broker's `DeadLetterReason` (`MaxDeliveryCountExceeded`, `TTLExpiredException`, …).
    pub reason: String,
    /// The broker's `DeadLetterErrorDescription`, when it gave one.
    pub description: Option<String>,
    pub delivery_count: u32,
    pub enqueued_at: Option<DateTime<Utc>>,
    /// What completes it: the local lock token, or the Service Bus `Location` URL.
    pub lock: String,
}

/// The queue names flowgate uses.
pub mod queues {
    pub const DISPATCH: &str = "dispatch";
    pub const POLL: &str = "poll";
    pub const QUARANTINE: &str = "quarantine";
    /// BlobCreated events, delivered by the storage account's Event Grid system topic.
    pub const ARRIVALS: &str = "arrivals";
    /// Decisions to make and post for Azure Pipelines checks and GitHub protection rules.
    pub const CHECKS: &str = "checks";
}

// ---------------------------------------------------------------------------------------------
// JobRunner: one request to a Foundry workload.

/// One request to a job's endpoint.
#[derive(Debug, Clone)]
pub struct JobRequest {
    pub endpoint: String,
    /// Online endpoints: the deployment to pin.
    pub deployment: Option<String>,
    pub body: Value,
    pub timeout: Duration,
    /// Correlates the call with the run in the endpoint's logs.
    pub correlation_id: String,
}

/// Why a request failed, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunnerError {
    /// Timeouts, connection failures, 408, 429, 5xx: worth another attempt.
    #[error("{message}")]
    Retryable { message: String, retry_after: Option<Duration> },
    /// Other 4xx, unusable responses: retrying will not help.
    #[error("{message}")]
    Permanent { message: String, status: Option<u16>, body: Option<String> },
}

/// A long-running job to start (Azure ML job, Foundry evaluation run).
#[derive(Debug, Clone)]
pub struct JobSubmission {
    pub kind: crate::domain::longjob::LongJobKind,
    /// Azure ML: the workspace's ARM URL; evaluation: the project endpoint.
    pub endpoint: String,
    /// The deterministic name of this attempt's job (`longjob::job_name`).
    pub name: String,
    /// Evaluation: the eval's id.
    pub evaluation: Option<String>,
    /// Azure ML: the job's `properties`; evaluation: `{"items": [...]}` (the run's inputs).
    pub body: Value,
    pub timeout: Duration,
    pub correlation_id: String,
}

/// Calls Foundry workloads: one request and its answer, or a long-running job started, asked
/// about and cancelled. A runner that runs no long jobs keeps the defaults, which refuse.
#[async_trait]
pub trait JobRunner: Send + Sync {
    async fn invoke(&self, request: &JobRequest) -> Result<Value, RunnerError>;

    /// Starts a job; submitting the same name again finds the job already started.
    async fn submit(&self, job: &JobSubmission) -> Result<crate::domain::longjob::JobHandle, RunnerError> {
        Err(RunnerError::Permanent { message: format!("this runner cannot start `{}` jobs", job.endpoint), status: None, body: None })
    }

    /// The job's resource as the service returns it (read by `longjob::*_progress`).
    async fn status(&self, handle: &crate::domain::longjob::JobHandle, _timeout: Duration) -> Result<Value, RunnerError> {
        Err(RunnerError::Permanent { message: format!("this runner cannot follow `{}`", handle.status_url), status: None, body: None })
    }

    /// Asks the service to stop the job.
    async fn cancel(&self, handle: &crate::domain::longjob::JobHandle, _timeout: Duration) -> Result<(), RunnerError> {
        Err(RunnerError::Permanent { message: format!("this runner cannot cancel `{}`", handle.id), status: None, body: None })
    }
}

// ---------------------------------------------------------------------------------------------
// Blobs: where datasets land and outputs go.

/// Why a blob call failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} does not exist")]
    NotFound(String),
    #[error("blob path {0} is not allowed")]
    BadPath(String),
    #[error("blob storage unavailable: {0}")]
    Unavailable(String),
}

impl BlobError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Reads a whole blob (the inputs of scoring runs, which are small).
    async fn read(&self, container: &str, path: &str) -> Result<Vec<u8>, BlobError>;
    /// Opens a blob for streaming (contract checks read large blobs once, never whole in memory).
    async fn open(&self, container: &str, path: &str) -> Result<Box<dyn std::io::Read + Send>, BlobError>;
    /// The blob's metadata (Azure: `x-ms-meta-*`; locally: the sidecar `<blob>.meta.json`).
    async fn metadata(&self, container: &str, path: &str) -> Result<std::collections::BTreeMap<String, String>, BlobError>;
    /// Writes a blob, replacing any previous content.
    async fn write(&self, container: &str, path: &str, content: &[u8]) -> Result<(), BlobError>;
}

/// The sidecar holding a local blob's metadata: `<blob>.meta.json`, a JSON object of strings.
pub const SIDECAR_SUFFIX: &str = ".meta.json";

// ---------------------------------------------------------------------------------------------
// Notifier: a receiver of alert notifications (a JSON Lines file locally; Teams through a
// Workflows webhook, Slack, or a webhook signed per Standard Webhooks).

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// It may pass later (429, 5xx, a timeout, no connection); `after` is the receiver's
    /// `Retry-After` when it gave one.
    #[error("{reason}")]
    Retry { reason: String, after: Option<Duration> },
    /// The receiver answered 410 Gone: stop sending to it.
    #[error("gone: {0}")]
    Gone(String),
    /// Refused (another 4xx): the same payload would be refused again.
    #[error("refused: {0}")]
    Refused(String),
}

impl NotifyError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retry { .. })
    }
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// The receiver's name in the delivery log (`file`, `teams`, `slack`, `webhook`).
    fn receiver(&self) -> &str;
    async fn send(&self, n: &crate::domain::alerting::delivery::Notification) -> Result<(), NotifyError>;
}

// ---------------------------------------------------------------------------------------------
// TokenSource: Entra tokens without secrets (managed identity in Azure, the CLI on a laptop).

/// A bearer token. Its value never appears in `Debug` output or logs.
#[derive(Clone, PartialEq)]
pub struct AccessToken {
    secret: String,
    pub expires_at: DateTime<Utc>,
}

impl AccessToken {
    pub fn new(secret: impl Into<String>, expires_at: DateTime<Utc>) -> Self {
        Self { secret: secret.into(), expires_at }
    }
    /// The value, for an `Authorization` header only.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessToken {{ secret: <redacted>, expires_at: {} }}", self.expires_at)
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    pub message: String,
    /// Whether asking again later can help (429, 5xx, the endpoint unreachable).
    pub retryable: bool,
}

/// Where tokens come from.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A token for `resource` (e.g. `https://ml.azure.com`), without the `/.default` suffix.
    async fn token(&self, resource: &str) -> Result<AccessToken, TokenError>;
}

// ---------------------------------------------------------------------------------------------
// LineageSink: where OpenLineage events are delivered (the Store keeps the record).

/// Why lineage could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("lineage not delivered: {message}")]
pub struct LineageError {
    pub message: String,
    /// Worth delivering again later.
    pub retryable: bool,
}

#[async_trait]
pub trait LineageSink: Send + Sync {
    /// Delivers a run's events (START, then COMPLETE or FAIL), in order.
    async fn emit(&self, events: &[Value]) -> Result<(), LineageError>;
}

// ---------------------------------------------------------------------------------------------
// AuditSink: the hash-chained record of every decision.

/// Why the audit trail could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("audit trail unavailable: {0}")]
pub struct AuditError(pub String);

#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Chains and stores an event; safe with several writers (the chain stays linear).
    async fn append(&self, draft: crate::domain::audit::AuditDraft) -> Result<crate::domain::audit::AuditEvent, AuditError>;
    /// Stored rows in sequence order (those at or after `from` and before `to` when given), each
    /// its event or why it does not parse: verification reads these, so that a damaged row is a
    /// broken chain at its seq rather than an unreadable trail.
    async fn read_rows(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<crate::domain::audit::StoredRow>, AuditError>;
    /// Events in sequence order, those at or after `from` and before `to` when given; a row that
    /// does not parse is an error.
    async fn read(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<crate::domain::audit::AuditEvent>, AuditError> {
        self.read_rows(from, to)
            .await?
            .into_iter()
            .map(|r| r.event.map_err(|e| AuditError(format!("the audit row at seq {} is unreadable: {e}", r.seq))))
            .collect()
    }
    /// At most `limit` events with a sequence number above `seq`, in order.
    async fn read_after(&self, seq: u64, limit: usize) -> Result<Vec<crate::domain::audit::AuditEvent>, AuditError> {
        Ok(self.read(None, None).await?.into_iter().filter(|e| e.seq > seq).take(limit).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// AuditCopy: a queryable copy of the audit trail (Log Analytics through the Logs Ingestion API).

/// Why a batch of audit rows was not accepted.
#[derive(Debug, thiserror::Error)]
#[error("audit copy not sent: {message}")]
pub struct CopyError {
    pub message: String,
    /// Worth sending again (throttled, unavailable); false for a batch the service refuses.
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

#[async_trait]
pub trait AuditCopy: Send + Sync {
    /// Sends one batch of rows (a JSON array), all or nothing.
    async fn send(&self, rows: &[Value]) -> Result<(), CopyError>;
}

// ---------------------------------------------------------------------------------------------
// FactSink: operational facts for Azure Monitor (Log Analytics tables through Logs Ingestion):
// a heartbeat per tick, signals (queue depth, alert transitions) and finished runs.

/// The table a fact goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactStream {
    /// `FlowgateHeartbeat_CL`: one row per monitor tick (the "heartbeat missing" alert reads it).
    Heartbeat,
    /// `FlowgateSignals_CL`: queue depths and alert transitions.
    Signals,
    /// `FlowgateRuns_CL`: each run as it finishes.
    Runs,
}

#[async_trait]
pub trait FactSink: Send + Sync {
    /// Sends one batch of rows (a JSON array) to one table, all or nothing.
    async fn send(&self, stream: FactStream, rows: &[Value]) -> Result<(), CopyError>;
}

// ---------------------------------------------------------------------------------------------
// The CI systems whose gates flowgate answers: Azure Pipelines (a check's events API) and GitHub
// (a deployment protection rule's review, posted as a GitHub App).

/// Why a decision could not be posted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("decision not posted: {message}")]
pub struct CallbackError {
    pub message: String,
    /// Worth posting again later (throttled, unavailable).
    pub retryable: bool,
}

/// A managed online endpoint's traffic, as Azure ML holds it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndpointTraffic {
    pub plan: crate::domain::rollout::TrafficPlan,
    /// The endpoint's deployments, by name.
    pub deployments: Vec<String>,
}

/// Why an endpoint call did not do what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EndpointError {
    /// Throttled, unavailable, timed out: asking again later may work.
    #[error("{0} (worth retrying)")]
    Retryable(String),
    /// Refused, or the operation ended `Failed` or `Canceled`.
    #[error("{0}")]
    Failed(String),
}

impl EndpointError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }
}

/// Azure ML's managed online endpoints, through ARM (`url` is the endpoint resource's URL).
#[async_trait]
pub trait OnlineEndpoints: Send + Sync {
    /// The endpoint's traffic and mirror, and its deployments' names.
    async fn read(&self, url: &str) -> Result<EndpointTraffic, EndpointError>;
    /// Sets traffic and mirror (GET, modify, PUT the whole resource) and follows the long-running
    /// operation to its end (`Azure-AsyncOperation`, else `Location`, honouring `Retry-After`).
    async fn set_traffic(&self, url: &str, plan: &crate::domain::rollout::TrafficPlan) -> Result<(), EndpointError>;
}

#[async_trait]
pub trait PipelineEvents: Send + Sync {
    /// Posts an event (`TaskCompleted`) to a plan's events API with the job's token.
    async fn post_event(&self, events_url: &str, auth_token: &str, event: &Value) -> Result<(), CallbackError>;
}

#[async_trait]
pub trait GitHubApi: Send + Sync {
    /// The webhook secret that signs deliveries (`X-Hub-Signature-256`).
    async fn webhook_secret(&self) -> Result<Vec<u8>, CallbackError>;
    /// Posts a deployment protection rule's review as the app's installation.
    async fn review(&self, installation: u64, callback_url: &str, review: &Value) -> Result<(), CallbackError>;
}
