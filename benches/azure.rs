//! The Azure adapters under load and what a run costs (run: `cargo bench --bench azure`; needs
//! Azurite, which `scripts/test` starts and names in `FLOWGATE_AZURITE_*`).
//!
//! 1. **Calls per run.** With the Store on Table Storage, blobs and the append-blob audit trail on
//!    Blob Storage (Azurite, no faults) and the queue counted as Service Bus sends, it counts the
//!    calls of four runs by kind (the adapters' own tally, `adapters::azure::calls`): one that
//!    succeeds at once, one retried twice, one held by its gate, and one started by an arrival;
//!    and prints the storage cost per million runs at the list prices in docs/deploy.md.
//! 2. **chaos-azure.** The same adapters through `tests/fakes/fault_proxy.rs` (5 % 503
//!    `ServerBusy` with `Retry-After`, 2 % dropped connections, 1 % answers that never come, 1 %
//!    412 races on conditional writes), 100 runs through DispatchRun with 10 % of messages
//!    delivered twice at once, and the reconciliation pass on the virtual clock. It prints
//!    `chaos-azure: runs=N completed=C quarantined=Q lost=L duplicate_completions=D` and then
//!    runs `flowgate audit verify --state azure`; it exits non-zero when a run was lost or
//!    completed twice, or the chain does not verify.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use flowgate::adapters::azure::blob_audit::AppendBlobAudit;
use flowgate::adapters::azure::blobs::AzureBlobs;
use flowgate::adapters::azure::calls;
use flowgate::adapters::azure::identity::StaticToken;
use flowgate::adapters::azure::storage::Storage;
use flowgate::adapters::azure::tables::TableStore;
use flowgate::adapters::http::HttpRunner;
use flowgate::adapters::local::{LocalQueue, QueueSettings};
use flowgate::domain::catalog::check::{load, Environment};
use flowgate::domain::ids::{InvocationId, JobId, RunKey};
use flowgate::domain::messages::DispatchMessage;
use flowgate::domain::run::{RunStatus, RunTrigger};
use flowgate::flows::data_arrived::{data_arrived, ArrivalReport, BlobCreated};
use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput, DispatchReport};
use flowgate::flows::{lifecycle, reconcile, runs, Deps};
use flowgate::ports::{queues, AccessToken, OutgoingMessage, Queue, QueueCounts, QueueError, SendOutcome};
use serde_json::{json, Value};

#[path = "../tests/fakes/fault_proxy.rs"]
#[allow(unreachable_pub, dead_code)]
mod fault_proxy;
use fault_proxy::{FaultProxy, Faults};

const CATALOG: &str = r#"
version: 1
timezone: UTC
datasets:
  claims:
    location: landing/claims/
    format: jsonl
  missing:
    location: landing/missing/
    format: jsonl
jobs:
  score:
    kind: http
    endpoint: ${SCORING_URL}
    schedule: "0 0 3 1 1 *"
    timeout: 2s
    retry: { max_attempts: 10, initial_delay: 10s, max_delay: 2m }
    request: { body: { text: "ping" } }
  triage:
    kind: http
    endpoint: ${SCORING_URL}
    on_arrival: claims
    inputs: [claims]
    timeout: 2s
    request: { fields: { text: body }, key: claim_id }
  gated:
    kind: http
    endpoint: ${SCORING_URL}
    schedule: "0 0 3 1 1 *"
    inputs: [missing]
    timeout: 2s
    retry: { max_attempts: 3, initial_delay: 10s, max_delay: 1m }
    request: { body: { text: "ping" } }
"#;

/// Service Bus sends, counted as the Service Bus adapter counts them (one REST call each); the
/// messages themselves go to the local queue, which the bench delivers.
struct CountedQueue(LocalQueue);

