//! Quarantine operations: replay starts a fresh attempt series under the same run key, discard
//! needs a reason, both are recorded; a replayed run that fails again reopens its item.

use chrono::{DateTime, Utc};
use flowgate::domain::ids::{InvocationId, JobId, RunKey};
use flowgate::domain::messages::DispatchMessage;
use flowgate::domain::run::RunTrigger;
use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput, DispatchReport};
use flowgate::flows::quarantine::{self, ItemStatus, QuarantineError};
use flowgate::ports::{queues, Queue, Store, Table};

use crate::helpers::client_principal;
use crate::helpers::{app_with, scoring::FakeScoring, CATALOG};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn replay_runs_a_fresh_series_and_discard_needs_a_reason() {
    let fake = FakeScoring::default();
    fake.push(400, None);
    fake.push(400, None);
    let app = app_with(CATALOG, &fake.start().await);
    let key = RunKey::new(JobId::parse("score").unwrap(), t("2026-11-13T02:00:00Z"));
    let run = |attempt: u32, now: &str| DispatchInput {
        message: DispatchMessage::new(&key, attempt, RunTrigger::Schedule),
        now: t(now),
        invocation: InvocationId::generate(),
    };
    let r = dispatch_run(&app.deps, run(1, "2026-11-13T02:00:00Z")).await.unwrap();
    assert!(matches!(r, DispatchReport::Quarantined { .. }));
    let id = key.to_string();
    let open = quarantine::list(&app.store, false).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, id);

    // Replay: the run is pending again with a fresh series; its dispatch message is queued.
    let before = app.queue.counts(queues::DISPATCH, t("2026-11-13T03:00:00Z")).await.unwrap().active;
    quarantine::replay(&app.store, &app.queue, app.deps.audit.as_ref(), &id, "ops@contoso", t("2026-11-13T03:00:00Z")).await.unwrap();
    assert_eq!(app.queue.counts(queues::DISPATCH, t("2026-11-13T03:00:00Z")).await.unwrap().active, before + 1);
    let rec = app.store.get(Table::RUNS, "score", &key.row()).await.unwrap().unwrap().body;
    assert_eq!(
        (rec["status"].as_str(), rec["attempts"].as_u64(), rec["prior_attempts"].as_u64(), rec["replays"].as_u64()),
        (Some("pending"), Some(0), Some(1), Some(1))
    );
    assert!(matches!(
        quarantine::replay(&app.store, &app.queue, app.deps.audit.as_ref(), &id, "ops", t("2026-11-13T03:00:01Z")).await,
        Err(QuarantineError::Closed { .. })
    ));

    // It fails again: the item is reopened, its history kept.
    let r = dispatch_run(&app.deps, run(1, "2026-11-13T03:00:05Z")).await.unwrap();
    assert!(matches!(r, DispatchReport::Quarantined { .. }), "{r:?}");
    let (item, _, _) = quarantine::find(&app.store, &id).await.unwrap();
    assert_eq!(item.status, ItemStatus::Open);
    let actions: Vec<&str> = item.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, vec!["replayed", "quarantined"]);
    assert_eq!(item.history[0].by, "ops@contoso");

    // Discard needs a reason, and is recorded.
    assert!(matches!(
        quarantine::discard(&app.store, app.deps.audit.as_ref(), &id, "  ", "ops", t("2026-11-13T04:00:00Z")).await,
        Err(QuarantineError::NoReason)
    ));
    let item =
        quarantine::discard(&app.store, app.deps.audit.as_ref(), &id, "customer withdrew the claim", "ops", t("2026-11-13T04:00:00Z"))
            .await
            .unwrap();
    assert_eq!(item.status, ItemStatus::Discarded);
    assert_eq!(item.history.last().unwrap().note.as_deref(), Some("customer withdrew the claim"));
    assert!(quarantine::list(&app.store, false).await.unwrap().is_empty());
    assert_eq!(quarantine::list(&app.store, true).await.unwrap().len(), 1);
    assert!(matches!(quarantine::find(&app.store, "nope").await, Err(QuarantineError::NotFound(_))));
}

#[tokio::test]
async fn poison_messages_can_only_be_discarded() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let (status, _) = crate::helpers::invoke(&app, "DispatchRun", crate::helpers::fixture("servicebus-garbage.json")).await;
    assert_eq!(status, 200);
    let err = quarantine::replay(&app.store, &app.queue, app.deps.audit.as_ref(), "poison:garbage-1", "ops", Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("can only be discarded"), "{err}");
    quarantine::discard(&app.store, app.deps.audit.as_ref(), "poison:garbage-1", "garbage from a test", "ops", Utc::now()).await.unwrap();
}

