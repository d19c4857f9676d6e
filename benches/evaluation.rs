//! Offline evaluation gate benchmark: `flowgate evaluate compare` end to end through the CLI
//! (process start, reading both files, pairing, the exact tests) on 100,000 items × 5 evaluators
//! (three pass/fail, two scores, so both McNemar and Wilcoxon run at full size), in flowgate's
//! JSON Lines and in azure-ai-evaluation's result format. Median of three, and peak memory.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

#[path = "common/process.rs"]
mod process;

const ITEMS: usize = 100_000;
const ROUNDS: usize = 3;

/// A deterministic pseudo-random number in [0, 1) for item `i` and stream `s`.
fn unit(i: usize, s: usize) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (s as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn jsonl(shift: f64) -> String {
    let mut out = String::with_capacity(ITEMS * 5 * 70);
    for i in 0..ITEMS {
        for (e, name) in ["exact_match", "f1", "groundedness_pass"].iter().enumerate() {
            let _ = writeln!(out, "{{\"item\": \"EV-{i:06}\", \"evaluator\": \"{name}\", \"passed\": {}}}", unit(i, e) + shift < 0.9);
        }
        for (e, name) in ["relevance", "similarity"].iter().enumerate() {
            let score = (1.0 + 4.0 * unit(i, 10 + e) - shift * 4.0).clamp(1.0, 5.0);
            let _ = writeln!(out, "{{\"item\": \"EV-{i:06}\", \"evaluator\": \"{name}\", \"score\": {score:.3}}}");
        }
    }
    out
}

fn azure(shift: f64) -> String {
    let rows: Vec<serde_json::Value> = (0..ITEMS)
        .map(|i| {
            let mut row = serde_json::Map::new();
            row.insert("inputs.id".into(), format!("EV-{i:06}").into());
            for (e, name) in ["exact_match", "f1", "groundedness"].iter().enumerate() {
                let pass = unit(i, e) + shift < 0.9;
                row.insert(format!("outputs.{name}.{name}_result"), if pass { "pass" } else { "fail" }.into());
                row.insert(format!("outputs.{name}.{name}"), f64::from(u8::from(pass)).into());
            }
            for (e, name) in ["relevance", "similarity"].iter().enumerate() {
                row.insert(format!("outputs.{name}.{name}"), (1.0 + 4.0 * unit(i, 10 + e) - shift * 4.0).clamp(1.0, 5.0).into());
            }
            serde_json::Value::Object(row)
        })
        .collect();
    serde_json::json!({"rows": rows, "metrics": {}}).to_string()
}

/// (median seconds, peak resident MB, verdict) of `flowgate evaluate compare` over the two files.
fn compare(base: &Path, cand: &Path) -> (f64, f64, &'static str) {
    let mut runs: Vec<(f64, f64, i32)> = (0..ROUNDS)
        .map(|_| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_flowgate"));
            c.args(["evaluate", "compare", "--json", "--baseline"]).arg(base).arg("--candidate").arg(cand);
            process::measure(c)
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (secs, _, code) = runs[ROUNDS / 2];
    let peak = runs.iter().map(|r| r.1).fold(0.0, f64::max);
    (secs, peak, ["PASS", "FAIL or INSUFFICIENT", "unusable input"].get(code as usize).copied().unwrap_or("crashed"))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    for (format, make) in [("jsonl", jsonl as fn(f64) -> String), ("azure-ai-evaluation json", azure)] {
        let (base, cand) = (dir.path().join("base"), dir.path().join("cand"));
        std::fs::write(&base, make(0.0)).unwrap();
        std::fs::write(&cand, make(0.004)).unwrap();
        let mb = (std::fs::metadata(&base).unwrap().len() + std::fs::metadata(&cand).unwrap().len()) as f64 / 1e6;
        let (secs, peak, verdict) = compare(&base, &cand);
        println!(
            "evaluate compare ({format}): {ITEMS} items x 5 evaluators, {mb:.0} MB in two files: {:.2} s median of {ROUNDS}, peak {peak:.0} MB, verdict {verdict}",
            secs
        );
    }
}
