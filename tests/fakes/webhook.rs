//! A FAKE incoming webhook (Teams/Slack style) for tests: records every POST body and answers
//! from a script of statuses (then 200).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

#[derive(Clone, Default)]
pub struct FakeWebhook {
    pub script: Arc<Mutex<VecDeque<u16>>>,
    pub received: Arc<Mutex<Vec<(u16, Value)>>>,
}

async fn hook(State(f): State<FakeWebhook>, Json(body): Json<Value>) -> StatusCode {
    let status = f.script.lock().unwrap().pop_front().unwrap_or(200);
    f.received.lock().unwrap().push((status, body));
    StatusCode::from_u16(status).unwrap()
}

impl FakeWebhook {
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/hook", post(hook)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }
}
