//! Runs and attempts: the record of one job at one logical time, and the outcome of one attempt.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::JobId;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunStatus {
    /// Waiting for its dependencies or for the job's previous run (overlap).
    Waiting,
    /// Enqueued, no attempt yet.
    Pending,
    /// An attempt holds the lease.
    Running,
    /// A long-running job was submitted; PollJob follows it to its end.
    Polling,
    /// The last attempt failed in a way that may pass; another is scheduled.
    Retrying,
    /// Finished: every request succeeded.
    Succeeded,
    /// Finished: retries exhausted.
    Failed,
    /// Finished: a failure that retrying cannot fix; a person must look.
    Quarantined,
    /// Finished without running: an upstream run failed, or the wait for it ran out.
    Blocked,
    /// Finished without running: the slot was skipped by policy (catch-up, overlap, DST gap).
    Skipped,
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Quarantined | Self::Blocked | Self::Skipped)
    }
    /// Finished without success: what blocks the runs that depend on it.
    pub fn blocks_dependents(self) -> bool {
        matches!(self, Self::Failed | Self::Quarantined | Self::Blocked | Self::Skipped)
    }
    pub const ALL: [RunStatus; 10] = [
        Self::Waiting,
        Self::Pending,
        Self::Running,
        Self::Polling,
        Self::Retrying,
        Self::Succeeded,
        Self::Failed,
        Self::Quarantined,
        Self::Blocked,
        Self::Skipped,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Polling => "polling",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Quarantined => "quarantined",
            Self::Blocked => "blocked",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| format!("unknown run status `{s}`"))
    }
}

/// What started a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunTrigger {
    Schedule,
    Arrival { dataset: String, container: String, path: String },
    Manual,
}

/// The durable record of one run (job + logical time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub job: JobId,
    pub logical_time: DateTime<Utc>,
    pub trigger: RunTrigger,
    pub status: RunStatus,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Until when the attempt in flight holds the run.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    /// Wall time of the last attempt, in milliseconds.
    #[serde(default)]
    pub last_latency_ms: Option<u64>,
    /// Wall time of every attempt, in milliseconds.
    #[serde(default)]
    pub latencies_ms: Vec<u64>,
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub records_in: u64,
    #[serde(default)]
    pub records_out: u64,
    /// Where the run's output was written, if it wrote one.
    #[serde(default)]
    pub output: Option<String>,
    /// The invocation of the last attempt.
    #[serde(default)]
    pub invocation_id: Option<String>,
    /// Why the run is waiting, or why it was blocked or skipped.
    #[serde(default)]
    pub reason: Option<String>,
    /// The readiness gates' decision before the last attempt.
    #[serde(default)]
    pub gate: Option<crate::domain::gate::GateDecision>,
    /// How often the run was replayed from quarantine.
    #[serde(default)]
    pub replays: u32,
    /// Attempts of the series before the last replay.
    #[serde(default)]
    pub prior_attempts: u32,
    /// The long-running job the current attempt submitted, while PollJob follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_handle: Option<crate::domain::longjob::JobHandle>,
    /// How often PollJob has asked about the current attempt's job.
    #[serde(default)]
    pub polls: u32,
    /// What a finished run's OpenLineage events are made of (`StoredFacts::events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<crate::domain::lineage::StoredFacts>,
    /// The release the run was created under, which it finishes on (absent: unreleased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<crate::domain::release::ReleaseId>,
    /// When its SLA is breached, fixed when the run is created (absent: no SLA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_deadline: Option<DateTime<Utc>>,
}

/// How long past what a run awaits (its lease, its next attempt, its first dispatch) it may stay
/// before it counts as stuck: reported by `doctor`, resent then quarantined by reconciliation.
pub const STUCK_GRACE_MINUTES: i64 = 15;

impl RunRecord {
    /// What an unfinished run waits for and until when a message should have moved it on:
    /// the lease of the attempt in flight (or of the job followed), the next attempt, or its
    /// dispatch. `None` for finished runs and runs waiting for dependencies (no message moves those).
    pub fn awaited(&self) -> Option<(&'static str, DateTime<Utc>)> {
        match self.status {
            RunStatus::Running | RunStatus::Polling => self.lease_until.map(|l| ("its lease ended", l)),
            RunStatus::Retrying => self.next_attempt_at.map(|t| ("its next attempt was due", t)),
            // A replay is due when it was sent (`next_attempt_at`), not when the run was created.
            RunStatus::Pending => Some(("it was enqueued", self.next_attempt_at.unwrap_or(self.created_at))),
            _ => None,
        }
    }

    /// `awaited`, when that is more than the grace period before `now`.
    pub fn stuck(&self, now: DateTime<Utc>) -> Option<(&'static str, DateTime<Utc>)> {
        self.awaited().filter(|(_, at)| *at + chrono::Duration::minutes(STUCK_GRACE_MINUTES) < now)
    }

    pub fn pending(job: JobId, logical_time: DateTime<Utc>, trigger: RunTrigger, now: DateTime<Utc>) -> Self {
        Self {
            job,
            logical_time,
            trigger,
            status: RunStatus::Pending,
            attempts: 0,
            created_at: now,
            started_at: None,
            finished_at: None,
            lease_until: None,
            last_latency_ms: None,
            latencies_ms: Vec::new(),
            next_attempt_at: None,
            error: None,
            records_in: 0,
            records_out: 0,
            output: None,
            invocation_id: None,
            reason: None,
            gate: None,
            replays: 0,
            prior_attempts: 0,
            job_handle: None,
            polls: 0,
            lineage: None,
            release: None,
            sla_deadline: None,
        }
    }
}

/// How one attempt ended: the domain's verdict, which the flow turns into writes and messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every request succeeded.
    Done { records_in: u64, records_out: u64, output: Option<String> },
    /// Worth another attempt after at least `after` (a server's Retry-After, if it gave one).
    Retry { reason: String, after: Option<Duration> },
    /// Retrying will not help.
    Quarantine { reason: String },
    /// A readiness gate held the run: try again per the retry policy, then end blocked.
    Held { reason: String },
    /// A circuit breaker kept the run from calling: not an attempt; try again at `until`.
    Deferred { until: chrono::DateTime<Utc>, reason: String },
    /// A long-running job was submitted: PollJob follows it.
    Submitted { handle: crate::domain::longjob::JobHandle },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert!("done".parse::<RunStatus>().is_err());
        assert!(RunStatus::Quarantined.is_terminal());
        assert!(!RunStatus::Retrying.is_terminal());
    }
}
