//! Data contracts in the flows: DataArrived checks each blob and quarantines failures; runs are
//! held by contract and freshness gates, retried per policy, then blocked. And the CLI.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use flowgate::domain::ids::{InvocationId, JobId, RunKey};
use flowgate::domain::messages::DispatchMessage;
use flowgate::domain::run::RunTrigger;
use flowgate::flows::data_arrived::{data_arrived, ArrivalReport, BlobCreated};
use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput, DispatchReport};
use flowgate::ports::{RowRange, Store, Table};

use crate::helpers::{app_with, scoring::FakeScoring, TestApp};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn catalog() -> String {
    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/claims/contracts/claims_correspondence.odcs.yaml");
    format!(
        r#"
version: 1
datasets:
  inbox:
    location: landing/inbox/
    format: csv
    contract: {}
    expected_every: 2h
  out:
    location: curated/out/
    format: jsonl
jobs:
  on_inbox:
    kind: http
    endpoint: ${{TEST_SCORING_URL}}
    on_arrival: inbox
    inputs: [inbox]
    outputs: [out]
    request: {{ fields: {{ text: body }}, key: claim_id }}
  hourly:
    kind: http
    endpoint: ${{TEST_SCORING_URL}}
    schedule: "0 15 * * * *"
    inputs: [inbox]
    outputs: [out]
    request: {{ fields: {{ text: body }}, key: claim_id }}
    retry: {{ max_attempts: 2, initial_delay: 1m, max_delay: 1m }}
"#,
        contract.display()
    )
}

async fn app(url: &str) -> TestApp {
    let mut app = app_with(&catalog(), url);
    app.deps.contracts = Arc::new(flowgate::app::load_contracts(&app.deps.catalog).unwrap());
    app
}

fn land(app: &TestApp, name: &str, csv: &str, schema_version: Option<&str>) {
    let dir = app.dir.path().join("data/landing/inbox");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), csv).unwrap();
    if let Some(v) = schema_version {
        std::fs::write(dir.join(format!("{name}.meta.json")), format!("{{\"schema_version\":\"{v}\"}}")).unwrap();
    }
}

async fn arrive(app: &TestApp, name: &str, at: &str) -> ArrivalReport {
    let event = BlobCreated {
        container: "landing".into(),
        path: format!("inbox/{name}"),
        size: None,
        content_type: None,
        event_id: None,
        event_time: t(at),
    };
    data_arrived(&app.deps, event, t(at), &InvocationId::generate()).await.unwrap()
}

const GOOD: &str =
    "claim_id,received_at,channel,body,policyholder_email\nC1,2026-11-27T09:30:00Z,email,my car was stolen,ann@example.com\n";
const BAD: &str = "claim_id,received_at,channel,body,policyholder_email\nC1,2026-11-27T09:30:00Z,fax,,ann@example.com\nC1,2026-11-27T09:31:00Z,email,x,\n";

#[tokio::test]
async fn a_passing_blob_triggers_its_job_and_a_failing_one_is_quarantined() {
    let fake = FakeScoring::default();
    let app = app(&fake.start().await).await;
    land(&app, "good.csv", GOOD, Some("1.0.0"));
    let r = arrive(&app, "good.csv", "2026-11-27T10:00:00Z").await;
    assert!(matches!(&r, ArrivalReport::Recorded { enqueued, .. } if enqueued.len() == 1), "{r:?}");

    land(&app, "bad.csv", BAD, Some("1.0.0"));
    let r = arrive(&app, "bad.csv", "2026-11-27T10:05:00Z").await;
    let ArrivalReport::Rejected { reason, .. } = &r else { panic!("{r:?}") };
    assert!(reason.contains("claim_id unique") && reason.contains("channel invalidValues"), "{reason}");
    let runs = app.store.query(Table::RUNS, Some("on_inbox"), RowRange::default(), 10).await.unwrap();
    assert_eq!(runs.len(), 1, "no run for the rejected blob");
    let items = app.store.query(Table::QUARANTINE, Some("data"), RowRange::default(), 10).await.unwrap();
    assert_eq!(items.len(), 1);
    let evidence = items[0].body.to_string();
    assert!(evidence.contains("failed_rules") && evidence.contains("nullValues"), "{evidence}");
    assert!(!evidence.contains("ann@example.com"), "PII never reaches a quarantine record");
    assert!(app.dir.path().join("data/landing/inbox/bad.csv").is_file(), "the original stays untouched");

    // No schema_version stamped: rejected by the version pin.
    land(&app, "unstamped.csv", GOOD, None);
    let r = arrive(&app, "unstamped.csv", "2026-11-27T10:06:00Z").await;
    assert!(matches!(&r, ArrivalReport::Rejected { reason, .. } if reason.contains("schemaVersion")), "{r:?}");
    land(&app, "v2.csv", GOOD, Some("2.0.0"));
    let r = arrive(&app, "v2.csv", "2026-11-27T10:07:00Z").await;
    assert!(matches!(&r, ArrivalReport::Rejected { .. }), "{r:?}");
}

