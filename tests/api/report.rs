//! `flowgate report`: the weekly report of a state — its figures from the run records, the same
//! bytes twice, and every bad input a clear exit 2.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use flowgate::adapters::local::SqliteStore;
use flowgate::domain::ids::JobId;
use flowgate::domain::run::{RunRecord, RunStatus, RunTrigger};
use flowgate::ports::{Store, Table};
use serde_json::Value;

fn report(state: &Path, out: &Path, week: &str, tz: &str) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .args(["report", "--week", week, "--tz", tz, "--state"])
        .arg(state)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout))
}

async fn put(store: &dyn Store, job: &str, due: DateTime<Utc>, status: RunStatus, attempts: u32, took: Duration) {
    let mut r = RunRecord::pending(JobId::parse(job).unwrap(), due, RunTrigger::Schedule, due);
    r.status = status;
    r.attempts = attempts;
    r.started_at = Some(due);
    r.finished_at = Some(due + took);
    // `score` is due 10 s after its slot (slower runs are late), `extract` within the hour.
    r.sla_deadline = Some(due + if job == "score" { Duration::seconds(10) } else { Duration::hours(1) });
    (r.records_in, r.records_out) = (10, 9);
    flowgate::flows::runs::create(store, &r).await.unwrap();
}

/// W48's runs in London: 30 hourly `score` runs (three retried), and `extract` failing,
/// quarantined, recovering and then blocked, alerted about 10 minutes after it first failed; one
/// success the week before.
pub async fn fill(store: &dyn Store) {
    // W48 in London: Monday 23 November 2026, 00:00 GMT.
    let monday: DateTime<Utc> = "2026-11-23T00:00:00Z".parse().unwrap();
    for h in 0..30 {
        put(store, "score", monday + Duration::hours(h), RunStatus::Succeeded, 1 + u32::from(h % 10 == 0), Duration::seconds(h + 1)).await;
    }
    put(store, "extract", monday + Duration::hours(40), RunStatus::Failed, 4, Duration::minutes(30)).await;
    put(store, "extract", monday + Duration::hours(42), RunStatus::Quarantined, 1, Duration::minutes(1)).await;
    put(store, "extract", monday + Duration::hours(45), RunStatus::Succeeded, 1, Duration::minutes(2)).await;
    put(store, "extract", monday + Duration::hours(50), RunStatus::Blocked, 0, Duration::zero()).await;
    // `publish` meets its SLA on Friday.
    put(store, "publish", monday + Duration::hours(100), RunStatus::Succeeded, 1, Duration::seconds(5)).await;
    // Last week: one success.
    put(store, "score", monday - Duration::days(3), RunStatus::Succeeded, 1, Duration::seconds(5)).await;
    let alert = flowgate::domain::alert::Alert {
        kind: flowgate::domain::alert::AlertKind::SlaBreach,
        subject: "extract".into(),
        key: "extract@2026-11-24T16:00:00Z".into(),
        raised_at: monday + Duration::hours(40) + Duration::minutes(40),
        due_at: monday + Duration::hours(40) + Duration::minutes(40),
        owner: None,
        message: "extract missed its deadline".into(),
        late: false,
    };
    store.insert(Table::ALERTS, "extract", &alert.id(), &serde_json::to_value(&alert).unwrap()).await.unwrap();
    // The monitor's records: the breach firing since Tuesday (sent twice), a breaker alert that
    // fired twice and resolved, one failed delivery, a silence, and the dispatch queue's depth.
    let breach = flowgate::domain::alerting::rules::from_signal(&alert).unwrap().0;
    let firing = flowgate::domain::alerting::AlertState {
        sends: 2,
        ..flowgate::domain::alerting::AlertState::opened(&breach, flowgate::domain::alerting::Until::Gauge, alert.raised_at)
    };
    store.insert(Table::ALERT_STATE, "open", &firing.fingerprint, &serde_json::to_value(&firing).unwrap()).await.unwrap();
    let mut flapped = flowgate::domain::alerting::AlertState {
        sends: 3,
        fired_count: 2,
        resolved_at: Some(monday + Duration::hours(30)),
        ..flowgate::domain::alerting::AlertState::opened(
            &flowgate::domain::alerting::rules::breaker_open("job", "extract", monday + Duration::hours(20), "5 failures"),
            flowgate::domain::alerting::Until::Gauge,
            monday + Duration::hours(20),
        )
    };
    flapped.alert.status = flowgate::domain::notify::Status::Resolved;
    let row = format!("{}|{}", flowgate::domain::ids::instant_key(monday + Duration::hours(30)), flapped.fingerprint);
    store.insert(Table::ALERT_STATE, "history", &row, &serde_json::to_value(&flapped).unwrap()).await.unwrap();
    let delivery = serde_json::json!({"notification": "n1", "receiver": "teams", "attempt": 1, "at": monday + Duration::hours(20),
        "outcome": "refused", "detail": "HTTP 400", "title": "FIRING · Sev2 · BreakerOpen · extract", "next_at": null});
    store
        .insert(
            Table::ALERT_STATE,
            "delivery",
            &format!("{}|n1|teams|1", flowgate::domain::ids::instant_key(monday + Duration::hours(20))),
            &delivery,
        )
        .await
        .unwrap();
    let silence = serde_json::json!({"name": "StaleData", "job": null, "until": monday + Duration::days(2), "by": "dev:bob", "reason": "feed outage"});
    store
        .insert(
            Table::ALERT_STATE,
            "silence",
            &format!("{}|StaleData|*", flowgate::domain::ids::instant_key(monday + Duration::hours(1))),
            &silence,
        )
        .await
        .unwrap();
    for (h, active) in [(0i64, 3u64), (1, 9), (26, 1)] {
        let hour = monday + Duration::hours(h);
        let mut d = flowgate::domain::metrics::queue::HourlyDepth::new("dispatch", hour);
        d.add(&flowgate::ports::QueueCounts { active, scheduled: 1, dead_letter: 0 }, hour + Duration::minutes(5));
        store
            .insert(
                Table::METRICS,
                "queue_depth",
                &format!("{}|dispatch", flowgate::domain::ids::instant_key(hour)),
                &serde_json::to_value(&d).unwrap(),
            )
            .await
            .unwrap();
    }
    // The quarantined run's item, replayed on Wednesday; a data item still open.
    let item = |id: &str, kind: &str, at: DateTime<Utc>, history: Value| serde_json::json!({"id": id, "kind": kind, "reason": "r", "at": at, "status": if history.as_array().unwrap().len() > 1 { "replayed" } else { "open" }, "history": history});
    let q1 = item(
        "q1",
        "run",
        monday + Duration::hours(42),
        serde_json::json!([{"at": monday + Duration::hours(42), "action": "quarantined", "by": "flowgate"}, {"at": monday + Duration::hours(50), "action": "replayed", "by": "dev:bob"}]),
    );
    let q2 = item(
        "q2",
        "data",
        monday + Duration::hours(60),
        serde_json::json!([{"at": monday + Duration::hours(60), "action": "quarantined", "by": "flowgate"}]),
    );
    store.insert(Table::QUARANTINE, "items", "q1", &q1).await.unwrap();
    store.insert(Table::QUARANTINE, "items", "q2", &q2).await.unwrap();
    // Dataset `feed`: accepted at −2, 10, 12 and 30 hours, one arrival rejected by its contract.
    for (h, passed) in [(-2, true), (10, true), (12, true), (20, false), (30, true)] {
        let at = monday + Duration::hours(h);
        let rec = serde_json::json!({"dataset": "feed", "container": "landing", "path": format!("feed/{h}.csv"), "size": 10, "content_type": null,
            "event_id": null, "arrived_at": at, "invocation_id": null, "contract_passed": passed, "schema_version": "1.0.0"});
        store.insert(Table::ARRIVALS, "feed", &format!("{}|feed/{h}.csv", at.to_rfc3339()), &rec).await.unwrap();
    }
    // The endpoint's breaker was open for 90 minutes on Tuesday.
    let tr = |h: f64, from: &str, to: &str| serde_json::json!({"at": monday + Duration::minutes((h * 60.0) as i64), "from": from, "to": to, "reason": "r"});
    let breaker = serde_json::json!({"state": "closed", "consecutive_failures": 0, "transitions": [tr(40.0, "closed", "open"), tr(41.5, "open", "closed")]});
    store.insert(Table::BREAKERS, "endpoint", "http:__extract", &breaker).await.unwrap();
}

