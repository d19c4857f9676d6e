//! The offline evaluation gate of a release: the candidate's and the baseline's results on the
//! dataset the release pins are recorded with the comparison (`flowgate release evaluate`), and the
//! gate's `evaluation` check reads the latest record.

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::ops::{audit, load};
use super::{records, ReleaseDeps, ReleaseError};
use crate::domain::audit::AuditKind;
use crate::domain::evaluation::{compare, covers, dataset_items, parse_results, Verdict};
use crate::domain::principal::Principal;
use crate::domain::release::{CheckResult, EvaluationRecord, ReleaseId};

/// Compares a candidate's results with the baseline's on the release's pinned dataset and records
/// the outcome (a FAIL is recorded too: it is evidence). Unusable input is `BadInput`.
pub async fn evaluate(
    d: &ReleaseDeps,
    id: &ReleaseId,
    by: &Principal,
    baseline: &[u8],
    candidate: &[u8],
    now: DateTime<Utc>,
) -> Result<EvaluationRecord, ReleaseError> {
    let (bundle, view) = load(d, id).await?;
    let Some(check) = view.catalog.releases.checks.evaluation.clone() else {
        return Err(ReleaseError::BadInput(format!(
            "release {} has no `releases.checks.evaluation`: it pins no evaluation dataset to gate on",
            id.short()
        )));
    };
    let data =
        bundle.file(&check.dataset).ok_or_else(|| ReleaseError::Content(format!("{} is missing from the release", check.dataset)))?;
    let items = dataset_items(&data, &check.id_column).map_err(|e| ReleaseError::Content(format!("{}: {e}", check.dataset)))?;
    let read = |side: &str, bytes: &[u8]| {
        let obs = parse_results(bytes, &check.id_column).map_err(|e| ReleaseError::BadInput(format!("{side}: {e}")))?;
        covers(&obs, &items).map_err(|e| ReleaseError::BadInput(format!("{side}: {e}")))?;
        Ok::<_, ReleaseError>(obs)
    };
    let (base, cand) = (read("baseline", baseline)?, read("candidate", candidate)?);
    let comparison = compare(&base, &cand, &check.options()).map_err(|e| ReleaseError::BadInput(e.to_string()))?;
    let active = records::pointer(d.store.as_ref()).await?.map(|(p, _)| p.release);
    let sha = |b: &[u8]| hex::encode(Sha256::digest(b));
    let mut record = EvaluationRecord {
        release: id.clone(),
        at: now,
        by: by.clone(),
        baseline_release: active,
        dataset: check.dataset.clone(),
        dataset_sha256: sha(&data),
        baseline_sha256: sha(baseline),
        candidate_sha256: sha(candidate),
        verdict: comparison.verdict,
        comparison: json!(comparison),
        audit_seq: 0,
    };
    let decision = format!("offline evaluation {} on {} items of {}", verdict_word(comparison.verdict), items.len(), check.dataset);
    let evidence = json!({
        "dataset": record.dataset, "dataset_sha256": record.dataset_sha256, "baseline_release": record.baseline_release,
        "baseline_sha256": record.baseline_sha256, "candidate_sha256": record.candidate_sha256, "comparison": record.comparison,
    });
    let event = audit(d, now, AuditKind::ReleaseEvaluated, &by.key(), id.as_str(), decision, evidence).await?;
    record.audit_seq = event.seq;
    records::put_evaluation(d.store.as_ref(), &record).await?;
    Ok(record)
}

/// Each evaluator's verdict and numbers, for people: `exact_match FAIL (n 38, b 9, c 0, p 0.0010, drop +0.237)`.
pub fn figures(comparison: &serde_json::Value) -> Vec<String> {
    comparison["evaluators"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {} (n {}, b {}, c {}, p {:.4}, drop {:+.3})",
                e["name"].as_str().unwrap_or("?"),
                e["verdict"].as_str().unwrap_or("?"),
                e["n"],
                e["b"],
                e["c"],
                e["p_value"].as_f64().unwrap_or(1.0),
                e["drop"].as_f64().unwrap_or(0.0)
            )
        })
        .collect()
}

/// PASS, FAIL or INSUFFICIENT.
pub fn verdict_word(v: Verdict) -> String {
    json!(v).as_str().unwrap_or_default().to_string()
}

/// The gate's `evaluation` check: the latest recorded evaluation of this release passed.
pub(super) async fn check(d: &ReleaseDeps, id: &ReleaseId, dataset: &str) -> Result<CheckResult, ReleaseError> {
    let r = records::evaluation(d.store.as_ref(), id).await?;
    let (passed, detail) = match &r {
        None => (
            false,
            format!("no offline evaluation recorded: run `flowgate release evaluate {} --baseline FILE --candidate FILE`", id.short()),
        ),
        Some(r) => (
            r.verdict == Verdict::Pass,
            format!("{} by {} at {}: {}", verdict_word(r.verdict), r.by.key(), r.at.to_rfc3339(), figures(&r.comparison).join("; ")),
        ),
    };
    Ok(CheckResult { check: "evaluation".into(), subject: dataset.into(), passed, detail })
}
