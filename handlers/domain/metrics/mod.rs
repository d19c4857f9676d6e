//! The figures a small team reads, with exact definitions (monitoring.md §1.2), computed from the
//! records flowgate keeps: a run counts in the window of its terminal time; a run retried to
//! success is one success; blocked and skipped runs are reported apart; percentiles are nearest
//! rank; every share carries its n, and a counter that never fired is 0. Pure: the flows gather
//! the records, from SQLite or Table Storage alike.

pub mod alerts;
mod episodes;
pub mod evaluators;
pub mod flow;
pub mod freshness;
pub mod percentile;
pub mod queue;
pub mod sla;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::run::{RunRecord, RunStatus};
pub use episodes::{episodes, summarize, Episode, EpisodeKind, EpisodeSummary, Notified};
pub use percentile::{nearest_rank, p50_p95, Percentile};

/// A share with its counts: printed "7/8" below 20, "87.5 % (n 8)" otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Ratio {
    pub num: u64,
    pub den: u64,
}

impl Ratio {
    pub fn value(&self) -> Option<f64> {
        (self.den > 0).then(|| self.num as f64 / self.den as f64)
    }

    /// For people: counts below 20, else a percentage with its n; `–` with nothing to count.
    pub fn display(&self) -> String {
        match self.value() {
            None => "– (n 0)".into(),
            Some(_) if self.den < 20 => format!("{}/{}", self.num, self.den),
            Some(v) => format!("{:.1} % (n {})", v * 100.0, self.den),
        }
    }
}

/// What one run contributes, taken from its record.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFacts {
    pub job: String,
    pub status: RunStatus,
    /// Attempts over every series (a replay starts a new series).
    pub attempts: u32,
    /// Attempt 1 of the first series succeeded.
    pub first_attempt_succeeded: bool,
    /// When the run was due: its slot, or its arrival.
    pub scheduled_for: DateTime<Utc>,
    /// Start of attempt 1.
    pub started: Option<DateTime<Utc>>,
    /// Terminal time (absent while in flight).
    pub finished: Option<DateTime<Utc>>,
    pub replays: u32,
    /// When its SLA is breached (absent: no SLA).
    pub sla_deadline: Option<DateTime<Utc>>,
}

impl RunFacts {
    pub fn of(r: &RunRecord) -> Self {
        let attempts = r.attempts + r.prior_attempts;
        Self {
            job: r.job.to_string(),
            status: r.status,
            attempts,
            first_attempt_succeeded: r.status == RunStatus::Succeeded && attempts == 1,
            scheduled_for: r.logical_time,
            started: r.started_at,
            finished: if r.status.is_terminal() { r.finished_at } else { None },
            replays: r.replays,
            sla_deadline: r.sla_deadline,
        }
    }

    /// Whether the run ended inside [from, to).
    pub fn ended_in(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.finished.is_some_and(|t| t >= from && t < to)
    }
}

/// Runs by outcome, in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Outcomes {
    pub succeeded: u64,
    pub failed: u64,
    pub quarantined: u64,
    pub blocked: u64,
    pub skipped: u64,
    /// Not finished at the end of the window (listed, not counted in rates).
    pub in_flight: u64,
}

impl Outcomes {
    /// succeeded ÷ (succeeded + failed + quarantined).
    pub fn success(&self) -> Ratio {
        Ratio { num: self.succeeded, den: self.succeeded + self.failed + self.quarantined }
    }
}

/// Retries invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Retries {
    /// Σ (attempts − 1).
    pub retries: u64,
    /// Runs that needed more than one attempt.
    pub runs_retried: u64,
    /// Of those, runs that then succeeded.
    pub runs_saved: u64,
}

/// The run figures of one job (or of all jobs pooled) over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFigures {
    pub outcomes: Outcomes,
    pub success: Ratio,
    /// Runs whose attempt 1 succeeded ÷ runs with at least one attempt.
    pub first_attempt: Ratio,
    /// Terminal − start of attempt 1 of succeeded runs, backoff included, in ms.
    pub duration_p50: Option<Percentile>,
    pub duration_p95: Option<Percentile>,
    /// Start of attempt 1 − when the run was due, in ms (runs that started).
    pub start_delay_p50: Option<Percentile>,
    pub start_delay_p95: Option<Percentile>,
    pub retries: Retries,
}

fn ms(d: chrono::Duration) -> u64 {
    u64::try_from(d.num_milliseconds()).unwrap_or(0)
}

/// The figures of `runs` that ended in [from, to) (and those still in flight at `to`).
pub fn run_figures<'a>(runs: impl IntoIterator<Item = &'a RunFacts>, from: DateTime<Utc>, to: DateTime<Utc>) -> RunFigures {
    let mut o = Outcomes::default();
    let mut first = Ratio::default();
    let (mut durations, mut delays) = (Vec::new(), Vec::new());
    let mut retries = Retries::default();
    for r in runs {
        if r.finished.is_none() {
            if r.scheduled_for < to {
                o.in_flight += 1;
            }
            continue;
        }
        if !r.ended_in(from, to) {
            continue;
        }
        match r.status {
            RunStatus::Succeeded => o.succeeded += 1,
            RunStatus::Failed => o.failed += 1,
            RunStatus::Quarantined => o.quarantined += 1,
            RunStatus::Blocked => o.blocked += 1,
            RunStatus::Skipped => o.skipped += 1,
            _ => o.in_flight += 1,
        }
        if r.attempts >= 1 {
            first.den += 1;
            first.num += u64::from(r.first_attempt_succeeded);
        }
        if r.attempts > 1 {
            retries.retries += u64::from(r.attempts - 1);
            retries.runs_retried += 1;
            retries.runs_saved += u64::from(r.status == RunStatus::Succeeded);
        }
        if let Some(start) = r.started {
            delays.push(ms(start - r.scheduled_for));
            if let (RunStatus::Succeeded, Some(end)) = (r.status, r.finished) {
                durations.push(ms(end - start));
            }
        }
    }
    let (duration_p50, duration_p95) = p50_p95(&durations);
    let (start_delay_p50, start_delay_p95) = p50_p95(&delays);
    RunFigures {
        success: o.success(),
        outcomes: o,
        first_attempt: first,
        duration_p50,
        duration_p95,
        start_delay_p50,
        start_delay_p95,
        retries,
    }
}

/// The figures per job, and pooled (counts added, never percentages averaged).
pub fn by_job(runs: &[RunFacts], from: DateTime<Utc>, to: DateTime<Utc>) -> (BTreeMap<String, RunFigures>, RunFigures) {
    let mut jobs: BTreeMap<String, Vec<&RunFacts>> = BTreeMap::new();
    for r in runs {
        jobs.entry(r.job.clone()).or_default().push(r);
    }
    let per = jobs.into_iter().map(|(j, rs)| (j, run_figures(rs, from, to))).collect();
    (per, run_figures(runs, from, to))
}

#[cfg(test)]
mod tests;
