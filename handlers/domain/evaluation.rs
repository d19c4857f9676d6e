//! The offline evaluation gate, pure: a baseline and a candidate scored on the same items, paired
//! by item id, compared per boolean evaluator with the one-sided exact McNemar mid-p under Holm's
//! correction, the drop (b − c) / n, and the Wilson lower bound of the candidate's pass rate
//! against a floor (release-gates.md §3). Fewer paired items than the minimum is INSUFFICIENT,
//! which fails closed. Reads flowgate's JSON Lines and `azure-ai-evaluation`'s result file.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::stats::{holm, mcnemar_mid_p, wilson, Z_95};

/// One evaluator's result on one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub item: String,
    pub evaluator: String,
    pub passed: Option<bool>,
    pub score: Option<f64>,
}

/// Reads flowgate's JSON Lines: `{"item": "...", "evaluator": "...", "passed": true}` (or
/// `"score": 0.8`). `Err` names the line.
pub fn parse_jsonl(text: &str) -> Result<Vec<Observation>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
        let item = match v.get("item") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(format!("line {}: no `item` (the item's id)", i + 1)),
        };
        let evaluator = v.get("evaluator").and_then(Value::as_str).ok_or_else(|| format!("line {}: no `evaluator`", i + 1))?.to_string();
        let passed = v.get("passed").and_then(Value::as_bool);
        let score = v.get("score").and_then(Value::as_f64);
        if passed.is_none() && score.is_none() {
            return Err(format!("line {}: neither `passed` (true/false) nor `score` (a number)", i + 1));
        }
        out.push(Observation { item, evaluator, passed, score });
    }
    Ok(out)
}

/// Reads the file `azure-ai-evaluation`'s `evaluate(output_path=...)` writes: `rows` with
/// `inputs.<id_column>` and `outputs.<evaluator>.<metric>_result` (`pass`/`fail`) or numeric
/// `outputs.<evaluator>.<metric>`. An evaluator with one result is named after itself, else
/// `<evaluator>.<metric>`.
pub fn parse_azure_evaluation(v: &Value, id_column: &str) -> Result<Vec<Observation>, String> {
    let rows = v.get("rows").and_then(Value::as_array).ok_or("no `rows`: not an azure-ai-evaluation result file")?;
    let id_key = format!("inputs.{id_column}");
    let mut results_per_evaluator: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        for key in row.as_object().into_iter().flat_map(|m| m.keys()) {
            if let Some((name, metric)) = key.strip_prefix("outputs.").and_then(|k| k.split_once('.')) {
                if let Some(m) = metric.strip_suffix("_result") {
                    results_per_evaluator.entry(name.to_string()).or_default().insert(m.to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let item = match row.get(&id_key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(format!("row {}: no `{id_key}` to pair items by (--id-column)", i + 1)),
        };
        for (key, value) in row.as_object().into_iter().flatten() {
            let Some((name, metric)) = key.strip_prefix("outputs.").and_then(|k| k.split_once('.')) else { continue };
            let results = results_per_evaluator.get(name);
            let label = |m: &str| if results.is_some_and(|r| r.len() > 1) { format!("{name}.{m}") } else { name.to_string() };
            if let Some(m) = metric.strip_suffix("_result") {
                let passed = match value.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("pass") | Some("true") => Some(true),
                    Some("fail") | Some("false") => Some(false),
                    _ => value.as_bool(),
                };
                if let Some(p) = passed {
                    out.push(Observation { item: item.clone(), evaluator: label(m), passed: Some(p), score: None });
                }
            } else if results.is_none() {
                if let Some(score) = value.as_f64() {
                    out.push(Observation { item: item.clone(), evaluator: format!("{name}.{metric}"), passed: None, score: Some(score) });
                }
            }
        }
    }
    Ok(out)
}

/// The gate's parameters.
#[derive(Debug, Clone)]
pub struct GateOptions {
    pub alpha: f64,
    pub delta: f64,
    pub min_items: u64,
    /// Evaluator → the lowest acceptable Wilson 95 % lower bound of the candidate's pass rate.
    pub floors: BTreeMap<String, f64>,
}

impl Default for GateOptions {
    fn default() -> Self {
        Self { alpha: 0.05, delta: 0.05, min_items: 30, floors: BTreeMap::new() }
    }
}

/// PASS, FAIL or INSUFFICIENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    Insufficient,
    /// Continuous scores: reported, not gated yet.
    NotGated,
}

/// One evaluator's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluatorResult {
    pub name: String,
    /// Paired items.
    pub n: u64,
    /// Baseline passed, candidate failed.
    pub b: u64,
    /// Baseline failed, candidate passed.
    pub c: u64,
    pub p_value: f64,
    pub alpha_holm: f64,
    pub drop: f64,
    pub wilson_lower: Option<f64>,
    pub floor: Option<f64>,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

/// The gate's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub verdict: Verdict,
    pub evaluators: Vec<EvaluatorResult>,
    /// Items only one side scored (not paired, not counted).
    pub unpaired: u64,
}

