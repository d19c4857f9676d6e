//! The HTTP receivers of alert notifications: Teams through a Workflows webhook (an Adaptive Card;
//! the URL's `sig=` is a secret, or the trigger requires an Entra token for the managed identity),
//! Slack through an incoming webhook, and a generic webhook signed per Standard Webhooks. 2xx is
//! delivered; 410 is gone; 408, 429 and 5xx (and no answer) may pass later, with `Retry-After`
//! honoured; any other 4xx is refused. URLs, secrets and tokens never reach a log line.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;

use crate::domain::alerting::delivery::Notification;
use crate::domain::notify::{slack, teams, webhook};
use crate::ports::{Notifier, NotifyError, TokenSource};

/// The audience of a Workflows HTTP trigger that requires an Entra token.
pub(crate) const FLOW_AUDIENCE: &str = "https://service.flow.microsoft.com/";

/// Which payload a receiver takes.
#[derive(Clone)]
pub enum Receiver {
    /// A Teams Workflows webhook; with a token source, each post carries a bearer token.
    Teams {
        token: Option<Arc<dyn TokenSource>>,
    },
    Slack,
    /// A Standard Webhooks receiver; the secret's bytes sign every delivery.
    Webhook {
        secret: Vec<u8>,
        external_url: String,
    },
}

/// Posts notifications to one URL.
#[derive(Clone)]
pub struct HttpNotifier {
    client: reqwest::Client,
    url: String,
    receiver: Receiver,
    name: &'static str,
}

impl std::fmt::Debug for HttpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpNotifier {{ receiver: {}, url: <redacted> }}", self.name)
    }
}

impl HttpNotifier {
    /// `url` must be https (http only to this machine, for tests and local fakes).
    pub fn new(url: &str, receiver: Receiver) -> Result<Self, String> {
        let url = url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
            return Err("must be an https:// URL".into());
        }
        let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().map_err(|e| e.to_string())?;
        let name = match receiver {
            Receiver::Teams { .. } => "teams",
            Receiver::Slack => "slack",
            Receiver::Webhook { .. } => "webhook",
        };
        Ok(Self { client, url: url.to_string(), receiver, name })
    }

    async fn request(&self, n: &Notification) -> Result<reqwest::RequestBuilder, NotifyError> {
        let post = self.client.post(&self.url).header("content-type", "application/json");
        Ok(match &self.receiver {
            Receiver::Teams { token } => {
                let post = post.body(teams::message(&n.group).to_string());
                match token {
                    None => post,
                    Some(t) => {
                        let token = t
                            .token(FLOW_AUDIENCE)
                            .await
                            .map_err(|e| NotifyError::Retry { reason: format!("no Entra token: {e}"), after: None })?;
                        post.bearer_auth(token.secret())
                    }
                }
            }
            Receiver::Slack => post.body(slack::message(&n.group).to_string()),
            Receiver::Webhook { secret, external_url } => {
                let body = webhook::body(&n.group, external_url).to_string();
                let now = chrono::Utc::now().timestamp();
                let mut post = post;
                for (name, value) in webhook::headers(secret, &n.id, now, &body) {
                    post = post.header(name, value);
                }
                post.body(body)
            }
        })
    }
}

/// What an answer means for the delivery.
pub(crate) fn classify(status: StatusCode, retry_after: Option<Duration>, body: &str) -> Result<(), NotifyError> {
    let detail = || {
        format!(
            "HTTP {}{}",
            status.as_u16(),
            if body.is_empty() { String::new() } else { format!(": {}", crate::domain::text::excerpt(body, 200)) }
        )
    };
    if status.is_success() {
        return Ok(());
    }
    match status {
        StatusCode::GONE => Err(NotifyError::Gone(detail())),
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Err(NotifyError::Retry { reason: detail(), after: retry_after }),
        s if s.is_server_error() => Err(NotifyError::Retry { reason: detail(), after: retry_after }),
        _ => Err(NotifyError::Refused(detail())),
    }
}

#[async_trait]
impl Notifier for HttpNotifier {
    fn receiver(&self) -> &str {
        self.name
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let r = self
            .request(n)
            .await?
            .send()
            .await
            .map_err(|e| NotifyError::Retry { reason: format!("{} unreachable: {}", self.name, e.without_url()), after: None })?;
        let status = r.status();
        let retry_after = super::parse_retry_after(r.headers(), chrono::Utc::now());
        let body = r.text().await.unwrap_or_default();
        classify(status, retry_after, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_as_the_receivers_document_them() {
        assert!(classify(StatusCode::ACCEPTED, None, "").is_ok());
        assert!(classify(StatusCode::OK, None, "ok").is_ok());
        assert!(matches!(classify(StatusCode::GONE, None, ""), Err(NotifyError::Gone(_))));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(120)), ""),
            Err(NotifyError::Retry { after: Some(d), .. }) if d == Duration::from_secs(120)
        ));
        assert!(matches!(classify(StatusCode::BAD_GATEWAY, None, ""), Err(NotifyError::Retry { after: None, .. })));
        match classify(StatusCode::BAD_REQUEST, None, "invalid_payload") {
            Err(NotifyError::Refused(d)) => assert_eq!(d, "HTTP 400: invalid_payload"),
            other => panic!("{other:?}"),
        }
        assert!(HttpNotifier::new("http://example.org/hook", Receiver::Slack).is_err());
        let n = HttpNotifier::new("https://example.org/hook?sig=SECRET", Receiver::Slack).unwrap();
        assert!(!format!("{n:?}").contains("SECRET"));
    }
}
