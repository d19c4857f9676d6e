//! The local host over longer windows (run: `cargo bench --bench local_days`): the demo
//! (`flowgate local --demo`, release build) on a virtual clock from Monday 2026-01-05 for 7, 28 and
//! 91 simulated days, one after the other. For each it prints the wall time, simulated days per
//! wall-clock second and the peak resident memory of the host and of its handler; then the cost
//! of each further simulated day between the windows, and the 91-day run's time as a multiple of
//! the 7-day run's. A host whose work per simulated minute grew with history would show the later
//! days dearer and the multiple well past 13 (91 / 7); the bench exits non-zero above 14 (the
//! bound in issue 19). `LOCAL_DAYS=7,28` runs other windows (the ratio needs 7 and 91).
//!
//! Then the real clock: `flowgate local` with 10,000 files already in its data folder (100
//! folders of 100), idle for 30 s — the CPU time the host and its handler used, as a share of
//! one core — and then ten files dropped into a watched folder one at a time (five renamed into
//! place, five written in place): how long until each one's run is listed by the host's
//! `GET /api/runs`.

#[allow(dead_code)]
#[path = "common/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The bound on the 91-day run against the 7-day run (linear would be 13).
const MAX_RATIO: f64 = 14.0;

fn main() {
    virtual_clock();
    real_clock();
}

fn virtual_clock() {
    let days: Vec<u32> = std::env::var("LOCAL_DAYS")
        .unwrap_or_else(|_| "7,28,91".into())
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim().parse().expect("LOCAL_DAYS: comma-separated whole days"))
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().expect("a temporary folder");
    let mut walls = Vec::new();
    for &d in &days {
        let state = work.path().join(format!("days-{d}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowgate"));
        cmd.current_dir(root)
            .args(["local", "--demo", "--from", "2026-01-05T00:00:00Z", "--days", &d.to_string()])
            .arg("--state")
            .arg(&state);
        let m = process::measure_tree(cmd);
        if m.code != 0 {
            eprintln!("local-days: the {d}-day demo exited {}; see {}", m.code, state.join("handler.log").display());
            // Keep the folder to look at.
            let _ = work.keep();
            std::process::exit(1);
        }
        let runs = count_runs(&state);
        println!(
            "local-days: days={d} wall={:.1}s simulated_days_per_s={:.2} runs={runs} host_peak_mb={:.1} handler_peak_mb={:.1}",
            m.wall,
            f64::from(d) / m.wall,
            m.peak_mb,
            m.child_peak_mb
        );
        walls.push((d, m.wall));
        let _ = std::fs::remove_dir_all(&state);
    }
    for pair in walls.windows(2) {
        let ((d0, w0), (d1, w1)) = (pair[0], pair[1]);
        println!("local-days: each further simulated day from day {d0} to day {d1}: {:.2} s", (w1 - w0) / f64::from(d1 - d0));
    }
    let wall_of = |d: u32| walls.iter().find(|(x, _)| *x == d).map(|(_, w)| *w);
    if let (Some(w7), Some(w91)) = (wall_of(7), wall_of(91)) {
        let ratio = w91 / w7;
        println!("local-days: 91 days took {ratio:.1}× the 7-day run (linear: 13.0; bound {MAX_RATIO})");
        if ratio > MAX_RATIO {
            eprintln!("local-days: the host's cost grows faster than the simulated time ({ratio:.1}× > {MAX_RATIO}×)");
            std::process::exit(1);
        }
    }
}

/// How many runs the window made (`flowgate runs --json` on its state).
fn count_runs(state: &Path) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .args(["runs", "--json", "--limit", "100000", "--state"])
        .arg(state)
        .output()
        .expect("flowgate runs");
    serde_json::from_slice::<serde_json::Value>(&out.stdout).ok().and_then(|v| v.as_array().map(Vec::len)).unwrap_or(0)
}

/// A catalog with one arrival-triggered job (its endpoint answers at once).
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
    endpoint: ${BENCH_SCORING_URL}
    on_arrival: urgent
    inputs: [urgent]
    outputs: [out]
    request: { fields: { text: body }, key: claim_id }
