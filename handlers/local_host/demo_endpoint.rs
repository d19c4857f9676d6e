//! The **demo scorer**: a stand-in for a Foundry managed online endpoint serving the claims prompt
//! flow (`examples/claims/flow/`), for `flowgate local --demo` only. Its `/score` answers with the
//! flow's keyword rules, with injected latency and a small failure rate so that retries show, from
//! one of three deployments chosen by the `azureml-model-deployment` header (else by the
//! endpoint's live traffic): `blue` (the flow's rules), `green` (two more fnol keywords: better)
//! and `red` (three fnol keywords dropped: worse). Under `/management/...` it answers the ARM calls
//! of the blue/green switch (GET, PUT with an asynchronous operation, the deployments list).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The deployments and how each changes the flow's fnol keywords.
pub const DEPLOYMENTS: [&str; 3] = ["blue", "green", "red"];

const FNOL: [&str; 7] = ["accident", "collision", "first notice", "damage", "stolen", "theft", "crash"];
const GREEN_EXTRA: [&str; 2] = ["cracked", "fell on"];
const RED_DROPPED: [&str; 3] = ["damage", "stolen", "theft"];
const BILLING: [&str; 6] = ["invoice", "premium", "payment", "refund", "charge", "billing"];
const COMPLAINT: [&str; 6] = ["complain", "unacceptable", "disappointed", "ombudsman", "angry", "escalate"];

/// The rules of `examples/claims/flow/classify.py` (deployment `blue`).
pub fn classify(text: &str) -> (String, f64) {
    classify_on("blue", text)
}

/// The rules of one deployment.
pub fn classify_on(deployment: &str, text: &str) -> (String, f64) {
    let mut fnol: Vec<&str> = FNOL.to_vec();
    match deployment {
        "green" => fnol.extend(GREEN_EXTRA),
        "red" => fnol.retain(|k| !RED_DROPPED.contains(k)),
        _ => {}
    }
    let t = text.to_lowercase();
    let count = |kws: &[&str]| kws.iter().filter(|k| t.contains(*k)).count();
    let hits = [("fnol", count(&fnol)), ("billing", count(&BILLING)), ("complaint", count(&COMPLAINT))];
    let total: usize = hits.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return ("other".into(), 0.5);
    }
    // Python's max() keeps the first of equal maxima.
    let mut best = hits[0];
    for h in &hits[1..] {
        if h.1 > best.1 {
            best = *h;
        }
    }
    (best.0.to_string(), (best.1 as f64 / total as f64 * 1000.0).round() / 1000.0)
}

/// The stand-in's state: calls so far, the endpoint's traffic, pending traffic updates.
pub struct Scorer {
    calls: AtomicU64,
    traffic: Mutex<BTreeMap<String, u32>>,
    pending: Mutex<BTreeMap<u64, BTreeMap<String, u32>>>,
    base: String,
}

impl Scorer {
    fn live(&self) -> String {
        let t = self.traffic.lock().map(|t| t.clone()).unwrap_or_default();
        t.iter().max_by_key(|(_, p)| **p).map_or("blue".into(), |(d, _)| d.clone())
    }
}

/// Every 47th call fails with 503, every 89th with 429 and `Retry-After: 30`; each call waits a
/// few milliseconds. Deterministic, so demo runs are repeatable.
async fn score(State(s): State<Arc<Scorer>>, headers: HeaderMap, body: Option<Json<Value>>) -> Response {
    let n = s.calls.fetch_add(1, Ordering::Relaxed) + 1;
    tokio::time::sleep(Duration::from_millis(1 + n % 7)).await;
    if n % 89 == 0 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "30")],
            Json(json!({"error": {"code": "TooManyRequests", "message": "demo throttling"}})),
        )
            .into_response();
    }
    if n % 47 == 0 {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"code": "ServiceUnavailable", "message": "demo outage"}})))
            .into_response();
    }
    let deployment = match headers.get("azureml-model-deployment").and_then(|v| v.to_str().ok()) {
        Some(d) if DEPLOYMENTS.contains(&d) => d.to_string(),
        Some(d) => {
            return (StatusCode::NOT_FOUND, Json(json!({"error": {"code": "DeploymentNotFound", "message": format!("no deployment {d}")}})))
                .into_response()
        }
        None => s.live(),
    };
    let Some(Json(Value::Object(input))) = body else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": {"code": "UserError", "message": "the request is not a JSON object"}})))
            .into_response();
    };
    let Some(text) = input.get("text").and_then(Value::as_str) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"code": "UserError", "message": "Required input fields ['text'] are missing"}})),
        )
            .into_response();
    };
    let (label, confidence) = classify_on(&deployment, text);
    Json(json!({ "label": label, "confidence": confidence })).into_response()
}

