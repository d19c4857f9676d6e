//! What the Azure Storage adapters share: one HTTP client (trusting an extra CA when
//! `FLOWGATE_STORAGE_CA` names one, for an emulator or a private CA), the pinned `x-ms-version`s,
//! Entra tokens for `https://storage.azure.com`, reading the service's error code, and sending:
//! every request is counted by kind (`calls`), and one the service was too busy for (500, 503
//! `ServerBusy`, 429) or that never reached it or never came back (connection reset, timeout) is
//! sent again, up to four times in all, after the service's `Retry-After` or a short backoff. A
//! write sent again after its answer was lost meets the condition it was sent with (409 for an
//! insert, 412 for an `If-Match` or an append position), which the adapters already read as
//! "someone else did it" — and the reconciliation pass catches what that leaves behind.

use std::sync::Arc;
use std::time::Duration;

use crate::ports::TokenSource;

/// Blob service version (Azurite 3.35 accepts it; newer ones it refuses).
pub const BLOB_VERSION: &str = "2025-11-05";
/// Table service version (what the Azure SDKs send).
pub const TABLE_VERSION: &str = "2019-02-02";
const RESOURCE: &str = "https://storage.azure.com";
/// A storage request that takes longer is abandoned and sent again.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests in all for one call (the first and three more).
const ATTEMPTS: u32 = 4;
/// The longest wait between two of them, whatever `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// A storage endpoint (blob or table) with its client and token source.
#[derive(Clone)]
pub struct Storage {
    pub client: reqwest::Client,
    /// `https://<account>.blob.core.windows.net` (or an emulator's `https://127.0.0.1:port/<account>`).
    pub endpoint: String,
    tokens: Arc<dyn TokenSource>,
}

impl Storage {
    /// `extra_ca_pem`: a PEM certificate to trust besides the public roots.
    pub fn new(endpoint: &str, tokens: Arc<dyn TokenSource>, extra_ca_pem: Option<&[u8]>) -> Result<Self, String> {
        Self::with_timeout(endpoint, tokens, extra_ca_pem, DEFAULT_TIMEOUT)
    }

    /// Like `new`, with a request timeout of `timeout` (a request is sent again after it).
    pub fn with_timeout(
        endpoint: &str,
        tokens: Arc<dyn TokenSource>,
        extra_ca_pem: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Self, String> {
        // Plain http only to this machine (a test proxy in front of the emulator).
        if !endpoint.starts_with("https://") && !endpoint.starts_with("http://127.0.0.1:") {
            return Err(format!("`{endpoint}`: storage is reached over https only"));
        }
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("flowgate/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_ca_pem {
            b = b.add_root_certificate(reqwest::Certificate::from_pem(pem).map_err(|e| format!("FLOWGATE_STORAGE_CA: {e}"))?);
        }
        Ok(Self { client: b.build().map_err(|e| e.to_string())?, endpoint: endpoint.trim_end_matches('/').to_string(), tokens })
    }

    /// The bearer token for storage.
    pub async fn bearer(&self) -> Result<String, crate::ports::TokenError> {
        Ok(self.tokens.token(RESOURCE).await?.secret().to_string())
    }

    /// A request with the token, the version and the date.
    pub async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        version: &str,
    ) -> Result<reqwest::RequestBuilder, crate::ports::TokenError> {
        let token = self.bearer().await?;
        Ok(self
            .client
            .request(method, url)
            .bearer_auth(token)
            .header("x-ms-version", version)
            .header("x-ms-date", chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string()))
    }
}

impl Storage {
    /// Sends a request built by `request`, counted and sent again on a busy answer or a lost
    /// connection (see the module's note).
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
        let req = rb.build()?;
        let kind = call_kind(&req);
        let mut attempt = 0;
        loop {
            attempt += 1;
            super::calls::count(kind);
            let Some(this) = req.try_clone() else {
                return self.client.execute(req).await;
            };
            let backoff = Duration::from_millis(100 * 2u64.pow(attempt - 1));
            let wait = match self.client.execute(this).await {
                Ok(r) if attempt < ATTEMPTS && matches!(r.status().as_u16(), 429 | 500 | 503) => {
                    crate::adapters::http::parse_retry_after(r.headers(), chrono::Utc::now()).unwrap_or(backoff)
                }
                Err(e) if attempt < ATTEMPTS && (e.is_timeout() || e.is_connect() || e.is_request()) => backoff,
                other => return other,
            };
            tracing::debug!(kind, attempt, wait_ms = wait.as_millis() as u64, "storage busy or unreachable; sending again");
            tokio::time::sleep(wait.min(MAX_WAIT)).await;
        }
    }
}

/// `.sent(&storage)` in place of reqwest's `.send()`: the request goes through `Storage::send`.
pub trait SendVia {
    fn sent(self, storage: &Storage) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send;
}

impl SendVia for reqwest::RequestBuilder {
    fn sent(self, storage: &Storage) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send {
        storage.send(self)
    }
}

/// What a storage request does, for the call tally.
fn call_kind(req: &reqwest::Request) -> &'static str {
    let table = req.headers().get("x-ms-version").is_some_and(|v| v == TABLE_VERSION);
    let query = req.url().query().unwrap_or_default();
    let path = req.url().path();
    let method = req.method().as_str();
    if table {
        return match method {
            "POST" if path.ends_with("/Tables") => "table.create",
            "POST" => "table.insert",
            "GET" if path.ends_with("()") => "table.query",
            "GET" => "table.get",
            "PUT" if req.headers().contains_key("if-match") => "table.replace",
            "PUT" => "table.upsert",
            "DELETE" => "table.delete",
            _ => "table.other",
        };
    }
    match method {
        "PUT" if query.contains("restype=container") => "blob.create_container",
        "PUT" if query.contains("comp=appendblock") => "blob.append",
        "PUT" if query.contains("comp=metadata") => "blob.set_metadata",
        "PUT" => "blob.put",
        "GET" if query.contains("comp=list") => "blob.list",
        "GET" => "blob.get",
        "HEAD" => "blob.properties",
        "DELETE" => "blob.delete",
        _ => "blob.other",
    }
}

/// The service's error code (`x-ms-error-code`), or the HTTP status.
pub fn error_code(r: &reqwest::Response) -> String {
    r.headers().get("x-ms-error-code").and_then(|v| v.to_str().ok()).map(str::to_string).unwrap_or_else(|| r.status().to_string())
}
