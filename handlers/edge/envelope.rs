//! The Functions host's invocation envelope, decoded tolerantly (functions-protocol.md §1–2, §8):
//! strings encoded once or twice, numbers as strings, dates with or without `Z` and fraction,
//! base64, objects or JSON strings, and body keys merged into `Metadata` that may shadow the
//! system's own keys.

use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// Why a request is not an invocation envelope at all.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the request body is not JSON: {0}")]
    NotJson(String),
    #[error("the request body is JSON but not an object with `Data` and `Metadata`")]
    NotObject,
}

/// `{"Data": {...}, "Metadata": {...}}`, top-level names matched case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub data: Map<String, Value>,
    pub metadata: Map<String, Value>,
}

fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn as_object(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

impl Envelope {
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        let Value::Object(top) = v else {
            return Err(EnvelopeError::NotObject);
        };
        Ok(Self { data: as_object(get_ci(&top, "Data")), metadata: as_object(get_ci(&top, "Metadata")) })
    }

    /// A `Data` entry by binding name; if absent and `Data` holds exactly one entry, that one.
    pub fn binding(&self, name: &str) -> Option<&Value> {
        get_ci(&self.data, name).or_else(|| if self.data.len() == 1 { self.data.values().next() } else { None })
    }

    pub fn meta(&self, key: &str) -> Option<&Value> {
        get_ci(&self.metadata, key)
    }

    pub fn meta_text(&self, key: &str) -> Option<String> {
        self.meta(key).and_then(decode_text)
    }

    pub fn meta_u64(&self, key: &str) -> Option<u64> {
        self.meta(key).and_then(decode_u64)
    }

    pub fn meta_time(&self, key: &str) -> Option<DateTime<Utc>> {
        self.meta_text(key).and_then(|s| parse_time(&s))
    }

    /// `Metadata.sys.UtcNow`, if present and readable (a body key named `sys` may have shadowed it).
    pub fn utc_now(&self) -> Option<DateTime<Utc>> {
        let sys = as_object(self.meta("sys"));
        get_ci(&sys, "UtcNow").and_then(decode_text).and_then(|s| parse_time(&s))
    }
}

/// A string value as the host may send it: plain, or JSON-encoded once more (`"\"hello\""`).
/// Numbers and booleans become their text.
pub fn decode_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::String(inner)) => Some(inner),
            _ => Some(s.clone()),
        },
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A number sent as a number, `"4"` or `"\"4\""`.
pub fn decode_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        _ => decode_text(v).and_then(|s| s.trim().parse().ok()),
    }
}

/// RFC 3339 with or without fraction; `Z`, an offset, or none (taken as UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(n.and_utc());
        }
    }
    None
}

/// A message body (Service Bus trigger data) as text: the JSON string decoded once, and again if
/// that yields another JSON string; base64 when the binding is binary; an object as its JSON.
pub fn decode_body(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            match serde_json::from_str::<Value>(s) {
                Ok(Value::String(inner)) => return Some(inner),
                Ok(_) => return Some(s.clone()),
                Err(_) => {}
            }
            let looks_b64 =
                !s.is_empty() && s.len() % 4 == 0 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
            if looks_b64 {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s) {
                    if let Ok(text) = String::from_utf8(bytes) {
                        if serde_json::from_str::<Value>(&text).is_ok() {
                            return Some(text);
                        }
                    }
                }
            }
            Some(s.clone())
        }
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The handler's answer: always an object with `Outputs`, `Logs` and `ReturnValue`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationResponse {
    pub outputs: Map<String, Value>,
    pub logs: Vec<String>,
    pub return_value: Value,
}

impl InvocationResponse {
    pub fn log(mut self, line: impl Into<String>) -> Self {
        self.logs.push(line.into());
        self
    }
}

/// Timer trigger data (`TimerInfo`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimerInfo {
    pub last: Option<DateTime<Utc>>,
    pub next: Option<DateTime<Utc>>,
    pub is_past_due: bool,
}

impl TimerInfo {
    pub fn decode(v: Option<&Value>) -> Self {
        let m = as_object(v);
        let status = as_object(get_ci(&m, "ScheduleStatus"));
        let time = |k: &str| get_ci(&status, k).and_then(decode_text).and_then(|s| parse_time(&s));
        Self {
            last: time("Last"),
            next: time("Next"),
            is_past_due: get_ci(&m, "IsPastDue").and_then(decode_text).is_some_and(|s| s.eq_ignore_ascii_case("true")),
        }
    }
}

/// An Event Grid event (Event Grid schema or CloudEvents), given as an object or a JSON string.
#[derive(Debug, Clone, PartialEq)]
pub struct GridEvent {
    pub id: Option<String>,
    pub event_type: String,
    pub subject: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub data: Map<String, Value>,
}

