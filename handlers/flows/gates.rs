//! The readiness gates of a run, checked after it is claimed and before any request: each input's
//! contract (the arrival that triggered it, or the dataset's latest verdict) and freshness.

use chrono::{DateTime, Utc};

use super::alerts::{Freshness, FRESHNESS};
use super::contract_check;
use super::inputs::arrival_row;
use super::{Deps, FlowError};
use crate::domain::catalog::Job;
use crate::domain::duration::format_duration;
use crate::domain::gate::{GateCheck, GateDecision};
use crate::domain::ids::instant_key;
use crate::domain::run::RunTrigger;
use crate::ports::Table;

pub async fn decide(
    deps: &Deps,
    job: &Job,
    logical: DateTime<Utc>,
    trigger: &RunTrigger,
    now: DateTime<Utc>,
) -> Result<GateDecision, FlowError> {
    let mut checks = Vec::new();
    for ds_id in &job.inputs {
        let Some(ds) = deps.catalog.datasets.get(ds_id) else { continue };
        if job.gates.contracts && deps.contracts.contains_key(ds_id) {
            let verdict = match trigger {
                RunTrigger::Arrival { dataset, path, .. } if dataset == ds_id.as_str() => {
                    contract_check::for_arrival(deps, ds_id.as_str(), &arrival_row(logical, path)).await?
                }
                _ => contract_check::latest(deps, ds_id.as_str()).await?,
            };
            checks.push(match verdict {
                None => GateCheck {
                    dataset: ds_id.to_string(),
                    gate: "contract".into(),
                    passed: false,
                    detail: "no arrival has been checked against the contract yet".into(),
                },
                Some(v) => match super::suspect::mark_of(deps.store.as_ref(), ds_id.as_str(), v.arrived_at, &v.path).await? {
                    // A person suspects the data: held, whatever its contract said.
                    Some(m) => GateCheck {
                        dataset: ds_id.to_string(),
                        gate: "contract".into(),
                        passed: false,
                        detail: format!(
                            "suspect: {} (marked by {} at {}) (arrival {} at {})",
                            m.reason,
                            m.by,
                            instant_key(m.at),
                            v.path,
                            instant_key(v.arrived_at)
                        ),
                    },
                    None => GateCheck {
                        dataset: ds_id.to_string(),
                        gate: "contract".into(),
                        passed: v.passed,
                        detail: format!("{} (arrival {} at {})", v.summary(), v.path, instant_key(v.arrived_at)),
                    },
                },
            });
        }
        if let (true, Some(every)) = (job.gates.freshness, ds.expected_every) {
            let last = deps
                .store
                .get(Table::SCHEDULES, FRESHNESS, ds_id.as_str())
                .await?
                .and_then(|e| serde_json::from_value::<Freshness>(e.body).ok())
                .and_then(|f| f.last_arrival);
            let window = chrono::Duration::from_std(every).unwrap_or_default();
            checks.push(match last {
                Some(t) if now - t <= window => GateCheck {
                    dataset: ds_id.to_string(),
                    gate: "freshness".into(),
                    passed: true,
                    detail: format!("last arrival {} (expected every {})", instant_key(t), format_duration(every)),
                },
                Some(t) => GateCheck {
                    dataset: ds_id.to_string(),
                    gate: "freshness".into(),
                    passed: false,
                    detail: format!("stale: last arrival {}, expected every {}", instant_key(t), format_duration(every)),
                },
                None => GateCheck {
                    dataset: ds_id.to_string(),
                    gate: "freshness".into(),
                    passed: false,
                    detail: "nothing has arrived yet".into(),
                },
            });
        }
    }
    Ok(GateDecision::new(checks, now))
}
