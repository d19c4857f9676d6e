//! What the Azure Storage adapters share: one HTTP client (trusting an extra CA when
//! `FLOWGATE_STORAGE_CA` names one, for an emulator or a private CA), the pinned `x-ms-version`s,
//! Entra tokens for `https://storage.azure.com`, and reading the service's error code.

use std::sync::Arc;
use std::time::Duration;

use crate::ports::TokenSource;

/// Blob service version (Azurite 3.35 accepts it; newer ones it refuses).
pub const BLOB_VERSION: &str = "2025-11-05";
/// Table service version (what the Azure SDKs send).
pub const TABLE_VERSION: &str = "2019-02-02";
const RESOURCE: &str = "https://storage.azure.com";

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
        if !endpoint.starts_with("https://") {
            return Err(format!("`{endpoint}`: storage is reached over https only"));
        }
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
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

/// The service's error code (`x-ms-error-code`), or the HTTP status.
pub fn error_code(r: &reqwest::Response) -> String {
    r.headers().get("x-ms-error-code").and_then(|v| v.to_str().ok()).map(str::to_string).unwrap_or_else(|| r.status().to_string())
}
