//! The Logs Ingestion API (Azure Monitor): `POST {endpoint}/dataCollectionRules/{dcr}/streams/
//! {stream}?api-version=2023-01-01` with a JSON array, gzip-compressed, and a token for
//! `https://monitor.azure.com` (the identity needs Monitoring Metrics Publisher on the rule).
//! 204 is success; 429 and 5xx are worth sending again (honouring `Retry-After`); 413 and other
//! 4xx are not.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::identity::CachedTokens;
use crate::ports::{AuditCopy, CopyError, FactSink, FactStream, TokenSource};

/// The most one call may carry, compressed or not.
pub const MAX_CALL_BYTES: usize = 1024 * 1024;

pub struct LogsIngestion {
    client: reqwest::Client,
    url: String,
    tokens: Option<Arc<CachedTokens>>,
}

impl LogsIngestion {
    /// `tokens` None sends no token (a local test endpoint).
    pub fn new(endpoint: &str, dcr_immutable_id: &str, stream: &str, tokens: Option<Arc<CachedTokens>>) -> Result<Self, String> {
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://127.0.0.1")) {
            return Err(format!("`{endpoint}` is not an https:// data collection endpoint"));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("flowgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let url =
            format!("{}/dataCollectionRules/{dcr_immutable_id}/streams/{stream}?api-version=2023-01-01", endpoint.trim_end_matches('/'));
        Ok(Self { client, url, tokens })
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::default());
    enc.write_all(bytes)?;
    enc.finish()
}

#[async_trait]
impl AuditCopy for LogsIngestion {
    async fn send(&self, rows: &[Value]) -> Result<(), CopyError> {
        let refuse = |message: String| CopyError { message, retryable: false, retry_after: None };
        let json = serde_json::to_vec(rows).map_err(|e| refuse(e.to_string()))?;
        if json.len() > MAX_CALL_BYTES {
            return Err(refuse(format!("a batch of {} bytes is over the 1 MB limit", json.len())));
        }
        let body = gzip(&json).map_err(|e| refuse(e.to_string()))?;
        let mut req = self.client.post(&self.url).header("content-type", "application/json").header("content-encoding", "gzip").body(body);
        if let Some(tokens) = &self.tokens {
            let t = tokens.token("https://monitor.azure.com").await.map_err(|e| CopyError {
                message: format!("no token for Azure Monitor: {e}"),
                retryable: e.retryable,
                retry_after: None,
            })?;
            req = req.bearer_auth(t.secret());
        }
        let r = req.send().await.map_err(|e| CopyError {
            message: format!("unreachable: {}", e.without_url()),
            retryable: true,
            retry_after: None,
        })?;
        let status = r.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let retry_after = crate::adapters::http::parse_retry_after(r.headers(), chrono::Utc::now());
        let code = r.headers().get("x-ms-error-code").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = r.text().await.unwrap_or_default();
        Err(CopyError {
            message: format!("HTTP {status} {code}: {}", crate::domain::text::excerpt(&text, 300)),
            retryable: status == 408 || status == 429 || status >= 500,
            retry_after,
        })
    }
}

/// The facts' three streams on one data collection rule.
pub struct LogsFacts {
    heartbeat: LogsIngestion,
    signals: LogsIngestion,
    runs: LogsIngestion,
}

impl LogsFacts {
    pub fn new(endpoint: &str, dcr_immutable_id: &str, tokens: Option<Arc<CachedTokens>>) -> Result<Self, String> {
        let stream = |name: &str| LogsIngestion::new(endpoint, dcr_immutable_id, name, tokens.clone());
        Ok(Self {
            heartbeat: stream("Custom-FlowgateHeartbeat_CL")?,
            signals: stream("Custom-FlowgateSignals_CL")?,
            runs: stream("Custom-FlowgateRuns_CL")?,
        })
    }
}

#[async_trait]
impl FactSink for LogsFacts {
    async fn send(&self, stream: FactStream, rows: &[Value]) -> Result<(), CopyError> {
        let target = match stream {
            FactStream::Heartbeat => &self.heartbeat,
            FactStream::Signals => &self.signals,
            FactStream::Runs => &self.runs,
        };
        AuditCopy::send(target, rows).await
    }
}
