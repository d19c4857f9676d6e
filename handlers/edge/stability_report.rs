//! `POST /StabilityReport`: the timer (Mondays 06:00 UTC) that writes last week's stability report
//! to blob storage and posts its summary. "Now" is the invocation's `sys.UtcNow`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;

use super::envelope::{Envelope, InvocationResponse};
use super::{reply, AppState};

pub const NAME: &str = "StabilityReport";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return reply::invocation(StatusCode::BAD_REQUEST, InvocationResponse::default().log(e.to_string())),
    };
    let now = env.utc_now().unwrap_or_else(chrono::Utc::now);
    let deps = match deps.active().await {
        Ok(Some(d)) => d,
        Ok(None) => (*deps).clone(),
        Err(e) => return reply::flow_error(&e),
    };
    match crate::flows::report::publish(&deps, now).await {
        Ok(p) => reply::ok(InvocationResponse::default().log(format!(
            "report {} written ({:?}){}",
            p.week,
            p.verdict,
            if p.announced { "; summary posted" } else { "; summary already posted" }
        ))),
        Err(e) => reply::flow_error(&e),
    }
}
