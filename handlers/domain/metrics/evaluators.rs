//! Evaluator pass rates (monitoring.md §1.2) and the changes the audit trail recorded, for the
//! week: per evaluation job, items that passed ÷ items scored over its runs that succeeded, and
//! its runs that failed because items errored (an error rate, kept out of the pass rate); each
//! release's offline evaluation recorded in the week with its per-evaluator verdicts; and the
//! configuration and release changes, by kind and one by one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Ratio;
use crate::domain::run::RunStatus;

/// What one evaluation run contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalRun {
    pub job: String,
    pub status: RunStatus,
    /// Items scored and items passed (a Foundry eval's `result_counts`).
    pub scored: u64,
    pub passed: u64,
}

/// One evaluation job's week.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct EvaluatorFigures {
    pub runs: u64,
    /// passed ÷ scored over the runs that completed.
    pub pass_rate: Ratio,
    /// Runs that ended failed or quarantined (items errored, the eval failed).
    pub errored_runs: u64,
}

/// Per job, from the evaluation runs that ended in the week.
pub fn evaluator_figures(runs: &[EvalRun]) -> BTreeMap<String, EvaluatorFigures> {
    let mut out: BTreeMap<String, EvaluatorFigures> = BTreeMap::new();
    for r in runs {
        let f = out.entry(r.job.clone()).or_default();
        f.runs += 1;
        match r.status {
            RunStatus::Succeeded => {
                f.pass_rate.num += r.passed;
                f.pass_rate.den += r.scored;
            }
            RunStatus::Failed | RunStatus::Quarantined => f.errored_runs += 1,
            _ => {}
        }
    }
    out
}

/// A release's offline evaluation, as the week's report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseEvaluation {
    pub release: String,
    pub at: DateTime<Utc>,
    pub verdict: String,
    /// Evaluator, paired items, verdict.
    pub evaluators: Vec<(String, u64, String)>,
}

/// One change from the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub decision: String,
}

/// The week's changes: counts by kind, and the first `MAX_CHANGES` one by one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Changes {
    pub by_kind: BTreeMap<String, u64>,
    pub items: Vec<Change>,
    /// Changes past the list's length (counted in `by_kind`).
    pub more: u64,
}

/// Changes listed one by one at most.
pub const MAX_CHANGES: usize = 50;

/// The audit kinds that are changes (configuration, releases, traffic, silences, retention).
pub const CHANGE_KINDS: [&str; 12] = [
    "config_changed",
    "release_proposed",
    "release_approved",
    "release_rejected",
    "release_promoted",
    "release_rolled_back",
    "emergency_reviewed",
    "canary_decided",
    "traffic_switched",
    "alert_silenced",
    "retention_applied",
    "discarded",
];

pub fn changes(events: impl IntoIterator<Item = Change>) -> Changes {
    let mut c = Changes::default();
    for e in events.into_iter().filter(|e| CHANGE_KINDS.contains(&e.kind.as_str())) {
        *c.by_kind.entry(e.kind.clone()).or_default() += 1;
        if c.items.len() < MAX_CHANGES {
            c.items.push(e);
        } else {
            c.more += 1;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn errored_runs_stay_out_of_the_pass_rate_and_changes_are_counted_by_kind() {
        let run = |status, scored, passed| EvalRun { job: "groundedness".into(), status, scored, passed };
        let f = evaluator_figures(&[run(RunStatus::Succeeded, 10, 8), run(RunStatus::Succeeded, 10, 9), run(RunStatus::Failed, 0, 0)]);
        let g = &f["groundedness"];
        assert_eq!((g.runs, g.pass_rate.num, g.pass_rate.den, g.errored_runs), (3, 17, 20, 1));
        assert!(evaluator_figures(&[]).is_empty());
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let ev =
            |seq, kind: &str| Change { seq, at, kind: kind.into(), actor: "dev:bob".into(), subject: "s".into(), decision: "d".into() };
        let c = changes((0..60).map(|i| ev(i, "release_approved")).chain([ev(99, "attempted")]));
        assert_eq!((c.by_kind["release_approved"], c.items.len(), c.more), (60, MAX_CHANGES, 10));
        assert!(!c.by_kind.contains_key("attempted"));
    }
}
