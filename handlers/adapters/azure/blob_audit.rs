//! The audit trail's record of truth in Azure: append blobs, one per UTC day (`<day>.jsonl`, a
//! JSON line per event), in a container the Bicep makes immutable with protected append writes.
//! Every append carries `x-ms-blob-condition-appendpos`: a writer that lost a race (412) reads what
//! the others appended, chains after it, and tries again, so several instances keep one linear
//! chain across days.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;

use super::storage::{error_code, SendVia, Storage, BLOB_VERSION};
use crate::domain::audit::{AuditDraft, AuditEvent, StoredRow, GENESIS};
use crate::ports::{AuditError, AuditSink};

/// How far back the last event is looked for in a day's blob (events are far smaller).
const TAIL_BYTES: u64 = 256 * 1024;
/// Attempts at one append before giving up (each lost race means someone else progressed).
const MAX_RACES: usize = 200;

/// Where this writer believes the chain ends.
#[derive(Debug, Clone)]
struct Tail {
    day: Option<NaiveDate>,
    /// The day blob's length.
    offset: u64,
    seq: u64,
    hash: String,
}

pub struct AppendBlobAudit {
    storage: Storage,
    container: String,
    tail: Mutex<Option<Tail>>,
}

fn err(what: &str, e: impl std::fmt::Display) -> AuditError {
    AuditError(format!("{what}: {e}"))
}

impl AppendBlobAudit {
    pub fn new(storage: Storage, container: &str) -> Self {
        Self { storage, container: container.to_string(), tail: Mutex::new(None) }
    }

    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }

    fn url(&self, day: NaiveDate) -> String {
        format!("{}/{}/{}.jsonl", self.storage.endpoint, self.container, day.format("%Y-%m-%d"))
    }

    async fn send(&self, method: Method, url: &str) -> Result<reqwest::RequestBuilder, AuditError> {
        self.storage.request(method, url, BLOB_VERSION).await.map_err(|e| err("no storage token", e))
    }

    /// Creates the container if it is missing (the Bicep creates it in Azure).
    pub async fn ensure_container(&self) -> Result<(), AuditError> {
        let url = format!("{}/{}?restype=container", self.storage.endpoint, self.container);
        let r = self
            .send(Method::PUT, &url)
            .await?
            .header("content-length", "0")
            .sent(&self.storage)
            .await
            .map_err(|e| err("storage unreachable", e))?;
        match r.status() {
            StatusCode::CREATED | StatusCode::CONFLICT => Ok(()),
            _ => Err(err("creating the audit container", error_code(&r))),
        }
    }

    /// The day blobs, oldest first.
    async fn days(&self) -> Result<Vec<NaiveDate>, AuditError> {
        let mut days = Vec::new();
        let mut marker = String::new();
        loop {
            let url = format!("{}/{}?restype=container&comp=list&marker={marker}", self.storage.endpoint, self.container);
            let r = self.send(Method::GET, &url).await?.sent(&self.storage).await.map_err(|e| err("storage unreachable", e))?;
            if !r.status().is_success() {
                return Err(err("listing the audit blobs", error_code(&r)));
            }
            let xml = r.text().await.map_err(|e| err("listing the audit blobs", e))?;
            for name in xml.split("<Name>").skip(1).filter_map(|s| s.split("</Name>").next()) {
                if let Some(d) = name.strip_suffix(".jsonl").and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
                    days.push(d);
                }
            }
            match xml.split("<NextMarker>").nth(1).and_then(|s| s.split("</NextMarker>").next()).filter(|m| !m.is_empty()) {
                Some(m) => marker = m.to_string(),
                None => break,
            }
        }
        days.sort();
        Ok(days)
    }

    /// `bytes=from-` of a day blob, and its total length.
    async fn read_from(&self, day: NaiveDate, from: u64) -> Result<(Vec<u8>, u64), AuditError> {
        let r = self
            .send(Method::GET, &self.url(day))
            .await?
            .header("x-ms-range", format!("bytes={from}-"))
            .sent(&self.storage)
            .await
            .map_err(|e| err("storage unreachable", e))?;
        match r.status() {
            StatusCode::OK | StatusCode::PARTIAL_CONTENT => {
                let total = r
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.rsplit('/').next())
                    .and_then(|v| v.parse().ok());
                let bytes = r.bytes().await.map_err(|e| err("reading the audit blob", e))?.to_vec();
                let total = total.unwrap_or(from + bytes.len() as u64);
                Ok((bytes, total))
            }
            // Nothing past the end.
            StatusCode::RANGE_NOT_SATISFIABLE => Ok((Vec::new(), from)),
            _ => Err(err("reading the audit blob", error_code(&r))),
        }
    }

    async fn length(&self, day: NaiveDate) -> Result<Option<u64>, AuditError> {
        let r = self.send(Method::HEAD, &self.url(day)).await?.sent(&self.storage).await.map_err(|e| err("storage unreachable", e))?;
        match r.status() {
            StatusCode::OK => Ok(r.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(err("reading the audit blob's length", error_code(&r))),
        }
    }

    /// The last complete event in `bytes`.
    fn last_event(bytes: &[u8]) -> Option<AuditEvent> {
        bytes.split(|b| *b == b'\n').rev().filter(|l| !l.is_empty()).find_map(|l| serde_json::from_slice(l).ok())
    }

    /// Finds where the chain ends: the last event of the newest non-empty day blob.
    async fn load_tail(&self) -> Result<Tail, AuditError> {
        let days = self.days().await?;
        let newest = days.last().copied();
        for day in days.iter().rev() {
            let Some(len) = self.length(*day).await? else { continue };
            if len == 0 {
                continue;
            }
            let (bytes, total) = self.read_from(*day, len.saturating_sub(TAIL_BYTES)).await?;
            let last = Self::last_event(&bytes).ok_or_else(|| AuditError(format!("audit blob {day} ends without a readable event")))?;
            let offset = if Some(*day) == newest { total } else { self.length(newest.unwrap_or(*day)).await?.unwrap_or(0) };
            return Ok(Tail { day: newest, offset, seq: last.seq, hash: last.hash });
        }
        Ok(Tail { day: newest, offset: 0, seq: 0, hash: GENESIS.to_string() })
    }

    /// Starts the blob of `day` (idempotent: another writer may have).
    async fn create_day(&self, day: NaiveDate) -> Result<u64, AuditError> {
        let r = self
            .send(Method::PUT, &self.url(day))
            .await?
            .header("x-ms-blob-type", "AppendBlob")
            .header("if-none-match", "*")
            .header("content-length", "0")
            .sent(&self.storage)
            .await
            .map_err(|e| err("storage unreachable", e))?;
        match r.status() {
            StatusCode::CREATED => Ok(0),
            StatusCode::CONFLICT => Ok(self.length(day).await?.unwrap_or(0)),
            _ => Err(err("creating the day's audit blob", error_code(&r))),
        }
    }

    /// Reads what others appended to the tail's blob since its offset.
    async fn catch_up(&self, tail: &mut Tail) -> Result<(), AuditError> {
        let Some(day) = tail.day else { return Ok(()) };
        let (bytes, total) = self.read_from(day, tail.offset).await?;
        if let Some(last) = Self::last_event(&bytes) {
            tail.seq = last.seq;
            tail.hash = last.hash;
        }
        tail.offset = total.max(tail.offset);
        Ok(())
    }
}

