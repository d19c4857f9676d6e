//! `POST /CanaryWatch`: the timer that analyses a canary in progress (every 15 minutes) and acts
//! on its decision. "Now" is the invocation's `sys.UtcNow`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;

use super::envelope::{Envelope, InvocationResponse};
use super::{reply, AppState};
use crate::flows::releases::rollout::watch;

pub const NAME: &str = "CanaryWatch";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return reply::invocation(StatusCode::BAD_REQUEST, InvocationResponse::default().log(e.to_string())),
    };
    let now = env.utc_now().unwrap_or_else(chrono::Utc::now);
    match watch(&deps, now).await {
        Ok(None) => reply::ok(InvocationResponse::default().log("no canary in progress")),
        Ok(Some(a)) => {
            let figures: Vec<String> = a
                .metrics
                .iter()
                .map(|m| format!("{} {}/{} llr {:.2} [{:.2}, {:.2}]", m.metric.name(), m.events, m.items, m.llr, m.lower, m.upper))
                .collect();
            reply::ok(InvocationResponse::default().log(format!(
                "canary: {:?} after {} items; {}",
                a.decision,
                a.canary_items,
                figures.join("; ")
            )))
        }
        Err(e) => reply::flow_error(&e),
    }
}
