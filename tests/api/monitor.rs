//! A simulated fortnight of the monitor with two overlapping ticks at every minute (two instances
//! on one store): each alert fires once, repeats only at its interval (4 h at Sev2, 24 h at Sev3)
//! and resolves once; nothing is sent twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use flowgate::domain::alert::{Alert as Signal, AlertKind};
use flowgate::domain::breaker::{Breaker, BreakerState};
use flowgate::domain::ids::{DatasetId, JobId, RunKey};
use flowgate::domain::run::{RunRecord, RunStatus, RunTrigger};
use flowgate::flows::{alerts, monitor, runs};
use flowgate::ports::{OutgoingMessage, Queue, QueueCounts, QueueError, SendOutcome, Table};

use crate::helpers::app_with;

#[path = "../fakes/receiver.rs"]
mod receiver;

const CATALOG: &str = r#"
version: 1
datasets:
  feed:
    location: landing/feed/
    format: jsonl
    expected_every: 6h
jobs:
  extract:
    kind: http
    endpoint: http://127.0.0.1:9/score
    schedule: "0 0 6 * * *"
    sla: { complete_within: 2h }
"#;

/// The local queue with a dead-letter count the test sets (a stand-in for a broker whose DLQ fills).
struct DeadLetters {
    inner: Arc<dyn Queue>,
    dead: AtomicU64,
}

