//! A simulated fortnight under `flowgate local` (virtual clock) with late and missing upstream
//! runs: dependency waits, one SLA warning and one breach per late run, blocked downstream runs,
//! skipped slots with reasons, and a stale-data alert for a feed that stops.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

const CATALOG: &str = r#"
version: 1
timezone: Europe/London
defaults:
  retry: { max_attempts: 3, initial_delay: 20m, multiplier: 1.0, max_delay: 20m }
datasets:
  feed:
    location: landing/feed/
    format: jsonl
    expected_every: 6h
jobs:
  extract:
    kind: http
    endpoint: ${FAKE_URL}
    schedule: "0 0 6 * * *"
    request: { body: { job: extract } }
    sla: { complete_within: 30m, warn_before: 10m }
  extract_weekdays:
    kind: http
    endpoint: ${FAKE_URL}
    schedule: "0 0 6 * * Mon-Fri"
    request: { body: { job: extract_weekdays } }
  score:
    kind: http
    endpoint: ${FAKE_URL}
    schedule: "0 0 6 * * *"
    depends_on: [extract]
    wait: { limit: 3h }
    request: { body: { job: score } }
    sla: { complete_within: 2h, warn_before: 30m }
  report:
    kind: http
    endpoint: ${FAKE_URL}
    depends_on: [score]
    request: { body: { job: report } }
  combine:
    kind: http
    endpoint: ${FAKE_URL}
    schedule: "0 0 7 * * *"
    depends_on: [extract_weekdays]
    wait: { limit: 3h, window: 2h }
    request: { body: { job: combine } }
  poll:
    kind: http
    endpoint: ${FAKE_URL}
    schedule: "0 0,30 12 * * *"
    overlap: skip
    retry: { max_attempts: 2, initial_delay: 45m, max_delay: 45m }
    request: { body: { job: poll } }
"#;

/// Per job, the statuses to answer in order (then 200).
type Scripts = Arc<Mutex<HashMap<String, Vec<u16>>>>;