#[tokio::test]
async fn blobs_arriving_in_one_millisecond_are_each_run_once() {
    let fake = FakeScoring::default();
    let app = app(&fake.start().await).await;
    for name in ["a.csv", "b.csv", "c.csv"] {
        land(&app, name, GOOD, Some("1.0.0"));
        arrive(&app, name, "2026-11-27T10:00:00.123Z").await;
    }
    // The same events again (Event Grid delivers at least once), in another order.
    for name in ["c.csv", "a.csv"] {
        let r = arrive(&app, name, "2026-11-27T10:00:00.123Z").await;
        assert!(matches!(&r, ArrivalReport::Recorded { duplicate: true, .. }), "{r:?}");
    }
    let runs = app.store.query(Table::RUNS, Some("on_inbox"), RowRange::default(), 10).await.unwrap();
    let mut paths: Vec<(String, String)> =
        runs.iter().map(|e| (e.row.clone(), e.body["trigger"]["path"].as_str().unwrap_or_default().to_string())).collect();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            ("2026-11-27T10:00:00.123Z".to_string(), "inbox/a.csv".to_string()),
            ("2026-11-27T10:00:00.124Z".to_string(), "inbox/b.csv".to_string()),
            ("2026-11-27T10:00:00.125Z".to_string(), "inbox/c.csv".to_string()),
        ],
        "one run per blob, a millisecond apart"
    );
}

#[tokio::test]
async fn gates_hold_a_run_then_block_it_and_record_why() {
    let fake = FakeScoring::default();
    let app = app(&fake.start().await).await;
    let key = RunKey::new(JobId::parse("hourly").unwrap(), t("2026-11-27T10:15:00Z"));
    let input = |attempt: u32, now: &str| DispatchInput {
        message: DispatchMessage::new(&key, attempt, RunTrigger::Schedule),
        now: t(now),
        invocation: InvocationId::generate(),
    };
    // Nothing has arrived: both gates hold the run.
    let r = dispatch_run(&app.deps, input(1, "2026-11-27T10:15:00Z")).await.unwrap();
    let DispatchReport::RetryScheduled { reason, .. } = &r else { panic!("{r:?}") };
    assert!(
        reason.contains("contract gate on `inbox`: no arrival has been checked")
            && reason.contains("freshness gate on `inbox`: nothing has arrived"),
        "{reason}"
    );
    // A failing arrival lands: the contract gate still holds; attempts run out: blocked.
    land(&app, "bad.csv", BAD, Some("1.0.0"));
    arrive(&app, "bad.csv", "2026-11-27T10:15:30Z").await;
    let r = dispatch_run(&app.deps, input(2, "2026-11-27T10:16:00Z")).await.unwrap();
    let DispatchReport::Blocked { reason } = &r else { panic!("{r:?}") };
    assert!(reason.contains("claims_correspondence.claim_id unique observed 1 must be = 0 (rows 2)"), "{reason}");
    let rec = app.store.get(Table::RUNS, "hourly", &key.row()).await.unwrap().unwrap().body;
    assert_eq!(rec["status"], "blocked");
    assert_eq!(rec["gate"]["passed"], false);
    assert_eq!(rec["gate"]["checks"][1]["gate"], "freshness");
    assert_eq!(rec["gate"]["checks"][1]["passed"], true);
    assert_eq!(fake.call_count(), 0, "a held run sends nothing");
    // A good arrival later: the next slot passes its gates and reads only the good blob.
    land(&app, "good.csv", &GOOD.replace("09:30", "10:55"), Some("1.0.0"));
    arrive(&app, "good.csv", "2026-11-27T11:00:00Z").await;
    let key2 = RunKey::new(JobId::parse("hourly").unwrap(), t("2026-11-27T11:15:00Z"));
    let r = dispatch_run(
        &app.deps,
        DispatchInput {
            message: DispatchMessage::new(&key2, 1, RunTrigger::Schedule),
            now: t("2026-11-27T11:15:00Z"),
            invocation: InvocationId::generate(),
        },
    )
    .await
    .unwrap();
    assert_eq!(r, DispatchReport::Succeeded { attempts: 1, records: 1 });
}

