//! The offline evaluation gate, pure: a baseline and a candidate scored on the same items, paired
//! by item id, compared per boolean evaluator with the one-sided exact McNemar mid-p under Holm's
//! correction, the drop (b − c) / n, and the Wilson lower bound of the candidate's pass rate
//! against a floor (release-gates.md §3). Fewer paired items than the minimum is INSUFFICIENT,
//! which fails closed. Scores (not pass/fail) are compared with the one-sided paired Wilcoxon
//! signed-rank test (Pratt) in the same Holm step, and the relative drop of their mean. Reads
//! flowgate's JSON Lines, `azure-ai-evaluation`'s result file and a Foundry evaluation run's
//! output items.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::stats::{holm, mcnemar_mid_p, wilcoxon_pratt_less, wilson, Z_95};

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
        let passed = match v.get("passed") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => return Err(format!("line {}: `passed` is {other}, not true or false", i + 1)),
        };
        let score = match v.get("score") {
            None | Some(Value::Null) => None,
            Some(x) => Some(x.as_f64().filter(|f| f.is_finite()).ok_or_else(|| format!("line {}: `score` is {x}, not a number", i + 1))?),
        };
        if passed.is_none() && score.is_none() {
            return Err(format!("line {}: neither `passed` (true/false) nor `score` (a number)", i + 1));
        }
        out.push(Observation { item, evaluator, passed, score });
    }
    Ok(out)
}

/// Evaluator → the names of its metrics.
type Metrics<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

/// Reads the file `azure-ai-evaluation`'s `evaluate(output_path=...)` writes: `rows` with
/// `inputs.<id_column>` and, per evaluator, `outputs.<evaluator>.<metric>_result` (`pass`/`fail`,
/// which then stands for the evaluator) or else its numeric or true/false
/// `outputs.<evaluator>.<metric>` values. A result is named after its evaluator when the evaluator
/// gives one, else `<evaluator>.<metric>`.
pub fn parse_azure_evaluation(v: &Value, id_column: &str) -> Result<Vec<Observation>, String> {
    let rows = v.get("rows").and_then(Value::as_array).ok_or("no `rows`: not an azure-ai-evaluation result file")?;
    let id_key = format!("inputs.{id_column}");
    // Evaluator → its `_result` metrics, and → its metrics that carry a value.
    let mut results: Metrics = BTreeMap::new();
    let mut values: Metrics = BTreeMap::new();
    for row in rows {
        for (key, value) in row.as_object().into_iter().flatten() {
            let Some((name, metric)) = key.strip_prefix("outputs.").and_then(|k| k.split_once('.')) else { continue };
            match metric.strip_suffix("_result") {
                Some(m) => results.entry(name).or_default().insert(m),
                None if value.is_number() || value.is_boolean() => values.entry(name).or_default().insert(metric),
                None => false,
            };
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
            let label = |m: &str, of: &Metrics| {
                if of.get(name).is_some_and(|r| r.len() > 1) {
                    format!("{name}.{m}")
                } else {
                    name.to_string()
                }
            };
            if let Some(m) = metric.strip_suffix("_result") {
                let passed = match value.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("pass") | Some("true") => Some(true),
                    Some("fail") | Some("false") => Some(false),
                    _ => value.as_bool(),
                };
                let passed = passed.ok_or_else(|| format!("row {}: `{key}` is {value}, not pass or fail", i + 1))?;
                out.push(Observation { item: item.clone(), evaluator: label(m, &results), passed: Some(passed), score: None });
            } else if !results.contains_key(name) {
                let (passed, score) = (value.as_bool(), value.as_f64());
                if passed.is_some() || score.is_some() {
                    out.push(Observation { item: item.clone(), evaluator: label(metric, &values), passed, score });
                }
            }
        }
    }
    Ok(out)
}

