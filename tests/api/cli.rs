//! The CLI as a user meets it: `validate` on good and bad catalogs, `schema` against the committed
//! file, and argument errors.

use std::path::Path;
use std::process::Command;

fn flowgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn validate(text: &[u8]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.yaml");
    std::fs::write(&path, text).unwrap();
    let out = flowgate().arg("validate").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "catalog.yaml");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), err)
}

#[test]
fn the_example_catalog_is_valid() {
    let out = flowgate().args(["validate", "examples/claims/catalog.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("valid") && text.contains("classify_correspondence"), "{text}");
    let out = flowgate().args(["validate", "--json", "examples/claims/catalog.yaml"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["jobs"].as_array().unwrap().len(), 2);
}

#[test]
fn cycle_unknown_dependency_and_bad_cron_each_get_a_located_line() {
    let text = b"version: 1
jobs:
  a:
    kind: http
    endpoint: http://127.0.0.1:1/score
    schedule: \"0 */5 * * *\"
    depends_on: [b]
  b:
    kind: http
    endpoint: http://127.0.0.1:1/score
    depends_on: [c]
  c:
    kind: http
    endpoint: http://127.0.0.1:1/score
    depends_on: [a, ghost]
";
    let (code, _, err) = validate(text);
    assert_eq!(code, 2, "{err}");
    let lines: Vec<&str> =
        err.lines().filter(|l| l.starts_with("catalog.yaml:") && l.as_bytes().get(13).is_some_and(u8::is_ascii_digit)).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines.iter().any(|l| l.starts_with("catalog.yaml:6:15: ") && l.contains("5 fields") && l.contains("{second}")), "{err}");
    assert!(lines.iter().any(|l| l.starts_with("catalog.yaml:7:18: ") && l.contains("dependency cycle: a -> b -> c -> a")), "{err}");
    assert!(lines.iter().any(|l| l.starts_with("catalog.yaml:15:21: ") && l.contains("unknown dependency `ghost`")), "{err}");
}

#[test]
fn every_kind_of_problem_is_reported_with_its_place() {
    let text = b"version: 1
timezone: Mars/Olympus
datasets:
  d1:
    location: landing/x/
    format: csv
    contract: missing.odcs.yaml
jobs:
  j1:
    kind: http
    endpoint: http://127.0.0.1:1/score
    schedul: \"0 * * * * *\"
    timeout: 5 minutes
  j2:
    kind: http
    endpoint: http://127.0.0.1:1/score
    schedule: \"0 * * * * *\"
    retry: { max_attempts: \"three\" }
";
    let (code, _, err) = validate(text);
    assert_eq!(code, 2, "{err}");
    for needle in [
        "catalog.yaml:2:11: `Mars/Olympus` is not an IANA time zone",
        "catalog.yaml:7:15: contract file",
        "catalog.yaml:12:5: unknown key `schedul`; did you mean `schedule`?",
        "catalog.yaml:13:14: `5 minutes` is not a duration",
        "catalog.yaml:18:28: invalid type: string \"three\"",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

#[test]
fn duplicate_names_and_ugly_files_exit_2_without_panicking() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "duplicate",
            b"version: 1\njobs:\n  a:\n    kind: http\n    endpoint: http://x/score\n    schedule: \"0 * * * * *\"\n  a:\n    kind: http\n"
                .to_vec(),
        ),
        ("empty", b"".to_vec()),
        ("list", b"- 1\n- 2\n".to_vec()),
        ("truncated", b"version: 1\njobs:\n  a: {kind: http, endpoint: \"http://x".to_vec()),
        ("binary", vec![0xff, 0xfe, 0x00, 0x12, 0x80]),
        ("wrong type", b"version: 1\njobs: [1, 2]\n".to_vec()),
        ("bad version", b"version: 9\n".to_vec()),
        (
            "huge",
            format!("version: 1\njobs:\n{}", (0..20_000).map(|i| format!("  j{i}: {{kind: http}}\n")).collect::<String>()).into_bytes(),
        ),
    ];
    for (name, text) in cases {
        let (code, _, err) = validate(&text);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.lines().next().is_some_and(|l| l.starts_with("catalog.yaml:")), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let (_, _, err) = validate(
        b"version: 1\njobs:\n  a:\n    kind: http\n    endpoint: http://x/score\n    schedule: \"0 * * * * *\"\n  a:\n    kind: http\n",
    );
    assert!(err.contains("catalog.yaml:7:3: duplicate key `a` (first at line 3)"), "{err}");
}

#[test]
fn the_committed_schema_is_generated_from_the_types() {
    let out = flowgate().arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/catalog.schema.json")).unwrap())
            .unwrap();
    assert_eq!(generated, committed, "run `flowgate schema > docs/catalog.schema.json`");
}

#[test]
fn bad_arguments_exit_2_naming_the_argument() {
    let out = flowgate().args(["local", "--demo", "--from", "yesterday"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from `yesterday`"));
    let out = flowgate().args(["runs", "--state", "/nonexistent/flowgate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = flowgate().args(["validate", "/nonexistent.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = flowgate().arg("serve").env_remove("FLOWGATE_CATALOG").env_remove("FUNCTIONS_CUSTOMHANDLER_PORT").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FLOWGATE_CATALOG is not set"));
}

#[test]
fn schedule_next_agrees_with_the_scheduler_across_dst() {
    for (cron, tz, from, want) in [
        (
            "0 30 1 * * *",
            "Europe/London",
            "2026-03-28T00:00:00Z",
            vec!["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
        ),
        (
            "0 30 1 * * *",
            "Europe/London",
            "2026-10-24T00:00:00Z",
            vec!["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
        ),
        (
            "0 30 2 * * *",
            "America/New_York",
            "2026-03-07T00:00:00Z",
            vec!["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
        ),
        (
            "0 30 2 * * *",
            "Australia/Sydney",
            "2026-10-02T00:00:00Z",
            vec!["2026-10-02T16:30:00Z", "2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"],
        ),
        ("0 0 0 29 Feb *", "UTC", "2026-01-01T00:00:00Z", vec!["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"]),
    ] {
        let out =
            flowgate().args(["schedule", "next", "--cron", cron, "--tz", tz, "--from", from, "--count", "3", "--json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let got: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, want, "{cron} in {tz}");
    }
    // Exclusive of --from.
    let out = flowgate()
        .args(["schedule", "next", "--cron", "0 0 * * * *", "--from", "2026-11-27T10:00:00Z", "--count", "1", "--json"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"["2026-11-27T11:00:00Z"]"#);
}

#[test]
fn schedule_next_rejects_bad_input_naming_the_argument() {
    for (args, needle) in [
        (vec!["--cron", "*/5 * * * *", "--from", "2026-11-27T10:00:00Z"], "--cron"),
        (vec!["--cron", "0 * * * * *", "--tz", "Mars/Base", "--from", "2026-11-27T10:00:00Z"], "--tz"),
        (vec!["--cron", "0 * * * * *", "--from", "27/11/2026"], "--from"),
        (vec!["--cron", "0 * * * * *", "--from", "2026-11-27T10:00:00Z", "--count", "0"], "--count"),
        (vec!["--cron", "0 * * * * *", "--from", "2026-11-27T10:00:00Z", "--count", "10001"], "--count"),
    ] {
        let out = flowgate().args(["schedule", "next"]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn plan_shows_when_why_what_could_hold_it_and_the_deadline() {
    let text = b"version: 1
timezone: Europe/London
datasets:
  feed: { location: landing/feed/, format: jsonl, expected_every: 12h }
jobs:
  extract:
    kind: http
    endpoint: http://127.0.0.1:1/score
    schedule: \"0 30 1 * * *\"
    sla: { complete_within: 1h, warn_before: 15m }
  score:
    kind: http
    endpoint: http://127.0.0.1:1/score
    depends_on: [extract]
  on_feed:
    kind: http
    endpoint: http://127.0.0.1:1/score
    on_arrival: feed
";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.yaml");
    std::fs::write(&path, text).unwrap();
    // Across the spring-forward night: 01:30 London does not exist on 29 March 2026.
    let out =
        flowgate().args(["plan", "--json", "--from", "2026-03-28T00:00:00Z", "--hours", "48", "--catalog"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    let extract: Vec<&serde_json::Value> = runs.iter().filter(|r| r["job"] == "extract").collect();
    assert_eq!(extract.len(), 2);
    assert_eq!(extract[1]["at"], "2026-03-29T01:00:00Z");
    assert_eq!(extract[1]["why"]["local_time"], "shifted_past_gap");
    assert_eq!(extract[1]["sla_deadline"], "2026-03-29T02:00:00Z");
    let score: Vec<&serde_json::Value> = runs.iter().filter(|r| r["job"] == "score").collect();
    assert_eq!(score.len(), 2);
    assert_eq!(score[0]["why"]["type"], "after_dependencies");
    assert!(score[0]["blockers"][0].as_str().unwrap().contains("dependency `extract`"));
    let feed: Vec<&serde_json::Value> = runs.iter().filter(|r| r["job"] == "on_feed").collect();
    assert_eq!(feed.len(), 4, "an arrival expected every 12h over 48h");
    // Bad input exits 2 and names the argument.
    for (args, needle) in [
        (vec!["--from", "tomorrow", "--hours", "1"], "--from"),
        (vec!["--from", "2026-03-28T00:00:00Z", "--hours", "0"], "--hours"),
        (vec!["--from", "2026-03-28T00:00:00Z", "--hours", "9000"], "--hours"),
    ] {
        let out = flowgate().arg("plan").args(&args).arg("--catalog").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle));
    }
    let out =
        flowgate().args(["plan", "--from", "2026-03-28T00:00:00Z", "--state", "/nonexistent", "--catalog"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn long_running_kinds_are_checked() {
    let text = b"version: 1
jobs:
  judge:
    kind: evaluation
    endpoint: https://acct.services.ai.azure.com/api/projects/p
    schedule: \"0 0 * * * *\"
  train:
    kind: azure_ml_job
    endpoint: https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws
    schedule: \"0 0 * * * *\"
    poll_every: 2h
  score:
    kind: http
    endpoint: http://127.0.0.1:1/score
    schedule: \"0 0 * * * *\"
    evaluation: eval_1
    poll_every: 30s
";
    let (code, _, err) = validate(text);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`kind: evaluation` needs `evaluation: <eval id>`"), "{err}");
    assert!(err.contains("`poll_every` must be between 1s and 1h"), "{err}");
    assert!(err.contains("`evaluation` applies to `kind: evaluation` only"), "{err}");
    assert!(err.contains("`poll_every` applies to `kind: azure_ml_job` and `kind: evaluation` only"), "{err}");
}
