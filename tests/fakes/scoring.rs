//! A FAKE scoring endpoint for tests (not a Foundry stand-in for users): answers `POST /score`
//! from a script of statuses (then 200s), echoing the input (in answers and in error messages, as
//! real endpoints do), and counts calls and the deployment each was pinned to.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// A scripted answer: status and optional `Retry-After`.
pub type Scripted = (u16, Option<&'static str>);

#[derive(Clone, Default)]
pub struct FakeScoring {
    pub script: Arc<Mutex<VecDeque<Scripted>>>,
    pub calls: Arc<Mutex<Vec<Value>>>,
    /// Each call's `azureml-model-deployment` header (the deployment it was pinned to).
    pub deployments: Arc<Mutex<Vec<Option<String>>>>,
}

async fn score(State(f): State<FakeScoring>, headers: axum::http::HeaderMap, Json(body): Json<Value>) -> Response {
    f.calls.lock().unwrap().push(body.clone());
    f.deployments.lock().unwrap().push(headers.get("azureml-model-deployment").and_then(|v| v.to_str().ok()).map(str::to_string));
    let next = f.script.lock().unwrap().pop_front();
    match next {
        Some((status, retry_after)) if status != 200 => {
            let mut r = (
                StatusCode::from_u16(status).unwrap(),
                // Like prompt flow's errors, the message quotes the request it refused.
                Json(json!({"error": {"code": "Scripted", "message": format!("scripted {status} for request data {body}")}})),
            )
                .into_response();
            if let Some(ra) = retry_after {
                r.headers_mut().insert("retry-after", ra.parse().unwrap());
            }
            r
        }
        _ => Json(json!({ "label": "fnol", "echo": body })).into_response(),
    }
}

impl FakeScoring {
    /// Starts on a free loopback port; returns the `/score` URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/score", post(score)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/score")
    }

    pub fn push(&self, status: u16, retry_after: Option<&'static str>) {
        self.script.lock().unwrap().push_back((status, retry_after));
    }

    pub fn call_count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}
