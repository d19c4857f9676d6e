//! Every function's host envelope, through the real router on local state: whatever the body, the
//! answer is 2xx, 4xx or 5xx with the invocation shape (`Outputs`, `Logs`, `ReturnValue`), and the
//! handler never panics. The first byte picks the function.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const CATALOG: &str = r#"
version: 1
timezone: Europe/London
datasets:
  urgent:
    location: landing/claims/urgent/
    format: jsonl
jobs:
  score:
    kind: http
    endpoint: http://127.0.0.1:9/score
    schedule: "0 * * * * *"
    timeout: 1s
  triage:
    kind: http
    endpoint: http://127.0.0.1:9/score
    on_arrival: urgent
    inputs: [urgent]
    request: { fields: { text: body }, key: claim_id }
"#;

struct App {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("catalog.yaml");
        std::fs::write(&catalog, CATALOG).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (deps, _) = runtime
            .block_on(flowgate::app::local_deps(&catalog, &dir.path().join("state"), &dir.path().join("data"), false))
            .unwrap();
        let router = flowgate::edge::app(std::sync::Arc::new(deps));
        App { runtime, router, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let function = flowgate::edge::FUNCTIONS[usize::from(pick) % flowgate::edge::FUNCTIONS.len()];
    let app = app();
    let request = axum::http::Request::post(format!("/{function}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .unwrap();
    let (status, bytes) = app.runtime.block_on(async {
        let res = app.router.clone().oneshot(request).await.unwrap();
        let status = res.status().as_u16();
        (status, res.into_body().collect().await.unwrap().to_bytes())
    });
    assert!((200..300).contains(&status) || (400..600).contains(&status), "{function}: status {status}");
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{function}: answer is not JSON: {e}"));
    for key in ["Outputs", "Logs", "ReturnValue"] {
        assert!(v.get(key).is_some(), "{function}: the answer has no `{key}`: {v}");
    }
});
