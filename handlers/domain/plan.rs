//! The plan: what would run in a window, when (UTC and the job's wall clock), why (schedule,
//! expected arrival, dependency), what could hold it, and its SLA deadline. Pure: the current
//! state is passed in.

use std::collections::HashMap;
use std::sync::Arc;
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
    Schedule { expression: Arc<str>, local_time: LocalMapping },
    ExpectedArrival { dataset: Arc<str>, every: Arc<str> },
    AfterDependencies { upstream: Arc<[String]> },
}

/// One planned run. Shared parts are reference-counted: a week of a large catalog is millions.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub job: Arc<str>,
    pub at: DateTime<Utc>,
    pub timezone: Tz,
    pub why: Why,
    /// What could hold it.
    pub blockers: Arc<[String]>,
    pub sla_warn_at: Option<DateTime<Utc>>,
    pub sla_deadline: Option<DateTime<Utc>>,
}

impl Planned {
    /// The job's wall-clock time, e.g. `2026-11-27 09:15:00 GMT`.
    pub fn local(&self) -> String {
        self.at.with_timezone(&self.timezone).format("%Y-%m-%d %H:%M:%S %Z").to_string()
    }
}

impl Serialize for Planned {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Planned", 8)?;
        st.serialize_field("job", &*self.job)?;
        st.serialize_field("at", &self.at)?;
        st.serialize_field("local", &self.local())?;
        st.serialize_field("timezone", self.timezone.name())?;
        st.serialize_field("why", &self.why)?;
        st.serialize_field("blockers", &*self.blockers)?;
        st.serialize_field("sla_warn_at", &self.sla_warn_at)?;
        st.serialize_field("sla_deadline", &self.sla_deadline)?;
        st.end()
    }
}

/// What the current state adds (from `--state`).
#[derive(Debug, Clone, Default)]
pub struct PlanState {
    /// Runs that have not finished: job, logical time, status.
    pub unfinished: Vec<(JobId, DateTime<Utc>, RunStatus)>,
    /// Each dataset's last arrival.
    pub last_arrivals: HashMap<DatasetId, DateTime<Utc>>,
    /// Jobs whose circuit breaker is open, and until when.
    pub open_breakers: HashMap<JobId, DateTime<Utc>>,
}

/// Plans `(from, until]`. At most `cap` runs (the earliest), so that a huge catalog cannot
/// exhaust memory; `truncated` says whether the cap was reached.
pub fn plan(catalog: &Catalog, from: DateTime<Utc>, until: DateTime<Utc>, state: &PlanState, cap: usize) -> (Vec<Planned>, bool) {
    let mut out: Vec<Planned> = Vec::new();
    let mut times: HashMap<&JobId, Vec<DateTime<Utc>>> = HashMap::new();
    let mut truncated = false;
    for job in catalog.jobs.values().filter(|j| j.enabled) {
        let shared = Shared::of(job);
        let planned = match &job.trigger {
            Trigger::Schedule(cron) => {
                let expression: Arc<str> = Arc::from(cron.as_str());
                cron.slots(from, until, job.timezone, cap + 1)
                    .into_iter()
                    .filter(|s| s.mapping != LocalMapping::MergedIntoGapEnd)
                    .map(|s| (s.at, Why::Schedule { expression: expression.clone(), local_time: s.mapping }))
                    .collect::<Vec<_>>()
            }
            Trigger::Arrival(ds) => expected_arrivals(catalog, ds, from, until, state, cap + 1),
            Trigger::Dependencies => continue,
        };
        truncated |= planned.len() > cap;
        let list = times.entry(&job.id).or_default();
        for (at, why) in planned.into_iter().take(cap) {
            list.push(at);
            out.push(entry(job, &shared, at, why, state));
        }
    }
    // Dependency-only jobs follow their upstream runs, in dependency order.
    let mut remaining: Vec<&Job> = catalog.jobs.values().filter(|j| j.enabled && matches!(j.trigger, Trigger::Dependencies)).collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|job| {
            let ready = job.depends_on.iter().all(|d| times.contains_key(d) || !catalog.jobs.get(d).is_some_and(|u| u.enabled));
            if !ready {
                return true;
            }
            let mut at: Vec<DateTime<Utc>> = job.depends_on.iter().filter_map(|d| times.get(d)).flatten().copied().collect();
            at.sort();
            at.dedup();
            let why = Why::AfterDependencies { upstream: job.depends_on.iter().map(|d| d.to_string()).collect() };
            let shared = Shared::of(job);
            for t in &at {
                out.push(entry(job, &shared, *t, why.clone(), state));
            }
            times.insert(&job.id, at);
            false
        });
        if remaining.len() == before {
            break; // a cycle (rejected by validation) or disabled upstreams
        }
    }
    out.sort_unstable_by(|a, b| a.at.cmp(&b.at).then_with(|| a.job.cmp(&b.job)));
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
    let why = Why::ExpectedArrival { dataset: Arc::from(ds.as_str()), every: Arc::from(format_duration(every).as_str()) };
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

/// What every planned run of a job shares.
struct Shared {
    job: Arc<str>,
    blockers: Arc<[String]>,
}

impl Shared {
    fn of(job: &Job) -> Self {
        let blockers: Vec<String> = job
            .depends_on
            .iter()
            .map(|d| {
                let how = if job.wait.window.is_zero() {
                    "the same slot".to_string()
                } else {
                    format!("within {}", format_duration(job.wait.window))
                };
                format!("dependency `{d}` ({how}; gives up after {})", format_duration(job.wait.limit))
            })
            .collect();
        Self { job: Arc::from(job.id.as_str()), blockers: blockers.into() }
    }
}

fn entry(job: &Job, shared: &Shared, at: DateTime<Utc>, why: Why, state: &PlanState) -> Planned {
    let mut blockers = shared.blockers.clone();
    if job.overlap != OverlapPolicy::Allow && !state.unfinished.is_empty() {
        if let Some((_, t, st)) = state.unfinished.iter().filter(|(j, t, _)| *j == job.id && *t < at).max_by_key(|(_, t, _)| *t) {
            let mut v = blockers.to_vec();
            v.push(format!("previous run {} is {st} (overlap: {})", crate::domain::ids::instant_key(*t), overlap_name(job.overlap)));
            blockers = v.into();
        }
    }
    if let Some(until) = state.open_breakers.get(&job.id).filter(|u| at < **u) {
        let mut v = blockers.to_vec();
        v.push(format!("circuit breaker open until {}", crate::domain::ids::instant_key(*until)));
        blockers = v.into();
    }
    let d = job.sla.as_ref().and_then(|s| deadline(s, at, job.timezone));
    Planned {
        job: shared.job.clone(),
        at,
        timezone: job.timezone,
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

/// A readable reason for a plan entry.
pub fn why_text(w: &Why) -> String {
    match w {
        Why::Schedule { expression, local_time } => match local_time {
            LocalMapping::Exact => format!("schedule `{expression}`"),
            LocalMapping::FirstOfTwo => {
                format!("schedule `{expression}` (local time happens twice: first)")
            }
            _ => format!("schedule `{expression}` (local time skipped by DST: runs at the gap's end)"),
        },
        Why::ExpectedArrival { dataset, every } => {
            format!("expected arrival of `{dataset}` (every {every})")
        }
        Why::AfterDependencies { upstream } => {
            format!("after {}", upstream.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "))
        }
    }
}

/// The longest window a plan covers.
pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 86_400);
