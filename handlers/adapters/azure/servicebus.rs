//! The Queue port on Azure Service Bus over REST with Entra tokens (no maintained crate does
//! this): send and batch send with `BrokerProperties` (MessageId for duplicate detection,
//! CorrelationId, ScheduledEnqueueTimeUtc, TimeToLive), and a queue's active, scheduled and
//! dead-letter counts from its description, and the dead-letter sub-queue received under a
//! peek-lock and completed (the reconciliation pass). Throttling (429, 503) and 5xx are retried a few times
//! honouring `Retry-After`, then reported as retryable.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::ports::{DeadLettered, OutgoingMessage, Queue, QueueCounts, QueueError, SendOutcome, TokenSource};

/// The Entra resource for Service Bus data-plane tokens.
pub const RESOURCE: &str = "https://servicebus.azure.net";
/// The management API version for queue descriptions.
const API_VERSION: &str = "2021-05";
const ATTEMPTS: u32 = 4;

/// A Service Bus namespace, e.g. `https://contoso-flowgate.servicebus.windows.net`.
pub struct ServiceBusClient {
    namespace: String,
    tokens: Arc<dyn TokenSource>,
    http: reqwest::Client,
}

fn rfc1123(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The `BrokerProperties` of one message.
pub fn broker_properties(m: &OutgoingMessage) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("MessageId".into(), json!(m.message_id));
    if let Some(c) = &m.correlation_id {
        p.insert("CorrelationId".into(), json!(c));
    }
    if let Some(t) = m.scheduled_enqueue_time {
        p.insert("ScheduledEnqueueTimeUtc".into(), json!(rfc1123(t)));
    }
    if let Some(ttl) = m.time_to_live {
        p.insert("TimeToLive".into(), json!(ttl.as_secs_f64()));
    }
    p
}

impl ServiceBusClient {
    pub fn new(namespace: impl Into<String>, tokens: Arc<dyn TokenSource>) -> Result<Self, String> {
        let namespace = namespace.into().trim_end_matches('/').to_string();
        if !namespace.starts_with("https://") && !namespace.starts_with("http://127.0.0.1") {
            return Err(format!("`{namespace}` is not an https:// Service Bus namespace URL"));
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
        Ok(Self { namespace, tokens, http })
    }

    async fn bearer(&self) -> Result<String, QueueError> {
        let t = self.tokens.token(RESOURCE).await.map_err(|e| {
            if e.retryable {
                QueueError::Unavailable(format!("no Service Bus token: {e}"))
            } else {
                QueueError::Rejected(format!("no Service Bus token: {e}"))
            }
        })?;
        Ok(format!("Bearer {}", t.secret()))
    }

    /// Sends a request, retrying throttling and server errors; maps the final answer.
    async fn call(
        &self,
        kind: &'static str,
        queue: &str,
        make: impl Fn(String) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, QueueError> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            super::calls::count(kind);
            let r = make(self.bearer().await?).send().await;
            let wait = match r {
                Err(e) => {
                    last = format!("Service Bus unreachable: {}", e.without_url());
                    Duration::from_millis(200 * 2u64.pow(attempt))
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    match status {
                        200..=299 => return Ok(r),
                        410 | 404 => return Err(QueueError::NoSuchQueue(queue.to_string())),
                        413 => return Err(QueueError::TooLarge(0)),
                        429 | 500..=599 => {
                            let after = crate::adapters::http::parse_retry_after(r.headers(), Utc::now());
                            last = format!("Service Bus answered HTTP {status} (throttled or busy)");
                            after.unwrap_or(Duration::from_millis(200 * 2u64.pow(attempt))).min(Duration::from_secs(10))
                        }
                        _ => {
                            let body: String = r.text().await.unwrap_or_default().chars().take(300).collect();
                            return Err(QueueError::Rejected(format!("Service Bus answered HTTP {status}: {body}")));
                        }
                    }
                }
            };
            if attempt + 1 < ATTEMPTS {
                tokio::time::sleep(wait).await;
            }
        }
        Err(QueueError::Unavailable(last))
    }
}

