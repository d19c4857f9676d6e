//! Lineage sinks over HTTP: an OpenLineage endpoint (Marquez and compatible: `POST
//! {base}/api/v1/lineage`, one event per request) and Microsoft Purview (Atlas v2 `POST
//! .../datamap/api/atlas/v2/entity/bulk`, a Process linking a finished run's inputs and outputs,
//! with an Entra token for `https://purview.azure.net`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::adapters::azure::identity::CachedTokens;
use crate::domain::lineage::atlas_entities;
use crate::ports::{LineageError, LineageSink, TokenSource};

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("flowgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

async fn post(client: &reqwest::Client, url: &str, body: &Value, bearer: Option<&str>) -> Result<(), LineageError> {
    let mut req = client.post(url).json(body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.map_err(|e| LineageError { message: format!("unreachable: {}", e.without_url()), retryable: true })?;
    let status = r.status();
    if status.is_success() {
        return Ok(());
    }
    let text = r.text().await.unwrap_or_default();
    Err(LineageError {
        message: format!("HTTP {}: {}", status.as_u16(), crate::domain::text::excerpt(&text, 512)),
        retryable: status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error(),
    })
}

/// An OpenLineage HTTP endpoint.
pub struct OpenLineageHttp {
    client: reqwest::Client,
    url: String,
}

impl OpenLineageHttp {
    /// `base` is the server's root (e.g. `http://marquez:5000`); events go to `/api/v1/lineage`.
    pub fn new(base: &str) -> Result<Self, String> {
        Ok(Self { client: client()?, url: format!("{}/api/v1/lineage", base.trim_end_matches('/')) })
    }
}

#[async_trait]
impl LineageSink for OpenLineageHttp {
    async fn emit(&self, events: &[Value]) -> Result<(), LineageError> {
        for e in events {
            post(&self.client, &self.url, e, None).await?;
        }
        Ok(())
    }
}

/// Microsoft Purview's data map.
pub struct PurviewLineage {
    client: reqwest::Client,
    url: String,
    /// The storage account's blob endpoint, to name datasets as Purview scans them.
    blob_endpoint: String,
    tokens: Arc<CachedTokens>,
}

impl PurviewLineage {
    /// `account` is the Purview account name (or a full `https://` endpoint, for tests).
    pub fn new(account: &str, blob_endpoint: &str, tokens: Arc<CachedTokens>) -> Result<Self, String> {
        let base = if account.starts_with("http://") || account.starts_with("https://") {
            account.trim_end_matches('/').to_string()
        } else {
            format!("https://{account}.purview.azure.com")
        };
        let url = format!("{base}/datamap/api/atlas/v2/entity/bulk?api-version=2023-09-01");
        Ok(Self { client: client()?, url, blob_endpoint: blob_endpoint.trim_end_matches('/').to_string(), tokens })
    }
}

#[async_trait]
impl LineageSink for PurviewLineage {
    async fn emit(&self, events: &[Value]) -> Result<(), LineageError> {
        // Purview keeps the finished run only: the process and its assets.
        let Some(end) = events.iter().rev().find(|e| e["eventType"] != "START") else { return Ok(()) };
        let blob_endpoint = self.blob_endpoint.clone();
        let body = atlas_entities(end, &move |_ns, name| format!("{blob_endpoint}/{name}"));
        let token = self
            .tokens
            .token("https://purview.azure.net")
            .await
            .map_err(|e| LineageError { message: format!("no token for Purview: {e}"), retryable: e.retryable })?;
        post(&self.client, &self.url, &body, Some(token.secret())).await
    }
}
