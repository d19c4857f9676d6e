//! The weekly stability report, pure (monitoring.md §5): the ISO week in a time zone, its run
//! figures against the week before, the recovery episodes, the jobs that failed most, and a
//! one-line verdict with what changed. The flow gathers the records; `markdown` renders it.
//!
//! Built so far: the scorecard from runs (success, first-attempt success, duration and start
//! delay, retries), episodes, top failing jobs, SLA adherence, freshness, gates, breakers and the
//! quarantine flow. Queue, evaluator and alert sections come next (issue #13).

pub mod html;
pub mod markdown;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use super::metrics::alerts::AlertHygiene;
use super::metrics::evaluators::{Changes, EvaluatorFigures, ReleaseEvaluation};
use super::metrics::flow::{BreakerFigures, GateFigures, QuarantineFlow};
use super::metrics::freshness::FreshnessFigures;
use super::metrics::queue::QueueFigures;
use super::metrics::sla::{sla_figures, SlaFigures};
use super::metrics::{by_job, episodes, summarize, Episode, EpisodeSummary, Notified, RunFacts, RunFigures};

/// An ISO 8601 week: `2026-W48`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IsoWeek {
    pub year: i32,
    pub week: u32,
}

impl IsoWeek {
    /// `YYYY-Www`; `Err` says why (a week 53 exists only in long years).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (y, w) = t.split_once("-W").or_else(|| t.split_once("-w")).ok_or_else(|| format!("`{t}` is not an ISO week like 2026-W48"))?;
        let year: i32 = y.parse().map_err(|_| format!("`{t}`: `{y}` is not a year"))?;
        let week: u32 = w.parse().map_err(|_| format!("`{t}`: `{w}` is not a week number"))?;
        if NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).is_none() {
            return Err(format!("`{t}` does not exist: {year} has weeks 1 to {}", Self::weeks_in(year)));
        }
        Ok(Self { year, week })
    }

    fn weeks_in(year: i32) -> u32 {
        NaiveDate::from_ymd_opt(year, 12, 28).map_or(52, |d| d.iso_week().week())
    }

    /// The week before.
    pub fn previous(self) -> Self {
        let monday = NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or_default() - chrono::Duration::days(7);
        let w = monday.iso_week();
        Self { year: w.year(), week: w.week() }
    }

    /// Monday 00:00 to the next Monday 00:00, local time in `tz`, as UTC instants (a week with a
    /// daylight-saving change is 167 or 169 hours long).
    pub fn window(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let monday = NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or_default();
        let at = |d: NaiveDate| {
            let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
            tz.from_local_datetime(&local).earliest().map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc))
        };
        (at(monday), at(monday + chrono::Duration::days(7)))
    }

    pub fn label(self) -> String {
        format!("{}-W{:02}", self.year, self.week)
    }

    /// The week holding `at` in `tz`.
    pub fn of(at: DateTime<Utc>, tz: Tz) -> Self {
        let w = at.with_timezone(&tz).date_naive().iso_week();
        Self { year: w.year(), week: w.week() }
    }
}

/// Stable, degraded or unstable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Stable,
    Degraded,
    Unstable,
}

/// One local day of the week.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// The local date.
    pub date: NaiveDate,
    pub figures: RunFigures,
}

/// A job that failed, by failures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailingJob {
    pub job: String,
    pub failed: u64,
    pub quarantined: u64,
    pub blocked: u64,
    pub runs: u64,
}

