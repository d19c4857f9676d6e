//! A FAKE Service Bus namespace for tests, following the REST wire format in
//! `shared/reference/azure-rest.md` §1: send with a `BrokerProperties` header, batch send as
//! `application/vnd.microsoft.servicebus.json`, duplicate detection on MessageId (201, dropped),
//! queue descriptions with count details, bearer tokens required, throttling on a script, and a
//! dead-letter sub-queue received under a peek-lock (`$deadletterqueue/messages/head`, the
//! reason in the `DeadLetterReason` property header) and completed by `DELETE {Location}`.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    pub queue: String,
    pub body: String,
    pub props: Value,
}

#[derive(Clone, Default)]
pub struct FakeServiceBus {
    pub messages: Arc<Mutex<Vec<Received>>>,
    seen: Arc<Mutex<HashSet<(String, String)>>>,
    /// Statuses to answer first (429, 503, …), then normal service.
    pub throttle: Arc<Mutex<VecDeque<u16>>>,
    pub requests: Arc<Mutex<u32>>,
    /// Dead-lettered messages: (queue, body, MessageId, reason, locked?).
    pub dead: Arc<Mutex<Vec<DeadMessage>>>,
    /// Where `Location` headers point (the namespace URL).
    pub base: Arc<Mutex<String>>,
}

#[derive(Debug, Clone)]
pub struct DeadMessage {
    pub queue: String,
    pub body: String,
    pub message_id: String,
    pub reason: String,
    pub lock: Option<String>,
}

async fn dead_head(State(f): State<FakeServiceBus>, Path(queue): Path<String>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    let mut dead = f.dead.lock().unwrap();
    let Some((seq, m)) = dead.iter_mut().enumerate().find(|(_, m)| m.queue == queue && m.lock.is_none()) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let lock = format!("lock-{seq}");
    m.lock = Some(lock.clone());
    let props = serde_json::json!({ "MessageId": m.message_id, "DeliveryCount": 10, "SequenceNumber": seq, "LockToken": lock,
        "EnqueuedTimeUtc": "Mon, 02 Nov 2026 06:00:00 GMT" });
    let location = format!("{}/{queue}/$deadletterqueue/messages/{seq}/{lock}", f.base.lock().unwrap());
    (
        StatusCode::CREATED,
        [
            ("BrokerProperties", props.to_string()),
            ("DeadLetterReason", format!("\"{}\"", m.reason)),
            ("DeadLetterErrorDescription", "\"Message could not be consumed after 10 delivery attempts.\"".to_string()),
            ("Location", location),
        ],
        m.body.clone(),
    )
        .into_response()
}

async fn dead_complete(
    State(f): State<FakeServiceBus>,
    Path((queue, _seq, lock)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    let mut dead = f.dead.lock().unwrap();
    let before = dead.len();
    dead.retain(|m| !(m.queue == queue && m.lock.as_deref() == Some(lock.as_str())));
    if dead.len() < before {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::NOT_FOUND, "lock lost").into_response()
    }
}

fn authorized(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "))
}

async fn send(State(f): State<FakeServiceBus>, Path(queue): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    *f.requests.lock().unwrap() += 1;
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    if queue == "missing" {
        return (StatusCode::GONE, "no such entity").into_response();
    }
    if let Some(s) = f.throttle.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(s).unwrap(), [("retry-after", "0")], "throttled").into_response();
    }
    let batch = headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("application/vnd.microsoft.servicebus.json");
    let items: Vec<(String, Value)> = if batch {
        let Ok(Value::Array(list)) = serde_json::from_slice::<Value>(&body) else {
            return (StatusCode::BAD_REQUEST, "bad batch").into_response();
        };
        list.into_iter().map(|m| (m["Body"].as_str().unwrap_or("").to_string(), m["BrokerProperties"].clone())).collect()
    } else {
        let props =
            headers.get("brokerproperties").and_then(|v| v.to_str().ok()).and_then(|v| serde_json::from_str(v).ok()).unwrap_or(Value::Null);
        vec![(String::from_utf8_lossy(&body).into_owned(), props)]
    };
    for (body, props) in items {
        let id = props["MessageId"].as_str().unwrap_or("").to_string();
        if !f.seen.lock().unwrap().insert((queue.clone(), id)) {
            continue; // duplicate detection: accepted and dropped
        }
        f.messages.lock().unwrap().push(Received { queue: queue.clone(), body, props });
    }
    StatusCode::CREATED.into_response()
}

async fn describe(State(f): State<FakeServiceBus>, Path(queue): Path<String>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    let list = f.messages.lock().unwrap();
    let mine: Vec<&Received> = list.iter().filter(|m| m.queue == queue).collect();
    let scheduled = mine.iter().filter(|m| m.props.get("ScheduledEnqueueTimeUtc").is_some()).count();
    let dead = f.dead.lock().unwrap().iter().filter(|m| m.queue == queue).count();
    let xml = format!(
        r#"<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d2p1:ActiveMessageCount>{}</d2p1:ActiveMessageCount><d2p1:DeadLetterMessageCount>{dead}</d2p1:DeadLetterMessageCount><d2p1:ScheduledMessageCount>{scheduled}</d2p1:ScheduledMessageCount></CountDetails></QueueDescription></content></entry>"#,
        mine.len() - scheduled
    );
    ([("content-type", "application/atom+xml")], xml).into_response()
}

impl FakeServiceBus {
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/{queue}/messages", post(send))
            .route("/{queue}/$deadletterqueue/messages/head", post(dead_head))
            .route("/{queue}/$deadletterqueue/messages/{seq}/{lock}", delete(dead_complete))
            .route("/{queue}", get(describe))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        *self.base.lock().unwrap() = format!("http://{addr}");
        format!("http://{addr}")
    }
}
