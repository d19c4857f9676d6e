//! The Service Bus REST client (the Queue port in Azure) against a fake namespace that follows
//! the documented wire format: broker properties, batches, duplicate detection, counts,
//! throttling retried, errors that say whether retrying helps.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flowgate::adapters::azure::identity::StaticToken;
use flowgate::adapters::azure::servicebus::ServiceBusClient;
use flowgate::ports::{AccessToken, OutgoingMessage, Queue, QueueCounts, QueueError};

#[path = "../fakes/servicebus.rs"]
pub(crate) mod fake_servicebus;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn msg(id: &str, scheduled: Option<&str>) -> OutgoingMessage {
    OutgoingMessage {
        message_id: id.into(),
        correlation_id: Some("run-7".into()),
        body: format!("{{\"id\":\"{id}\"}}"),
        scheduled_enqueue_time: scheduled.map(t),
        time_to_live: Some(Duration::from_secs(3600)),
        sent_at: t("2026-11-27T10:00:00Z"),
    }
}

#[tokio::test]
async fn sends_batches_counts_and_survives_throttling() {
    let fake = fake_servicebus::FakeServiceBus::default();
    let url = fake.start().await;
    let tokens = Arc::new(StaticToken(AccessToken::new("test-token", Utc::now() + chrono::Duration::hours(1))));
    let sb = ServiceBusClient::new(url.clone(), tokens).unwrap();
    sb.send("dispatch", msg("a@1#1", None)).await.unwrap();
    // The same MessageId again: the broker drops it.
    sb.send("dispatch", msg("a@1#1", None)).await.unwrap();
    sb.send("dispatch", msg("a@1#2", Some("2026-11-27T10:05:00Z"))).await.unwrap();
    sb.send_batch("dispatch", vec![msg("b@1#1", None), msg("c@1#1", None)]).await.unwrap();
    {
        let got = fake.messages.lock().unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[1].props["ScheduledEnqueueTimeUtc"], "Fri, 27 Nov 2026 10:05:00 GMT");
        assert_eq!(got[0].props["CorrelationId"], "run-7");
        assert_eq!(got[0].props["TimeToLive"], 3600.0);
        assert_eq!(got[3].body, "{\"id\":\"c@1#1\"}");
    }
    assert_eq!(sb.counts("dispatch", Utc::now()).await.unwrap(), QueueCounts { active: 3, scheduled: 1, dead_letter: 0 });
    // Throttled twice, then accepted.
    fake.throttle.lock().unwrap().extend([429, 503]);
    let before = *fake.requests.lock().unwrap();
    sb.send("dispatch", msg("d@1#1", None)).await.unwrap();
    assert_eq!(*fake.requests.lock().unwrap() - before, 3);
    // Throttled past the client's patience: a retryable error for the caller.
    fake.throttle.lock().unwrap().extend([503, 503, 503, 503]);
    let e = sb.send("dispatch", msg("e@1#1", None)).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(matches!(sb.send("missing", msg("f", None)).await, Err(QueueError::NoSuchQueue(_))));
    assert!(ServiceBusClient::new("http://example.com", Arc::new(StaticToken(AccessToken::new("x", Utc::now())))).is_err());
}
