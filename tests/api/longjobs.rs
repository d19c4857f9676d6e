//! Long-running jobs end to end through DispatchRun and PollJob against a fake of Azure ML's ARM
//! jobs and the Foundry Evals API: submitted once under a deterministic name, followed by
//! scheduled poll messages (never a sleep), settled like any attempt, cancelled at their timeout.

use chrono::{DateTime, Utc};
use flowgate::domain::ids::{InvocationId, JobId, RunKey};
use flowgate::domain::messages::{DispatchMessage, PollMessage};
use flowgate::domain::run::{RunStatus, RunTrigger};
use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput, DispatchReport};
use flowgate::flows::poll_job::{poll_job, PollInput, PollReport};
use flowgate::flows::runs;
use flowgate::ports::{queues, Queue};
use serde_json::json;

use crate::helpers::{app_with, TestApp};

#[path = "../fakes/foundry_jobs.rs"]
mod foundry_jobs;
use foundry_jobs::FakeFoundryJobs;

const CATALOG: &str = r#"
version: 1
timezone: UTC
jobs:
  train:
    kind: azure_ml_job
    endpoint: ${TEST_SCORING_URL}/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws
    schedule: "0 0 * * * *"
    timeout: 10m
    poll_every: 1m
    retry: { max_attempts: 2, initial_delay: 10s, max_delay: 1m }
    request: { body: { jobType: Command, command: "python train.py", computeId: cpu-cluster } }
  judge:
    kind: evaluation
    endpoint: ${TEST_SCORING_URL}/api/projects/claims
    evaluation: eval_quality
    schedule: "0 0 * * * *"
    timeout: 1h
    poll_every: 30s
    retry: { max_attempts: 2, initial_delay: 10s, max_delay: 1m }
    request: { body: { query: "Where is my refund?", response: "It was paid on Monday." } }
"#;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn key(job: &str) -> RunKey {
    RunKey::new(JobId::parse(job).unwrap(), t("2026-11-27T09:00:00Z"))
}

async fn dispatch(app: &TestApp, job: &str, attempt: u32, now: &str) -> DispatchReport {
    let input = DispatchInput {
        message: DispatchMessage::new(&key(job), attempt, RunTrigger::Schedule),
        now: t(now),
        invocation: InvocationId::generate(),
    };
    dispatch_run(&app.deps, input).await.unwrap()
}

async fn poll(app: &TestApp, job: &str, attempt: u32, n: u32, now: &str) -> PollReport {
    let input = PollInput { message: PollMessage::new(&key(job), attempt, n), now: t(now), invocation: InvocationId::generate() };
    poll_job(&app.deps, input).await.unwrap()
}

async fn status(app: &TestApp, job: &str) -> RunStatus {
    runs::load(app.deps.store.as_ref(), &key(job)).await.unwrap().unwrap().0.status
}

