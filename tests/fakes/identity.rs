//! A FAKE App Service managed identity endpoint for tests: checks `X-IDENTITY-HEADER`, answers
//! tokens `t1`, `t2`, … that expire `lifetime_secs` from now (as a string of Unix seconds, like
//! the real one), or the scripted error statuses first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

#[derive(Clone, Default)]
pub struct FakeIdentity {
    pub calls: Arc<Mutex<Vec<std::collections::HashMap<String, String>>>>,
    pub errors: Arc<Mutex<VecDeque<u16>>>,
    pub lifetime_secs: Arc<Mutex<i64>>,
}

async fn token(State(f): State<FakeIdentity>, headers: HeaderMap, Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    if headers.get("x-identity-header").and_then(|v| v.to_str().ok()) != Some("header-value") {
        return (StatusCode::UNAUTHORIZED, "missing X-IDENTITY-HEADER").into_response();
    }
    // Let concurrent callers pile up, to show that only one refresh goes out.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let n = {
        let mut calls = f.calls.lock().unwrap();
        calls.push(q);
        calls.len()
    };
    if let Some(status) = f.errors.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), "scripted error").into_response();
    }
    let lifetime = *f.lifetime_secs.lock().unwrap();
    let expires = chrono::Utc::now().timestamp() + lifetime;
    Json(json!({"access_token": format!("t{n}"), "expires_on": expires.to_string(), "resource": "https://ml.azure.com", "token_type": "Bearer"})).into_response()
}

impl FakeIdentity {
    pub async fn start(&self) -> String {
        *self.lifetime_secs.lock().unwrap() = 3600;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/msi/token", get(token)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/msi/token")
    }
}