impl GridEvent {
    pub fn decode(v: &Value) -> Option<Self> {
        let m = match v {
            Value::Object(m) => m.clone(),
            Value::String(_) => match decode_text(v).and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
                Some(Value::Object(m)) => m,
                _ => return None,
            },
            _ => return None,
        };
        let text = |k: &str| get_ci(&m, k).and_then(decode_text);
        let event_type = text("eventType").or_else(|| text("type"))?;
        Some(Self {
            id: text("id"),
            event_type,
            subject: text("subject"),
            time: text("eventTime").or_else(|| text("time")).and_then(|s| parse_time(&s)),
            data: as_object(get_ci(&m, "data")),
        })
    }

    /// Every event of a trigger's data: an Event Grid trigger's event (an object or a JSON
    /// string), or a Service Bus message body that Event Grid delivered (the event, or an array of
    /// events, in either schema, as the host encodes a body: JSON text once or twice, or base64).
    /// `None` when any element is not an event or there is none.
    pub fn decode_all(v: &Value) -> Option<Vec<Self>> {
        let value = match v {
            Value::Object(_) | Value::Array(_) => v.clone(),
            Value::String(_) => serde_json::from_str::<Value>(&decode_body(v)?).ok()?,
            _ => return None,
        };
        let events: Vec<Self> = match &value {
            Value::Array(list) => list.iter().map(Self::decode).collect::<Option<_>>()?,
            other => vec![Self::decode(other)?],
        };
        (!events.is_empty()).then_some(events)
    }

    /// For `Microsoft.Storage.BlobCreated`: the container and blob path, from `data.url` or the subject.
    pub fn blob(&self) -> Option<(String, String)> {
        if let Some(subject) = &self.subject {
            if let Some(rest) = subject.strip_prefix("/blobServices/default/containers/") {
                if let Some((c, p)) = rest.split_once("/blobs/") {
                    return Some((c.to_string(), p.to_string()));
                }
            }
        }
        let url = get_ci(&self.data, "url").and_then(decode_text)?;
        blob_from_url(&url)
    }
}

/// `https://acct.blob.core.windows.net/container/path`, or a path-style emulator URL with the
/// account first (`http://127.0.0.1:10000/acct/container/path`) → (container, path).
pub fn blob_from_url(url: &str) -> Option<(String, String)> {
    let rest = url.split_once("://")?.1;
    let (host, path) = rest.split_once('/')?;
    let path = path.split(['?', '#']).next()?;
    let path = if host.starts_with("127.0.0.1") || host.starts_with("localhost") {
        path.split_once('/')?.1 // path-style: account/container/blob
    } else {
        path
    };
    let (c, p) = path.split_once('/')?;
    if c.is_empty() || p.is_empty() {
        return None;
    }
    Some((c.to_string(), percent_decode(p)))
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_decoded_once_or_twice() {
        assert_eq!(decode_text(&json!("\"hello\"")), Some("hello".into()));
        assert_eq!(decode_text(&json!("hello")), Some("hello".into()));
        assert_eq!(decode_text(&json!(4)), Some("4".into()));
        assert_eq!(decode_u64(&json!("\"4\"")), Some(4));
        assert_eq!(decode_u64(&json!("4")), Some(4));
        assert_eq!(decode_u64(&json!("x")), None);
    }

    #[test]
    fn bodies_in_every_encoding() {
        let obj = r#"{"a":1}"#;
        let twice = serde_json::to_string(obj).unwrap();
        assert_eq!(decode_body(&json!(twice)), Some(obj.into()));
        assert_eq!(decode_body(&json!(obj)), Some(obj.into()));
        assert_eq!(decode_body(&json!("eyJhIjoxfQ==")), Some(obj.into()));
        assert_eq!(decode_body(&json!({"a":1})), Some(obj.into()));
        assert_eq!(decode_body(&json!("\"\\\"starts with a quote\"")), Some("\"starts with a quote".into()));
        assert_eq!(decode_body(&json!("plain words")), Some("plain words".into()));
    }

    #[test]
    fn times_with_and_without_zone_and_fraction() {
        let want = parse_time("2026-11-13T02:40:00Z").unwrap();
        for s in ["2026-11-13T02:40:00", "2026-11-13T02:40:00+00:00", "2026-11-13T02:40:00.0000000Z", "\t2026-11-13T02:40:00.000 "] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
        assert_eq!(parse_time("2026-11-13T02:00:00.0123456Z").unwrap().timestamp_subsec_micros(), 12_345);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn blob_urls() {
        assert_eq!(
            blob_from_url("https://acct.blob.core.windows.net/landing/orders/2026-11-13.json"),
            Some(("landing".into(), "orders/2026-11-13.json".into()))
        );
        assert_eq!(blob_from_url("http://127.0.0.1:10000/devstoreaccount1/landing/a%20b.csv"), Some(("landing".into(), "a b.csv".into())));
        assert_eq!(blob_from_url("nonsense"), None);
        assert_eq!(blob_from_url("https://acct/landing"), None);
    }
}
