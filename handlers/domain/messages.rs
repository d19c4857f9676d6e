//! The bodies flowgate puts on its queues. Top-level keys are namespaced so that the Functions
//! host's habit of merging body properties into `Metadata` cannot shadow Service Bus keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{instant_key, JobId, RunKey};
use crate::domain::run::RunTrigger;

/// The `dispatch` queue's message: run `job` for `logical_time`, attempt number `attempt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchMessage {
    /// Always `flowgate.dispatch.v1`.
    pub flowgate_message: String,
    pub job: JobId,
    pub logical_time: DateTime<Utc>,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub trigger: RunTrigger,
    /// The release the run was created under (absent: the packaged catalog, unreleased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<crate::domain::release::ReleaseId>,
}

pub const DISPATCH_V1: &str = "flowgate.dispatch.v1";

impl DispatchMessage {
    pub fn new(key: &RunKey, attempt: u32, trigger: RunTrigger) -> Self {
        Self { flowgate_message: DISPATCH_V1.into(), job: key.job.clone(), logical_time: key.logical_time, attempt, trigger, release: None }
    }
    /// The message for a run pinned to `release`.
    pub fn pinned(mut self, release: Option<crate::domain::release::ReleaseId>) -> Self {
        self.release = release;
        self
    }
    pub fn key(&self) -> RunKey {
        RunKey::new(self.job.clone(), self.logical_time)
    }
    /// Deterministic Service Bus MessageId: duplicates of the same attempt collapse in the broker's
    /// duplicate-detection window.
    pub fn message_id(&self) -> String {
        format!("{}@{}#{}", self.job, instant_key(self.logical_time), self.attempt)
    }
}

/// The `poll` queue's message: ask about the job that `attempt` of the run submitted, for the
/// `poll`-th time (0 for the first). Each poll message is acted on once: the run record counts them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollMessage {
    /// Always `flowgate.poll.v1`.
    pub flowgate_message: String,
    pub job: JobId,
    pub logical_time: DateTime<Utc>,
    pub attempt: u32,
    pub poll: u32,
}

pub const POLL_V1: &str = "flowgate.poll.v1";

impl PollMessage {
    pub fn new(key: &RunKey, attempt: u32, poll: u32) -> Self {
        Self { flowgate_message: POLL_V1.into(), job: key.job.clone(), logical_time: key.logical_time, attempt, poll }
    }
    pub fn key(&self) -> RunKey {
        RunKey::new(self.job.clone(), self.logical_time)
    }
    /// Deterministic Service Bus MessageId, one per poll of one attempt.
    pub fn message_id(&self) -> String {
        format!("{}@{}#{}:poll:{}", self.job, instant_key(self.logical_time), self.attempt, self.poll)
    }
}

/// The `quarantine` queue's message: what failed, why, and where the record is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineMessage {
    /// Always `flowgate.quarantine.v1`.
    pub flowgate_message: String,
    pub id: String,
    pub kind: QuarantineKind,
    pub reason: String,
    pub at: DateTime<Utc>,
}

pub const QUARANTINE_V1: &str = "flowgate.quarantine.v1";

/// What was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineKind {
    /// A run that cannot succeed (retries exhausted or a permanent failure).
    Run,
    /// A message that could not be read at all.
    PoisonMessage,
    /// A landed blob that failed its data contract (the blob itself stays where it landed).
    Data,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_is_deterministic() {
        let t = DateTime::parse_from_rfc3339("2026-11-27T09:15:00Z").unwrap().with_timezone(&Utc);
        let m = DispatchMessage::new(&RunKey::new(JobId::parse("j").unwrap(), t), 2, RunTrigger::Schedule);
        assert_eq!(m.message_id(), "j@2026-11-27T09:15:00.000Z#2");
        let back: DispatchMessage = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
