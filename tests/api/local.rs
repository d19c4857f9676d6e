//! `flowgate local` end to end: the real binary as host and handler, over HTTP.

use std::process::Command;

#[test]
fn the_demo_runs_a_simulated_day_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["local", "--demo", "--from", "2026-11-02T00:00:00Z", "--days", "2", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // Two weekdays: 11 hourly slots and 3 urgent arrivals each.
    assert!(stdout.contains("runs        28 (succeeded 28)"), "{stdout}");
    assert!(stdout.contains("latency     p50"), "{stdout}");
    assert!(stdout.contains("needed more than one"), "{stdout}");
    assert!(stdout.contains("dispatch    active 0, scheduled 0, dead-lettered 0"), "{stdout}");
    // The release story's first step: v1 approved by two others and promoted on Monday morning.
    assert!(stdout.contains("releases    Mon 07:30  release ") && stdout.contains("approved by dev:bob and dev:carol"), "{stdout}");
    let runs = Command::new(env!("CARGO_BIN_EXE_flowgate")).args(["runs", "--json", "--state"]).arg(&state).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 28);
    assert!(list.iter().any(|r| r["attempts"].as_u64().unwrap() > 1), "the demo's injected failures show as retries");
    // Every run was created under release v1 (promoted before the first slot).
    let v1 = list[0]["release"].as_str().expect("runs carry their release");
    assert!(list.iter().all(|r| r["release"] == v1), "{list:?}");
    // Newest first.
    assert!(list[0]["logical_time"].as_str().unwrap() > list[27]["logical_time"].as_str().unwrap());
    // Outputs carry the key and the classification, not the policyholder's email.
    let out_dir = state.join("data/curated/claims/classified/classify_correspondence");
    let first = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(first).unwrap();
    assert!(text.contains("\"label\"") && !text.contains("@example.com"), "{text}");
}
