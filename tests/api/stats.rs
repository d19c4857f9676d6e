//! The exact statistics against SciPy: every value of `tests/stats/fixtures.json` (made by
//! `tests/stats/make_fixtures.py` with the SciPy version it records) reproduced to 1e-9.

use flowgate::domain::stats::{fisher_greater, mcnemar_mid_p, wilcoxon_pratt_less, wilson, Sprt, Z_95};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

fn fixtures() -> Value {
    serde_json::from_str(include_str!("../stats/fixtures.json")).unwrap()
}

fn close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!((got - want).abs() <= TOLERANCE, "{what}: flowgate {got:.15}, SciPy {want:.15}");
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

#[test]
fn wilson_intervals_match_scipy() {
    for f in fixtures()["wilson"].as_array().unwrap() {
        let (lo, hi) = wilson(u(&f["successes"]), u(&f["n"]), Z_95).unwrap();
        close(lo, &f["lower"], &format!("wilson lower {f}"));
        close(hi, &f["upper"], &format!("wilson upper {f}"));
    }
}

#[test]
fn mcnemar_mid_p_matches_scipy() {
    for f in fixtures()["mcnemar_mid_p"].as_array().unwrap() {
        close(mcnemar_mid_p(u(&f["b"]), u(&f["c"])), &f["mid_p"], &format!("mcnemar {f}"));
    }
}

#[test]
fn fisher_exact_matches_scipy() {
    for f in fixtures()["fisher_greater"].as_array().unwrap() {
        let t = &f["table"];
        let p = fisher_greater(u(&t[0][0]), u(&t[0][1]), u(&t[1][0]), u(&t[1][1]));
        close(p, &f["p_greater"], &format!("fisher {t}"));
    }
    // release-gates.md §3: canary 5/60 failures against stable 6/300 is p = 0.023 (the z-test
    // would say 0.0046).
    assert!((fisher_greater(5, 55, 6, 294) - 0.023).abs() < 0.001);
}

#[test]
fn sprt_ratios_and_boundaries_match() {
    for f in fixtures()["sprt"].as_array().unwrap() {
        let s = Sprt::new(f["p0"].as_f64().unwrap(), f["p1"].as_f64().unwrap(), f["alpha"].as_f64().unwrap(), f["beta"].as_f64().unwrap())
            .unwrap();
        close(s.llr(u(&f["n"]), u(&f["failures"])), &f["llr"], &format!("llr {f}"));
        close(s.upper, &f["upper"], "upper");
        close(s.lower, &f["lower"], "lower");
    }
}