/// Observations by (evaluator, item); a later one for the same pair wins.
fn index(obs: &[Observation]) -> BTreeMap<(String, String), &Observation> {
    obs.iter().map(|x| ((x.evaluator.clone(), x.item.clone()), x)).collect()
}

/// Compares a candidate with its baseline.
pub fn compare(baseline: &[Observation], candidate: &[Observation], o: &GateOptions) -> Comparison {
    let (base, cand) = (index(baseline), index(candidate));
    let evaluators: BTreeSet<&String> = base.keys().chain(cand.keys()).map(|(e, _)| e).collect();
    let mut unpaired = 0u64;
    let mut rows = Vec::new();
    for e in evaluators {
        let (mut n, mut b, mut c, mut cand_pass, mut boolean) = (0u64, 0u64, 0u64, 0u64, false);
        for ((ev, item), bo) in base.range((e.clone(), String::new())..).take_while(|((ev, _), _)| ev == e) {
            let Some(co) = cand.get(&(ev.clone(), item.clone())) else {
                unpaired += 1;
                continue;
            };
            if let (Some(bp), Some(cp)) = (bo.passed, co.passed) {
                boolean = true;
                n += 1;
                cand_pass += u64::from(cp);
                match (bp, cp) {
                    (true, false) => b += 1,
                    (false, true) => c += 1,
                    _ => {}
                }
            }
        }
        unpaired +=
            cand.range((e.clone(), String::new())..).take_while(|((ev, _), _)| ev == e).filter(|(k, _)| !base.contains_key(k)).count()
                as u64;
        let floor = o.floors.get(e.as_str()).copied();
        let wilson_lower = wilson(cand_pass, n, Z_95).map(|(lo, _)| lo);
        rows.push(EvaluatorResult {
            name: e.clone(),
            n,
            b,
            c,
            p_value: mcnemar_mid_p(b, c),
            alpha_holm: 0.0,
            drop: if n == 0 { 0.0 } else { (b as f64 - c as f64) / n as f64 },
            wilson_lower,
            floor,
            verdict: if boolean { Verdict::Pass } else { Verdict::NotGated },
            reasons: if boolean {
                vec![]
            } else {
                vec!["continuous scores are reported, not gated (the Wilcoxon step is not built yet)".into()]
            },
        });
    }
    let gated: Vec<usize> = rows.iter().enumerate().filter(|(_, r)| r.verdict != Verdict::NotGated).map(|(i, _)| i).collect();
    let holm = holm(&gated.iter().map(|&i| rows[i].p_value).collect::<Vec<_>>(), o.alpha);
    for (k, &i) in gated.iter().enumerate() {
        let r = &mut rows[i];
        let (threshold, rejected) = holm[k];
        r.alpha_holm = threshold;
        if r.n < o.min_items {
            r.verdict = Verdict::Insufficient;
            r.reasons.push(format!("{} paired item(s), fewer than the {} needed: no evidence is not a pass", r.n, o.min_items));
            continue;
        }
        if rejected {
            r.reasons.push(format!("the candidate is worse: one-sided McNemar mid-p {:.4} < {:.4} (Holm)", r.p_value, threshold));
        }
        if r.drop > o.delta {
            r.reasons.push(format!("pass rate drops by {:.1} points (more than {:.1})", r.drop * 100.0, o.delta * 100.0));
        }
        if let (Some(f), Some(lo)) = (r.floor, r.wilson_lower) {
            if lo < f {
                r.reasons.push(format!(
                    "the candidate's pass rate may be as low as {:.1} % (Wilson 95 %), under the floor {:.1} %",
                    lo * 100.0,
                    f * 100.0
                ));
            }
        }
        if !r.reasons.is_empty() {
            r.verdict = Verdict::Fail;
        }
    }
    let verdict = if gated.is_empty() || rows.iter().any(|r| r.verdict == Verdict::Insufficient) {
        Verdict::Insufficient
    } else if rows.iter().any(|r| r.verdict == Verdict::Fail) {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    Comparison { verdict, evaluators: rows, unpaired }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(evaluator: &str, results: &[bool]) -> Vec<Observation> {
        results
            .iter()
            .enumerate()
            .map(|(i, p)| Observation { item: format!("i{i}"), evaluator: evaluator.into(), passed: Some(*p), score: None })
            .collect()
    }

    #[test]
    fn a_regression_fails_and_few_items_are_insufficient() {
        let base = obs("exact_match", &[true; 40]);
        let mut worse = vec![true; 40];
        for x in worse.iter_mut().take(8) {
            *x = false;
        }
        let r = compare(&base, &obs("exact_match", &worse), &GateOptions::default());
        assert_eq!(r.verdict, Verdict::Fail);
        let e = &r.evaluators[0];
        assert_eq!((e.n, e.b, e.c), (40, 8, 0));
        assert!(e.p_value < 0.01 && (e.drop - 0.2).abs() < 1e-12);
        let same = compare(&base, &obs("exact_match", &[true; 40]), &GateOptions::default());
        assert_eq!(same.verdict, Verdict::Pass);
        let few = compare(&obs("exact_match", &[true; 10]), &obs("exact_match", &[true; 10]), &GateOptions::default());
        assert_eq!(few.verdict, Verdict::Insufficient);
        let floors = GateOptions { floors: [("exact_match".to_string(), 0.95)].into(), ..GateOptions::default() };
        let floored = compare(&base, &obs("exact_match", &[true; 40]), &floors);
        assert_eq!(floored.verdict, Verdict::Fail, "40/40 has a Wilson lower bound of 91 %: under a 95 % floor");
    }

    #[test]
    fn both_formats_are_read() {
        let jsonl = "{\"item\": \"a\", \"evaluator\": \"em\", \"passed\": true}\n{\"item\": 2, \"evaluator\": \"f1\", \"score\": 0.5}\n";
        assert_eq!(parse_jsonl(jsonl).unwrap().len(), 2);
        assert!(parse_jsonl("{\"item\": \"a\"}").unwrap_err().starts_with("line 1"));
        let azure = serde_json::json!({"rows": [
            {"inputs.id": "q1", "outputs.f1.f1_score": 0.8, "outputs.f1.f1_result": "pass", "outputs.f1.f1_threshold": 0.5, "outputs.em.exact": 1.0},
            {"inputs.id": "q2", "outputs.f1.f1_score": 0.2, "outputs.f1.f1_result": "fail", "outputs.em.exact": 0.0}
        ], "metrics": {}});
        let o = parse_azure_evaluation(&azure, "id").unwrap();
        assert!(o.iter().any(|x| x.evaluator == "f1" && x.item == "q2" && x.passed == Some(false)));
        assert!(o.iter().any(|x| x.evaluator == "em.exact" && x.score == Some(1.0)));
        assert!(parse_azure_evaluation(&azure, "query").is_err());
    }
}
