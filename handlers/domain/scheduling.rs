//! Scheduling decisions, pure: which due slots run and which are skipped (catch-up, DST gaps),
//! what a new slot does while the previous run is still going (overlap), and whether a run's
//! dependencies let it start (readiness). Every "no" carries its reason, to be recorded.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::catalog::model::{CatchUp, DependencyWait, OverlapPolicy};
use crate::domain::duration::format_duration;
use crate::domain::ids::{instant_key, JobId};
use crate::domain::run::RunStatus;
use crate::domain::schedule::{LocalMapping, Slot};

/// A slot seen this long after its time is on time; older ones were missed (the timer ticks
/// every minute, so one missed tick is still on time).
pub const GRACE: Duration = Duration::from_secs(150);

/// What to do with one slot.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotDecision {
    Run(Slot),
    Skip(Slot, String),
}

fn local_text(s: &Slot, tz: Tz) -> String {
    format!("{} {}", s.local.format("%Y-%m-%d %H:%M:%S"), tz.name())
}

/// Decides each slot between the watermark and now: on-time slots run; missed ones follow the
/// catch-up policy; a DST-merged slot is skipped (its wall time runs with the gap's end).
pub fn decide_slots(slots: &[Slot], now: DateTime<Utc>, catch_up: CatchUp, tz: Tz) -> Vec<SlotDecision> {
    let grace = chrono::Duration::from_std(GRACE).unwrap_or_default();
    let missed: Vec<usize> = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.mapping != LocalMapping::MergedIntoGapEnd && now - s.at > grace)
        .map(|(i, _)| i)
        .collect();
    let keep: Vec<usize> = match catch_up {
        CatchUp::None => Vec::new(),
        CatchUp::Latest => missed.last().copied().into_iter().collect(),
        CatchUp::All { window, max } => {
            let window = chrono::Duration::from_std(window).unwrap_or_default();
            let within: Vec<usize> = missed.iter().copied().filter(|i| now - slots[*i].at <= window).collect();
            let start = within.len().saturating_sub(max as usize);
            within[start..].to_vec()
        }
    };
    let newest_missed = missed.last().map(|i| slots[*i].at);
    slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.mapping == LocalMapping::MergedIntoGapEnd {
                return SlotDecision::Skip(
                    *s,
                    format!("{} does not exist (clocks go forward); the slot at {} runs for it", local_text(s, tz), instant_key(s.at)),
                );
            }
            if !missed.contains(&i) || keep.contains(&i) {
                return SlotDecision::Run(*s);
            }
            let reason = match catch_up {
                CatchUp::None => "missed while flowgate was not running (catch_up: none)".to_string(),
                CatchUp::Latest => format!(
                    "missed while flowgate was not running; only the latest missed slot ({}) runs (catch_up: latest)",
                    newest_missed.map(instant_key).unwrap_or_default()
                ),
                CatchUp::All { window, max } => {
                    let w = chrono::Duration::from_std(window).unwrap_or_default();
                    if now - s.at > w {
                        format!("missed more than {} ago (catch_up: all, window {})", format_duration(window), format_duration(window))
                    } else {
                        format!("more missed slots than catch_up.max ({max}); the newest {max} run")
                    }
                }
            };
            SlotDecision::Skip(*s, reason)
        })
        .collect()
}

/// What a new slot does while the job's previous run is still going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverlapDecision {
    /// No previous run in flight, or overlap allowed.
    Run,
    Skip(String),
    /// Wait for the previous run; `replaces` is an older waiting slot that is now skipped.
    Queue {
        replaces: Option<DateTime<Utc>>,
    },
}

/// `previous`: the job's latest dispatched run and its status; `queued`: a slot already waiting.
pub fn decide_overlap(
    policy: OverlapPolicy,
    previous: Option<(DateTime<Utc>, RunStatus)>,
    queued: Option<DateTime<Utc>>,
) -> OverlapDecision {
    let busy = previous.filter(|(_, st)| !st.is_terminal());
    match (policy, busy) {
        (_, None) | (OverlapPolicy::Allow, _) => OverlapDecision::Run,
        (OverlapPolicy::Skip, Some((t, st))) => {
            OverlapDecision::Skip(format!("the previous run ({}) is still {st} (overlap: skip)", instant_key(t)))
        }
        (OverlapPolicy::QueueOne, Some(_)) => OverlapDecision::Queue { replaces: queued },
    }
}

/// Whether a run may start, given its upstream runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Wait(String),
    Blocked(String),
}

/// A run that counts for a dependency: its logical time and status.
pub type UpstreamRun = Option<(DateTime<Utc>, RunStatus)>;

