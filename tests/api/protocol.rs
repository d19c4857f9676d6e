//! The custom-handler protocol: every fixture decodes and gets a well-formed answer; routes match
//! function-defs/; garbage is quarantined with 2xx; no request shape panics or hangs the server.

use std::path::Path;
use std::time::Duration;

use flowgate::ports::{queues, Queue, RowRange, Store, Table};
use serde_json::{json, Value};

use crate::helpers::{app_with, assert_invocation_shape, fixture, invoke, scoring::FakeScoring, CATALOG};

#[test]
fn routes_match_the_function_folders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("function-defs");
    let mut folders: Vec<String> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    folders.sort();
    let mut routes: Vec<String> = flowgate::edge::FUNCTIONS.iter().map(|s| s.to_string()).collect();
    routes.sort();
    assert_eq!(folders, routes, "function-defs/ and edge::FUNCTIONS must list the same functions");
    // The binding names the edge reads are the ones function.json declares.
    for (name, binding) in [
        (flowgate::edge::schedule_tick::NAME, flowgate::edge::schedule_tick::BINDING),
        (flowgate::edge::dispatch_run::NAME, flowgate::edge::dispatch_run::BINDING),
        (flowgate::edge::poll_job::NAME, flowgate::edge::poll_job::BINDING),
        (flowgate::edge::data_arrived::NAME, flowgate::edge::data_arrived::BINDINGS[0]),
        (flowgate::edge::data_arrived::DIRECT_NAME, flowgate::edge::data_arrived::BINDINGS[1]),
        (flowgate::edge::runs::NAME, flowgate::edge::runs::BINDING),
        (flowgate::edge::quarantine::NAME, flowgate::edge::quarantine::BINDING),
    ] {
        let def: Value = serde_json::from_str(&std::fs::read_to_string(root.join(name).join("function.json")).unwrap()).unwrap();
        let trigger = def["bindings"].as_array().unwrap().iter().find(|b| b["direction"] == "in").unwrap();
        assert_eq!(trigger["name"], binding, "{name}");
        if trigger["type"] == "httpTrigger" {
            let out = def["bindings"].as_array().unwrap().iter().find(|b| b["type"] == "http").unwrap();
            assert_eq!(out["name"], "res", "{name}: the edge answers through `res`");
        }
    }
    let host: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("host.json")).unwrap()).unwrap();
    assert_eq!(host["extensionBundle"]["version"], "[4.*, 5.0.0)");
    assert_eq!(host["customHandler"]["description"]["arguments"], json!(["serve"]));
}

#[tokio::test]
async fn health_and_unknown_functions() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let router = flowgate::edge::app(std::sync::Arc::new(app.deps.clone()));
    use tower::ServiceExt;
    let res = router.clone().oneshot(axum::http::Request::get("/").body(axum::body::Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), 200);
    let (status, v) = invoke(&app, "NoSuchFunction", "{}").await;
    assert_eq!(status, 404);
    assert_invocation_shape(&v);
    // Routing is case-sensitive, like the host's folder names.
    let (status, _) = invoke(&app, "scheduletick", "{}").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn timer_fixtures_enqueue_due_slots() {
    let fake = FakeScoring::default();
    let url = fake.start().await;
    for name in ["timer-schedule-status.json", "timer-null-status.json", "timer-past-due.json"] {
        let app = app_with(CATALOG, &url);
        let (status, v) = invoke(&app, "ScheduleTick", fixture(name)).await;
        assert_eq!(status, 200, "{name}: {v}");
        assert_invocation_shape(&v);
        // Each fixture's UtcNow is at 02:00 and the job runs every minute: the 02:00 slot is due.
        let runs = app.store.query(Table::RUNS, Some("score"), RowRange::default(), 100).await.unwrap();
        assert_eq!(runs.len(), 1, "{name}");
        assert_eq!(runs[0].row, "2026-11-13T02:00:00.000Z", "{name}");
        let counts = app.queue.counts(queues::DISPATCH, chrono::Utc::now()).await.unwrap();
        assert_eq!(counts.active, 1, "{name}");
        // A second tick at the same instant enqueues nothing new.
        let (status, _) = invoke(&app, "ScheduleTick", fixture(name)).await;
        assert_eq!(status, 200);
        assert_eq!(app.queue.counts(queues::DISPATCH, chrono::Utc::now()).await.unwrap().active, 1, "{name}");
    }
}

#[tokio::test]
async fn dispatch_fixtures_in_every_encoding_run_the_job() {
    let fake = FakeScoring::default();
    let url = fake.start().await;
    for name in [
        "servicebus-dispatch-double-encoded.json",
        "servicebus-dispatch-single-encoded.json",
        "servicebus-dispatch-base64.json",
        "servicebus-dispatch-sys-shadowed.json",
    ] {
        let app = app_with(CATALOG, &url);
        let before = fake.call_count();
        let (status, v) = invoke(&app, "DispatchRun", fixture(name)).await;
        assert_eq!(status, 200, "{name}: {v}");
        assert_invocation_shape(&v);
        assert_eq!(fake.call_count(), before + 1, "{name}");
        let rec = app.store.get(Table::RUNS, "score", "2026-11-13T02:40:00.000Z").await.unwrap().unwrap();
        assert_eq!(rec.body["status"], "succeeded", "{name}");
        assert_eq!(rec.body["invocation_id"], "inv-test-1", "{name}: the host's invocation id is kept with the run");
        // Delivered again (a duplicate): acknowledged, not run again.
        let (status, v) = invoke(&app, "DispatchRun", fixture(name)).await;
        assert_eq!(status, 200);
        assert!(v["Logs"][0].as_str().unwrap().contains("already succeeded"), "{v}");
        assert_eq!(fake.call_count(), before + 1, "{name}: a finished run key must not execute twice");
    }
}