fn wrapped(method: &str, query: serde_json::Value, body: &str, principal: Option<&str>) -> String {
    let headers = match principal {
        Some(p) => serde_json::json!({"X-MS-CLIENT-PRINCIPAL": [p]}),
        None => serde_json::json!({}),
    };
    let identities = serde_json::json!([{"AuthenticationType": "WebJobsAuthLevel", "IsAuthenticated": true, "Claims": []}]);
    serde_json::json!({
        "Data": {"req": {"Url": "https://app/api/quarantine", "Method": method, "Query": query, "Headers": headers, "Params": {}, "Identities": identities, "Body": body}},
        "Metadata": {"sys": {"MethodName": "Quarantine", "UtcNow": "2026-11-13T05:00:00Z", "RandGuid": "x"}}
    })
    .to_string()
}

fn res(v: &serde_json::Value) -> (u64, serde_json::Value) {
    let r = &v["Outputs"]["res"];
    (r["statusCode"].as_u64().unwrap(), serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
}

#[tokio::test]
async fn the_http_function_lists_shows_replays_and_discards() {
    let fake = FakeScoring::default();
    fake.push(400, None);
    let app = app_with(CATALOG, &fake.start().await);
    let key = RunKey::new(JobId::parse("score").unwrap(), t("2026-11-13T02:00:00Z"));
    dispatch_run(
        &app.deps,
        DispatchInput {
            message: DispatchMessage::new(&key, 1, RunTrigger::Schedule),
            now: t("2026-11-13T02:00:00Z"),
            invocation: InvocationId::generate(),
        },
    )
    .await
    .unwrap();
    let operator = client_principal("t-1", "o-ana", "Ana", &["Quarantine.Operator"]);
    let reader = client_principal("t-1", "o-ben", "Ben", &[]);
    // Easy Auth off: a principal header is not trusted, whatever it says.
    let (_, v) = crate::helpers::invoke(&app, "Quarantine", wrapped("GET", serde_json::json!({}), "", Some(&operator))).await;
    assert_eq!(res(&v).0, 401);
    app.set("WEBSITE_AUTH_ENABLED", "true");
    let (_, v) = crate::helpers::invoke(&app, "Quarantine", wrapped("GET", serde_json::json!({}), "", None)).await;
    assert_eq!(res(&v).0, 401, "no principal at all");
    let (_, v) = crate::helpers::invoke(&app, "Quarantine", wrapped("GET", serde_json::json!({}), "", Some(&reader))).await;
    let (status, body) = res(&v);
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let (_, v) = crate::helpers::invoke(&app, "Quarantine", wrapped("GET", serde_json::json!({"id": "nope"}), "", Some(&reader))).await;
    assert_eq!(res(&v).0, 404);
    let cmd = serde_json::json!({"action": "replay", "ids": [key.to_string(), "nope"]}).to_string();
    let (_, v) = crate::helpers::invoke(&app, "Quarantine", wrapped("POST", serde_json::json!({}), &cmd, Some(&reader))).await;
    assert_eq!(res(&v).0, 403, "replaying needs Quarantine.Operator");
    let (_, v) = crate::helpers::invoke(&app, "Quarantine", wrapped("POST", serde_json::json!({}), &cmd, Some(&operator))).await;
    let (status, body) = res(&v);
    assert_eq!(status, 200);
    assert_eq!(body["by"], "entra:t-1/o-ana", "recorded by tenant and object id, never the display name");
    assert_eq!(body["results"][0]["replayed"], true);
    assert_eq!(body["results"][1]["replayed"], false);
    let cmd = serde_json::json!({"action": "discard", "id": key.to_string()}).to_string();
    let (_, v) = crate::helpers::invoke(&app, "Quarantine", wrapped("POST", serde_json::json!({}), &cmd, Some(&operator))).await;
    assert_eq!(res(&v).0, 400, "a discard without a reason is refused");
    let (_, v) = crate::helpers::invoke(&app, "Quarantine", wrapped("POST", serde_json::json!({}), "not json", Some(&operator))).await;
    assert_eq!(res(&v).0, 400);
    let denied: Vec<_> = flowgate::ports::AuditSink::read(app.deps.audit.as_ref(), None, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == flowgate::domain::audit::AuditKind::AccessDenied)
        .collect();
    assert_eq!(denied.len(), 3, "two 401s and one 403 are audited");
}
