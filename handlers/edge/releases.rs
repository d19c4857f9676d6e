//! `POST /Releases`: the release operations as an HTTP function (wrapped mode), the same as
//! `flowgate release`:
//! - `GET /api/releases` lists releases, `?id=ID` shows one;
//! - `POST /api/releases` with `{"action": "propose", "bundle": {...}, "commit": "...", "source": "..."}`,
//!   `{"action": "approve" | "gate-check" | "review", "id": "..."}`, `{"action": "reject", "id": "...",
//!   "reason": "..."}`, `{"action": "evaluate", "id": "...", "baseline": "<file text>", "candidate":
//!   "<file text>"}`, `{"action": "promote", "id": "...", "emergency": {"reason": "...", "incident":
//!   "..."}}` (emergency optional) or `{"action": "rollback", "to": "..."}`.
//!
//! The caller is the Easy Auth principal (`caller`); without one the answer is 401, audited.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::caller::{caller, deny};
use super::envelope::decode_text;
use super::{reply, AppState};
use crate::domain::release::Bundle;
use crate::flows::releases::{self as releases, records, Promotion, ReleaseError};

pub const NAME: &str = "Releases";
/// The trigger binding's `name` in function.json.
pub const BINDING: &str = "req";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

fn answer(status: u16, body: &Value) -> Response {
    reply::http_output(status, body)
}

fn refused(e: &ReleaseError) -> Response {
    let status = match e {
        ReleaseError::BadInput(_) => 400,
        ReleaseError::NotFound(_) => 404,
        ReleaseError::Refused(_) => 403,
        ReleaseError::Conflict(_) => 409,
        _ => 503,
    };
    answer(status, &json!({ "error": e.to_string() }))
}

fn text(cmd: &Value, key: &str) -> Option<String> {
    cmd.get(key).and_then(Value::as_str).map(str::to_string)
}

async fn handle(State(deps): State<AppState>, body: Bytes) -> Response {
    let (req, now) = match reply::wrapped_request(&body, BINDING) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let who = match caller(&deps, &req) {
        Ok(p) => p,
        Err(e) => return deny(&deps, NAME, &req, &e, now).await,
    };
    let d = deps.release_deps();
    if let Err(e) = releases::converge(&d).await {
        return refused(&e);
    }
    let method = req.get("Method").and_then(decode_text).unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
    if method == "GET" {
        let query = match req.get("Query").cloned().unwrap_or_default() {
            Value::String(s) => serde_json::from_str::<Value>(&s).unwrap_or_default(),
            other => other,
        };
        return match query.get("id").and_then(decode_text).filter(|s| !s.is_empty()) {
            Some(id) => match records::resolve(d.store.as_ref(), &id).await {
                Ok(id) => match releases::status(&d, &id, now).await {
                    Ok(s) => answer(200, &json!(s)),
                    Err(e) => refused(&e),
                },
                Err(e) => refused(&e),
            },
            None => match releases::list(&d).await {
                Ok((list, active)) => answer(200, &json!({ "active": active, "releases": list })),
                Err(e) => refused(&e),
            },
        };
    }
    let raw = req.get("Body").and_then(decode_text).unwrap_or_default();
    let Ok(cmd @ Value::Object(_)) = serde_json::from_str::<Value>(&raw) else {
        return answer(400, &json!({ "error": "the body must be a JSON object with an `action`" }));
    };
    let action = text(&cmd, "action").unwrap_or_default();
    if action == "propose" {
        let Some(bundle) = cmd.get("bundle").cloned().and_then(|b| serde_json::from_value::<Bundle>(b).ok()) else {
            return answer(400, &json!({ "error": "`propose` needs `bundle`: the release content (flowgate release propose builds it)" }));
        };
        let source = text(&cmd, "source").unwrap_or_else(|| bundle.catalog_name.clone());
        return match releases::propose(&d, bundle, &who, text(&cmd, "commit"), &source, now).await {
            Ok(p) => answer(200, &json!({ "id": p.id, "created": p.created, "record": p.record, "warnings": p.warnings })),
            Err(e) => refused(&e),
        };
    }
    let id_key = if action == "rollback" { "to" } else { "id" };
    let Some(id_text) = text(&cmd, id_key) else {
        return answer(
            400,
            &json!({ "error": format!("`{action}` needs `{id_key}`; actions: propose, approve, reject, evaluate, gate-check, promote, rollback, review") }),
        );
    };
    let id = match records::resolve(d.store.as_ref(), &id_text).await {
        Ok(id) => id,
        Err(e) => return refused(&e),
    };
    let result = match action.as_str() {
        "approve" => releases::approve(&d, &id, &who, now).await.map(|a| json!(a)),
        "reject" => releases::reject(&d, &id, &who, &text(&cmd, "reason").unwrap_or_default(), now).await.map(|r| json!(r)),
        "gate-check" => releases::gate_check(&d, &id, Some(&who), false, now).await.map(|c| json!(c)),
        "review" => releases::review(&d, &id, &who, now).await.map(|r| json!(r)),
        "evaluate" => {
            let (base, cand) = (text(&cmd, "baseline").unwrap_or_default(), text(&cmd, "candidate").unwrap_or_default());
            releases::evaluation::evaluate(&d, &id, &who, base.as_bytes(), cand.as_bytes(), now).await.map(|r| json!(r))
        }
        "rollback" => releases::rollback(&d, &id, &who, now).await.map(|p| json!(p)),
        "promote" => {
            let emergency = cmd
                .get("emergency")
                .filter(|v| !v.is_null())
                .map(|e| (text(e, "reason").unwrap_or_default(), text(e, "incident").unwrap_or_default()));
            releases::promote(&d, &id, &who, &Promotion { emergency }, now).await.map(|p| json!(p))
        }
        other => return answer(400, &json!({ "error": format!("unknown action `{other}`") })),
    };
    match result {
        Ok(v) => answer(200, &json!({ "by": who.key(), "result": v })),
        Err(e) => refused(&e),
    }
}
