//! Tokens without secrets: the App Service / Functions managed identity endpoint
//! (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, user-assigned by client id), the VM metadata service
//! (IMDS), the Azure CLI on a laptop, or a static token for tests. Tokens are cached per resource,
//! refreshed five minutes before they expire, with one refresh in flight per resource.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::ports::{AccessToken, TokenError, TokenSource};

fn retryable(message: String) -> TokenError {
    TokenError { message, retryable: true }
}

fn permanent(message: String) -> TokenError {
    TokenError { message, retryable: false }
}
use serde_json::Value;
use tokio::sync::Mutex;

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap_or_default()
}

/// `expires_on` as Unix seconds, given as a number or a string.
fn expires_on(v: &Value) -> Option<DateTime<Utc>> {
    let secs = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }?;
    DateTime::from_timestamp(secs, 0)
}

async fn fetch(req: reqwest::RequestBuilder, what: &str) -> Result<Value, TokenError> {
    let r = req.send().await.map_err(|e| retryable(format!("{what} unreachable: {}", e.without_url())))?;
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    if status.is_success() {
        return serde_json::from_str(&body).map_err(|e| permanent(format!("{what} answered with a body that is not JSON: {e}")));
    }
    let excerpt: String = body.chars().take(300).collect();
    let msg = format!("{what} answered HTTP {}: {excerpt}", status.as_u16());
    if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 404 || status.as_u16() == 410 {
        Err(retryable(msg))
    } else {
        Err(permanent(msg))
    }
}

fn token_from(v: &Value, what: &str) -> Result<AccessToken, TokenError> {
    let secret =
        v.get("access_token").and_then(Value::as_str).ok_or_else(|| permanent(format!("{what}: no access_token in the answer")))?;
    let expires = v
        .get("expires_on")
        .and_then(expires_on)
        .or_else(|| {
            v.get("expires_in")
                .and_then(|e| e.as_i64().or_else(|| e.as_str()?.parse().ok()))
                .map(|s| Utc::now() + chrono::Duration::seconds(s))
        })
        .ok_or_else(|| permanent(format!("{what}: no expires_on in the answer")))?;
    Ok(AccessToken::new(secret, expires))
}

/// The App Service / Functions managed identity endpoint (API version 2019-08-01).
pub struct AppServiceIdentity {
    endpoint: String,
    header: String,
    client_id: Option<String>,
    http: reqwest::Client,
}

impl AppServiceIdentity {
    pub fn new(endpoint: String, header: String, client_id: Option<String>) -> Self {
        Self { endpoint, header, client_id, http: client() }
    }
}

#[async_trait]
impl TokenSource for AppServiceIdentity {
    async fn token(&self, resource: &str) -> Result<AccessToken, TokenError> {
        let mut query = vec![("resource", resource.to_string()), ("api-version", "2019-08-01".to_string())];
        if let Some(id) = &self.client_id {
            query.push(("client_id", id.clone()));
        }
        let v =
            fetch(self.http.get(&self.endpoint).query(&query).header("X-IDENTITY-HEADER", &self.header), "the managed identity endpoint")
                .await?;
        token_from(&v, "the managed identity endpoint")
    }
}

/// The VM instance metadata service (API version 2018-02-01).
pub struct ImdsIdentity {
    base: String,
    client_id: Option<String>,
    http: reqwest::Client,
}

impl ImdsIdentity {
    pub fn new(base: Option<String>, client_id: Option<String>) -> Self {
        Self { base: base.unwrap_or_else(|| "http://169.254.169.254".into()), client_id, http: client() }
    }
}

#[async_trait]
impl TokenSource for ImdsIdentity {
    async fn token(&self, resource: &str) -> Result<AccessToken, TokenError> {
        let mut query = vec![("resource", resource.to_string()), ("api-version", "2018-02-01".to_string())];
        if let Some(id) = &self.client_id {
            query.push(("client_id", id.clone()));
        }
        let url = format!("{}/metadata/identity/oauth2/token", self.base.trim_end_matches('/'));
        let v = fetch(self.http.get(url).query(&query).header("Metadata", "true"), "IMDS").await?;
        token_from(&v, "IMDS")
    }
}

/// The Azure CLI's signed-in account (a laptop).
pub struct AzureCliIdentity {
    pub program: String,
}

