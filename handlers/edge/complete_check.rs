//! `POST /CompleteCheck`: the `checks` queue's trigger. Decides a queued Azure Pipelines check or
//! GitHub protection rule and posts the decision once; an unreadable message is quarantined.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};

use super::dispatch_run::poison;
use super::envelope::{decode_body, Envelope, InvocationResponse};
use super::{reply, AppState};
use crate::domain::ids::InvocationId;
use crate::domain::release::external::CheckMessage;
use crate::flows::releases::external::{complete, Completed};

pub const NAME: &str = "CompleteCheck";
pub const BINDING: &str = "msg";
const QUEUE: &str = crate::ports::queues::CHECKS;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, Extension(id): Extension<InvocationId>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return poison(&deps, QUEUE, &id, None, e.to_string(), "", chrono::Utc::now()).await,
    };
    let now = env.utc_now().unwrap_or_else(chrono::Utc::now);
    let Some(text) = env.binding(BINDING).and_then(decode_body) else {
        return poison(&deps, QUEUE, &id, Some(&env), format!("no `{BINDING}` message body in the invocation"), "", now).await;
    };
    let msg = match serde_json::from_str::<CheckMessage>(&text) {
        Ok(m) => m,
        // The body may hold a pipeline's token: never quote it.
        Err(e) => return poison(&deps, QUEUE, &id, Some(&env), format!("not a flowgate check message: {e}"), "(withheld)", now).await,
    };
    match complete(&deps, &msg, now).await {
        Ok(Completed::Answered { passed, .. }) => {
            reply::ok(InvocationResponse::default().log(format!("{msg}: {}", if passed { "approved" } else { "refused" })))
        }
        Ok(Completed::AlreadyAnswered) => reply::ok(InvocationResponse::default().log(format!("{msg}: answered before"))),
        Ok(Completed::Undeliverable(why)) => reply::ok(InvocationResponse::default().log(format!("{msg}: undeliverable: {why}"))),
        Err(e) => reply::flow_error(&e),
    }
}
