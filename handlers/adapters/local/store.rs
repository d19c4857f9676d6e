//! The Store port on SQLite: one `entities` table keyed by (table, partition, row), an integer
//! version as the ETag, and every conditional write as a single statement or transaction.

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::Value;

use super::db::Db;
use crate::ports::{ETag, Entity, RowRange, Store, StoreError, Table};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entities (
  tbl TEXT NOT NULL, pk TEXT NOT NULL, rk TEXT NOT NULL,
  version INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (tbl, pk, rk)
) WITHOUT ROWID;";

/// SQLite-backed [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
}

fn unavailable(e: String) -> StoreError {
    StoreError::Unavailable(e)
}

fn name(t: Table, pk: &str, rk: &str) -> String {
    format!("{}({pk},{rk})", t.0)
}

fn etag(version: i64) -> ETag {
    ETag(format!("W/\"{version}\""))
}

fn version_of(e: &ETag) -> Option<i64> {
    e.0.strip_prefix("W/\"")?.strip_suffix('"')?.parse().ok()
}

enum Write {
    Insert,
    Upsert,
    Replace(ETag),
}

/// One write inside an open transaction. Returns the new version, or the error to report.
fn write_in(
    tx: &Transaction<'_>,
    t: Table,
    pk: &str,
    rk: &str,
    body: &Value,
    how: &Write,
) -> Result<Result<i64, StoreError>, rusqlite::Error> {
    let text = body.to_string();
    let current: Option<i64> = tx
        .prepare_cached("SELECT version FROM entities WHERE tbl=?1 AND pk=?2 AND rk=?3")?
        .query_row(params![t.0, pk, rk], |r| r.get(0))
        .optional()?;
    let next = match (how, current) {
        (Write::Insert, Some(_)) => return Ok(Err(StoreError::Conflict(name(t, pk, rk)))),
        (Write::Replace(_), None) => return Ok(Err(StoreError::NotFound(name(t, pk, rk)))),
        (Write::Replace(e), Some(v)) if version_of(e) != Some(v) => return Ok(Err(StoreError::PreconditionFailed(name(t, pk, rk)))),
        (_, Some(v)) => v + 1,
        (_, None) => 1,
    };
    tx.prepare_cached(
        "INSERT INTO entities (tbl, pk, rk, version, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tbl, pk, rk) DO UPDATE SET version = excluded.version, body = excluded.body",
    )?
    .execute(params![t.0, pk, rk, next, text])?;
    Ok(Ok(next))
}

