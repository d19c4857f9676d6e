//! Nothing stuck silently: the reconciliation pass turns dead-lettered dispatch and poll messages
//! into quarantine items (locally and against the Service Bus REST wire format), and resends a
//! run that no message moves, once, before quarantining it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use flowgate::adapters::azure::identity::StaticToken;
use flowgate::adapters::azure::servicebus::ServiceBusClient;
use flowgate::domain::ids::{JobId, RunKey};
use flowgate::domain::messages::QuarantineKind;
use flowgate::domain::run::{RunStatus, RunTrigger};
use flowgate::flows::{lifecycle, quarantine, reconcile, runs};
use flowgate::ports::{queues, AccessToken, Queue, RowRange, Store, Table};

use crate::helpers::{app_with, TestApp, CATALOG};
use crate::servicebus::fake_servicebus::{DeadMessage, FakeServiceBus};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A scheduled run of `score`, created and sent to the dispatch queue as the tick does.
async fn dispatched(app: &TestApp, at: &str) -> RunKey {
    let job = app.deps.catalog.jobs.get(&JobId::parse("score").unwrap()).unwrap().clone();
    let key = RunKey::new(job.id.clone(), t(at));
    assert!(lifecycle::create(&app.deps, &job, t(at), RunTrigger::Schedule, RunStatus::Pending, None, t(at)).await.unwrap());
    lifecycle::dispatch(&app.deps, &key, RunTrigger::Schedule, t(at)).await.unwrap();
    key
}

async fn status(app: &TestApp, key: &RunKey) -> RunStatus {
    runs::load(&app.store, key).await.unwrap().unwrap().0.status
}

async fn reconciled(app: &TestApp) -> Vec<String> {
    let events = app.deps.audit.read(None, None).await.unwrap();
    events.into_iter().filter(|e| format!("{:?}", e.kind) == "Reconciled").map(|e| e.decision).collect()
}

#[tokio::test]
async fn a_dead_lettered_dispatch_message_becomes_a_replayable_quarantine_item() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let now = t("2026-11-03T06:00:00Z");
    let key = dispatched(&app, "2026-11-03T06:00:00Z").await;
    // Ten deliveries that never complete (a handler that dies on it each time): dead-lettered.
    for _ in 0..10 {
        let m = app.queue.receive(queues::DISPATCH, now).await.unwrap().unwrap();
        assert!(app.queue.abandon(&m.lock_token, now).await.unwrap());
    }
    assert_eq!(app.queue.counts(queues::DISPATCH, now).await.unwrap().dead_letter, 1);

    let r = reconcile::pass(&app.deps, now + Duration::minutes(1)).await.unwrap();
    assert_eq!(r.dead_letters, 1);
    assert_eq!(app.queue.counts(queues::DISPATCH, now).await.unwrap().dead_letter, 0, "completed once stored");
    let (item, _, _) = quarantine::find(&app.store, &key.to_string()).await.unwrap();
    assert_eq!(item.kind, QuarantineKind::Run);
    assert!(
        item.reason.contains("dead-lettered on `dispatch`") && item.reason.contains("MaxDeliveryCountExceeded after 10 deliveries"),
        "{}",
        item.reason
    );
    assert_eq!(item.evidence["body"]["job"], "score", "the message is kept");
    assert_eq!(status(&app, &key).await, RunStatus::Quarantined);
    assert_eq!(reconciled(&app).await.len(), 1);
    // A second pass finds nothing; the run no longer sits in the in-flight index.
    assert_eq!(reconcile::pass(&app.deps, now + Duration::minutes(2)).await.unwrap(), Default::default());
    assert!(app.store.query(Table::SCHEDULES, Some(reconcile::INFLIGHT), RowRange::default(), 10).await.unwrap().is_empty());
    // Replayable like any quarantined run.
    quarantine::replay(&app.store, &app.queue, app.deps.audit.as_ref(), &key.to_string(), "ops", now + Duration::minutes(3)).await.unwrap();
    assert_eq!(status(&app, &key).await, RunStatus::Pending);
}

#[tokio::test]
async fn an_unreadable_dead_letter_is_kept_as_a_poison_message() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let now = t("2026-11-03T06:00:00Z");
    let m = flowgate::ports::OutgoingMessage {
        message_id: "garbage-1".into(),
        correlation_id: None,
        body: "\u{0}not json".into(),
        scheduled_enqueue_time: None,
        time_to_live: Some(std::time::Duration::from_secs(60)),
        sent_at: now,
    };
    app.queue.send(queues::POLL, m).await.unwrap();
    // Its time to live runs out: the broker dead-letters it on the next receive.
    assert!(app.queue.receive(queues::POLL, now + Duration::minutes(5)).await.unwrap().is_none());
    let r = reconcile::pass(&app.deps, now + Duration::minutes(5)).await.unwrap();
    assert_eq!(r.dead_letters, 1);
    let (item, _, _) = quarantine::find(&app.store, "dead-letter:poll:garbage-1").await.unwrap();
    assert_eq!(item.kind, QuarantineKind::PoisonMessage);
    assert!(item.reason.contains("TTLExpiredException"), "{}", item.reason);
}

