//! Alert delivery to the HTTP receivers (small fakes): a delivery that fails in a way that may
//! pass is tried again on a later tick with the same id, once; `Retry-After` is honoured; a
//! receiver that answers 410 is skipped from then on; every attempt is in the delivery log.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use flowgate::adapters::http::{HttpNotifier, Receiver};
use flowgate::domain::alerting::delivery::Outcome;
use flowgate::domain::ids::InvocationId;
use flowgate::flows::monitor::deliver;
use flowgate::flows::schedule_tick::{schedule_tick, TickInput};
use flowgate::ports::{RowRange, Store, Table};

use crate::helpers::{app_with, TestApp};

#[path = "../fakes/webhook.rs"]
mod webhook;

const CATALOG: &str = r#"
version: 1
jobs:
  nightly:
    kind: http
    endpoint: http://127.0.0.1:9/score
    schedule: "0 0 2 * * *"
    owner: data-team@contoso.example
    sla: { complete_within: 30m, warn_before: 10m }
"#;

const SECRET: &str = "whsec_c2VjcmV0LWZvci10aGUtdGVzdC1vbmx5LTMyYnl0ZXMh";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn tick(app: &TestApp, at: &str) {
    schedule_tick(&app.deps, TickInput { now: t(at), invocation: InvocationId::generate() }).await.unwrap();
}

async fn app_sending_to(receiver: Receiver, hook: &webhook::FakeWebhook) -> TestApp {
    let url = hook.start().await;
    let mut app = app_with(CATALOG, "http://127.0.0.1:9/score");
    app.deps.notifiers = vec![Arc::new(HttpNotifier::new(&url, receiver).unwrap())];
    app
}

