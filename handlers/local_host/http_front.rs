//! The host's HTTP front door on the real clock: `/api/<route>` for every HTTP-triggered
//! function, forwarded to the handler in wrapped form; the function's `res` output becomes the
//! response.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{Map, Value};

use super::functions::TriggerDef;
use super::{invoker, Host};

pub(super) async fn serve(host: Arc<Host>, port: u16) -> Result<tokio::task::JoinHandle<()>, String> {
    let listener =
        tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    tracing::info!("HTTP triggers at http://127.0.0.1:{port}/api/");
    let app = Router::new().fallback(forward).with_state(host);
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}

async fn forward(State(host): State<Arc<Host>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 32 * 1024 * 1024).await.unwrap_or_default();
    answer(&host, &parts.method, &parts.uri, &parts.headers, body).await
}

async fn answer(host: &Host, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
    let route = uri.path().trim_start_matches("/api/").trim_matches('/');
    let found = host.app.functions.iter().find_map(|f| match &f.trigger {
        TriggerDef::Http { binding, route: r, methods } if r.trim_matches('/') == route && methods.iter().any(|m| m == method.as_str()) => {
            Some((f, binding))
        }
        _ => None,
    });
    let Some((f, binding)) = found else {
        return (StatusCode::NOT_FOUND, "no such function").into_response();
    };
    let mut query = Map::new();
    for pair in uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.insert(k.to_string(), Value::String(v.to_string()));
    }
    let mut hdrs = Map::new();
    for (k, v) in headers {
        hdrs.insert(k.to_string(), Value::Array(vec![Value::String(v.to_str().unwrap_or_default().to_string())]));
    }
    let url = format!("http://127.0.0.1{uri}");
    let text = String::from_utf8_lossy(&body);
    let wrapped = invoker::WrappedRequest { method: method.as_str(), url: &url, query: &query, headers: &hdrs, body: &text };
    let env = invoker::http_envelope(&f.name, binding, &wrapped, chrono::Utc::now());
    let invoker = host.handler.lock().await.invoker();
    match invoker.invoke(&f.name, &env).await {
        Ok(r) if r.ok() => {
            let res = r.body.get("Outputs").and_then(|o| o.get("res")).cloned().unwrap_or_default();
            let status = res.get("statusCode").and_then(|s| s.as_u64().or_else(|| s.as_str().and_then(|x| x.parse().ok()))).unwrap_or(200);
            let text = match res.get("body") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let content_type = res
                .get("headers")
                .and_then(|h| h.as_object())
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")))
                .and_then(|(_, v)| v.as_str())
                .and_then(|v| HeaderValue::from_str(v).ok())
                .unwrap_or(HeaderValue::from_static("application/json"));
            let mut resp = (StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK), text).into_response();
            resp.headers_mut().insert("content-type", content_type);
            resp
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "the function failed").into_response(),
    }
}
