//! `flowgate local` on the real clock: a file dropped into the data folder raises BlobCreated,
//! the arrival-triggered job runs through Service Bus semantics, and the HTTP-triggered `Runs`
//! function answers through the host's front door.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::scoring::FakeScoring;

const CATALOG: &str = r#"
version: 1
datasets:
  urgent:
    location: landing/urgent/
    format: jsonl
  out:
    location: curated/out/
    format: jsonl
jobs:
  triage:
    kind: http
    endpoint: ${TEST_SCORING_URL}
    on_arrival: urgent
    inputs: [urgent]
    outputs: [out]
    request: { fields: { text: body }, key: claim_id }
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_file_is_announced_run_and_listed_over_http() {
    let fake = FakeScoring::default();
    let url = fake.start().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.yaml");
    std::fs::write(&catalog, CATALOG).unwrap();
    let state = dir.path().join("state");
    let http_port = free_port();
    let mut host = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["local", "--stop-after", "60s", "--http-port", &http_port.to_string(), "--catalog"])
        .arg(&catalog)
        .arg("--state")
        .arg(&state)
        .env("TEST_SCORING_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{http_port}/api/runs");
    let started = Instant::now();
    // Wait for the host's front door, then drop a file.
    while client.get(&api).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "the local host did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let landing = state.join("data/landing/urgent");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("x.jsonl.partial-tmp"), "{\"claim_id\":\"U1\",\"body\":\"my car was stolen\"}\n").unwrap();
    std::fs::rename(landing.join("x.jsonl.partial-tmp"), landing.join("x.jsonl")).unwrap();
    let mut runs = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(30) {
        runs = client.get(&api).send().await.unwrap().json().await.unwrap();
        if runs["runs"].as_array().is_some_and(|r| r.iter().any(|x| x["status"] == "succeeded")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The HTTP front door checks its query like the function does.
    let bad = client.get(format!("{api}?limit=0")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    // Stop the host as Ctrl-C would (its handler follows it either way: see below).
    let _ = Command::new("kill").args(["-INT", &host.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(host.try_wait(), Ok(None)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = host.kill();
    let _ = host.wait();
    let list = runs["runs"].as_array().unwrap_or_else(|| panic!("{runs}"));
    assert_eq!(list.len(), 1, "{runs}");
    assert_eq!(list[0]["job"], "triage");
    assert_eq!(list[0]["status"], "succeeded", "{runs}");
    assert_eq!(fake.call_count(), 1);
    assert!(state.join("data/curated/out/triage").is_dir());
}

/// The processes whose parent is `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // pid (comm) state ppid …: the comm may hold spaces, so read after its closing parenthesis.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// Running (not gone, not a zombie waiting to be reaped).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.split_whitespace().next().unwrap_or("").to_string()))
        .is_some_and(|state| state != "Z" && state != "X")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_does_not_outlive_a_host_killed_with_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.yaml");
    std::fs::write(&catalog, CATALOG).unwrap();
    let state = dir.path().join("state");
    let mut host = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["local", "--stop-after", "120s", "--http-port", &free_port().to_string(), "--catalog"])
        .arg(&catalog)
        .arg("--state")
        .arg(&state)
        .env("TEST_SCORING_URL", "http://127.0.0.1:9/score")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let handler = loop {
        if let Some(&h) = children_of(host.id()).first() {
            break h;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the host started no handler");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(alive(handler));
    // No destructor runs: the host is gone at once, and the kernel closes its end of the pipe.
    host.kill().unwrap();
    host.wait().unwrap();
    let killed = Instant::now();
    while alive(handler) && killed.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = !alive(handler);
    if !gone {
        let _ = Command::new("kill").args(["-9", &handler.to_string()]).status();
    }
    assert!(gone, "the handler {handler} was still running 5 s after its host was killed");
    eprintln!("handler gone {} ms after the host's SIGKILL", killed.elapsed().as_millis());
}
