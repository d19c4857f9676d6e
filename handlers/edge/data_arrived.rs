//! `POST /DataArrived` and `POST /DataArrivedDirect`: `Microsoft.Storage.BlobCreated` in the
//! Event Grid or CloudEvents schema. `DataArrived` is triggered by the `arrivals` Service Bus
//! queue, where the storage account's Event Grid system topic delivers with its managed identity
//! (the private deployment); `DataArrivedDirect` by an Event Grid subscription to the function (a
//! public app). Both accept one event or an array, as an object or encoded text. Other event
//! types are acknowledged and ignored; unreadable messages are quarantined and acknowledged.

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
/// The same handler behind a direct Event Grid trigger (an app with a public endpoint).
pub const DIRECT_NAME: &str = "DataArrivedDirect";
/// The trigger bindings' `name`s in function.json (`arrivals` message, Event Grid event).
pub const BINDINGS: [&str; 2] = ["msg", "evt"];
const BLOB_CREATED: &str = "Microsoft.Storage.BlobCreated";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle)).route(&format!("/{DIRECT_NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, Extension(id): Extension<InvocationId>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return poison(&deps, &id, e.to_string(), &String::from_utf8_lossy(&body)).await,
    };
    let now = env.utc_now().unwrap_or_else(chrono::Utc::now);
    let raw = BINDINGS.iter().find_map(|b| env.binding(b)).cloned().unwrap_or_default();
    let Some(events) = GridEvent::decode_all(&raw) else {
        return poison(&deps, &id, "not an Event Grid event, a CloudEvent or an array of them".into(), &raw.to_string()).await;
    };
    // An arrival is checked against the active release's contracts; with none active (and one
    // required) the event is refused for now so that it is delivered again later.
    let active = match deps.active().await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return reply::flow_error(&crate::flows::FlowError::Release("no release is active (FLOWGATE_RELEASES=required)".into()))
        }
        Err(e) => return reply::flow_error(&e),
    };
    let mut response = InvocationResponse::default();
    for event in &events {
        match arrive(&active, event, now, &id).await {
            Ok(line) => response = response.log(line),
            // Not readable as a blob: kept as a poison message; the other events still count.
            Err(Skip::Unusable(reason)) => {
                let r = poison(&deps, &id, reason, &raw.to_string()).await;
                if !r.status().is_success() {
                    return r;
                }
                response = response.log("quarantined: an event without a blob subject or url");
            }
            // The host delivers the message again; the events already recorded are duplicates then.
            Err(Skip::Failed(e)) => return reply::flow_error(&e),
        }
    }
    reply::ok(response)
}

/// Why an event was not recorded.
enum Skip {
    /// A BlobCreated event that names no blob.
    Unusable(String),
    /// The store, queue or audit failed: worth delivering again (arrivals are idempotent).
    Failed(crate::flows::FlowError),
}

/// One event: its arrival recorded (or why not), as the log line.
async fn arrive(deps: &Deps, event: &GridEvent, now: chrono::DateTime<chrono::Utc>, id: &InvocationId) -> Result<String, Skip> {
    if event.event_type != BLOB_CREATED {
        return Ok(format!("ignored event type `{}`", event.event_type));
    }
    let Some((container, path)) = event.blob() else {
        return Err(Skip::Unusable("BlobCreated event without a blob subject or url".into()));
    };
    let blob = BlobCreated {
        container,
        path,
        size: event.data.get("contentLength").and_then(decode_u64),
        content_type: event.data.get("contentType").and_then(decode_text),
        event_id: event.id.clone(),
        event_time: event.time.unwrap_or(now),
    };
    Ok(match data_arrived(deps, blob, now, id).await {
        Ok(ArrivalReport::Recorded { dataset, duplicate, enqueued }) => format!(
            "arrival of `{dataset}` recorded{}; {} run(s) enqueued",
            if duplicate { " (duplicate event)" } else { "" },
            enqueued.len()
        ),
        Ok(ArrivalReport::Rejected { dataset, reason }) => format!("arrival of `{dataset}` quarantined: {reason}"),
        Ok(ArrivalReport::Unmatched) => "the blob belongs to no dataset; ignored".into(),
        Err(e) => return Err(Skip::Failed(e)),
    })
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
