//! A FAKE alert receiver (Teams Workflows, Slack or a Standard Webhooks endpoint) for tests:
//! records every POST with its headers and answers from a script of statuses (then 200), each with
//! an optional `Retry-After`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    /// The body exactly as sent (signatures are over these bytes).
    pub raw: String,
    pub body: Value,
}

/// A status to answer, with its `Retry-After`.
type Answer = (u16, Option<&'static str>);

#[derive(Clone, Default)]
pub struct FakeWebhook {
    pub script: Arc<Mutex<VecDeque<Answer>>>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

async fn hook(State(f): State<FakeWebhook>, headers: HeaderMap, raw: String) -> Response {
    let (status, retry_after) = f.script.lock().unwrap().pop_front().unwrap_or((200, None));
    let headers = headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    f.received.lock().unwrap().push(Received { status, headers, raw, body });
    let mut r = (StatusCode::from_u16(status).unwrap(), if status == 200 { "ok" } else { "no" }).into_response();
    if let Some(after) = retry_after {
        r.headers_mut().insert("retry-after", after.parse().unwrap());
    }
    r
}

impl FakeWebhook {
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/hook", post(hook)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }
    pub fn answer(&self, status: u16, retry_after: Option<&'static str>) {
        self.script.lock().unwrap().push_back((status, retry_after));
    }
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
