//! `flowgate trace`: walks back from a run (or the output file it wrote) to its sources — the
//! run and its attempts, the release, job definition and endpoint deployment it ran with, the
//! input arrivals with their contract verdicts, schema versions and the freshness its gate saw,
//! and the upstream runs it depended on, recursively. It answers from the records flowgate keeps
//! and says which are gone (removed by retention) instead of failing.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::domain::ids::{instant_key, JobId, RunKey};
use crate::domain::run::{RunRecord, RunStatus};
use crate::flows::releases::ReleaseDeps;
use crate::ports::{RowRange, Store, StoreError, Table};

/// How far upstream the walk goes.
const MAX_DEPTH: usize = 8;

/// Where the walk starts.
pub enum Start {
    Run(RunKey),
    /// A job's newest run that succeeded (or else its newest finished run).
    Job(String),
    /// An output file, as the run recorded it (`container/path`, or a suffix of it).
    Output(String),
}

/// Finds the run that wrote `output` (exact, or the recorded path ends with it).
async fn run_writing(store: &dyn Store, output: &str) -> Result<Option<RunRecord>, StoreError> {
    let wanted = output.trim_start_matches('/');
    Ok(crate::flows::runs::list(store, None, usize::MAX)
        .await?
        .into_iter()
        .find(|r| r.output.as_deref().is_some_and(|o| o == wanted || o.ends_with(&format!("/{wanted}")) || wanted.ends_with(o))))
}

async fn run_at(store: &dyn Store, key: &RunKey) -> Result<Option<RunRecord>, StoreError> {
    Ok(store
        .get(Table::RUNS, key.job.as_str(), &instant_key(key.logical_time))
        .await?
        .and_then(|e| serde_json::from_value::<RunRecord>(e.body).ok()))
}

/// The walk, as JSON: `Ok(None)` when the start names no run flowgate has a record of.
pub async fn trace(store: &dyn Store, releases: &ReleaseDeps, start: Start) -> Result<Option<Value>, StoreError> {
    let run = match &start {
        Start::Run(k) => run_at(store, k).await?,
        Start::Output(o) => run_writing(store, o).await?,
        Start::Job(j) => {
            let list = crate::flows::runs::list(store, Some(j), usize::MAX).await?;
            let newest = |ok: bool| {
                list.iter()
                    .find(|r| if ok { r.status == crate::domain::run::RunStatus::Succeeded } else { r.status.is_terminal() })
                    .cloned()
            };
            newest(true).or_else(|| newest(false))
        }
    };
    let Some(run) = run else { return Ok(None) };
    let mut seen = HashSet::new();
    Ok(Some(node(store, releases, &run, 0, &mut seen).await?))
}

async fn input(store: &dyn Store, run: &RunRecord, dataset: &str, path: &str) -> Result<Value, StoreError> {
    let results = store.query(Table::CONTRACT_RESULTS, Some(dataset), RowRange::default(), usize::MAX).await?;
    let checked = results.iter().find(|e| e.row.ends_with(&format!("|{path}")));
    let arrivals = store.query(Table::ARRIVALS, Some(dataset), RowRange::default(), usize::MAX).await?;
    let arrival = arrivals.iter().find(|e| e.row.ends_with(&format!("|{path}")));
    let freshness = run
        .gate
        .iter()
        .flat_map(|g| g.checks.iter())
        .find(|c| c.dataset == dataset && c.gate == "freshness")
        .map(|c| json!({ "passed": c.passed, "detail": c.detail }));
    let verdict = match checked {
        Some(e) => {
            let failed: Vec<Value> =
                e.body["report"]["rules"].as_array().into_iter().flatten().filter(|r| r["passed"] == false).cloned().collect();
            json!({ "passed": e.body["passed"], "checked_at": e.body["checked_at"], "rows": e.body["report"]["rows"],
                "contract": e.body["report"]["contract"], "version": e.body["report"]["version"], "failed_rules": failed })
        }
        None => json!({ "missing": "no contract result is kept for this arrival (removed by retention, or the dataset has no contract)" }),
    };
    Ok(json!({
        "dataset": dataset,
        "path": path,
        "arrived_at": arrival.map(|a| a.body["arrived_at"].clone()).or_else(|| checked.map(|c| c.body["arrived_at"].clone())),
        "schema_version": arrival.and_then(|a| a.body["schema_version"].as_str().map(str::to_string)),
        "contract": verdict,
        "freshness_at_gate": freshness,
    }))
}

fn node<'a>(
    store: &'a dyn Store,
    releases: &'a ReleaseDeps,
    run: &'a RunRecord,
    depth: usize,
    seen: &'a mut HashSet<String>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, StoreError>> + Send + 'a>> {
    Box::pin(async move {
        let key = RunKey::new(run.job.clone(), run.logical_time).to_string();
        seen.insert(key.clone());
        let (release, job_def) = match &run.release {
            None => (json!({ "missing": "the run records no release (it ran before releases were used)" }), Value::Null),
            Some(rid) => {
                let id = rid.as_str();
                match crate::flows::releases::load(releases, rid).await {
                    Ok((_, view)) => {
                        let job = view.catalog.jobs.get(&run.job).map(|j| {
                            json!({ "kind": j.kind, "endpoint": j.endpoint, "deployment": j.deployment, "inputs": j.inputs.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                                "outputs": j.outputs.iter().map(|d| d.as_str()).collect::<Vec<_>>(), "depends_on": j.depends_on.iter().map(|d| d.as_str()).collect::<Vec<_>>() })
                        });
                        (json!({ "id": id }), job.unwrap_or_else(|| json!({ "missing": format!("release {id} has no job {}", run.job) })))
                    }
                    Err(e) => (json!({ "id": id, "missing": format!("the release's content cannot be read: {e}") }), Value::Null),
                }
            }
        };
        let mut inputs = Vec::new();
        for (dataset, path) in crate::flows::suspect::read_by(run) {
            inputs.push(input(store, run, &dataset, &path).await?);
        }
        let mut upstream = Vec::new();
        let depends: Vec<JobId> =
            job_def["depends_on"].as_array().into_iter().flatten().filter_map(|d| d.as_str().and_then(|s| JobId::parse(s).ok())).collect();
        let started = run.started_at.unwrap_or(run.logical_time);
        for up in depends {
            if depth >= MAX_DEPTH {
                upstream.push(json!({ "job": up.as_str(), "missing": "deeper than the walk goes" }));
                continue;
            }
            let runs = crate::flows::runs::list(store, Some(up.as_str()), usize::MAX).await?;
            let before: Option<&RunRecord> = runs
                .iter()
                .filter(|r| r.status == RunStatus::Succeeded && r.finished_at.is_some_and(|f| f <= started))
                .max_by_key(|r| r.logical_time);
            match before {
                Some(r) if !seen.contains(&RunKey::new(r.job.clone(), r.logical_time).to_string()) => {
                    upstream.push(node(store, releases, r, depth + 1, seen).await?)
                }
                Some(_) => {}
                None => upstream
                    .push(json!({ "job": up.as_str(), "missing": "no upstream run before this one is kept (removed by retention?)" })),
            }
        }
        Ok(json!({
            "run": key,
            "status": run.status,
            "attempts": run.attempts,
            "latencies_ms": run.latencies_ms,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "output": run.output,
            "records": { "in": run.records_in, "out": run.records_out },
            "invocation_id": run.invocation_id,
            "reason": run.reason.as_ref().or(run.error.as_ref()),
            "release": release,
            "job": job_def,
            "inputs": inputs,
            "upstream": upstream,
        }))
    })
}
