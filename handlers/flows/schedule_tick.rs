//! ScheduleTick: every slot of every scheduled job between the job's watermark and "now" becomes a
//! pending run and a dispatch message with a deterministic MessageId; then the watermark moves.
//! Two ticks at once are harmless: run records are created once and duplicate messages collapse.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{runs, Deps, FlowError};
use crate::domain::catalog::Trigger;
use crate::domain::ids::{instant_key, InvocationId, JobId, RunKey};
use crate::domain::messages::DispatchMessage;
use crate::domain::run::{RunRecord, RunTrigger};
use crate::ports::{queues, OutgoingMessage, RowRange, SendOutcome, StoreError, Table};

/// Slots enqueued per job per tick at most; a backlog continues on the next tick, never dropped.
pub const MAX_SLOTS_PER_TICK: usize = 100;
/// A job seen for the first time starts with the slots of the last minute (no backfill).
const FIRST_LOOK_BACK: i64 = 60;
const WATERMARK_PARTITION: &str = "watermark";

/// What a tick is given.
#[derive(Debug, Clone)]
pub struct TickInput {
    pub now: DateTime<Utc>,
    pub invocation: InvocationId,
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    pub enqueued: Vec<RunKey>,
    /// Messages the queue dropped as duplicates (another tick got there first).
    pub duplicates: usize,
    /// Jobs with more due slots than one tick takes; they continue next tick.
    pub backlogged: Vec<JobId>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Watermark {
    last_slot: DateTime<Utc>,
}

pub async fn schedule_tick(deps: &Deps, input: TickInput) -> Result<TickReport, FlowError> {
    let now = input.now;
    let marks = deps
        .store
        .query(
            Table::SCHEDULES,
            Some(WATERMARK_PARTITION),
            RowRange::default(),
            usize::MAX,
        )
        .await?;
    let mut report = TickReport::default();
    for job in deps.catalog.jobs.values() {
        let Trigger::Schedule(cron) = &job.trigger else {
            continue;
        };
        if !job.enabled {
            continue;
        }
        let mark = marks.iter().find(|e| e.row == job.id.as_str());
        let stored: Option<Watermark> =
            mark.and_then(|e| serde_json::from_value(e.body.clone()).ok());
        let from = stored
            .as_ref()
            .map_or(now - Duration::seconds(FIRST_LOOK_BACK), |w| w.last_slot);
        let slots = cron.occurrences(from, now, job.timezone, MAX_SLOTS_PER_TICK + 1);
        if slots.is_empty() {
            if stored.is_none() {
                // Remember where this job's schedule starts, so a long first gap is not lost.
                write_mark(deps, job.id.as_str(), mark.map(|e| &e.etag), from).await?;
            }
            continue;
        }
        if slots.len() > MAX_SLOTS_PER_TICK {
            report.backlogged.push(job.id.clone());
        }
        let mut last = from;
        for slot in slots.into_iter().take(MAX_SLOTS_PER_TICK) {
            let key = RunKey::new(job.id.clone(), slot);
            runs::create(
                deps.store.as_ref(),
                &RunRecord::pending(job.id.clone(), slot, RunTrigger::Schedule, now),
            )
            .await?;
            let msg = DispatchMessage::new(&key, 1, RunTrigger::Schedule);
            let sent = deps
                .queue
                .send(
                    queues::DISPATCH,
                    OutgoingMessage {
                        message_id: msg.message_id(),
                        correlation_id: Some(key.to_string()),
                        body: serde_json::to_string(&msg).unwrap_or_default(),
                        scheduled_enqueue_time: None,
                        time_to_live: None,
                        sent_at: now,
                    },
                )
                .await?;
            if sent == SendOutcome::Duplicate {
                report.duplicates += 1;
            }
            tracing::info!(run = %key, "scheduled");
            report.enqueued.push(key);
            last = slot;
        }
        write_mark(deps, job.id.as_str(), mark.map(|e| &e.etag), last).await?;
    }
    Ok(report)
}

/// Moves a watermark forward. Losing a race to another tick is fine: it moved it as far or further.
async fn write_mark(
    deps: &Deps,
    job: &str,
    etag: Option<&crate::ports::ETag>,
    last_slot: DateTime<Utc>,
) -> Result<(), FlowError> {
    let body = serde_json::to_value(Watermark { last_slot }).unwrap_or_default();
    let r = match etag {
        Some(e) => {
            deps.store
                .replace(Table::SCHEDULES, WATERMARK_PARTITION, job, &body, e)
                .await
        }
        None => {
            deps.store
                .insert(Table::SCHEDULES, WATERMARK_PARTITION, job, &body)
                .await
        }
    };
    match r {
        Ok(_) | Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => Ok(()),
        Err(e) => {
            tracing::warn!(job, last_slot = %instant_key(last_slot), error = %e, "watermark not written");
            Err(e.into())
        }
    }
}
