//! `flowgate evidence`: the pack an auditor opens, from a demo's state. Every section's file is
//! there with its hash in the manifest; a tampered audit trail makes the pack say BROKEN and exit 1.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

fn flowgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn evidence(state: &Path, out: &Path) -> std::process::Output {
    flowgate()
        .args(["evidence", "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-05T00:00:00Z", "--state"])
        .arg(state)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn the_pack_holds_every_section_and_flags_a_tampered_chain() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("demo");
    // Three weekdays: the third has a file that breaks its contract (quarantined as data).
    let out =
        flowgate().args(["local", "--demo", "--from", "2026-11-02T00:00:00Z", "--days", "3", "--state"]).arg(&state).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let pack = dir.path().join("pack");
    let out = evidence(&state, &pack);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("audit chain intact"), "{stdout}");
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(pack.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["sha256"].as_object().unwrap();
    for name in [
        "index.html",
        "audit.jsonl",
        "audit-verification.json",
        "runs.json",
        "gate-decisions.json",
        "approvals.json",
        "releases.json",
        "quarantine.json",
        "sla.json",
        "lineage.jsonl",
    ] {
        let bytes = std::fs::read(pack.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(files[name].as_str().unwrap(), hex::encode(Sha256::digest(&bytes)), "{name}");
    }
    let runs: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(pack.join("runs.json")).unwrap()).unwrap();
    assert!(runs.len() >= 40, "{} runs", runs.len());
    let gates: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(pack.join("gate-decisions.json")).unwrap()).unwrap();
    assert!(gates.iter().any(|g| g["decision"]["checks"].as_array().is_some_and(|c| !c.is_empty())));
    let quarantine: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(pack.join("quarantine.json")).unwrap()).unwrap();
    assert!(quarantine.iter().any(|q| q["kind"] == "data"), "the broken file is in the pack: {quarantine:?}");
    let html = std::fs::read_to_string(pack.join("index.html")).unwrap();
    assert!(html.contains("Intact:") && html.contains("Gate decisions") && html.contains("Lineage"), "{}", &html[..600]);
    assert!(!html.contains("<script"), "a static page");
    // The demo's releases: v1 from Monday 07:30, the change to deployment `green` from Monday
    // 09:00 on its canary (not yet promoted by Wednesday night); each approved by two people
    // other than its author, each with its offline evaluation; the page says which was active when.
    let releases: Value = serde_json::from_str(&std::fs::read_to_string(pack.join("releases.json")).unwrap()).unwrap();
    let list = releases["releases"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for r in list {
        let approvals = r["approvals"].as_array().unwrap();
        assert_eq!(approvals.len(), 2, "{r}");
        assert!(approvals.iter().all(|a| a["distinct_from_author"] == true && a["counted"] == true && a["roles"][0] == "Release.Approver"));
    }
    let active = releases["active_over_window"].as_array().unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["release"], list[1]["id"], "v1 stays active while the change is on its canary");
    assert_eq!((list[0]["state"].as_str(), list[1]["state"].as_str()), (Some("canary"), Some("active")));
    assert!(list.iter().all(|r| r["evaluation"]["verdict"] == "PASS"), "{list:?}");
    let rollout = &list[0]["rollout"];
    assert!(rollout["last"]["metrics"].as_array().is_some_and(|m| m.len() == 2), "the canary's last analysis: {rollout}");
    assert_eq!(rollout["last"]["decision"], "KEEP_OBSERVING");
    assert!(html.contains("Active release over the window") && html.contains("distinct; counted"), "the page shows releases");
    assert!(html.contains("exact_match PASS (n 38") && html.contains("item_failure"), "the page shows the evaluation and the canary");
    let decisions: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(pack.join("approvals.json")).unwrap()).unwrap();
    for kind in [
        "release_proposed",
        "release_approved",
        "release_refused",
        "release_checked",
        "release_promoted",
        "release_evaluated",
        "canary_decided",
    ] {
        assert!(decisions.iter().any(|e| e["kind"] == kind), "{kind} in approvals.json");
    }
    // The exported segment (from the first event) verifies on its own.
    let v = flowgate().args(["audit", "verify", "--file"]).arg(pack.join("audit.jsonl")).output().unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stdout));

    // An existing folder is not overwritten.
    assert_eq!(evidence(&state, &pack).status.code(), Some(2));

    // Retention: the demo's records are weeks old. A dry run only counts; the real one removes
    // them and is itself recorded; the audit chain is kept and still verifies.
    let dry = flowgate().args(["retention", "--keep", "2d", "--dry-run", "--state"]).arg(&state).output().unwrap();
    let dry_text = String::from_utf8_lossy(&dry.stdout).to_string();
    assert!(dry_text.starts_with("would remove") && !dry_text.contains(" 0 run(s)"), "{dry_text}");
    let runs_before = flowgate().args(["runs", "--json", "--state"]).arg(&state).output().unwrap();
    assert!(serde_json::from_slice::<Vec<Value>>(&runs_before.stdout).unwrap().len() >= 40);
    let done = flowgate().args(["retention", "--keep", "2d", "--by", "auditor-test", "--state"]).arg(&state).output().unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", String::from_utf8_lossy(&done.stderr));
    let counts = |t: &str| t.split(" finished before").next().unwrap().replacen("would remove", "removed", 1);
    assert_eq!(counts(&String::from_utf8_lossy(&done.stdout)), counts(&dry_text));
    let runs_after = flowgate().args(["runs", "--json", "--state"]).arg(&state).output().unwrap();
    assert!(serde_json::from_slice::<Vec<Value>>(&runs_after.stdout).unwrap().is_empty());
    let lineage = flowgate().args(["lineage", "export", "--state"]).arg(&state).output().unwrap();
    assert!(lineage.stdout.is_empty());
    let v = flowgate().args(["audit", "verify", "--state"]).arg(&state).output().unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stdout));
    let audit = flowgate().args(["audit", "export", "--state"]).arg(&state).output().unwrap();
    assert!(String::from_utf8_lossy(&audit.stdout).lines().last().unwrap().contains("\"actor\":\"auditor-test\""));
    assert_eq!(flowgate().args(["retention", "--keep", "2h", "--state"]).arg(&state).output().unwrap().status.code(), Some(2));

    // Change one event's decision in place: the pack says so and fails.
    let db = rusqlite::Connection::open(state.join("audit.db")).unwrap();
    db.execute("UPDATE audit SET body = replace(body, 'gates passed', 'gates passed!') WHERE seq = (SELECT min(seq) FROM audit WHERE body LIKE '%gates passed%')", []).unwrap();
    drop(db);
    let out = evidence(&state, &dir.path().join("pack2"));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN"));
    let html = std::fs::read_to_string(dir.path().join("pack2/index.html")).unwrap();
    assert!(html.contains("BROKEN at event seq"), "{}", &html[..800]);
}