"#;

/// Files already in the data folder for the idle measurement.
const IDLE_FILES: usize = 10_000;
const IDLE_SECONDS: u64 = 30;
const DROPS: usize = 10;

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn handler_of(host: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{host}/task/{host}/children")).ok()?.split_whitespace().next()?.parse().ok()
}

fn real_clock() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}/score", listener.local_addr().expect("an address"));
        let app = Router::new().route("/score", post(|Json(_): Json<Value>| async { Json(json!({ "label": "fnol" })) }));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let work = tempfile::tempdir().expect("a temporary folder");
        let catalog = work.path().join("catalog.yaml");
        std::fs::write(&catalog, CATALOG).expect("the catalog");
        let state = work.path().join("state");
        for i in 0..IDLE_FILES {
            let dir = state.join(format!("data/landing/archive/{:03}", i / 100));
            if i % 100 == 0 {
                std::fs::create_dir_all(&dir).expect("a folder");
            }
            std::fs::write(dir.join(format!("{i:05}.jsonl")), "{}\n").expect("a file");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut host = Command::new(env!("CARGO_BIN_EXE_flowgate"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["local", "--stop-after", "5m", "--http-port", &port.to_string(), "--catalog"])
            .arg(&catalog)
            .arg("--state")
            .arg(&state)
            .env("BENCH_SCORING_URL", &url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("flowgate local");
        let client = reqwest::Client::new();
        let api = format!("http://127.0.0.1:{port}/api/runs?limit=1000");
        let started = Instant::now();
        while client.get(&api).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "the local host did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let handler = handler_of(host.id()).expect("the host's handler");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (h0, s0, t0) = (cpu_seconds(host.id()), cpu_seconds(handler), Instant::now());
        tokio::time::sleep(Duration::from_secs(IDLE_SECONDS)).await;
        let (h1, s1, wall) = (cpu_seconds(host.id()), cpu_seconds(handler), t0.elapsed().as_secs_f64());
        println!(
            "local-real-clock: files={IDLE_FILES} idle for {wall:.0} s: host cpu {:.2} %, handler cpu {:.2} % (one ScheduleTick a minute)",
            (h1 - h0) / wall * 100.0,
            (s1 - s0) / wall * 100.0
        );

        let landing = state.join("data/landing/urgent");
        std::fs::create_dir_all(&landing).expect("the landing folder");
        let mut latencies = Vec::new();
        for i in 0..DROPS {
            let line = format!("{{\"claim_id\":\"U{i}\",\"body\":\"my car was stolen\"}}\n");
            let dropped = Instant::now();
            if i % 2 == 0 {
                std::fs::write(landing.join(format!("{i}.jsonl.partial-tmp")), &line).expect("a file");
                std::fs::rename(landing.join(format!("{i}.jsonl.partial-tmp")), landing.join(format!("{i}.jsonl"))).expect("a rename");
            } else {
                std::fs::write(landing.join(format!("{i}.jsonl")), &line).expect("a file");
            }
            loop {
                let runs: Value = client.get(&api).send().await.expect("runs").json().await.expect("runs as JSON");
                if runs["runs"].as_array().map_or(0, Vec::len) > i {
                    break;
                }
                if dropped.elapsed() > Duration::from_secs(30) {
                    eprintln!("local-real-clock: file {i} did not arrive within 30 s; the state is kept in {}", state.display());
                    let _ = work.keep();
                    std::process::exit(1);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            latencies.push(dropped.elapsed().as_secs_f64() * 1000.0);
        }
        let _ = Command::new("kill").args(["-INT", &host.id().to_string()]).status();
        let _ = host.wait();
        latencies.sort_by(f64::total_cmp);
        println!(
            "local-real-clock: {DROPS} files dropped, their runs listed after p50 {:.0} ms, max {:.0} ms (renamed into place and written in place)",
            latencies[latencies.len() / 2],
            latencies[latencies.len() - 1]
        );
    });
}
