//! A FAKE Logs Ingestion endpoint (Azure Monitor), for tests only: `POST /dataCollectionRules/
//! {dcr}/streams/{stream}` that insists on what the real API does — a gzip body, a JSON array,
//! at most 1 MiB per call — answers 204, or 429 with `Retry-After` for scripted calls, and keeps
//! every row it accepted.

use std::io::Read;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

pub const LIMIT: usize = 1024 * 1024;

#[derive(Clone, Default)]
pub struct FakeLogsIngestion {
    pub rows: Arc<Mutex<Vec<Value>>>,
    /// The stream each accepted row was sent to.
    pub streams: Arc<Mutex<Vec<String>>>,
    /// The decompressed size of each accepted call.
    pub calls: Arc<Mutex<Vec<usize>>>,
    throttle: Arc<Mutex<u32>>,
    /// Problems found in what was sent (a test fails if any).
    pub violations: Arc<Mutex<Vec<String>>>,
}

async fn ingest(
    State(f): State<FakeLogsIngestion>,
    Path((_dcr, stream)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    {
        let mut t = f.throttle.lock().unwrap();
        if *t > 0 {
            *t -= 1;
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "17"), ("x-ms-error-code", "TooManyRequests")], "").into_response();
        }
    }
    let violation = |v: String| {
        f.violations.lock().unwrap().push(v.clone());
        (StatusCode::BAD_REQUEST, v).into_response()
    };
    if headers.get("content-encoding").and_then(|v| v.to_str().ok()) != Some("gzip") {
        return violation("the body is not gzip-encoded".into());
    }
    if body.len() > LIMIT {
        return violation(format!("a call of {} compressed bytes", body.len()));
    }
    let mut json = Vec::new();
    if let Err(e) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut json) {
        return violation(format!("not gzip: {e}"));
    }
    if json.len() > LIMIT {
        return (StatusCode::PAYLOAD_TOO_LARGE, format!("{} bytes", json.len())).into_response();
    }
    match serde_json::from_slice::<Value>(&json) {
        Ok(Value::Array(rows)) => {
            f.streams.lock().unwrap().extend(rows.iter().map(|_| stream.clone()));
            f.rows.lock().unwrap().extend(rows);
            f.calls.lock().unwrap().push(json.len());
            StatusCode::NO_CONTENT.into_response()
        }
        _ => violation("the body is not a JSON array".into()),
    }
}

impl FakeLogsIngestion {
    /// Starts on a free loopback port; returns the endpoint URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/dataCollectionRules/{dcr}/streams/{stream}", post(ingest)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    pub fn throttle(&self, calls: u32) {
        *self.throttle.lock().unwrap() = calls;
    }
}
