//! Recovery episodes per job (monitoring.md §1.2): an episode opens when a run ends failed or
//! quarantined while the job was healthy (blocked: a *data* episode) and closes at the job's next
//! success. Time to recover = that success − the opening run's terminal time; time to detect = the
//! first notification about it − the same opening. Each episode is reported, with the median and
//! the maximum of the closed ones; open episodes show their age and stay out of the median.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::RunFacts;
use crate::domain::run::RunStatus;

/// What broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeKind {
    /// A run failed or was quarantined.
    Run,
    /// A run was blocked (its data, a dependency or a breaker).
    Data,
}

/// One episode of one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Episode {
    pub job: String,
    pub kind: EpisodeKind,
    /// The terminal time of the run that opened it.
    pub opened: DateTime<Utc>,
    /// The terminal time of the next success, if there was one.
    pub closed: Option<DateTime<Utc>>,
    /// Runs that ended badly during it.
    pub bad_runs: u64,
    /// closed − opened, in seconds.
    pub recovery_secs: Option<i64>,
    /// The first notification about it − opened, in seconds (when one was sent).
    pub detect_secs: Option<i64>,
    /// Still open: its age at the end of the window, in seconds.
    pub open_secs: Option<i64>,
}

/// Closed episodes' count, median and maximum time to recover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeSummary {
    pub closed: usize,
    pub open: usize,
    pub recovery_median_secs: Option<i64>,
    pub recovery_max_secs: Option<i64>,
}

/// When the first notification about a job went out at or after an instant, if one did.
pub type Notified<'a> = &'a dyn Fn(&str, DateTime<Utc>) -> Option<DateTime<Utc>>;

/// The episodes of every job among `runs`, as of `end`; `notified(job, at)` gives the first
/// notification about the job at or after `at` (an alert sent), if any.
pub fn episodes(runs: &[RunFacts], end: DateTime<Utc>, notified: Notified<'_>) -> (Vec<Episode>, EpisodeSummary) {
    let mut finished: Vec<&RunFacts> = runs.iter().filter(|r| r.finished.is_some_and(|f| f < end)).collect();
    finished.sort_by(|a, b| a.job.cmp(&b.job).then(a.finished.cmp(&b.finished)));
    let mut out: Vec<Episode> = Vec::new();
    let mut open: Option<Episode> = None;
    let mut job = "";
    for r in finished {
        if r.job != job {
            out.extend(open.take());
            job = &r.job;
        }
        let at = r.finished.unwrap_or(end);
        let kind = match r.status {
            RunStatus::Failed | RunStatus::Quarantined => Some(EpisodeKind::Run),
            RunStatus::Blocked => Some(EpisodeKind::Data),
            _ => None,
        };
        match (r.status, kind, open.as_mut()) {
            (RunStatus::Succeeded, _, Some(e)) => {
                e.closed = Some(at);
                e.recovery_secs = Some((at - e.opened).num_seconds());
                out.extend(open.take());
            }
            (_, Some(_), Some(e)) => e.bad_runs += 1,
            (_, Some(kind), None) => {
                open = Some(Episode {
                    job: r.job.clone(),
                    kind,
                    opened: at,
                    closed: None,
                    bad_runs: 1,
                    recovery_secs: None,
                    detect_secs: notified(&r.job, at).map(|n| (n - at).num_seconds()),
                    open_secs: None,
                });
            }
            _ => {}
        }
    }
    out.extend(open.take());
    for e in out.iter_mut().filter(|e| e.closed.is_none()) {
        e.open_secs = Some((end - e.opened).num_seconds());
    }
    let summary = summarize(&out);
    (out, summary)
}

/// The count of closed and open episodes, and the median and maximum time to recover of the
/// closed ones.
pub fn summarize(episodes: &[Episode]) -> EpisodeSummary {
    let mut closed: Vec<i64> = episodes.iter().filter_map(|e| e.recovery_secs).collect();
    closed.sort_unstable();
    EpisodeSummary {
        closed: closed.len(),
        open: episodes.iter().filter(|e| e.closed.is_none()).count(),
        recovery_median_secs: (!closed.is_empty()).then(|| closed[closed.len().div_ceil(2) - 1]),
        recovery_max_secs: closed.last().copied(),
    }
}
