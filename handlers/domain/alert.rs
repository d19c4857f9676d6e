//! Alerts: SLA warnings and breaches, and stale data. Each has a key that makes recording it
//! idempotent: the same alert found by two ticks is one alert.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    SlaWarning,
    SlaBreach,
    StaleData,
    /// `FLOWGATE_RELEASES=required` and no release is active: nothing runs.
    NoActiveRelease,
    /// An emergency change's review by a second person is overdue.
    EmergencyReviewOverdue,
    /// A canary was aborted and rolled back automatically.
    CanaryAborted,
    /// A canary reached its maximum without a decision: a person decides.
    CanaryInconclusive,
    /// A canary passed but its blue/green switch failed: the release stayed on stable.
    SwitchFailed,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SlaWarning => "sla_warning",
            Self::SlaBreach => "sla_breach",
            Self::StaleData => "stale_data",
            Self::NoActiveRelease => "no_active_release",
            Self::EmergencyReviewOverdue => "emergency_review_overdue",
            Self::CanaryAborted => "canary_aborted",
            Self::CanaryInconclusive => "canary_inconclusive",
            Self::SwitchFailed => "switch_failed",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// The job or dataset it concerns.
    pub subject: String,
    /// Unique per alert of this kind and subject: the run key, or the dataset's last arrival.
    pub key: String,
    /// When flowgate raised it.
    pub raised_at: DateTime<Utc>,
    /// The deadline or expectation that was missed (or is about to be).
    pub due_at: DateTime<Utc>,
    pub owner: Option<String>,
    /// One line for a person.
    pub message: String,
    /// An SLA breach of a run that succeeded after its deadline (not one that never delivered).
    #[serde(default)]
    pub late: bool,
}

impl Alert {
    /// The alert's identity: kind and key.
    pub fn id(&self) -> String {
        format!("{}|{}", self.kind.as_str(), self.key)
    }
}
