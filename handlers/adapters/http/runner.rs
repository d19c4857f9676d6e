//! `POST` a JSON body to a scoring URI and classify the answer: 2xx done; 408, 429, 5xx, timeouts
//! and connection failures retryable (honouring `Retry-After` and `retry-after-ms`); any other
//! 4xx permanent, with the body kept as evidence.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::domain::longjob::JobHandle;
use crate::ports::{JobRequest, JobRunner, JobSubmission, RunnerError};

/// Largest response body read (bigger answers are refused, not buffered).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How much of an error body is kept as evidence.
const EVIDENCE_BYTES: usize = 2048;

/// Supplies a bearer token for a request, when the endpoint needs one.
#[async_trait]
pub trait BearerSource: Send + Sync {
    async fn bearer(&self, endpoint: &str) -> Result<Option<String>, RunnerError>;
    /// Forgets the token used for `endpoint` (the endpoint answered 401).
    async fn invalidate(&self, _endpoint: &str) {}
}

/// Entra tokens for Foundry and Azure ML endpoints, by host (`identity::resource_for`); other
/// hosts (a local `pf flow serve`) get none.
pub struct EntraBearer {
    pub tokens: Arc<crate::adapters::azure::identity::CachedTokens>,
}

#[async_trait]
impl BearerSource for EntraBearer {
    async fn bearer(&self, endpoint: &str) -> Result<Option<String>, RunnerError> {
        use crate::ports::TokenSource;
        let Some(resource) = crate::adapters::azure::identity::resource_for(endpoint) else { return Ok(None) };
        match self.tokens.token(resource).await {
            Ok(t) => Ok(Some(t.secret().to_string())),
            Err(e) if e.retryable => Err(RunnerError::Retryable { message: format!("no token: {e}"), retry_after: None }),
            Err(e) => Err(RunnerError::Permanent { message: format!("no token: {e}"), status: None, body: None }),
        }
    }

    async fn invalidate(&self, endpoint: &str) {
        if let Some(resource) = crate::adapters::azure::identity::resource_for(endpoint) {
            self.tokens.invalidate(resource).await;
        }
    }
}

/// An HTTP [`JobRunner`] on one shared connection pool.
#[derive(Clone)]
pub struct HttpRunner {
    client: reqwest::Client,
    tokens: Option<Arc<dyn BearerSource>>,
}

impl HttpRunner {
    pub fn new(tokens: Option<Arc<dyn BearerSource>>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("flowgate/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, tokens })
    }
}

/// Reads `retry-after-ms` (Azure ML / OpenAI) and `Retry-After` (seconds or an HTTP date); when a
/// server sends both, the larger wins (Foundry model deployments send both).
pub fn parse_retry_after(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let ms = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_secs_f64((ms / 1000.0).min(86_400.0)));
    let header = headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::trim).and_then(|raw| {
        if let Ok(secs) = raw.parse::<u64>() {
            return Some(Duration::from_secs(secs.min(86_400)));
        }
        let when = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
        let delta = when.with_timezone(&chrono::Utc) - now;
        Some(delta.to_std().unwrap_or(Duration::ZERO).min(Duration::from_secs(86_400)))
    });
    ms.max(header)
}

fn truncate(s: &str) -> String {
    crate::domain::text::excerpt(s, EVIDENCE_BYTES)
}

/// One HTTP call of a runner.
pub(super) struct Call<'a> {
    pub method: reqwest::Method,
    pub url: &'a str,
    pub body: Option<&'a Value>,
    pub timeout: Duration,
    pub correlation_id: &'a str,
    pub deployment: Option<&'a str>,
}

#[async_trait]
impl JobRunner for HttpRunner {
    async fn invoke(&self, req: &JobRequest) -> Result<Value, RunnerError> {
        self.call(&Call {
            method: reqwest::Method::POST,
            url: &req.endpoint,
            body: Some(&req.body),
            timeout: req.timeout,
            correlation_id: &req.correlation_id,
            deployment: req.deployment.as_deref(),
        })
        .await
    }

    async fn submit(&self, job: &JobSubmission) -> Result<JobHandle, RunnerError> {
        super::longjob::submit(self, job).await
    }

    async fn status(&self, handle: &JobHandle, timeout: Duration) -> Result<Value, RunnerError> {
        super::longjob::status(self, handle, timeout).await
    }

    async fn cancel(&self, handle: &JobHandle, timeout: Duration) -> Result<(), RunnerError> {
        super::longjob::cancel(self, handle, timeout).await
    }
}

impl HttpRunner {
    /// Sends a call and reads its JSON answer; a rejected token (401) is refreshed once, since it
    /// may have expired or been revoked early.
    pub(super) async fn call(&self, call: &Call<'_>) -> Result<Value, RunnerError> {
        self.exchange(call).await.map(|(v, _)| v)
    }

    /// As `call`, with the answer's headers (a long-running operation's `Azure-AsyncOperation`).
    pub(super) async fn exchange(&self, call: &Call<'_>) -> Result<(Value, reqwest::header::HeaderMap), RunnerError> {
        match self.call_once(call).await {
            Err(RunnerError::Permanent { status: Some(401), .. }) if self.tokens.is_some() => {
                if let Some(t) = &self.tokens {
                    t.invalidate(call.url).await;
                }
                self.call_once(call).await
            }
            other => other,
        }
    }

    async fn call_once(&self, call: &Call<'_>) -> Result<(Value, reqwest::header::HeaderMap), RunnerError> {
        let mut builder =
            self.client.request(call.method.clone(), call.url).timeout(call.timeout).header("x-ms-client-request-id", call.correlation_id);
        if let Some(body) = call.body {
            builder = builder.json(body);
        }
        if let Some(d) = call.deployment {
            builder = builder.header("azureml-model-deployment", d);
        }
        if let Some(tokens) = &self.tokens {
            if let Some(t) = tokens.bearer(call.url).await? {
                builder = builder.bearer_auth(t);
            }
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Err(RunnerError::Permanent { message: format!("cannot call `{}`: {e}", call.url), status: None, body: None })
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "failed"
                };
                return Err(RunnerError::Retryable { message: format!("request to the endpoint {what}: {e}"), retry_after: None });
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let retry_after = parse_retry_after(&headers, chrono::Utc::now());
        if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(RunnerError::Permanent {
                message: "response larger than 16 MiB".into(),
                status: Some(status.as_u16()),
                body: None,
            });
        }
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Err(RunnerError::Retryable { message: format!("reading the response failed: {e}"), retry_after }),
        };
        let text = String::from_utf8_lossy(&bytes);
        let code = status.as_u16();
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) && (code == 202 || code == 204) {
                return Ok((Value::Null, headers)); // accepted without a body (a cancel)
            }
            return serde_json::from_slice::<Value>(&bytes).map(|v| (v, headers)).map_err(|e| RunnerError::Permanent {
                message: format!("HTTP {code} but the body is not JSON: {e}"),
                status: Some(code),
                body: Some(truncate(&text)),
            });
        }
        if code == 408 || code == 429 || status.is_server_error() {
            return Err(RunnerError::Retryable { message: format!("HTTP {code}: {}", truncate(&text)), retry_after });
        }
        Err(RunnerError::Permanent {
            message: format!("HTTP {code}: {}", truncate(&text)),
            status: Some(code),
            body: Some(truncate(&text)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert("retry-after", HeaderValue::from_static("Fri, 27 Nov 2026 10:00:30 GMT"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(30)), "the larger of the two");
        h.insert("retry-after", HeaderValue::from_static("1"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_millis(1500)));
        h.remove("retry-after-ms");
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h, now), None);
    }
}
