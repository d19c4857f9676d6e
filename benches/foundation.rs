//! Foundation benchmark (run: `cargo bench --bench foundation`). Prints:
//! - process start to first answer on `GET /` (median of 25 starts; target under 20 ms),
//! - peak resident memory of the handler after 10,000 DispatchRun invocations (target under 30 MB),
//! - DispatchRun invocations per second against an instant local endpoint (target 2,000/s).
//!
//! The handler is the release `flowgate serve` process, invoked over loopback HTTP with the
//! host's envelope, its state in SQLite on a temp folder.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

const CATALOG: &str = r#"
version: 1
jobs:
  bench:
    kind: http
    endpoint: ${BENCH_SCORING_URL}
    schedule: "0 0 0 1 1 *"
    timeout: 5s
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(dir: &std::path::Path, port: u16, scoring: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .args(["serve", "--port", &port.to_string()])
        .env("FLOWGATE_CATALOG", dir.join("catalog.yaml"))
        .env("FLOWGATE_STATE", dir.join("state"))
        .env("BENCH_SCORING_URL", scoring)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flowgate serve")
}

fn get_root(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1")
}

fn startup_ms(dir: &std::path::Path, scoring: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..25 {
        let port = free_port();
        let t = Instant::now();
        let mut child = spawn(dir, port, scoring);
        while !get_root(port) {
            std::thread::sleep(Duration::from_micros(200));
            assert!(t.elapsed() < Duration::from_secs(10), "the handler did not start");
        }
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    out.sort_by(f64::total_cmp);
    out
}

fn envelope(i: u64) -> String {
    let t = chrono::DateTime::from_timestamp(1_767_225_600 + i as i64, 0).unwrap();
    let body = json!({
        "flowgate_message": "flowgate.dispatch.v1", "job": "bench",
        "logical_time": t.to_rfc3339(), "attempt": 1, "trigger": {"type": "schedule"}
    })
    .to_string();
    json!({
        "Data": { "msg": serde_json::to_string(&body).unwrap() },
        "Metadata": { "DeliveryCount": "1", "MessageId": format!("\"bench-{i}\""),
                      "sys": { "MethodName": "DispatchRun", "UtcNow": t.to_rfc3339(), "RandGuid": "x" } }
    })
    .to_string()
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("catalog.yaml"), CATALOG).unwrap();

    // The instant endpoint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scoring = format!("http://{}/score", listener.local_addr().unwrap());
    let app = Router::new().route("/score", post(|Json(_): Json<Value>| async { Json(json!({"label": "other", "confidence": 0.5})) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir_path = dir.path().to_path_buf();
    let s = scoring.clone();
    let starts = tokio::task::spawn_blocking(move || startup_ms(&dir_path, &s)).await.unwrap();
    let median = starts[starts.len() / 2];

    let port = free_port();
    let mut child = spawn(dir.path(), port, &scoring);
    while !get_root(port) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let client = reqwest::Client::new();
    let url = Arc::new(format!("http://127.0.0.1:{port}/DispatchRun"));
    let total: u64 = 10_000;
    let concurrency: u64 = 16;
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let mut ok = 0u64;
            let mut i = w;
            while i < total {
                let r = client.post(url.as_str()).header("content-type", "application/json").body(envelope(i)).send().await.unwrap();
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                assert!(status.is_success(), "{status} {body}");
                if body["Logs"][0].as_str().unwrap_or("").starts_with("succeeded") {
                    ok += 1;
                }
                i += concurrency;
            }
            ok
        });
    }
    let mut succeeded = 0;
    while let Some(r) = tasks.join_next().await {
        succeeded += r.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    let rss_mb = peak_rss_kb(child.id()) as f64 / 1024.0;
    let _ = child.kill();
    let _ = child.wait();

    println!("foundation benchmark (2 cores, loopback, release build)");
    println!(
        "  start to first GET / answer: median {median:.1} ms (min {:.1}, max {:.1}, n={}; target < 20 ms)",
        starts[0],
        starts[starts.len() - 1],
        starts.len()
    );
    println!("  peak memory after {total} DispatchRun invocations: {rss_mb:.1} MB (VmHWM; target < 30 MB)");
    println!(
        "  DispatchRun throughput: {:.0} invocations/s ({succeeded}/{total} succeeded, {concurrency} concurrent; target >= 2000/s)",
        total as f64 / secs
    );
    assert_eq!(succeeded, total, "every invocation must succeed");
}