#[tokio::test]
async fn dead_letters_come_from_service_bus_and_are_completed_after_the_item_is_stored() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let now = t("2026-11-03T06:00:00Z");
    let key = dispatched(&app, "2026-11-03T06:00:00Z").await;
    let body = app.queue.receive(queues::DISPATCH, now).await.unwrap().unwrap().body;
    let fake = FakeServiceBus::default();
    let url = fake.start().await;
    fake.dead.lock().unwrap().push(DeadMessage {
        queue: "dispatch".into(),
        body,
        message_id: "score@2026-11-03T06:00:00Z#1".into(),
        reason: "MaxDeliveryCountExceeded".into(),
        lock: None,
    });
    let tokens = Arc::new(StaticToken(AccessToken::new("test-token", Utc::now() + chrono::Duration::hours(1))));
    let sb = Arc::new(ServiceBusClient::new(url, tokens).unwrap());
    assert_eq!(sb.counts("dispatch", now).await.unwrap().dead_letter, 1);
    let mut deps = app.deps.clone();
    deps.queue = sb.clone();
    let r = reconcile::pass(&deps, now + Duration::minutes(1)).await.unwrap();
    assert_eq!(r.dead_letters, 1);
    assert!(fake.dead.lock().unwrap().is_empty(), "completed with DELETE on its Location");
    let (item, _, _) = quarantine::find(&app.store, &key.to_string()).await.unwrap();
    assert!(item.reason.contains("MaxDeliveryCountExceeded") && item.reason.contains("could not be consumed"), "{}", item.reason);
    assert_eq!(status(&app, &key).await, RunStatus::Quarantined);
}

#[tokio::test]
async fn a_run_no_message_moves_is_resent_once_then_quarantined() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let t0 = t("2026-11-03T06:00:00Z");
    let key = dispatched(&app, "2026-11-03T06:00:00Z").await;
    // The message is lost (completed by something that never ran the attempt).
    let m = app.queue.receive(queues::DISPATCH, t0).await.unwrap().unwrap();
    assert!(app.queue.complete(&m.lock_token, t0).await.unwrap());

    // Inside the grace period nothing happens.
    assert_eq!(reconcile::pass(&app.deps, t0 + Duration::minutes(10)).await.unwrap(), Default::default());
    // Past it: the first attempt is sent again.
    let r = reconcile::pass(&app.deps, t0 + Duration::minutes(16)).await.unwrap();
    assert_eq!((r.resent, r.stuck_quarantined), (1, 0));
    let again = app.queue.receive(queues::DISPATCH, t0 + Duration::minutes(16)).await.unwrap().expect("resent");
    assert!(again.body.contains("\"attempt\":1"), "{}", again.body);
    assert_eq!(status(&app, &key).await, RunStatus::Pending);
    // That one is lost too: at the next check the run is quarantined with the reason.
    assert!(app.queue.complete(&again.lock_token, t0 + Duration::minutes(16)).await.unwrap());
    assert_eq!(reconcile::pass(&app.deps, t0 + Duration::minutes(20)).await.unwrap(), Default::default(), "not before the grace");
    let r = reconcile::pass(&app.deps, t0 + Duration::minutes(32)).await.unwrap();
    assert_eq!((r.resent, r.stuck_quarantined), (0, 1));
    assert_eq!(status(&app, &key).await, RunStatus::Quarantined);
    let (item, _, _) = quarantine::find(&app.store, &key.to_string()).await.unwrap();
    assert!(item.reason.starts_with("stuck: pending since it was enqueued"), "{}", item.reason);
    let decisions = reconciled(&app).await;
    assert_eq!(decisions.len(), 2);
    assert!(decisions[0].starts_with("resent:") && decisions[1].starts_with("stuck:"), "{decisions:?}");
}

#[tokio::test]
async fn a_run_that_moved_after_its_resend_is_not_quarantined_for_a_later_stall() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let t0 = t("2026-11-03T06:00:00Z");
    let key = dispatched(&app, "2026-11-03T06:00:00Z").await;
    let m = app.queue.receive(queues::DISPATCH, t0).await.unwrap().unwrap();
    assert!(app.queue.complete(&m.lock_token, t0).await.unwrap());
    assert_eq!(reconcile::pass(&app.deps, t0 + Duration::minutes(16)).await.unwrap().resent, 1);
    // The resent attempt runs (and fails: nothing listens on port 9), so a retry is scheduled.
    let msg = app.queue.receive(queues::DISPATCH, t0 + Duration::minutes(16)).await.unwrap().unwrap();
    let input = flowgate::flows::dispatch_run::DispatchInput {
        message: serde_json::from_str(&msg.body).unwrap(),
        now: t0 + Duration::minutes(16),
        invocation: flowgate::domain::ids::InvocationId::generate(),
    };
    flowgate::flows::dispatch_run::dispatch_run(&app.deps, input).await.unwrap();
    assert_eq!(status(&app, &key).await, RunStatus::Retrying);
    // Before its retry is due plus the grace, the pass leaves it alone.
    let r = reconcile::pass(&app.deps, t0 + Duration::minutes(30)).await.unwrap();
    assert_eq!((r.resent, r.stuck_quarantined), (0, 0));
    // Stalled again later: it moved since its resend (an attempt ran), so it is resent, not quarantined.
    let r = reconcile::pass(&app.deps, t0 + Duration::minutes(33)).await.unwrap();
    assert_eq!((r.resent, r.stuck_quarantined), (1, 0));
    assert_eq!(status(&app, &key).await, RunStatus::Retrying);
}