#[async_trait::async_trait]
impl Queue for CountedQueue {
    async fn send(&self, queue: &str, m: OutgoingMessage) -> Result<SendOutcome, QueueError> {
        calls::count("servicebus.send");
        self.0.send(queue, m).await
    }
    async fn counts(&self, queue: &str, as_of: DateTime<Utc>) -> Result<QueueCounts, QueueError> {
        calls::count("servicebus.describe");
        self.0.counts(queue, as_of).await
    }
    async fn receive_dead_letter(&self, queue: &str, now: DateTime<Utc>) -> Result<Option<flowgate::ports::DeadLettered>, QueueError> {
        calls::count("servicebus.receive_dead_letter");
        self.0.receive_dead_letter(queue, now).await
    }
    async fn complete_dead_letter(&self, queue: &str, m: &flowgate::ports::DeadLettered, now: DateTime<Utc>) -> Result<bool, QueueError> {
        calls::count("servicebus.complete");
        self.0.complete_dead_letter(queue, m, now).await
    }
}

/// The scoring endpoint: answers the statuses queued, then 200.
#[derive(Clone, Default)]
struct Endpoint(Arc<Mutex<VecDeque<u16>>>);

async fn score(axum::extract::State(e): axum::extract::State<Endpoint>, Json(_): Json<Value>) -> Response {
    match e.0.lock().unwrap().pop_front() {
        Some(s) => (StatusCode::from_u16(s).unwrap(), Json(json!({"error": "scripted"}))).into_response(),
        None => Json(json!({"label": "ok", "score": 0.9})).into_response(),
    }
}

fn token() -> Arc<StaticToken> {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = Utc::now().timestamp();
    let claims = json!({
        "aud": "https://storage.azure.com",
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
        "iat": now - 60, "nbf": now - 60, "exp": now + 7200,
        "oid": "11111111-1111-1111-1111-111111111111",
    });
    let jwt = format!("{}.{}.c2lnbmF0dXJl", b64(json!({ "alg": "RS256", "typ": "JWT" })), b64(claims));
    Arc::new(StaticToken(AccessToken::new(jwt, Utc::now() + chrono::Duration::hours(2))))
}

struct Azurite {
    blob: String,
    table: String,
    ca: Vec<u8>,
    ca_path: String,
}

fn azurite() -> Option<Azurite> {
    match (std::env::var("FLOWGATE_AZURITE_BLOB"), std::env::var("FLOWGATE_AZURITE_TABLE"), std::env::var("FLOWGATE_STORAGE_CA")) {
        (Ok(blob), Ok(table), Ok(ca_path)) => {
            Some(Azurite { blob, table, ca: std::fs::read(&ca_path).expect("FLOWGATE_STORAGE_CA"), ca_path })
        }
        _ => None,
    }
}

/// Deps on the Azure storage adapters at `blob` and `table` (direct or through a proxy), and the
/// local queue behind the counted one, to deliver from.
async fn deps(dir: &Path, blob: &str, table: &str, ca: &[u8], prefix: &str, scoring: &str, timeout: Duration) -> (Deps, LocalQueue) {
    let storage = |endpoint: &str| Storage::with_timeout(endpoint, token(), Some(ca), timeout).unwrap();
    let exists = |_: &Path| true;
    let url = scoring.to_string();
    let setting = move |k: &str| (k == "SCORING_URL").then(|| url.clone());
    let env = Environment { base_dir: dir, file_exists: &exists, setting: &setting };
    let catalog = Arc::new(load(CATALOG, &env).unwrap_or_else(|p| panic!("{p:?}")).catalog);
    let audit = AppendBlobAudit::new(storage(blob), "audit");
    audit.ensure_container().await.unwrap();
    for c in ["landing", "curated", "releases"] {
        AppendBlobAudit::new(storage(blob), c).ensure_container().await.unwrap();
    }
    let queue = LocalQueue::open(&dir.join(format!("{prefix}-queues.db")), QueueSettings::default()).unwrap();
    let releases = flowgate::flows::releases::active::ReleaseCache::new(
        Arc::new(AzureBlobs::new(storage(blob))),
        false,
        false,
        catalog.clone(),
        Arc::default(),
    );
    let deps = Deps {
        catalog,
        release: None,
        releases: Arc::new(releases),
        store: Arc::new(TableStore::with_prefix(storage(table), prefix)),
        queue: Arc::new(CountedQueue(queue.clone())),
        runner: Arc::new(HttpRunner::new(None).unwrap()),
        endpoints: Arc::new(HttpRunner::new(None).unwrap()),
        canary: None,
        blobs: Arc::new(AzureBlobs::new(storage(blob))),
        notifiers: vec![Arc::new(flowgate::adapters::local::JsonlNotifier::new(dir.join("alerts.jsonl")))],
        schedule_cache: Arc::default(),
        audit: Arc::new(audit),
        audit_copy: None,
        facts: None,
        pii: Arc::new(flowgate::domain::pii::Tokenizer::new(b"bench key, not a secret, 32 byte".to_vec()).unwrap()),
        lineage: Arc::new(flowgate::adapters::local::JsonlLineage::new(dir.join("lineage.jsonl"))),
        contracts: Arc::default(),
        settings: {
            let url = scoring.to_string();
            Arc::new(move |k: &str| (k == "SCORING_URL").then(|| url.clone()))
        },
        random: || 0.5,
        pipelines: Arc::new(flowgate::adapters::http::AzureDevOps::new()),
        github: None,
    };
    (deps, queue)
}