#[async_trait]
impl TokenSource for AzureCliIdentity {
    async fn token(&self, resource: &str) -> Result<AccessToken, TokenError> {
        let out = tokio::process::Command::new(&self.program)
            .args(["account", "get-access-token", "--resource", resource, "-o", "json"])
            .output()
            .await
            .map_err(|e| permanent(format!("cannot run `{} account get-access-token`: {e}", self.program)))?;
        if !out.status.success() {
            let err: String = String::from_utf8_lossy(&out.stderr).chars().take(300).collect();
            return Err(permanent(format!("`az account get-access-token` failed (is `az login` done?): {err}")));
        }
        let v: Value =
            serde_json::from_slice(&out.stdout).map_err(|e| permanent(format!("`az` printed something that is not JSON: {e}")))?;
        let secret = v.get("accessToken").and_then(Value::as_str).ok_or_else(|| permanent("`az` printed no accessToken".into()))?;
        let expires = v
            .get("expires_on")
            .and_then(expires_on)
            .ok_or_else(|| permanent("`az` printed no expires_on (Azure CLI 2.54 or later needed)".into()))?;
        Ok(AccessToken::new(secret, expires))
    }
}

/// A fixed token (tests and emulators).
pub struct StaticToken(pub AccessToken);

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self, _resource: &str) -> Result<AccessToken, TokenError> {
        Ok(self.0.clone())
    }
}

/// Caches another source per resource; refreshes five minutes before expiry; one refresh in
/// flight per resource (callers wait for it rather than all asking at once).
pub struct CachedTokens {
    inner: Arc<dyn TokenSource>,
    slots: std::sync::Mutex<HashMap<String, Arc<Mutex<Option<AccessToken>>>>>,
    margin: chrono::Duration,
}

impl CachedTokens {
    pub fn new(inner: Arc<dyn TokenSource>) -> Self {
        Self { inner, slots: Default::default(), margin: chrono::Duration::minutes(5) }
    }

    fn slot(&self, resource: &str) -> Arc<Mutex<Option<AccessToken>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).entry(resource.to_string()).or_default().clone()
    }

    /// Drops a cached token (after the service said it is no longer valid).
    pub async fn invalidate(&self, resource: &str) {
        *self.slot(resource).lock().await = None;
    }
}

#[async_trait]
impl TokenSource for CachedTokens {
    async fn token(&self, resource: &str) -> Result<AccessToken, TokenError> {
        let slot = self.slot(resource);
        let mut cached = slot.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.expires_at - self.margin > Utc::now()) {
            return Ok(t.clone());
        }
        let fresh = self.inner.token(resource).await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

/// The source this environment offers (wrap it in [`CachedTokens`]): the Functions managed identity
/// when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set (user-assigned when `AZURE_CLIENT_ID`
/// is), else the Azure CLI when `FLOWGATE_TOKEN_SOURCE=cli`, else IMDS.
pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Arc<dyn TokenSource> {
    let client_id = var("AZURE_CLIENT_ID").filter(|v| !v.is_empty());
    let source: Arc<dyn TokenSource> = match (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
        (Some(e), Some(h)) if !e.is_empty() && !h.is_empty() => Arc::new(AppServiceIdentity::new(e, h, client_id)),
        _ if var("FLOWGATE_TOKEN_SOURCE").as_deref() == Some("cli") => Arc::new(AzureCliIdentity { program: "az".into() }),
        _ => Arc::new(ImdsIdentity::new(None, client_id)),
    };
    source
}

/// The Entra resource a Foundry endpoint's token is for, by its host; `None` for hosts that take
/// no token (a local `pf flow serve`, the demo).
pub fn resource_for(endpoint: &str) -> Option<&'static str> {
    let host = endpoint.split_once("://").map(|(_, r)| r).unwrap_or(endpoint).split(['/', ':', '?']).next().unwrap_or("");
    if host.ends_with(".inference.ml.azure.com") || host.ends_with(".api.azureml.ms") {
        Some("https://ml.azure.com")
    } else if host == "management.azure.com" {
        Some("https://management.azure.com")
    } else if host.ends_with(".services.ai.azure.com") {
        Some("https://ai.azure.com")
    } else if host.ends_with(".openai.azure.com") || host.ends_with(".cognitiveservices.azure.com") {
        Some("https://cognitiveservices.azure.com")
    } else {
        None
    }
}