fn flowgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn contract_check_exit_codes_and_ugly_files() {
    let dir = tempfile::tempdir().unwrap();
    let contract = "examples/claims/contracts/claims_correspondence.odcs.yaml";
    let run = |name: &str, bytes: &[u8], extra: &[&str]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = flowgate()
            .args(["contract", "check", "--contract", contract, "--now", "2026-11-27T10:00:00Z", "--data"])
            .arg(&p)
            .args(extra)
            .output()
            .unwrap();
        (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, out, _) = run("good.csv", GOOD.as_bytes(), &[]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run("bad.csv", BAD.as_bytes(), &["--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["passed"], false);
    assert!(v["rules"].as_array().unwrap().iter().all(|r| r.get("observed").is_some() && r.get("threshold").is_some()));
    assert!(!out.contains("ann@example.com"));
    for (name, bytes, needle) in [
        ("empty.csv", b"".to_vec(), "empty"),
        ("binary.csv", b"claim_id\n\x00\x01\x02".to_vec(), "binary"),
        ("ragged.csv", b"claim_id,received_at,channel,body,policyholder_email\nC1,x\n".to_vec(), "row 1 has 2 field(s)"),
        ("utf8.csv", b"claim_id,received_at,channel,body,policyholder_email\nC1,\xff,email,x,y\n".to_vec(), "UTF-8"),
        ("data.txt", b"x".to_vec(), "--format"),
    ] {
        let (code, _, err) = run(name, &bytes, &[]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
    }
    // A single line of 20 MB is refused without reading it into memory.
    let huge =
        format!("claim_id,received_at,channel,body,policyholder_email\nC1,2026-11-27T09:30:00Z,email,{},x\n", "y".repeat(20 * 1024 * 1024));
    let (code, _, err) = run("huge.csv", huge.as_bytes(), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("longer than 16 MiB"), "{err}");
    // A truncated gzip file.
    let (code, _, err) = run("cut.csv.gz", &[0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00], &[]);
    assert_eq!(code, 2, "{err}");
    // A contract with unknown keys and unsupported rules: lint names them; errors exit 2.
    let odd = dir.path().join("odd.yaml");
    std::fs::write(&odd, "apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nfrobnicate: yes\nschema:\n  - name: t\n    properties:\n      - name: a\n        quality:\n          - type: sql\n            query: select 1\n").unwrap();
    let out = flowgate().args(["contract", "lint"]).arg(&odd).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(":5:1: warning: `frobnicate`") && text.contains("type `sql` are not enforced"), "{text}");
    std::fs::write(&odd, "apiVersion: v2.2.0\nkind: DataContract\nid: x\nversion: 1\n").unwrap();
    let out = flowgate().args(["contract", "lint"]).arg(&odd).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":1:1: error: apiVersion `v2.2.0` is not ODCS v3"));
    for contract in ["claims_correspondence", "urgent_correspondence"] {
        let out = flowgate().args(["contract", "lint", &format!("examples/claims/contracts/{contract}.odcs.yaml")]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{contract}");
    }
}

/// Every ODCS v3 contract that datacontract-cli's `lint` accepts (its own fixtures and the
/// standard's examples, `../shared/peer-suites/odcs/datacontract-lint.tsv`) is a usable contract
/// for flowgate too: `flowgate contract lint` exits 0 on each.
#[test]
fn every_contract_datacontract_cli_accepts_lints_clean() {
    let Some(list) = crate::helpers::peer_suite("odcs/datacontract-lint.tsv") else { return };
    let dir = list.parent().unwrap().to_path_buf();
    let mut refused = Vec::new();
    let mut checked = 0;
    for line in std::fs::read_to_string(&list).unwrap().lines() {
        let Some((file, verdict)) = line.split_once('\t') else { continue };
        if verdict.trim() != "valid" {
            continue;
        }
        checked += 1;
        let out = flowgate().args(["contract", "lint"]).arg(dir.join(file)).output().unwrap();
        if out.status.code() != Some(0) {
            refused.push(format!(
                "{file}: {}",
                String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("error")).collect::<Vec<_>>().join("; ")
            ));
        }
    }
    assert!(checked >= 50, "{checked} contracts");
    assert!(refused.is_empty(), "{} of {checked} refused:\n{}", refused.len(), refused.join("\n"));
}

/// Wrong `logicalTypeOptions` are errors with their line and column; options flowgate cannot
/// enforce on their type are listed, and the summary counts exactly the lines listed.
#[test]
fn wrong_options_are_errors_and_unenforced_ones_are_listed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let head = "apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nschema:\n  - name: t\n    properties:\n";
    let bad = format!("{head}      - name: a\n        logicalType: string\n        logicalTypeOptions:\n          pattern: \"([a-z\"\n          minLength: -1\n      - name: b\n        logicalType: integer\n        logicalTypeOptions:\n          minimum: 10\n          maximum: 1\n");
    std::fs::write(dir.path().join("bad.yaml"), bad).unwrap();
    let out = flowgate().args(["contract", "lint"]).arg(dir.path().join("bad.yaml")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("bad.yaml:11:11: error: logicalTypeOptions `pattern` is not a valid regular expression"), "{text}");
    assert!(text.contains("bad.yaml:12:11: error: logicalTypeOptions `minLength` must be a whole number"), "{text}");
    assert!(text.contains("bad.yaml:17:11: error: logicalTypeOptions: the maximum 1 is below the minimum 10"), "{text}");
    let unenforced = format!("{head}      - name: flag\n        logicalType: boolean\n        logicalTypeOptions:\n          minItems: 1\n      - name: host\n        logicalType: string\n        logicalTypeOptions:\n          format: hostname\n          maxLength: 10\n");
    std::fs::write(dir.path().join("partial.yaml"), unenforced).unwrap();
    let out = flowgate().args(["contract", "lint"]).arg(dir.path().join("partial.yaml")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let listed = text.lines().filter(|l| l.contains(": warning: ")).count();
    assert!(text.contains("logicalTypeOptions `minItems` is not enforced on a boolean property"), "{text}");
    assert!(text.contains("logicalTypeOptions `format: \"hostname\"` is not enforced"), "{text}");
    assert!(text.contains(&format!("; {listed} part(s) not enforced")), "the count is the lines listed: {text}");
}

/// Third-party contracts as other tools write them (a dbt import with a composite key and a
/// foreign key, a generated export with multi-line quoted strings and every descriptive section,
/// every logical type with every option, ODCS v3.0's forms, schema-level duplicates): flowgate
/// accepts each, its not-enforced lines are exactly those in the `.not-enforced` file beside it
/// (reviewed by hand: each names a part flowgate does not check, and nothing it checks), the
/// summary counts them, and datacontract-cli's `lint` accepts each contract too.
#[test]
fn third_party_contracts_are_read_and_what_is_not_enforced_is_exactly_listed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contracts/third-party");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(".odcs.yaml")).collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let datacontract = std::env::var("FLOWGATE_DATACONTRACT").ok();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let out = flowgate().args(["contract", "lint"]).arg(file).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(0), "{name}: {text}{}", String::from_utf8_lossy(&out.stderr));
        let prefix = format!("{}:", file.display());
        let listed: Vec<&str> = text.lines().filter(|l| l.contains(": warning: ")).map(|l| l.strip_prefix(&prefix).unwrap_or(l)).collect();
        let expected_file = dir.join(name.replace(".odcs.yaml", ".not-enforced"));
        let expected = std::fs::read_to_string(&expected_file).unwrap();
        assert_eq!(listed, expected.lines().collect::<Vec<_>>(), "{name}");
        assert!(text.contains(&format!("; {} part(s) not enforced", listed.len())), "{name}: {text}");
        if let Some(tool) = &datacontract {
            let theirs = Command::new(tool).arg("lint").arg(file).output().unwrap();
            assert!(theirs.status.success(), "{name}: datacontract lint refuses it: {}", String::from_utf8_lossy(&theirs.stdout));
        }
    }
}

