//! SLA adherence (monitoring.md §1.2): of the runs whose deadline fell in the window, those that
//! succeeded by it; a success after it is *late*, anything else *missed*. Skipped runs carry no
//! deadline. Without a criticality per job every SLA is normal: missed = Sev3, late = Sev4.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{Ratio, RunFacts};
use crate::domain::run::RunStatus;

/// Met, late and missed runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SlaCounts {
    pub met: u64,
    pub late: u64,
    pub missed: u64,
}

impl SlaCounts {
    /// met ÷ runs whose deadline fell in the window.
    pub fn adherence(&self) -> Ratio {
        Ratio { num: self.met, den: self.met + self.late + self.missed }
    }
}

/// The window's SLA figures, pooled and per job and local day of the deadline.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SlaFigures {
    pub all: SlaCounts,
    pub adherence: Ratio,
    /// Sev3: missed; Sev4: late.
    pub breaches_by_severity: BTreeMap<String, u64>,
    pub by_job_day: BTreeMap<String, BTreeMap<NaiveDate, SlaCounts>>,
}

pub fn sla_figures(runs: &[RunFacts], from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> SlaFigures {
    let mut f = SlaFigures::default();
    for r in runs {
        let Some(deadline) = r.sla_deadline.filter(|d| *d >= from && *d < to) else { continue };
        if r.status == RunStatus::Skipped {
            continue;
        }
        let day = f.by_job_day.entry(r.job.clone()).or_default().entry(deadline.with_timezone(&tz).date_naive()).or_default();
        let (met, late) = match (r.status, r.finished) {
            (RunStatus::Succeeded, Some(end)) if end <= deadline => (true, false),
            (RunStatus::Succeeded, Some(_)) => (false, true),
            _ => (false, false),
        };
        for c in [&mut f.all, day] {
            c.met += u64::from(met);
            c.late += u64::from(late);
            c.missed += u64::from(!met && !late);
        }
    }
    f.adherence = f.all.adherence();
    f.breaches_by_severity = [("sev3".to_string(), f.all.missed), ("sev4".to_string(), f.all.late)].into();
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn met_late_missed_and_skipped() {
        let t = |h: i64| Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + Duration::hours(h);
        let run = |status, end: Option<i64>, deadline: i64| RunFacts {
            job: "a".into(),
            status,
            attempts: 1,
            first_attempt_succeeded: false,
            scheduled_for: t(deadline - 1),
            started: Some(t(deadline - 1)),
            finished: end.map(t),
            replays: 0,
            sla_deadline: Some(t(deadline)),
        };
        let runs = vec![
            run(RunStatus::Succeeded, Some(2), 3),   // met
            run(RunStatus::Succeeded, Some(5), 3),   // late: a success and a breach
            run(RunStatus::Failed, Some(4), 6),      // missed
            run(RunStatus::Running, None, 8),        // missed: past its deadline, still going
            run(RunStatus::Skipped, Some(9), 10),    // excluded
            run(RunStatus::Succeeded, Some(1), 500), // deadline next week
        ];
        let utc: Tz = "UTC".parse().unwrap();
        let f = sla_figures(&runs, t(0), t(168), utc);
        assert_eq!(f.all, SlaCounts { met: 1, late: 1, missed: 2 });
        assert_eq!((f.adherence.num, f.adherence.den), (1, 4));
        assert_eq!(f.breaches_by_severity["sev3"], 2);
        assert_eq!(f.by_job_day["a"].len(), 1);
    }
}
