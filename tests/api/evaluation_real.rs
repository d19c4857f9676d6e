//! `flowgate evaluate compare` on files written by the real `azure-ai-evaluation` (pinned in
//! tests/evaluation/requirements.txt, installed by `scripts/test` next to promptflow-devkit): the
//! claims prompt flow and two changed candidates answer the 38 labelled items of
//! examples/claims/evaluation/dataset.jsonl in process, `evaluate()` scores them with F1 (pass/fail
//! at its threshold) and a custom exact match (a score), and the gate must fail the regression and
//! pass the improvement. Under `scripts/test` a missing Python is a failure
//! (`FLOWGATE_REQUIRE_PF=1`); a bare `cargo test` skips this test and says so.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn compare(dir: &Path, candidate: &str) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .args(["evaluate", "compare", "--json", "--floor", "f1=0.7", "--baseline"])
        .arg(dir.join("baseline.json"))
        .arg("--candidate")
        .arg(dir.join(format!("{candidate}.json")))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
}

#[test]
fn the_gate_reads_real_azure_ai_evaluation_output_of_real_prompt_flow_answers() {
    let Some(python) = std::env::var_os("FLOWGATE_EVAL_PYTHON") else {
        assert!(std::env::var_os("FLOWGATE_REQUIRE_PF").is_none(), "FLOWGATE_REQUIRE_PF is set but FLOWGATE_EVAL_PYTHON is not");
        eprintln!("skipped: FLOWGATE_EVAL_PYTHON is not set (scripts/test installs azure-ai-evaluation and sets it)");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(python)
        .arg(root.join("tests/evaluation/score_flows.py"))
        .arg(root.join("examples/claims/flow"))
        .arg(root.join("examples/claims/evaluation/dataset.jsonl"))
        .arg(dir.path())
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "azure-ai-evaluation did not score the flows");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("baseline.json")).unwrap()).unwrap();
    assert_eq!(written["rows"].as_array().unwrap().len(), 38, "evaluate() wrote one row per item");

    let (code, v) = compare(dir.path(), "regressed");
    assert_eq!((code, v["verdict"].as_str()), (1, Some("FAIL")), "{v}");
    let by_name = |name: &str| v["evaluators"].as_array().unwrap().iter().find(|e| e["name"] == name).cloned().unwrap();
    let f1 = by_name("f1");
    assert_eq!((f1["kind"].as_str(), f1["n"].as_u64(), f1["b"].as_u64(), f1["c"].as_u64()), (Some("boolean"), Some(38), Some(7), Some(0)));
    // Seven discordant pairs all one way: mid-p = ½·(½)^7.
    assert!((f1["p_value"].as_f64().unwrap() - 1.0 / 256.0).abs() < 1e-12, "{f1}");
    let em = by_name("exact_match");
    assert_eq!((em["kind"].as_str(), em["verdict"].as_str()), (Some("score"), Some("FAIL")), "{em}");

    let (code, v) = compare(dir.path(), "improved");
    assert_eq!((code, v["verdict"].as_str()), (0, Some("PASS")), "{v}");
    assert_eq!(v["evaluators"][1]["c"].as_u64(), Some(2), "the improvement fixes two items: {v}");
}
