//! NCrontab's own evaluation cases (`../shared/peer-suites/ncrontab/evaluations.tsv`, from the
//! library the Azure Functions timer uses): each start, expression and next occurrence as NCrontab
//! computes it, checked against flowgate's parser and evaluator. A five-field case is Azure's
//! six fields with a leading `0` seconds field.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use flowgate::domain::schedule::Ncrontab;

fn suite() -> Option<String> {
    crate::helpers::peer_suite("ncrontab/evaluations.tsv").map(|p| std::fs::read_to_string(p).unwrap())
}

fn at(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%d/%m/%Y %H:%M:%S").unwrap().and_utc()
}

#[test]
fn every_ncrontab_evaluation_case_gives_the_same_next_occurrence() {
    let Some(text) = suite() else { return };
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (start, expr, next, seconds) = (cols[0], cols[1], cols[2], cols[3] == "true");
        let six = if seconds { expr.to_string() } else { format!("0 {expr}") };
        let got = match Ncrontab::parse(&six) {
            Ok(c) => c.next_after(at(start), Tz::UTC),
            Err(e) => {
                wrong.push(format!("{expr}: refused: {e}"));
                continue;
            }
        };
        if got != Some(at(next)) {
            wrong.push(format!("{start} `{expr}`: NCrontab {next}, flowgate {got:?}"));
        }
        checked += 1;
    }
    assert!(wrong.is_empty(), "{} of {} differ:\n{}", wrong.len(), checked + wrong.len(), wrong.join("\n"));
    assert!(checked >= 100, "{checked} cases");
}

#[test]
fn a_schedule_that_never_fires_is_a_warning_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.yaml");
    std::fs::write(&file, "version: 1\njobs:\n  never:\n    kind: http\n    endpoint: https://x.example/score\n    schedule: \"0 0 0 31 Feb *\"\n  leap:\n    kind: http\n    endpoint: https://x.example/score\n    schedule: \"0 0 0 29 Feb *\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flowgate")).arg("validate").arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("catalog.yaml:6:15: `0 0 0 31 Feb *` matches no date: `never` would never run"), "{text}");
    assert!(!text.contains("`leap` would never run"), "29 February comes every four years: {text}");
    // And the schedule's names and steps in NCrontab's forms are valid.
    for expr in ["0 2/5 * * * *", "0 0 14/1 * * *", "5/15 * * * * *", "0 0 8 * February,April-Jun *", "0 0 8 * SEPT-October,DECEM sunday"] {
        assert!(Ncrontab::parse(expr).is_ok(), "{expr}");
    }
}
