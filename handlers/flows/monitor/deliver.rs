//! Delivery of notifications to every receiver, each attempt recorded (`flowgate alerts` shows
//! them); a delivery that may pass later waits in the outbox for its next attempt, claimed with a
//! conditional write so two ticks never retry it at once; a receiver that answered 410 is skipped
//! for a day (a fresh URL may be set meanwhile), then tried again.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::domain::alerting::delivery::{next_attempt, Delivery, Notification, Outcome, Pending};
use crate::domain::ids::instant_key;
use crate::flows::{Deps, FlowError};
use crate::ports::{Notifier, NotifyError, QueueCounts, RowRange, Store, StoreError, Table};

/// Deliveries to try again (row = notification id + `|` + receiver).
pub const OUTBOX: &str = "outbox";
/// Every attempt (row = time + `|` + notification id + `|` + receiver + `|` + attempt).
pub const DELIVERY: &str = "delivery";
/// Receivers that answered 410 (row = receiver).
pub const RECEIVER: &str = "receiver";
/// How long a receiver that answered 410 is skipped.
const GONE_FOR: Duration = Duration::hours(24);
/// How long a claimed retry is held before another tick may take it (a crash mid-send).
const CLAIM: Duration = Duration::minutes(10);

/// Receivers gone, with when and why.
pub async fn receivers_gone(store: &dyn Store, now: DateTime<Utc>) -> Result<BTreeMap<String, Delivery>, StoreError> {
    let rows = store.query(Table::ALERT_STATE, Some(RECEIVER), RowRange::default(), usize::MAX).await?;
    Ok(rows
        .into_iter()
        .filter_map(|e| serde_json::from_value::<Delivery>(e.body).ok().map(|d| (e.row, d)))
        .filter(|(_, d)| now - d.at < GONE_FOR)
        .collect())
}

async fn log(deps: &Deps, d: &Delivery) -> Result<(), FlowError> {
    let row = format!("{}|{}|{}|{}", instant_key(d.at), d.notification, d.receiver, d.attempt);
    deps.store.upsert(Table::ALERT_STATE, DELIVERY, &row, &serde_json::to_value(d).unwrap_or_default()).await?;
    if d.outcome == Outcome::Gone {
        deps.store.upsert(Table::ALERT_STATE, RECEIVER, &d.receiver, &serde_json::to_value(d).unwrap_or_default()).await?;
    }
    match d.outcome {
        Outcome::Delivered => {
            tracing::info!(receiver = %d.receiver, notification = %d.notification, attempt = d.attempt, "alert delivered")
        }
        _ => {
            tracing::warn!(receiver = %d.receiver, notification = %d.notification, attempt = d.attempt, outcome = ?d.outcome, detail = %d.detail, "alert not delivered")
        }
    }
    Ok(())
}

/// One attempt; returns the record (with `next_at` when it is to be tried again).
async fn attempt(r: &dyn Notifier, n: &Notification, number: u32, now: DateTime<Utc>) -> Delivery {
    let (outcome, detail, next_at) = match r.send(n).await {
        Ok(()) => (Outcome::Delivered, String::new(), None),
        Err(NotifyError::Gone(d)) => (Outcome::Gone, d, None),
        Err(NotifyError::Refused(d)) => (Outcome::Refused, d, None),
        Err(NotifyError::Retry { reason, after }) => match next_attempt(n.made_at, number, after, now) {
            Some(at) => (Outcome::Retry, reason, Some(at)),
            None => (Outcome::GivenUp, reason, None),
        },
    };
    Delivery {
        notification: n.id.clone(),
        receiver: r.receiver().to_string(),
        attempt: number,
        at: now,
        outcome,
        detail,
        title: n.group.title(),
        next_at,
    }
}

/// Sends a notification to every receiver (first attempts).
pub async fn to_every_receiver(deps: &Deps, n: &Notification, now: DateTime<Utc>) -> Result<(), FlowError> {
    // Runbook links point at `FLOWGATE_RUNBOOK_BASE_URL` when it is set (a fork, a wiki).
    let rebased;
    let n = match (deps.settings)("FLOWGATE_RUNBOOK_BASE_URL").filter(|b| !b.trim().is_empty()) {
        Some(base) => {
            let mut copy = n.clone();
            for a in &mut copy.group.alerts {
                a.runbook = a.runbook.as_deref().map(|r| crate::domain::alerting::rules::with_runbook_base(r, &base));
            }
            rebased = copy;
            &rebased
        }
        None => n,
    };
    let gone = receivers_gone(deps.store.as_ref(), now).await?;
    for r in deps.notifiers.iter() {
        let d = if gone.contains_key(r.receiver()) {
            Delivery {
                notification: n.id.clone(),
                receiver: r.receiver().to_string(),
                attempt: 0,
                at: now,
                outcome: Outcome::Skipped,
                detail: "the receiver answered 410 Gone earlier; tried again a day after".into(),
                title: n.group.title(),
                next_at: None,
            }
        } else {
            attempt(r.as_ref(), n, 1, now).await
        };
        if let Some(at) = d.next_at {
            let pending = Pending { notification: n.clone(), receiver: d.receiver.clone(), attempts: 1, next_at: at };
            let row = format!("{}|{}", n.id, d.receiver);
            deps.store.upsert(Table::ALERT_STATE, OUTBOX, &row, &serde_json::to_value(&pending).unwrap_or_default()).await?;
        }
        log(deps, &d).await?;
    }
    Ok(())
}

