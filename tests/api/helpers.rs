//! Building a handler with real local adapters (SQLite, local queue, files) on a temp folder.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use flowgate::adapters::http::HttpRunner;
use flowgate::adapters::local::{FileBlobs, LocalQueue, QueueSettings, SqliteStore};
use flowgate::domain::catalog::check::{load, Environment};
use flowgate::flows::Deps;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

#[path = "../fakes/scoring.rs"]
pub mod scoring;

pub const CATALOG: &str = r#"
version: 1
timezone: Europe/London
datasets:
  urgent:
    location: landing/claims/urgent/
    format: jsonl
  out:
    location: curated/out/
    format: jsonl
jobs:
  score:
    kind: http
    endpoint: ${TEST_SCORING_URL}
    schedule: "0 * * * * *"
    timeout: 5s
    retry: { max_attempts: 3, initial_delay: 10s, max_delay: 1m }
    request: { body: { text: "ping" } }
  triage:
    kind: http
    endpoint: ${TEST_SCORING_URL}
    on_arrival: urgent
    inputs: [urgent]
    outputs: [out]
    request: { fields: { text: body }, key: claim_id }
"#;

pub struct TestApp {
    pub deps: Deps,
    pub store: SqliteStore,
    pub queue: LocalQueue,
    pub dir: tempfile::TempDir,
    /// App settings the handler sees (besides TEST_SCORING_URL).
    pub settings: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

impl TestApp {
    /// Sets an app setting.
    pub fn set(&self, key: &str, value: &str) {
        self.settings.lock().unwrap().insert(key.into(), value.into());
    }
}

/// The base64 `X-MS-CLIENT-PRINCIPAL` of an Entra user with these roles.
pub fn client_principal(tenant: &str, object: &str, name: &str, roles: &[&str]) -> String {
    use base64::Engine as _;
    let mut claims = vec![
        serde_json::json!({"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": tenant}),
        serde_json::json!({"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object}),
        serde_json::json!({"typ": "name", "val": name}),
    ];
    claims.extend(roles.iter().map(|r| serde_json::json!({"typ": "roles", "val": r})));
    let v = serde_json::json!({"auth_typ": "aad", "name_typ": "name", "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "claims": claims});
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

pub fn catalog(text: &str) -> flowgate::domain::catalog::Catalog {
    let exists = |p: &Path| p.exists();
    let setting = |_: &str| None;
    load(text, &Environment { base_dir: Path::new("."), file_exists: &exists, setting: &setting }).expect("test catalog is valid").catalog
}

pub fn app_with(catalog_text: &str, scoring_url: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
    let queue = LocalQueue::open(&dir.path().join("queues.db"), QueueSettings::default()).unwrap();
    let url = scoring_url.to_string();
    let settings: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>> = Arc::default();
    let catalog = Arc::new(catalog(catalog_text));
    let releases = flowgate::flows::releases::active::ReleaseCache::new(
        Arc::new(FileBlobs::new(dir.path())),
        false,
        false,
        catalog.clone(),
        Arc::default(),
    );
    let deps = Deps {
        catalog,
        release: None,
        releases: Arc::new(releases),
        store: Arc::new(store.clone()),
        queue: Arc::new(queue.clone()),
        runner: Arc::new(HttpRunner::new(None).unwrap()),
        endpoints: Arc::new(HttpRunner::new(None).unwrap()),
        canary: None,
        blobs: Arc::new(FileBlobs::new(dir.path().join("data"))),
        notifiers: vec![Arc::new(flowgate::adapters::local::JsonlNotifier::new(dir.path().join("alerts.jsonl")))],
        schedule_cache: Arc::default(),
        audit: Arc::new(flowgate::adapters::local::SqliteAudit::open(&dir.path().join("audit.db")).unwrap()),
        audit_copy: None,
        facts: None,
        pii: Arc::new(flowgate::domain::pii::Tokenizer::new(b"test key, not a secret, 32 bytes".to_vec()).unwrap()),
        lineage: Arc::new(flowgate::adapters::local::JsonlLineage::new(dir.path().join("lineage.jsonl"))),
        contracts: Arc::default(),
        settings: {
            let settings = settings.clone();
            Arc::new(move |k: &str| if k == "TEST_SCORING_URL" { Some(url.clone()) } else { settings.lock().unwrap().get(k).cloned() })
        },
        random: || 0.5,
        pipelines: Arc::new(flowgate::adapters::http::AzureDevOps::new()),
        github: None,
    };
    TestApp { deps, store, queue, dir, settings }
}

/// POSTs a body to a function through the router (no socket).
pub async fn invoke(app: &TestApp, function: &str, body: impl Into<Body>) -> (u16, Value) {
    let router = flowgate::edge::app(Arc::new(app.deps.clone()));
    let req = Request::post(format!("/{function}"))
        .header("content-type", "application/json")
        .header("x-azure-functions-invocationid", "inv-test-1")
        .body(body.into())
        .unwrap();
    let res = router.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert!(ct.starts_with("application/json"), "{function} answered {ct}");
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{function} answered non-JSON ({e}): {bytes:?}"));
    (status, v)
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

/// Every invocation answer has the three keys the host expects.
pub fn assert_invocation_shape(v: &Value) {
    assert!(v.get("Outputs").is_some_and(Value::is_object), "{v}");
    assert!(v.get("Logs").is_some_and(Value::is_array), "{v}");
    assert!(v.get("ReturnValue").is_some(), "{v}");
}

/// A file of the peer suites (`../shared/peer-suites/`, or `FLOWGATE_PEER_SUITES`): other tools'
/// own test data. `None` (and a note) when it is not here, unless the test command requires it
/// (`FLOWGATE_REQUIRE_PEER_SUITES`), when its absence fails the test.
pub fn peer_suite(relative: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("FLOWGATE_PEER_SUITES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-suites"))
        .join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var_os("FLOWGATE_REQUIRE_PEER_SUITES").is_none(), "{} is missing", path.display());
    eprintln!("skipped: {} is not here (scripts/test requires it)", path.display());
    None
}
