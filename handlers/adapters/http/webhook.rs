//! The Notifier as an incoming webhook (Microsoft Teams or Slack style): `POST {"text": …}` with
//! the alert's fields alongside for tools that read them. The URL is a secret: it is never logged.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::domain::alert::Alert;
use crate::ports::{Notifier, NotifyError};

/// Posts alerts to one webhook URL.
#[derive(Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: String,
}

impl WebhookNotifier {
    pub fn new(url: String) -> Result<Self, String> {
        if !(url.starts_with("https://") || url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
            return Err("the alert webhook must be an https:// URL".into());
        }
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
        Ok(Self { client, url })
    }
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookNotifier { url: <redacted> }")
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let owner = alert.owner.as_deref().map(|o| format!(" (owner: {o})")).unwrap_or_default();
        let body = json!({
            "text": format!("[flowgate] {}: {}{owner}", alert.kind.as_str().replace('_', " "), alert.message),
            "flowgate": alert,
        });
        let r = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| NotifyError(format!("webhook unreachable: {}", e.without_url())))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(NotifyError(format!("webhook answered HTTP {}", r.status().as_u16())))
        }
    }
}