/// `upstreams`: for each dependency, the run that counts (same slot, or the latest within the
/// window) and its status, if there is one.
pub fn readiness(upstreams: &[(JobId, UpstreamRun)], logical: DateTime<Utc>, now: DateTime<Utc>, wait: DependencyWait) -> Readiness {
    let mut waiting_for = Vec::new();
    for (job, run) in upstreams {
        match run {
            Some((t, st)) if st.blocks_dependents() => {
                return Readiness::Blocked(format!("upstream `{job}` run {} ended {st}", instant_key(*t)));
            }
            Some((_, RunStatus::Succeeded)) => {}
            Some((t, st)) => waiting_for.push(format!("`{job}` ({} is {st})", instant_key(*t))),
            None => waiting_for.push(format!("`{job}` (no run yet)")),
        }
    }
    if waiting_for.is_empty() {
        return Readiness::Ready;
    }
    let limit = chrono::Duration::from_std(wait.limit).unwrap_or_default();
    if now - logical >= limit {
        return Readiness::Blocked(format!("gave up after waiting {} for {}", format_duration(wait.limit), waiting_for.join(", ")));
    }
    Readiness::Wait(format!("waiting for {}", waiting_for.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::Ncrontab;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hourly(from: &str, to: &str) -> Vec<Slot> {
        Ncrontab::parse("0 0 * * * *").unwrap().slots(t(from), t(to), Tz::UTC, 1000)
    }

    fn runs(d: &[SlotDecision]) -> Vec<String> {
        d.iter().filter_map(|x| if let SlotDecision::Run(s) = x { Some(instant_key(s.at)) } else { None }).collect()
    }

    #[test]
    fn catch_up_policies() {
        // Down from 00:30 to 05:01: slots 01..05 due; 05:00 is on time.
        let slots = hourly("2026-11-27T00:30:00Z", "2026-11-27T05:01:00Z");
        let now = t("2026-11-27T05:01:00Z");
        assert_eq!(runs(&decide_slots(&slots, now, CatchUp::None, Tz::UTC)), vec!["2026-11-27T05:00:00.000Z"]);
        assert_eq!(
            runs(&decide_slots(&slots, now, CatchUp::Latest, Tz::UTC)),
            vec!["2026-11-27T04:00:00.000Z", "2026-11-27T05:00:00.000Z"]
        );
        let all = CatchUp::All { window: Duration::from_secs(3 * 3600), max: 10 };
        assert_eq!(
            runs(&decide_slots(&slots, now, all, Tz::UTC)),
            vec!["2026-11-27T03:00:00.000Z", "2026-11-27T04:00:00.000Z", "2026-11-27T05:00:00.000Z"]
        );
        let capped = CatchUp::All { window: Duration::from_secs(24 * 3600), max: 1 };
        let d = decide_slots(&slots, now, capped, Tz::UTC);
        assert_eq!(runs(&d), vec!["2026-11-27T04:00:00.000Z", "2026-11-27T05:00:00.000Z"]);
        // Every skipped slot has a reason.
        let skipped: Vec<&String> = d.iter().filter_map(|x| if let SlotDecision::Skip(_, r) = x { Some(r) } else { None }).collect();
        assert_eq!(skipped.len(), 3);
        assert!(skipped.iter().all(|r| r.contains("catch_up.max")));
    }

    #[test]
    fn merged_dst_slots_are_skipped_with_a_reason() {
        let london: Tz = "Europe/London".parse().unwrap();
        let slots = Ncrontab::parse("0 */30 * * * *").unwrap().slots(t("2026-03-29T00:40:00Z"), t("2026-03-29T01:10:00Z"), london, 100);
        let d = decide_slots(&slots, t("2026-03-29T01:00:30Z"), CatchUp::Latest, london);
        assert_eq!(runs(&d), vec!["2026-03-29T01:00:00.000Z"]);
        let reasons: Vec<String> = d.iter().filter_map(|x| if let SlotDecision::Skip(_, r) = x { Some(r.clone()) } else { None }).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("01:30:00 Europe/London does not exist"), "{reasons:?}");
    }

    #[test]
    fn overlap_policies() {
        let prev_busy = Some((t("2026-11-27T09:00:00Z"), RunStatus::Running));
        let prev_done = Some((t("2026-11-27T09:00:00Z"), RunStatus::Succeeded));
        assert_eq!(decide_overlap(OverlapPolicy::Skip, prev_done, None), OverlapDecision::Run);
        assert!(matches!(decide_overlap(OverlapPolicy::Skip, prev_busy, None), OverlapDecision::Skip(r) if r.contains("still running")));
        assert_eq!(decide_overlap(OverlapPolicy::Allow, prev_busy, None), OverlapDecision::Run);
        let q = t("2026-11-27T09:30:00Z");
        assert_eq!(decide_overlap(OverlapPolicy::QueueOne, prev_busy, Some(q)), OverlapDecision::Queue { replaces: Some(q) });
    }

    #[test]
    fn readiness_waits_blocks_and_gives_up() {
        let a = JobId::parse("a").unwrap();
        let logical = t("2026-11-27T09:00:00Z");
        let wait = DependencyWait { limit: Duration::from_secs(3600), window: Duration::ZERO };
        let ok = [(a.clone(), Some((logical, RunStatus::Succeeded)))];
        assert_eq!(readiness(&ok, logical, logical, wait), Readiness::Ready);
        let pending = [(a.clone(), Some((logical, RunStatus::Retrying)))];
        assert!(matches!(readiness(&pending, logical, t("2026-11-27T09:30:00Z"), wait), Readiness::Wait(r) if r.contains("`a`")));
        assert!(
            matches!(readiness(&pending, logical, t("2026-11-27T10:00:00Z"), wait), Readiness::Blocked(r) if r.contains("gave up after waiting 1h"))
        );
        let failed = [(a.clone(), Some((logical, RunStatus::Quarantined)))];
        assert!(matches!(readiness(&failed, logical, logical, wait), Readiness::Blocked(r) if r.contains("ended quarantined")));
        let missing = [(a, None)];
        assert!(matches!(readiness(&missing, logical, logical, wait), Readiness::Wait(r) if r.contains("no run yet")));
    }
}