async fn answer(State(scripts): State<Scripts>, Json(body): Json<Value>) -> Response {
    let job = body["job"].as_str().unwrap_or("").to_string();
    let status = {
        let mut s = scripts.lock().unwrap();
        let list = s.entry(job).or_default();
        if list.is_empty() {
            200
        } else {
            list.remove(0)
        }
    };
    if status == 200 {
        Json(json!({"ok": true})).into_response()
    } else {
        (StatusCode::from_u16(status).unwrap(), Json(json!({"error": "scripted"}))).into_response()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fortnight_with_late_and_missing_upstream_runs() {
    // extract: day 3 fails twice then succeeds 40 minutes late; day 6 fails all three attempts.
    // poll: the first attempt of its first slot fails, so the 12:30 slot finds it still retrying.
    let scripts: Scripts = Arc::new(Mutex::new(HashMap::from([
        ("extract".to_string(), vec![200, 200, 503, 503, 200, 200, 200, 503, 503, 503]),
        ("poll".to_string(), vec![503]),
    ])));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/score", listener.local_addr().unwrap());
    let app = Router::new().route("/score", post(answer)).with_state(scripts.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.yaml");
    std::fs::write(&catalog, CATALOG).unwrap();
    let state = dir.path().join("state");
    // The feed lands every 4 hours for the first 9 days, then stops.
    let feed = state.join("data/landing/feed");
    std::fs::create_dir_all(&feed).unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
    for i in 1..=(9 * 6) {
        let at = start + chrono::Duration::hours(4 * i);
        let path = feed.join(format!("{i:03}.jsonl"));
        std::fs::write(&path, "{\"n\":1}\n").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(at.timestamp() as u64)).unwrap();
    }

    let run = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_flowgate"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["local", "--from", "2026-11-02T00:00:00Z", "--days", "14", "--catalog"])
            .arg(&catalog)
            .arg("--state")
            .arg(&state)
            .env("FAKE_URL", &url)
            .env("FLOWGATE_RETRY_JITTER", "none")
            .output()
            .unwrap()
    });
    let out = run.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let state = dir.path().join("state");

    let runs: Vec<Value> = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_flowgate"))
            .args(["runs", "--json", "--limit", "1000", "--state"])
            .arg(&state)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let of = |job: &str, status: &str| runs.iter().filter(|r| r["job"] == job && r["status"] == status).count();
    let find =
        |job: &str, t: &str| runs.iter().find(|r| r["job"] == job && r["logical_time"] == t).unwrap_or_else(|| panic!("no run {job}@{t}"));

    // extract: 13 good days (day 3 late), day 6 failed after three attempts.
    assert_eq!((of("extract", "succeeded"), of("extract", "failed")), (13, 1), "{stdout}");
    assert_eq!(find("extract", "2026-11-04T06:00:00Z")["attempts"], 3);
    // score waited for day 3's late extract, and was blocked by day 6's failure.
    let waited = find("score", "2026-11-04T06:00:00Z");
    assert_eq!(waited["status"], "succeeded");
    assert!(waited["reason"].as_str().unwrap().contains("started after waiting 41m"), "{waited}");
    let blocked = find("score", "2026-11-07T06:00:00Z");
    assert_eq!(blocked["status"], "blocked");
    assert!(blocked["reason"].as_str().unwrap().contains("upstream `extract` run 2026-11-07T06:00:00.000Z ended failed"), "{blocked}");
    assert_eq!((of("score", "succeeded"), of("score", "blocked")), (13, 1));
    // report runs after score only, and is blocked downstream of the blocked score.
    assert_eq!((of("report", "succeeded"), of("report", "blocked")), (13, 1));
    // combine: the weekday extract never runs at weekends; combine gives up after 3 hours.
    assert_eq!((of("combine", "succeeded"), of("combine", "blocked")), (10, 4));
    let weekend = find("combine", "2026-11-07T07:00:00Z");
    assert!(weekend["reason"].as_str().unwrap().contains("gave up after waiting 3h for `extract_weekdays` (no run yet)"), "{weekend}");
    // poll: the 12:30 slot of the first day is skipped while 12:00 is still retrying.
    let skipped = find("poll", "2026-11-02T12:30:00Z");
    assert_eq!(skipped["status"], "skipped");
    assert!(skipped["reason"].as_str().unwrap().contains("(overlap: skip)"), "{skipped}");
    assert_eq!(of("poll", "skipped"), 1);

    // Alerts: one warning and one breach per late or failed extract, one each for the blocked
    // score, one stale-data alert for the feed; each fires once, repeats only daily (Sev3) while
    // the work is not delivered, and resolves once when it is (the late extract of day 3).
    let alerts: Vec<Value> =
        std::fs::read_to_string(state.join("alerts.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let sends = |name: &str, key: &str| -> Vec<&Value> {
        alerts
            .iter()
            .filter(|a| a["alertname"] == name && a["labels"].as_object().unwrap().values().any(|v| v.as_str().unwrap().starts_with(key)))
            .collect()
    };
    let first =
        |v: &[&Value]| v.iter().filter(|a| a["status"] == "firing" && !a["notification"].as_str().unwrap().contains(".repeat")).count();
    let resolves = |v: &[&Value]| v.iter().filter(|a| a["status"] == "resolved").count();
    for (name, key) in [
        ("SlaWarning", "extract@2026-11-04"),
        ("SlaBreach", "extract@2026-11-04"),
        ("SlaWarning", "extract@2026-11-07"),
        ("SlaBreach", "extract@2026-11-07"),
        ("SlaWarning", "score@2026-11-07"),
        ("SlaBreach", "score@2026-11-07"),
        ("StaleData", "feed"),
    ] {
        let v = sends(name, key);
        assert_eq!(first(&v), 1, "{name} {key} fires once: {v:#?}");
        let at: Vec<chrono::DateTime<chrono::Utc>> = v.iter().map(|a| a["at"].as_str().unwrap().parse().unwrap()).collect();
        assert!(at.windows(2).all(|w| w[1] - w[0] >= chrono::Duration::hours(24) || v[1]["status"] == "resolved"), "{name} {key}: {at:?}");
    }
    assert_eq!(resolves(&sends("SlaBreach", "extract@2026-11-04")), 1, "delivered late: resolved once");
    assert_eq!(resolves(&sends("SlaBreach", "extract@2026-11-07")), 0, "never delivered: still firing");
    assert_eq!(resolves(&sends("SlaWarning", "extract@2026-11-04")), 0, "a warning is information: no resolve");
    // The day-6 breach repeats once a day from 2026-11-07 06:30 to the end of the fortnight.
    assert_eq!(sends("SlaBreach", "extract@2026-11-07").len(), 9, "{:#?}", sends("SlaBreach", "extract@2026-11-07"));
    let stale = sends("StaleData", "feed");
    assert_eq!(stale[0]["starts_at"], "2026-11-11T06:00:00Z");
    assert!(stdout.contains("alerts      sla breach 3, sla warning 3, stale data 1"), "{stdout}");
}
