//! A FAKE of the two long-running Foundry surfaces, for tests only (not a stand-in for users):
//! Azure ML jobs through ARM (`PUT/GET .../workspaces/{ws}/jobs/{name}`, `POST .../cancel`) and the
//! Evals API (`GET/POST {project}/openai/v1/evals/{id}/runs`, `GET .../runs/{run}`). Each job or
//! run walks through a scripted list of statuses, one per status read; a scripted number of
//! status reads answer 429 with `Retry-After` and `retry-after-ms`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Default)]
struct Inner {
    /// Statuses each new job or run walks through (the last one stays).
    script: Vec<&'static str>,
    /// Result counts of a completed eval run.
    result_counts: Value,
    /// Status reads still to answer 429.
    throttle: u32,
    jobs: BTreeMap<String, (Value, VecDeque<&'static str>)>,
    eval_runs: BTreeMap<String, (Value, VecDeque<&'static str>)>,
    log: Vec<String>,
}

#[derive(Clone, Default)]
pub struct FakeFoundryJobs {
    inner: Arc<Mutex<Inner>>,
}

impl FakeFoundryJobs {
    /// Starts on a free loopback port; returns the base URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/{*path}", any(handle)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    pub fn script(&self, statuses: &[&'static str]) {
        self.inner.lock().unwrap().script = statuses.to_vec();
    }

    pub fn result_counts(&self, counts: Value) {
        self.inner.lock().unwrap().result_counts = counts;
    }

    pub fn throttle(&self, reads: u32) {
        self.inner.lock().unwrap().throttle = reads;
    }

    /// Every request, as `METHOD path`.
    pub fn log(&self) -> Vec<String> {
        self.inner.lock().unwrap().log.clone()
    }

    pub fn job_body(&self, name: &str) -> Option<Value> {
        self.inner.lock().unwrap().jobs.get(name).map(|(v, _)| v.clone())
    }

    pub fn eval_runs(&self) -> Vec<Value> {
        self.inner.lock().unwrap().eval_runs.values().map(|(v, _)| v.clone()).collect()
    }
}

fn next_status(steps: &mut VecDeque<&'static str>) -> &'static str {
    if steps.len() > 1 {
        steps.pop_front().unwrap()
    } else {
        steps.front().copied().unwrap_or("Completed")
    }
}

fn throttled() -> Response {
    let mut r =
        (StatusCode::TOO_MANY_REQUESTS, Json(json!({ "error": { "code": "TooManyRequests", "message": "slow down" } }))).into_response();
    r.headers_mut().insert("retry-after", "90".parse().unwrap());
    r.headers_mut().insert("retry-after-ms", "120000".parse().unwrap());
    r
}

async fn handle(State(fake): State<FakeFoundryJobs>, method: Method, Path(path): Path<String>, body: Bytes) -> Response {
    let mut f = fake.inner.lock().unwrap();
    f.log.push(format!("{method} /{path}"));
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parts: Vec<&str> = path.split('/').collect();
    // Azure ML: .../workspaces/{ws}/jobs/{name}[/cancel]
    if let Some(i) = parts.iter().position(|p| *p == "jobs").filter(|_| parts.contains(&"workspaces")) {
        let name = parts.get(i + 1).copied().unwrap_or_default().to_string();
        let cancel = parts.get(i + 2) == Some(&"cancel");
        return match (method, cancel) {
            (Method::PUT, false) if f.jobs.contains_key(&name) => {
                (StatusCode::CONFLICT, Json(json!({ "error": { "code": "Conflict", "message": "job exists" } }))).into_response()
            }
            (Method::PUT, false) => {
                let steps: VecDeque<_> = f.script.iter().copied().collect();
                f.jobs.insert(name.clone(), (body.clone(), steps));
                let mut resource = body;
                resource["name"] = json!(name);
                resource["properties"]["status"] = json!("NotStarted");
                resource["properties"]["services"] = json!({ "Studio": { "endpoint": format!("https://ml.azure.com/runs/{name}") } });
                (StatusCode::CREATED, Json(resource)).into_response()
            }
            (Method::GET, false) => {
                if f.throttle > 0 {
                    f.throttle -= 1;
                    return throttled();
                }
                let Some((stored, steps)) = f.jobs.get_mut(&name) else {
                    return (StatusCode::NOT_FOUND, Json(json!({ "error": { "message": "no such job" } }))).into_response();
                };
                let status = next_status(steps);
                let mut resource = stored.clone();
                resource["name"] = json!(name);
                resource["properties"]["status"] = json!(status);
                if status == "Failed" {
                    resource["properties"]["error"] = json!({ "message": "the command exited with code 1" });
                }
                Json(resource).into_response()
            }
            (Method::POST, true) => {
                if let Some((_, steps)) = f.jobs.get_mut(&name) {
                    *steps = VecDeque::from(["CancelRequested", "Canceled"]);
                }
                StatusCode::ACCEPTED.into_response()
            }
            _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        };
    }
    // Evals: .../openai/v1/evals/{eval}/runs[/{run}]
    if let Some(i) = parts.iter().position(|p| *p == "evals") {
        let eval = parts.get(i + 1).copied().unwrap_or_default().to_string();
        let run = parts.get(i + 3).map(|s| s.to_string());
        return match (method, run) {
            (Method::GET, None) => {
                let data: Vec<Value> = f.eval_runs.values().map(|(v, _)| v.clone()).filter(|v| v["eval_id"] == json!(eval)).collect();
                Json(json!({ "object": "list", "data": data })).into_response()
            }
            (Method::POST, None) => {
                let id = format!("evalrun_{}", f.eval_runs.len() + 1);
                let resource = json!({ "id": id, "eval_id": eval, "name": body["name"], "status": "queued", "data_source": body["data_source"],
                    "report_url": format!("https://ai.azure.com/evaluation/{id}") });
                let steps: VecDeque<_> = f.script.iter().copied().collect();
                f.eval_runs.insert(id, (resource.clone(), steps));
                (StatusCode::CREATED, Json(resource)).into_response()
            }
            (Method::GET, Some(run)) => {
                if f.throttle > 0 {
                    f.throttle -= 1;
                    return throttled();
                }
                let counts = f.result_counts.clone();
                let Some((stored, steps)) = f.eval_runs.get_mut(&run) else {
                    return (StatusCode::NOT_FOUND, Json(json!({ "error": { "message": "no such run" } }))).into_response();
                };
                let status = next_status(steps);
                let mut resource = stored.clone();
                resource["status"] = json!(status);
                if status == "completed" {
                    resource["result_counts"] = counts;
                }
                Json(resource).into_response()
            }
            (Method::POST, Some(run)) => {
                if let Some((_, steps)) = f.eval_runs.get_mut(&run) {
                    *steps = VecDeque::from(["canceled"]);
                }
                Json(json!({ "id": run, "status": "canceling" })).into_response()
            }
            _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        };
    }
    (StatusCode::NOT_FOUND, Json(json!({ "error": { "message": format!("no route /{path}") } }))).into_response()
}
