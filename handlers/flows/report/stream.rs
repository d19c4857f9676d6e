//! Reading the run records for a week's report page by page, keeping only what its figures need.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::metrics::evaluators::EvalRun;
use crate::domain::metrics::RunFacts;
use crate::ports::{Store, StoreError, Table};

/// Runs read per page: a state of any size is read without holding its records.
const PAGE: usize = 5_000;
/// A job's older runs are trimmed when this many have gathered.
const TRIM_AT: usize = 512;

/// Reads every run record page by page and keeps only its facts, and of those only what the
/// week's figures need: every run that ended at or after `keep_from` (the week before) or has not
/// ended, and of each job's older runs its last success and what ended after it (an episode still
/// open at `keep_from` opened there; earlier ones closed). Also the gate decisions of the runs
/// that ended in `[from, to)`.
pub(super) async fn stream_runs(
    store: &dyn Store,
    keep_from: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    evaluation_jobs: &std::collections::BTreeSet<String>,
) -> Result<Streamed, StoreError> {
    let mut evals = Vec::new();
    let mut kept: Vec<RunFacts> = Vec::new();
    let mut older: BTreeMap<String, Vec<RunFacts>> = BTreeMap::new();
    let mut gates = Vec::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let page = store.page(Table::RUNS, after.as_ref().map(|(p, r)| (p.as_str(), r.as_str())), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.partition.clone(), last.row.clone()));
        for e in page {
            let rec: crate::domain::run::RunRecord = serde_json::from_value(e.body)
                .map_err(|err| StoreError::Corrupt(format!("runs({},{})", e.partition, e.row), err.to_string()))?;
            let f = RunFacts::of(&rec);
            if f.ended_in(from, to) {
                if evaluation_jobs.contains(&f.job) {
                    evals.push(EvalRun { job: f.job.clone(), status: f.status, scored: rec.records_in, passed: rec.records_out });
                }
                gates.extend(rec.gate);
            }
            match f.finished {
                Some(t) if t < keep_from => {
                    let list = older.entry(f.job.clone()).or_default();
                    list.push(f);
                    if list.len() >= TRIM_AT {
                        trim(list);
                    }
                }
                _ => kept.push(f),
            }
        }
    }
    for (_, mut list) in older {
        trim(&mut list);
        kept.extend(list);
    }
    Ok(Streamed { facts: kept, gates, evals })
}

/// What the report keeps of the run records.
pub(super) struct Streamed {
    pub(super) facts: Vec<RunFacts>,
    pub(super) gates: Vec<crate::domain::gate::GateDecision>,
    pub(super) evals: Vec<EvalRun>,
}

/// Keeps a job's last success and the runs that ended after it.
fn trim(list: &mut Vec<RunFacts>) {
    list.sort_by_key(|f| f.finished);
    if let Some(i) = list.iter().rposition(|f| f.status == crate::domain::run::RunStatus::Succeeded) {
        list.drain(..i);
    }
}
