//! Readiness gates: before a run starts, each input's latest contract result and its freshness.
//! The decision, with one check per input and gate, is recorded with the run.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One gate on one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCheck {
    pub dataset: String,
    /// `contract` or `freshness`.
    pub gate: String,
    pub passed: bool,
    /// What was seen: the failing rules and observed values, or the last arrival.
    pub detail: String,
}

/// The decision for a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    pub passed: bool,
    pub checked_at: DateTime<Utc>,
    pub checks: Vec<GateCheck>,
}

impl GateDecision {
    pub fn new(checks: Vec<GateCheck>, checked_at: DateTime<Utc>) -> Self {
        Self { passed: checks.iter().all(|c| c.passed), checked_at, checks }
    }

    /// One line naming every failing check.
    pub fn summary(&self) -> String {
        let failed: Vec<String> =
            self.checks.iter().filter(|c| !c.passed).map(|c| format!("{} gate on `{}`: {}", c.gate, c.dataset, c.detail)).collect();
        if failed.is_empty() {
            "every gate passed".into()
        } else {
            format!("held: {}", failed.join("; "))
        }
    }
}