/// Deliveries waiting for another attempt.
pub async fn outbox(store: &dyn Store) -> Result<Vec<Pending>, StoreError> {
    let rows = store.query(Table::ALERT_STATE, Some(OUTBOX), RowRange::default(), usize::MAX).await?;
    Ok(rows.into_iter().filter_map(|e| serde_json::from_value::<Pending>(e.body).ok()).collect())
}

/// Tries the due deliveries again; returns how many were attempted.
pub async fn retry_pass(deps: &Deps, now: DateTime<Utc>) -> Result<usize, FlowError> {
    let mut tried = 0;
    for e in deps.store.query(Table::ALERT_STATE, Some(OUTBOX), RowRange::default(), usize::MAX).await? {
        let Ok(mut p) = serde_json::from_value::<Pending>(e.body.clone()) else { continue };
        if p.next_at > now {
            continue;
        }
        let Some(receiver) = deps.notifiers.iter().find(|r| r.receiver() == p.receiver) else {
            // The receiver is no longer configured: nothing to deliver to.
            forget(deps, &e.row, None).await?;
            continue;
        };
        // Claim: the tick whose write lands makes the attempt.
        let mut claimed = p.clone();
        claimed.next_at = now + CLAIM;
        let etag = match deps
            .store
            .replace(Table::ALERT_STATE, OUTBOX, &e.row, &serde_json::to_value(&claimed).unwrap_or_default(), &e.etag)
            .await
        {
            Ok(tag) => tag,
            Err(StoreError::PreconditionFailed(_) | StoreError::NotFound(_)) => continue,
            Err(err) => return Err(err.into()),
        };
        tried += 1;
        let d = attempt(receiver.as_ref(), &p.notification, p.attempts + 1, now).await;
        log(deps, &d).await?;
        match d.next_at {
            Some(at) => {
                p.attempts += 1;
                p.next_at = at;
                match deps.store.replace(Table::ALERT_STATE, OUTBOX, &e.row, &serde_json::to_value(&p).unwrap_or_default(), &etag).await {
                    Ok(_) | Err(StoreError::PreconditionFailed(_) | StoreError::NotFound(_)) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            None => forget(deps, &e.row, Some(&etag)).await?,
        }
    }
    Ok(tried)
}

async fn forget(deps: &Deps, row: &str, etag: Option<&crate::ports::ETag>) -> Result<(), FlowError> {
    match deps.store.delete(Table::ALERT_STATE, OUTBOX, row, etag).await {
        Ok(()) | Err(StoreError::NotFound(_) | StoreError::PreconditionFailed(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Every delivery attempt since `since`, oldest first.
pub async fn deliveries(store: &dyn Store, since: DateTime<Utc>) -> Result<Vec<Delivery>, StoreError> {
    let range = RowRange { from: Some(instant_key(since)), to: None };
    let rows = store.query(Table::ALERT_STATE, Some(DELIVERY), range, usize::MAX).await?;
    Ok(rows.into_iter().filter_map(|e| serde_json::from_value::<Delivery>(e.body).ok()).collect())
}

/// Keeps each queue's depth per hour (the largest and the last of the tick samples): the
/// report's queue figures read these.
pub async fn sample_queues(deps: &Deps, queues: &BTreeMap<&'static str, QueueCounts>, now: DateTime<Utc>) -> Result<(), FlowError> {
    use crate::domain::metrics::queue::HourlyDepth;
    use chrono::DurationRound;
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    for (q, c) in queues {
        let row = format!("{}|{q}", instant_key(hour));
        for _ in 0..3 {
            let current = deps.store.get(Table::METRICS, QUEUE_DEPTH, &row).await?;
            let mut h = current
                .as_ref()
                .and_then(|e| serde_json::from_value::<HourlyDepth>(e.body.clone()).ok())
                .unwrap_or_else(|| HourlyDepth::new(q, hour));
            if !h.add(c, now) {
                break;
            }
            let body = serde_json::to_value(&h).unwrap_or_default();
            let r = match &current {
                Some(e) => deps.store.replace(Table::METRICS, QUEUE_DEPTH, &row, &body, &e.etag).await,
                None => deps.store.insert(Table::METRICS, QUEUE_DEPTH, &row, &body).await,
            };
            match r {
                Ok(_) => break,
                Err(StoreError::PreconditionFailed(_) | StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Partition of the hourly queue depths in `Table::METRICS`.
pub const QUEUE_DEPTH: &str = "queue_depth";
