//! The claims catalog, unchanged, against the real prompt flow served by `pf flow serve`
//! (`scripts/test` installs promptflow-devkit into a venv, serves `examples/claims/flow` on a free
//! port and sets `FLOWGATE_PF_SCORING_URL`). Under `scripts/test` a missing server is a failure
//! (`FLOWGATE_REQUIRE_PF=1`); a bare `cargo test` skips this test and says so.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use chrono::{TimeZone, Utc};
use flowgate::domain::catalog::model::DataFormat;
use flowgate::flows::inputs::parse_records;
use flowgate::local_host::demo;
use serde_json::Value;

fn inputs_by_claim(dir: &Path, out: &mut HashMap<String, String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            inputs_by_claim(&p, out);
            continue;
        }
        if p.to_string_lossy().ends_with(flowgate::ports::SIDECAR_SUFFIX) {
            continue;
        }
        let format = if p.extension().is_some_and(|x| x == "csv") { DataFormat::Csv } else { DataFormat::Jsonl };
        for rec in parse_records(&std::fs::read(&p).unwrap(), format).unwrap() {
            out.insert(rec["claim_id"].as_str().unwrap().to_string(), rec["body"].as_str().unwrap().to_string());
        }
    }
}

#[test]
fn the_claims_catalog_runs_unchanged_against_pf_flow_serve() {
    let Ok(url) = std::env::var("FLOWGATE_PF_SCORING_URL") else {
        assert!(std::env::var_os("FLOWGATE_REQUIRE_PF").is_none(), "FLOWGATE_REQUIRE_PF is set but no prompt flow server was given");
        eprintln!("skipped: FLOWGATE_PF_SCORING_URL is not set (scripts/test serves the prompt flow and sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // A Tuesday: every file is good (the demo's broken file lands on Mondays).
    let from = Utc.with_ymd_and_hms(2026, 11, 3, 0, 0, 0).unwrap();
    let files = demo::generate_week(&state.join("data"), from, 1).unwrap();
    assert_eq!(files, 22);
    let out = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["local", "--catalog", "examples/claims/catalog.yaml", "--from", "2026-11-03T00:00:00Z", "--days", "1", "--state"])
        .arg(&state)
        .env("CLAIMS_SCORING_URL", &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("runs        22 (succeeded 22)"), "{stdout}");

    // Every classification the flow returned agrees with the demo scorer's rules.
    let mut bodies = HashMap::new();
    inputs_by_claim(&state.join("data/landing"), &mut bodies);
    let mut checked = 0;
    for job in ["classify_correspondence", "triage_urgent"] {
        for e in std::fs::read_dir(state.join("data/curated/claims/classified").join(job)).unwrap().flatten() {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                let claim = v["claim_id"].as_str().unwrap();
                let (label, confidence) = demo::classify(&bodies[claim]);
                assert_eq!(v["output"]["label"], label.as_str(), "{claim}: {line}");
                assert!((v["output"]["confidence"].as_f64().unwrap() - confidence).abs() < 1e-9, "{claim}: {line}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, bodies.len(), "every input record was classified once");
}

/// The real flow's own refusal: a request without the flow's `text` input is answered 400 with a
/// UserError body. flowgate quarantines the run at once (no retry) with that body as evidence.
#[tokio::test]
async fn the_real_flow_refusing_a_request_quarantines_the_run_with_its_answer() {
    use flowgate::domain::ids::{InvocationId, JobId, RunKey};
    use flowgate::domain::messages::DispatchMessage;
    use flowgate::domain::run::RunTrigger;
    use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput, DispatchReport};
    let Ok(url) = std::env::var("FLOWGATE_PF_SCORING_URL") else {
        assert!(std::env::var_os("FLOWGATE_REQUIRE_PF").is_none(), "FLOWGATE_REQUIRE_PF is set but no prompt flow server was given");
        eprintln!("skipped: FLOWGATE_PF_SCORING_URL is not set (scripts/test serves the prompt flow and sets it)");
        return;
    };
    let catalog = r#"
version: 1
timezone: UTC
jobs:
  classify:
    kind: http
    endpoint: ${TEST_SCORING_URL}
    schedule: "0 0 * * * *"
    request: { body: { subject: "no text field" } }
"#;
    let app = crate::helpers::app_with(catalog, &url);
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let key = RunKey::new(JobId::parse("classify").unwrap(), at);
    let input =
        DispatchInput { message: DispatchMessage::new(&key, 1, RunTrigger::Schedule), now: at, invocation: InvocationId::generate() };
    let r = dispatch_run(&app.deps, input).await.unwrap();
    assert!(
        matches!(&r, DispatchReport::Quarantined { reason } if reason.contains("HTTP 400") && reason.contains("Required input fields ['text'] are missing")),
        "{r:?}"
    );
    let (item, _, _) = flowgate::flows::quarantine::find(app.deps.store.as_ref(), &key.to_string()).await.unwrap();
    assert_eq!(item.attempts, 1, "a 400 is not retried");
}