/// The ARM calls of the blue/green switch on endpoint `claims`.
async fn management(State(s): State<Arc<Scorer>>, method: Method, Path(path): Path<String>, body: Bytes) -> Response {
    let bad = |m: String| (StatusCode::BAD_REQUEST, Json(json!({"error": {"code": "BadRequest", "message": m}}))).into_response();
    if let Some(id) = path.strip_prefix("operations/").and_then(|i| i.parse::<u64>().ok()) {
        let Some(traffic) = s.pending.lock().ok().and_then(|mut p| p.remove(&id)) else { return StatusCode::NOT_FOUND.into_response() };
        if let Ok(mut t) = s.traffic.lock() {
            *t = traffic;
        }
        return Json(json!({"status": "Succeeded"})).into_response();
    }
    let resource = || {
        let traffic = s.traffic.lock().map(|t| t.clone()).unwrap_or_default();
        json!({"name": "claims", "location": "local", "properties": {"authMode": "AADToken", "traffic": traffic, "mirrorTraffic": {}}})
    };
    match (method, path.ends_with("/deployments")) {
        (Method::GET, true) => Json(json!({"value": DEPLOYMENTS.iter().map(|d| json!({"name": d})).collect::<Vec<_>>()})).into_response(),
        (Method::GET, false) => Json(resource()).into_response(),
        (Method::PUT, false) => {
            let Ok(sent) = serde_json::from_slice::<Value>(&body) else { return bad("the body is not JSON".into()) };
            let traffic: BTreeMap<String, u32> = sent["properties"]["traffic"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), u32::try_from(v.as_u64().unwrap_or(0)).unwrap_or(0)))
                .collect();
            if traffic.values().sum::<u32>() != 100 {
                return bad("traffic must sum to 100".into());
            }
            if let Some(d) = traffic.keys().find(|d| !DEPLOYMENTS.contains(&d.as_str())) {
                return bad(format!("deployment {d} does not exist"));
            }
            let id = s.calls.fetch_add(1, Ordering::Relaxed) + 1_000_000;
            if let Ok(mut p) = s.pending.lock() {
                p.insert(id, traffic);
            }
            let op = format!("{}/management/operations/{id}", s.base);
            (StatusCode::CREATED, [("Azure-AsyncOperation", op), ("Retry-After", "0".to_string())], Json(resource())).into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

/// The demo scorer's addresses.
pub struct DemoEndpoint {
    /// `/score`.
    pub score_url: String,
    /// The endpoint's stand-in ARM URL (a job's `management`).
    pub management_url: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the demo scorer on a free loopback port, all traffic on `blue`.
pub async fn start_scorer() -> Result<DemoEndpoint, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("demo scorer: {e}"))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let base = format!("http://{addr}");
    let scorer = Scorer {
        calls: AtomicU64::new(0),
        traffic: Mutex::new(DEPLOYMENTS.iter().map(|d| (d.to_string(), u32::from(*d == "blue") * 100)).collect()),
        pending: Mutex::default(),
        base: base.clone(),
    };
    let app = Router::new()
        .route("/score", post(score))
        .route("/management/{*path}", any(management))
        .route("/health", get(|| async { Json(json!({"status": "Healthy", "stand_in": "flowgate demo scorer"})) }))
        .with_state(Arc::new(scorer));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let management_url = format!(
        "{base}/management/subscriptions/demo/resourceGroups/demo/providers/Microsoft.MachineLearningServices/workspaces/demo/onlineEndpoints/claims"
    );
    Ok(DemoEndpoint { score_url: format!("{base}/score"), management_url, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_differ_as_documented() {
        assert_eq!(classify("I had an accident, my car has damage"), ("fnol".into(), 1.0));
        assert_eq!(classify("please update my address"), ("other".into(), 0.5));
        assert_eq!(classify("refund the premium, this is unacceptable"), ("billing".into(), 0.667));
        assert_eq!(classify_on("green", "my windscreen cracked").0, "fnol");
        assert_eq!(classify_on("blue", "my windscreen cracked").0, "other");
        assert_eq!(classify_on("red", "my bike was stolen").0, "other");
    }
}
