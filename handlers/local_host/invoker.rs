//! Invoking the handler exactly as the Functions host does: `POST /{Function}` with the
//! `{Data, Metadata}` envelope, strings and numbers encoded the host's way (twice), the message
//! body's properties merged into `Metadata`, and `X-Azure-Functions-InvocationId`.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::adapters::local::ReceivedMessage;

/// What came back from one invocation.
#[derive(Debug, Clone)]
pub struct InvocationResult {
    pub status: u16,
    pub body: Value,
}

impl InvocationResult {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client for the handler.
#[derive(Clone)]
pub struct Invoker {
    client: reqwest::Client,
    base: String,
    timeout: Duration,
}

fn host_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `SerializeObject(v)` put in as a string: the host's double encoding.
fn twice(v: &str) -> Value {
    Value::String(serde_json::to_string(v).unwrap_or_default())
}

fn sys(function: &str, now: DateTime<Utc>) -> Value {
    json!({ "MethodName": function, "UtcNow": host_time(now), "RandGuid": uuid::Uuid::new_v4().to_string() })
}

impl Invoker {
    pub fn new(port: u16, timeout: Duration) -> Self {
        Self { client: reqwest::Client::new(), base: format!("http://127.0.0.1:{port}"), timeout }
    }

    /// `GET /`: any answer means the handler is up.
    pub async fn ping(&self) -> bool {
        self.client.get(format!("{}/", self.base)).timeout(Duration::from_secs(1)).send().await.is_ok()
    }

    pub async fn invoke(&self, function: &str, envelope: &Value) -> Result<InvocationResult, String> {
        let r = self
            .client
            .post(format!("{}/{function}", self.base))
            .timeout(self.timeout)
            .header("X-Azure-Functions-InvocationId", uuid::Uuid::new_v4().to_string())
            .header("X-Azure-Functions-HostVersion", "flowgate-local")
            .header("User-Agent", concat!("flowgate-local/", env!("CARGO_PKG_VERSION")))
            .header("Content-Type", "application/json; charset=utf-8")
            .body(envelope.to_string())
            .send()
            .await
            .map_err(|e| format!("invoking {function}: {e}"))?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await.map_err(|e| format!("reading {function}'s answer: {e}"))?;
        let body = serde_json::from_slice(&bytes).map_err(|e| format!("{function} answered {status} with a body that is not JSON: {e}"))?;
        Ok(InvocationResult { status, body })
    }
}

/// The timer trigger's envelope.
pub fn timer_envelope(
    function: &str,
    binding: &str,
    last: Option<DateTime<Utc>>,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    past_due: bool,
) -> Value {
    let status = match (last, next) {
        (Some(l), Some(n)) => {
            json!({ "Last": host_time(l), "Next": host_time(n), "LastUpdated": host_time(now) })
        }
        _ => Value::Null,
    };
    json!({
        "Data": { binding: { "Schedule": { "AdjustForDST": true }, "ScheduleStatus": status, "IsPastDue": past_due } },
        "Metadata": { "sys": sys(function, now) }
    })
}

/// The Service Bus trigger's envelope (extension v5, string body).
pub fn service_bus_envelope(function: &str, binding: &str, m: &ReceivedMessage, now: DateTime<Utc>) -> Value {
    let mut meta = Map::new();
    // Body properties first: the host merges them in, and system keys are then set over them.
    if let Ok(Value::Object(props)) = serde_json::from_str::<Value>(&m.body) {
        for (k, v) in props {
            if !v.is_array() {
                let encoded = match &v {
                    Value::String(s) => twice(s),
                    Value::Object(_) => v.clone(),
                    other => Value::String(other.to_string()),
                };
                meta.insert(k, encoded);
            }
        }
    }
    let naive = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    meta.insert("DeliveryCount".into(), Value::String(m.delivery_count.to_string()));
    meta.insert("LockToken".into(), twice(&m.lock_token));
    meta.insert("SequenceNumber".into(), Value::String(m.sequence_number.to_string()));
    meta.insert("MessageId".into(), twice(&m.message_id));
    if let Some(c) = &m.correlation_id {
        meta.insert("CorrelationId".into(), twice(c));
    }
    meta.insert("ContentType".into(), twice("application/json"));
    meta.insert("EnqueuedTimeUtc".into(), Value::String(naive(m.enqueued_at)));
    meta.insert("EnqueuedTime".into(), Value::String(m.enqueued_at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()));
    meta.insert("ExpiresAtUtc".into(), Value::String(naive(m.expires_at)));
    meta.insert("ApplicationProperties".into(), json!({}));
    meta.insert("sys".into(), sys(function, now));
    json!({ "Data": { binding: twice(&m.body) }, "Metadata": meta })
}

/// Event Grid's `Microsoft.Storage.BlobCreated` for a local file.
pub fn blob_created_envelope(function: &str, binding: &str, event: &Value, now: DateTime<Utc>) -> Value {
    json!({
        "Data": { binding: event },
        "Metadata": { "data": event["data"].clone(), "sys": sys(function, now) }
    })
}

/// The `Microsoft.Storage.BlobCreated` event (Event Grid schema) that a storage account's system
/// topic raises for a blob, with an id fixed by the blob and its time (a redelivery is the same
/// event).
pub fn blob_created_event(container: &str, path: &str, size: u64, event_time: DateTime<Utc>) -> Value {
    let url = format!("http://127.0.0.1:10000/devstoreaccount1/{container}/{path}");
    let subject = format!("/blobServices/default/containers/{container}/blobs/{path}");
    json!({
        "topic": "/subscriptions/local/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
        "subject": subject,
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": host_time(event_time),
        "id": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{subject}@{}", event_time.timestamp_millis()).as_bytes()).to_string(),
        "data": {
            "api": "PutBlob",
            "contentType": if path.ends_with(".csv") { "text/csv" } else { "application/octet-stream" },
            "contentLength": size,
            "blobType": "BlockBlob",
            "url": url,
            "sequencer": format!("{:016x}", event_time.timestamp_millis()),
        },
        "dataVersion": "",
        "metadataVersion": "1"
    })
}

/// An HTTP request as the host wraps it for a function.
#[derive(Debug, Clone)]
pub struct WrappedRequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub query: &'a Map<String, Value>,
    /// Header name → list of values.
    pub headers: &'a Map<String, Value>,
    pub body: &'a str,
}

/// A wrapped HTTP trigger's envelope.
pub fn http_envelope(function: &str, binding: &str, req: &WrappedRequest<'_>, now: DateTime<Utc>) -> Value {
    let single: Map<String, Value> = req.headers.iter().map(|(k, v)| (k.clone(), v.get(0).cloned().unwrap_or(Value::Null))).collect();
    json!({
        "Data": { binding: {
            "Url": req.url, "Method": req.method, "Query": req.query, "Headers": req.headers, "Params": {}, "Identities": [], "Body": req.body
        }},
        "Metadata": { "Query": req.query, "Headers": single, "Params": {}, "sys": sys(function, now) }
    })
}
