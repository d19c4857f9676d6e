//! Release benchmark: how long `flowgate release propose`, `gate-check` and `rollback` take, end to
//! end through the CLI (process start included), on the example catalog (with its smoke requests
//! to an instant local endpoint and its sample checks) and on the 10,000-job benchmark catalog
//! (lint and no smoke requests: 10,000 endpoints). Median of five of each.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[path = "common/catalogs.rs"]
mod catalogs;

const IDENTITIES: &str = "alice: [Release.Approver]\nbob: [Release.Approver]\ncarol: [Release.Approver]\n";
const ROUNDS: usize = 5;

fn flowgate(state: &Path, who: Option<&str>, args: &[&str], scoring: &str) -> (f64, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    c.arg("release").args(args).arg("--state").arg(state);
    if let Some(w) = who {
        c.args(["--as", w]);
    }
    c.env("CLAIMS_SCORING_URL", scoring).env_remove("GITHUB_SHA").env_remove("BUILD_SOURCEVERSION");
    let t = Instant::now();
    let out = c.output().unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(
        out.status.success(),
        "flowgate release {args:?}: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (ms, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Proposes, approves and promotes `ROUNDS` + 1 versions of a catalog; times propose, gate-check
/// and rollback.
fn measure(name: &str, catalog_dir: &Path, write_version: &dyn Fn(usize), scoring: &str, evaluation: Option<&Path>) {
    let state = catalog_dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("identities.yaml"), IDENTITIES).unwrap();
    let catalog = catalog_dir.join("catalog.yaml").display().to_string();
    let (mut propose, mut check, mut rollback) = (Vec::new(), Vec::new(), Vec::new());
    let mut previous: Option<String> = None;
    for i in 0..=ROUNDS {
        write_version(i);
        let (ms, id) = flowgate(&state, Some("alice"), &["propose", "--catalog", &catalog], scoring);
        propose.push(ms);
        for who in ["bob", "carol"] {
            flowgate(&state, Some(who), &["approve", &id], scoring);
        }
        if let Some(results) = evaluation {
            let r = results.display().to_string();
            flowgate(&state, Some("bob"), &["evaluate", &id, "--baseline", &r, "--candidate", &r], scoring);
        }
        let (ms, _) = flowgate(&state, None, &["gate-check", &id], scoring);
        check.push(ms);
        flowgate(&state, Some("alice"), &["promote", &id], scoring);
        if let Some(prev) = &previous {
            let (ms, _) = flowgate(&state, Some("bob"), &["rollback", "--to", prev], scoring);
            rollback.push(ms);
            flowgate(&state, Some("bob"), &["rollback", "--to", &id], scoring);
        }
        previous = Some(id);
    }
    println!(
        "  {name}: propose {:.0} ms, gate-check {:.0} ms, rollback {:.0} ms (median of {}, CLI end to end)",
        median(propose),
        median(check),
        median(rollback),
        ROUNDS
    );
}

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scoring = format!("http://{}/score", listener.local_addr().unwrap());
    let app = Router::new().route("/score", post(|Json(_): Json<Value>| async { Json(json!({"label": "other"})) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    println!("release benchmark (2 cores, release build)");

    // The example catalog, with its contracts and samples; each version a different SLA.
    let example = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/claims");
    for sub in ["contracts", "samples", "evaluation"] {
        std::fs::create_dir_all(example.path().join(sub)).unwrap();
        for f in std::fs::read_dir(root.join(sub)).unwrap().flatten() {
            std::fs::copy(f.path(), example.path().join(sub).join(f.file_name())).unwrap();
        }
    }
    let text = std::fs::read_to_string(root.join("catalog.yaml")).unwrap();
    // Promotions here run at any hour: the example's change window is dropped.
    let text = text.split("  windows:").next().unwrap().to_string() + "  emergency:\n    review_within: 72h\n";
    // Its offline evaluation: every item of the pinned dataset passing on both sides.
    let results = example.path().join("results.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(root.join("evaluation/dataset.jsonl"))
        .unwrap()
        .lines()
        .map(|l| json!({"item": serde_json::from_str::<Value>(l).unwrap()["id"], "evaluator": "exact_match", "passed": true}).to_string())
        .collect();
    std::fs::write(&results, lines.join("\n")).unwrap();
    let dir = example.path().to_path_buf();
    let s = scoring.clone();
    tokio::task::spawn_blocking(move || {
        measure(
            "example catalog (2 jobs, 2 contracts, 2 samples, 2 smoke requests, an offline evaluation)",
            &dir,
            &|i| {
                std::fs::write(dir.join("catalog.yaml"), text.replace("complete_within: 45m", &format!("complete_within: {}m", 45 + i)))
                    .unwrap()
            },
            &s,
            Some(&results),
        )
    })
    .await
    .unwrap();

    let big = tempfile::tempdir().unwrap();
    let dir = big.path().to_path_buf();
    let base = catalogs::catalog_text();
    let s = scoring.clone();
    tokio::task::spawn_blocking(move || {
        measure(
            &format!("benchmark catalog ({} jobs, no smoke requests)", catalogs::JOBS),
            &dir,
            &|i| {
                let text = base.replacen("  j0:\n", &format!("  j0:\n    description: version {i}\n"), 1)
                    + "releases:\n  checks: {smoke: false}\n";
                std::fs::write(dir.join("catalog.yaml"), text).unwrap()
            },
            &s,
            None,
        )
    })
    .await
    .unwrap();
}
