//! The exact statistics against SciPy: every value of `tests/stats/fixtures.json` (made by
//! `tests/stats/make_fixtures.py` with the SciPy version it records) reproduced to 1e-9.

use flowgate::domain::stats::{fisher_greater, mcnemar_mid_p, wilson, Sprt, Z_95};
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
