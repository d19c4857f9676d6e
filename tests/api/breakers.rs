//! Circuit breakers: consecutive failures open the job's and the endpoint's breakers; while open,
//! runs are deferred without calling (and without using up attempts); after the cooldown one probe
//! goes through and closes them. Every transition is recorded in the Store.

use chrono::{DateTime, Utc};
use flowgate::domain::ids::{InvocationId, JobId, RunKey};
use flowgate::domain::messages::DispatchMessage;
use flowgate::domain::run::RunTrigger;
use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput, DispatchReport};
use flowgate::ports::{RowRange, Store, Table};

use crate::helpers::{app_with, scoring::FakeScoring};

const CATALOG: &str = r#"
version: 1
defaults:
  retry: { max_attempts: 1 }
  breaker: { consecutive_failures: 2, cooldown: 10m }
jobs:
  a:
    kind: http
    endpoint: ${TEST_SCORING_URL}
    schedule: "0 0 * * * *"
  b:
    kind: http
    endpoint: ${TEST_SCORING_URL}
    schedule: "0 30 * * * *"
"#;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn input(job: &str, at: &str, attempt: u32, now: &str) -> DispatchInput {
    let key = RunKey::new(JobId::parse(job).unwrap(), t(at));
    DispatchInput { message: DispatchMessage::new(&key, attempt, RunTrigger::Schedule), now: t(now), invocation: InvocationId::generate() }
}

#[tokio::test]
async fn failures_open_the_breakers_runs_wait_and_a_probe_closes_them() {
    let fake = FakeScoring::default();
    fake.push(503, None);
    fake.push(503, None);
    let app = app_with(CATALOG, &fake.start().await);
    for at in ["2026-11-27T01:00:00Z", "2026-11-27T02:00:00Z"] {
        let r = dispatch_run(&app.deps, input("a", at, 1, at)).await.unwrap();
        assert!(matches!(r, DispatchReport::Quarantined { .. }), "{r:?}");
    }
    assert_eq!(fake.call_count(), 2);
    // Job b shares the endpoint: its breaker is open too. Deferred, nothing called, no attempt used.
    let r = dispatch_run(&app.deps, input("b", "2026-11-27T02:05:00Z", 1, "2026-11-27T02:05:00Z")).await.unwrap();
    let DispatchReport::Deferred { until, reason } = &r else { panic!("{r:?}") };
    assert_eq!(*until, t("2026-11-27T02:10:00Z"), "{reason}");
    assert_eq!(fake.call_count(), 2);
    let rec = app.store.get(Table::RUNS, "b", "2026-11-27T02:05:00.000Z").await.unwrap().unwrap().body;
    assert_eq!(rec["attempts"], 0);
    assert!(rec["reason"].as_str().unwrap().contains("circuit breaker open"), "{rec}");
    // Job a's own breaker is open until 02:10.
    let r = dispatch_run(&app.deps, input("a", "2026-11-27T02:05:00Z", 1, "2026-11-27T02:05:00Z")).await.unwrap();
    assert!(matches!(r, DispatchReport::Deferred { until, .. } if until == t("2026-11-27T02:10:00Z")), "{r:?}");
    // After the cooldown a probe goes through, succeeds and closes both breakers.
    let r = dispatch_run(&app.deps, input("a", "2026-11-27T02:05:00Z", 1, "2026-11-27T02:12:00Z")).await.unwrap();
    assert_eq!(r, DispatchReport::Succeeded { attempts: 1, records: 1 });
    let r = dispatch_run(&app.deps, input("b", "2026-11-27T02:05:00Z", 1, "2026-11-27T02:31:00Z")).await.unwrap();
    assert_eq!(r, DispatchReport::Succeeded { attempts: 1, records: 1 });
    let breakers = app.store.query(Table::BREAKERS, None, RowRange::default(), 10).await.unwrap();
    let job_a = breakers.iter().find(|e| e.partition == "job" && e.row == "a").unwrap();
    assert_eq!(job_a.body["state"], "closed");
    let moves: Vec<String> = job_a.body["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}->{}", t["from"].as_str().unwrap(), t["to"].as_str().unwrap()))
        .collect();
    assert_eq!(moves, vec!["closed->open", "open->half_open", "half_open->closed"]);
    let endpoint = breakers.iter().find(|e| e.partition == "endpoint").unwrap();
    assert!(endpoint.row.starts_with("http:__127.0.0.1:"), "{}", endpoint.row);
    assert_eq!(endpoint.body["state"], "closed");
}
