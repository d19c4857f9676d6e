//! `POST /AlertIngest` (wrapped mode; `POST /api/alert-ingest` at the Functions host): Azure
//! Monitor's action group posts its alerts here in the common alert schema, with an Entra token
//! (Easy Auth checks it; the caller must be a signed-in principal, 401 and an audit event
//! otherwise). Fired and Resolved map onto one fingerprint, so the backstops are repeated and
//! resolved like flowgate's own alerts. A body that is not a common-schema alert is a 400 naming
//! what is wrong.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::caller::{caller, deny};
use super::envelope::decode_text;
use super::{reply, AppState};
use crate::domain::alerting::azure;

pub const NAME: &str = "AlertIngest";
/// The trigger binding's `name` in function.json.
pub const BINDING: &str = "req";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
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
    let text = req.get("Body").and_then(decode_text).unwrap_or_default();
    let posted = match azure::parse(text.as_bytes(), now) {
        Ok(p) => p,
        Err(e) => return reply::http_output(400, &json!({ "error": e.to_string() })),
    };
    let fingerprint = posted.alert.fingerprint();
    let status = if posted.fired { "fired" } else { "resolved" };
    if let Err(e) = crate::flows::monitor::from_azure(&deps, &posted.alert, posted.fired, now).await {
        return reply::flow_error(&e);
    }
    let audited = crate::flows::audit::record_by(
        deps.audit.as_ref(),
        now,
        crate::domain::audit::AuditKind::Alerted,
        &who.key(),
        posted.alert.name.clone(),
        format!("Azure Monitor {status}: {}", posted.alert.summary),
        json!({ "labels": posted.alert.labels, "severity": posted.alert.severity, "at": posted.at, "fingerprint": fingerprint }),
        None,
    )
    .await;
    if let Err(e) = audited {
        return reply::flow_error(&e);
    }
    reply::http_output(200, &json!({ "fingerprint": fingerprint, "status": status }))
}
