//! DispatchRun's outcomes against a fake endpoint: retries as scheduled messages honouring
//! Retry-After, quarantine on a permanent 4xx or exhausted retries, and per-record runs.

use chrono::{DateTime, Utc};
use flowgate::domain::ids::{InvocationId, JobId, RunKey};
use flowgate::domain::messages::DispatchMessage;
use flowgate::domain::run::RunTrigger;
use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput, DispatchReport};
use flowgate::ports::{queues, BlobStore, Queue};

use crate::helpers::{app_with, scoring::FakeScoring, CATALOG};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn input(job: &str, at: &str, attempt: u32, now: &str, trigger: RunTrigger) -> DispatchInput {
    let key = RunKey::new(JobId::parse(job).unwrap(), t(at));
    DispatchInput { message: DispatchMessage::new(&key, attempt, trigger), now: t(now), invocation: InvocationId::generate() }
}

#[tokio::test]
async fn retryable_failures_schedule_the_next_attempt_then_succeed() {
    let fake = FakeScoring::default();
    fake.push(503, None);
    fake.push(429, Some("45"));
    let app = app_with(CATALOG, &fake.start().await);
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T02:00:00Z", 1, "2026-11-13T02:00:01Z", RunTrigger::Schedule)).await.unwrap();
    // Full jitter with unit 0.5 on a 10 s ceiling: 5 s.
    assert!(matches!(&r, DispatchReport::RetryScheduled { attempt: 2, at, .. } if *at == t("2026-11-13T02:00:06Z")), "{r:?}");
    let c = app.queue.counts(queues::DISPATCH, t("2026-11-13T02:00:01Z")).await.unwrap();
    assert_eq!((c.active, c.scheduled), (0, 1));
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T02:00:00Z", 2, "2026-11-13T02:00:06Z", RunTrigger::Schedule)).await.unwrap();
    // Retry-After 45 s beats the 10 s jittered backoff.
    assert!(matches!(&r, DispatchReport::RetryScheduled { attempt: 3, at, .. } if *at == t("2026-11-13T02:00:51Z")), "{r:?}");
    // A stale duplicate of attempt 2 is ignored.
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T02:00:00Z", 2, "2026-11-13T02:00:07Z", RunTrigger::Schedule)).await.unwrap();
    assert_eq!(r, DispatchReport::Stale { expected: 3, got: 2 });
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T02:00:00Z", 3, "2026-11-13T02:00:51Z", RunTrigger::Schedule)).await.unwrap();
    assert_eq!(r, DispatchReport::Succeeded { attempts: 3, records: 1 });
    assert_eq!(fake.call_count(), 3);
}

#[tokio::test]
async fn permanent_4xx_and_exhausted_retries_are_quarantined() {
    let fake = FakeScoring::default();
    fake.push(400, None);
    for _ in 0..3 {
        fake.push(500, None);
    }
    let app = app_with(CATALOG, &fake.start().await);
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T03:00:00Z", 1, "2026-11-13T03:00:00Z", RunTrigger::Schedule)).await.unwrap();
    assert!(matches!(&r, DispatchReport::Quarantined { reason } if reason.contains("HTTP 400")), "{r:?}");
    for attempt in 1..=3 {
        let r = dispatch_run(&app.deps, input("score", "2026-11-13T04:00:00Z", attempt, "2026-11-13T04:10:00Z", RunTrigger::Schedule))
            .await
            .unwrap();
        if attempt < 3 {
            assert!(matches!(r, DispatchReport::RetryScheduled { .. }), "{r:?}");
        } else {
            assert!(matches!(&r, DispatchReport::Quarantined { reason } if reason.contains("gave up after 3 attempts")), "{r:?}");
        }
    }
    assert_eq!(app.queue.counts(queues::QUARANTINE, t("2026-11-13T05:00:00Z")).await.unwrap().active, 2);
}

#[tokio::test]
async fn arrival_runs_score_each_record_and_write_outputs() {
    let fake = FakeScoring::default();
    let app = app_with(CATALOG, &fake.start().await);
    let lines =
        "{\"claim_id\":\"C1\",\"body\":\"car crash\",\"policyholder_email\":\"a@b.example\"}\n{\"claim_id\":\"C2\",\"body\":\"refund\"}\n";
    flowgate::adapters::local::FileBlobs::new(app.dir.path().join("data"))
        .write("landing", "claims/urgent/a.jsonl", lines.as_bytes())
        .await
        .unwrap();
    let trigger = RunTrigger::Arrival { dataset: "urgent".into(), container: "landing".into(), path: "claims/urgent/a.jsonl".into() };
    let r = dispatch_run(&app.deps, input("triage", "2026-11-13T02:40:00Z", 1, "2026-11-13T02:40:01Z", trigger)).await.unwrap();
    assert_eq!(r, DispatchReport::Succeeded { attempts: 1, records: 2 });
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls, vec![serde_json::json!({"text": "car crash"}), serde_json::json!({"text": "refund"})]);
    let out = std::fs::read_to_string(app.dir.path().join("data/curated/out/triage/20261113T024000000Z.jsonl")).unwrap();
    assert_eq!(out.lines().count(), 2);
    assert!(out.contains("\"claim_id\":\"C1\""));
    assert!(!out.contains("a@b.example"), "unmapped columns never reach the output");
}

