//! Changes to the deployed state go through the Releases function, signed in as the person at the
//! keyboard (an Entra token for the app's audience, from the Azure CLI or a managed identity), so
//! people never need write access to the Store: `FLOWGATE_RELEASES_URL` (the function's URL,
//! `https://<app>.azurewebsites.net/api/releases`), `FLOWGATE_RELEASES_AUDIENCE` (the app
//! registration's `api://<client id>`) and, while the function keeps `authLevel: function`,
//! `FLOWGATE_FUNCTION_KEY`.

use std::time::Duration;

use serde_json::Value;

use super::exit;

/// The Releases function, as the CLI reaches it.
pub(super) struct Remote {
    url: String,
    audience: String,
    key: Option<String>,
    client: reqwest::Client,
}

impl Remote {
    /// From the settings, or the exit code after saying what is missing.
    pub(super) fn from_env() -> Result<Self, u8> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let (Some(url), Some(audience)) = (get("FLOWGATE_RELEASES_URL"), get("FLOWGATE_RELEASES_AUDIENCE")) else {
            eprintln!(
                "error: changes to the deployed state go through the Releases function: set FLOWGATE_RELEASES_URL (https://<app>.azurewebsites.net/api/releases) and FLOWGATE_RELEASES_AUDIENCE (api://<app registration client id>); docs/releases.md"
            );
            return Err(exit::BAD_INPUT);
        };
        if !url.starts_with("https://") && !url.starts_with("http://127.0.0.1:") {
            eprintln!("error: FLOWGATE_RELEASES_URL `{url}` is not an https URL");
            return Err(exit::BAD_INPUT);
        }
        let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build().map_err(|e| {
            eprintln!("error: {e}");
            exit::FAILED
        })?;
        Ok(Self { url, audience, key: get("FLOWGATE_FUNCTION_KEY"), client })
    }

    /// POSTs one action; the function's answer, or the exit code after printing its error.
    pub(super) async fn post(&self, body: &Value) -> Result<Value, u8> {
        let tokens = crate::app::tokens();
        let token = crate::ports::TokenSource::token(tokens.as_ref(), &self.audience).await.map_err(|e| {
            eprintln!("error: no Entra token for {} (az login, or FLOWGATE_TOKEN_SOURCE=cli): {e}", self.audience);
            exit::FAILED
        })?;
        let mut req = self.client.post(&self.url).bearer_auth(token.secret()).json(body);
        if let Some(k) = &self.key {
            req = req.header("x-functions-key", k);
        }
        let r = req.send().await.map_err(|e| {
            eprintln!("error: the Releases function is unreachable: {}", e.without_url());
            exit::FAILED
        })?;
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(answer),
            _ => {
                let msg = answer.get("error").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| answer.to_string());
                eprintln!("error: the Releases function answered {status}: {msg}");
                Err(match status {
                    400 | 404 => exit::BAD_INPUT,
                    _ => exit::FAILED,
                })
            }
        }
    }
}