#[async_trait]
impl Queue for DeadLetters {
    async fn send(&self, queue: &str, m: OutgoingMessage) -> Result<SendOutcome, QueueError> {
        self.inner.send(queue, m).await
    }
    async fn receive_dead_letter(&self, queue: &str, now: DateTime<Utc>) -> Result<Option<flowgate::ports::DeadLettered>, QueueError> {
        self.inner.receive_dead_letter(queue, now).await
    }
    async fn complete_dead_letter(&self, queue: &str, m: &flowgate::ports::DeadLettered, now: DateTime<Utc>) -> Result<bool, QueueError> {
        self.inner.complete_dead_letter(queue, m, now).await
    }
    async fn counts(&self, queue: &str, as_of: DateTime<Utc>) -> Result<QueueCounts, QueueError> {
        let mut c = self.inner.counts(queue, as_of).await?;
        if queue == "dispatch" {
            c.dead_letter = self.dead.load(Ordering::SeqCst);
        }
        Ok(c)
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
}

fn at(day: i64, h: i64, m: i64) -> DateTime<Utc> {
    start() + Duration::days(day) + Duration::hours(h) + Duration::minutes(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fortnight_of_overlapping_ticks_fires_repeats_and_resolves_each_alert_once() {
    let mut app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let rx = Arc::new(receiver::RecordingReceiver::default());
    let queue = Arc::new(DeadLetters { inner: app.deps.queue.clone(), dead: AtomicU64::new(0) });
    app.deps.queue = queue.clone();
    app.deps.notifiers = vec![rx.clone()];
    let (a, b) = (app.deps.clone(), app.deps.clone());
    let store = app.deps.store.clone();
    let feed = DatasetId::parse("feed").unwrap();
    let job = JobId::parse("extract").unwrap();
    alerts::arrived(&a, &feed, start()).await.unwrap();
    let run = RunKey::new(job.clone(), at(11, 6, 0));

    let mut sent_at: BTreeMap<String, Vec<(DateTime<Utc>, String)>> = BTreeMap::new();
    for minute in 0..(14 * 24 * 60) {
        let now = start() + Duration::minutes(minute);
        // The world changes at fixed instants.
        if now >= at(1, 0, 0) && now < at(14, 0, 0) && minute % 180 == 0 {
            alerts::arrived(&a, &feed, now).await.unwrap(); // the feed lands every 3 h from day 1
        }
        if now == at(2, 10, 0) || now == at(2, 19, 30) {
            let state = if now == at(2, 10, 0) { BreakerState::Open } else { BreakerState::Closed };
            let b = Breaker { state, ..Breaker::default() };
            store.upsert(Table::BREAKERS, "job", "extract", &serde_json::to_value(&b).unwrap()).await.unwrap();
        }
        if now == at(4, 0, 0) || now == at(9, 0, 0) {
            queue.dead.store(u64::from(now == at(4, 0, 0)), Ordering::SeqCst);
        }
        if now == at(11, 8, 0) {
            let rec =
                RunRecord { status: RunStatus::Running, ..RunRecord::pending(job.clone(), run.logical_time, RunTrigger::Schedule, now) };
            runs::create(store.as_ref(), &rec).await.unwrap();
            let signal = Signal {
                kind: AlertKind::SlaBreach,
                subject: "extract".into(),
                key: run.to_string(),
                raised_at: now,
                due_at: now,
                owner: None,
                message: format!("run {run} missed its deadline"),
                late: false,
            };
            alerts::raise(&a, signal).await.unwrap();
        }
        if now == at(12, 9, 0) {
            let (mut rec, etag) = runs::load(store.as_ref(), &run).await.unwrap().unwrap();
            rec.status = RunStatus::Succeeded;
            runs::replace(store.as_ref(), &rec, &etag).await.unwrap();
        }
        let before = rx.got.lock().unwrap().len();
        let (ra, rb) = tokio::join!(monitor::tick(&a, now), monitor::tick(&b, now));
        ra.unwrap();
        rb.unwrap();
        for n in &rx.got.lock().unwrap()[before..] {
            for al in &n.group.alerts {
                let kind = if n.id.contains(".repeat") { "repeat" } else { al.status.word() };
                sent_at.entry(al.name.clone()).or_default().push((now, kind.to_string()));
            }
        }
    }
    let of = |name: &str| sent_at.get(name).cloned().unwrap_or_default();
    let kinds = |name: &str| of(name).iter().map(|(t, k)| format!("{} {k}", t.format("%d %H:%M"))).collect::<Vec<_>>();

    // Stale from 06:01 on day 0 (the last arrival at 00:00, expected every 6 h) to the arrival at
    // 00:00 on day 1: 18 h, less than its 24 h repeat.
    assert_eq!(kinds("StaleData"), vec!["30 06:01 FIRING", "01 00:00 RESOLVED"]);
    // Open 10:00–19:30 on day 2, Sev2: repeated at 14:00 and 18:00.
    assert_eq!(kinds("BreakerOpen"), vec!["02 10:00 FIRING", "02 14:00 repeat", "02 18:00 repeat", "02 19:30 RESOLVED"]);
    // A dead letter for five days, Sev2: every 4 h.
    let dlq = of("DeadLetterNonEmpty");
    assert_eq!(dlq.first().unwrap(), &(at(4, 0, 0), "FIRING".to_string()));
    assert_eq!(dlq.last().unwrap(), &(at(9, 0, 0), "RESOLVED".to_string()));
    assert_eq!(dlq.iter().filter(|(_, k)| k == "repeat").count(), 5 * 6 - 1);
    assert!(dlq.windows(2).all(|w| w[1].0 - w[0].0 == Duration::hours(4)));
    // The SLA breach (Sev3): repeated after a day, resolved when the run succeeded.
    assert_eq!(kinds("SlaBreach"), vec!["11 08:00 FIRING", "12 08:00 repeat", "12 09:00 RESOLVED"]);
    // Nothing else, and nothing twice.
    assert_eq!(sent_at.keys().cloned().collect::<Vec<_>>(), vec!["BreakerOpen", "DeadLetterNonEmpty", "SlaBreach", "StaleData"]);
    let deliveries = monitor::deliver::deliveries(a.store.as_ref(), start()).await.unwrap();
    assert_eq!(deliveries.len(), rx.got.lock().unwrap().len(), "one delivery per notification");
}

use crate::audit_copy::logs_ingestion;

#[tokio::test]
async fn each_tick_sends_a_heartbeat_and_signals_and_each_run_its_row_to_log_analytics() {
    let fake = logs_ingestion::FakeLogsIngestion::default();
    let url = fake.start().await;
    let mut app = app_with(CATALOG, "http://127.0.0.1:9/score");
    app.deps.facts = Some(Arc::new(flowgate::adapters::azure::logs_ingestion::LogsFacts::new(&url, "dcr-0123", None).unwrap()));
    alerts::arrived(&app.deps, &DatasetId::parse("feed").unwrap(), start()).await.unwrap();
    for m in 0..3 {
        monitor::tick(&app.deps, at(0, 7, m)).await.unwrap(); // stale from 06:00: one alert sent at 07:00
    }
    let job = JobId::parse("extract").unwrap();
    let rec = RunRecord { status: RunStatus::Skipped, ..RunRecord::pending(job.clone(), at(0, 6, 0), RunTrigger::Schedule, at(0, 6, 0)) };
    runs::create(app.deps.store.as_ref(), &rec).await.unwrap();
    flowgate::flows::lifecycle::ended(
        &app.deps,
        &job,
        at(0, 6, 0),
        RunStatus::Skipped,
        at(0, 6, 0),
        flowgate::flows::lifecycle::Indexed::ANY,
    )
    .await
    .unwrap();
    let rows = fake.rows.lock().unwrap().clone();
    let streams = fake.streams.lock().unwrap().clone();
    let of = |s: &str| rows.iter().zip(&streams).filter(|(_, st)| st.as_str() == s).map(|(r, _)| r.clone()).collect::<Vec<_>>();
    let beats = of("Custom-FlowgateHeartbeat_CL");
    assert_eq!(beats.len(), 3, "one heartbeat per tick: {beats:?}");
    assert_eq!(beats[2]["Firing"], 1);
    let signals = of("Custom-FlowgateSignals_CL");
    assert_eq!(signals.iter().filter(|r| r["Kind"] == "queue_depth").count(), 3 * 4, "four queues per tick");
    let alerts: Vec<&serde_json::Value> = signals.iter().filter(|r| r["Kind"] == "alert").collect();
    assert_eq!((alerts.len(), alerts[0]["Name"].as_str(), alerts[0]["Status"].as_str()), (1, Some("StaleData"), Some("FIRING")));
    let runs_rows = of("Custom-FlowgateRuns_CL");
    assert_eq!((runs_rows.len(), runs_rows[0]["Job"].as_str(), runs_rows[0]["Status"].as_str()), (1, Some("extract"), Some("skipped")));
    assert!(fake.violations.lock().unwrap().is_empty());
}

fn ingest_request(principal: Option<&str>, body: &str, at: &str) -> String {
    let headers = principal.map_or_else(|| serde_json::json!({}), |p| serde_json::json!({"x-ms-client-principal": [p]}));
    serde_json::json!({
        "Data": {"req": {"Url": "https://app/api/alert-ingest", "Method": "POST", "Query": {}, "Headers": headers, "Params": {}, "Body": body}},
        "Metadata": {"sys": {"MethodName": "AlertIngest", "UtcNow": at, "RandGuid": "x"}}
    })
    .to_string()
}

#[tokio::test]
async fn azure_monitor_alerts_are_ingested_sent_and_resolved_like_flowgates_own() {
    let mut app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let rx = Arc::new(receiver::RecordingReceiver::default());
    app.deps.notifiers = vec![rx.clone()];
    let fixture =
        |name: &str| std::fs::read_to_string(format!("{}/tests/fixtures/alertingest/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let monitor_sp = crate::helpers::client_principal("t-1", "o-azure-monitor", "Azure Monitor Action Group", &[]);
    let post = |principal: Option<String>, body: String, at: &'static str| {
        let app = &app;
        async move {
            let (_, v) = crate::helpers::invoke(app, "AlertIngest", ingest_request(principal.as_deref(), &body, at)).await;
            let r = v["Outputs"]["res"].clone();
            (
                r["statusCode"].as_u64().unwrap_or(0),
                serde_json::from_str::<serde_json::Value>(r["body"].as_str().unwrap_or("null")).unwrap(),
            )
        }
    };
    assert_eq!(post(Some(monitor_sp.clone()), fixture("heartbeat-fired.json"), "2026-11-30T06:15:05Z").await.0, 401, "Easy Auth off");
    app.set("WEBSITE_AUTH_ENABLED", "true");
    assert_eq!(post(None, fixture("heartbeat-fired.json"), "2026-11-30T06:15:05Z").await.0, 401, "no principal");
    let (status, v) = post(Some(monitor_sp.clone()), "{\"schemaId\":\"other\"}".into(), "2026-11-30T06:15:05Z").await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("common alert schema"), "{v}");

    // Fired twice (Azure repeats itself), one send; resolved once, one resolve.
    for _ in 0..2 {
        let (status, v) = post(Some(monitor_sp.clone()), fixture("heartbeat-fired.json"), "2026-11-30T06:15:05Z").await;
        assert_eq!((status, v["status"].as_str()), (200, Some("fired")), "{v}");
    }
    monitor::tick(&app.deps, at(0, 6, 16)).await.unwrap();
    monitor::tick(&app.deps, at(0, 6, 17)).await.unwrap();
    post(Some(monitor_sp.clone()), fixture("heartbeat-resolved.json"), "2026-11-30T06:40:05Z").await;
    monitor::tick(&app.deps, at(0, 6, 41)).await.unwrap();
    monitor::tick(&app.deps, at(0, 6, 42)).await.unwrap();
    let got: Vec<(String, String)> =
        rx.got.lock().unwrap().iter().flat_map(|n| n.group.alerts.iter().map(|a| (a.name.clone(), a.status.word().to_string()))).collect();
    assert_eq!(got, vec![("HeartbeatMissing".into(), "FIRING".into()), ("HeartbeatMissing".into(), "RESOLVED".into())]);
    let events = app.deps.audit.read(None, None).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.subject == "HeartbeatMissing").count(), 3, "each post audited with its caller");
}

/// An item as a state written before the open-items index existed holds it.
fn old_item(id: &str, at: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({ "id": id, "kind": "poison_message", "reason": "unreadable", "at": at, "job": "extract" })
}

#[tokio::test]
async fn quarantine_growth_counts_open_items_from_their_index_and_resolves_when_they_are_closed() {
    use flowgate::domain::messages::QuarantineKind;
    use flowgate::flows::quarantine::{self, QuarantineItem};
    let mut app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let rx = Arc::new(receiver::RecordingReceiver::default());
    app.deps.notifiers = vec![rx.clone()];
    let store = app.deps.store.clone();
    let firing = |rx: &receiver::RecordingReceiver| {
        rx.got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| n.group.alerts.iter().map(|a| (a.name.clone(), a.status.word().to_string())))
            .collect::<Vec<_>>()
    };
    // Three items from before the index, written as such a state holds them (closed ones too).
    for i in 0..3 {
        store.insert(Table::QUARANTINE, "poison", &format!("old-{i}"), &old_item(&format!("old-{i}"), start())).await.unwrap();
    }
    let mut closed = old_item("old-closed", start());
    closed["status"] = "discarded".into();
    store.insert(Table::QUARANTINE, "poison", "old-closed", &closed).await.unwrap();
    monitor::tick(&app.deps, at(0, 0, 5)).await.unwrap();
    assert!(firing(&rx).is_empty(), "three open items are under the threshold");
    // Two more through the flow: five open (the closed one does not count).
    for i in 0..2 {
        let item = QuarantineItem {
            id: format!("new-{i}"),
            kind: QuarantineKind::PoisonMessage,
            reason: "unreadable".into(),
            at: at(0, 0, 6),
            job: Some("extract".into()),
            logical_time: None,
            attempts: 0,
            last_error: None,
            evidence: serde_json::Value::Null,
            invocation_id: None,
            status: Default::default(),
            history: Vec::new(),
        };
        quarantine::put(&app.deps, &item).await.unwrap();
    }
    monitor::tick(&app.deps, at(0, 0, 10)).await.unwrap();
    assert_eq!(firing(&rx), vec![("QuarantineGrowth".to_string(), "FIRING".to_string())]);
    assert_eq!(quarantine::open_entries(store.as_ref(), at(0, 0, 12)).await.unwrap().len(), 5);
    // A person discards them all: it resolves.
    for id in ["old-0", "old-1", "old-2", "new-0", "new-1"] {
        quarantine::discard(store.as_ref(), app.deps.audit.as_ref(), id, "reviewed", "dev:alice", at(0, 0, 12)).await.unwrap();
    }
    assert!(quarantine::open_entries(store.as_ref(), at(0, 0, 12)).await.unwrap().is_empty());
    monitor::tick(&app.deps, at(0, 0, 15)).await.unwrap();
    assert_eq!(firing(&rx).last(), Some(&("QuarantineGrowth".to_string(), "RESOLVED".to_string())));
    // An index row left behind (a write that failed half-way) is gone at the next day's check.
    let stale = serde_json::json!({ "job": "extract", "reason": "unreadable", "at": start() });
    store.upsert(Table::SCHEDULES, quarantine::OPEN_INDEX, "old-closed", &stale).await.unwrap();
    assert_eq!(quarantine::open_entries(store.as_ref(), at(0, 23, 0)).await.unwrap().len(), 1);
    assert!(quarantine::open_entries(store.as_ref(), at(1, 0, 0)).await.unwrap().is_empty());
}
