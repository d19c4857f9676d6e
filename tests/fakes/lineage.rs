//! A FAKE OpenLineage server (Marquez's `POST /api/v1/lineage`) and Purview data map (`POST
//! /datamap/api/atlas/v2/entity/bulk`), for tests only: each keeps what it was sent, with the
//! `Authorization` header, and answers like the real one (201 / 200 with `mutatedEntities`).

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Clone, Default)]
pub struct FakeLineageServers {
    pub openlineage: Arc<Mutex<Vec<Value>>>,
    /// (Authorization header, body)
    pub purview: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn lineage(State(f): State<FakeLineageServers>, Json(event): Json<Value>) -> impl IntoResponse {
    f.openlineage.lock().unwrap().push(event);
    StatusCode::CREATED
}

async fn bulk(State(f): State<FakeLineageServers>, headers: HeaderMap, Json(body): Json<Value>) -> impl IntoResponse {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let n = body["entities"].as_array().map_or(0, Vec::len);
    f.purview.lock().unwrap().push((auth, body));
    Json(json!({ "mutatedEntities": { "CREATE": (0..n).map(|i| json!({ "guid": format!("g{i}") })).collect::<Vec<_>>() } }))
}

impl FakeLineageServers {
    /// Starts on a free loopback port; returns its base URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/api/v1/lineage", post(lineage))
            .route("/datamap/api/atlas/v2/entity/bulk", post(bulk))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }
}
