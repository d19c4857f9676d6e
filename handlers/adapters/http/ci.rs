//! Posting decisions to CI systems: Azure Pipelines' events API (the job's own token, never
//! logged or kept), and GitHub as a GitHub App whose private key stays in Key Vault (the app JWT
//! is signed with Key Vault's `sign` operation, then exchanged for an installation token).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::adapters::azure::identity::CachedTokens;
use crate::ports::{CallbackError, GitHubApi, PipelineEvents, TokenSource};

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("flowgate/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

fn failed(what: &str, status: u16, body: &str) -> CallbackError {
    CallbackError {
        message: format!("{what} answered HTTP {status}: {}", body.chars().take(300).collect::<String>()),
        retryable: status == 408 || status == 429 || status >= 500,
    }
}

fn unreachable(what: &str, e: reqwest::Error) -> CallbackError {
    CallbackError { message: format!("{what} unreachable: {}", e.without_url()), retryable: true }
}

/// Azure Pipelines' events API. Its client (with its TLS roots) is built on first use: most
/// deployments never answer a pipeline check, and an idle handler should stay small.
#[derive(Default)]
pub struct AzureDevOps {
    client: std::sync::OnceLock<reqwest::Client>,
}

impl AzureDevOps {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl PipelineEvents for AzureDevOps {
    async fn post_event(&self, events_url: &str, auth_token: &str, event: &Value) -> Result<(), CallbackError> {
        let client = match self.client.get() {
            Some(c) => c,
            None => {
                let c = client().map_err(|message| CallbackError { message, retryable: false })?;
                self.client.get_or_init(|| c)
            }
        };
        let r = client.post(events_url).bearer_auth(auth_token).json(event).send().await.map_err(|e| unreachable("the events API", e))?;
        let status = r.status().as_u16();
        if r.status().is_success() {
            return Ok(());
        }
        Err(failed("the events API", status, &r.text().await.unwrap_or_default()))
    }
}

/// Where the GitHub App's settings come from.
#[derive(Debug, Clone)]
pub struct GitHubAppSettings {
    /// `FLOWGATE_GITHUB_APP_ID`.
    pub app_id: String,
    /// `FLOWGATE_GITHUB_APP_KEY_URL`: the Key Vault key that signs the app's JWTs
    /// (`https://<vault>.vault.azure.net/keys/<name>[/<version>]`).
    pub key_url: String,
    /// `FLOWGATE_GITHUB_WEBHOOK_SECRET_URL` (a Key Vault secret) or, on a laptop,
    /// `FLOWGATE_GITHUB_WEBHOOK_SECRET_FILE`.
    pub secret: Secret,
    /// `FLOWGATE_GITHUB_API` (default `https://api.github.com`).
    pub api: String,
}

#[derive(Debug, Clone)]
pub enum Secret {
    KeyVault(String),
    File(std::path::PathBuf),
}

pub struct GitHubApp {
    client: reqwest::Client,
    settings: GitHubAppSettings,
    tokens: Arc<CachedTokens>,
    secret: Mutex<Option<Vec<u8>>>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn vault_url_ok(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://127.0.0.1:")
}

impl GitHubApp {
    pub fn new(settings: GitHubAppSettings, tokens: Arc<CachedTokens>) -> Result<Self, String> {
        if !vault_url_ok(&settings.key_url) || !settings.key_url.contains("/keys/") {
            return Err(format!("`{}` is not a Key Vault key identifier (https://<vault>.vault.azure.net/keys/<name>)", settings.key_url));
        }
        Ok(Self { client: client()?, settings, tokens, secret: Mutex::new(None) })
    }

    async fn vault_token(&self) -> Result<String, CallbackError> {
        self.tokens
            .token("https://vault.azure.net")
            .await
            .map(|t| t.secret().to_string())
            .map_err(|e| CallbackError { message: format!("no token for Key Vault: {e}"), retryable: e.retryable })
    }

    /// The app's JWT (RS256), signed by Key Vault.
    async fn app_jwt(&self) -> Result<String, CallbackError> {
        let now = chrono::Utc::now().timestamp();
        let header = b64(json!({ "alg": "RS256", "typ": "JWT" }).to_string().as_bytes());
        let claims = b64(json!({ "iat": now - 60, "exp": now + 540, "iss": self.settings.app_id }).to_string().as_bytes());
        let signing_input = format!("{header}.{claims}");
        let digest = Sha256::digest(signing_input.as_bytes());
        let url = format!("{}/sign?api-version=7.4", self.settings.key_url.trim_end_matches('/'));
        let r = self
            .client
            .post(&url)
            .bearer_auth(self.vault_token().await?)
            .json(&json!({ "alg": "RS256", "value": b64(&digest) }))
            .send()
            .await
            .map_err(|e| unreachable("Key Vault", e))?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(failed("Key Vault sign", status, &body.to_string()));
        }
        let sig = body
            .get("value")
            .and_then(Value::as_str)
            .ok_or(CallbackError { message: "Key Vault sign answered no `value`".into(), retryable: false })?;
        Ok(format!("{signing_input}.{sig}"))
    }

    async fn installation_token(&self, installation: u64) -> Result<String, CallbackError> {
        let jwt = self.app_jwt().await?;
        let url = format!("{}/app/installations/{installation}/access_tokens", self.settings.api.trim_end_matches('/'));
        let r = self
            .client
            .post(&url)
            .bearer_auth(jwt)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .send()
            .await
            .map_err(|e| unreachable("GitHub", e))?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(failed("GitHub (installation token)", status, &body.to_string()));
        }
        body.get("token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or(CallbackError { message: "GitHub answered no installation token".into(), retryable: false })
    }
}

#[async_trait]
impl GitHubApi for GitHubApp {
    async fn webhook_secret(&self) -> Result<Vec<u8>, CallbackError> {
        let mut cached = self.secret.lock().await;
        if let Some(s) = cached.as_ref() {
            return Ok(s.clone());
        }
        let secret = match &self.settings.secret {
            Secret::File(p) => std::fs::read_to_string(p).map(|s| s.trim().as_bytes().to_vec()).map_err(|e| CallbackError {
                message: format!("FLOWGATE_GITHUB_WEBHOOK_SECRET_FILE {}: {e}", p.display()),
                retryable: false,
            })?,
            Secret::KeyVault(url) => crate::adapters::azure::keyvault::read_secret(url, &self.tokens)
                .await
                .map_err(|e| CallbackError { message: format!("FLOWGATE_GITHUB_WEBHOOK_SECRET_URL: {e}"), retryable: true })?
                .into_bytes(),
        };
        *cached = Some(secret.clone());
        Ok(secret)
    }

    async fn review(&self, installation: u64, callback_url: &str, review: &Value) -> Result<(), CallbackError> {
        let token = self.installation_token(installation).await?;
        let r = self
            .client
            .post(callback_url)
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .json(review)
            .send()
            .await
            .map_err(|e| unreachable("GitHub", e))?;
        let status = r.status().as_u16();
        if r.status().is_success() {
            return Ok(());
        }
        Err(failed("GitHub (review)", status, &r.text().await.unwrap_or_default()))
    }
}