/// `contracts: {strict: true}` (for the catalog or one dataset) refuses a contract with any part
/// flowgate does not enforce, naming each line; without it the same catalog is usable; a strict
/// dataset whose contract has no such part is usable; `contract lint --strict` agrees.
#[test]
fn strict_contracts_refuse_what_is_not_enforced_and_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contracts");
    std::fs::copy(fixtures.join("third-party/every-type.odcs.yaml"), dir.path().join("partial.yaml")).unwrap();
    std::fs::copy(fixtures.join("payments-csv.odcs.yaml"), dir.path().join("full.yaml")).unwrap();
    let catalog = |top: &str, partial: &str| {
        format!("version: 1\n{top}datasets:\n  readings:\n    location: landing/readings/\n    format: jsonl\n    contract: partial.yaml\n{partial}  payments:\n    location: landing/payments/\n    format: csv\n    contract: full.yaml\n    contracts: {{strict: true}}\njobs: {{}}\n")
    };
    let validate = |text: String| {
        let path = dir.path().join("catalog.yaml");
        std::fs::write(&path, text).unwrap();
        let out = flowgate().arg("validate").arg(&path).output().unwrap();
        (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, text) = validate(catalog("", ""));
    assert_eq!(code, 0, "not strict: usable, the strict dataset's contract has no unenforced part: {text}");
    for (top, partial) in [("contracts: {strict: true}\n", ""), ("", "    contracts: {strict: true}\n")] {
        let (code, text) = validate(catalog(top, partial));
        assert_eq!(code, 2, "{text}");
        for line in ["partial.yaml:11:113: not enforced", "partial.yaml:19:9: not enforced", "partial.yaml:24:9: not enforced"] {
            assert!(text.contains(line), "{line}: {text}");
        }
        assert!(text.contains("dataset `readings` holds its contract strictly"), "{text}");
        assert!(!text.contains("full.yaml"), "the fully enforced contract is fine: {text}");
    }
    let (code, _) = validate(catalog("contracts: {strict: true}\n", "    contracts: {strict: false}\n"));
    assert_eq!(code, 0, "a dataset's own setting wins");
    let lint = |file: &str, strict: bool| {
        let mut c = flowgate();
        c.args(["contract", "lint"]).arg(dir.path().join(file));
        if strict {
            c.arg("--strict");
        }
        c.output().unwrap().status.code().unwrap()
    };
    assert_eq!((lint("partial.yaml", false), lint("partial.yaml", true), lint("full.yaml", true)), (0, 2, 0));
}