#[async_trait]
impl AuditSink for AppendBlobAudit {
    async fn append(&self, draft: AuditDraft) -> Result<AuditEvent, AuditError> {
        let mut guard = self.tail.lock().await;
        let mut tail = match guard.take() {
            Some(t) => t,
            None => self.load_tail().await?,
        };
        let draft_day = draft.at.date_naive();
        for _ in 0..MAX_RACES {
            // Days only move forward, so the blobs read in order are the chain in order.
            let day = tail.day.map_or(draft_day, |d| d.max(draft_day));
            if tail.day != Some(day) {
                let len = self.create_day(day).await?;
                tail.day = Some(day);
                tail.offset = 0;
                if len > 0 {
                    // Another writer started this day first: chain after what it wrote.
                    self.catch_up(&mut tail).await?;
                }
            }
            let event = AuditEvent::chain(draft.clone(), tail.seq + 1, &tail.hash);
            let mut line = serde_json::to_vec(&event).map_err(|e| err("serializing the event", e))?;
            line.push(b'\n');
            let len = line.len() as u64;
            let r = self
                .send(Method::PUT, &format!("{}?comp=appendblock", self.url(day)))
                .await?
                .header("x-ms-blob-condition-appendpos", tail.offset.to_string())
                .header("content-length", len.to_string())
                .body(line)
                .sent(&self.storage)
                .await
                .map_err(|e| err("storage unreachable", e))?;
            match r.status() {
                StatusCode::CREATED => {
                    tail.offset += len;
                    tail.seq = event.seq;
                    tail.hash = event.hash.clone();
                    *guard = Some(tail);
                    return Ok(event);
                }
                StatusCode::PRECONDITION_FAILED => {
                    // Lost the race: someone appended at this position. Chain after them.
                    self.catch_up(&mut tail).await?;
                    // A writer may also have moved on to a later day.
                    if let Some(newest) = self.days().await?.last().copied().filter(|d| Some(*d) > tail.day) {
                        tail = self.load_tail().await?;
                        tail.day = Some(newest);
                    }
                }
                _ => {
                    let code = error_code(&r);
                    return Err(err("appending to the audit blob", code));
                }
            }
        }
        Err(AuditError(format!("the audit append lost {MAX_RACES} races in a row")))
    }

    async fn read_rows(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Vec<StoredRow>, AuditError> {
        let mut out: Vec<StoredRow> = Vec::new();
        // A day's blob holds events of that day or earlier: start at `from`'s day.
        for day in self.days().await?.into_iter().filter(|d| from.is_none_or(|f| *d >= f.date_naive())) {
            let (bytes, _) = self.read_from(day, 0).await?;
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                // A line that does not parse and names no seq stands where it is: after the last.
                let fallback = out.last().map_or(1, |r| r.seq + 1);
                let row = StoredRow::parse(line, None, fallback);
                let inside = match &row.event {
                    Ok(e) => from.is_none_or(|f| e.at >= f) && to.is_none_or(|t| e.at < t),
                    Err(_) => true,
                };
                if inside {
                    out.push(row);
                }
            }
        }
        out.sort_by_key(|r| r.seq);
        Ok(out)
    }
}
