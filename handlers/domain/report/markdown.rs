//! The weekly report as Markdown: the verdict, the scorecard against last week, episodes and the
//! jobs that failed most. Deterministic: the same report gives the same bytes.

use std::fmt::Write as _;

use super::WeeklyReport;
use crate::domain::metrics::{Percentile, Ratio};

/// `3 h 05 min`, `42 s`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

fn ms(p: &Option<Percentile>) -> String {
    match p {
        None => "–".into(),
        Some(p) if p.is_max => format!("{} (max of {})", duration_ms(p.value), p.n),
        Some(p) => duration_ms(p.value),
    }
}

fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        duration((ms / 1000) as i64)
    }
}

/// The change of a share: counts below 20 runs (no percentage delta), else points.
fn delta(now: &Ratio, before: &Ratio) -> String {
    match (now.value(), before.value()) {
        (Some(a), Some(b)) if now.den >= 20 && before.den >= 20 => format!("{:+.1} pts", (a - b) * 100.0),
        _ => format!("{:+} runs", now.num as i64 - before.num as i64),
    }
}

pub fn render(r: &WeeklyReport) -> String {
    let mut o = String::new();
    let (t, l) = (&r.this_week, &r.last_week);
    let _ = writeln!(o, "# Weekly stability report {} ({})\n", r.week, r.timezone);
    let _ = writeln!(o, "{} to {} (UTC)\n", r.from.to_rfc3339(), r.to.to_rfc3339());
    let _ = writeln!(o, "**Verdict: {}**\n", format!("{:?}", r.verdict).to_uppercase());
    for reason in &r.reasons {
        let _ = writeln!(o, "- {reason}");
    }
    let _ = writeln!(o, "\n## Scorecard\n");
    let _ = writeln!(o, "| figure | this week | last week | change |");
    let _ = writeln!(o, "|---|---|---|---|");
    let _ = writeln!(
        o,
        "| success (succeeded ÷ succeeded + failed + quarantined) | {} | {} | {} |",
        t.success.display(),
        l.success.display(),
        delta(&t.success, &l.success)
    );
    let _ = writeln!(
        o,
        "| first-attempt success | {} | {} | {} |",
        t.first_attempt.display(),
        l.first_attempt.display(),
        delta(&t.first_attempt, &l.first_attempt)
    );
    let _ = writeln!(
        o,
        "| run duration p50 / p95 (attempt 1 to the end, succeeded runs) | {} / {} | {} / {} | |",
        ms(&t.duration_p50),
        ms(&t.duration_p95),
        ms(&l.duration_p50),
        ms(&l.duration_p95)
    );
    let _ = writeln!(
        o,
        "| start delay p50 / p95 (due to attempt 1) | {} / {} | {} / {} | |",
        ms(&t.start_delay_p50),
        ms(&t.start_delay_p95),
        ms(&l.start_delay_p50),
        ms(&l.start_delay_p95)
    );
    let _ = writeln!(
        o,
        "| retries (runs retried, saved by a retry) | {} ({}, {}) | {} ({}, {}) | {:+} |",
        t.retries.retries,
        t.retries.runs_retried,
        t.retries.runs_saved,
        l.retries.retries,
        l.retries.runs_retried,
        l.retries.runs_saved,
        t.retries.retries as i64 - l.retries.retries as i64
    );
    let _ = writeln!(
        o,
        "| blocked / skipped / in flight | {} / {} / {} | {} / {} / {} | |",
        t.outcomes.blocked, t.outcomes.skipped, t.outcomes.in_flight, l.outcomes.blocked, l.outcomes.skipped, l.outcomes.in_flight
    );
    let _ = writeln!(o, "| SLA adherence (succeeded by the deadline) | {} | | |", r.sla.adherence.display());
    let _ = writeln!(o, "| SLA breaches: missed (Sev3) / late (Sev4) | {} / {} | | |", r.sla.all.missed, r.sla.all.late);
    let s = &r.episode_summary;
    let _ = writeln!(
        o,
        "| recovery (episodes closed, median, max; open) | {}, {}, {}; {} open | | |",
        s.closed,
        s.recovery_median_secs.map_or("–".into(), duration),
        s.recovery_max_secs.map_or("–".into(), duration),
        s.open
    );
    let _ = writeln!(o, "\n## Incidents\n");
    if r.episodes.is_empty() {
        let _ = writeln!(o, "None: no run failed, was quarantined or blocked.");
    } else {
        let _ = writeln!(o, "| job | kind | opened | recovered | time to recover | time to detect | bad runs |");
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        for e in &r.episodes {
            let _ = writeln!(
                o,
                "| {} | {:?} | {} | {} | {} | {} | {} |",
                e.job,
                e.kind,
                e.opened.to_rfc3339(),
                e.closed.map_or("still open".into(), |c| c.to_rfc3339()),
                e.recovery_secs.map_or_else(|| format!("open for {}", duration(e.open_secs.unwrap_or(0))), duration),
                e.detect_secs.map_or("not notified".into(), duration),
                e.bad_runs
            );
        }
    }
    let _ = writeln!(o, "\n## Top failing jobs\n");
    if r.top_failing.is_empty() {
        let _ = writeln!(o, "None.");
    } else {
        let _ = writeln!(o, "| job | failed | quarantined | blocked | runs |");
        let _ = writeln!(o, "|---|---|---|---|---|");
        for f in &r.top_failing {
            let _ = writeln!(o, "| {} | {} | {} | {} | {} |", f.job, f.failed, f.quarantined, f.blocked, f.runs);
        }
    }
    let _ = writeln!(o, "\n## SLAs by job and day\n");
    if r.sla.by_job_day.is_empty() {
        let _ = writeln!(o, "No run had an SLA deadline this week.");
    } else {
        let _ = writeln!(o, "| job | {} |", r.days.iter().map(|d| d.date.format("%a %d").to_string()).collect::<Vec<_>>().join(" | "));
        let _ = writeln!(o, "|---|{}", "---|".repeat(r.days.len()));
        for (job, days) in &r.sla.by_job_day {
            let cells: Vec<String> = r
                .days
                .iter()
                .map(|d| days.get(&d.date).map_or("–".to_string(), |c| format!("{} met, {} late, {} missed", c.met, c.late, c.missed)))
                .collect();
            let _ = writeln!(o, "| {job} | {} |", cells.join(" | "));
        }
    }
    let _ = writeln!(o, "\n## Freshness\n");
    if r.freshness.is_empty() {
        let _ = writeln!(o, "No dataset declares `expected_every`.");
    } else {
        let _ = writeln!(o, "| dataset | fresh (share of the week) | threshold | worst lag | lag at the end | accepted | rejected |");
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        for f in &r.freshness {
            let _ = writeln!(
                o,
                "| {} | {:.1} % | {} | {} | {} | {} | {} |",
                f.dataset,
                f.fresh_share() * 100.0,
                duration(f.threshold_secs),
                f.worst_lag_secs.map_or("never arrived".into(), duration),
                f.lag_at_end_secs.map_or("never arrived".into(), duration),
                f.accepted,
                f.rejected
            );
        }
    }
    let _ = writeln!(o, "\n## Gates, breakers and quarantine\n");
    let g = &r.gates;
    let _ = writeln!(o, "Runs checked at their gates: {}, held: {}.\n", g.runs_checked, g.runs_held);
    if !g.by_gate.is_empty() {
        let _ = writeln!(o, "| gate | passed | held |");
        let _ = writeln!(o, "|---|---|---|");
        for (gate, (p, h)) in &g.by_gate {
            let _ = writeln!(o, "| {gate} | {p} | {h} |");
        }
        let _ = writeln!(o);
    }
    if r.breakers.is_empty() {
        let _ = writeln!(o, "No breaker opened.\n");
    } else {
        let _ = writeln!(o, "| breaker | opened | time open | open now |");
        let _ = writeln!(o, "|---|---|---|---|");
        for b in &r.breakers {
            let _ = writeln!(o, "| {} | {} | {} | {} |", b.name, b.opened, duration(b.open_secs), if b.open_now { "yes" } else { "no" });
        }
        let _ = writeln!(o);
    }
    let q = &r.quarantine;
    let new: Vec<String> = q.new_by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let _ = writeln!(
        o,
        "Quarantine: {} at the start + {} new ({}) − {} replayed − {} discarded = {} at the end{}.",
        q.outstanding_start,
        q.new_by_kind.values().sum::<u64>(),
        if new.is_empty() { "none".to_string() } else { new.join(", ") },
        q.replayed,
        q.discarded,
        q.outstanding_end,
        q.oldest_open_secs.map(|s| format!("; the oldest open for {}", duration(s))).unwrap_or_default()
    );
    let _ = writeln!(o, "\n## Evaluators\n");
    if r.evaluators.is_empty() {
        let _ = writeln!(o, "No evaluation job ran this week.");
    } else {
        let _ = writeln!(o, "| evaluation job | runs | items passed | runs errored |");
        let _ = writeln!(o, "|---|---|---|---|");
        for (job, f) in &r.evaluators {
            let _ = writeln!(o, "| {job} | {} | {} | {} |", f.runs, f.pass_rate.display(), f.errored_runs);
        }
    }
    if !r.release_evaluations.is_empty() {
        let _ = writeln!(o, "\n| release evaluated | at | verdict | evaluators |");
        let _ = writeln!(o, "|---|---|---|---|");
        for e in &r.release_evaluations {
            let each: Vec<String> = e.evaluators.iter().map(|(n, items, v)| format!("{n} {v} (n {items})")).collect();
            let _ = writeln!(o, "| {} | {} | {} | {} |", e.release, e.at.to_rfc3339(), e.verdict, each.join(", "));
        }
    }
    let _ = writeln!(o, "\n## Queues\n");
    if r.queues.is_empty() {
        let _ = writeln!(o, "No queue depth was sampled this week.");
    } else {
        let _ = writeln!(
            o,
            "| queue | hours sampled | active max / p95 | scheduled max | dead-lettered max | at the end (active, scheduled, dead) |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|");
        for (q, f) in &r.queues {
            let _ = writeln!(
                o,
                "| {q} | {} | {} / {} | {} | {} | {}, {}, {} |",
                f.hours_sampled,
                f.max_active,
                f.p95_active,
                f.max_scheduled,
                f.max_dead_letter,
                f.end_active,
                f.end_scheduled,
                f.end_dead_letter
            );
        }
    }
    let a = &r.alerts;
    let _ = writeln!(o, "\n## Alert hygiene\n");
    let by_name: Vec<String> = a.fired_by_name.iter().map(|(n, c)| format!("{c} {n}")).collect();
    let _ = writeln!(
        o,
        "Alerts fired: {}{}; firing at the end: {}; flapping (fired more than once): {}; silences set: {}; deliveries: {} ({} failed).",
        a.fired,
        if by_name.is_empty() { String::new() } else { format!(" ({})", by_name.join(", ")) },
        a.firing_at_end,
        a.flapping,
        a.silences,
        a.deliveries,
        a.failed_deliveries
    );
    if !a.noisiest.is_empty() {
        let _ = writeln!(o, "\n| noisiest alert | labels | notifications | fired |");
        let _ = writeln!(o, "|---|---|---|---|");
        for n in &a.noisiest {
            let _ = writeln!(o, "| {} | {} | {} | {} |", n.name, n.labels, n.sends, n.fired);
        }
    }
    let c = &r.changes;
    let _ = writeln!(o, "\n## Changes\n");
    if c.by_kind.is_empty() {
        let _ = writeln!(o, "No configuration or release change was recorded this week.");
    } else {
        let kinds: Vec<String> = c.by_kind.iter().map(|(k, n)| format!("{n} {}", k.replace('_', " "))).collect();
        let _ = writeln!(o, "From the audit trail: {}.\n", kinds.join(", "));
        let _ = writeln!(o, "| seq | at | change | by | about | decision |");
        let _ = writeln!(o, "|---|---|---|---|---|---|");
        for ch in &c.items {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                ch.seq,
                ch.at.to_rfc3339(),
                ch.kind.replace('_', " "),
                ch.actor,
                ch.subject,
                ch.decision.replace('|', "/")
            );
        }
        if c.more > 0 {
            let _ = writeln!(o, "\n…and {} more (`flowgate audit export --from … --to …`).", c.more);
        }
    }
    let _ = writeln!(o, "\n## Jobs\n");
    let _ = writeln!(o, "| job | success | first attempt | duration p50 / p95 | retries |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for (j, f) in &r.jobs {
        let _ = writeln!(
            o,
            "| {j} | {} | {} | {} / {} | {} |",
            f.success.display(),
            f.first_attempt.display(),
            ms(&f.duration_p50),
            ms(&f.duration_p95),
            f.retries.retries
        );
    }
    o
}