async fn deliver(deps: &Deps, q: &LocalQueue, now: DateTime<Utc>) -> Vec<DispatchReport> {
    let mut out = Vec::new();
    while let Some(m) = q.receive(queues::DISPATCH, now).await.unwrap() {
        let message: DispatchMessage = serde_json::from_str(&m.body).unwrap();
        match dispatch_run(deps, DispatchInput { message, now, invocation: InvocationId::generate() }).await {
            Ok(r) => {
                q.complete(&m.lock_token, now).await.unwrap();
                out.push(r);
            }
            Err(_) => {
                q.abandon(&m.lock_token, now).await.unwrap();
            }
        }
    }
    out
}

/// Runs `scenario`, returning the calls it made by kind.
async fn measured<F: std::future::Future<Output = ()>>(scenario: F) -> BTreeMap<&'static str, u64> {
    let before = calls::snapshot();
    scenario.await;
    calls::since(&before)
}

async fn per_run_calls(a: &Azurite, scoring: &str, endpoint: &Endpoint) -> Vec<(&'static str, BTreeMap<&'static str, u64>)> {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("cost{}", fastrand::u32(..));
    let (d, q) = deps(dir.path(), &a.blob, &a.table, &a.ca, &prefix, scoring, Duration::from_secs(30)).await;
    let t0 = Utc::now();
    let job = |name: &str| d.catalog.jobs.get(&JobId::parse(name).unwrap()).unwrap().clone();
    let start = |name: &'static str, at: DateTime<Utc>| {
        let (d, job) = (&d, job(name));
        async move {
            lifecycle::create(d, &job, at, RunTrigger::Schedule, RunStatus::Pending, None, at).await.unwrap();
            lifecycle::dispatch(d, &RunKey::new(job.id.clone(), at), RunTrigger::Schedule, at).await.unwrap();
        }
    };
    // Warm up: the tables and containers exist, the audit tail is known (each process does this once).
    measured(async {
        start("score", t0).await;
        deliver(&d, &q, t0).await;
    })
    .await;
    let mut out = Vec::new();
    let t1 = t0 + chrono::Duration::minutes(1);
    out.push((
        "succeeds at once",
        measured(async {
            start("score", t1).await;
            deliver(&d, &q, t1).await;
        })
        .await,
    ));
    let t2 = t0 + chrono::Duration::minutes(2);
    out.push((
        "retried twice",
        measured(async {
            endpoint.0.lock().unwrap().extend([503, 503]);
            start("score", t2).await;
            let mut now = t2;
            for _ in 0..3 {
                deliver(&d, &q, now).await;
                now += chrono::Duration::minutes(5);
            }
        })
        .await,
    ));
    let t3 = t0 + chrono::Duration::minutes(3);
    out.push((
        "held by its gate (one attempt)",
        measured(async {
            start("gated", t3).await;
            deliver(&d, &q, t3).await;
        })
        .await,
    ));
    let t4 = t0 + chrono::Duration::minutes(4);
    let path = format!("claims/{prefix}.jsonl");
    d.blobs.write("landing", &path, b"{\"claim_id\":\"C1\",\"body\":\"car crash\"}\n").await.unwrap();
    out.push((
        "started by an arrival",
        measured(async {
            let event = BlobCreated {
                container: "landing".into(),
                path: path.clone(),
                size: Some(40),
                content_type: None,
                event_id: Some(format!("evt-{prefix}")),
                event_time: t4,
            };
            let r = data_arrived(&d, event, t4, &InvocationId::generate()).await.unwrap();
            assert!(matches!(r, ArrivalReport::Recorded { .. }), "{r:?}");
            deliver(&d, &q, t4).await;
        })
        .await,
    ));
    out
}

