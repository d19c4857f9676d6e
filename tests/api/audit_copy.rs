//! The audit trail's copy in Log Analytics, against a fake of the Logs Ingestion API that checks
//! gzip, the 1 MiB limit and the JSON array: batches stay under the limit, a 429 pauses the copy
//! without losing anything, an outage resumes from the cursor, and two instances at once send
//! nothing twice.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use flowgate::adapters::azure::logs_ingestion::LogsIngestion;
use flowgate::domain::audit::{AuditDraft, AuditKind};
use flowgate::flows::audit_copy::copy_pass;
use serde_json::json;

use crate::helpers::{app_with, TestApp, CATALOG};

#[path = "../fakes/logs_ingestion.rs"]
pub(crate) mod logs_ingestion;
use logs_ingestion::{FakeLogsIngestion, LIMIT};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn append(app: &TestApp, n: usize) {
    for i in 0..n {
        let draft = AuditDraft {
            at: t("2026-11-27T09:00:00Z") + chrono::Duration::milliseconds(i as i64),
            kind: AuditKind::Attempted,
            actor: "system".into(),
            subject: format!("job@{i}"),
            decision: "succeeded on attempt 1".into(),
            evidence: json!({ "detail": "e".repeat(900) }),
            invocation_id: Some(format!("inv-{i}")),
        };
        app.deps.audit.append(draft).await.unwrap();
    }
}

fn seqs(fake: &FakeLogsIngestion) -> Vec<u64> {
    fake.rows.lock().unwrap().iter().map(|r| r["Seq"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn batches_stay_under_1_mib_and_a_429_or_an_outage_loses_nothing() {
    let fake = FakeLogsIngestion::default();
    let url = fake.start().await;
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let copy = LogsIngestion::new(&url, "dcr-0123", "Custom-FlowgateAudit_CL", None).unwrap();
    append(&app, 3_000).await;

    fake.throttle(1);
    let r = copy_pass(&app.deps, &copy, t("2026-11-27T10:00:00Z")).await.unwrap();
    assert_eq!((r.sent, r.cursor), (0, 0));
    assert!(r.stopped.as_deref().is_some_and(|s| s.contains("429")), "{r:?}");

    let r = copy_pass(&app.deps, &copy, t("2026-11-27T10:01:00Z")).await.unwrap();
    assert_eq!((r.sent, r.cursor, r.stopped.clone()), (3_000, 3_000, None), "{r:?}");
    assert!(r.batches >= 3, "about 3 MB in calls under 1 MiB: {r:?}");
    assert!(fake.calls.lock().unwrap().iter().all(|n| *n <= LIMIT));
    assert!(fake.violations.lock().unwrap().is_empty(), "{:?}", fake.violations.lock().unwrap());
    assert_eq!(seqs(&fake), (1..=3_000).collect::<Vec<_>>());
    let first = fake.rows.lock().unwrap()[0].clone();
    for col in ["TimeGenerated", "Kind", "Actor", "Subject", "Decision", "Evidence", "Hash", "PrevHash"] {
        assert!(first.get(col).is_some(), "{col} in {first}");
    }

    // An outage: the endpoint is gone. The cursor stays; nothing is lost.
    append(&app, 10).await;
    let down = LogsIngestion::new("http://127.0.0.1:9", "dcr-0123", "Custom-FlowgateAudit_CL", None).unwrap();
    let r = copy_pass(&app.deps, &down, t("2026-11-27T10:05:00Z")).await.unwrap();
    assert_eq!((r.sent, r.cursor), (0, 3_000));
    let r = copy_pass(&app.deps, &copy, t("2026-11-27T10:06:00Z")).await.unwrap();
    assert_eq!((r.sent, r.cursor), (10, 3_010));

    // Two instances at once: one holds the lease, nothing is sent twice.
    append(&app, 500).await;
    let copy = Arc::new(copy);
    let (a, b) = tokio::join!(
        copy_pass(&app.deps, copy.as_ref(), t("2026-11-27T10:10:00Z")),
        copy_pass(&app.deps, copy.as_ref(), t("2026-11-27T10:10:00Z"))
    );
    assert_eq!(a.unwrap().sent + b.unwrap().sent, 500);
    let mut all = seqs(&fake);
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (3_510, 3_510));
    assert_eq!(all, (1..=3_510).collect::<Vec<_>>());
}
