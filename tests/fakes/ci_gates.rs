//! FAKES of the systems whose gates flowgate answers, for tests only, following the shapes in
//! `shared/reference/release-gates.md` §2:
//! - Azure Pipelines' events API: `POST {PlanUrl}{ProjectId}/_apis/distributedtask/hubs/{HubName}/
//!   plans/{PlanId}/events?api-version=2.0-preview.1` with the job's bearer token;
//! - GitHub: `POST /app/installations/{id}/access_tokens` (an app JWT in, a token out) and the
//!   deployment protection rule callback `POST /repos/{o}/{r}/actions/runs/{run}/
//!   deployment_protection_rule` (204);
//! - Key Vault's `POST /keys/{name}/sign` that signs the app JWT (the signature is not real).

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// One request the fake received: its path, bearer token and body.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub bearer: String,
    pub body: Value,
}

#[derive(Clone, Default)]
pub struct FakeCi {
    pub received: Arc<Mutex<Vec<Received>>>,
}

fn bearer(h: &HeaderMap) -> String {
    h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("").to_string()
}

async fn events(
    State(f): State<FakeCi>,
    Path((org, project, hub, plan)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let path = format!("/{org}/{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/events");
    f.received.lock().unwrap().push(Received { path, bearer: bearer(&headers), body });
    StatusCode::NO_CONTENT
}

async fn sign(State(f): State<FakeCi>, Path(key): Path<String>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
    f.received.lock().unwrap().push(Received { path: format!("/keys/{key}/sign"), bearer: bearer(&headers), body });
    Json(json!({ "kid": format!("https://vault/keys/{key}/1"), "value": "ZmFrZS1zaWduYXR1cmU" }))
}

async fn access_token(State(f): State<FakeCi>, Path(id): Path<u64>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    f.received.lock().unwrap().push(Received {
        path: format!("/app/installations/{id}/access_tokens"),
        bearer: bearer(&headers),
        body: Value::Null,
    });
    (StatusCode::CREATED, Json(json!({ "token": format!("ghs_installation_{id}"), "expires_at": "2099-01-01T00:00:00Z" })))
}

async fn review(
    State(f): State<FakeCi>,
    Path((owner, repo, run)): Path<(String, String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let path = format!("/repos/{owner}/{repo}/actions/runs/{run}/deployment_protection_rule");
    f.received.lock().unwrap().push(Received { path, bearer: bearer(&headers), body });
    StatusCode::NO_CONTENT
}

impl FakeCi {
    /// Serves on a loopback port; returns its base URL (ending without `/`).
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/{org}/{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/events", post(events))
            .route("/keys/{key}/sign", post(sign))
            .route("/app/installations/{id}/access_tokens", post(access_token))
            .route("/repos/{owner}/{repo}/actions/runs/{run}/deployment_protection_rule", post(review))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    /// What reached paths ending with `suffix`.
    pub fn at(&self, suffix: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|r| r.path.ends_with(suffix)).cloned().collect()
    }
}
