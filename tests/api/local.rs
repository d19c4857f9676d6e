//! `flowgate local` end to end: the real binary as host and handler, over HTTP.

use std::process::Command;

#[test]
fn the_demo_runs_a_simulated_day_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["local", "--demo", "--from", "2026-11-03T00:00:00Z", "--days", "2", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // Two weekdays (Tuesday and Wednesday: the broken file lands on Mondays): 11 hourly slots and
    // 11 urgent arrivals each.
    assert!(stdout.contains("runs        44 (succeeded 44)"), "{stdout}");
    assert!(stdout.contains("latency     p50"), "{stdout}");
    assert!(stdout.contains("needed more than one"), "{stdout}");
    assert!(stdout.contains("dispatch    active 0, scheduled 0, dead-lettered 0"), "{stdout}");
    // The release story's first step: v1 approved by two others and promoted on the first morning.
    assert!(stdout.contains("releases    Tue 07:30  release ") && stdout.contains("approved by dev:bob and dev:carol"), "{stdout}");
    let runs = Command::new(env!("CARGO_BIN_EXE_flowgate")).args(["runs", "--json", "--state"]).arg(&state).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 44);
    assert!(list.iter().any(|r| r["attempts"].as_u64().unwrap() > 1), "the demo's injected failures show as retries");
    // Every run was created under release v1 (promoted before the first slot) or, from the first
    // day's 09:00, under the canary of v2 (about half of the new items).
    let releases: std::collections::BTreeMap<&str, usize> = list.iter().fold(Default::default(), |mut m, r| {
        *m.entry(r["release"].as_str().expect("runs carry their release")).or_default() += 1;
        m
    });
    assert_eq!(releases.len(), 2, "{releases:?}");
    assert!(releases.values().all(|n| *n >= 10), "both sides of the canary ran: {releases:?}");
    assert!(stdout.contains("canary started on 50 % of new items"), "{stdout}");
    // The demo ends with its week's report: two clean days.
    assert!(stdout.contains("report      2026-W45 (Europe/London): STABLE"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("report-2026-W45/report.json")).unwrap()).unwrap();
    assert_eq!(report["this_week"]["success"]["den"], 44, "the report's figures are the runs'");
    // Newest first.
    assert!(list[0]["logical_time"].as_str().unwrap() > list[43]["logical_time"].as_str().unwrap());
    // Outputs carry the key and the classification, not the policyholder's email.
    let out_dir = state.join("data/curated/claims/classified/classify_correspondence");
    let first = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(first).unwrap();
    assert!(text.contains("\"label\"") && !text.contains("@example.com"), "{text}");
}
