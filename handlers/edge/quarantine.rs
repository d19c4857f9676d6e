//! `POST /Quarantine`: the quarantine operations as an HTTP function (wrapped mode) for Azure,
//! the same as `flowgate quarantine`:
//! - `GET /api/quarantine` lists open items (`?all=true` for closed ones too), `?id=ID` shows one;
//! - `POST /api/quarantine` with `{"action": "replay", "ids": [...]}` or
//!   `{"action": "discard", "id": "...", "reason": "..."}`.
//!
//! The caller is the Easy Auth principal (see `caller`; 401 and an audit event without one);
//! replay and discard need the app role `Quarantine.Operator`, and are recorded with the caller's
//! key (tenant id + object id), never a display name.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::caller::{caller, deny};
use super::envelope::{decode_text, Envelope, InvocationResponse};
use super::{reply, AppState};
use crate::domain::principal::roles::QUARANTINE_OPERATOR;
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
    let who = match caller(&deps, &req) {
        Ok(p) => p,
        Err(e) => return deny(&deps, NAME, &req, &e, now).await,
    };
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
    if !who.has_role(QUARANTINE_OPERATOR) {
        let why = format!("{} does not hold the role `{QUARANTINE_OPERATOR}`", who.key());
        let evidence = json!({ "principal": who, "action": cmd.get("action") });
        if let Err(e) = crate::flows::audit::record_by(
            deps.audit.as_ref(),
            now,
            crate::domain::audit::AuditKind::AccessDenied,
            &who.key(),
            NAME,
            format!("403: {why}"),
            evidence,
            None,
        )
        .await
        {
            return reply::flow_error(&e);
        }
        return http_response(403, &json!({ "error": why }));
    }
    let by = who.key();
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
