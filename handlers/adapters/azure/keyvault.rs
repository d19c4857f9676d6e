//! Key Vault secrets over REST with a managed identity token (`https://vault.azure.net`): what
//! the PII tokenization key is read from in Azure. The secret's value is never logged.

use std::time::Duration;

use serde_json::Value;

use super::identity::CachedTokens;
use crate::ports::TokenSource;

/// Reads a secret by its identifier (`https://<vault>.vault.azure.net/secrets/<name>[/<version>]`).
pub async fn read_secret(secret_url: &str, tokens: &CachedTokens) -> Result<String, String> {
    if !secret_url.starts_with("https://") || !secret_url.contains("/secrets/") {
        return Err(format!("`{secret_url}` is not a Key Vault secret identifier (https://<vault>.vault.azure.net/secrets/<name>)"));
    }
    let token = tokens.token("https://vault.azure.net").await.map_err(|e| format!("no token for Key Vault: {e}"))?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().map_err(|e| e.to_string())?;
    let r = client
        .get(format!("{}?api-version=7.4", secret_url.trim_end_matches('/')))
        .bearer_auth(token.secret())
        .send()
        .await
        .map_err(|e| format!("Key Vault unreachable: {}", e.without_url()))?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| format!("Key Vault answered HTTP {status} without JSON: {e}"))?;
    if !status.is_success() {
        let msg = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("Key Vault answered HTTP {}: {msg}", status.as_u16()));
    }
    body.get("value").and_then(Value::as_str).map(str::to_string).ok_or_else(|| "the Key Vault secret has no `value`".into())
}
