//! Report benchmark: `flowgate report` (the release binary, as a user runs it) over a state of a
//! million runs — ten jobs, each with 100,000 hourly runs ending in the reported week, 1 % failed
//! and a few retried — printing the wall time and the peak resident memory (the report reads
//! runs page by page and keeps only their facts). `FLOWGATE_BENCH_RUNS` changes the count.

use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use flowgate::adapters::local::SqliteStore;
use flowgate::domain::ids::JobId;
use flowgate::domain::run::{RunRecord, RunStatus, RunTrigger};
use flowgate::ports::Table;

#[path = "common/process.rs"]
mod process;

const JOBS: usize = 10;

fn main() {
    let runs: usize = std::env::var("FLOWGATE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let per_job = runs / JOBS;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let end: DateTime<Utc> = "2026-11-30T00:00:00Z".parse().unwrap();
    let t = std::time::Instant::now();
    rt.block_on(async {
        let store = SqliteStore::open(&state.join("state.db")).unwrap();
        for j in 0..JOBS {
            let job = JobId::parse(format!("job_{j:02}")).unwrap();
            let mut batch = Vec::with_capacity(10_000);
            for i in 0..per_job {
                let due = end - Duration::hours((per_job - i) as i64);
                let mut r = RunRecord::pending(job.clone(), due, RunTrigger::Schedule, due);
                r.status = if i % 100 == 7 { RunStatus::Failed } else { RunStatus::Succeeded };
                r.attempts = if i % 50 == 3 { 2 } else { 1 };
                r.started_at = Some(due + Duration::seconds(2));
                r.finished_at = Some(due + Duration::seconds(30 + (i % 60) as i64));
                r.sla_deadline = Some(due + Duration::minutes(30));
                batch.push((job.to_string(), flowgate::domain::ids::instant_key(due), serde_json::to_value(&r).unwrap()));
                if batch.len() == 10_000 {
                    store.import(Table::RUNS, std::mem::take(&mut batch)).await.unwrap();
                }
            }
            store.import(Table::RUNS, batch).await.unwrap();
        }
    });
    println!("report: a state of {} runs written in {:.1} s", per_job * JOBS, t.elapsed().as_secs_f64());
    let out = dir.path().join("out");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    cmd.args(["report", "--week", "2026-W48", "--tz", "UTC", "--state"]).arg(&state).arg("--out").arg(&out);
    let (secs, peak_mb, code) = process::measure(cmd);
    assert_eq!(code, 0, "flowgate report failed");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let n = json["this_week"]["outcomes"]["succeeded"].as_u64().unwrap() + json["this_week"]["outcomes"]["failed"].as_u64().unwrap();
    println!("report: {} runs, week 2026-W48 ({n} runs in it): {secs:.2} s, peak {peak_mb:.0} MB", per_job * JOBS);
}
