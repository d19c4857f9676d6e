//! The audit chain: the flows write it, `flowgate audit verify` proves it intact and names the
//! first event that breaks it when one byte changes, an event is deleted, two are swapped or the
//! tail is cut; eight writers at once keep one linear chain.

use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use flowgate::adapters::local::SqliteAudit;
use flowgate::domain::audit::{verify, AuditDraft, AuditKind};
use flowgate::domain::ids::InvocationId;
use flowgate::flows::schedule_tick::{schedule_tick, TickInput};
use flowgate::ports::AuditSink;

use crate::helpers::{app_with, CATALOG};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn verify_file(path: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowgate")).args(["audit", "verify", "--file"]).arg(path).args(extra).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn tampering_of_any_kind_is_detected_and_named() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    for at in ["2026-11-13T02:00:00Z", "2026-11-13T02:01:00Z", "2026-11-13T02:02:00Z", "2026-11-13T02:03:00Z", "2026-11-13T02:04:00Z"] {
        schedule_tick(&app.deps, TickInput { now: t(at), invocation: InvocationId::generate() }).await.unwrap();
    }
    let events = app.deps.audit.read(None, None).await.unwrap();
    assert!(events.len() >= 5, "{} events", events.len());
    assert!(events.iter().all(|e| e.kind == AuditKind::Scheduled));
    let head = verify(&events).unwrap().unwrap();
    let lines: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: &[String]| {
        let p = dir.path().join(name);
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        p
    };
    let (code, out) = verify_file(&write("good.jsonl", &lines), &["--head", &head]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("intact: {} event(s), head {head}", lines.len())), "{out}");

    // One byte changed in a field of event 3.
    let mut changed = lines.clone();
    changed[2] = changed[2].replacen("\"subject\":\"score", "\"subject\":\"scorf", 1);
    assert_ne!(changed[2], lines[2]);
    let (code, out) = verify_file(&write("changed.jsonl", &changed), &[]);
    assert_eq!(code, 1);
    assert!(out.contains("broken at event seq 3"), "{out}");
    // An event deleted.
    let mut deleted = lines.clone();
    deleted.remove(1);
    let (code, out) = verify_file(&write("deleted.jsonl", &deleted), &[]);
    assert_eq!(code, 1);
    assert!(out.contains("broken at event seq 3") && out.contains("sequence jumps from 1 to 3"), "{out}");
    // Two swapped.
    let mut swapped = lines.clone();
    swapped.swap(3, 4);
    let (code, out) = verify_file(&write("swapped.jsonl", &swapped), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broken at event seq 5"), "{out}");
    // The tail cut mid-line, and cut cleanly (caught by the expected head).
    let mut cut = lines.clone();
    let last = cut.pop().unwrap();
    cut.push(last[..last.len() / 2].to_string());
    let (code, out) = verify_file(&write("cut.jsonl", &cut), &[]);
    assert_eq!(code, 1);
    // A cut row is a broken event at its place, like an edited one.
    assert!(out.contains(&format!("broken at event seq {} ", lines.len())) && out.contains("not a readable audit event"), "{out}");
    let (code, out) = verify_file(&write("short.jsonl", &lines[..lines.len() - 1]), &["--head", &head]);
    assert_eq!(code, 1);
    assert!(out.contains("not at the expected head"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_writers_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let mut tasks = Vec::new();
    for w in 0..8 {
        // Each writer has its own connection, as separate instances would.
        let sink = Arc::new(SqliteAudit::open(&path).unwrap());
        tasks.push(tokio::spawn(async move {
            for i in 0..1250 {
                sink.append(AuditDraft {
                    at: Utc::now(),
                    kind: AuditKind::Attempted,
                    actor: "system".into(),
                    subject: format!("w{w}@{i}"),
                    decision: "succeeded".into(),
                    evidence: serde_json::json!({"i": i}),
                    invocation_id: None,
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = SqliteAudit::open(&path).unwrap().read(None, None).await.unwrap();
    assert_eq!(events.len(), 10_000);
    assert!(verify(&events).is_ok());
}

#[tokio::test]
async fn a_configuration_change_is_recorded_once_with_both_digests() {
    use flowgate::flows::config::{digest, note};
    let app = crate::helpers::app_with(crate::helpers::CATALOG, "http://127.0.0.1:9/score");
    let now = chrono::Utc::now();
    let first = digest(b"version: 1", &[("urgent".into(), b"contract v1".to_vec())]);
    let second = digest(b"version: 1", &[("urgent".into(), b"contract v2".to_vec())]);
    assert_ne!(first, second, "a contract change changes the digest");
    assert!(note(&app.deps, &first, "catalog.yaml", "system", now).await.unwrap());
    assert!(!note(&app.deps, &first, "catalog.yaml", "system", now).await.unwrap(), "a restart with the same files records nothing");
    assert!(note(&app.deps, &second, "catalog.yaml", "managed-identity:abc", now).await.unwrap());
    let events = app.deps.audit.read(None, None).await.unwrap();
    let changes: Vec<_> = events.iter().filter(|e| e.kind == flowgate::domain::audit::AuditKind::ConfigChanged).collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].actor, "managed-identity:abc");
    assert_eq!(changes[1].evidence["previous_digest"], serde_json::json!(first));
    assert_eq!(changes[1].evidence["digest"], serde_json::json!(second));
}
