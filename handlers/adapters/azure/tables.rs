//! The Store on Azure Table Storage over REST with Entra tokens (`x-ms-version` 2019-02-02).
//! Each flowgate table is a storage table (`flowgate<name>`); an entity keeps the partition and
//! row keys (characters Tables forbids are %-escaped, order kept for time-first keys) and the body
//! as JSON text, split over `Body`, `Body1`, ... properties of under 64 KiB each. Every change of
//! state is conditional: `If-Match` with the ETag read (412 is a lost race), insert-only POSTs
//! (409 is a conflict). Partitions are chosen by the flows so each job's hot rows sit together.

use std::collections::HashSet;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::storage::{error_code, SendVia, Storage, TABLE_VERSION};
use crate::ports::{ETag, Entity, RowRange, Store, StoreError, Table};

/// Characters of JSON text per property (a string property holds at most 64 KiB of UTF-16).
const CHUNK_CHARS: usize = 30_000;
/// Properties `Body`, `Body1`, ...: 1 MiB per entity in all.
const MAX_CHUNKS: usize = 15;

pub struct TableStore {
    storage: Storage,
    created: Mutex<HashSet<String>>,
    /// What every table name starts with (`flowgate`).
    prefix: String,
}

/// Escapes what keys may not hold (`/ \ # ?`, control characters) and `%` itself.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if matches!(c, '/' | '\\' | '#' | '?' | '%') || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn decode_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn table_name(prefix: &str, t: Table) -> String {
    format!("{prefix}{}", t.0.chars().filter(char::is_ascii_alphanumeric).collect::<String>())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn entity_json(partition: &str, row: &str, body: &Value) -> Result<Value, StoreError> {
    let text = body.to_string();
    let chars: Vec<char> = text.chars().collect();
    let chunks: Vec<String> = chars.chunks(CHUNK_CHARS).map(|c| c.iter().collect()).collect();
    if chunks.len() > MAX_CHUNKS {
        return Err(StoreError::Unavailable(format!(
            "entity {partition}/{row} is larger than a table entity may be ({} characters)",
            text.len()
        )));
    }
    let mut m = Map::new();
    m.insert("PartitionKey".into(), json!(encode_key(partition)));
    m.insert("RowKey".into(), json!(encode_key(row)));
    for (i, c) in chunks.into_iter().enumerate() {
        m.insert(if i == 0 { "Body".into() } else { format!("Body{i}") }, json!(c));
    }
    if text.is_empty() {
        m.insert("Body".into(), json!(""));
    }
    Ok(Value::Object(m))
}

