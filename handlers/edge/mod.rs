//! The HTTP edge: the only module that knows axum and the Functions host's envelope. One route
//! per function folder in `function-defs/` (folder name == route == module), `GET /` for the
//! host's readiness pings, and one tracing span per invocation carrying the host's invocation id.

pub mod alert_ingest;
mod caller;
pub mod canary_watch;
pub mod complete_check;
pub mod data_arrived;
pub mod dispatch_run;
pub mod envelope;
pub mod github_gate;
pub mod pipeline_check;
pub mod poll_job;
pub mod quarantine;
pub mod releases;
mod reply;
pub mod runs;
pub mod schedule_tick;
pub mod stability_report;
pub mod status;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tracing::Instrument;

use crate::domain::ids::InvocationId;
use crate::flows::Deps;
pub use envelope::InvocationResponse;

/// Every function this handler serves; a test keeps it equal to the folders of `function-defs/`.
pub const FUNCTIONS: [&str; 15] = [
    schedule_tick::NAME,
    dispatch_run::NAME,
    poll_job::NAME,
    data_arrived::NAME,
    data_arrived::DIRECT_NAME,
    runs::NAME,
    quarantine::NAME,
    releases::NAME,
    pipeline_check::NAME,
    github_gate::NAME,
    complete_check::NAME,
    canary_watch::NAME,
    status::NAME,
    stability_report::NAME,
    alert_ingest::NAME,
];

/// The header carrying the host's id for an invocation.
pub const INVOCATION_HEADER: &str = "x-azure-functions-invocationid";

/// Largest request body accepted (the host caps HTTP at 100 MB; our triggers carry small payloads).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// The shared state of every route.
pub type AppState = Arc<Deps>;

/// The handler's router.
pub fn app(deps: AppState) -> Router {
    Router::new()
        .route("/", get(health).head(health))
        .merge(schedule_tick::router())
        .merge(dispatch_run::router())
        .merge(poll_job::router())
        .merge(data_arrived::router())
        .merge(runs::router())
        .merge(quarantine::router())
        .merge(releases::router())
        .merge(pipeline_check::router())
        .merge(github_gate::router())
        .merge(complete_check::router())
        .merge(canary_watch::router())
        .merge(status::router())
        .merge(stability_report::router())
        .merge(alert_ingest::router())
        .fallback(not_found)
        .with_state(deps)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(invocation_span))
}

async fn health() -> Response {
    reply::json(StatusCode::OK, &serde_json::json!({ "status": "ready" }))
}

async fn not_found(req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/').to_string();
    let body = InvocationResponse::default().log(format!("no function named `{path}`; this handler serves {}", FUNCTIONS.join(", ")));
    reply::invocation(StatusCode::NOT_FOUND, body)
}

/// Opens the invocation's span and puts the invocation id in the request for the handlers.
async fn invocation_span(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(INVOCATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(InvocationId::from_header)
        .filter(|i| !i.as_str().is_empty())
        .unwrap_or_else(InvocationId::generate);
    let function = req.uri().path().trim_start_matches('/').chars().take(64).collect::<String>();
    let span = tracing::info_span!("invocation", function = %function, invocation_id = %id);
    req.extensions_mut().insert(id);
    next.run(req).instrument(span).await
}

/// Serves the handler on `listener` until SIGTERM or Ctrl-C.
pub async fn serve(listener: tokio::net::TcpListener, deps: AppState) -> std::io::Result<()> {
    axum::serve(listener, app(deps)).with_graceful_shutdown(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
