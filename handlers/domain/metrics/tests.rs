//! The §1.2 edge cases, one table row each.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::domain::run::RunStatus::{self, *};

fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + Duration::hours(h)
}

/// A run of `job` due at hour `due`, started a minute later, ended at hour `end` (None: in flight).
fn run(job: &str, due: i64, end: Option<i64>, status: RunStatus, attempts: u32) -> RunFacts {
    RunFacts {
        job: job.into(),
        status,
        attempts,
        first_attempt_succeeded: status == Succeeded && attempts == 1,
        scheduled_for: t(due),
        started: (attempts > 0).then(|| t(due) + Duration::minutes(1)),
        finished: end.map(t),
        replays: 0,
        sla_deadline: None,
    }
}

#[test]
fn outcome_edge_cases() {
    struct Case {
        what: &'static str,
        runs: Vec<RunFacts>,
        success: (u64, u64),
        first_attempt: (u64, u64),
        retries: (u64, u64, u64),
        blocked_skipped_in_flight: (u64, u64, u64),
    }
    let cases = vec![
        Case {
            what: "a run retried to success is one success, not a failure",
            runs: vec![run("a", 1, Some(2), Succeeded, 3)],
            success: (1, 1),
            first_attempt: (0, 1),
            retries: (2, 1, 1),
            blocked_skipped_in_flight: (0, 0, 0),
        },
        Case {
            what: "blocked and skipped are excluded from the success rate and reported apart",
            runs: vec![run("a", 1, Some(2), Blocked, 0), run("a", 2, Some(2), Skipped, 0), run("a", 3, Some(4), Succeeded, 1)],
            success: (1, 1),
            first_attempt: (1, 1),
            retries: (0, 0, 0),
            blocked_skipped_in_flight: (1, 1, 0),
        },
        Case {
            what: "a late success is a success (the SLA counts the breach)",
            runs: vec![run("a", 1, Some(30), Succeeded, 1)],
            success: (1, 1),
            first_attempt: (1, 1),
            retries: (0, 0, 0),
            blocked_skipped_in_flight: (0, 0, 0),
        },
        Case {
            what: "a replayed run counts once, by its latest outcome, with every attempt",
            runs: vec![RunFacts { replays: 1, ..run("a", 1, Some(5), Succeeded, 4) }],
            success: (1, 1),
            first_attempt: (0, 1),
            retries: (3, 1, 1),
            blocked_skipped_in_flight: (0, 0, 0),
        },
        Case {
            what: "in-flight runs are listed, not counted; failures and quarantines count against",
            runs: vec![run("a", 1, None, Running, 1), run("a", 2, Some(3), Failed, 4), run("b", 2, Some(3), Quarantined, 1)],
            success: (0, 2),
            first_attempt: (0, 2),
            retries: (3, 1, 0),
            blocked_skipped_in_flight: (0, 0, 1),
        },
        Case {
            what: "a week with nothing: every counter is 0",
            runs: vec![],
            success: (0, 0),
            first_attempt: (0, 0),
            retries: (0, 0, 0),
            blocked_skipped_in_flight: (0, 0, 0),
        },
    ];
    for c in cases {
        let f = run_figures(&c.runs, t(0), t(168));
        assert_eq!((f.success.num, f.success.den), c.success, "{}", c.what);
        assert_eq!((f.first_attempt.num, f.first_attempt.den), c.first_attempt, "{}", c.what);
        assert_eq!((f.retries.retries, f.retries.runs_retried, f.retries.runs_saved), c.retries, "{}", c.what);
        assert_eq!((f.outcomes.blocked, f.outcomes.skipped, f.outcomes.in_flight), c.blocked_skipped_in_flight, "{}", c.what);
    }
}

#[test]
fn a_run_counts_in_the_window_of_its_terminal_time() {
    let runs = vec![run("a", 1, Some(2), Succeeded, 1), run("a", 160, Some(170), Succeeded, 1)];
    let f = run_figures(&runs, t(0), t(168));
    assert_eq!(f.outcomes.succeeded, 1, "due in the week, ended after it: next week's");
}

#[test]
fn durations_are_from_attempt_one_to_the_end_over_successes() {
    let runs = vec![run("a", 0, Some(2), Succeeded, 2), run("a", 0, Some(1), Failed, 1)];
    let f = run_figures(&runs, t(0), t(168));
    let d = f.duration_p50.unwrap();
    assert_eq!((d.value, d.n), (2 * 3_600_000 - 60_000, 1), "backoff included; failed runs apart");
    assert!(f.duration_p95.unwrap().is_max, "p95 of one sample is its maximum, labelled");
    assert_eq!(f.start_delay_p50.unwrap().value, 60_000);
}

#[test]
fn ratios_print_counts_below_20() {
    assert_eq!(Ratio { num: 7, den: 8 }.display(), "7/8");
    assert_eq!(Ratio { num: 19, den: 20 }.display(), "95.0 % (n 20)");
    assert_eq!(Ratio::default().display(), "– (n 0)");
}

#[test]
fn episodes_open_on_failure_close_on_success_and_report_median_and_max() {
    let runs = vec![
        run("a", 0, Some(1), Succeeded, 3), // success on retry: no episode
        run("a", 1, Some(2), Failed, 4),    // opens at 2
        run("a", 2, Some(3), Quarantined, 1),
        run("a", 3, Some(5), Succeeded, 1),  // closes at 5: 3 h
        run("b", 1, Some(10), Blocked, 0),   // a data episode, opens at 10
        run("b", 2, Some(11), Succeeded, 1), // closes at 11: 1 h
        run("c", 1, Some(20), Failed, 4),    // still open at the end
    ];
    let notified = |job: &str, at: DateTime<Utc>| (job == "a").then(|| at + Duration::minutes(5));
    let (eps, s) = episodes(&runs, t(24), &notified);
    assert_eq!(eps.len(), 3);
    let a = &eps[0];
    assert_eq!((a.kind, a.bad_runs, a.recovery_secs, a.detect_secs), (episodes::EpisodeKind::Run, 2, Some(3 * 3600), Some(300)));
    assert_eq!((eps[1].kind, eps[1].recovery_secs), (episodes::EpisodeKind::Data, Some(3600)));
    assert_eq!((eps[2].closed, eps[2].open_secs), (None, Some(4 * 3600)), "an open episode shows its age");
    assert_eq!(
        (s.closed, s.open, s.recovery_median_secs, s.recovery_max_secs),
        (2, 1, Some(3600), Some(3 * 3600)),
        "open ones stay out of the median"
    );
}