fn body_of(v: &Value) -> Result<Value, String> {
    let mut text = v.get("Body").and_then(Value::as_str).unwrap_or_default().to_string();
    for i in 1..MAX_CHUNKS {
        match v.get(format!("Body{i}")).and_then(Value::as_str) {
            Some(c) => text.push_str(c),
            None => break,
        }
    }
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

impl TableStore {
    pub fn new(storage: Storage) -> Self {
        Self::with_prefix(storage, "flowgate")
    }

    /// Tables named `<prefix><table>` (letters and digits; a store of its own in a shared account).
    pub fn with_prefix(storage: Storage, prefix: &str) -> Self {
        let prefix: String = prefix.chars().filter(char::is_ascii_alphanumeric).collect();
        Self { storage, created: Mutex::new(HashSet::new()), prefix }
    }

    async fn req(&self, method: Method, url: &str) -> Result<reqwest::RequestBuilder, StoreError> {
        Ok(self
            .storage
            .request(method, url, TABLE_VERSION)
            .await
            .map_err(|e| unavailable(format!("no storage token: {e}")))?
            .header("accept", "application/json;odata=minimalmetadata")
            .header("dataserviceversion", "3.0"))
    }

    /// Creates the table on first use (idempotent).
    async fn table(&self, t: Table) -> Result<String, StoreError> {
        let name = table_name(&self.prefix, t);
        let mut created = self.created.lock().await;
        if !created.contains(&name) {
            let url = format!("{}/Tables", self.storage.endpoint);
            let r = self
                .req(Method::POST, &url)
                .await?
                .header("prefer", "return-no-content")
                .json(&json!({ "TableName": name }))
                .sent(&self.storage)
                .await
                .map_err(unavailable)?;
            match r.status() {
                StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::CONFLICT => {}
                _ => return Err(unavailable(format!("creating table {name}: {}", error_code(&r)))),
            }
            created.insert(name.clone());
        }
        Ok(name)
    }

    fn entity_url(&self, table: &str, partition: &str, row: &str) -> String {
        let key = |k: &str| urlencoding(&quote(&encode_key(k)));
        format!("{}/{table}(PartitionKey={},RowKey={})", self.storage.endpoint, key(partition), key(row))
    }

    fn etag_of(r: &reqwest::Response) -> ETag {
        ETag(r.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string())
    }

    async fn write(
        &self,
        method: Method,
        t: Table,
        partition: &str,
        row: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ETag, StoreError> {
        let name = self.table(t).await?;
        let id = format!("{partition}/{row}");
        let entity = entity_json(partition, row, body)?;
        let (url, method) = match method {
            Method::POST => (format!("{}/{name}", self.storage.endpoint), Method::POST),
            m => (self.entity_url(&name, partition, row), m),
        };
        let mut req = self.req(method, &url).await?.header("prefer", "return-no-content").json(&entity);
        if let Some(m) = if_match {
            req = req.header("if-match", m);
        }
        let r = req.sent(&self.storage).await.map_err(unavailable)?;
        match r.status() {
            StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => Ok(Self::etag_of(&r)),
            StatusCode::CONFLICT => Err(StoreError::Conflict(id)),
            StatusCode::PRECONDITION_FAILED => Err(StoreError::PreconditionFailed(id)),
            StatusCode::NOT_FOUND => Err(StoreError::NotFound(id)),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => Err(unavailable(format!("{id}: {}", error_code(&r)))),
            _ => Err(unavailable(format!("{id}: refused: {}", error_code(&r)))),
        }
    }
}

/// Percent-encodes a path segment (the key literal inside `(...)`).
fn urlencoding(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~'=,:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait]
impl Store for TableStore {
    async fn get(&self, t: Table, partition: &str, row: &str) -> Result<Option<Entity>, StoreError> {
        let name = self.table(t).await?;
        let r = self.req(Method::GET, &self.entity_url(&name, partition, row)).await?.sent(&self.storage).await.map_err(unavailable)?;
        match r.status() {
            StatusCode::OK => {
                let etag = Self::etag_of(&r);
                let v: Value = r.json().await.map_err(unavailable)?;
                let body = body_of(&v).map_err(|e| StoreError::Corrupt(format!("{partition}/{row}"), e))?;
                Ok(Some(Entity { partition: partition.to_string(), row: row.to_string(), etag, body }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(unavailable(format!("{partition}/{row}: {}", error_code(&r)))),
        }
    }

    async fn insert(&self, t: Table, partition: &str, row: &str, body: &Value) -> Result<ETag, StoreError> {
        self.write(Method::POST, t, partition, row, body, None).await
    }

    async fn replace(&self, t: Table, partition: &str, row: &str, body: &Value, etag: &ETag) -> Result<ETag, StoreError> {
        self.write(Method::PUT, t, partition, row, body, Some(&etag.0)).await
    }

    async fn upsert(&self, t: Table, partition: &str, row: &str, body: &Value) -> Result<ETag, StoreError> {
        self.write(Method::PUT, t, partition, row, body, None).await
    }

    async fn delete(&self, t: Table, partition: &str, row: &str, etag: Option<&ETag>) -> Result<(), StoreError> {
        let name = self.table(t).await?;
        let id = format!("{partition}/{row}");
        let r = self
            .req(Method::DELETE, &self.entity_url(&name, partition, row))
            .await?
            .header("if-match", etag.map_or("*", |e| e.0.as_str()))
            .sent(&self.storage)
            .await
            .map_err(unavailable)?;
        match r.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => Err(StoreError::NotFound(id)),
            StatusCode::PRECONDITION_FAILED => Err(StoreError::PreconditionFailed(id)),
            _ => Err(unavailable(format!("{id}: {}", error_code(&r)))),
        }
    }

    async fn query(&self, t: Table, partition: Option<&str>, rows: RowRange, limit: usize) -> Result<Vec<Entity>, StoreError> {
        let name = self.table(t).await?;
        let mut filter = Vec::new();
        if let Some(p) = partition {
            filter.push(format!("PartitionKey eq {}", quote(&encode_key(p))));
        }
        if let Some(f) = &rows.from {
            filter.push(format!("RowKey ge {}", quote(&encode_key(f))));
        }
        if let Some(to) = &rows.to {
            filter.push(format!("RowKey lt {}", quote(&encode_key(to))));
        }
        self.fetch(&name, filter.join(" and "), limit).await
    }

    async fn page(&self, t: Table, after: Option<(&str, &str)>, limit: usize) -> Result<Vec<Entity>, StoreError> {
        let name = self.table(t).await?;
        let filter = after
            .map(|(p, r)| {
                let (p, r) = (quote(&encode_key(p)), quote(&encode_key(r)));
                format!("(PartitionKey gt {p}) or (PartitionKey eq {p} and RowKey gt {r})")
            })
            .unwrap_or_default();
        self.fetch(&name, filter, limit).await
    }
}

impl TableStore {
    /// Up to `limit` entities matching `filter` (empty: all), following continuation tokens.
    async fn fetch(&self, name: &str, filter: String, limit: usize) -> Result<Vec<Entity>, StoreError> {
        let mut out = Vec::new();
        let mut next: Option<(String, String)> = None;
        loop {
            let mut q: Vec<(String, String)> = Vec::new();
            if !filter.is_empty() {
                q.push(("$filter".into(), filter.clone()));
            }
            q.push(("$top".into(), limit.saturating_sub(out.len()).clamp(1, 1000).to_string()));
            if let Some((np, nr)) = &next {
                q.push(("NextPartitionKey".into(), np.clone()));
                q.push(("NextRowKey".into(), nr.clone()));
            }
            let r = self
                .req(Method::GET, &format!("{}/{name}()", self.storage.endpoint))
                .await?
                .query(&q)
                .sent(&self.storage)
                .await
                .map_err(unavailable)?;
            if !r.status().is_success() {
                return Err(unavailable(format!("querying {name}: {}", error_code(&r))));
            }
            let header = |k: &str| r.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
            next = header("x-ms-continuation-nextpartitionkey").map(|p| (p, header("x-ms-continuation-nextrowkey").unwrap_or_default()));
            let v: Value = r.json().await.map_err(unavailable)?;
            for e in v.get("value").and_then(Value::as_array).into_iter().flatten() {
                let (p, rk) = (e["PartitionKey"].as_str().unwrap_or_default(), e["RowKey"].as_str().unwrap_or_default());
                let body = body_of(e).map_err(|err| StoreError::Corrupt(format!("{p}/{rk}"), err))?;
                let etag = ETag(e["odata.etag"].as_str().unwrap_or_default().to_string());
                out.push(Entity { partition: decode_key(p), row: decode_key(rk), etag, body });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            if next.is_none() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_keep_time_order() {
        for k in ["plain", "2026-11-27T09:00:00.000Z|claims/urgent/a.jsonl", "50% off?#\\", "tab\there"] {
            let e = encode_key(k);
            assert!(!e.contains(['/', '\\', '#', '?']) && !e.chars().any(char::is_control), "{e}");
            assert_eq!(decode_key(&e), k);
        }
        assert!(encode_key("2026-11-27T09:00:00.000Z|a/b") < encode_key("2026-11-27T10:00:00.000Z|a"));
        assert_eq!(table_name("flowgate", Table::CONTRACT_RESULTS), "flowgatecontractresults");
    }

    #[test]
    fn large_bodies_split_and_join() {
        let body = json!({ "big": "é".repeat(70_000) });
        let e = entity_json("p", "r", &body).unwrap();
        assert!(e.get("Body2").is_some());
        assert_eq!(body_of(&e).unwrap(), body);
        assert!(entity_json("p", "r", &json!({ "huge": "x".repeat(600_000) })).is_err());
    }
}
