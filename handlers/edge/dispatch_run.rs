//! `POST /DispatchRun`: the `dispatch` queue's trigger. A message that cannot be read is
//! quarantined and answered 2xx (retrying it cannot help); only store or queue trouble answers
//! 5xx so that Service Bus redelivers.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use serde_json::json;

use super::envelope::{decode_body, Envelope, InvocationResponse};
use super::{reply, AppState};
use crate::domain::ids::InvocationId;
use crate::domain::messages::{DispatchMessage, QuarantineKind, DISPATCH_V1};
use crate::flows::dispatch_run::{dispatch_run, DispatchInput, DispatchReport};
use crate::flows::quarantine::{self, excerpt, QuarantineItem};
use crate::flows::Deps;

pub const NAME: &str = "DispatchRun";
/// The trigger binding's `name` in function.json.
pub const BINDING: &str = "msg";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, Extension(id): Extension<InvocationId>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return poison(&deps, "dispatch", &id, None, e.to_string(), &String::from_utf8_lossy(&body), chrono::Utc::now()).await,
    };
    let now = env.utc_now().or_else(|| env.meta_time("EnqueuedTime")).unwrap_or_else(chrono::Utc::now);
    let Some(text) = env.binding(BINDING).and_then(decode_body) else {
        return poison(&deps, "dispatch", &id, Some(&env), format!("no `{BINDING}` message body in the invocation"), "", now).await;
    };
    let message = match serde_json::from_str::<DispatchMessage>(&text) {
        Ok(m) if m.flowgate_message == DISPATCH_V1 => m,
        Ok(m) => {
            return poison(&deps, "dispatch", &id, Some(&env), format!("unsupported message type `{}`", m.flowgate_message), &text, now)
                .await
        }
        Err(e) => return poison(&deps, "dispatch", &id, Some(&env), format!("not a flowgate dispatch message: {e}"), &text, now).await,
    };
    let delivery = env.meta_u64("DeliveryCount").unwrap_or(1);
    tracing::debug!(delivery, run = %message.key(), attempt = message.attempt, "dispatch");
    match dispatch_run(&deps, DispatchInput { message, now, invocation: id }).await {
        Ok(report) => reply::ok(InvocationResponse::default().log(describe(&report))),
        Err(e) => reply::flow_error(&e),
    }
}

pub(crate) fn describe(r: &DispatchReport) -> String {
    match r {
        DispatchReport::Succeeded { attempts, records } => {
            format!("succeeded on attempt {attempts} ({records} record(s))")
        }
        DispatchReport::RetryScheduled { attempt, at, reason } => format!("attempt {attempt} scheduled for {at}: {reason}"),
        DispatchReport::Quarantined { reason } => format!("quarantined: {reason}"),
        DispatchReport::Blocked { reason } => format!("blocked: {reason}"),
        DispatchReport::Deferred { until, reason } => format!("deferred to {until}: {reason}"),
        DispatchReport::AlreadyFinished { status } => format!("already {status}; nothing to do"),
        DispatchReport::InFlight { recheck_at } => {
            format!("another attempt is in flight; re-check at {recheck_at}")
        }
        DispatchReport::Stale { expected, got } => {
            format!("stale message for attempt {got} (current is {expected}); ignored")
        }
        DispatchReport::Submitted { attempt, job_id, next_poll } => {
            format!("attempt {attempt} submitted job {job_id}; first poll at {next_poll}")
        }
        DispatchReport::Polling { job_id } => format!("job {job_id} is already submitted and followed; nothing to do"),
    }
}

/// Quarantines an unreadable message of `queue` and answers 200 so it is not redelivered forever.
pub(crate) async fn poison(
    deps: &Deps,
    queue: &str,
    id: &InvocationId,
    env: Option<&Envelope>,
    reason: String,
    raw: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Response {
    let message_id = env.and_then(|e| e.meta_text("MessageId")).filter(|m| !m.is_empty());
    let item = QuarantineItem {
        id: format!("poison:{}", message_id.clone().unwrap_or_else(|| id.to_string())),
        kind: QuarantineKind::PoisonMessage,
        reason: reason.clone(),
        at: now,
        job: None,
        logical_time: None,
        attempts: env.and_then(|e| e.meta_u64("DeliveryCount")).and_then(|n| u32::try_from(n).ok()).unwrap_or(1),
        last_error: Some(reason.clone()),
        evidence: json!({ "queue": queue, "message_id": message_id, "body_excerpt": excerpt(raw, 2048) }),
        invocation_id: Some(id.to_string()),
        status: Default::default(),
        history: Vec::new(),
    };
    tracing::warn!(reason = %reason, "poison message quarantined");
    match quarantine::put(deps, &item).await {
        Ok(()) => reply::ok(InvocationResponse::default().log(format!("quarantined as poison: {reason}"))),
        Err(e) => reply::flow_error(&e),
    }
}
