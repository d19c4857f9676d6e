//! `POST /PipelineCheck`: an Azure Pipelines "Invoke Azure Function" check in callback mode. The
//! task's ids come from the headers the check sends (`PlanUrl`, `ProjectId`, `HubName`, `PlanId`,
//! `JobId`, `TimelineId`, `TaskInstanceId`, `AuthToken`); the body names the release
//! (`{"release": "<id>"}`) or the commit (`{"commit": "$(Build.SourceVersion)"}`). The answer is
//! 200 at once; CompleteCheck decides and posts `TaskCompleted` once. The caller must be a
//! trusted Easy Auth principal (Invoke Azure Function v2 with a service connection).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::caller::{caller, deny, header};
use super::envelope::decode_text;
use super::{reply, AppState};
use crate::domain::release::external::{CheckMessage, PipelineTask};

pub const NAME: &str = "PipelineCheck";
pub const BINDING: &str = "req";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, body: Bytes) -> Response {
    let (req, now) = match reply::wrapped_request(&body, BINDING) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(e) = caller(&deps, &req) {
        return deny(&deps, NAME, &req, &e, now).await;
    }
    let extra: Vec<String> = (deps.settings)("FLOWGATE_PIPELINES_ALLOWED_URLS")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let task = match PipelineTask::from_headers(&|name| header(&req, name), &extra) {
        Ok(t) => t,
        Err(e) => return reply::http_output(400, &json!({ "error": e.to_string() })),
    };
    let Some(auth_token) = header(&req, "AuthToken").filter(|t| !t.trim().is_empty()) else {
        return reply::http_output(400, &json!({ "error": "the check request has no `AuthToken` header" }));
    };
    let text = req.get("Body").and_then(decode_text).unwrap_or_default();
    let target = serde_json::from_str::<Value>(&text).unwrap_or_default();
    let pick = |k: &str| target.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let (release, commit) = (pick("release"), pick("commit"));
    if release.is_none() && commit.is_none() {
        return reply::http_output(
            400,
            &json!({ "error": "the body must name `release` (an id) or `commit` (e.g. $(Build.SourceVersion))" }),
        );
    }
    let msg = CheckMessage::AzurePipelines { task, auth_token, release, commit };
    match crate::flows::releases::external::accept(&deps, &msg, now).await {
        Ok(first) => reply::http_output(200, &json!({ "status": "queued", "duplicate": !first })),
        Err(e) => reply::flow_error(&e),
    }
}