#[async_trait]
impl Queue for ServiceBusClient {
    async fn send(&self, queue: &str, m: OutgoingMessage) -> Result<SendOutcome, QueueError> {
        let url = format!("{}/{queue}/messages", self.namespace);
        let props = Value::Object(broker_properties(&m)).to_string();
        self.call("servicebus.send", queue, |auth| {
            self.http
                .post(&url)
                .header("Authorization", auth)
                .header("BrokerProperties", props.clone())
                .header("Content-Type", "application/json")
                .body(m.body.clone())
        })
        .await?;
        // Service Bus answers 201 for a duplicate too, and drops it: it cannot be told apart here.
        Ok(SendOutcome::Accepted)
    }

    async fn send_batch(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let url = format!("{}/{queue}/messages", self.namespace);
        let body = Value::Array(messages.iter().map(|m| json!({ "Body": m.body, "BrokerProperties": broker_properties(m) })).collect())
            .to_string();
        self.call("servicebus.send_batch", queue, |auth| {
            self.http
                .post(&url)
                .header("Authorization", auth)
                .header("Content-Type", "application/vnd.microsoft.servicebus.json")
                .body(body.clone())
        })
        .await?;
        Ok(())
    }

    async fn receive_dead_letter(&self, queue: &str, _now: DateTime<Utc>) -> Result<Option<DeadLettered>, QueueError> {
        let url = format!("{}/{queue}/$deadletterqueue/messages/head?timeout=0", self.namespace);
        let r = self
            .call("servicebus.receive_dead_letter", queue, |auth| {
                self.http.post(&url).header("Authorization", auth).header("Content-Length", "0")
            })
            .await?;
        if r.status().as_u16() == 204 {
            return Ok(None);
        }
        let headers = r.headers().clone();
        let body = r.text().await.map_err(|e| QueueError::Unavailable(e.to_string()))?;
        dead_lettered(&self.namespace, &headers, body).map(Some)
    }