fn canary(args: &[&str]) -> (i32, Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flowgate")).arg("canary").args(args).arg("--json").output().unwrap();
    (out.status.code().unwrap_or(-1), serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
}

#[test]
fn canary_decide_and_simulate_hold_the_worked_example() {
    let p = ["--p0", "0.02", "--p1", "0.06", "--alpha", "0.05", "--beta", "0.2"];
    let decide = |items: &str, failures: &str| canary(&[&["decide"][..], &p, &["--items", items, "--failures", failures]].concat()).1;
    assert_eq!(decide("38", "0")["decision"], "PROMOTE");
    assert_eq!(decide("37", "0")["decision"], "KEEP");
    assert_eq!(decide("10", "3")["decision"], "ABORT");
    assert_eq!(decide("9", "2")["decision"], "KEEP");
    let v = decide("38", "0");
    assert!((v["upper"].as_f64().unwrap() - 2.7726).abs() < 1e-4 && (v["lower"].as_f64().unwrap() + 1.5581).abs() < 1e-4);
    let simulate =
        |rate: &str| canary(&[&["simulate"][..], &p, &["--true-rate", rate, "--trials", "5000", "--max-items", "400"]].concat()).1;
    let at_p0 = simulate("0.02");
    assert!(at_p0["abort"].as_f64().unwrap() <= 0.05, "false aborts {at_p0}");
    let at_p1 = simulate("0.06");
    assert!(at_p1["abort"].as_f64().unwrap() >= 0.75, "detection {at_p1}");
    assert_eq!(canary(&["decide", "--p0", "0.06", "--p1", "0.02", "--items", "1", "--failures", "0"]).0, 2);
    assert_eq!(canary(&["decide", "--p0", "0.02", "--p1", "0.06", "--items", "1", "--failures", "2"]).0, 2);
}

#[test]
fn evaluate_compare_gates_on_paired_results() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: Vec<serde_json::Value>| {
        let p = dir.path().join(name);
        std::fs::write(&p, lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")).unwrap();
        p
    };
    let results = |n: usize, failing: usize| {
        (0..n).map(|i| serde_json::json!({"item": format!("q{i}"), "evaluator": "exact_match", "passed": i >= failing})).collect::<Vec<_>>()
    };
    let base = write("base.jsonl", results(40, 0));
    let worse = write("worse.jsonl", results(40, 8));
    let same = write("same.jsonl", results(40, 0));
    let few = write("few.jsonl", results(10, 0));
    let run = |b: &std::path::Path, c: &std::path::Path, extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flowgate"))
            .args(["evaluate", "compare", "--json", "--baseline"])
            .arg(b)
            .arg("--candidate")
            .arg(c)
            .args(extra)
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null))
    };
    let (code, v) = run(&base, &worse, &[]);
    assert_eq!((code, v["verdict"].as_str()), (1, Some("FAIL")));
    let e = &v["evaluators"][0];
    assert_eq!((e["n"].as_u64(), e["b"].as_u64(), e["c"].as_u64()), (Some(40), Some(8), Some(0)));
    // One-sided mid-p for b = 8, c = 0: P(X > 8) + ½·P(X = 8), X ~ Bin(8, ½) = 1/512.
    assert!((e["p_value"].as_f64().unwrap() - 1.0 / 512.0).abs() < 1e-12);
    assert_eq!(run(&base, &same, &[]).0, 0);
    let (code, v) = run(&few, &few, &[]);
    assert_eq!((code, v["verdict"].as_str()), (1, Some("INSUFFICIENT")), "fewer than 30 items fails closed");
    assert_eq!(run(&base, &same, &["--floor", "exact_match=0.95"]).0, 1, "40/40 is a Wilson lower bound of 91 %");
    assert_eq!(run(&base, &same, &["--floor", "nosuch=0.5"]).0, 2);
    assert_eq!(run(&base, &dir.path().join("missing.jsonl"), &[]).0, 2);
    // Unusable input, each a clear error and exit 2: files that do not pair, an item twice, a
    // result that is not a result, nothing at all, not UTF-8.
    assert_eq!(run(&base, &few, &[]).0, 2, "30 items only the baseline scored do not pair");
    let mut twice = results(40, 0);
    twice.push(twice[0].clone());
    assert_eq!(run(&write("twice.jsonl", twice), &base, &[]).0, 2);
    let bad_type = write("bad.jsonl", vec![serde_json::json!({"item": "q0", "evaluator": "exact_match", "passed": "yes"})]);
    assert_eq!(run(&bad_type, &base, &[]).0, 2);
    assert_eq!(run(&write("empty.jsonl", vec![]), &base, &[]).0, 2);
    let latin1 = dir.path().join("latin1.jsonl");
    std::fs::write(&latin1, b"{\"item\": \"caf\xe9\", \"evaluator\": \"em\", \"passed\": true}\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .args(["evaluate", "compare", "--baseline"])
        .arg(&latin1)
        .arg("--candidate")
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("latin1.jsonl"), "the error names the file");
}

#[test]
fn wilcoxon_pratt_matches_scipy() {
    for f in fixtures()["wilcoxon_pratt_less"].as_array().unwrap() {
        let d: Vec<f64> = f["differences"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let w = wilcoxon_pratt_less(&d).unwrap();
        let what = format!("wilcoxon {} over {} pairs", f["method"], d.len());
        close(w.r_plus, &f["r_plus"], &what);
        close(w.p_less, &f["p_less"], &what);
        assert_eq!(w.exact, f["method"] != "asymptotic", "{what}: exact where SciPy enumerates");
    }
}
