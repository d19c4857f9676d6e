//! `POST /Quarantine`: the quarantine operations as an HTTP function (wrapped mode) for Azure,
//! the same as `flowgate quarantine`:
//! - `GET /api/quarantine` lists open items (`?all=true` for closed ones too), `?id=ID` shows one;
//! - `POST /api/quarantine` with `{"action": "replay", "ids": [...]}` or
//!   `{"action": "discard", "id": "...", "reason": "..."}`.
//!
//! Who acted is the signed-in principal when App Service authentication supplies one, else
//! `function-key`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::envelope::{decode_text, Envelope, InvocationResponse};
use super::{reply, AppState};
use crate::flows::quarantine::{self, QuarantineError};

pub const NAME: &str = "Quarantine";
/// The trigger binding's `name` in function.json.
pub const BINDING: &str = "req";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

fn http_response(status: u16, body: &Value) -> Response {
    reply::http_output(status, body)
}

/// The acting principal from the wrapped request's identities.
fn actor(req: &Value) -> String {
    let claims = req
        .get("Identities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("Claims").and_then(Value::as_array))
        .flatten();
    for c in claims {
        let kind = c.get("Type").and_then(Value::as_str).unwrap_or("");
        if kind.ends_with("/upn") || kind.ends_with("/name") || kind == "name" || kind.ends_with("preferred_username") {
            if let Some(v) = c.get("Value").and_then(Value::as_str).filter(|v| !v.is_empty()) {
                return v.chars().take(128).collect();
            }
        }
    }
    "function-key".into()
}

fn refused(e: &QuarantineError) -> Response {
    let status = match e {
        QuarantineError::NotFound(_) => 404,
        QuarantineError::Store(_) | QuarantineError::Queue(_) | QuarantineError::Audit(_) => 503,
        _ => 409,
    };
    http_response(status, &json!({ "error": e.to_string() }))
}

async fn handle(State(deps): State<AppState>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return reply::invocation(StatusCode::BAD_REQUEST, InvocationResponse::default().log(e.to_string())),
    };
    let req = env.binding(BINDING).cloned().unwrap_or_default();
    let method = req.get("Method").and_then(decode_text).unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
    let query = match req.get("Query").cloned().unwrap_or_default() {
        Value::String(s) => serde_json::from_str::<Value>(&s).unwrap_or_default(),
        other => other,
    };
    let now = env.utc_now().unwrap_or_else(chrono::Utc::now);
    if method == "GET" {
        if let Some(id) = query.get("id").and_then(decode_text).filter(|s| !s.is_empty()) {
            return match quarantine::find(deps.store.as_ref(), &id).await {
                Ok((item, _, _)) => http_response(200, &json!(item)),
                Err(e) => refused(&e),
            };
        }
        let all = query.get("all").and_then(decode_text).is_some_and(|v| v == "true");
        return match quarantine::list(deps.store.as_ref(), all).await {
            Ok(items) => http_response(200, &json!({ "items": items })),
            Err(e) => http_response(503, &json!({ "error": e.to_string() })),
        };
    }
    let text = req.get("Body").and_then(decode_text).unwrap_or_default();
    let Ok(Value::Object(cmd)) = serde_json::from_str::<Value>(&text) else {
        return http_response(400, &json!({ "error": "the body must be a JSON object with an `action`" }));
    };
    let by = actor(&req);
    match cmd.get("action").and_then(Value::as_str) {
        Some("replay") => {
            let ids: Vec<String> =
                cmd.get("ids").and_then(Value::as_array).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
            if ids.is_empty() {
                return http_response(400, &json!({ "error": "`ids` must list at least one item" }));
            }
            let mut results = Vec::new();
            for id in ids {
                results.push(
                    match quarantine::replay(deps.store.as_ref(), deps.queue.as_ref(), deps.audit.as_ref(), &id, &by, now).await {
                        Ok(key) => json!({ "id": id, "replayed": true, "run": key.to_string() }),
                        Err(e) => json!({ "id": id, "replayed": false, "error": e.to_string() }),
                    },
                );
            }
            http_response(200, &json!({ "by": by, "results": results }))
        }
        Some("discard") => {
            let (Some(id), Some(reason)) = (cmd.get("id").and_then(Value::as_str), cmd.get("reason").and_then(Value::as_str)) else {
                return http_response(400, &json!({ "error": "`discard` needs `id` and `reason`" }));
            };
            match quarantine::discard(deps.store.as_ref(), deps.audit.as_ref(), id, reason, &by, now).await {
                Ok(item) => http_response(200, &json!(item)),
                Err(QuarantineError::NoReason) => http_response(400, &json!({ "error": "a reason is required to discard an item" })),
                Err(e) => refused(&e),
            }
        }
        _ => http_response(400, &json!({ "error": "`action` must be `replay` or `discard`" })),
    }
}
