//! `POST /Runs`: an HTTP-triggered function (wrapped mode) listing recent runs as JSON:
//! `GET /api/runs?job=NAME&limit=N` at the Functions host.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::envelope::{decode_text, Envelope, InvocationResponse};
use super::{reply, AppState};
use crate::flows::runs;

pub const NAME: &str = "Runs";
/// The trigger binding's `name` in function.json.
pub const BINDING: &str = "req";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

fn http_response(status: u16, body: &Value) -> Response {
    reply::http_output(status, body)
}

async fn handle(State(deps): State<AppState>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return reply::invocation(StatusCode::BAD_REQUEST, InvocationResponse::default().log(e.to_string())),
    };
    let query = env.binding(BINDING).and_then(|r| r.get("Query").or_else(|| r.get("query"))).cloned().unwrap_or_default();
    let query = match query {
        Value::String(s) => serde_json::from_str::<Value>(&s).unwrap_or_default(),
        other => other,
    };
    let job = query.get("job").and_then(decode_text).filter(|j| !j.is_empty());
    let limit = match query.get("limit").and_then(decode_text) {
        None => 50,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return http_response(400, &json!({ "error": format!("`limit` must be a whole number from 1 to 1000, not `{s}`") })),
        },
    };
    match runs::list(deps.store.as_ref(), job.as_deref(), limit).await {
        Ok(list) => http_response(200, &json!({ "runs": list })),
        Err(e) => {
            tracing::error!(error.message = %e, "listing runs failed");
            http_response(503, &json!({ "error": "the run store is unavailable" }))
        }
    }
}
