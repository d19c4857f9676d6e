//! A queue with Service Bus semantics in SQLite: MessageId duplicate detection within a window,
//! scheduled enqueue times, peek-lock with a lock duration, delivery counts, dead-lettering after
//! the maximum deliveries, and active/scheduled/dead-letter counts. Every call takes "now" so the
//! local host can run it on a virtual clock.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, OptionalExtension};

use super::db::Db;
use crate::ports::{DeadLettered, OutgoingMessage, Queue, QueueCounts, QueueError, SendOutcome};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL, message_id TEXT NOT NULL, correlation_id TEXT, body TEXT NOT NULL,
  enqueued_ms INTEGER NOT NULL, visible_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  delivery_count INTEGER NOT NULL DEFAULT 0, lock_token TEXT, locked_until_ms INTEGER,
  dead_letter_reason TEXT
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, dead_letter_reason, visible_ms);
CREATE TABLE IF NOT EXISTS dedupe (
  queue TEXT NOT NULL, message_id TEXT NOT NULL, seen_ms INTEGER NOT NULL,
  PRIMARY KEY (queue, message_id)
) WITHOUT ROWID;";

/// Per-queue behaviour, with Service Bus's defaults.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub lock_duration: Duration,
    pub max_delivery_count: u32,
    pub duplicate_detection_window: Duration,
    pub default_time_to_live: Duration,
    /// Largest body accepted (Service Bus Standard: 256 KB).
    pub max_message_bytes: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            lock_duration: Duration::from_secs(60),
            max_delivery_count: 10,
            duplicate_detection_window: Duration::from_secs(600),
            default_time_to_live: Duration::from_secs(14 * 86_400),
            max_message_bytes: 256 * 1024,
        }
    }
}

/// A message received under a peek-lock.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    pub sequence_number: i64,
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub body: String,
    pub delivery_count: u32,
    pub enqueued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub lock_token: String,
    pub locked_until: DateTime<Utc>,
}

/// A dead-lettered message.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    pub reason: String,
    pub delivery_count: u32,
}

