//! The offline evaluation gate as a release check: the release pins its evaluation dataset (one
//! byte of it changes the release id), `flowgate release evaluate` records the comparison of the
//! candidate's and the baseline's results on exactly that dataset, and the gate passes only on a
//! recorded PASS.

use std::path::Path;

use serde_json::json;

use super::releases::Workspace;

const POLICY: &str = "  checks:
    smoke: false
    evaluation:
      dataset: evaluation/dataset.jsonl
      floors: {exact_match: 0.8}
";

fn ids() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/claims/evaluation/dataset.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string()).collect()
}

/// Results in flowgate's JSON Lines: `failing` of the items fail exact_match.
fn results(w: &Workspace, name: &str, items: &[String], failing: usize) -> String {
    let lines: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"item": id, "evaluator": "exact_match", "passed": i >= failing}).to_string())
        .collect();
    let p = w.dir.path().join(name);
    std::fs::write(&p, lines.join("\n")).unwrap();
    p.display().to_string()
}

#[test]
fn a_release_is_gated_on_its_recorded_offline_evaluation() {
    let w = Workspace::new("0 0 6 * * *", POLICY);
    std::fs::create_dir_all(w.dir.path().join("evaluation")).unwrap();
    let dataset = w.dir.path().join("evaluation/dataset.jsonl");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/claims/evaluation/dataset.jsonl"), &dataset).unwrap();
    let id = w.propose("alice");
    w.ok(Some("bob"), &["approve", &id]);

    let (code, out, _) = w.release(Some("alice"), &["gate-check", &id]);
    assert_eq!(code, 1, "no evaluation recorded is no pass: {out}");
    assert!(out.contains("no offline evaluation recorded"), "{out}");

    let items = ids();
    let base = results(&w, "base.jsonl", &items, 0);
    let worse = results(&w, "worse.jsonl", &items, 8);
    let (code, out, err) = w.release(Some("carol"), &["evaluate", &id, "--baseline", &base, "--candidate", &worse]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAIL") && out.contains("b   8"), "{out}");
    let (code, out, _) = w.release(Some("alice"), &["gate-check", &id]);
    assert_eq!(code, 1, "a recorded FAIL fails the gate: {out}");

    // Results that are not on the pinned dataset are unusable input, and nothing is recorded.
    let other = results(&w, "other.jsonl", &[items.clone(), vec!["EV-999".to_string()]].concat(), 0);
    let (code, _, err) = w.release(Some("carol"), &["evaluate", &id, "--baseline", &base, "--candidate", &other]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("EV-999") && err.contains("not in the pinned evaluation dataset"), "{err}");
    let short = results(&w, "short.jsonl", &items[..30], 0);
    let (code, _, err) = w.release(Some("carol"), &["evaluate", &id, "--baseline", &short, "--candidate", &short]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("8 item(s) of the pinned evaluation dataset have no result"), "{err}");

    let same = results(&w, "same.jsonl", &items, 0);
    let (code, out, err) = w.release(Some("carol"), &["evaluate", &id, "--baseline", &base, "--candidate", &same, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "PASS");
    assert_eq!(v["dataset_sha256"].as_str().unwrap().len(), 64);
    let (code, out, _) = w.release(Some("alice"), &["gate-check", &id]);
    assert_eq!(code, 0, "the latest recorded evaluation passed: {out}");

    // The dataset is part of the release: one byte more is another release.
    let mut text = std::fs::read_to_string(&dataset).unwrap();
    text.push('\n');
    std::fs::write(&dataset, text).unwrap();
    assert_ne!(w.propose("alice"), id);
}

#[test]
fn a_release_without_an_evaluation_dataset_cannot_be_evaluated() {
    let w = Workspace::new("0 0 6 * * *", "  checks: {smoke: false}\n");
    let id = w.propose("alice");
    let items = ids();
    let base = results(&w, "base.jsonl", &items, 0);
    let (code, _, err) = w.release(Some("bob"), &["evaluate", &id, "--baseline", &base, "--candidate", &base]);
    assert_eq!(code, 2);
    assert!(err.contains("releases.checks.evaluation"), "{err}");
    w.write_catalog("0 0 6 * * *", "  checks:\n    evaluation: {dataset: nowhere.jsonl, alpha: 2}\n");
    let catalog = w.catalog().display().to_string();
    let (code, _, err) = w.release(Some("alice"), &["propose", "--catalog", &catalog]);
    assert_eq!(code, 2);
    assert!(err.contains("nowhere.jsonl") && err.contains("alpha 2"), "{err}");
}
