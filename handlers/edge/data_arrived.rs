//! `POST /DataArrived`: Event Grid `Microsoft.Storage.BlobCreated` (Event Grid or CloudEvents
//! schema, as an object or a JSON string). Other event types are acknowledged and ignored;
//! unreadable events are quarantined and acknowledged.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use serde_json::json;

use super::envelope::{decode_text, decode_u64, Envelope, GridEvent, InvocationResponse};
use super::{reply, AppState};
use crate::domain::ids::InvocationId;
use crate::domain::messages::QuarantineKind;
use crate::flows::data_arrived::{data_arrived, ArrivalReport, BlobCreated};
use crate::flows::quarantine::{self, excerpt, QuarantineItem};
use crate::flows::Deps;

pub const NAME: &str = "DataArrived";
/// The trigger binding's `name` in function.json.
pub const BINDING: &str = "evt";
const BLOB_CREATED: &str = "Microsoft.Storage.BlobCreated";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, Extension(id): Extension<InvocationId>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return poison(&deps, &id, e.to_string(), &String::from_utf8_lossy(&body)).await,
    };
    let now = env.utc_now().unwrap_or_else(chrono::Utc::now);
    let raw = env.binding(BINDING).cloned().unwrap_or_default();
    let Some(event) = GridEvent::decode(&raw) else {
        return poison(&deps, &id, "not an Event Grid event".into(), &raw.to_string()).await;
    };
    if event.event_type != BLOB_CREATED {
        return reply::ok(InvocationResponse::default().log(format!("ignored event type `{}`", event.event_type)));
    }
    let Some((container, path)) = event.blob() else {
        return poison(&deps, &id, "BlobCreated event without a blob subject or url".into(), &raw.to_string()).await;
    };
    let blob = BlobCreated {
        container,
        path,
        size: event.data.get("contentLength").and_then(decode_u64),
        content_type: event.data.get("contentType").and_then(decode_text),
        event_id: event.id.clone(),
        event_time: event.time.unwrap_or(now),
    };
    // An arrival is checked against the active release's contracts; with none active (and one
    // required) the event is refused for now so that Event Grid delivers it again later.
    let deps = match deps.active().await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return reply::flow_error(&crate::flows::FlowError::Release("no release is active (FLOWGATE_RELEASES=required)".into()))
        }
        Err(e) => return reply::flow_error(&e),
    };
    match data_arrived(&deps, blob, now, &id).await {
        Ok(ArrivalReport::Recorded { dataset, duplicate, enqueued }) => reply::ok(InvocationResponse::default().log(format!(
            "arrival of `{dataset}` recorded{}; {} run(s) enqueued",
            if duplicate { " (duplicate event)" } else { "" },
            enqueued.len()
        ))),
        Ok(ArrivalReport::Rejected { dataset, reason }) => {
            reply::ok(InvocationResponse::default().log(format!("arrival of `{dataset}` quarantined: {reason}")))
        }
        Ok(ArrivalReport::Unmatched) => reply::ok(InvocationResponse::default().log("the blob belongs to no dataset; ignored")),
        Err(e) => reply::flow_error(&e),
    }
}

async fn poison(deps: &Deps, id: &InvocationId, reason: String, raw: &str) -> Response {
    let item = QuarantineItem {
        id: format!("event:{id}"),
        kind: QuarantineKind::PoisonMessage,
        reason: reason.clone(),
        at: chrono::Utc::now(),
        job: None,
        logical_time: None,
        attempts: 1,
        last_error: Some(reason.clone()),
        evidence: json!({ "source": "event_grid", "body_excerpt": excerpt(raw, 2048) }),
        invocation_id: Some(id.to_string()),
        status: Default::default(),
        history: Vec::new(),
    };
    tracing::warn!(reason = %reason, "unreadable event quarantined");
    match quarantine::put(deps, &item).await {
        Ok(()) => reply::ok(InvocationResponse::default().log(format!("quarantined: {reason}"))),
        Err(e) => reply::flow_error(&e),
    }
}
