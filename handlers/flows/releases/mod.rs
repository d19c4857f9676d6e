//! Releases as use cases: propose, approve, reject, check, promote, roll back, review, and the
//! handler's question "which catalog runs?" (the active release, or a run's own, cached by id).
//! The same functions serve the CLI and the Releases HTTP function.

pub mod active;
mod checks;
pub mod evaluation;
pub mod external;
pub mod ops;
mod promote;
pub mod records;
pub mod rollout;
mod status;
pub mod traffic;
pub mod view;

use std::sync::Arc;

use crate::ports::{AuditError, AuditSink, BlobError, BlobStore, JobRunner, OnlineEndpoints, Store, StoreError};

pub use ops::{approve, gate_check, list, load, promote, propose, reject, review, rollback, status, Checked, Promotion};
pub use promote::converge;
pub use status::{Listed, ReleaseState, ReleaseStatus};
pub use view::ReleaseView;

/// The container (and, locally, the folder under the state) holding release bundles.
pub const CONTENT_CONTAINER: &str = "releases";

/// What release operations use.
#[derive(Clone)]
pub struct ReleaseDeps {
    pub store: Arc<dyn Store>,
    pub audit: Arc<dyn AuditSink>,
    /// Where bundles are kept (container [`CONTENT_CONTAINER`]).
    pub content: Arc<dyn BlobStore>,
    /// For the smoke requests.
    pub runner: Arc<dyn JobRunner>,
    pub settings: super::SettingLookup,
    /// Azure mode: approvals by development identities do not count.
    pub azure: bool,
    /// Managed online endpoints (the blue/green switch).
    pub endpoints: Arc<dyn OnlineEndpoints>,
}

/// Why a release operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The input cannot be used (exit 2, HTTP 400/404).
    #[error("{0}")]
    BadInput(String),
    #[error("no release {0}")]
    NotFound(String),
    /// Refused by a rule (exit 1, HTTP 403/409); recorded in the audit trail.
    #[error("{0}")]
    Refused(String),
    /// Lost a race with another writer (try again).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("release content: {0}")]
    Content(String),
}

impl ReleaseError {
    /// Whether trying again later can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Audit(_) | Self::Conflict(_) => true,
            Self::Content(_) => true,
            Self::BadInput(_) | Self::NotFound(_) | Self::Refused(_) => false,
        }
    }
}

impl From<BlobError> for ReleaseError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(p) => Self::Content(format!("{p} is missing")),
            other => Self::Content(other.to_string()),
        }
    }
}

impl From<super::FlowError> for ReleaseError {
    fn from(e: super::FlowError) -> Self {
        match e {
            super::FlowError::Store(s) => Self::Store(s),
            super::FlowError::Audit(a) => Self::Audit(a),
            other => Self::Content(other.to_string()),
        }
    }
}