/// A state folder holding `fill`'s records.
async fn fixture(dir: &Path) -> std::path::PathBuf {
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    fill(&SqliteStore::open(&state.join("state.db")).unwrap()).await;
    state
}

#[tokio::test]
async fn the_week_in_figures_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let state = fixture(dir.path()).await;

    let out = dir.path().join("w48");
    let (code, text) = report(&state, &out, "2026-W48", "Europe/London");
    assert_eq!(code, 0, "{text}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let w = &v["this_week"];
    assert_eq!((w["success"]["num"].as_u64(), w["success"]["den"].as_u64()), (Some(32), Some(34)), "retried successes count once");
    assert_eq!(w["outcomes"]["blocked"], 1);
    assert_eq!(w["retries"]["retries"], 3 + 3, "3 retried score runs and one run of 4 attempts");
    assert_eq!(w["duration_p95"]["value"], 30_000, "nearest rank: the 31st of 32 successes (1..30 s, 5 s and 120 s)");
    assert_eq!(v["last_week"]["success"]["den"], 1);
    assert_eq!(v["verdict"], "unstable", "the blocked extract has not recovered by the end of the week");
    assert_eq!(v["top_failing"][0]["job"], "extract");
    let eps = v["episodes"].as_array().unwrap();
    assert_eq!(eps.len(), 2, "one run episode recovered in 3 h 02 min, one data episode still open: {eps:?}");
    assert_eq!(eps[0]["recovery_secs"], (5 * 3600 + 2 * 60) - 30 * 60);
    assert_eq!(eps[0]["detect_secs"], 10 * 60, "the first alert about extract, 10 minutes after it failed");
    let q = &v["quarantine"];
    assert_eq!(
        (q["replayed"].as_u64(), q["outstanding_end"].as_u64(), q["new_by_kind"]["data"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{q}"
    );
    assert_eq!(v["breakers"][0]["open_secs"], 90 * 60);
    let a = &v["alerts"];
    assert_eq!((a["fired"].as_u64(), a["firing_at_end"].as_u64(), a["flapping"].as_u64()), (Some(2), Some(1), Some(1)), "{a}");
    assert_eq!((a["silences"].as_u64(), a["deliveries"].as_u64(), a["failed_deliveries"].as_u64()), (Some(1), Some(1), Some(1)), "{a}");
    assert_eq!(a["noisiest"][0]["name"], "BreakerOpen");
    let d = &v["queues"]["dispatch"];
    assert_eq!((d["hours_sampled"].as_u64(), d["max_active"].as_u64(), d["end_active"].as_u64()), (Some(3), Some(9), Some(1)), "{d}");
    // SLA: score met 10 times (1..10 s) and was late 20 times; extract met once (2 min) and missed
    // 3 times; publish met once.
    let sla = &v["sla"]["all"];
    assert_eq!((sla["met"].as_u64(), sla["late"].as_u64(), sla["missed"].as_u64()), (Some(12), Some(20), Some(3)), "{sla}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Quarantine: 0 at the start + 2 new (1 data, 1 run) − 1 replayed − 0 discarded = 1 at the end"), "{md}");
    assert!(md.contains("**Verdict: UNSTABLE**") && md.contains("| extract | 1 | 1 | 1 | 4 |"), "{md}");

    // Freshness, exact from the arrivals (threshold 6 h): fresh [0, 4), [10, 18) and [30, 36) hours
    // of the week = 18 h; the rejected arrival at 20 h changes nothing; the worst lag is the
    // 138 h from the last accepted arrival to the end of the week.
    let store = SqliteStore::open(&state.join("state.db")).unwrap();
    // `score` read as an evaluation job: its 30 runs scored 10 items each, 9 passed; extract's
    // failed run counts as errored when extract is one.
    let inputs = flowgate::flows::report::ReportInputs {
        thresholds: [("feed".to_string(), std::time::Duration::from_secs(6 * 3600))].into(),
        evaluation_jobs: ["score".to_string(), "extract".to_string()].into(),
    };
    let week = flowgate::domain::report::IsoWeek::parse("2026-W48").unwrap();
    let audit = flowgate::adapters::local::SqliteAudit::open(&state.join("audit.db")).unwrap();
    use flowgate::ports::AuditSink;
    for (h, kind) in [(3, flowgate::domain::audit::AuditKind::ReleasePromoted), (4, flowgate::domain::audit::AuditKind::Attempted)] {
        let at = "2026-11-23T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(h);
        let draft = flowgate::domain::audit::AuditDraft {
            at,
            kind,
            actor: "dev:bob".into(),
            subject: "r1".into(),
            decision: "promoted r1".into(),
            evidence: serde_json::json!({}),
            invocation_id: None,
        };
        audit.append(draft).await.unwrap();
    }
    let r = flowgate::flows::report::weekly(&store, Some(&audit), week, "Europe/London".parse().unwrap(), &inputs).await.unwrap();
    let f = &r.freshness[0];
    assert_eq!((f.fresh_secs, f.accepted, f.rejected), (18 * 3600, 3, 1), "{f:?}");
    assert_eq!(f.worst_lag_secs, Some(138 * 3600));
    let score = &r.evaluators["score"];
    assert_eq!((score.runs, score.pass_rate.num, score.pass_rate.den, score.errored_runs), (30, 270, 300, 0));
    assert_eq!((r.evaluators["extract"].errored_runs, r.evaluators["extract"].runs), (2, 4), "failed and quarantined");
    assert_eq!(r.changes.items.len(), 1, "a promotion is a change; an attempt is not: {:?}", r.changes);
    assert_eq!(r.changes.by_kind["release_promoted"], 1);
    let md = flowgate::domain::report::markdown::render(&r);
    assert!(md.contains("| score | 30 | 90.0 % (n 300) | 0 |") && md.contains("1 release promoted"), "{md}");

    // The same bytes on a second run (both after the audit events above).
    let (once, again) = (dir.path().join("once"), dir.path().join("again"));
    assert_eq!(report(&state, &once, "2026-W48", "Europe/London").0, 0);
    assert_eq!(report(&state, &again, "2026-W48", "Europe/London").0, 0);
    for f in ["report.json", "report.md", "report.html"] {
        let (a, b) = (std::fs::read_to_string(once.join(f)).unwrap(), std::fs::read_to_string(again.join(f)).unwrap());
        assert!(a == b, "{f} differs between two runs");
    }
    assert!(std::fs::read_to_string(once.join("report.md")).unwrap().contains("## Changes"));

    // An empty week: a correct report of zeros.
    let (code, text) = report(&state, &dir.path().join("w10"), "2026-W10", "UTC");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("STABLE") && text.contains("– (n 0)"), "{text}");

    // Bad input: exit 2, a clear message.
    for (week, tz, out, says) in [
        ("2025-W53", "UTC", "x1", "2025 has weeks 1 to 52"),
        ("2026-48", "UTC", "x2", "is not an ISO week"),
        ("2026-W48", "Mars/Olympus", "x3", "is not an IANA time zone"),
        ("2026-W48", "UTC", "w48", "is not empty"),
    ] {
        let (code, text) = report(&state, &dir.path().join(out), week, tz);
        assert_eq!(code, 2, "{week} {tz}: {text}");
        assert!(text.contains(says), "{text}");
    }
    let (code, text) = report(&dir.path().join("nothing"), &dir.path().join("x4"), "2026-W48", "UTC");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("holds no flowgate state"), "{text}");
}