#[tokio::test]
async fn an_azure_ml_job_is_submitted_once_and_followed_to_completion() {
    let fake = FakeFoundryJobs::default();
    fake.script(&["Queued", "Running", "Completed"]);
    let app = app_with(CATALOG, &fake.start().await);
    let r = dispatch(&app, "train", 1, "2026-11-27T09:00:01Z").await;
    assert!(
        matches!(&r, DispatchReport::Submitted { attempt: 1, job_id, next_poll } if job_id == "flowgate-train-2026-11-27T09-00-00-000Z-a1" && *next_poll == t("2026-11-27T09:01:01Z")),
        "{r:?}"
    );
    assert_eq!(status(&app, "train").await, RunStatus::Polling);
    // The job's properties are the request body, tagged with the run.
    let body = fake.job_body("flowgate-train-2026-11-27T09-00-00-000Z-a1").unwrap();
    assert_eq!(body["properties"]["command"], json!("python train.py"));
    assert_eq!(body["properties"]["tags"]["flowgate_run"], json!("train@2026-11-27T09:00:00.000Z#1"));
    // The first poll is a scheduled message on the poll queue, not a sleep.
    let c = app.queue.counts(queues::POLL, t("2026-11-27T09:00:02Z")).await.unwrap();
    assert_eq!((c.active, c.scheduled), (0, 1));
    // A duplicate delivery of the dispatch message does not submit again.
    assert!(matches!(dispatch(&app, "train", 1, "2026-11-27T09:00:05Z").await, DispatchReport::Polling { .. }));
    assert!(
        matches!(poll(&app, "train", 1, 0, "2026-11-27T09:01:01Z").await, PollReport::Running { ref status, .. } if status == "Queued")
    );
    // A duplicate of poll 0 is ignored: each poll message is acted on once.
    assert!(matches!(poll(&app, "train", 1, 0, "2026-11-27T09:01:02Z").await, PollReport::Ignored { .. }));
    assert!(
        matches!(poll(&app, "train", 1, 1, "2026-11-27T09:02:01Z").await, PollReport::Running { ref status, .. } if status == "Running")
    );
    let r = poll(&app, "train", 1, 2, "2026-11-27T09:03:01Z").await;
    assert_eq!(r, PollReport::Settled(DispatchReport::Succeeded { attempts: 1, records: 0 }));
    let (rec, _) = runs::load(app.deps.store.as_ref(), &key("train")).await.unwrap().unwrap();
    assert_eq!(rec.status, RunStatus::Succeeded);
    assert_eq!(rec.output.as_deref(), Some("https://ml.azure.com/runs/flowgate-train-2026-11-27T09-00-00-000Z-a1"));
    assert_eq!(rec.last_latency_ms, Some(180_000));
    let puts = fake.log().iter().filter(|l| l.starts_with("PUT")).count();
    assert_eq!(puts, 1, "{:?}", fake.log());
    // Late polls of a finished run change nothing.
    assert!(matches!(poll(&app, "train", 1, 3, "2026-11-27T09:04:01Z").await, PollReport::Ignored { .. }));
}

#[tokio::test]
async fn a_failed_job_is_retried_under_a_new_name_then_quarantined() {
    let fake = FakeFoundryJobs::default();
    fake.script(&["Running", "Failed"]);
    let app = app_with(CATALOG, &fake.start().await);
    dispatch(&app, "train", 1, "2026-11-27T09:00:00Z").await;
    poll(&app, "train", 1, 0, "2026-11-27T09:01:00Z").await;
    let r = poll(&app, "train", 1, 1, "2026-11-27T09:02:00Z").await;
    assert!(
        matches!(&r, PollReport::Settled(DispatchReport::RetryScheduled { attempt: 2, reason, .. }) if reason.contains("exited with code 1")),
        "{r:?}"
    );
    let r = dispatch(&app, "train", 2, "2026-11-27T09:02:05Z").await;
    assert!(matches!(&r, DispatchReport::Submitted { attempt: 2, job_id, .. } if job_id.ends_with("-a2")), "{r:?}");
    poll(&app, "train", 2, 0, "2026-11-27T09:03:05Z").await;
    let r = poll(&app, "train", 2, 1, "2026-11-27T09:04:05Z").await;
    assert!(
        matches!(&r, PollReport::Settled(DispatchReport::Quarantined { reason }) if reason.contains("gave up after 2 attempts")),
        "{r:?}"
    );
    assert_eq!(app.queue.counts(queues::QUARANTINE, t("2026-11-27T10:00:00Z")).await.unwrap().active, 1);
}

#[tokio::test]
async fn a_job_past_its_timeout_is_cancelled_and_throttled_reads_wait() {
    let fake = FakeFoundryJobs::default();
    fake.script(&["Running"]);
    let app = app_with(CATALOG, &fake.start().await);
    dispatch(&app, "train", 1, "2026-11-27T09:00:00Z").await;
    // Throttled: the next poll waits for the larger of Retry-After (90 s) and retry-after-ms (120 s).
    fake.throttle(1);
    let r = poll(&app, "train", 1, 0, "2026-11-27T09:01:00Z").await;
    assert!(matches!(&r, PollReport::Running { next, .. } if *next == t("2026-11-27T09:03:00Z")), "{r:?}");
    let r = poll(&app, "train", 1, 1, "2026-11-27T09:03:00Z").await;
    assert!(matches!(r, PollReport::Running { .. }));
    // Timeout 10 m after submission: cancelled, and the attempt fails into a retry.
    let r = poll(&app, "train", 1, 2, "2026-11-27T09:10:00Z").await;
    assert!(
        matches!(&r, PollReport::Settled(DispatchReport::RetryScheduled { reason, .. }) if reason.contains("at its timeout; cancelled")),
        "{r:?}"
    );
    assert!(fake.log().iter().any(|l| l.starts_with("POST") && l.ends_with("/cancel")), "{:?}", fake.log());
}