#[tokio::test]
async fn a_record_without_the_mapped_column_is_quarantined() {
    let fake = FakeScoring::default();
    let app = app_with(CATALOG, &fake.start().await);
    flowgate::adapters::local::FileBlobs::new(app.dir.path().join("data"))
        .write("landing", "claims/urgent/b.jsonl", b"{\"claim_id\":\"C1\"}\n")
        .await
        .unwrap();
    let trigger = RunTrigger::Arrival { dataset: "urgent".into(), container: "landing".into(), path: "claims/urgent/b.jsonl".into() };
    let r = dispatch_run(&app.deps, input("triage", "2026-11-13T02:41:00Z", 1, "2026-11-13T02:41:01Z", trigger)).await.unwrap();
    assert!(matches!(&r, DispatchReport::Quarantined { reason } if reason.contains("record 1") && reason.contains("`body`")), "{r:?}");
    assert_eq!(fake.call_count(), 0);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_attempt_call_the_endpoint_once() {
    let fake = FakeScoring::default();
    let app = app_with(CATALOG, &fake.start().await);
    let deps = std::sync::Arc::new(app.deps.clone());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let deps = deps.clone();
        tasks.push(tokio::spawn(async move {
            dispatch_run(&deps, input("score", "2026-11-13T06:00:00Z", 1, "2026-11-13T06:00:01Z", RunTrigger::Schedule)).await.unwrap()
        }));
    }
    let mut succeeded = 0;
    for t in tasks {
        match t.await.unwrap() {
            DispatchReport::Succeeded { .. } => succeeded += 1,
            DispatchReport::InFlight { .. } | DispatchReport::AlreadyFinished { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(succeeded, 1);
    assert_eq!(fake.call_count(), 1, "a run key executes at most once to success");
}

#[tokio::test]
async fn a_live_lease_defers_and_a_lost_attempt_runs_again() {
    use flowgate::ports::{Store, Table};
    let fake = FakeScoring::default();
    let app = app_with(CATALOG, &fake.start().await);
    // An attempt started at 07:00 and its instance died: the record says running, leased.
    let row = "2026-11-13T07:00:00.000Z";
    let mut rec = flowgate::domain::run::RunRecord::pending(
        JobId::parse("score").unwrap(),
        t("2026-11-13T07:00:00Z"),
        RunTrigger::Schedule,
        t("2026-11-13T07:00:00Z"),
    );
    rec.status = flowgate::domain::run::RunStatus::Running;
    rec.attempts = 1;
    rec.lease_until = Some(t("2026-11-13T07:02:00Z"));
    app.store.insert(Table::RUNS, "score", row, &serde_json::to_value(&rec).unwrap()).await.unwrap();
    // Redelivered while the lease is live: deferred to the lease's end, not run.
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T07:00:00Z", 1, "2026-11-13T07:01:00Z", RunTrigger::Schedule)).await.unwrap();
    assert_eq!(r, DispatchReport::InFlight { recheck_at: t("2026-11-13T07:02:00Z") });
    let c = app.queue.counts(queues::DISPATCH, t("2026-11-13T07:01:00Z")).await.unwrap();
    assert_eq!(c.scheduled, 1, "a re-check is scheduled for the lease's end");
    assert_eq!(fake.call_count(), 0);
    // After the lease: the lost attempt runs again, counted as attempt 2.
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T07:00:00Z", 1, "2026-11-13T07:02:00Z", RunTrigger::Schedule)).await.unwrap();
    assert_eq!(r, DispatchReport::Succeeded { attempts: 2, records: 1 });
    assert_eq!(fake.call_count(), 1);
}

#[tokio::test]
async fn a_connection_reset_is_retried() {
    // An endpoint that accepts the connection and closes it without answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/score", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let app = app_with(CATALOG, &url);
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T08:00:00Z", 1, "2026-11-13T08:00:00Z", RunTrigger::Schedule)).await.unwrap();
    assert!(matches!(&r, DispatchReport::RetryScheduled { attempt: 2, reason, .. } if reason.contains("request to the endpoint")), "{r:?}");
}

#[tokio::test]
async fn a_slow_endpoint_times_out_and_is_retryable() {
    use flowgate::adapters::http::HttpRunner;
    use flowgate::ports::{JobRequest, JobRunner, RunnerError};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/score", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/score",
        axum::routing::post(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            "{}"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let runner = HttpRunner::new(None).unwrap();
    let req = JobRequest {
        endpoint: url,
        deployment: None,
        body: serde_json::json!({}),
        timeout: std::time::Duration::from_millis(200),
        correlation_id: "t".into(),
    };
    let started = std::time::Instant::now();
    let err = runner.invoke(&req).await.unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(matches!(&err, RunnerError::Retryable { message, .. } if message.contains("timed out")), "{err:?}");
}

#[tokio::test]
async fn a_retry_deadline_ends_the_series_early() {
    let fake = FakeScoring::default();
    for _ in 0..3 {
        fake.push(503, None);
    }
    let catalog = CATALOG.replace(
        "retry: { max_attempts: 3, initial_delay: 10s, max_delay: 1m }",
        "retry: { max_attempts: 10, initial_delay: 40s, multiplier: 1.0, max_delay: 40s, deadline: 1m }",
    );
    let app = app_with(&catalog, &fake.start().await);
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T09:00:00Z", 1, "2026-11-13T09:00:00Z", RunTrigger::Schedule)).await.unwrap();
    // Jitter 0.5 of 40 s: the second attempt at 09:00:20, inside the minute.
    assert!(matches!(&r, DispatchReport::RetryScheduled { attempt: 2, .. }), "{r:?}");
    let r = dispatch_run(&app.deps, input("score", "2026-11-13T09:00:00Z", 2, "2026-11-13T09:00:50Z", RunTrigger::Schedule)).await.unwrap();
    // A third attempt at 09:01:10 would be past the deadline: the run gives up with attempts left.
    assert!(matches!(&r, DispatchReport::Quarantined { reason } if reason.contains("retry deadline")), "{r:?}");
}