/// Everything the report shows, machine-readable (`report.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeeklyReport {
    pub week: String,
    pub timezone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub verdict: Verdict,
    /// What decided the verdict, and what changed since last week.
    pub reasons: Vec<String>,
    pub this_week: RunFigures,
    pub last_week: RunFigures,
    pub jobs: BTreeMap<String, RunFigures>,
    /// Episodes that were open at some time during the week.
    pub episodes: Vec<Episode>,
    pub episode_summary: EpisodeSummary,
    /// At most five, most failures first.
    pub top_failing: Vec<FailingJob>,
    /// Each local day, Monday first.
    pub days: Vec<Day>,
    pub sla: SlaFigures,
    /// Datasets with a freshness threshold (`expected_every`).
    pub freshness: Vec<FreshnessFigures>,
    pub quarantine: QuarantineFlow,
    /// Breakers that were open at some time in the week.
    pub breakers: Vec<BreakerFigures>,
    pub gates: GateFigures,
    /// Each queue's depth (sampled every tick, kept per hour).
    pub queues: BTreeMap<String, QueueFigures>,
    pub alerts: AlertHygiene,
    /// Evaluation jobs' pass rates.
    pub evaluators: BTreeMap<String, EvaluatorFigures>,
    /// Releases' offline evaluations recorded in the week.
    pub release_evaluations: Vec<ReleaseEvaluation>,
    /// Configuration and release changes from the audit trail.
    pub changes: Changes,
}

/// What the report shows besides runs, gathered by the flow for the week.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub quarantine: QuarantineFlow,
    pub breakers: Vec<BreakerFigures>,
    pub gates: GateFigures,
    pub freshness: Vec<FreshnessFigures>,
    pub queues: BTreeMap<String, QueueFigures>,
    pub alerts: AlertHygiene,
    pub evaluators: BTreeMap<String, EvaluatorFigures>,
    pub release_evaluations: Vec<ReleaseEvaluation>,
    pub changes: Changes,
}

/// Builds the report of `week` in `tz` from every run's facts.
pub fn build(week: IsoWeek, tz: Tz, runs: &[RunFacts], notified: Notified<'_>, extras: Extras) -> WeeklyReport {
    let (from, to) = week.window(tz);
    let (last_from, last_to) = week.previous().window(tz);
    let (jobs, this_week) = by_job(runs, from, to);
    let (_, last_week) = by_job(runs, last_from, last_to);
    let (all, _) = episodes(runs, to, notified);
    let in_week: Vec<Episode> = all.into_iter().filter(|e| e.opened < to && e.closed.is_none_or(|c| c >= from)).collect();
    let episode_summary = summarize(&in_week);
    let mut top_failing: Vec<FailingJob> = jobs
        .iter()
        .map(|(j, f)| FailingJob {
            job: j.clone(),
            failed: f.outcomes.failed,
            quarantined: f.outcomes.quarantined,
            blocked: f.outcomes.blocked,
            runs: f.outcomes.succeeded + f.outcomes.failed + f.outcomes.quarantined + f.outcomes.blocked + f.outcomes.skipped,
        })
        .filter(|f| f.failed + f.quarantined + f.blocked > 0)
        .collect();
    top_failing.sort_by(|a, b| (b.failed + b.quarantined + b.blocked).cmp(&(a.failed + a.quarantined + a.blocked)).then(a.job.cmp(&b.job)));
    top_failing.truncate(5);
    let (verdict, reasons) = verdict(&this_week, &last_week, &episode_summary);
    let monday = NaiveDate::from_isoywd_opt(week.year, week.week, Weekday::Mon).unwrap_or_default();
    let midnight = |d: NaiveDate| {
        let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        tz.from_local_datetime(&local).earliest().map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc))
    };
    let days = (0..7)
        .map(|i| {
            let date = monday + chrono::Duration::days(i);
            let figures = super::metrics::run_figures(runs, midnight(date), midnight(date + chrono::Duration::days(1)));
            Day { date, figures }
        })
        .collect();
    WeeklyReport {
        week: week.label(),
        timezone: tz.name().to_string(),
        from,
        to,
        verdict,
        reasons,
        this_week,
        last_week,
        jobs,
        episodes: in_week,
        episode_summary,
        top_failing,
        days,
        sla: sla_figures(runs, from, to, tz),
        freshness: extras.freshness,
        quarantine: extras.quarantine,
        breakers: extras.breakers,
        gates: extras.gates,
        queues: extras.queues,
        alerts: extras.alerts,
        evaluators: extras.evaluators,
        release_evaluations: extras.release_evaluations,
        changes: extras.changes,
    }
}

