//! `POST /Status` (wrapped mode): the status page, `GET /api/status` at the Functions host —
//! read-only HTML for a signed-in person (the Easy Auth principal, as for every HTTP function;
//! 401 and an audit event without one). Under `flowgate local`, which listens on loopback only,
//! the page is also shown to a browser that names no development identity.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;

use super::caller::{caller, deny};
use super::{reply, AppState};
use crate::flows::status::gather;

pub const NAME: &str = "Status";
/// The trigger binding's `name` in function.json.
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
        let local = (deps.settings)("FLOWGATE_DEV_IDENTITIES").is_some() && (deps.settings)("WEBSITE_SITE_NAME").is_none();
        if !local {
            return deny(&deps, NAME, &req, &e, now).await;
        }
    }
    let deps = match deps.active().await {
        Ok(Some(d)) => d,
        Ok(None) => deps.as_ref().clone(),
        Err(e) => return reply::flow_error(&e),
    };
    match gather(&deps, now).await {
        Ok(view) => reply::http_html(200, view.render()),
        Err(e) => {
            tracing::error!(error.message = %e, "the status page could not be gathered");
            reply::http_html(
                503,
                "<!DOCTYPE html><title>flowgate status</title><p>The state cannot be read right now; try again.</p>".into(),
            )
        }
    }
}