/// 2026-11 list prices (docs/deploy.md): Table Storage $0.00036 per 10,000 transactions; Blob
/// Storage (hot, GZRS) writes $0.1000 and reads $0.0044 per 10,000 operations.
fn storage_cost_per_million(c: &BTreeMap<&'static str, u64>) -> f64 {
    let (mut table, mut write, mut read) = (0u64, 0u64, 0u64);
    for (k, n) in c {
        match *k {
            k if k.starts_with("table.") => table += n,
            "blob.put" | "blob.append" | "blob.create_container" | "blob.set_metadata" | "blob.list" => write += n,
            k if k.starts_with("blob.") => read += n,
            _ => {}
        }
    }
    1e6 * (table as f64 * 0.00036 + write as f64 * 0.1 + read as f64 * 0.0044) / 10_000.0
}

async fn chaos(a: &Azurite, scoring: &str) -> (bool, String) {
    let runs: usize = std::env::var("CHAOS_AZURE_runs").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let blob = FaultProxy::start(&a.blob, &a.ca, Faults::CHAOS, 11).await;
    let table = FaultProxy::start(&a.table, &a.ca, Faults::CHAOS, 13).await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("chaos{}", fastrand::u32(..));
    let (d, q) = deps(dir.path(), &blob.url, &table.url, &a.ca, &prefix, scoring, Duration::from_secs(2)).await;
    let d = Arc::new(d);
    let job = d.catalog.jobs.get(&JobId::parse("score").unwrap()).unwrap().clone();
    let t0 = DateTime::<Utc>::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let mut keys = Vec::new();
    for i in 0..runs {
        let at = t0 + chrono::Duration::seconds(i as i64);
        let key = RunKey::new(job.id.clone(), at);
        // As the tick does: a failed tick is tried again on the next one.
        for _ in 0..10 {
            let created = lifecycle::create(&d, &job, at, RunTrigger::Schedule, RunStatus::Pending, None, at).await;
            if created.is_ok() && lifecycle::dispatch(&d, &key, RunTrigger::Schedule, at).await.is_ok() {
                break;
            }
        }
        keys.push(key);
    }
    let completions: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let mut now = t0 + chrono::Duration::seconds(runs as i64);
    let mut rng = fastrand::Rng::with_seed(5);
    let end = now + chrono::Duration::hours(3);
    while now < end {
        // Up to four messages at once, each delivered twice now and then.
        let mut batch = Vec::new();
        while batch.len() < 4 {
            match q.receive(queues::DISPATCH, now).await.unwrap() {
                Some(m) => batch.push(m),
                None => break,
            }
        }
        if batch.is_empty() {
            let _ = reconcile::pass(&d, now).await;
            let next = q.next_visible_after(queues::DISPATCH, now).await.unwrap();
            now = match next {
                Some(t) => t,
                None => now + chrono::Duration::minutes(16),
            };
            continue;
        }
        let mut tasks = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            let copies = if rng.f64() < 0.1 { 2 } else { 1 };
            for _ in 0..copies {
                let (d, body, completions) = (d.clone(), m.body.clone(), completions.clone());
                tasks.push((
                    i,
                    tokio::spawn(async move {
                        let message: DispatchMessage = serde_json::from_str(&body).unwrap();
                        let key = message.key().to_string();
                        let r = dispatch_run(&d, DispatchInput { message, now, invocation: InvocationId::generate() }).await;
                        if let Ok(DispatchReport::Succeeded { .. }) = &r {
                            *completions.lock().unwrap().entry(key).or_default() += 1;
                        }
                        r.is_ok()
                    }),
                ));
            }
        }
        // The first copy's answer settles the message (the second is the broker's duplicate).
        let mut settled = vec![None; batch.len()];
        for (i, t) in tasks {
            let ok = t.await.unwrap_or(false);
            settled[i].get_or_insert(ok);
        }
        for (m, ok) in batch.iter().zip(settled) {
            if ok == Some(true) {
                q.complete(&m.lock_token, now).await.unwrap();
            } else {
                q.abandon(&m.lock_token, now).await.unwrap();
            }
        }
        now += chrono::Duration::seconds(1);
    }
    // Read back without faults.
    blob.set_faults(Faults::NONE);
    table.set_faults(Faults::NONE);
    let mut by: BTreeMap<RunStatus, usize> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for k in &keys {
        let rec = runs::load(d.store.as_ref(), k).await.unwrap().map(|(r, _)| r);
        if let Some(r) = rec {
            *by.entry(r.status).or_default() += 1;
            if r.status != RunStatus::Succeeded {
                let why: String = r.error.or(r.reason).unwrap_or_default().chars().take(90).collect();
                *reasons.entry(why).or_default() += 1;
            }
        }
    }
    for (why, n) in &reasons {
        eprintln!("chaos-azure: {n} run(s) not succeeded: {why}");
    }
    let completed = by.get(&RunStatus::Succeeded).copied().unwrap_or(0);
    let quarantined = by.get(&RunStatus::Quarantined).copied().unwrap_or(0) + by.get(&RunStatus::Failed).copied().unwrap_or(0);
    let lost = runs - completed - quarantined;
    let duplicates = completions.lock().unwrap().values().filter(|c| **c > 1).count();
    eprintln!("chaos-azure faults: blob {}; table {}", blob.injected.line(), table.injected.line());
    eprintln!("chaos-azure statuses: {by:?}");
    let line =
        format!("chaos-azure: runs={runs} completed={completed} quarantined={quarantined} lost={lost} duplicate_completions={duplicates}");
    (lost == 0 && duplicates == 0, line)
}

