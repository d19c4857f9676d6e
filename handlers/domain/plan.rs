//! The plan: what would run in a window, when (UTC and the job's wall clock), why (schedule,
//! expected arrival, dependency), what could hold it, and its SLA deadline. Pure: the current
//! state is passed in.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::catalog::model::OverlapPolicy;
use crate::domain::catalog::{Catalog, Job, Trigger};
use crate::domain::duration::format_duration;
use crate::domain::ids::{DatasetId, JobId};
use crate::domain::run::RunStatus;
use crate::domain::schedule::LocalMapping;
use crate::domain::sla::deadline;

/// Why a run is planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Why {
    Schedule {
        expression: String,
        local_time: LocalMapping,
    },
    ExpectedArrival {
        dataset: String,
        every: String,
    },
    AfterDependencies {
        upstream: Vec<String>,
    },
}

/// One planned run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub job: String,
    pub at: DateTime<Utc>,
    /// The job's wall-clock time, e.g. `2026-11-27 09:15:00 GMT`.
    pub local: String,
    pub timezone: String,
    pub why: Why,
    /// What could hold it.
    pub blockers: Vec<String>,
    pub sla_warn_at: Option<DateTime<Utc>>,
    pub sla_deadline: Option<DateTime<Utc>>,
}

/// What the current state adds (from `--state`).
#[derive(Debug, Clone, Default)]
pub struct PlanState {
    /// Runs that have not finished: job, logical time, status.
    pub unfinished: Vec<(JobId, DateTime<Utc>, RunStatus)>,
    /// Each dataset's last arrival.
    pub last_arrivals: HashMap<DatasetId, DateTime<Utc>>,
}

/// Plans `(from, until]`. At most `cap` runs (the earliest), so that a huge catalog cannot
/// exhaust memory; `truncated` says whether the cap was reached.
pub fn plan(
    catalog: &Catalog,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    state: &PlanState,
    cap: usize,
) -> (Vec<Planned>, bool) {
    let mut out: Vec<Planned> = Vec::new();
    let mut times: HashMap<&JobId, Vec<DateTime<Utc>>> = HashMap::new();
    let mut truncated = false;
    for job in catalog.jobs.values().filter(|j| j.enabled) {
        let planned = match &job.trigger {
            Trigger::Schedule(cron) => cron
                .slots(from, until, job.timezone, cap + 1)
                .into_iter()
                .filter(|s| s.mapping != LocalMapping::MergedIntoGapEnd)
                .map(|s| {
                    (
                        s.at,
                        Why::Schedule {
                            expression: cron.as_str().to_string(),
                            local_time: s.mapping,
                        },
                    )
                })
                .collect::<Vec<_>>(),
            Trigger::Arrival(ds) => expected_arrivals(catalog, ds, from, until, state, cap + 1),
            Trigger::Dependencies => continue,
        };
        truncated |= planned.len() > cap;
        let list = times.entry(&job.id).or_default();
        for (at, why) in planned.into_iter().take(cap) {
            list.push(at);
            out.push(entry(job, at, why, state));
        }
    }
    // Dependency-only jobs follow their upstream runs, in dependency order.
    let mut remaining: Vec<&Job> = catalog
        .jobs
        .values()
        .filter(|j| j.enabled && matches!(j.trigger, Trigger::Dependencies))
        .collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|job| {
            let ready = job
                .depends_on
                .iter()
                .all(|d| times.contains_key(d) || !catalog.jobs.get(d).is_some_and(|u| u.enabled));
            if !ready {
                return true;
            }
            let mut at: Vec<DateTime<Utc>> = job
                .depends_on
                .iter()
                .filter_map(|d| times.get(d))
                .flatten()
                .copied()
                .collect();
            at.sort();
            at.dedup();
            let why = Why::AfterDependencies {
                upstream: job.depends_on.iter().map(|d| d.to_string()).collect(),
            };
            for t in &at {
                out.push(entry(job, *t, why.clone(), state));
            }
            times.insert(&job.id, at);
            false
        });
        if remaining.len() == before {
            break; // a cycle (rejected by validation) or disabled upstreams
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.job.cmp(&b.job)));
    if out.len() > cap {
        out.truncate(cap);
        truncated = true;
    }
    (out, truncated)
}

fn expected_arrivals(
    catalog: &Catalog,
    ds: &DatasetId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    state: &PlanState,
    cap: usize,
) -> Vec<(DateTime<Utc>, Why)> {
    let Some(every) = catalog.datasets.get(ds).and_then(|d| d.expected_every) else {
        return Vec::new();
    };
    let step = chrono::Duration::from_std(every).unwrap_or_default();
    if step <= chrono::Duration::zero() {
        return Vec::new();
    }
    let mut t = state.last_arrivals.get(ds).copied().unwrap_or(from);
    let why = Why::ExpectedArrival {
        dataset: ds.to_string(),
        every: format_duration(every),
    };
    let mut out = Vec::new();
    while out.len() < cap {
        t += step;
        if t > until {
            break;
        }
        if t > from {
            out.push((t, why.clone()));
        }
    }
    out
}

fn entry(job: &Job, at: DateTime<Utc>, why: Why, state: &PlanState) -> Planned {
    let mut blockers = Vec::new();
    for d in &job.depends_on {
        let how = if job.wait.window.is_zero() {
            "the same slot".to_string()
        } else {
            format!("within {}", format_duration(job.wait.window))
        };
        blockers.push(format!(
            "dependency `{d}` ({how}; gives up after {})",
            format_duration(job.wait.limit)
        ));
    }
    if job.overlap != OverlapPolicy::Allow {
        if let Some((_, t, st)) = state
            .unfinished
            .iter()
            .filter(|(j, t, _)| *j == job.id && *t < at)
            .max_by_key(|(_, t, _)| *t)
        {
            blockers.push(format!(
                "previous run {} is {st} (overlap: {})",
                crate::domain::ids::instant_key(*t),
                overlap_name(job.overlap)
            ));
        }
    }
    let d = job.sla.as_ref().and_then(|s| deadline(s, at, job.timezone));
    Planned {
        job: job.id.to_string(),
        at,
        local: local_text(at, job.timezone),
        timezone: job.timezone.name().to_string(),
        why,
        blockers,
        sla_warn_at: d.and_then(|d| d.warn_at),
        sla_deadline: d.map(|d| d.breach_at),
    }
}

fn overlap_name(p: OverlapPolicy) -> &'static str {
    match p {
        OverlapPolicy::Skip => "skip",
        OverlapPolicy::QueueOne => "queue_one",
        OverlapPolicy::Allow => "allow",
    }
}

fn local_text(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// Counts by job, for summaries.
pub fn counts(plan: &[Planned]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for p in plan {
        *m.entry(p.job.as_str()).or_default() += 1;
    }
    m
}

/// A readable reason for a plan entry.
pub fn why_text(w: &Why) -> String {
    match w {
        Why::Schedule {
            expression,
            local_time,
        } => match local_time {
            LocalMapping::Exact => format!("schedule `{expression}`"),
            LocalMapping::FirstOfTwo => {
                format!("schedule `{expression}` (local time happens twice: first)")
            }
            _ => format!(
                "schedule `{expression}` (local time skipped by DST: runs at the gap's end)"
            ),
        },
        Why::ExpectedArrival { dataset, every } => {
            format!("expected arrival of `{dataset}` (every {every})")
        }
        Why::AfterDependencies { upstream } => format!(
            "after {}",
            upstream
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The longest window a plan covers.
pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 86_400);
