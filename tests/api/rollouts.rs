//! Canary rollouts and blue/green switches end to end: the CLI on a state folder, the flows in
//! process on the same state, a fake managed online endpoint (ARM) and a fake scoring endpoint
//! that records which deployment each call was pinned to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use flowgate::domain::canary::CanaryDecision;
use flowgate::domain::ids::{InvocationId, JobId, RunKey};
use flowgate::domain::messages::DispatchMessage;
use flowgate::domain::run::{RunStatus, RunTrigger};
use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput};
use flowgate::flows::releases::{records, rollout};
use flowgate::flows::{lifecycle, runs, Deps};
use flowgate::ports::{ETag, Entity, RowRange, Store, StoreError, Table};
use serde_json::Value;

use super::releases::Workspace;

#[path = "../fakes/online_endpoint.rs"]
mod online_endpoint;
use super::helpers::scoring::FakeScoring;
use online_endpoint::FakeOnlineEndpoints;

/// A catalog with one online endpoint job on `deployment`, switchable through `management`.
fn catalog(deployment: &str, management: &str, rollout: &str) -> String {
    format!(
        "version: 1
timezone: Europe/London
jobs:
  classify:
    kind: online_endpoint
    endpoint: ${{ROLLOUT_SCORING_URL:-http://127.0.0.1:9/score}}
    deployment: {deployment}
    management: {management}
    schedule: \"0 0 * * * *\"
    retry: {{ max_attempts: 3, initial_delay: 1s }}
    request:
      body: {{text: hello}}
releases:
  checks: {{smoke: false}}
{rollout}"
    )
}

struct Setup {
    w: Workspace,
    fake: FakeOnlineEndpoints,
    endpoint: String,
}

impl Setup {
    async fn new(rollout: &str) -> (Self, String) {
        let fake = FakeOnlineEndpoints::default();
        let base = fake.start().await;
        let endpoint = fake.endpoint(&base, "claims", &["blue", "green"], "blue");
        let w = Workspace::new("0 0 6 * * *", "");
        std::fs::write(w.catalog(), catalog("blue", &endpoint, rollout)).unwrap();
        let s = Self { w, fake, endpoint };
        let v1 = s.approved("alice");
        s.w.ok(Some("alice"), &["promote", &v1]);
        (s, v1)
    }

    /// Writes the catalog on `deployment`, proposes it and has bob approve it; its id.
    fn with(&self, deployment: &str, rollout: &str) -> String {
        std::fs::write(self.w.catalog(), catalog(deployment, &self.endpoint, rollout)).unwrap();
        self.approved("alice")
    }

    fn approved(&self, who: &str) -> String {
        let id = self.w.propose(who);
        self.w.ok(Some("bob"), &["approve", &id]);
        id
    }

    fn traffic(&self) -> Value {
        self.fake.traffic("claims")
    }

    /// The handler's dependencies on the workspace's state, calling `scoring` for the job.
    async fn deps(&self, scoring: &str) -> Deps {
        let (mut deps, _) =
            flowgate::app::local_deps(&self.w.catalog(), &self.w.state(), &self.w.dir.path().join("data"), false).await.unwrap();
        let url = scoring.to_string();
        deps.settings = Arc::new(move |k: &str| (k == "ROLLOUT_SCORING_URL").then(|| url.clone()));
        deps
    }
}

const ROLLOUT: &str = "  rollout: {share: 50, min_items: 30, min_duration: 24h, max_items: 400, max_duration: 7d}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_change_switches_traffic_and_a_rollback_puts_it_back() {
    let (s, v1) = Setup::new("").await;
    s.fake.polls(3);
    let v2 = s.with("green", "");
    let out = s.w.ok(Some("alice"), &["promote", &v2]);
    assert!(out.contains("is active"), "{out}");
    assert_eq!(s.traffic(), serde_json::json!({"blue": 0, "green": 100}), "one PUT moved all traffic to green");
    let log = s.fake.log();
    assert_eq!(log.iter().filter(|l| l.starts_with("PUT")).count(), 1, "{log:?}");
    assert!(log.iter().filter(|l| l.contains("/operations/")).count() >= 4, "the operation was followed through its polls: {log:?}");

    // A rollback reconciles traffic in the same step as the pointer, through `Location` this time.
    s.fake.use_location();
    s.w.ok(Some("carol"), &["rollback", "--to", &v1]);
    assert_eq!(s.traffic(), serde_json::json!({"blue": 100, "green": 0}));

    // A failed switch: nothing half-done, the release stays where it was.
    s.fake.fail_next();
    let (code, out, err) = s.w.release(Some("alice"), &["promote", &v2]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("the traffic update failed") && err.contains("the active release is unchanged"), "{err}");
    assert_eq!(s.traffic(), serde_json::json!({"blue": 100, "green": 0}));
    let status = s.w.ok(None, &["status", &v1, "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&status).unwrap()["state"], "active");

    // A deployment the endpoint does not have: unusable input, before any call that changes anything.
    let v3 = s.with("red", "");
    let puts = s.fake.log().iter().filter(|l| l.starts_with("PUT")).count();
    let (code, _, err) = s.w.release(Some("alice"), &["promote", &v3]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no deployment `red`"), "{err}");
    assert_eq!(s.fake.log().iter().filter(|l| l.starts_with("PUT")).count(), puts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_routing_is_per_item_stable_across_retries_and_monotone_in_the_share() {
    let (s, v1) = Setup::new(ROLLOUT).await;
    let v2 = s.with("green", ROLLOUT);
    let out = s.w.ok(Some("alice"), &["promote", &v2]);
    assert!(out.contains("canary of release") && out.contains("50.0 %"), "{out}");
    assert_eq!(s.traffic()["blue"], 100, "a canary pins calls; the endpoint's own split stays on stable");

    let scoring = FakeScoring::default();
    let url = scoring.start().await;
    let deps = s.deps(&url).await.active().await.unwrap().unwrap();
    let canary = deps.canary.clone().expect("the active pointer carries the canary");
    let job = deps.catalog.jobs.get(&JobId::parse("classify").unwrap()).unwrap().clone();
    let t0: DateTime<Utc> = "2026-03-02T00:00:00Z".parse().unwrap();
    let mut on_canary = Vec::new();
    for h in 0..200 {
        let t = t0 + Duration::hours(h);
        lifecycle::create(&deps, &job, t, RunTrigger::Schedule, RunStatus::Pending, None, t).await.unwrap();
        let (rec, _) = runs::load(deps.store.as_ref(), &RunKey::new(job.id.clone(), t)).await.unwrap().unwrap();
        if rec.release.as_ref().map(|r| r.as_str()) == Some(v2.as_str()) {
            on_canary.push(t);
        } else {
            assert_eq!(rec.release.as_ref().map(|r| r.as_str()), Some(v1.as_str()));
        }
    }
    assert!((70..130).contains(&on_canary.len()), "about half the items: {}", on_canary.len());

    // A canary item fails once (retryable) and succeeds on its retry: both calls pinned to green;
    // a stable item is pinned to blue.
    scoring.push(503, Some("0"));
    let key = RunKey::new(job.id.clone(), on_canary[0]);
    for attempt in 1..=2 {
        let message = DispatchMessage::new(&key, attempt, RunTrigger::Schedule).pinned(Some(canary.stable.clone()));
        let r = dispatch_run(
            &deps,
            DispatchInput { message, now: on_canary[0], invocation: InvocationId::from_header(&format!("inv-{attempt}")) },
        )
        .await;
        assert!(r.is_ok(), "attempt {attempt}: {r:?}");
    }
    let stable_t = (0..200).map(|h| t0 + Duration::hours(h)).find(|t| !on_canary.contains(t)).unwrap();
    let message = DispatchMessage::new(&RunKey::new(job.id.clone(), stable_t), 1, RunTrigger::Schedule).pinned(Some(canary.stable.clone()));
    dispatch_run(&deps, DispatchInput { message, now: stable_t, invocation: InvocationId::from_header("inv-3") }).await.unwrap();
    let pinned: Vec<Option<String>> = scoring.deployments.lock().unwrap().clone();
    assert_eq!(pinned, vec![Some("green".into()), Some("green".into()), Some("blue".into())], "retries keep the run's side");
    let (rec, _) = runs::load(deps.store.as_ref(), &key).await.unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts, rec.release.map(|r| r.to_string())), (RunStatus::Succeeded, 2, Some(v2.clone())));

    // Creating a run again (a replay, a redelivered tick) never re-routes it.
    for t in &on_canary {
        assert!(!lifecycle::create(&deps, &job, *t, RunTrigger::Schedule, RunStatus::Pending, None, *t).await.unwrap());
    }
    // Raising the share keeps every canary item on the canary.
    let mut wider = canary.as_ref().clone();
    wider.share_bp = 8000;
    for t in &on_canary {
        let k = RunKey::new(job.id.clone(), *t).to_string();
        assert_eq!(wider.route(&job.id, &k).as_str(), v2, "{k} moved back to stable at a larger share");
    }
}

/// A Store whose run queries fail while `failing` is set (the canary's metric source).
struct FlakyRuns {
    inner: Arc<dyn Store>,
    failing: AtomicBool,
}

#[async_trait]
impl Store for FlakyRuns {
    async fn get(&self, table: Table, partition: &str, row: &str) -> Result<Option<Entity>, StoreError> {
        self.inner.get(table, partition, row).await
    }
    async fn insert(&self, table: Table, partition: &str, row: &str, body: &Value) -> Result<ETag, StoreError> {
        self.inner.insert(table, partition, row, body).await
    }
    async fn replace(&self, table: Table, partition: &str, row: &str, body: &Value, etag: &ETag) -> Result<ETag, StoreError> {
        self.inner.replace(table, partition, row, body, etag).await
    }
    async fn upsert(&self, table: Table, partition: &str, row: &str, body: &Value) -> Result<ETag, StoreError> {
        self.inner.upsert(table, partition, row, body).await
    }
    async fn delete(&self, table: Table, partition: &str, row: &str, etag: Option<&ETag>) -> Result<(), StoreError> {
        self.inner.delete(table, partition, row, etag).await
    }
    async fn query(&self, table: Table, partition: Option<&str>, rows: RowRange, limit: usize) -> Result<Vec<Entity>, StoreError> {
        if table == Table::RUNS && self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the run records cannot be read (as the test asked)".into()));
        }
        self.inner.query(table, partition, rows, limit).await
    }
}

async fn started_canary(rollout: &str) -> (Setup, String, String, Deps) {
    let (s, v1) = Setup::new(rollout).await;
    let v2 = s.with("green", rollout);
    s.w.ok(Some("alice"), &["promote", &v2]);
    let deps = s.deps("http://127.0.0.1:9/score").await;
    (s, v1, v2, deps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_keeps_observing_then_is_inconclusive_and_never_promotes() {
    let (s, v1, v2, deps) = started_canary(ROLLOUT).await;
    let (pointer, _) = records::pointer(deps.store.as_ref()).await.unwrap().unwrap();
    let started = pointer.canary.as_ref().unwrap().started;
    let a = rollout::watch(&deps, started + Duration::hours(30)).await.unwrap().unwrap();
    assert_eq!((a.decision, a.canary_items), (CanaryDecision::KeepObserving, 0), "{a:?}");
    assert!(a.reasons[0].contains("no data is no evidence"));
    let a = rollout::watch(&deps, started + Duration::days(7) + Duration::hours(1)).await.unwrap().unwrap();
    assert_eq!(a.decision, CanaryDecision::Inconclusive);
    for days in [8, 9, 30] {
        rollout::watch(&deps, started + Duration::days(days)).await.unwrap();
        flowgate::flows::monitor::tick(&deps, started + Duration::days(days)).await.unwrap();
        let (p, _) = records::pointer(deps.store.as_ref()).await.unwrap().unwrap();
        assert_eq!(p.release.as_str(), v1, "an inconclusive canary never promotes by itself");
    }
    assert_eq!(s.traffic()["blue"], 100);
    let recorded = rollout::passes(deps.store.as_ref(), &pointer.canary.as_ref().unwrap().rollout).await.unwrap();
    assert_eq!(recorded.len(), 5, "every pass is recorded with its numbers");
    assert_eq!(recorded[0]["analysis"]["decision"], "KEEP_OBSERVING");
    assert!(recorded[0]["analysis"]["metrics"][0]["llr"].is_number());
    let status = s.w.ok(None, &["status", &v2]);
    assert!(status.contains("state     canary") && status.contains("rollout   INCONCLUSIVE"), "{status}");
    let alerts = std::fs::read_to_string(s.w.state().join("alerts.jsonl")).unwrap_or_default();
    let inconclusive: Vec<&str> = alerts.lines().filter(|l| l.contains("\"CanaryInconclusive\"")).collect();
    assert_eq!(inconclusive.iter().filter(|l| !l.contains(".repeat")).count(), 1, "fires once: {alerts}");
    assert_eq!(inconclusive.len(), 3, "and repeats daily while nobody decides (days 8, 9 and 30): {alerts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_metric_source_errors_abort_and_roll_the_canary_back() {
    let (s, v1, v2, mut deps) = started_canary(ROLLOUT).await;
    let flaky = Arc::new(FlakyRuns { inner: deps.store.clone(), failing: AtomicBool::new(true) });
    deps.store = flaky.clone();
    let (pointer, _) = records::pointer(deps.store.as_ref()).await.unwrap().unwrap();
    let started = pointer.canary.as_ref().unwrap().started;
    for i in 1..=3 {
        let a = rollout::watch(&deps, started + Duration::hours(i)).await.unwrap().unwrap();
        assert_eq!(a.decision, CanaryDecision::KeepObserving, "error {i} of 4: {a:?}");
    }
    let a = rollout::watch(&deps, started + Duration::hours(4)).await.unwrap().unwrap();
    flowgate::flows::monitor::tick(&deps, started + Duration::hours(4)).await.unwrap();
    assert_eq!(a.decision, CanaryDecision::Abort);
    assert!(a.reasons[0].contains("4 times in a row"), "{a:?}");
    let (p, _) = records::pointer(deps.store.as_ref()).await.unwrap().unwrap();
    assert!(p.canary.is_none() && p.release.as_str() == v1, "rolled back: no new item goes to the candidate");
    // New items all run on stable now.
    let active = deps.active().await.unwrap().unwrap();
    let job = active.catalog.jobs.get(&JobId::parse("classify").unwrap()).unwrap().clone();
    let t: DateTime<Utc> = "2026-04-01T00:00:00Z".parse().unwrap();
    for h in 0..20 {
        lifecycle::create(&active, &job, t + Duration::hours(h), RunTrigger::Schedule, RunStatus::Pending, None, t).await.unwrap();
        let (rec, _) = runs::load(active.store.as_ref(), &RunKey::new(job.id.clone(), t + Duration::hours(h))).await.unwrap().unwrap();
        assert_eq!(rec.release.unwrap().as_str(), v1);
    }
    let alerts = std::fs::read_to_string(s.w.state().join("alerts.jsonl")).unwrap_or_default();
    assert!(alerts.contains("\"CanaryAborted\""), "{alerts}");
    let status = s.w.ok(None, &["status", &v2]);
    assert!(status.contains("rollout   ABORT"), "{status}");
    let out = super::releases::flowgate().args(["audit", "export", "--state"]).arg(s.w.state()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ABORT: canary rolled back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_canary_promotes_through_the_blue_green_switch() {
    let (s, _v1, v2, deps) = started_canary(ROLLOUT).await;
    s.fake.polls(2);
    let active = deps.active().await.unwrap().unwrap();
    let (pointer, _) = records::pointer(deps.store.as_ref()).await.unwrap().unwrap();
    let started = pointer.canary.as_ref().unwrap().started;
    let job = active.catalog.jobs.get(&JobId::parse("classify").unwrap()).unwrap().clone();
    // 300 items finish cleanly on both sides.
    for h in 0..300 {
        let t = started + Duration::minutes(h);
        lifecycle::create(&active, &job, t, RunTrigger::Schedule, RunStatus::Pending, None, t).await.unwrap();
        let key = RunKey::new(job.id.clone(), t);
        let (mut rec, etag) = runs::load(active.store.as_ref(), &key).await.unwrap().unwrap();
        rec.status = RunStatus::Succeeded;
        rec.finished_at = Some(t);
        rec.last_latency_ms = Some(40);
        runs::replace(active.store.as_ref(), &rec, &etag).await.unwrap();
    }
    let early = rollout::watch(&deps, started + Duration::hours(6)).await.unwrap().unwrap();
    assert_eq!(early.decision, CanaryDecision::KeepObserving, "not before the minimum duration: {early:?}");
    let a = rollout::watch(&deps, started + Duration::hours(25)).await.unwrap().unwrap();
    assert_eq!(a.decision, CanaryDecision::Promote, "{a:?}");
    let (p, _) = records::pointer(deps.store.as_ref()).await.unwrap().unwrap();
    assert_eq!(p.release.as_str(), v2);
    assert!(p.canary.is_none());
    assert_eq!(s.traffic(), serde_json::json!({"blue": 0, "green": 100}));
    assert_eq!(p.by, "flowgate:canary-watch");
}

#[test]
fn a_share_above_100_percent_and_a_management_url_without_a_deployment_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.yaml");
    std::fs::write(&path, catalog("blue", "https://management.azure.com/x", "  rollout: {share: 150, min_items: 500}\n")).unwrap();
    let out = super::releases::flowgate().arg("validate").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("150 %") && err.contains("catalog.yaml:15:20") && err.contains("could never promote"), "{err}");
    let text = catalog("blue", "https://management.azure.com/x", "").replace("    deployment: blue\n", "");
    std::fs::write(&path, text).unwrap();
    let out = super::releases::flowgate().arg("validate").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`management` needs `deployment`"), "{err}");
}
