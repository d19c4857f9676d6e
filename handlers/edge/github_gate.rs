//! `POST /GitHubGate`: GitHub's `deployment_protection_rule` webhook. The delivery is verified
//! with `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the webhook secret, compared in
//! constant time; a bad one answers 401 and is audited), then queued; CompleteCheck approves the
//! deployment only when its commit is the source of a release whose gate passes, else rejects it
//! with a short comment. Exclude this route from App Service authentication (docs/releases.md):
//! GitHub signs, it does not sign in.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::caller::header;
use super::envelope::decode_text;
use super::{reply, AppState};
use crate::domain::audit::AuditKind;
use crate::domain::release::external::{github_signature_ok, CheckMessage, GitHubRequest};

pub const NAME: &str = "GitHubGate";
pub const BINDING: &str = "req";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, body: Bytes) -> Response {
    let (req, now) = match reply::wrapped_request(&body, BINDING) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(github) = deps.github.clone() else {
        return reply::http_output(
            503,
            &json!({ "error": "the GitHub App is not configured (FLOWGATE_GITHUB_APP_ID, FLOWGATE_GITHUB_APP_KEY_URL)" }),
        );
    };
    let raw = req.get("Body").and_then(decode_text).unwrap_or_default();
    let secret = match github.webhook_secret().await {
        Ok(s) => s,
        Err(e) => return reply::http_output(503, &json!({ "error": e.to_string() })),
    };
    if !github_signature_ok(&secret, raw.as_bytes(), header(&req, "X-Hub-Signature-256").as_deref()) {
        let evidence =
            json!({ "function": NAME, "why": "X-Hub-Signature-256 missing or wrong", "delivery": header(&req, "X-GitHub-Delivery") });
        if let Err(e) =
            crate::flows::audit::record_by(deps.audit.as_ref(), now, AuditKind::AccessDenied, "anonymous", NAME, "401", evidence, None)
                .await
        {
            return reply::flow_error(&e);
        }
        return reply::http_output(401, &json!({ "error": "the delivery's X-Hub-Signature-256 does not match" }));
    }
    let event = header(&req, "X-GitHub-Event").unwrap_or_default();
    if event != "deployment_protection_rule" {
        return reply::http_output(200, &json!({ "status": "ignored", "event": event }));
    }
    let payload = serde_json::from_str::<Value>(&raw).unwrap_or_default();
    let request = match GitHubRequest::parse(&payload) {
        Ok(Some(r)) => r,
        Ok(None) => return reply::http_output(200, &json!({ "status": "ignored" })),
        Err(e) => return reply::http_output(400, &json!({ "error": e })),
    };
    match crate::flows::releases::external::accept(&deps, &CheckMessage::GitHub { request }, now).await {
        Ok(first) => reply::http_output(200, &json!({ "status": "queued", "duplicate": !first })),
        Err(e) => reply::flow_error(&e),
    }
}
