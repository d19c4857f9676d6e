//! Releases through the handler: the Releases HTTP function with Easy Auth principals, runs that
//! keep their release while the pointer moves, and a handler killed in the middle of a rollback.

use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use flowgate::domain::audit::AuditKind;
use flowgate::domain::messages::DispatchMessage;
use flowgate::domain::principal::Principal;
use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput};
use flowgate::flows::releases::{self as releases, records, Promotion};
use flowgate::flows::schedule_tick::{schedule_tick, TickInput};
use flowgate::ports::{queues, AuditSink};
use serde_json::{json, Value};

use crate::helpers::{app_with, client_principal, scoring::FakeScoring, TestApp};
use crate::releases::{flowgate, Workspace};

const NO_SMOKE: &str = "  approvals: 2\n  checks: {smoke: false}\n";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn wrapped(method: &str, body: &Value, principal: Option<&str>) -> String {
    let headers = principal.map_or_else(|| json!({}), |p| json!({"x-ms-client-principal": [p]}));
    json!({
        "Data": {"req": {"Url": "https://app/api/releases", "Method": method, "Query": {}, "Headers": headers, "Params": {},
            "Identities": [{"AuthenticationType": "WebJobsAuthLevel", "IsAuthenticated": true, "Claims": []}], "Body": body.to_string()}},
        "Metadata": {"sys": {"MethodName": "Releases", "UtcNow": "2026-11-24T10:00:00Z", "RandGuid": "x"}}
    })
    .to_string()
}

async fn call(app: &TestApp, method: &str, body: Value, principal: Option<&str>) -> (u64, Value) {
    let (_, v) = crate::helpers::invoke(app, "Releases", wrapped(method, &body, principal)).await;
    let r = &v["Outputs"]["res"];
    (r["statusCode"].as_u64().unwrap(), serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
}

#[tokio::test]
async fn the_releases_function_trusts_only_easy_auth_and_keys_people_by_object_id() {
    let w = Workspace::new("0 0 9 * * *", NO_SMOKE);
    let app = app_with(crate::helpers::CATALOG, "http://127.0.0.1:9/score");
    let alice = client_principal("t-1", "o-alice", "Alice", &["Release.Approver"]);
    let bob = client_principal("t-1", "o-bob", "Bob", &["Release.Approver"]);
    // Carol renames herself "Bob": still a different person.
    let carol = client_principal("t-1", "o-carol", "Bob", &["Release.Approver"]);
    let dan = client_principal("t-1", "o-dan", "Dan", &["Release.Approver"]);
    let bundle = serde_json::to_value(flowgate::commands::release::from_catalog(&w.catalog()).unwrap()).unwrap();

    // Easy Auth off: a forged principal header is refused with 401, and the refusal is audited.
    let (status, body) = call(&app, "POST", json!({"action": "propose", "bundle": bundle}), Some(&alice)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("WEBSITE_AUTH_ENABLED"));
    let events = app.deps.audit.read(None, None).await.unwrap();
    let denied: Vec<_> = events.iter().filter(|e| e.kind == AuditKind::AccessDenied).collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].evidence["principal_header_presented"], true);
    assert!(!events.iter().any(|e| e.kind == AuditKind::ReleaseProposed), "nothing was proposed");

    app.set("WEBSITE_AUTH_ENABLED", "true");
    let (status, body) = call(&app, "POST", json!({"action": "propose", "bundle": bundle, "commit": "abc123"}), Some(&alice)).await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["record"]["proposed_by"]["id"], "o-alice");
    let (status, body) = call(&app, "POST", json!({"action": "approve", "id": id}), Some(&alice)).await;
    assert_eq!(status, 403, "{body}");
    for p in [&bob, &carol] {
        let (status, body) = call(&app, "POST", json!({"action": "approve", "id": id}), Some(p)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = call(&app, "POST", json!({"action": "gate-check", "id": id}), Some(&dan)).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["verdict"]["passed"], true, "{body}");
    let (status, body) = call(&app, "POST", json!({"action": "promote", "id": id}), Some(&dan)).await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(&app, "GET", json!({}), Some(&dan)).await;
    assert_eq!(body["active"]["release"], id.as_str());
    assert_eq!(body["active"]["by"], "entra:t-1/o-dan");

    // Bad input answers 4xx and changes nothing.
    for (cmd, want) in [
        (json!({"action": "approve", "id": "not-an-id"}), 400),
        (json!({"action": "approve", "id": "0".repeat(64)}), 404),
        (json!({"action": "rollback", "to": id}), 400),
        (json!({"action": "launch", "id": id}), 400),
        // This catalog pins no evaluation dataset: nothing to evaluate against.
        (json!({"action": "evaluate", "id": id, "baseline": "{}", "candidate": "{}"}), 400),
        (json!({"action": "propose", "bundle": {"format": "x"}}), 400),
    ] {
        let (status, body) = call(&app, "POST", cmd.clone(), Some(&dan)).await;
        assert_eq!(status, want, "{cmd}: {body}");
    }
    let (_, v) = crate::helpers::invoke(&app, "Releases", wrapped("POST", &json!("not an object"), Some(&dan))).await;
    assert_eq!(v["Outputs"]["res"]["statusCode"], 400);
}

