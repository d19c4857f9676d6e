//! `POST /PollJob`: the `poll` queue's trigger. Reads a poll message and asks PollJob about the
//! job it names; an unreadable message is quarantined and answered 2xx, store or queue trouble
//! answers 5xx so that Service Bus redelivers.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};

use super::dispatch_run::{describe, poison};
use super::envelope::{decode_body, Envelope, InvocationResponse};
use super::{reply, AppState};
use crate::domain::ids::InvocationId;
use crate::domain::messages::{PollMessage, POLL_V1};
use crate::flows::poll_job::{poll_job, PollInput, PollReport};

pub const NAME: &str = "PollJob";
/// The trigger binding's `name` in function.json.
pub const BINDING: &str = "msg";
const QUEUE: &str = "poll";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, Extension(id): Extension<InvocationId>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return poison(&deps, QUEUE, &id, None, e.to_string(), &String::from_utf8_lossy(&body), chrono::Utc::now()).await,
    };
    let now = env.utc_now().or_else(|| env.meta_time("EnqueuedTime")).unwrap_or_else(chrono::Utc::now);
    let Some(text) = env.binding(BINDING).and_then(decode_body) else {
        return poison(&deps, QUEUE, &id, Some(&env), format!("no `{BINDING}` message body in the invocation"), "", now).await;
    };
    let message = match serde_json::from_str::<PollMessage>(&text) {
        Ok(m) if m.flowgate_message == POLL_V1 => m,
        Ok(m) => {
            return poison(&deps, QUEUE, &id, Some(&env), format!("unsupported message type `{}`", m.flowgate_message), &text, now).await
        }
        Err(e) => return poison(&deps, QUEUE, &id, Some(&env), format!("not a flowgate poll message: {e}"), &text, now).await,
    };
    tracing::debug!(run = %message.key(), attempt = message.attempt, poll = message.poll, "poll");
    match poll_job(&deps, PollInput { message, now, invocation: id }).await {
        Ok(report) => reply::ok(InvocationResponse::default().log(match &report {
            PollReport::Running { status, next } => format!("job still {status}; next poll at {next}"),
            PollReport::Settled(r) => describe(r),
            PollReport::Ignored { why } => format!("{why}; nothing to do"),
        })),
        Err(e) => reply::flow_error(&e),
    }
}
