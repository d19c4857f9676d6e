//! `POST /ScheduleTick`: the timer trigger. "Now" is the invocation's `sys.UtcNow`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};

use super::envelope::{Envelope, InvocationResponse, TimerInfo};
use super::{reply, AppState};
use crate::domain::ids::InvocationId;
use crate::flows::schedule_tick::{schedule_tick, TickInput};

pub const NAME: &str = "ScheduleTick";
/// The trigger binding's `name` in function.json.
pub const BINDING: &str = "myTimer";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(&format!("/{NAME}"), post(handle))
}

async fn handle(State(deps): State<AppState>, Extension(id): Extension<InvocationId>, body: Bytes) -> Response {
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return reply::invocation(StatusCode::BAD_REQUEST, InvocationResponse::default().log(e.to_string())),
    };
    let timer = TimerInfo::decode(env.binding(BINDING));
    let now = env.utc_now().unwrap_or_else(|| {
        tracing::warn!("no sys.UtcNow in the invocation; using the handler's clock");
        chrono::Utc::now()
    });
    if timer.is_past_due {
        tracing::info!(last = ?timer.last, "timer is past due; catching up from the watermarks");
    }
    let deps = match deps.active().await {
        Ok(Some(d)) => d,
        Ok(None) => {
            let held = async {
                crate::flows::releases::active::no_active_release(&deps, now).await?;
                crate::flows::monitor::tick(&deps, now).await
            };
            return match held.await {
                Ok(_) => reply::ok(InvocationResponse::default().log("no active release and FLOWGATE_RELEASES=required: nothing runs")),
                Err(e) => reply::flow_error(&e),
            };
        }
        Err(e) => return reply::flow_error(&e),
    };
    match schedule_tick(&deps, TickInput { now, invocation: id }).await {
        Ok(r) => {
            let mut out = InvocationResponse::default().log(format!(
                "enqueued {} run(s); {} waiting, {} skipped, {} started and {} blocked after waiting, {} alert(s)",
                r.enqueued.len(),
                r.waiting.len(),
                r.skipped.len(),
                r.dependencies.started.len(),
                r.dependencies.blocked.len(),
                r.alerts.len()
            ));
            if !r.backlogged.is_empty() {
                out = out.log(format!(
                    "backlog continues next tick for: {}",
                    r.backlogged.iter().map(|j| j.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            reply::ok(out)
        }
        Err(e) => reply::flow_error(&e),
    }
}