#[tokio::test]
async fn garbage_messages_are_quarantined_with_2xx() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    for name in ["servicebus-garbage.json", "servicebus-reference-body.json"] {
        let (status, v) = invoke(&app, "DispatchRun", fixture(name)).await;
        assert_eq!(status, 200, "{name}: {v}");
        assert!(v["Logs"][0].as_str().unwrap().contains("quarantined"), "{v}");
    }
    let items = app.store.query(Table::QUARANTINE, Some("poison"), RowRange::default(), 100).await.unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().any(|i| i.row == "poison:garbage-1" && i.body["attempts"] == 3), "{items:?}");
    let q = app.queue.counts(queues::QUARANTINE, chrono::Utc::now()).await.unwrap();
    assert_eq!(q.active, 2);
}

#[tokio::test]
async fn event_grid_fixtures_record_arrivals_and_trigger_jobs() {
    // The direct Event Grid trigger (a public app) and the `arrivals` queue (the private
    // deployment), each shape as the host delivers it.
    let shapes = [
        ("DataArrivedDirect", "eventgrid-blobcreated-object.json"),
        ("DataArrivedDirect", "eventgrid-blobcreated-string.json"),
        ("DataArrivedDirect", "eventgrid-cloudevent.json"),
        ("DataArrived", "servicebus-arrival-eventgrid.json"),
        ("DataArrived", "servicebus-arrival-eventgrid-base64.json"),
        ("DataArrived", "servicebus-arrival-cloudevent.json"),
        ("DataArrived", "servicebus-arrival-eventgrid-array.json"),
        ("DataArrived", "servicebus-arrival-cloudevents-array.json"),
    ];
    for (function, name) in shapes {
        let app = app_with(CATALOG, "http://127.0.0.1:9/score");
        let (status, v) = invoke(&app, function, fixture(name)).await;
        assert_eq!(status, 200, "{name}: {v}");
        assert!(v["Logs"][0].as_str().unwrap().contains("1 run(s) enqueued"), "{name}: {v}");
        let arrivals = app.store.query(Table::ARRIVALS, Some("urgent"), RowRange::default(), 10).await.unwrap();
        let events = if name.contains("array") { 2 } else { 1 };
        assert_eq!(arrivals.len(), events, "{name}");
        if events == 2 {
            assert!(v["Logs"][1].as_str().unwrap().starts_with("ignored event type"), "{name}: a non-BlobCreated event is ignored: {v}");
        }
        // The same event again is one arrival.
        invoke(&app, function, fixture(name)).await;
        assert_eq!(app.store.query(Table::ARRIVALS, Some("urgent"), RowRange::default(), 10).await.unwrap().len(), events);
    }
}

#[tokio::test]
async fn wrapped_http_runs_function() {
    for name in ["http-wrapped-runs.json", "http-wrapped-query-as-string.json"] {
        let app = app_with(CATALOG, "http://127.0.0.1:9/score");
        let (status, v) = invoke(&app, "Runs", fixture(name)).await;
        assert_eq!(status, 200);
        let res = &v["Outputs"]["res"];
        assert_eq!(res["statusCode"], 200, "{v}");
        let body: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
        assert!(body["runs"].is_array());
    }
}

#[tokio::test]
async fn no_request_shape_panics_or_hangs() {
    let app = app_with(CATALOG, "http://127.0.0.1:9/score");
    let huge = format!("{{\"Data\":{{\"msg\":\"{}\"}},\"Metadata\":{{}}}}", "x".repeat(3 * 1024 * 1024));
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"Data\"".to_vec(),
        b"{\"Data\":".to_vec(),
        b"{\"Data\":null,\"Metadata\":null}".to_vec(),
        b"{\"Data\":{\"msg\":null}}".to_vec(),
        b"{\"Data\":{\"msg\":12},\"Metadata\":{\"sys\":12}}".to_vec(),
        b"{\"Data\":{\"evt\":[1,2]},\"Metadata\":{\"sys\":{\"UtcNow\":\"not a date\"}}}".to_vec(),
        b"{\"Data\":{\"myTimer\":\"\\\"oops\\\"\"}}".to_vec(),
        b"{\"Data\":{\"req\":{\"Query\":{\"limit\":\"-1\"}}}}".to_vec(),
        b"{\"data\":{\"msg\":\"{\\\"flowgate_message\\\":\\\"flowgate.dispatch.v1\\\",\\\"job\\\":\\\"nope\\\",\\\"logical_time\\\":\\\"2026-11-13T02:40:00Z\\\",\\\"attempt\\\":1,\\\"trigger\\\":{\\\"type\\\":\\\"schedule\\\"}}\"}}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x01],
        huge.into_bytes(),
        deep.into_bytes(),
    ];
    for function in flowgate::edge::FUNCTIONS {
        for body in &bodies {
            let r = tokio::time::timeout(Duration::from_secs(10), invoke(&app, function, body.clone())).await;
            let (status, v) = r.unwrap_or_else(|_| panic!("{function} hung"));
            assert!(status < 500 || status == 500 && v["Logs"].is_array(), "{function}: {status} {v}");
            if !["Runs", "Quarantine"].contains(&function) && status == 200 {
                assert_invocation_shape(&v);
            }
        }
    }
    // An unknown job is quarantined, not retried.
    let items = app.store.query(Table::QUARANTINE, Some("run"), RowRange::default(), 10).await.unwrap();
    assert!(items.iter().any(|i| i.body["reason"].as_str().unwrap().contains("not in the active catalog")));
}