/// SQLite-backed queues.
#[derive(Clone)]
pub struct LocalQueue {
    db: Db,
    settings: QueueSettings,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn unavailable(e: String) -> QueueError {
    QueueError::Unavailable(e)
}

impl LocalQueue {
    pub fn open(path: &Path, settings: QueueSettings) -> Result<Self, QueueError> {
        Db::open(path, SCHEMA).map(|db| Self { db, settings }).map_err(|e| QueueError::Unavailable(format!("{}: {e}", path.display())))
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// Locks the next visible message, or returns `None`. Messages whose lock expired after the
    /// last allowed delivery, or whose time to live ran out, are dead-lettered on the way.
    pub async fn receive(&self, queue: &str, now: DateTime<Utc>) -> Result<Option<ReceivedMessage>, QueueError> {
        let (q, now_ms) = (queue.to_string(), ms(now));
        let lock_ms = dur_ms(self.settings.lock_duration);
        let max = i64::from(self.settings.max_delivery_count);
        self.db
            .call(move |conn| {
                // Every message this call could lock or dead-letter is visible and unlocked now:
                // when there is none, a read answers without taking the write lock.
                let due: bool = conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM messages WHERE queue=?1 AND dead_letter_reason IS NULL AND visible_ms<=?2
                           AND (locked_until_ms IS NULL OR locked_until_ms<=?2))",
                    )?
                    .query_row(params![q, now_ms], |r| r.get(0))?;
                if !due {
                    return Ok(None);
                }
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                tx.prepare_cached("UPDATE messages SET dead_letter_reason='TTLExpiredException', lock_token=NULL, locked_until_ms=NULL
                     WHERE queue=?1 AND dead_letter_reason IS NULL AND expires_ms<=?2 AND (locked_until_ms IS NULL OR locked_until_ms<=?2)")?.execute(
                    params![q, now_ms],
                )?;
                tx.prepare_cached("UPDATE messages SET dead_letter_reason='MaxDeliveryCountExceeded', lock_token=NULL, locked_until_ms=NULL
                     WHERE queue=?1 AND dead_letter_reason IS NULL AND delivery_count>=?3 AND locked_until_ms IS NOT NULL AND locked_until_ms<=?2")?.execute(
                    params![q, now_ms, max],
                )?;
                let row = tx.prepare_cached("SELECT seq, message_id, correlation_id, body, delivery_count, enqueued_ms, expires_ms FROM messages
                         WHERE queue=?1 AND dead_letter_reason IS NULL AND visible_ms<=?2 AND (locked_until_ms IS NULL OR locked_until_ms<=?2)
                         ORDER BY visible_ms, seq LIMIT 1")?.query_row(
                        params![q, now_ms],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, Option<String>>(2)?,
                                r.get::<_, String>(3)?,
                                r.get::<_, i64>(4)?,
                                r.get::<_, i64>(5)?,
                                r.get::<_, i64>(6)?,
                            ))
                        },
                    )
                    .optional()?;
                let Some((seq, message_id, correlation_id, body, count, enq, exp)) = row else {
                    tx.commit()?;
                    return Ok(None);
                };
                let token = uuid::Uuid::new_v4().to_string();
                let until = now_ms.saturating_add(lock_ms);
                tx.prepare_cached("UPDATE messages SET delivery_count=delivery_count+1, lock_token=?2, locked_until_ms=?3 WHERE seq=?1")?.execute(
                    params![seq, token, until],
                )?;
                tx.commit()?;
                Ok(Some(ReceivedMessage {
                    sequence_number: seq,
                    message_id,
                    correlation_id,
                    body,
                    delivery_count: u32::try_from(count + 1).unwrap_or(u32::MAX),
                    enqueued_at: at(enq),
                    expires_at: at(exp),
                    lock_token: token,
                    locked_until: at(until),
                }))
            })
            .await
            .map_err(unavailable)
    }

    /// Removes a locked message. `false` when the lock was lost (expired or taken by another).
    pub async fn complete(&self, lock_token: &str, now: DateTime<Utc>) -> Result<bool, QueueError> {
        let (t, now_ms) = (lock_token.to_string(), ms(now));
        self.db
            .call(move |conn| {
                conn.prepare_cached("DELETE FROM messages WHERE lock_token=?1 AND locked_until_ms>?2")?.execute(params![t, now_ms])
            })
            .await
            .map(|n| n == 1)
            .map_err(unavailable)
    }

    /// Releases a lock so the message is delivered again, or dead-letters it when it has used up
    /// its deliveries. `false` when the lock was already lost.
    pub async fn abandon(&self, lock_token: &str, now: DateTime<Utc>) -> Result<bool, QueueError> {
        let (t, now_ms) = (lock_token.to_string(), ms(now));
        let max = i64::from(self.settings.max_delivery_count);
        self.db
            .call(move |conn| {
                conn.prepare_cached(
                    "UPDATE messages SET lock_token=NULL, locked_until_ms=NULL,
                       dead_letter_reason = CASE WHEN delivery_count>=?3 THEN 'MaxDeliveryCountExceeded' ELSE NULL END
                     WHERE lock_token=?1 AND locked_until_ms>?2",
                )?
                .execute(params![t, now_ms, max])
            })
            .await
            .map(|n| n == 1)
            .map_err(unavailable)
    }

    /// The earliest instant after `now` at which a message of `queue` becomes receivable.
    pub async fn next_visible_after(&self, queue: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, QueueError> {
        let (q, now_ms) = (queue.to_string(), ms(now));
        self.db
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT MIN(MAX(visible_ms, COALESCE(locked_until_ms, 0))) FROM messages
                     WHERE queue=?1 AND dead_letter_reason IS NULL AND MAX(visible_ms, COALESCE(locked_until_ms, 0))>?2",
                )?
                .query_row(params![q, now_ms], |r| r.get::<_, Option<i64>>(0))
            })
            .await
            .map(|o| o.map(at))
            .map_err(unavailable)
    }

    /// Dead-lettered messages of a queue, oldest first.
    pub async fn dead_letters(&self, queue: &str) -> Result<Vec<DeadLetter>, QueueError> {
        let q = queue.to_string();
        self.db
            .call(move |conn| {
                let mut st = conn.prepare_cached(
                    "SELECT message_id, body, dead_letter_reason, delivery_count FROM messages WHERE queue=?1 AND dead_letter_reason IS NOT NULL ORDER BY seq",
                )?;
                let rows = st.query_map(params![q], |r| {
                    Ok(DeadLetter { message_id: r.get(0)?, body: r.get(1)?, reason: r.get(2)?, delivery_count: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(0) })
                })?;
                rows.collect()
            })
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, queue: &str, m: OutgoingMessage) -> Result<SendOutcome, QueueError> {
        if m.body.len() > self.settings.max_message_bytes {
            return Err(QueueError::TooLarge(m.body.len()));
        }
        let q = queue.to_string();
        let sent = ms(m.sent_at);
        let window = dur_ms(self.settings.duplicate_detection_window);
        let visible = m.scheduled_enqueue_time.map(ms).unwrap_or(sent).max(sent);
        let ttl = dur_ms(m.time_to_live.unwrap_or(self.settings.default_time_to_live));
        let expires = visible.saturating_add(ttl);
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let seen: Option<i64> =
                    tx.prepare_cached("SELECT seen_ms FROM dedupe WHERE queue=?1 AND message_id=?2")?.query_row( params![q, m.message_id], |r| r.get(0)).optional()?;
                if seen.is_some_and(|s| sent < s.saturating_add(window) && sent >= s.saturating_sub(window)) {
                    tx.commit()?;
                    return Ok(SendOutcome::Duplicate);
                }
                tx.prepare_cached("INSERT INTO dedupe (queue, message_id, seen_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (queue, message_id) DO UPDATE SET seen_ms=excluded.seen_ms")?.execute(
                    params![q, m.message_id, sent],
                )?;
                tx.prepare_cached("INSERT INTO messages (queue, message_id, correlation_id, body, enqueued_ms, visible_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(
                    params![q, m.message_id, m.correlation_id, m.body, sent, visible, expires],
                )?;
                tx.commit()?;
                Ok(SendOutcome::Accepted)
            })
            .await
            .map_err(unavailable)
    }

    async fn receive_dead_letter(&self, queue: &str, now: DateTime<Utc>) -> Result<Option<DeadLettered>, QueueError> {
        let (q, now_ms) = (queue.to_string(), ms(now));
        let lock_ms = dur_ms(self.settings.lock_duration);
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let row = tx
                    .prepare_cached(
                        "SELECT seq, message_id, body, dead_letter_reason, delivery_count, enqueued_ms FROM messages
                         WHERE queue=?1 AND dead_letter_reason IS NOT NULL AND (locked_until_ms IS NULL OR locked_until_ms<=?2)
                         ORDER BY seq LIMIT 1",
                    )?
                    .query_row(params![q, now_ms], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, i64>(5)?,
                        ))
                    })
                    .optional()?;
                let Some((seq, message_id, body, reason, count, enq)) = row else {
                    tx.commit()?;
                    return Ok(None);
                };
                let token = uuid::Uuid::new_v4().to_string();
                tx.prepare_cached("UPDATE messages SET lock_token=?2, locked_until_ms=?3 WHERE seq=?1")?.execute(params![
                    seq,
                    token,
                    now_ms.saturating_add(lock_ms)
                ])?;
                tx.commit()?;
                Ok(Some(DeadLettered {
                    message_id,
                    body,
                    reason,
                    description: None,
                    delivery_count: u32::try_from(count).unwrap_or(u32::MAX),
                    enqueued_at: Some(at(enq)),
                    lock: token,
                }))
            })
            .await
            .map_err(unavailable)
    }

    async fn complete_dead_letter(&self, _queue: &str, message: &DeadLettered, now: DateTime<Utc>) -> Result<bool, QueueError> {
        let (t, now_ms) = (message.lock.clone(), ms(now));
        self.db
            .call(move |conn| {
                conn.prepare_cached("DELETE FROM messages WHERE lock_token=?1 AND locked_until_ms>?2 AND dead_letter_reason IS NOT NULL")?
                    .execute(params![t, now_ms])
            })
            .await
            .map(|n| n == 1)
            .map_err(unavailable)
    }

    async fn counts(&self, queue: &str, as_of: DateTime<Utc>) -> Result<QueueCounts, QueueError> {
        let (q, now_ms) = (queue.to_string(), ms(as_of));
        self.db
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT
                       COALESCE(SUM(CASE WHEN dead_letter_reason IS NULL AND visible_ms<=?2 THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN dead_letter_reason IS NULL AND visible_ms>?2 THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN dead_letter_reason IS NOT NULL THEN 1 ELSE 0 END), 0)
                     FROM messages WHERE queue=?1",
                )?
                .query_row(params![q, now_ms], |r| {
                    Ok(QueueCounts {
                        active: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                        scheduled: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                        dead_letter: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    })
                })
            })
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn msg(id: &str, at: &str) -> OutgoingMessage {
        OutgoingMessage {
            message_id: id.into(),
            correlation_id: None,
            body: format!("{{\"id\":\"{id}\"}}"),
            scheduled_enqueue_time: None,
            time_to_live: None,
            sent_at: t(at),
        }
    }

    fn queue(dir: &tempfile::TempDir, settings: QueueSettings) -> LocalQueue {
        LocalQueue::open(&dir.path().join("q.db"), settings).unwrap()
    }

    #[tokio::test]
    async fn duplicates_inside_the_window_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir, QueueSettings::default());
        assert_eq!(q.send("d", msg("a", "2026-11-27T10:00:00Z")).await.unwrap(), SendOutcome::Accepted);
        assert_eq!(q.send("d", msg("a", "2026-11-27T10:09:00Z")).await.unwrap(), SendOutcome::Duplicate);
        assert_eq!(q.send("other", msg("a", "2026-11-27T10:09:00Z")).await.unwrap(), SendOutcome::Accepted);
        assert_eq!(q.send("d", msg("a", "2026-11-27T10:11:00Z")).await.unwrap(), SendOutcome::Accepted);
        assert_eq!(q.counts("d", t("2026-11-27T10:11:00Z")).await.unwrap().active, 2);
    }

    #[tokio::test]
    async fn scheduled_messages_wait_for_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir, QueueSettings::default());
        let mut m = msg("s", "2026-11-27T10:00:00Z");
        m.scheduled_enqueue_time = Some(t("2026-11-27T10:05:00Z"));
        q.send("d", m).await.unwrap();
        let c = q.counts("d", t("2026-11-27T10:01:00Z")).await.unwrap();
        assert_eq!((c.active, c.scheduled), (0, 1));
        assert!(q.receive("d", t("2026-11-27T10:04:59Z")).await.unwrap().is_none());
        assert_eq!(q.next_visible_after("d", t("2026-11-27T10:01:00Z")).await.unwrap(), Some(t("2026-11-27T10:05:00Z")));
        assert!(q.receive("d", t("2026-11-27T10:05:00Z")).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn peek_lock_redelivers_and_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir, QueueSettings { max_delivery_count: 3, ..QueueSettings::default() });
        q.send("d", msg("p", "2026-11-27T10:00:00Z")).await.unwrap();
        let now = t("2026-11-27T10:00:00Z");
        let m1 = q.receive("d", now).await.unwrap().unwrap();
        assert_eq!(m1.delivery_count, 1);
        // Locked: nobody else sees it.
        assert!(q.receive("d", now).await.unwrap().is_none());
        assert!(q.abandon(&m1.lock_token, now).await.unwrap());
        let m2 = q.receive("d", now).await.unwrap().unwrap();
        assert_eq!(m2.delivery_count, 2);
        // The lock expires (host crashed): redelivered after the lock duration.
        let later = now + chrono::Duration::seconds(61);
        let m3 = q.receive("d", later).await.unwrap().unwrap();
        assert_eq!(m3.delivery_count, 3);
        assert!(!q.complete(&m2.lock_token, later).await.unwrap(), "an expired lock cannot complete");
        assert!(q.abandon(&m3.lock_token, later).await.unwrap());
        assert!(q.receive("d", later).await.unwrap().is_none());
        let dl = q.dead_letters("d").await.unwrap();
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].reason, "MaxDeliveryCountExceeded");
        assert_eq!(q.counts("d", later).await.unwrap(), QueueCounts { active: 0, scheduled: 0, dead_letter: 1 });
    }

    #[tokio::test]
    async fn complete_removes_and_too_large_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir, QueueSettings::default());
        q.send("d", msg("c", "2026-11-27T10:00:00Z")).await.unwrap();
        let now = t("2026-11-27T10:00:01Z");
        let m = q.receive("d", now).await.unwrap().unwrap();
        assert!(q.complete(&m.lock_token, now).await.unwrap());
        assert_eq!(q.counts("d", now).await.unwrap(), QueueCounts::default());
        let mut big = msg("big", "2026-11-27T10:00:00Z");
        big.body = "x".repeat(300 * 1024);
        assert!(matches!(q.send("d", big).await, Err(QueueError::TooLarge(_))));
    }

    #[tokio::test]
    async fn expired_messages_are_dead_lettered() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir, QueueSettings::default());
        let mut m = msg("e", "2026-11-27T10:00:00Z");
        m.time_to_live = Some(Duration::from_secs(60));
        q.send("d", m).await.unwrap();
        assert!(q.receive("d", t("2026-11-27T10:02:00Z")).await.unwrap().is_none());
        assert_eq!(q.dead_letters("d").await.unwrap()[0].reason, "TTLExpiredException");
    }
}