/// A suspect arrival holds the run that would read it at its gate, with the reason and who
/// marked it; cleared, the next attempt passes. Both steps are audited.
#[tokio::test]
async fn a_suspect_arrival_holds_the_runs_that_would_read_it_until_cleared() {
    use flowgate::flows::suspect::{self, Which};
    let fake = FakeScoring::default();
    let app = app(&fake.start().await).await;
    land(&app, "good.csv", GOOD, Some("1.0.0"));
    arrive(&app, "good.csv", "2026-11-27T10:00:00Z").await;
    let chosen = suspect::arrivals(app.deps.store.as_ref(), &app.deps.catalog, "inbox", &Which::Arrival("good.csv".into())).await.unwrap();
    assert_eq!(chosen.len(), 1);
    let n = suspect::mark(
        app.deps.store.as_ref(),
        app.deps.audit.as_ref(),
        "inbox",
        &chosen,
        "producer recall R-17",
        "dana",
        t("2026-11-27T10:05:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    let key = RunKey::new(JobId::parse("hourly").unwrap(), t("2026-11-27T10:15:00Z"));
    let input = |attempt: u32, now: &str| DispatchInput {
        message: DispatchMessage::new(&key, attempt, RunTrigger::Schedule),
        now: t(now),
        invocation: InvocationId::generate(),
    };
    let r = dispatch_run(&app.deps, input(1, "2026-11-27T10:15:00Z")).await.unwrap();
    let DispatchReport::RetryScheduled { reason, .. } = &r else { panic!("{r:?}") };
    assert!(reason.contains("suspect: producer recall R-17 (marked by dana"), "{reason}");
    assert_eq!(fake.call_count(), 0, "a held run sends nothing");
    suspect::clear(
        app.deps.store.as_ref(),
        app.deps.audit.as_ref(),
        "inbox",
        &chosen,
        "recall withdrawn",
        "erin",
        t("2026-11-27T10:16:00Z"),
    )
    .await
    .unwrap();
    let r = dispatch_run(&app.deps, input(2, "2026-11-27T10:17:00Z")).await.unwrap();
    assert!(matches!(r, DispatchReport::Succeeded { .. }), "{r:?}");
    let events = app.deps.audit.read(None, None).await.unwrap();
    // The marks share their subject with the arrival's contract check, so the trail reads in order.
    let kinds: Vec<_> = events.iter().filter(|e| e.subject == "inbox:inbox/good.csv").map(|e| (e.kind, e.actor.clone())).skip(1).collect();
    assert_eq!(
        kinds,
        vec![
            (flowgate::domain::audit::AuditKind::DataSuspected, "dana".to_string()),
            (flowgate::domain::audit::AuditKind::DataCleared, "erin".to_string())
        ]
    );
}
