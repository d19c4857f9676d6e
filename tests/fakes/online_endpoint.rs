//! A FAKE of Azure ML managed online endpoints through ARM, for tests only (not a stand-in for
//! users): `GET/PUT .../onlineEndpoints/{ep}` with `traffic` and `mirrorTraffic`, `GET
//! .../onlineEndpoints/{ep}/deployments`, and the asynchronous operation a PUT starts
//! (`Azure-AsyncOperation`, or `Location` when asked), which answers `InProgress` for a scripted
//! number of polls and then `Succeeded` (the traffic applies) or, on cue, `Failed` (it does not).
//! Like ARM, a PUT whose traffic does not sum to 100 or names a deployment the endpoint lacks is
//! refused with 400. Every request is logged.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

struct Operation {
    polls_left: u32,
    fail: bool,
    endpoint: String,
    traffic: Value,
    mirror: Value,
}

#[derive(Default)]
struct Inner {
    base: String,
    /// Endpoint name → (traffic, mirror, deployments).
    endpoints: BTreeMap<String, (Value, Value, Vec<String>)>,
    operations: BTreeMap<u32, Operation>,
    /// Polls each new operation answers InProgress.
    polls: u32,
    /// The next operation ends Failed.
    fail_next: bool,
    /// Use `Location` instead of `Azure-AsyncOperation`.
    location: bool,
    log: Vec<String>,
}

#[derive(Clone, Default)]
pub struct FakeOnlineEndpoints {
    inner: Arc<Mutex<Inner>>,
}

impl FakeOnlineEndpoints {
    /// Starts on a free loopback port; returns the base URL (stands for https://management.azure.com).
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/{*path}", any(handle)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let base = format!("http://{addr}");
        self.inner.lock().unwrap().base = base.clone();
        base
    }

    /// An endpoint with these deployments and all traffic on `live`; its ARM URL under `base`.
    pub fn endpoint(&self, base: &str, name: &str, deployments: &[&str], live: &str) -> String {
        let traffic: Value =
            deployments.iter().map(|d| (d.to_string(), json!(if *d == live { 100 } else { 0 }))).collect::<serde_json::Map<_, _>>().into();
        self.inner.lock().unwrap().endpoints.insert(name.into(), (traffic, json!({}), deployments.iter().map(|d| d.to_string()).collect()));
        format!(
            "{base}/subscriptions/s-1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/{name}"
        )
    }

    /// Polls each operation answers InProgress before it ends.
    pub fn polls(&self, n: u32) {
        self.inner.lock().unwrap().polls = n;
    }

    /// The next traffic update ends Failed, leaving the traffic as it was.
    pub fn fail_next(&self) {
        self.inner.lock().unwrap().fail_next = true;
    }

    /// Answer PUTs with `Location` instead of `Azure-AsyncOperation`.
    pub fn use_location(&self) {
        self.inner.lock().unwrap().location = true;
    }

    /// The endpoint's live traffic now.
    pub fn traffic(&self, name: &str) -> Value {
        self.inner.lock().unwrap().endpoints[name].0.clone()
    }

    /// Every request, as `METHOD path`.
    pub fn log(&self) -> Vec<String> {
        self.inner.lock().unwrap().log.clone()
    }
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": { "code": "BadRequest", "message": message } }))).into_response()
}

async fn handle(State(fake): State<FakeOnlineEndpoints>, method: Method, Path(path): Path<String>, _h: HeaderMap, body: Bytes) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    inner.log.push(format!("{method} /{path}"));
    let segments: Vec<&str> = path.split('/').collect();
    if segments.first() == Some(&"operations") {
        let id: u32 = segments.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let location = inner.location;
        let Some(op) = inner.operations.get_mut(&id) else { return StatusCode::NOT_FOUND.into_response() };
        if op.polls_left > 0 {
            op.polls_left -= 1;
            let headers = [("Retry-After", "0")];
            return if location {
                (StatusCode::ACCEPTED, headers).into_response()
            } else {
                (headers, Json(json!({ "status": "InProgress" }))).into_response()
            };
        }
        let op = inner.operations.remove(&id).unwrap();
        if op.fail {
            let error = json!({ "code": "DeploymentFailed", "message": "the traffic update failed (as the test asked)" });
            return if location {
                (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
            } else {
                Json(json!({ "status": "Failed", "error": error })).into_response()
            };
        }
        let entry = inner.endpoints.get_mut(&op.endpoint).unwrap();
        entry.0 = op.traffic;
        entry.1 = op.mirror;
        let (t, m) = (entry.0.clone(), entry.1.clone());
        return if location {
            Json(json!({ "name": op.endpoint, "properties": { "traffic": t, "mirrorTraffic": m } })).into_response()
        } else {
            Json(json!({ "status": "Succeeded" })).into_response()
        };
    }
    let Some(i) = segments.iter().position(|s| *s == "onlineEndpoints") else { return StatusCode::NOT_FOUND.into_response() };
    let name = segments.get(i + 1).copied().unwrap_or("").to_string();
    let Some((traffic, mirror, deployments)) = inner.endpoints.get(&name).cloned() else {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": { "code": "ResourceNotFound", "message": name } }))).into_response();
    };
    let resource = json!({
        "id": format!("/{}", segments[..=i + 1].join("/")), "name": name, "location": "uksouth",
        "identity": { "type": "SystemAssigned" },
        "properties": { "authMode": "AADToken", "provisioningState": "Succeeded", "traffic": traffic, "mirrorTraffic": mirror }
    });
    match (method, segments.get(i + 2)) {
        (Method::GET, Some(&"deployments")) => {
            Json(json!({ "value": deployments.iter().map(|d| json!({ "name": d })).collect::<Vec<_>>() })).into_response()
        }
        (Method::GET, None) => Json(resource).into_response(),
        (Method::PUT, None) => {
            let Ok(sent) = serde_json::from_slice::<Value>(&body) else { return bad("the body is not JSON") };
            let new_traffic = sent["properties"]["traffic"].clone();
            let new_mirror = sent["properties"]["mirrorTraffic"].clone();
            let total: u64 = new_traffic.as_object().into_iter().flatten().filter_map(|(_, v)| v.as_u64()).sum();
            if total != 100 {
                return bad(&format!("traffic sums to {total}, not 100"));
            }
            let named = new_traffic.as_object().into_iter().flatten().chain(new_mirror.as_object().into_iter().flatten()).map(|(k, _)| k);
            if let Some(unknown) = named.clone().find(|k| !deployments.contains(k)) {
                return bad(&format!("deployment {unknown} does not exist"));
            }
            let id = inner.operations.keys().max().map_or(1, |k| k + 1) + inner.log.len() as u32;
            let fail = std::mem::take(&mut inner.fail_next);
            let polls = inner.polls;
            inner.operations.insert(id, Operation { polls_left: polls, fail, endpoint: name, traffic: new_traffic, mirror: new_mirror });
            let op_url = format!("{}/operations/{id}", inner.base);
            let header = if inner.location { "Location" } else { "Azure-AsyncOperation" };
            (StatusCode::CREATED, [(header, op_url), ("Retry-After", "0".to_string())], Json(resource)).into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}