/// Reads the output items of a Foundry (OpenAI-compatible) evaluation run — what
/// `GET /openai/v1/evals/{eval}/runs/{run}/output_items` answers (`{"data": [...]}`), or the items
/// one per line: each item's `results` (one per grader: `name`, `passed`, `score`) for the item
/// named by `datasource_item.<id_column>` (else `datasource_item_id`). Errored items (no result)
/// are left out.
pub fn parse_output_items(items: &[Value], id_column: &str) -> Result<Vec<Observation>, String> {
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let item = match (it["datasource_item"].get(id_column), it.get("datasource_item_id")) {
            (Some(Value::String(s)), _) => s.clone(),
            (Some(Value::Number(n)), _) | (None, Some(Value::Number(n))) => n.to_string(),
            _ => return Err(format!("output item {}: no `datasource_item.{id_column}` or `datasource_item_id`", i + 1)),
        };
        for r in it["results"].as_array().into_iter().flatten() {
            let Some(name) = r.get("name").and_then(Value::as_str) else { continue };
            let passed = r.get("passed").and_then(Value::as_bool);
            let score = r.get("score").and_then(Value::as_f64).filter(|s| s.is_finite());
            if passed.is_some() || score.is_some() {
                out.push(Observation {
                    item: item.clone(),
                    evaluator: name.to_string(),
                    passed,
                    score: if passed.is_some() { None } else { score },
                });
            }
        }
    }
    Ok(out)
}

fn is_output_item(v: &Value) -> bool {
    v.get("object").and_then(Value::as_str) == Some("eval.run.output_item")
}

/// Reads any of the three formats from a file's bytes: an azure-ai-evaluation result file (one
/// JSON object with `rows`), a Foundry evaluation run's output items (`{"data": [...]}` or one per
/// line), or flowgate's JSON Lines. `Err` says what is wrong (the caller names the file).
pub fn parse_results(bytes: &[u8], id_column: &str) -> Result<Vec<Observation>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text (byte {})", e.valid_up_to()))?;
    let whole = serde_json::from_str::<Value>(text).ok();
    let first_line = text.lines().find(|l| !l.trim().is_empty()).and_then(|l| serde_json::from_str::<Value>(l).ok());
    let obs = match (&whole, &first_line) {
        (Some(v), _) if v.get("rows").is_some() => parse_azure_evaluation(v, id_column),
        (Some(v), _) if v["data"].as_array().is_some_and(|d| d.first().is_some_and(is_output_item)) => {
            parse_output_items(v["data"].as_array().map_or(&[][..], |d| d.as_slice()), id_column)
        }
        (_, Some(l)) if is_output_item(l) => {
            let items = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| serde_json::from_str::<Value>(l).map_err(|e| format!("line {}: not JSON: {e}", i + 1)))
                .collect::<Result<Vec<_>, _>>()?;
            parse_output_items(&items, id_column)
        }
        _ => parse_jsonl(text),
    }?;
    if obs.is_empty() {
        return Err("no evaluation results in it".into());
    }
    Ok(obs)
}

/// The item ids of a labelled dataset (JSON Lines, the id in `id_column`), each once.
pub fn dataset_items(bytes: &[u8], id_column: &str) -> Result<BTreeSet<String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text (byte {})", e.valid_up_to()))?;
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
        let id = match v.get(id_column) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(format!("line {}: no `{id_column}`", i + 1)),
        };
        if !out.insert(id.clone()) {
            return Err(format!("line {}: item `{id}` again: item ids must be unique", i + 1));
        }
    }
    Ok(out)
}

/// Whether results cover exactly the dataset's items: `Err` names one that differs.
pub fn covers(obs: &[Observation], items: &BTreeSet<String>) -> Result<(), String> {
    let seen: BTreeSet<&String> = obs.iter().map(|o| &o.item).collect();
    if let Some(extra) = seen.iter().find(|i| !items.contains(**i)) {
        return Err(format!("item `{extra}` is not in the pinned evaluation dataset: were these results made on another dataset?"));
    }
    if let Some(missing) = items.iter().find(|i| !seen.contains(i)) {
        let n = items.iter().filter(|i| !seen.contains(i)).count();
        return Err(format!("{n} item(s) of the pinned evaluation dataset have no result, e.g. `{missing}`"));
    }
    Ok(())
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    Insufficient,
}

/// What an evaluator gives each item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Pass or fail: exact McNemar, the drop in pass rate, the Wilson floor.
    Boolean,
    /// A number: Wilcoxon signed-rank (Pratt), the relative drop of the mean.
    Score,
}

/// One evaluator's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluatorResult {
    pub name: String,
    pub kind: Kind,
    /// Paired items.
    pub n: u64,
    /// Baseline better: passed where the candidate failed, or scored higher.
    pub b: u64,
    /// Candidate better.
    pub c: u64,
    /// One-sided: small means the candidate is worse (McNemar mid-p, or Wilcoxon for scores).
    pub p_value: f64,
    pub alpha_holm: f64,
    /// Boolean: (b − c) / n. Score: (baseline mean − candidate mean) / |baseline mean|.
    pub drop: f64,
    pub wilson_lower: Option<f64>,
    pub floor: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_baseline: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_candidate: Option<f64>,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

