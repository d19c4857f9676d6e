//! Building responses: always JSON, always an object; invocations always carry `Outputs`, `Logs`
//! and `ReturnValue` (an empty or non-JSON answer would hang or fail the host).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::envelope::InvocationResponse;
use crate::flows::FlowError;

pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

pub(crate) fn invocation(status: StatusCode, body: InvocationResponse) -> Response {
    json(status, &body)
}

/// The `name` of the `http` output binding of every HTTP function.
pub(crate) const HTTP_OUTPUT: &str = "res";

/// The answer of an HTTP-triggered function (wrapped mode): its `res` output as an object with
/// `statusCode`, `headers` and a string `body` (a bare string would fail the host).
pub(crate) fn http_output(status: u16, body: &serde_json::Value) -> Response {
    let mut outputs = serde_json::Map::new();
    outputs.insert(
        HTTP_OUTPUT.into(),
        serde_json::json!({ "statusCode": status, "headers": { "Content-Type": "application/json" }, "body": body.to_string() }),
    );
    ok(InvocationResponse { outputs, ..InvocationResponse::default() })
}

/// An HTTP function's HTML answer (a page), never cached.
pub(crate) fn http_html(status: u16, page: String) -> Response {
    let mut outputs = serde_json::Map::new();
    outputs.insert(
        HTTP_OUTPUT.into(),
        serde_json::json!({
            "statusCode": status,
            "headers": { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'" },
            "body": page,
        }),
    );
    ok(InvocationResponse { outputs, ..InvocationResponse::default() })
}

pub(crate) fn ok(body: InvocationResponse) -> Response {
    invocation(StatusCode::OK, body)
}

/// A flow error: 500 so the host retries (Service Bus redelivers) when retrying can help;
/// otherwise also 500, because the host must not consider the work done, and the error is logged.
pub(crate) fn flow_error(e: &FlowError) -> Response {
    tracing::error!(error.message = %e, retryable = e.is_retryable(), "invocation failed");
    invocation(StatusCode::INTERNAL_SERVER_ERROR, InvocationResponse::default().log(format!("failed: {e}")))
}

/// An HTTP trigger's wrapped request (`Data.<binding>`) and the invocation's instant; a body that
/// is no envelope is answered 400 (the error is the response itself, returned as is).
#[allow(clippy::result_large_err)]
pub(crate) fn wrapped_request(body: &[u8], binding: &str) -> Result<(serde_json::Value, chrono::DateTime<chrono::Utc>), Response> {
    let env = super::envelope::Envelope::parse(body)
        .map_err(|e| invocation(StatusCode::BAD_REQUEST, InvocationResponse::default().log(e.to_string())))?;
    let req = env.binding(binding).cloned().unwrap_or_default();
    Ok((req, env.utc_now().unwrap_or_else(chrono::Utc::now)))
}
