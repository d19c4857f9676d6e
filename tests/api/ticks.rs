//! ScheduleTick through the library: overlapping ticks create each run and alert once; catch-up
//! after downtime records every skipped slot with its reason.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use flowgate::domain::ids::InvocationId;
use flowgate::flows::schedule_tick::{schedule_tick, TickInput};
use flowgate::ports::{queues, Queue, RowRange, Store, Table};

use crate::helpers::app_with;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const CATALOG: &str = r#"
version: 1
jobs:
  hourly:
    kind: http
    endpoint: http://127.0.0.1:9/score
    schedule: "0 0 * * * *"
    catch_up: latest
    overlap: allow
    sla: { complete_within: 10m, warn_before: 5m }
  every_ten:
    kind: http
    endpoint: http://127.0.0.1:9/score
    schedule: "0 */10 * * * *"
    catch_up: { policy: all, window: 1h, max: 3 }
    overlap: allow
"#;

async fn tick(deps: &flowgate::flows::Deps, at: &str) -> flowgate::flows::schedule_tick::TickReport {
    schedule_tick(deps, TickInput { now: t(at), invocation: InvocationId::generate() }).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_ticks_create_runs_and_alerts_once() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let deps = Arc::new(app.deps.clone());
    tick(&deps, "2026-11-27T08:59:30Z").await;
    // Eight instances tick at the same instant, three times over the SLA window.
    for at in ["2026-11-27T09:00:00Z", "2026-11-27T09:06:00Z", "2026-11-27T09:11:00Z"] {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let deps = deps.clone();
            let at = at.to_string();
            tasks.push(tokio::spawn(async move { tick(&deps, &at).await }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }
    let runs = app.store.query(Table::RUNS, Some("hourly"), RowRange::default(), 100).await.unwrap();
    assert_eq!(runs.len(), 1);
    let dispatch = app.queue.counts(queues::DISPATCH, t("2026-11-27T09:11:00Z")).await.unwrap();
    assert_eq!(dispatch.active, 3, "hourly@09:00, every_ten@09:00 and @09:10, each once");
    let alerts = app.store.query(Table::ALERTS, None, RowRange::default(), 100).await.unwrap();
    let kinds: Vec<&str> = alerts.iter().map(|a| a.body["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"sla_warning") && kinds.contains(&"sla_breach"));
    let lines = std::fs::read_to_string(app.dir.path().join("alerts.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2, "each alert is delivered once");
}

#[tokio::test]
async fn downtime_is_caught_up_by_policy_and_every_skip_is_recorded() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    tick(&app.deps, "2026-11-27T06:00:30Z").await;
    // Down from 06:00:30 until 10:00:30.
    let r = tick(&app.deps, "2026-11-27T10:00:30Z").await;
    let ran: Vec<String> = r.enqueued.iter().map(|k| k.to_string()).collect();
    assert_eq!(
        ran,
        vec![
            "every_ten@2026-11-27T09:30:00.000Z",
            "every_ten@2026-11-27T09:40:00.000Z",
            "every_ten@2026-11-27T09:50:00.000Z",
            "every_ten@2026-11-27T10:00:00.000Z",
            "hourly@2026-11-27T09:00:00.000Z",
            "hourly@2026-11-27T10:00:00.000Z",
        ]
    );
    // hourly: 07:00 and 08:00 skipped (latest); every_ten: 06:10..09:20 skipped (window/max).
    assert_eq!(r.skipped.len(), 2 + 20, "{:#?}", r.skipped);
    let hourly_skips = app.store.query(Table::RUNS, Some("hourly"), RowRange::default(), 100).await.unwrap();
    let skipped: Vec<_> = hourly_skips.iter().filter(|e| e.body["status"] == "skipped").collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped[0].body["reason"].as_str().unwrap().contains("catch_up: latest"));
    let ten = app.store.query(Table::RUNS, Some("every_ten"), RowRange::default(), 100).await.unwrap();
    let reasons: Vec<&str> = ten.iter().filter(|e| e.body["status"] == "skipped").map(|e| e.body["reason"].as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.contains("window 1h")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("catch_up.max (3)")), "{reasons:?}");
}