/// The gate's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub verdict: Verdict,
    pub evaluators: Vec<EvaluatorResult>,
}

/// Why two result sets cannot be compared at all (unusable input, not a verdict).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    #[error("the {side} has two results of `{evaluator}` for item `{item}`: item ids must be unique")]
    Duplicate { side: &'static str, evaluator: String, item: String },
    #[error("`{evaluator}` scored item `{item}` in the {side} only{more}: both must score the same items (the same pinned dataset)")]
    Unpaired { side: &'static str, evaluator: String, item: String, more: String },
    #[error("`{0}` gives pass/fail for some items and a score for others")]
    MixedKinds(String),
    #[error("--floor names `{0}`, which neither file has")]
    UnknownFloor(String),
    #[error("--floor names `{0}`, which gives scores: a floor is a lowest pass rate, for a pass/fail evaluator")]
    FloorOnScores(String),
}

/// The value one evaluator gave one item.
#[derive(Clone, Copy)]
enum Value1 {
    Passed(bool),
    Score(f64),
}

type Side = BTreeMap<String, BTreeMap<String, Value1>>;

/// Evaluator → item → value; a second value for the same pair is an error.
fn index(obs: &[Observation], side: &'static str) -> Result<Side, PairingError> {
    let mut out: Side = BTreeMap::new();
    for x in obs {
        let v = match (x.passed, x.score) {
            (Some(p), _) => Value1::Passed(p),
            (None, Some(s)) => Value1::Score(s),
            (None, None) => continue,
        };
        if out.entry(x.evaluator.clone()).or_default().insert(x.item.clone(), v).is_some() {
            return Err(PairingError::Duplicate { side, evaluator: x.evaluator.clone(), item: x.item.clone() });
        }
    }
    Ok(out)
}

fn unpaired(
    evaluator: &str,
    one: &BTreeMap<String, Value1>,
    other: &BTreeMap<String, Value1>,
    side: &'static str,
) -> Result<(), PairingError> {
    let missing: Vec<&String> = one.keys().filter(|k| !other.contains_key(*k)).collect();
    match missing.first() {
        None => Ok(()),
        Some(item) => Err(PairingError::Unpaired {
            side,
            evaluator: evaluator.to_string(),
            item: (*item).clone(),
            more: if missing.len() > 1 { format!(" (and {} more)", missing.len() - 1) } else { String::new() },
        }),
    }
}

/// One evaluator's figures before Holm's step.
fn measure(
    name: &str,
    base: &BTreeMap<String, Value1>,
    cand: &BTreeMap<String, Value1>,
    o: &GateOptions,
) -> Result<EvaluatorResult, PairingError> {
    unpaired(name, base, cand, "baseline")?;
    unpaired(name, cand, base, "candidate")?;
    let pairs: Vec<(Value1, Value1)> = base.iter().map(|(item, b)| (*b, cand[item])).collect();
    let n = pairs.len() as u64;
    let mut r = EvaluatorResult {
        name: name.to_string(),
        kind: Kind::Boolean,
        n,
        b: 0,
        c: 0,
        p_value: 1.0,
        alpha_holm: 0.0,
        drop: 0.0,
        wilson_lower: None,
        floor: o.floors.get(name).copied(),
        mean_baseline: None,
        mean_candidate: None,
        verdict: Verdict::Pass,
        reasons: vec![],
    };
    if pairs.iter().all(|p| matches!(p, (Value1::Passed(_), Value1::Passed(_)))) {
        let mut cand_pass = 0u64;
        for (bv, cv) in &pairs {
            let (Value1::Passed(bp), Value1::Passed(cp)) = (bv, cv) else { unreachable!("all pairs are pass/fail") };
            cand_pass += u64::from(*cp);
            match (bp, cp) {
                (true, false) => r.b += 1,
                (false, true) => r.c += 1,
                _ => {}
            }
        }
        r.p_value = mcnemar_mid_p(r.b, r.c);
        r.drop = if n == 0 { 0.0 } else { (r.b as f64 - r.c as f64) / n as f64 };
        r.wilson_lower = wilson(cand_pass, n, Z_95).map(|(lo, _)| lo);
        return Ok(r);
    }
    if r.floor.is_some() {
        return Err(PairingError::FloorOnScores(name.to_string()));
    }
    let mut diffs = Vec::with_capacity(pairs.len());
    let (mut sum_b, mut sum_c) = (0.0, 0.0);
    for (bv, cv) in &pairs {
        let (Value1::Score(bs), Value1::Score(cs)) = (bv, cv) else { return Err(PairingError::MixedKinds(name.to_string())) };
        sum_b += bs;
        sum_c += cs;
        diffs.push(cs - bs);
    }
    r.kind = Kind::Score;
    r.b = diffs.iter().filter(|d| **d < 0.0).count() as u64;
    r.c = diffs.iter().filter(|d| **d > 0.0).count() as u64;
    r.p_value = wilcoxon_pratt_less(&diffs).map_or(1.0, |w| w.p_less);
    let (mb, mc) = (sum_b / n.max(1) as f64, sum_c / n.max(1) as f64);
    r.mean_baseline = Some(mb);
    r.mean_candidate = Some(mc);
    r.drop = if mb == 0.0 { (mb - mc).max(0.0) } else { (mb - mc) / mb.abs() };
    Ok(r)
}

/// Compares a candidate with its baseline. Every evaluator must score the same items on both
/// sides, once each; anything else is unusable input, not a verdict.
pub fn compare(baseline: &[Observation], candidate: &[Observation], o: &GateOptions) -> Result<Comparison, PairingError> {
    let (base, cand) = (index(baseline, "baseline")?, index(candidate, "candidate")?);
    if let Some(name) = o.floors.keys().find(|f| !base.contains_key(*f) && !cand.contains_key(*f)) {
        return Err(PairingError::UnknownFloor(name.clone()));
    }
    let empty = BTreeMap::new();
    let names: BTreeSet<&String> = base.keys().chain(cand.keys()).collect();
    let mut rows = names
        .into_iter()
        .map(|e| measure(e, base.get(e).unwrap_or(&empty), cand.get(e).unwrap_or(&empty), o))
        .collect::<Result<Vec<_>, _>>()?;
    let holm = holm(&rows.iter().map(|r| r.p_value).collect::<Vec<_>>(), o.alpha);
    for (r, (threshold, rejected)) in rows.iter_mut().zip(holm) {
        r.alpha_holm = threshold;
        if r.n < o.min_items {
            r.verdict = Verdict::Insufficient;
            r.reasons.push(format!("{} paired item(s), fewer than the {} needed: no evidence is not a pass", r.n, o.min_items));
            continue;
        }
        let test = match r.kind {
            Kind::Boolean => "one-sided McNemar mid-p",
            Kind::Score => "one-sided Wilcoxon signed-rank (Pratt) p",
        };
        if rejected {
            r.reasons.push(format!("the candidate is worse: {test} {:.4} < {:.4} (Holm)", r.p_value, threshold));
        }
        if r.drop > o.delta {
            let what = match r.kind {
                Kind::Boolean => format!("pass rate drops by {:.1} points", r.drop * 100.0),
                Kind::Score => format!("mean score drops by {:.1} %", r.drop * 100.0),
            };
            r.reasons.push(format!("{what} (more than {:.1})", o.delta * 100.0));
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
    let verdict = if rows.is_empty() || rows.iter().any(|r| r.verdict == Verdict::Insufficient) {
        Verdict::Insufficient
    } else if rows.iter().any(|r| r.verdict == Verdict::Fail) {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    Ok(Comparison { verdict, evaluators: rows })
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
        let r = compare(&base, &obs("exact_match", &worse), &GateOptions::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Fail);
        let e = &r.evaluators[0];
        assert_eq!((e.n, e.b, e.c), (40, 8, 0));
        assert!(e.p_value < 0.01 && (e.drop - 0.2).abs() < 1e-12);
        let same = compare(&base, &obs("exact_match", &[true; 40]), &GateOptions::default()).unwrap();
        assert_eq!(same.verdict, Verdict::Pass);
        let few = compare(&obs("exact_match", &[true; 10]), &obs("exact_match", &[true; 10]), &GateOptions::default()).unwrap();
        assert_eq!(few.verdict, Verdict::Insufficient);
        let floors = GateOptions { floors: [("exact_match".to_string(), 0.95)].into(), ..GateOptions::default() };
        let floored = compare(&base, &obs("exact_match", &[true; 40]), &floors).unwrap();
        assert_eq!(floored.verdict, Verdict::Fail, "40/40 has a Wilson lower bound of 91 %: under a 95 % floor");
    }

    #[test]
    fn foundry_output_items_are_read_as_a_page_or_one_per_line() {
        let item = |id: &str, passed: bool| {
            serde_json::json!({"object": "eval.run.output_item", "id": format!("oi_{id}"), "datasource_item_id": 7, "datasource_item": {"id": id, "query": "q"},
                "results": [{"name": "label_match", "passed": passed, "score": if passed { 1.0 } else { 0.0 }, "type": "string_check"}, {"name": "similarity", "score": 0.75}], "status": "completed"})
        };
        let page = serde_json::json!({"object": "list", "data": [item("a", true), item("b", false)], "has_more": false});
        let o = parse_results(page.to_string().as_bytes(), "id").unwrap();
        assert!(o.contains(&Observation { item: "b".into(), evaluator: "label_match".into(), passed: Some(false), score: None }));
        assert!(o.contains(&Observation { item: "a".into(), evaluator: "similarity".into(), passed: None, score: Some(0.75) }));
        let lines = format!("{}\n{}\n", item("a", true), item("b", true));
        assert_eq!(parse_results(lines.as_bytes(), "id").unwrap().len(), 4);
        let by_index = serde_json::json!({"data": [{"object": "eval.run.output_item", "datasource_item_id": 3, "datasource_item": {}, "results": [{"name": "g", "passed": true}]}]});
        assert_eq!(parse_results(by_index.to_string().as_bytes(), "id").unwrap()[0].item, "3");
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
        assert!(o.iter().any(|x| x.evaluator == "em" && x.score == Some(1.0)));
        assert!(parse_azure_evaluation(&azure, "query").is_err());
    }

    fn scores(evaluator: &str, values: &[f64]) -> Vec<Observation> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Observation { item: format!("i{i}"), evaluator: evaluator.into(), passed: None, score: Some(*v) })
            .collect()
    }

    #[test]
    fn scores_are_gated_by_wilcoxon_and_the_mean() {
        let base: Vec<f64> = (0..40).map(|i| 0.6 + (i % 5) as f64 * 0.1).collect();
        let worse: Vec<f64> = base.iter().enumerate().map(|(i, v)| if i % 3 == 0 { v - 0.3 } else { *v }).collect();
        let r = compare(&scores("f1", &base), &scores("f1", &worse), &GateOptions::default()).unwrap();
        let e = &r.evaluators[0];
        assert_eq!((r.verdict, e.kind, e.b, e.c), (Verdict::Fail, Kind::Score, 14, 0));
        assert!(e.p_value < 0.001 && e.drop > 0.05, "{e:?}");
        let same = compare(&scores("f1", &base), &scores("f1", &base), &GateOptions::default()).unwrap();
        assert_eq!(same.verdict, Verdict::Pass, "no difference at all is no evidence of harm");
        let floors = GateOptions { floors: [("f1".to_string(), 0.5)].into(), ..GateOptions::default() };
        assert_eq!(compare(&scores("f1", &base), &scores("f1", &base), &floors).unwrap_err(), PairingError::FloorOnScores("f1".into()));
    }

    #[test]
    fn results_that_do_not_pair_are_unusable() {
        let base = obs("em", &[true; 40]);
        let err = compare(&base, &obs("em", &[true; 38]), &GateOptions::default()).unwrap_err();
        assert!(matches!(&err, PairingError::Unpaired { side: "baseline", item, .. } if item == "i38"), "{err}");
        assert!(err.to_string().contains("and 1 more"));
        let mut twice = base.clone();
        twice.push(base[3].clone());
        assert!(matches!(compare(&twice, &base, &GateOptions::default()), Err(PairingError::Duplicate { side: "baseline", .. })));
        let other = compare(&base, &obs("f1", &[true; 40]), &GateOptions::default()).unwrap_err();
        assert!(matches!(other, PairingError::Unpaired { .. }), "an evaluator only one side has does not pair");
        let floors = GateOptions { floors: [("nope".to_string(), 0.5)].into(), ..GateOptions::default() };
        assert_eq!(compare(&base, &base, &floors).unwrap_err(), PairingError::UnknownFloor("nope".into()));
        let mut mixed = scores("em", &[1.0; 40]);
        mixed[0] = Observation { passed: Some(true), score: None, ..mixed[0].clone() };
        assert_eq!(compare(&mixed, &scores("em", &[1.0; 40]), &GateOptions::default()).unwrap_err(), PairingError::MixedKinds("em".into()));
        assert!(parse_jsonl("{\"item\": \"a\", \"evaluator\": \"em\", \"passed\": \"yes\"}").unwrap_err().contains("`passed`"));
    }
}