/// Unstable: an episode still open at the week's end, or a success rate under 95 % over 20 runs or
/// more. Degraded: any failed or quarantined run, or any episode. Stable otherwise.
fn verdict(now: &RunFigures, before: &RunFigures, eps: &EpisodeSummary) -> (Verdict, Vec<String>) {
    let mut reasons = Vec::new();
    let s = now.success;
    let bad = now.outcomes.failed + now.outcomes.quarantined;
    let verdict = if eps.open > 0 || (s.den >= 20 && s.value().is_some_and(|v| v < 0.95)) {
        Verdict::Unstable
    } else if bad > 0 || eps.closed > 0 {
        Verdict::Degraded
    } else {
        Verdict::Stable
    };
    if eps.open > 0 {
        reasons.push(format!("{} episode(s) still open at the end of the week", eps.open));
    }
    reasons.push(format!("success {} (last week {})", s.display(), before.success.display()));
    if bad > 0 {
        reasons.push(format!("{} run(s) failed and {} were quarantined", now.outcomes.failed, now.outcomes.quarantined));
    }
    if eps.closed > 0 {
        reasons.push(format!(
            "{} episode(s) recovered, the longest in {}",
            eps.closed,
            markdown::duration(eps.recovery_max_secs.unwrap_or(0))
        ));
    }
    let retried = now.retries.runs_retried;
    if retried != before.retries.runs_retried {
        reasons.push(format!("{retried} run(s) needed a retry (last week {})", before.retries.runs_retried));
    }
    (verdict, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::run::RunStatus;

    #[test]
    fn iso_weeks_parse_and_bad_ones_say_why() {
        assert_eq!(IsoWeek::parse("2026-W48").unwrap(), IsoWeek { year: 2026, week: 48 });
        assert!(IsoWeek::parse("2026-W53").is_ok(), "2026 is a long year");
        assert!(IsoWeek::parse("2026-W54").unwrap_err().contains("2026 has weeks 1 to 53"));
        assert!(IsoWeek::parse("2025-W53").unwrap_err().contains("2025 has weeks 1 to 52"));
        assert!(IsoWeek::parse("2026-W00").is_err() && IsoWeek::parse("2026-48").is_err() && IsoWeek::parse("").is_err());
        assert_eq!(IsoWeek::parse("2026-W01").unwrap().previous(), IsoWeek { year: 2025, week: 52 });
    }

    #[test]
    fn a_week_is_local_monday_to_monday_across_dst() {
        let london: Tz = "Europe/London".parse().unwrap();
        let (from, to) = IsoWeek::parse("2026-W13").unwrap().window(london); // 23–30 March, clocks go forward on the 29th
        assert_eq!(from.to_rfc3339(), "2026-03-23T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-03-29T23:00:00+00:00");
        assert_eq!((to - from).num_hours(), 167);
    }

    #[test]
    fn an_empty_week_is_stable_with_zeros_and_failures_degrade_it() {
        let utc: Tz = "UTC".parse().unwrap();
        let w = IsoWeek::parse("2026-W48").unwrap();
        let none = |_: &str, _: DateTime<Utc>| None;
        let r = build(w, utc, &[], &none, Extras::default());
        assert_eq!((r.verdict, r.this_week.outcomes.succeeded, r.top_failing.len()), (Verdict::Stable, 0, 0));
        let (from, _) = w.window(utc);
        let at = |h: i64| from + chrono::Duration::hours(h);
        let fact = |status, end: i64| RunFacts {
            job: "a".into(),
            status,
            attempts: 1,
            first_attempt_succeeded: status == RunStatus::Succeeded,
            scheduled_for: at(end - 1),
            started: Some(at(end - 1)),
            finished: Some(at(end)),
            replays: 0,
            sla_deadline: None,
        };
        let r = build(w, utc, &[fact(RunStatus::Failed, 2), fact(RunStatus::Succeeded, 5)], &none, Extras::default());
        assert_eq!(r.verdict, Verdict::Degraded);
        assert_eq!(r.top_failing[0].job, "a");
        assert_eq!(r.episodes.len(), 1);
        let r = build(w, utc, &[fact(RunStatus::Failed, 2)], &none, Extras::default());
        assert_eq!(r.verdict, Verdict::Unstable, "an episode still open");
    }
}
