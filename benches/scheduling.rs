//! Scheduling benchmark (run: `cargo bench --bench scheduling`). On a generated catalog of 10,000
//! jobs (hourly, half-hourly and daily schedules in four time zones; one in five waits for
//! another job of the same slot) it prints:
//! - catalog load and validation time;
//! - ScheduleTick (the flow, with SQLite state and the local queue) per tick, over two simulated
//!   hours: median and worst for ticks with no slot due, and for ticks with slots due, with the
//!   number of runs they start (target for a tick: under 5 ms);
//! - `plan` for 7 days of the 10,000 jobs (target: under 2 s).
//!
//! Between ticks, outside the timed part, a stand-in dispatcher marks every dispatched run
//! succeeded so that dependencies resolve as they would in production.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use flowgate::adapters::http::HttpRunner;
use flowgate::adapters::local::{FileBlobs, JsonlNotifier, LocalQueue, QueueSettings, SqliteStore};
use flowgate::domain::catalog::check::{load, Environment};
use flowgate::domain::ids::InvocationId;
use flowgate::domain::plan::{plan, PlanState};
use flowgate::flows::schedule_tick::{schedule_tick, TickInput};
use flowgate::flows::{runs, Deps};

#[path = "common/catalogs.rs"]
mod catalogs;
use catalogs::{catalog_text, JOBS};
fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((p / 100.0) * (v.len() - 1) as f64).round() as usize]
}

async fn finish_dispatched(deps: &Deps, queue: &LocalQueue, now: DateTime<Utc>) -> usize {
    let mut n = 0;
    while let Some(m) = queue.receive("dispatch", now).await.unwrap() {
        let msg: flowgate::domain::messages::DispatchMessage = serde_json::from_str(&m.body).unwrap();
        if let Some((mut rec, etag)) = runs::load(deps.store.as_ref(), &msg.key()).await.unwrap() {
            rec.status = flowgate::domain::run::RunStatus::Succeeded;
            rec.finished_at = Some(now);
            let _ = runs::replace(deps.store.as_ref(), &rec, &etag).await;
        }
        queue.complete(&m.lock_token, now).await.unwrap();
        n += 1;
    }
    n
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let text = catalog_text();
    let t = Instant::now();
    let exists = |_: &Path| true;
    let setting = |_: &str| None;
    let catalog =
        load(&text, &Environment { base_dir: Path::new("."), file_exists: &exists, setting: &setting }).expect("valid catalog").catalog;
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
    let queue = LocalQueue::open(
        &dir.path().join("queues.db"),
        QueueSettings { duplicate_detection_window: std::time::Duration::from_secs(60), ..QueueSettings::default() },
    )
    .unwrap();
    let shared = Arc::new(catalog.clone());
    let releases = flowgate::flows::releases::active::ReleaseCache::new(
        Arc::new(FileBlobs::new(dir.path())),
        false,
        false,
        shared.clone(),
        Arc::default(),
    );
    let deps = Deps {
        catalog: shared,
        release: None,
        releases: Arc::new(releases),
        store: Arc::new(store),
        queue: Arc::new(queue.clone()),
        runner: Arc::new(HttpRunner::new(None).unwrap()),
        endpoints: Arc::new(HttpRunner::new(None).unwrap()),
        canary: None,
        blobs: Arc::new(FileBlobs::new(dir.path().join("data"))),
        notifiers: vec![Arc::new(JsonlNotifier::new(dir.path().join("alerts.jsonl")))],
        schedule_cache: Arc::default(),
        audit: Arc::new(flowgate::adapters::local::SqliteAudit::open(&dir.path().join("audit.db")).unwrap()),
        audit_copy: None,
        facts: None,
        pii: Arc::new(flowgate::domain::pii::Tokenizer::new(b"bench key, not a secret, 32 bytes".to_vec()).unwrap()),
        lineage: Arc::new(flowgate::adapters::local::JsonlLineage::new(dir.path().join("lineage.jsonl"))),
        contracts: Arc::default(),
        settings: Arc::new(|_: &str| None),
        random: || 0.5,
        pipelines: Arc::new(flowgate::adapters::http::AzureDevOps::new()),
        github: None,
    };

    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z").unwrap().with_timezone(&Utc);
    let tick = |at: DateTime<Utc>| schedule_tick(&deps, TickInput { now: at, invocation: InvocationId::generate() });
    let t = Instant::now();
    tick(start).await.unwrap();
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    finish_dispatched(&deps, &queue, start).await;

    let (mut idle, mut busy, mut started) = (Vec::new(), Vec::new(), 0usize);
    for minute in 1..=120 {
        let at = start + Duration::minutes(minute);
        let t = Instant::now();
        let r = tick(at).await.unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let n = r.enqueued.len() + r.dependencies.started.len() + r.waiting.len();
        if n == 0 {
            idle.push(ms);
        } else {
            busy.push(ms);
            started += r.enqueued.len() + r.dependencies.started.len();
        }
        finish_dispatched(&deps, &queue, at).await;
    }
    let busy_n = busy.len();
    let t = Instant::now();
    let (planned, truncated) = plan(&catalog, start, start + Duration::days(7), &PlanState::default(), 5_000_000);
    let plan_ms = t.elapsed().as_secs_f64() * 1000.0;

    println!("scheduling benchmark ({JOBS} jobs, 2 cores)");
    println!("  catalog load and validation: {load_ms:.0} ms");
    println!("  first ScheduleTick (cold cache, every job's state created): {first_ms:.0} ms");
    println!(
        "  ScheduleTick with no slot due: median {:.2} ms, worst {:.2} ms (n={}; target < 5 ms)",
        percentile(&mut idle.clone(), 50.0),
        percentile(&mut idle, 100.0),
        120 - busy_n
    );
    println!(
        "  ScheduleTick with slots due: median {:.1} ms, worst {:.1} ms (n={busy_n}; {:.0} runs started per busy tick on average, {:.2} ms per run)",
        percentile(&mut busy.clone(), 50.0),
        percentile(&mut busy.clone(), 100.0),
        started as f64 / busy_n.max(1) as f64,
        busy.iter().sum::<f64>() / started.max(1) as f64
    );
    println!(
        "  plan for 7 days: {} runs in {plan_ms:.0} ms{} (target < 2000 ms)",
        planned.len(),
        if truncated { " (truncated)" } else { "" }
    );
}
