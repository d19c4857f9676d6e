//! The chaos run (run: `cargo bench --bench chaos`): 2,100 runs through `flowgate local` on a
//! virtual clock against an endpoint that answers 20% 503, 5% too slowly (timeouts) and 5% 429,
//! with 10% of Service Bus messages delivered twice and the handler killed with SIGKILL during
//! every 150th DispatchRun invocation — once on a quiet machine, then again with both cores
//! saturated by busy processes for the whole run (the condition in which a run was once lost). Each
//! prints one line:
//! `chaos: runs=N completed=C quarantined=Q lost=L duplicate_completions=D` and
//! `chaos-starved: …` in the same format (target: L = 0, D = 0, C + Q = N, N = 2,100). A run is
//! lost when it never finished (or was never created); a duplicate completion is a run that more
//! than one invocation reported as completed. The bench exits non-zero when either line misses
//! the target, so the test command fails.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

const JOBS: usize = 5;
/// Each job runs every minute from 01:00 to 07:59 (420 slots): 2,100 runs, and the simulated day
/// leaves sixteen hours for every retry to finish before the count.
const CATALOG_JOB: &str = r#"
  chaos_JOB:
    kind: http
    endpoint: ${CHAOS_URL}
    schedule: "0 * 1-7 * * *"
    timeout: 250ms
    overlap: allow
    catch_up: { policy: all, window: 1h, max: 60 }
    retry: { max_attempts: 10, initial_delay: 10s, multiplier: 2.0, max_delay: 2m }
    breaker: { consecutive_failures: 1000, failure_ratio: 1.0, min_calls: 1000 }
    request: { body: { job: JOB } }
"#;

async fn chaos(axum::extract::State(rng): axum::extract::State<Arc<Mutex<fastrand::Rng>>>, Json(_): Json<Value>) -> Response {
    let roll = rng.lock().unwrap().f64();
    if roll < 0.20 {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "chaos 503"}))).into_response()
    } else if roll < 0.25 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        Json(json!({"late": true})).into_response()
    } else if roll < 0.30 {
        (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "5")], Json(json!({"error": "chaos 429"}))).into_response()
    } else {
        Json(json!({"ok": true})).into_response()
    }
}

/// Busy processes, one per core, for as long as this lives.
struct Starve(Vec<std::process::Child>);

impl Starve {
    fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self((0..cores).map(|_| Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("a busy process")).collect())
    }
}

impl Drop for Starve {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn main() {
    let quiet = run("chaos", false);
    if std::env::var_os("CHAOS_QUIET_ONLY").is_some() {
        std::process::exit(i32::from(!quiet));
    }
    let starved = run("chaos-starved", true);
    if !(quiet && starved) {
        eprintln!("chaos: a run was lost or completed twice (see the lines above)");
        std::process::exit(1);
    }
}

/// One chaos run; prints its line and says whether it met the target.
fn run(label: &str, starve: bool) -> bool {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/score", listener.local_addr().unwrap());
    let app = Router::new().route("/score", post(chaos)).with_state(Arc::new(Mutex::new(fastrand::Rng::with_seed(7))));
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut catalog = String::from("version: 1\njobs:\n");
    for j in 0..JOBS {
        catalog.push_str(&CATALOG_JOB.replace("JOB", &j.to_string()));
    }
    let catalog_path = dir.path().join("catalog.yaml");
    std::fs::write(&catalog_path, catalog).unwrap();
    let state = dir.path().join("state");
    let busy = starve.then(Starve::start);
    let out = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "local",
            "--from",
            "2026-11-02T00:00:00Z",
            "--days",
            "1",
            "--chaos-duplicates",
            "0.1",
            "--chaos-kill-every",
            "150",
            "--catalog",
        ])
        .arg(&catalog_path)
        .arg("--state")
        .arg(&state)
        .env("CHAOS_URL", &url)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    drop(busy);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{summary}\n{}", String::from_utf8_lossy(&out.stderr));
    let runs: Vec<Value> = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_flowgate"))
            .args(["runs", "--json", "--limit", "100000", "--state"])
            .arg(&state)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let log: Value = serde_json::from_str(&std::fs::read_to_string(state.join("chaos.json")).unwrap()).unwrap();
    let status = |s: &[&str]| runs.iter().filter(|r| s.contains(&r["status"].as_str().unwrap_or(""))).count();
    let n = runs.len();
    let completed = status(&["succeeded"]);
    let quarantined = status(&["failed", "quarantined"]);
    // Runs never created count as lost too.
    let lost = (JOBS * 420).max(n) - completed - quarantined;
    let completions: BTreeMap<String, u64> = serde_json::from_value(log["completions"].clone()).unwrap_or_default();
    let duplicates = completions.values().filter(|c| **c > 1).count();
    eprintln!("{summary}");
    for r in runs.iter().filter(|r| r["status"] != "succeeded") {
        eprintln!(
            "not succeeded: {} {} {}",
            r["key"].as_str().or(r["job"].as_str()).unwrap_or(""),
            r["status"],
            r["error"].as_str().or(r["reason"].as_str()).unwrap_or("")
        );
    }
    eprintln!("kills={} duplicate_deliveries={} (expected {} runs)", log["kills"], log["duplicate_deliveries"], JOBS * 420);
    println!("{label}: runs={n} completed={completed} quarantined={quarantined} lost={lost} duplicate_completions={duplicates}");
    runtime.shutdown_background();
    lost == 0 && duplicates == 0 && n == JOBS * 420
}
