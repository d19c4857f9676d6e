//! Use cases, one per function: typed input in, a report out. Flows know the domain and the
//! ports, never an adapter or the host envelope.

pub mod alerts;
mod attempt;
pub mod audit;
pub mod audit_copy;
pub mod breakers;
pub mod config;
pub mod contract_check;
pub mod data_arrived;
pub mod dispatch_run;
pub mod doctor;
pub mod facts;
pub mod gates;
pub mod inputs;
pub mod lifecycle;
pub mod lineage;
pub mod monitor;
pub mod poll_job;
pub mod quarantine;
pub mod reconcile;
pub mod releases;
pub mod report;
pub mod retention;
pub mod runs;
pub mod schedule_tick;
mod settle;
pub mod status;
pub mod suspect;
pub mod trace;
pub mod waiting;

use std::sync::Arc;

use crate::domain::catalog::Catalog;
use crate::ports::{BlobStore, JobRunner, Notifier, Queue, QueueError, Store, StoreError};

/// Parsed contracts by dataset.
pub type Contracts = std::collections::BTreeMap<crate::domain::ids::DatasetId, Arc<crate::domain::contract::Contract>>;

/// Looks up an app setting (an environment variable in Azure and locally).
pub type SettingLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What every flow may use.
#[derive(Clone)]
pub struct Deps {
    /// The catalog of the release these dependencies are for (see `Deps::active`, `Deps::pinned`).
    pub catalog: Arc<Catalog>,
    /// That release; `None` for the packaged catalog (unreleased).
    pub release: Option<crate::domain::release::ReleaseId>,
    /// The packaged catalog, the parsed releases, and whether a release is required.
    pub releases: Arc<releases::active::ReleaseCache>,
    /// Each dataset's parsed contract (datasets without one are absent).
    pub contracts: Arc<Contracts>,
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub runner: Arc<dyn JobRunner>,
    pub blobs: Arc<dyn BlobStore>,
    /// Where alert notifications go (every receiver configured).
    pub notifiers: Vec<Arc<dyn Notifier>>,
    /// The hash-chained record of every decision.
    pub audit: Arc<dyn crate::ports::AuditSink>,
    /// A queryable copy of the audit trail (Log Analytics), when configured.
    pub audit_copy: Option<Arc<dyn crate::ports::AuditCopy>>,
    /// Where heartbeats, signals and finished runs go for Azure Monitor, when configured.
    pub facts: Option<Arc<dyn crate::ports::FactSink>>,
    /// Tokenizes personal data before it reaches anything flowgate writes.
    pub pii: Arc<crate::domain::pii::Tokenizer>,
    /// Where finished runs' OpenLineage events are delivered.
    pub lineage: Arc<dyn crate::ports::LineageSink>,
    /// This instance's cache of the schedule state (see `schedule_tick::ScheduleCache`).
    pub schedule_cache: Arc<schedule_tick::ScheduleCache>,
    pub settings: SettingLookup,
    /// A number in [0, 1) for retry jitter.
    pub random: fn() -> f64,
    /// Azure Pipelines' events API (release checks answered in callback mode).
    pub pipelines: Arc<dyn crate::ports::PipelineEvents>,
    /// GitHub, as the app that answers deployment protection rules (when configured).
    pub github: Option<Arc<dyn crate::ports::GitHubApi>>,
    /// Managed online endpoints (the blue/green switch).
    pub endpoints: Arc<dyn crate::ports::OnlineEndpoints>,
    /// The canary in progress on the active release (set by `Deps::active`): new runs of its
    /// jobs are routed by item.
    pub canary: Option<Arc<crate::domain::rollout::Canary>>,
}

/// A flow failure the host should retry (the message stays on its queue). Anything that retrying
/// cannot fix is an outcome, not an error.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("{0}")]
    Blob(String),
    #[error(transparent)]
    Audit(#[from] crate::ports::AuditError),
    /// A release's content could not be loaded (missing, altered, or no longer valid).
    #[error("release: {0}")]
    Release(String),
    /// More work for one key than the key's scheme can hold (retrying cannot help: the message
    /// ends dead-lettered, and the reconciliation pass quarantines it with this reason).
    #[error("{0}")]
    Crowded(String),
}

impl FlowError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Queue(e) => e.is_retryable(),
            Self::Blob(_) | Self::Audit(_) | Self::Release(_) => true,
            Self::Crowded(_) => false,
        }
    }
}
