//! The automated checks a release must pass, run on its own content: contract lint of every
//! contract, the contract check of each declared sample file, and a smoke request to each
//! `online_endpoint` and `http` job (built with the job's request mapping, expecting 2xx JSON), and
//! the recorded offline evaluation on the pinned dataset.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{ReleaseDeps, ReleaseView};
use crate::domain::catalog::model::expand_settings;
use crate::domain::catalog::spec::{DataFormat, JobKind};
use crate::domain::catalog::Job;
use crate::domain::contract::eval::{evaluate, EvalOptions, Format};
use crate::domain::release::{Bundle, CheckReport, CheckResult};
use crate::ports::JobRequest;

/// Runs every check the release's policy asks for.
pub(super) async fn run(deps: &ReleaseDeps, view: &ReleaseView, bundle: &Bundle, now: DateTime<Utc>) -> CheckReport {
    let policy = &view.catalog.releases.checks;
    let mut results = Vec::new();
    if policy.contract_lint {
        results.extend(lint(view, bundle));
    }
    for (dataset, path) in &policy.samples {
        results.push(sample(view, bundle, dataset.as_str(), path, now));
    }
    if policy.smoke {
        for job in view.catalog.jobs.values().filter(|j| j.enabled) {
            results.push(smoke(deps, view, bundle, job).await);
        }
    }
    if let Some(e) = &policy.evaluation {
        results.push(super::evaluation::check(deps, &view.id, &e.dataset).await.unwrap_or_else(|err| CheckResult {
            check: "evaluation".into(),
            subject: e.dataset.clone(),
            passed: false,
            detail: format!("the evaluation record could not be read: {err}"),
        }));
    }
    CheckReport { release: view.id.clone(), at: now, results }
}

fn result(check: &str, subject: &str, passed: bool, detail: impl Into<String>) -> CheckResult {
    CheckResult { check: check.into(), subject: subject.into(), passed, detail: detail.into() }
}

fn lint(view: &ReleaseView, bundle: &Bundle) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for ds in view.catalog.datasets.values() {
        let Some(path) = &ds.contract else { continue };
        let key = path.to_string_lossy();
        let text = bundle.file(&key).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        out.push(match crate::domain::contract::parse(&text) {
            Ok((c, findings)) => result(
                "contract_lint",
                ds.id.as_str(),
                true,
                format!("{key}: `{}` version {} usable; {} part(s) not enforced", c.id, c.version, findings.len()),
            ),
            Err(findings) => {
                let errors: Vec<String> =
                    findings.iter().filter(|f| f.error).map(|f| format!("{key}:{}:{}: {}", f.pos.line, f.pos.col, f.message)).collect();
                result("contract_lint", ds.id.as_str(), false, errors.join("; "))
            }
        });
    }
    out
}

fn sample(view: &ReleaseView, bundle: &Bundle, dataset: &str, path: &str, now: DateTime<Utc>) -> CheckResult {
    let Some(ds) = view.catalog.datasets.values().find(|d| d.id.as_str() == dataset) else {
        return result("sample", dataset, false, "no such dataset");
    };
    let Some(contract) = view.contracts.get(&ds.id) else {
        return result("sample", dataset, false, "the dataset has no contract to check the sample against");
    };
    let Some(bytes) = bundle.file(path) else {
        return result("sample", dataset, false, format!("{path} is not in the release"));
    };
    let mut opts = EvalOptions::new(
        match ds.format {
            DataFormat::Csv => Format::Csv,
            DataFormat::Jsonl => Format::Jsonl,
        },
        now,
    );
    opts.gzip = path.to_ascii_lowercase().ends_with(".gz");
    if contract.tables.len() > 1 {
        opts.table = Some(ds.id.to_string());
    }
    match evaluate(contract, std::io::Cursor::new(bytes), &opts) {
        Err(u) => result("sample", dataset, false, format!("{path}: unusable: {}", u.0)),
        Ok(report) => {
            // A sample is a fixed file: its age says nothing about the release.
            let rules: Vec<_> = report.rules.iter().filter(|r| r.rule != "freshness").collect();
            let failed: Vec<String> = rules
                .iter()
                .filter(|r| !r.passed)
                .map(|r| format!("{} {} observed {} (must be {})", r.target, r.rule, r.observed, r.threshold))
                .collect();
            if failed.is_empty() {
                result("sample", dataset, true, format!("{path}: {} row(s), {} rule(s) passed", report.rows, rules.len()))
            } else {
                result("sample", dataset, false, format!("{path}: {} rule(s) failed: {}", failed.len(), failed.join("; ")))
            }
        }
    }
}

async fn smoke(deps: &ReleaseDeps, view: &ReleaseView, bundle: &Bundle, job: &Job) -> CheckResult {
    let name = job.id.as_str();
    if job.kind.is_long_running() {
        let kind = if job.kind == JobKind::AzureMlJob { "azure_ml_job" } else { "evaluation" };
        return result("smoke", name, true, format!("not smoke-tested: a `{kind}` request would start a job"));
    }
    let endpoint = match expand_settings(&job.endpoint, &|k| (deps.settings)(k)) {
        Ok(e) => e,
        Err(e) => return result("smoke", name, false, e),
    };
    let (body, from) = match smoke_body(view, bundle, job) {
        Ok(x) => x,
        Err(e) => return result("smoke", name, false, e),
    };
    let request = JobRequest {
        endpoint: endpoint.clone(),
        deployment: job.deployment.clone(),
        body,
        timeout: job.timeout.min(Duration::from_secs(60)),
        correlation_id: format!("release-smoke:{}:{name}", view.id.short()),
    };
    match deps.runner.invoke(&request).await {
        Ok(_) => {
            let pinned = job.deployment.as_deref().map(|d| format!(" (deployment `{d}`)")).unwrap_or_default();
            result("smoke", name, true, format!("2xx JSON from {}{pinned}, request built from {from}", host(&endpoint)))
        }
        Err(e) => result("smoke", name, false, format!("{}: {e}", host(&endpoint))),
    }
}

/// The smoke request's body: the first row of the first input's sample mapped as a run maps it,
/// else the mapping with empty values, else the job's fixed body.
fn smoke_body(view: &ReleaseView, bundle: &Bundle, job: &Job) -> Result<(Value, String), String> {
    let samples = &view.catalog.releases.checks.samples;
    for input in &job.inputs {
        let (Some(path), Some(ds)) = (samples.get(input), view.catalog.datasets.get(input)) else { continue };
        let bytes = bundle.file(path).ok_or_else(|| format!("{path} is not in the release"))?;
        let records = crate::flows::inputs::parse_records(&bytes, ds.format).map_err(|e| format!("{path}: {e}"))?;
        if let Some(first) = records.first() {
            let req = crate::flows::inputs::map_record(&job.request, first).map_err(|e| format!("{path} row 1: {e}"))?;
            return Ok((req.body, format!("the first row of {path}")));
        }
    }
    if job.inputs.is_empty() {
        return Ok((Value::Object(job.request.body.clone().unwrap_or_default()), "the job's body".into()));
    }
    let blank: Map<String, Value> = job.request.fields.values().map(|col| (col.clone(), Value::String(String::new()))).collect();
    let req = crate::flows::inputs::map_record(&job.request, &blank)?;
    Ok((req.body, "the mapping with empty values (no sample for its inputs)".into()))
}

fn host(url: &str) -> String {
    url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or(url).to_string()
}