impl SqliteStore {
    /// Opens or creates the store file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Db::open(path, SCHEMA).map(|db| Self { db }).map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))
    }

    async fn write(&self, t: Table, pk: &str, rk: &str, body: &Value, how: Write) -> Result<ETag, StoreError> {
        let (pk, rk, body) = (pk.to_string(), rk.to_string(), body.clone());
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let r = write_in(&tx, t, &pk, &rk, &body, &how)?;
                if r.is_ok() {
                    tx.commit()?;
                }
                Ok(r)
            })
            .await
            .map_err(unavailable)?
            .map(etag)
    }

    /// Inserts many new entities in one transaction (a bulk import, e.g. a benchmark's state); a
    /// key that exists already fails the whole import.
    pub async fn import(&self, t: Table, rows: Vec<(String, String, Value)>) -> Result<(), StoreError> {
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                {
                    let mut st = tx.prepare_cached("INSERT INTO entities (tbl, pk, rk, version, body) VALUES (?1, ?2, ?3, 1, ?4)")?;
                    for (pk, rk, body) in &rows {
                        st.execute(params![t.0, pk, rk, body.to_string()])?;
                    }
                }
                tx.commit()
            })
            .await
            .map_err(unavailable)
    }

    /// Synchronous read of a whole table (for the CLI's reports).
    pub fn scan_blocking(&self, t: Table) -> Result<Vec<Entity>, StoreError> {
        self.db
            .call_blocking(|conn| {
                let mut st = conn.prepare_cached("SELECT pk, rk, version, body FROM entities WHERE tbl=?1 ORDER BY pk, rk")?;
                let rows = st.query_map(params![t.0], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(unavailable)?
            .into_iter()
            .map(to_entity(t))
            .collect()
    }
}

fn to_entity(t: Table) -> impl Fn((String, String, i64, String)) -> Result<Entity, StoreError> {
    move |(pk, rk, v, body)| {
        let body = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(name(t, &pk, &rk), e.to_string()))?;
        Ok(Entity { partition: pk, row: rk, etag: etag(v), body })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, t: Table, pk: &str, rk: &str) -> Result<Option<Entity>, StoreError> {
        let (p, r) = (pk.to_string(), rk.to_string());
        let row = self
            .db
            .call(move |conn| {
                conn.prepare_cached("SELECT version, body FROM entities WHERE tbl=?1 AND pk=?2 AND rk=?3")?
                    .query_row(params![t.0, p, r], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))
                    .optional()
            })
            .await
            .map_err(unavailable)?;
        row.map(|(v, body)| to_entity(t)((pk.to_string(), rk.to_string(), v, body))).transpose()
    }

    async fn insert(&self, t: Table, pk: &str, rk: &str, body: &Value) -> Result<ETag, StoreError> {
        self.write(t, pk, rk, body, Write::Insert).await
    }

    async fn replace(&self, t: Table, pk: &str, rk: &str, body: &Value, e: &ETag) -> Result<ETag, StoreError> {
        self.write(t, pk, rk, body, Write::Replace(e.clone())).await
    }

    async fn upsert(&self, t: Table, pk: &str, rk: &str, body: &Value) -> Result<ETag, StoreError> {
        self.write(t, pk, rk, body, Write::Upsert).await
    }

    async fn delete(&self, t: Table, pk: &str, rk: &str, e: Option<&ETag>) -> Result<(), StoreError> {
        let (p, r, want) = (pk.to_string(), rk.to_string(), e.map(version_of));
        let n = name(t, pk, rk);
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let current: Option<i64> = tx
                    .prepare_cached("SELECT version FROM entities WHERE tbl=?1 AND pk=?2 AND rk=?3")?
                    .query_row(params![t.0, p, r], |x| x.get(0))
                    .optional()?;
                let result = match (current, want) {
                    (None, _) => Err(StoreError::NotFound(n)),
                    (Some(v), Some(w)) if w != Some(v) => Err(StoreError::PreconditionFailed(n)),
                    _ => {
                        tx.prepare_cached("DELETE FROM entities WHERE tbl=?1 AND pk=?2 AND rk=?3")?.execute(params![t.0, p, r])?;
                        Ok(())
                    }
                };
                tx.commit()?;
                Ok(result)
            })
            .await
            .map_err(unavailable)?
    }

    async fn query(&self, t: Table, pk: Option<&str>, rows: RowRange, limit: usize) -> Result<Vec<Entity>, StoreError> {
        let pk = pk.map(str::to_string);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Only the conditions that apply, so that SQLite uses the primary key's index.
        let mut sql = String::from("SELECT pk, rk, version, body FROM entities WHERE tbl = ?1");
        let mut args: Vec<String> = vec![t.0.to_string()];
        for (column, op, value) in [("pk", "=", pk), ("rk", ">=", rows.from), ("rk", "<", rows.to)] {
            if let Some(v) = value {
                args.push(v);
                sql.push_str(&format!(" AND {column} {op} ?{}", args.len()));
            }
        }
        sql.push_str(&format!(" ORDER BY pk, rk LIMIT {limit}"));
        let raw = self
            .db
            .call(move |conn| {
                let mut st = conn.prepare_cached(&sql)?;
                let it = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
                })?;
                it.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(unavailable)?;
        raw.into_iter().map(to_entity(t)).collect()
    }

    async fn page(&self, t: Table, after: Option<(&str, &str)>, limit: usize) -> Result<Vec<Entity>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = after.map(|(p, r)| (p.to_string(), r.to_string()));
        let table = t.0.to_string();
        let raw = self
            .db
            .call(move |conn| {
                let row = |r: &rusqlite::Row<'_>| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
                };
                match after {
                    None => {
                        let mut st =
                            conn.prepare_cached("SELECT pk, rk, version, body FROM entities WHERE tbl = ?1 ORDER BY pk, rk LIMIT ?2")?;
                        let it = st.query_map(rusqlite::params![table, limit], row)?;
                        it.collect::<rusqlite::Result<Vec<_>>>()
                    }
                    Some((p, r)) => {
                        let mut st = conn.prepare_cached(
                            "SELECT pk, rk, version, body FROM entities WHERE tbl = ?1 AND (pk > ?2 OR (pk = ?2 AND rk > ?3)) \
                             ORDER BY pk, rk LIMIT ?4",
                        )?;
                        let it = st.query_map(rusqlite::params![table, p, r, limit], row)?;
                        it.collect::<rusqlite::Result<Vec<_>>>()
                    }
                }
            })
            .await
            .map_err(unavailable)?;
        raw.into_iter().map(to_entity(t)).collect()
    }
}
