//! The AuditSink on SQLite: one row per event, appended in one transaction that reads the head
//! and writes the next link, so several writers (processes included) keep one linear chain.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::db::Db;
use crate::domain::audit::{AuditDraft, AuditEvent, StoredRow, GENESIS};
use crate::ports::{AuditError, AuditSink};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at_ms);";

/// SQLite-backed [`AuditSink`].
#[derive(Clone)]
pub struct SqliteAudit {
    db: Db,
}

impl SqliteAudit {
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        Db::open(path, SCHEMA).map(|db| Self { db }).map_err(|e| AuditError(format!("{}: {e}", path.display())))
    }
}

#[async_trait]
impl AuditSink for SqliteAudit {
    async fn append(&self, draft: AuditDraft) -> Result<AuditEvent, AuditError> {
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let head: Option<(i64, String)> = tx
                    .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
                    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let (seq, prev) = head.map_or((1u64, GENESIS.to_string()), |(s, h)| (u64::try_from(s).unwrap_or(0) + 1, h));
                let event = AuditEvent::chain(draft, seq, &prev);
                let body = serde_json::to_string(&event).unwrap_or_default();
                tx.prepare_cached("INSERT INTO audit (seq, at_ms, hash, body) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
                    i64::try_from(seq).unwrap_or(i64::MAX),
                    event.at.timestamp_millis(),
                    event.hash,
                    body
                ])?;
                tx.commit()?;
                Ok(event)
            })
            .await
            .map_err(AuditError)
    }

    async fn read_rows(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Vec<StoredRow>, AuditError> {
        let (from, to) = (from.map(|t| t.timestamp_millis()), to.map(|t| t.timestamp_millis()));
        let rows = self
            .db
            .call(move |conn| {
                let mut st = conn.prepare_cached(
                    "SELECT seq, body FROM audit WHERE (?1 IS NULL OR at_ms >= ?1) AND (?2 IS NULL OR at_ms < ?2) ORDER BY seq",
                )?;
                let it = st.query_map(params![from, to], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
                it.collect::<rusqlite::Result<Vec<(i64, String)>>>()
            })
            .await
            .map_err(AuditError)?;
        Ok(rows
            .iter()
            .map(|(seq, body)| {
                let seq = u64::try_from(*seq).unwrap_or(0);
                StoredRow::parse(body.as_bytes(), Some(seq), seq)
            })
            .collect())
    }

    async fn read_after(&self, seq: u64, limit: usize) -> Result<Vec<AuditEvent>, AuditError> {
        let (seq, limit) = (i64::try_from(seq).unwrap_or(i64::MAX), i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = self
            .db
            .call(move |conn| {
                let mut st = conn.prepare_cached("SELECT body FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
                let it = st.query_map(params![seq, limit], |r| r.get::<_, String>(0))?;
                it.collect::<rusqlite::Result<Vec<String>>>()
            })
            .await
            .map_err(AuditError)?;
        rows.iter().map(|b| serde_json::from_str(b).map_err(|e| AuditError(format!("an audit row is unreadable: {e}")))).collect()
    }
}