#[tokio::test]
async fn a_run_in_flight_during_a_promotion_finishes_on_its_own_release() {
    let fake = FakeScoring::default();
    let url = fake.start().await;
    let w = Workspace::new("0 0 9 * * *", NO_SMOKE);
    let app = app_with(crate::helpers::CATALOG, &url);
    app.set("REL_SCORING_URL", &url);
    let d = app.deps.release_deps();
    let now = Utc::now();
    let person = |n: &str| Principal::development(n, ["Release.Approver".to_string()]);
    let mut ids = Vec::new();
    for text in ["release-a", "release-b"] {
        std::fs::write(
            w.catalog(),
            std::fs::read_to_string(w.catalog())
                .unwrap()
                .replace("text: hello", &format!("text: {text}"))
                .replace("text: release-a", &format!("text: {text}")),
        )
        .unwrap();
        let bundle = flowgate::commands::release::from_catalog(&w.catalog()).unwrap();
        let id = releases::propose(&d, bundle, &person("alice"), None, "catalog.yaml", now).await.unwrap().id;
        releases::approve(&d, &id, &person("bob"), now).await.unwrap();
        releases::approve(&d, &id, &person("carol"), now).await.unwrap();
        ids.push(id);
    }
    releases::promote(&d, &ids[0], &person("alice"), &Promotion::default(), now).await.unwrap();

    // Release A is active: the 09:00 slot starts a run pinned to it.
    let tick = |at: &'static str| {
        let deps = app.deps.clone();
        async move {
            let active = deps.active().await.unwrap().unwrap();
            schedule_tick(&active, TickInput { now: t(at), invocation: Default::default() }).await.unwrap()
        }
    };
    tick("2026-11-23T08:59:00Z").await;
    let r = tick("2026-11-23T09:00:00Z").await;
    assert_eq!(r.enqueued.len(), 1, "{r:?}");
    let received = app.queue.receive(queues::DISPATCH, t("2026-11-23T09:00:00Z")).await.unwrap().unwrap();
    app.queue.complete(&received.lock_token, t("2026-11-23T09:00:00Z")).await.unwrap();
    let message: DispatchMessage = serde_json::from_str(&received.body).unwrap();
    assert_eq!(message.release.as_ref(), Some(&ids[0]));

    // B is promoted while the run is in flight; the run still finishes on A.
    releases::promote(&d, &ids[1], &person("alice"), &Promotion::default(), now).await.unwrap();
    let input = DispatchInput { message, now: t("2026-11-23T09:00:05Z"), invocation: Default::default() };
    dispatch_run(&app.deps, input).await.unwrap();
    assert_eq!(fake.calls.lock().unwrap().last().unwrap()["text"], "release-a");
    let runs = flowgate::flows::runs::list(&app.store, None, 10).await.unwrap();
    assert_eq!(runs[0].release.as_ref(), Some(&ids[0]));
    assert_eq!(runs[0].status, flowgate::domain::run::RunStatus::Succeeded);

    // The next slot runs on B.
    tick("2026-11-24T09:00:00Z").await;
    let message = app.queue.receive(queues::DISPATCH, t("2026-11-24T09:00:00Z")).await.unwrap().unwrap();
    let message: DispatchMessage = serde_json::from_str(&message.body).unwrap();
    assert_eq!(message.release.as_ref(), Some(&ids[1]));
    dispatch_run(&app.deps, DispatchInput { message, now: t("2026-11-24T09:00:05Z"), invocation: Default::default() }).await.unwrap();
    assert_eq!(fake.calls.lock().unwrap().last().unwrap()["text"], "release-b");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Handler(std::process::Child);
impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(w: &Workspace, port: u16, pause_ms: Option<u64>) -> Handler {
    let mut c = flowgate();
    c.args(["serve", "--port", &port.to_string()])
        .env("FLOWGATE_CATALOG", w.catalog())
        .env("FLOWGATE_STATE", w.state())
        .env("WEBSITE_AUTH_ENABLED", "true")
        .env_remove("FLOWGATE_TABLE_ENDPOINT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(ms) = pause_ms {
        c.env("FLOWGATE_CHAOS_PAUSE_AFTER_SWITCH_MS", ms.to_string());
    }
    Handler(c.spawn().unwrap())
}

async fn ready(port: u16) {
    for _ in 0..200 {
        if reqwest::get(format!("http://127.0.0.1:{port}/")).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the handler did not start");
}

#[tokio::test]
async fn a_handler_killed_in_the_middle_of_a_rollback_converges_on_restart() {
    let w = Workspace::new("0 0 9 * * *", NO_SMOKE);
    let (a, b) = (w.released("0 0 9 * * *", NO_SMOKE), w.released("0 0 10 * * *", NO_SMOKE));
    let port = free_port();
    let mut handler = serve(&w, port, Some(20_000));
    ready(port).await;
    let bob = client_principal("t-1", "o-bob", "Bob", &["Release.Approver"]);
    let body = wrapped("POST", &json!({"action": "rollback", "to": a}), Some(&bob));
    let url = format!("http://127.0.0.1:{port}/Releases");
    let request = tokio::spawn(async move { reqwest::Client::new().post(url).body(body).send().await });
    // Wait until the pointer has moved, then kill the handler before it records the switch.
    let store = flowgate::adapters::local::SqliteStore::open(&w.state().join("state.db")).unwrap();
    let mut switched = None;
    for _ in 0..600 {
        let (p, _) = records::pointer(&store).await.unwrap().unwrap();
        if p.release.as_str() == a {
            switched = Some(p);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let switched = switched.expect("the rollback switched the pointer");
    assert!(!switched.recorded);
    nix_kill(&mut handler.0);
    assert!(request.await.unwrap().is_err(), "the killed handler never answered");
    let audit = flowgate::adapters::local::SqliteAudit::open(&w.state().join("audit.db")).unwrap();
    let rolled = |events: &[flowgate::domain::audit::AuditEvent]| events.iter().filter(|e| e.kind == AuditKind::ReleaseRolledBack).count();
    assert_eq!(rolled(&audit.read(None, None).await.unwrap()), 0, "killed before the event");

    // Restarted, the next invocation records the switch; the pointer never names a mixture.
    let port = free_port();
    let _handler = serve(&w, port, None);
    ready(port).await;
    let tick = json!({"Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": false}},
        "Metadata": {"sys": {"MethodName": "ScheduleTick", "UtcNow": "2026-11-25T08:00:00Z", "RandGuid": "x"}}});
    let r = reqwest::Client::new().post(format!("http://127.0.0.1:{port}/ScheduleTick")).json(&tick).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (p, _) = records::pointer(&store).await.unwrap().unwrap();
    assert_eq!((p.release.as_str(), p.generation, p.recorded), (a.as_str(), 3, true));
    assert_ne!(p.release.as_str(), b);
    let events = audit.read(None, None).await.unwrap();
    assert_eq!(rolled(&events), 1);
    assert!(flowgate::domain::audit::verify(&events).is_ok());
}

fn nix_kill(child: &mut std::process::Child) {
    // SIGKILL: no destructors, no graceful shutdown.
    let _ = Command::new("kill").args(["-9", &child.id().to_string()]).status();
    let _ = child.wait();
}

#[tokio::test]
async fn with_releases_required_nothing_runs_until_one_is_promoted_and_it_says_so() {
    let w = Workspace::new("0 */5 * * * *", NO_SMOKE);
    let mut app = app_with(crate::helpers::CATALOG, "http://127.0.0.1:9/score");
    app.deps.releases = Arc::new(flowgate::flows::releases::active::ReleaseCache::new(
        Arc::new(flowgate::adapters::local::FileBlobs::new(app.dir.path())),
        true,
        false,
        app.deps.catalog.clone(),
        app.deps.contracts.clone(),
    ));
    let tick = |at: &str| {
        json!({"Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": false}},
            "Metadata": {"sys": {"MethodName": "ScheduleTick", "UtcNow": at, "RandGuid": "x"}}})
        .to_string()
    };
    let (status, v) = crate::helpers::invoke(&app, "ScheduleTick", tick("2026-11-23T09:00:00Z")).await;
    assert_eq!(status, 200);
    assert!(v["Logs"][0].as_str().unwrap().contains("nothing runs"), "{v}");
    crate::helpers::invoke(&app, "ScheduleTick", tick("2026-11-23T09:05:00Z")).await;
    assert!(flowgate::flows::runs::list(&app.store, None, 10).await.unwrap().is_empty(), "the packaged catalog did not run");
    let alerts = std::fs::read_to_string(app.dir.path().join("alerts.jsonl")).unwrap_or_default();
    assert_eq!(alerts.lines().filter(|l| l.contains("\"NoActiveRelease\"")).count(), 1, "one alert, not one per tick: {alerts}");
    let arrival = crate::helpers::fixture("eventgrid-blobcreated-object.json");
    let (status, _) = crate::helpers::invoke(&app, "DataArrived", arrival).await;
    assert_eq!(status, 500, "an arrival waits (Event Grid delivers it again) rather than being lost");

    let d = app.deps.release_deps();
    let now = Utc::now();
    let person = |n: &str| Principal::development(n, ["Release.Approver".to_string()]);
    let bundle = flowgate::commands::release::from_catalog(&w.catalog()).unwrap();
    let id = releases::propose(&d, bundle, &person("alice"), None, "catalog.yaml", now).await.unwrap().id;
    releases::approve(&d, &id, &person("bob"), now).await.unwrap();
    releases::approve(&d, &id, &person("carol"), now).await.unwrap();
    releases::promote(&d, &id, &person("alice"), &Promotion::default(), now).await.unwrap();
    crate::helpers::invoke(&app, "ScheduleTick", tick("2026-11-23T09:10:00Z")).await;
    crate::helpers::invoke(&app, "ScheduleTick", tick("2026-11-23T09:15:00Z")).await;
    let runs = flowgate::flows::runs::list(&app.store, None, 10).await.unwrap();
    assert!(!runs.is_empty() && runs.iter().all(|r| r.release.as_ref() == Some(&id)), "{runs:?}");
}