/// The page in headless Chromium (Debian's `chromium`, installed by `scripts/test`, which sets
/// `FLOWGATE_CHROMIUM`): the screenshot (kept under `target/test-artefacts/`) must show every chart
/// — each chart's colours counted in its pixels by `tests/report/png_colors.py`, a reader of its
/// own — and a page with nothing on it fails.
#[tokio::test]
async fn the_report_renders_in_headless_chromium_with_every_chart() {
    let Some(chromium) = std::env::var_os("FLOWGATE_CHROMIUM") else {
        assert!(std::env::var_os("FLOWGATE_REQUIRE_CHROMIUM").is_none(), "FLOWGATE_REQUIRE_CHROMIUM is set but FLOWGATE_CHROMIUM is not");
        eprintln!("skipped: FLOWGATE_CHROMIUM is not set (scripts/test installs Debian's chromium and sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = fixture(dir.path()).await;
    let out = dir.path().join("w48");
    assert_eq!(report(&state, &out, "2026-W48", "Europe/London").0, 0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"), "no script, nothing fetched");
    assert_eq!(html.matches("<svg role=\"img\"").count(), 4);
    assert_eq!(html.matches("<title id=").count(), 4, "each chart has a title");
    let artefacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let shot = |page: &Path, png: &str| {
        let path = artefacts.join(png);
        let o = Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"])
            .args(["--disable-component-update", "--disable-sync", "--hide-scrollbars", "--window-size=1000,3400"])
            .arg(format!("--user-data-dir={}", dir.path().join("chromium").display()))
            .arg(format!("--screenshot={}", path.display()))
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        assert!(o.status.success() && path.is_file(), "chromium: {}", String::from_utf8_lossy(&o.stderr));
        let colours = [
            ("succeeded", "2e7d32"),
            ("failed", "c62828"),
            ("quarantined", "6a1b9a"),
            ("blocked", "f9a825"),
            ("p50", "1565c0"),
            ("p95", "00838f"),
            ("top failing", "ad1457"),
            ("SLA met", "388e3c"),
            ("SLA late", "ef6c00"),
            ("SLA missed", "b71c1c"),
        ];
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report/png_colors.py");
        let o = Command::new("python3").arg(script).arg(&path).args(colours.iter().map(|(_, c)| c)).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        (v, colours)
    };
    let (v, colours) = shot(&out.join("report.html"), "report-2026-W48.png");
    assert!(v["distinct"].as_u64().unwrap() > 20, "a page with something on it: {v}");
    for (what, c) in colours {
        // A legend square is about 100 pixels: a bar is far more.
        assert!(v["counts"][c].as_u64().unwrap() > 300, "the {what} bars are not visible: {v}");
    }
    // The check fails on a blank page.
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let (v, colours) = shot(&blank, "blank.png");
    assert!(v["distinct"].as_u64().unwrap() <= 2 && colours.iter().all(|(_, c)| v["counts"][c] == 0), "{v}");
}

#[tokio::test]
async fn the_stability_report_timer_stores_last_week_and_posts_its_summary_once() {
    let app = crate::helpers::app_with("version: 1\ntimezone: Europe/London\njobs: {}\n", "http://127.0.0.1:9/score");
    fill(&app.store).await;
    let timer = |at: &str| {
        serde_json::json!({"Data": {"reportTimer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": false}},
            "Metadata": {"sys": {"MethodName": "StabilityReport", "UtcNow": at, "RandGuid": "x"}}})
        .to_string()
    };
    let (status, v) = crate::helpers::invoke(&app, "StabilityReport", timer("2026-11-30T06:00:00Z")).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["Logs"][0].as_str().unwrap().contains("report 2026-W48 written (Unstable); summary posted"), "{v}");
    let folder = app.dir.path().join("data/reports/2026-W48");
    let html = std::fs::read(folder.join("report.html")).unwrap();
    let json: Value = serde_json::from_slice(&std::fs::read(folder.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["week"], "2026-W48");
    assert!(std::fs::read_to_string(folder.join("report.md")).unwrap().contains("## Alert hygiene"));
    // A second run (the host retrying, a second instance): the same bytes, no second post.
    let (_, v) = crate::helpers::invoke(&app, "StabilityReport", timer("2026-11-30T06:00:30Z")).await;
    assert!(v["Logs"][0].as_str().unwrap().contains("summary already posted"), "{v}");
    assert_eq!(std::fs::read(folder.join("report.html")).unwrap(), html);
    let posted = std::fs::read_to_string(app.dir.path().join("alerts.jsonl")).unwrap();
    assert_eq!(posted.lines().filter(|l| l.contains("StabilityReport")).count(), 1, "{posted}");
    assert!(posted.contains("Weekly stability report 2026-W48: UNSTABLE"), "{posted}");
}

/// The report reads runs page by page and keeps, of the runs before last week, only what decides
/// an episode still open: a job broken for two months shows an episode two months old, however
/// many failures (more than a trim's worth) came since its last success.
#[tokio::test]
async fn old_history_is_trimmed_without_changing_an_open_episode() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let store = SqliteStore::open(&state.join("state.db")).unwrap();
    let monday: DateTime<Utc> = "2026-11-23T00:00:00Z".parse().unwrap();
    let broke = monday - Duration::days(60);
    for h in 0..2_000 {
        // Healthy (and a thousand runs of another job) long before; broken from 60 days before.
        put(&store, "healthy", broke - Duration::days(90) + Duration::hours(h), RunStatus::Succeeded, 1, Duration::seconds(1)).await;
    }
    put(&store, "broken", broke - Duration::hours(1), RunStatus::Succeeded, 1, Duration::seconds(1)).await;
    for h in 0..(60 * 24 + 100) {
        put(&store, "broken", broke + Duration::hours(h), RunStatus::Failed, 3, Duration::seconds(1)).await;
    }
    let out = dir.path().join("w48");
    let (code, text) = report(&state, &out, "2026-W48", "UTC");
    assert_eq!(code, 0, "{text}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let eps = v["episodes"].as_array().unwrap();
    assert_eq!(eps.len(), 1, "{eps:?}");
    assert_eq!(eps[0]["job"], "broken");
    assert_eq!(eps[0]["opened"], (broke + Duration::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    assert_eq!(eps[0]["bad_runs"], 60 * 24 + 100, "every failure since it broke");
    assert_eq!(v["this_week"]["outcomes"]["failed"], 100, "{}", v["this_week"]);
}
