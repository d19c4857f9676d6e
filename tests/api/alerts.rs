//! Alert delivery through the webhook Notifier: an alert the webhook refuses waits in the outbox
//! and is delivered by a later tick, once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use flowgate::adapters::http::WebhookNotifier;
use flowgate::domain::ids::InvocationId;
use flowgate::flows::schedule_tick::{schedule_tick, TickInput};
use flowgate::ports::{RowRange, Store, Table};

use crate::helpers::app_with;

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

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_refused_alert_waits_in_the_outbox_and_is_delivered_once() {
    let hook = webhook::FakeWebhook::default();
    hook.script.lock().unwrap().push_back(503);
    let url = hook.start().await;
    let mut app = app_with(CATALOG, "http://127.0.0.1:9/score");
    app.deps.notifier = Arc::new(WebhookNotifier::new(url).unwrap());
    for at in ["2026-11-27T02:00:00Z", "2026-11-27T02:20:00Z", "2026-11-27T02:21:00Z", "2026-11-27T02:22:00Z"] {
        schedule_tick(&app.deps, TickInput { now: t(at), invocation: InvocationId::generate() }).await.unwrap();
    }
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0].0, 503);
    assert_eq!(received[1].0, 200);
    let text = received[1].1["text"].as_str().unwrap();
    assert!(text.starts_with("[flowgate] sla warning: run nightly@2026-11-27T02:00:00.000Z has not finished"), "{text}");
    assert!(text.contains("(owner: data-team@contoso.example)"), "{text}");
    assert_eq!(received[1].1["flowgate"]["kind"], "sla_warning");
    assert!(app.store.query(Table::SCHEDULES, Some("outbox"), RowRange::default(), 10).await.unwrap().is_empty());
    assert_eq!(app.store.query(Table::ALERTS, None, RowRange::default(), 10).await.unwrap().len(), 1);
}

#[test]
fn the_webhook_must_be_https() {
    assert!(WebhookNotifier::new("http://hooks.example.com/x".into()).is_err());
    assert!(WebhookNotifier::new("https://contoso.webhook.office.com/webhookb2/x".into()).is_ok());
    let debug = format!("{:?}", WebhookNotifier::new("https://hooks.slack.com/services/SECRET".into()).unwrap());
    assert!(!debug.contains("SECRET"), "the URL is a secret: {debug}");
}