    async fn complete_dead_letter(&self, queue: &str, m: &DeadLettered, _now: DateTime<Utc>) -> Result<bool, QueueError> {
        match self.call("servicebus.complete", queue, |auth| self.http.delete(&m.lock).header("Authorization", auth)).await {
            Ok(_) => Ok(true),
            // 404: the lock was lost; the message comes again.
            Err(QueueError::NoSuchQueue(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn counts(&self, queue: &str, _as_of: DateTime<Utc>) -> Result<QueueCounts, QueueError> {
        let url = format!("{}/{queue}?api-version={API_VERSION}&enrich=false", self.namespace);
        let r = self
            .call("servicebus.describe", queue, |auth| {
                self.http.get(&url).header("Authorization", auth).header("Accept", "application/xml")
            })
            .await?;
        let xml = r.text().await.map_err(|e| QueueError::Unavailable(e.to_string()))?;
        parse_counts(&xml).ok_or_else(|| QueueError::NoSuchQueue(queue.to_string()))
    }
}

/// A custom property header's value: Service Bus may send it JSON-quoted.
fn property(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    Some(serde_json::from_str::<String>(v).unwrap_or_else(|_| v.to_string()))
}

/// A peek-locked dead-lettered message from the answer's headers: `BrokerProperties` (MessageId,
/// DeliveryCount, EnqueuedTimeUtc), `DeadLetterReason` and `DeadLetterErrorDescription` (custom
/// properties), and `Location`, which must lie in the namespace (the token goes there next).
pub fn dead_lettered(namespace: &str, headers: &reqwest::header::HeaderMap, body: String) -> Result<DeadLettered, QueueError> {
    let bad = |why: &str| QueueError::Rejected(format!("Service Bus dead-letter answer: {why}"));
    let props: Value = headers
        .get("BrokerProperties")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok())
        .ok_or_else(|| bad("no readable BrokerProperties header"))?;
    let lock = headers.get("Location").and_then(|v| v.to_str().ok()).ok_or_else(|| bad("no Location header"))?;
    if !lock.starts_with(&format!("{namespace}/")) {
        return Err(bad("the Location header points outside the namespace"));
    }
    Ok(DeadLettered {
        message_id: props["MessageId"].as_str().unwrap_or_default().to_string(),
        body,
        reason: property(headers, "DeadLetterReason").unwrap_or_else(|| "unknown".into()),
        description: property(headers, "DeadLetterErrorDescription"),
        delivery_count: props["DeliveryCount"].as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        enqueued_at: props["EnqueuedTimeUtc"].as_str().and_then(|t| DateTime::parse_from_rfc2822(t).ok()).map(|t| t.with_timezone(&Utc)),
        lock: lock.to_string(),
    })
}

/// Reads `ActiveMessageCount`, `ScheduledMessageCount` and `DeadLetterMessageCount` from a queue
/// description (Atom XML, any namespace prefix). `None` when the entry has no counts (no queue).
pub fn parse_counts(xml: &str) -> Option<QueueCounts> {
    let count = |name: &str| -> Option<u64> {
        let re = regex::Regex::new(&format!(r"<(?:[A-Za-z0-9_]+:)?{name}>\s*(\d+)\s*</")).ok()?;
        re.captures(xml)?.get(1)?.as_str().parse().ok()
    };
    Some(QueueCounts {
        active: count("ActiveMessageCount")?,
        scheduled: count("ScheduledMessageCount").unwrap_or(0),
        dead_letter: count("DeadLetterMessageCount").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_a_queue_description() {
        let xml = r#"<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><MessageCount>7</MessageCount><CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d2p1:ActiveMessageCount>4</d2p1:ActiveMessageCount><d2p1:DeadLetterMessageCount>1</d2p1:DeadLetterMessageCount><d2p1:ScheduledMessageCount>2</d2p1:ScheduledMessageCount><d2p1:TransferMessageCount>0</d2p1:TransferMessageCount></CountDetails></QueueDescription></content></entry>"#;
        assert_eq!(parse_counts(xml), Some(QueueCounts { active: 4, scheduled: 2, dead_letter: 1 }));
        assert_eq!(parse_counts(r#"<entry xmlns="http://www.w3.org/2005/Atom"><title>x</title></entry>"#), None);
    }

    #[test]
    fn a_dead_lettered_message_from_its_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        let ns = "https://contoso.servicebus.windows.net";
        h.insert("BrokerProperties", r#"{"DeliveryCount":10,"EnqueuedTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT","LockToken":"7a","MessageId":"etl@2026-11-02T06:00:00Z#1","SequenceNumber":12}"#.parse().unwrap());
        h.insert("DeadLetterReason", "\"MaxDeliveryCountExceeded\"".parse().unwrap());
        h.insert("DeadLetterErrorDescription", "Message could not be consumed after 10 delivery attempts.".parse().unwrap());
        h.insert("Location", format!("{ns}/dispatch/$deadletterqueue/messages/12/7a").parse().unwrap());
        let d = dead_lettered(ns, &h, "{}".into()).unwrap();
        assert_eq!(
            (d.message_id.as_str(), d.reason.as_str(), d.delivery_count),
            ("etl@2026-11-02T06:00:00Z#1", "MaxDeliveryCountExceeded", 10)
        );
        assert_eq!(d.description.as_deref(), Some("Message could not be consumed after 10 delivery attempts."));
        assert!(d.enqueued_at.is_some());
        h.insert("Location", "https://evil.example/x".parse().unwrap());
        assert!(dead_lettered(ns, &h, "{}".into()).is_err(), "a lock URL outside the namespace is refused");
    }

    #[test]
    fn broker_properties_as_the_rest_api_wants_them() {
        let t = DateTime::parse_from_rfc3339("1994-11-06T08:49:37Z").unwrap().with_timezone(&Utc);
        let m = OutgoingMessage {
            message_id: "job@t#2".into(),
            correlation_id: Some("run-7".into()),
            body: "{}".into(),
            scheduled_enqueue_time: Some(t),
            time_to_live: Some(Duration::from_secs(90)),
            sent_at: t,
        };
        assert_eq!(
            Value::Object(broker_properties(&m)),
            json!({"MessageId": "job@t#2", "CorrelationId": "run-7", "ScheduledEnqueueTimeUtc": "Sun, 06 Nov 1994 08:49:37 GMT", "TimeToLive": 90.0})
        );
    }
}
