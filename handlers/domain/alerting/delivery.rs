//! Notifications and their delivery: alerts sent in one tick grouped by `[alertname, job]`, the
//! notification's id (the same on every retry, so a receiver can drop a duplicate), the record of
//! every attempt, and when a failed delivery is tried again (the receiver's `Retry-After` when it
//! gave one, else backoff from one minute doubling to an hour; given up after a day).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::Send;
use crate::domain::notify::{webhook, Alert, Group};

/// Attempts after which a delivery is given up (and said so in `flowgate alerts`).
pub const MAX_ATTEMPTS: u32 = 12;
/// A delivery still failing this long after its notification was made is given up.
pub const GIVE_UP_AFTER: Duration = Duration::hours(24);

/// One message to every receiver: a group of alerts that changed in one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable across retries: `<group fingerprint>.<status>.<first start>` (`.repeat<unix>` for a repeat).
    pub id: String,
    pub made_at: DateTime<Utc>,
    pub group: Group,
}

/// Groups the alerts to send by `[alertname, job]` into notifications, in a stable order.
pub fn notifications(sends: Vec<(Alert, Send)>, now: DateTime<Utc>) -> Vec<Notification> {
    let mut groups: BTreeMap<(String, Option<String>, bool, bool), Vec<Alert>> = BTreeMap::new();
    for (a, send) in sends {
        let key = (a.name.clone(), super::rules::group_job(&a), send == Send::Resolved, send == Send::Repeat);
        groups.entry(key).or_default().push(a);
    }
    groups
        .into_iter()
        .map(|((name, job, _, repeat), mut alerts)| {
            alerts.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then_with(|| a.labels.cmp(&b.labels)));
            let group = Group { name, job, alerts };
            let mut id = webhook::message_id(&group);
            if repeat {
                id.push_str(&format!(".repeat{}", now.timestamp()));
            }
            Notification { id, made_at: now, group }
        })
        .collect()
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Delivered,
    /// Failed in a way that may pass; tried again at `next_at`.
    Retry,
    /// The receiver answered 410: nothing more is sent to it until its setting changes.
    Gone,
    /// Refused (another 4xx): the same payload would be refused again.
    Refused,
    /// Still failing after `MAX_ATTEMPTS` or `GIVE_UP_AFTER`.
    GivenUp,
    /// Not sent: the receiver was marked gone earlier.
    Skipped,
}

/// The record of one delivery attempt (never the receiver's URL or secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub notification: String,
    pub receiver: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    /// The HTTP status or the error, for people.
    pub detail: String,
    pub title: String,
    pub next_at: Option<DateTime<Utc>>,
}

/// A delivery waiting to be tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub notification: Notification,
    pub receiver: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_at: DateTime<Utc>,
}

/// When to try again after `attempts` failed attempts (`None`: give up). The receiver's
/// `Retry-After` wins when it gave one (at least a minute: the next tick).
pub fn next_attempt(
    made_at: DateTime<Utc>,
    attempts: u32,
    retry_after: Option<std::time::Duration>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if attempts >= MAX_ATTEMPTS || now - made_at >= GIVE_UP_AFTER {
        return None;
    }
    let backoff = Duration::minutes(1i64 << attempts.saturating_sub(1).min(6)).min(Duration::hours(1));
    let wait = match retry_after {
        Some(d) => Duration::from_std(d).unwrap_or(Duration::hours(1)).clamp(Duration::minutes(1), Duration::hours(6)),
        None => backoff,
    };
    Some(now + wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notify::{fixtures, Status};
    use chrono::TimeZone;

    fn t(m: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap() + Duration::minutes(m)
    }

    #[test]
    fn sends_group_by_name_and_job_and_repeats_get_their_own_id() {
        let g = fixtures::group(3, Status::Firing);
        let mut other = g.alerts[0].clone();
        other.labels.insert("job".into(), "score".into());
        let sends = vec![
            (g.alerts[0].clone(), Send::Firing),
            (g.alerts[1].clone(), Send::Firing),
            (other, Send::Firing),
            (g.alerts[2].clone(), Send::Repeat),
        ];
        let n = notifications(sends, t(0));
        assert_eq!(n.len(), 3);
        assert_eq!(n.iter().map(|x| x.group.alerts.len()).sum::<usize>(), 4);
        assert_eq!(n[0].group.job.as_deref(), Some("classify_correspondence"));
        assert_eq!(n[0].group.alerts.len(), 2);
        assert!(n[1].id.contains(".repeat"), "{}", n[1].id);
        assert_eq!(
            notifications(vec![(g.alerts[0].clone(), Send::Firing)], t(5))[0].id,
            notifications(vec![(g.alerts[0].clone(), Send::Firing)], t(9))[0].id
        );
    }

    #[test]
    fn retries_back_off_honour_retry_after_and_give_up() {
        assert_eq!(next_attempt(t(0), 1, None, t(0)), Some(t(1)));
        assert_eq!(next_attempt(t(0), 3, None, t(10)), Some(t(14)));
        assert_eq!(next_attempt(t(0), 11, None, t(10)), Some(t(70)));
        assert_eq!(next_attempt(t(0), 2, Some(std::time::Duration::from_secs(120)), t(0)), Some(t(2)));
        assert_eq!(next_attempt(t(0), 2, Some(std::time::Duration::from_secs(5)), t(0)), Some(t(1)), "at least the next tick");
        assert_eq!(next_attempt(t(0), MAX_ATTEMPTS, None, t(0)), None);
        assert_eq!(next_attempt(t(0), 1, None, t(24 * 60)), None);
    }
}