#[tokio::test]
async fn an_evaluation_run_reads_result_counts_as_the_outcome() {
    let fake = FakeFoundryJobs::default();
    fake.script(&["queued", "in_progress", "completed"]);
    fake.result_counts(json!({ "total": 1, "passed": 1, "failed": 0, "errored": 0 }));
    let app = app_with(CATALOG, &fake.start().await);
    let r = dispatch(&app, "judge", 1, "2026-11-27T09:00:00Z").await;
    assert!(matches!(&r, DispatchReport::Submitted { job_id, .. } if job_id == "evalrun_1"), "{r:?}");
    let runs_created = fake.eval_runs();
    assert_eq!(runs_created.len(), 1);
    assert_eq!(runs_created[0]["name"], json!("flowgate-judge-2026-11-27T09-00-00-000Z-a1"));
    assert_eq!(runs_created[0]["data_source"]["source"]["content"][0]["item"]["query"], json!("Where is my refund?"));
    for n in 0..2 {
        assert!(matches!(poll(&app, "judge", 1, n, "2026-11-27T09:01:00Z").await, PollReport::Running { .. }));
    }
    let r = poll(&app, "judge", 1, 2, "2026-11-27T09:02:00Z").await;
    assert_eq!(r, PollReport::Settled(DispatchReport::Succeeded { attempts: 1, records: 1 }));
    let (rec, _) = runs::load(app.deps.store.as_ref(), &key("judge")).await.unwrap().unwrap();
    assert_eq!((rec.records_in, rec.records_out), (1, 1));
    assert_eq!(rec.output.as_deref(), Some("https://ai.azure.com/evaluation/evalrun_1"));
}

#[tokio::test]
async fn a_resubmitted_evaluation_finds_its_run_and_errored_items_fail_the_attempt() {
    let fake = FakeFoundryJobs::default();
    fake.script(&["completed"]);
    fake.result_counts(json!({ "total": 4, "passed": 2, "failed": 0, "errored": 2 }));
    let app = app_with(CATALOG, &fake.start().await);
    dispatch(&app, "judge", 1, "2026-11-27T09:00:00Z").await;
    // The instance died before recording the submission: the attempt runs again and finds the
    // run it created by name instead of creating a second one.
    let (mut rec, etag) = runs::load(app.deps.store.as_ref(), &key("judge")).await.unwrap().unwrap();
    rec.status = RunStatus::Running;
    rec.job_handle = None;
    rec.lease_until = Some(t("2026-11-27T09:00:30Z"));
    runs::replace(app.deps.store.as_ref(), &rec, &etag).await.unwrap();
    let r = dispatch(&app, "judge", 1, "2026-11-27T09:05:00Z").await;
    assert!(matches!(&r, DispatchReport::Submitted { job_id, .. } if job_id == "evalrun_1"), "{r:?}");
    assert_eq!(fake.eval_runs().len(), 1);
    // The lost attempt counts as one; the first attempt's poll message is now stale.
    assert!(matches!(poll(&app, "judge", 1, 0, "2026-11-27T09:05:30Z").await, PollReport::Ignored { .. }));
    let r = poll(&app, "judge", 2, 0, "2026-11-27T09:06:00Z").await;
    // Errored items are a failed attempt; this was the second of two.
    assert!(
        matches!(&r, PollReport::Settled(DispatchReport::Quarantined { reason }) if reason.contains("2 of 4 item(s) errored")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_job_cancelled_elsewhere_is_quarantined() {
    let fake = FakeFoundryJobs::default();
    fake.script(&["Running", "Canceled"]);
    let app = app_with(CATALOG, &fake.start().await);
    dispatch(&app, "train", 1, "2026-11-27T09:00:00Z").await;
    poll(&app, "train", 1, 0, "2026-11-27T09:01:00Z").await;
    let r = poll(&app, "train", 1, 1, "2026-11-27T09:02:00Z").await;
    assert!(
        matches!(&r, PollReport::Settled(DispatchReport::Quarantined { reason }) if reason.contains("cancelled outside flowgate")),
        "{r:?}"
    );
    assert_eq!(status(&app, "train").await, RunStatus::Quarantined);
}