/// `flowgate audit verify --state azure` against Azurite, with an `az` stand-in printing the
/// emulator's token the way `az account get-access-token` does.
fn verify(a: &Azurite) -> bool {
    let bin = tempfile::tempdir().unwrap();
    let az = bin.path().join("az");
    let jwt = token().0.secret().to_string();
    std::fs::write(&az, format!("#!/bin/sh\nprintf '{{\"accessToken\": \"{jwt}\", \"expires_on\": {}}}'\n", Utc::now().timestamp() + 3600))
        .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .args(["audit", "verify", "--state", "azure"])
        .env("PATH", format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default()))
        .env("FLOWGATE_TOKEN_SOURCE", "cli")
        .env("FLOWGATE_TABLE_ENDPOINT", &a.table)
        .env("FLOWGATE_BLOB_ENDPOINT", &a.blob)
        .env("FLOWGATE_SERVICEBUS_NAMESPACE", "unused.servicebus.windows.net")
        .env("FLOWGATE_STORAGE_CA", &a.ca_path)
        .output()
        .unwrap();
    println!("chaos-azure: audit verify --state azure: {}", String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

fn main() {
    let Some(a) = azurite() else {
        assert!(std::env::var_os("FLOWGATE_REQUIRE_AZURITE").is_none(), "FLOWGATE_REQUIRE_AZURITE is set but Azurite's endpoints are not");
        println!("azure: skipped (Azurite is not running; scripts/test starts it)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ok = runtime.block_on(async {
        let endpoint = Endpoint::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scoring = format!("http://{}/score", listener.local_addr().unwrap());
        let app = Router::new().route("/score", post(score)).with_state(endpoint.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        println!("calls per run (Table and Blob Storage on Azurite, Service Bus sends counted at the port):");
        for (name, c) in per_run_calls(&a, &scoring, &endpoint).await {
            let total: u64 = c.values().sum();
            let kinds: Vec<String> = c.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!("  {name}: {total} calls ({}); storage ${:.2} per million runs", kinds.join(", "), storage_cost_per_million(&c));
        }
        let (ok, line) = chaos(&a, &scoring).await;
        println!("{line}");
        ok
    });
    let verified = verify(&a);
    if !(ok && verified) {
        eprintln!("azure: a run was lost or completed twice, or the audit chain does not verify");
        std::process::exit(1);
    }
}