#[tokio::test]
async fn a_failed_delivery_is_tried_again_next_tick_with_the_same_signed_id_once() {
    let hook = webhook::FakeWebhook::default();
    hook.answer(503, None);
    let secret = flowgate::domain::notify::webhook::secret(SECRET).unwrap();
    let app = app_sending_to(Receiver::Webhook { secret, external_url: "https://flowgate.example".into() }, &hook).await;
    for at in ["2026-11-27T02:00:00Z", "2026-11-27T02:20:00Z", "2026-11-27T02:21:00Z", "2026-11-27T02:22:00Z"] {
        tick(&app, at).await;
    }
    let got = hook.received();
    assert_eq!(got.iter().map(|r| r.status).collect::<Vec<_>>(), vec![503, 200]);
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"], "the same id on every retry");
    for r in &got {
        assert!(r.headers["webhook-signature"].starts_with("v1,"));
        let key = flowgate::domain::notify::webhook::secret(SECRET).unwrap();
        let ts: i64 = r.headers["webhook-timestamp"].parse().unwrap();
        assert_eq!(
            flowgate::domain::notify::webhook::signature(&key, &r.headers["webhook-id"], ts, &r.raw),
            r.headers["webhook-signature"]
        );
    }
    let body = &got[1].body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "SlaWarning");
    assert_eq!(body["alerts"][0]["labels"]["job"], "nightly");
    assert_eq!(body["groupKey"], "{}:{alertname=\"SlaWarning\",job=\"nightly\"}");
    let log = deliver::deliveries(app.deps.store.as_ref(), t("2026-11-27T00:00:00Z")).await.unwrap();
    assert_eq!(log.iter().map(|d| (d.attempt, d.outcome)).collect::<Vec<_>>(), vec![(1, Outcome::Retry), (2, Outcome::Delivered)]);
    assert!(log[0].detail.starts_with("HTTP 503"), "{}", log[0].detail);
    assert!(deliver::outbox(app.deps.store.as_ref()).await.unwrap().is_empty());
    assert_eq!(app.store.query(Table::ALERTS, None, RowRange::default(), 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured_and_a_receiver_that_is_gone_is_skipped() {
    let hook = webhook::FakeWebhook::default();
    hook.answer(429, Some("180"));
    hook.answer(410, None);
    let app = app_sending_to(Receiver::Slack, &hook).await;
    tick(&app, "2026-11-27T02:00:00Z").await;
    for m in 20..=31 {
        tick(&app, &format!("2026-11-27T02:{m:02}:00Z")).await;
    }
    let log = deliver::deliveries(app.deps.store.as_ref(), t("2026-11-27T00:00:00Z")).await.unwrap();
    let seen: Vec<(String, u32, Outcome)> = log.iter().map(|d| (d.at.format("%H:%M").to_string(), d.attempt, d.outcome)).collect();
    assert_eq!(
        seen,
        vec![
            ("02:20".into(), 1, Outcome::Retry),   // the warning: 429, Retry-After 180 s
            ("02:23".into(), 2, Outcome::Gone),    // tried at 02:23, not before: 410
            ("02:30".into(), 0, Outcome::Skipped), // the breach: the receiver is gone
        ],
        "{log:#?}"
    );
    assert_eq!(hook.received().len(), 2);
    let slack = &hook.received()[0].body;
    assert!(slack["text"].as_str().unwrap().starts_with("FIRING · Info · SlaWarning · nightly"), "{slack}");
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert!(deliver::receivers_gone(app.deps.store.as_ref(), t("2026-11-27T02:31:00Z")).await.unwrap().contains_key("slack"));
}

#[tokio::test]
async fn teams_gets_an_adaptive_card_in_the_workflows_envelope() {
    let hook = webhook::FakeWebhook::default();
    let app = app_sending_to(Receiver::Teams { token: None }, &hook).await;
    tick(&app, "2026-11-27T02:00:00Z").await;
    tick(&app, "2026-11-27T02:30:00Z").await;
    let got = hook.received();
    assert_eq!(got.len(), 1, "the tick at 02:30 is past the deadline: one card, for the breach");
    let card = &got[0].body;
    assert_eq!(card["type"], "message");
    assert_eq!(card["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(card["attachments"][0]["content"]["version"], "1.4");
    let title = card["attachments"][0]["content"]["body"][0]["text"].as_str().unwrap();
    assert_eq!(title, "FIRING · Sev3 · SlaBreach · nightly");
    assert!(got[0].raw.len() < 20 * 1024);
}

fn flowgate(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_flowgate")).args(args).output().unwrap()
}

#[tokio::test]
async fn a_silence_holds_sends_not_state_and_is_recorded_with_who_and_why() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let state = app.dir.path().to_str().unwrap().to_string();
    for (args, why) in [
        (vec!["alerts", "--state", &state, "silence", "SlaBreech", "--for", "4h", "--reason", "x"], "SlaBreech"),
        (vec!["alerts", "--state", &state, "silence", "SlaBreach", "--for", "0s", "--reason", "x"], "--for"),
        (vec!["alerts", "--state", &state, "silence", "SlaBreach", "--for", "soon", "--reason", "x"], "--for"),
        (vec!["alerts", "--state", &state, "silence", "SlaBreach", "--for", "4h", "--reason", " "], "--reason"),
        (vec!["alerts", "--state", "/nonexistent/state"], "holds no flowgate state"),
    ] {
        let out = flowgate(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    tick(&app, "2026-11-27T02:00:00Z").await;
    let out = flowgate(&[
        "alerts",
        "--state",
        &state,
        "--by",
        "ops-oncall",
        "silence",
        "SlaBreach",
        "--job",
        "nightly",
        "--for",
        "30d",
        "--reason",
        "planned upstream outage",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    tick(&app, "2026-11-27T02:20:00Z").await; // the warning is not silenced
    tick(&app, "2026-11-27T02:30:00Z").await; // the breach is
    let sent = std::fs::read_to_string(app.dir.path().join("alerts.jsonl")).unwrap();
    assert_eq!(sent.lines().count(), 1, "{sent}");
    assert!(sent.contains("SlaWarning"));
    let out = flowgate(&["alerts", "--state", &state, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let breach = v["alerts"].as_array().unwrap().iter().find(|a| a["alert"]["name"] == "SlaBreach").unwrap();
    assert_eq!((breach["alert"]["status"].as_str(), breach["sends"].as_u64()), (Some("firing"), Some(0)), "kept firing, not sent");
    assert_eq!(v["silences"][0]["by"], "ops-oncall");
    assert_eq!(v["silences"][0]["reason"], "planned upstream outage");
    let text = String::from_utf8_lossy(&flowgate(&["alerts", "--state", &state]).stdout).to_string();
    assert!(
        text.contains("FIRING   Sev3  SlaBreach") && text.contains("SlaBreach (job nightly) until") && text.contains("by ops-oncall"),
        "{text}"
    );
    let audit = String::from_utf8_lossy(&flowgate(&["audit", "export", "--state", &state]).stdout).to_string();
    assert!(audit.contains("\"alert_silenced\"") && audit.contains("planned upstream outage"), "{audit}");
}
