//! Checking a landed blob against its dataset's contract: the schema version the producer stamped,
//! then every rule in one streaming pass. The verdict is recorded per arrival, and the dataset's
//! latest verdict is kept for the readiness gates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Deps, FlowError};
use crate::domain::catalog::model::DataFormat;
use crate::domain::catalog::Dataset;
use crate::domain::contract::eval::{evaluate, EvalOptions, Format};
use crate::domain::contract::{Contract, ContractReport, RuleResult};
use crate::ports::{StoreError, Table};

/// Partition of each dataset's latest verdict.
pub const LATEST: &str = "contract-latest";

/// One blob's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractVerdict {
    pub dataset: String,
    pub container: String,
    pub path: String,
    pub arrived_at: DateTime<Utc>,
    pub checked_at: DateTime<Utc>,
    pub passed: bool,
    /// What the producer stamped (`schema_version` metadata), if anything.
    pub schema_version: Option<String>,
    /// The rule results (absent when the data could not be read at all).
    pub report: Option<ContractReport>,
    /// Why the data could not be read at all.
    pub unusable: Option<String>,
}

impl ContractVerdict {
    /// The failing rules, one line, with observed values and thresholds (never cell values).
    pub fn summary(&self) -> String {
        if let Some(u) = &self.unusable {
            return format!("unusable data: {u}");
        }
        let failed: Vec<String> = self.report.iter().flat_map(|r| r.failed()).map(describe).collect();
        if failed.is_empty() {
            "every rule passed".into()
        } else {
            failed.join("; ")
        }
    }
}

fn describe(r: &RuleResult) -> String {
    let rows = if r.failing_rows.is_empty() {
        String::new()
    } else {
        format!(" (rows {})", r.failing_rows.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
    };
    format!("{} {} observed {} must be {}{rows}", r.target, r.rule, r.observed, r.threshold)
}

/// The schema version rule: the blob's `schema_version` must equal the contract's `version`.
fn schema_version_rule(contract: &Contract, stamped: Option<&str>) -> RuleResult {
    let passed = stamped == Some(contract.version.as_str());
    RuleResult {
        target: contract.id.clone(),
        rule: "schemaVersion".into(),
        observed: if passed { 1.0 } else { 0.0 },
        threshold: format!("schema_version = {}", contract.version),
        passed,
        failing_rows: Vec::new(),
        detail: Some(match stamped {
            Some(v) if passed => format!("stamped {v}"),
            Some(v) => format!("the producer stamped schema_version {v}; the contract is version {}", contract.version),
            None => "the blob has no schema_version metadata (locally: a <blob>.meta.json sidecar)".into(),
        }),
    }
}

/// Checks one blob. Storage trouble is an error (the host retries); bad data is a verdict.
pub async fn check_blob(
    deps: &Deps,
    dataset: &Dataset,
    contract: &Contract,
    container: &str,
    path: &str,
    arrived_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ContractVerdict, FlowError> {
    let storage = |e: crate::ports::BlobError| {
        if e.is_retryable() {
            FlowError::Blob(e.to_string())
        } else {
            FlowError::Blob(format!("{e} (not retryable)"))
        }
    };
    let meta = deps.blobs.metadata(container, path).await.map_err(storage)?;
    let stamped = meta.get("schema_version").cloned();
    let mut verdict = ContractVerdict {
        dataset: dataset.id.to_string(),
        container: container.to_string(),
        path: path.to_string(),
        arrived_at,
        checked_at: now,
        passed: false,
        schema_version: stamped.clone(),
        report: None,
        unusable: None,
    };
    let reader = match deps.blobs.open(container, path).await {
        Ok(r) => r,
        Err(e) if !e.is_retryable() => {
            verdict.unusable = Some(e.to_string());
            return Ok(verdict);
        }
        Err(e) => return Err(storage(e)),
    };
    let mut opts = EvalOptions::new(
        match dataset.format {
            DataFormat::Csv => Format::Csv,
            DataFormat::Jsonl => Format::Jsonl,
        },
        now,
    );
    opts.gzip = path.to_ascii_lowercase().ends_with(".gz");
    if contract.tables.len() > 1 {
        opts.table = Some(dataset.id.to_string());
    }
    let c = contract.clone();
    let result = tokio::task::spawn_blocking(move || evaluate(&c, reader, &opts))
        .await
        .map_err(|e| FlowError::Blob(format!("contract check failed: {e}")))?;
    match result {
        Ok(mut report) => {
            report.rules.push(schema_version_rule(contract, stamped.as_deref()));
            report.passed = report.rules.iter().all(|r| r.passed);
            verdict.passed = report.passed;
            verdict.report = Some(report);
        }
        Err(u) => verdict.unusable = Some(u.0),
    }
    Ok(verdict)
}

/// Records a verdict for its arrival, and as the dataset's latest unless a newer arrival's is.
pub async fn record(deps: &Deps, verdict: &ContractVerdict, arrival_row: &str) -> Result<(), FlowError> {
    let body = serde_json::to_value(verdict).unwrap_or_default();
    deps.store.upsert(Table::CONTRACT_RESULTS, &verdict.dataset, arrival_row, &body).await?;
    for _ in 0..5 {
        let current = deps.store.get(Table::SCHEDULES, LATEST, &verdict.dataset).await?;
        let r = match current {
            None => deps.store.insert(Table::SCHEDULES, LATEST, &verdict.dataset, &body).await,
            Some(e) => {
                let newer = serde_json::from_value::<ContractVerdict>(e.body).map(|v| v.arrived_at > verdict.arrived_at).unwrap_or(false);
                if newer {
                    return Ok(());
                }
                deps.store.replace(Table::SCHEDULES, LATEST, &verdict.dataset, &body, &e.etag).await
            }
        };
        match r {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict(_) | StoreError::PreconditionFailed(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A dataset's latest verdict.
pub async fn latest(deps: &Deps, dataset: &str) -> Result<Option<ContractVerdict>, FlowError> {
    Ok(deps.store.get(Table::SCHEDULES, LATEST, dataset).await?.and_then(|e| serde_json::from_value(e.body).ok()))
}

/// The verdict recorded for one arrival.
pub async fn for_arrival(deps: &Deps, dataset: &str, arrival_row: &str) -> Result<Option<ContractVerdict>, FlowError> {
    Ok(deps.store.get(Table::CONTRACT_RESULTS, dataset, arrival_row).await?.and_then(|e| serde_json::from_value(e.body).ok()))
}
