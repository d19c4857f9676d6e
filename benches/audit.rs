//! Audit benchmark (run: `cargo bench --bench audit`): appends per second to the local chain
//! (one SQLite transaction each, as the handler writes them; target at least 5,000/s), and verify
//! speed over the exported events (canonical JSON and SHA-256 per event; target at least
//! 200,000 events/s).

use std::time::Instant;

use chrono::Utc;
use flowgate::adapters::local::SqliteAudit;
use flowgate::domain::audit::{verify, AuditDraft, AuditKind};
use flowgate::ports::AuditSink;

const EVENTS: u64 = 20_000;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SqliteAudit::open(&dir.path().join("audit.db")).unwrap();
    let t = Instant::now();
    for i in 0..EVENTS {
        sink.append(AuditDraft {
            at: Utc::now(),
            kind: AuditKind::Attempted,
            actor: "system".into(),
            subject: format!("classify_correspondence@2026-11-27T{:02}:{:02}:00.000Z", (i / 60) % 24, i % 60),
            decision: "succeeded on attempt 1".into(),
            evidence: serde_json::json!({"attempt": 1, "latency_ms": 27, "records_in": 12, "records_out": 12}),
            invocation_id: Some(uuid::Uuid::new_v4().to_string()),
        })
        .await
        .unwrap();
    }
    let append_s = t.elapsed().as_secs_f64();
    let events = sink.read(None, None).await.unwrap();
    let t = Instant::now();
    let head = verify(&events).unwrap();
    let verify_s = t.elapsed().as_secs_f64();
    assert!(head.is_some());
    println!("audit benchmark ({EVENTS} events, SQLite WAL, 2 cores)");
    println!("  appends: {:.0} events/s (one transaction each; target >= 5000/s)", EVENTS as f64 / append_s);
    println!("  verify:  {:.0} events/s (target >= 200000/s)", EVENTS as f64 / verify_s);
}
