//! SLA deadlines: when a run must be complete, and when to warn before that.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::domain::catalog::model::Sla;
use crate::domain::schedule::local_to_instant;

/// A run's warning and breach instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub warn_at: Option<DateTime<Utc>>,
    pub breach_at: DateTime<Utc>,
}

/// The deadline of a run with logical time `logical`: `complete_within` after it, or the first
/// `by` time of day (job's zone) after it, whichever comes first; the warning `warn_before` that.
pub fn deadline(sla: &Sla, logical: DateTime<Utc>, tz: Tz) -> Option<Deadline> {
    let within = sla.complete_within.and_then(|d| Duration::from_std(d).ok()).map(|d| logical + d);
    let by = sla.by_minute_of_day.and_then(|m| next_time_of_day(logical, m, tz));
    let breach_at = match (within, by) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    let warn_at = sla.warn_before.and_then(|w| Duration::from_std(w).ok()).map(|w| breach_at - w);
    Some(Deadline { warn_at, breach_at })
}

/// The first instant strictly after `t` whose local time of day is `minute_of_day`.
fn next_time_of_day(t: DateTime<Utc>, minute_of_day: u32, tz: Tz) -> Option<DateTime<Utc>> {
    let time = NaiveTime::from_hms_opt(minute_of_day / 60, minute_of_day % 60, 0)?;
    let local_date = t.with_timezone(&tz).date_naive();
    for add in 0..3 {
        let day = local_date + Duration::days(add);
        if let Some(at) = local_to_instant(day.and_time(time), tz) {
            if at > t {
                return Some(at);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as StdDuration;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn within_by_and_warnings() {
        let london: Tz = "Europe/London".parse().unwrap();
        let sla = Sla {
            complete_within: Some(StdDuration::from_secs(2700)),
            by_minute_of_day: None,
            warn_before: Some(StdDuration::from_secs(900)),
        };
        let d = deadline(&sla, t("2026-11-27T09:15:00Z"), london).unwrap();
        assert_eq!(d, Deadline { warn_at: Some(t("2026-11-27T09:45:00Z")), breach_at: t("2026-11-27T10:00:00Z") });
        // `by 10:00` London in summer is 09:00 UTC; after it, the next day's.
        let sla = Sla { complete_within: None, by_minute_of_day: Some(600), warn_before: None };
        assert_eq!(deadline(&sla, t("2026-07-01T06:00:00Z"), london).unwrap().breach_at, t("2026-07-01T09:00:00Z"));
        assert_eq!(deadline(&sla, t("2026-07-01T09:30:00Z"), london).unwrap().breach_at, t("2026-07-02T09:00:00Z"));
        // Both: the earlier wins.
        let sla = Sla { complete_within: Some(StdDuration::from_secs(7200)), by_minute_of_day: Some(600), warn_before: None };
        assert_eq!(deadline(&sla, t("2026-07-01T08:30:00Z"), london).unwrap().breach_at, t("2026-07-01T09:00:00Z"));
        let none = Sla { complete_within: None, by_minute_of_day: None, warn_before: None };
        assert!(deadline(&none, t("2026-07-01T08:30:00Z"), london).is_none());
    }
}
