//! The weekly report as one self-contained HTML page: no script, no external fetch, inline SVG
//! charts (each with a title, a description and its data table beside it), readable in a narrow
//! window and in dark mode. Deterministic: the same report gives the same bytes.

use std::fmt::Write as _;

use super::{markdown, WeeklyReport};
use crate::domain::metrics::{Percentile, RunFigures};

/// The outcome colours (also what the screenshot test looks for).
pub const SUCCEEDED: &str = "#2e7d32";
pub const FAILED: &str = "#c62828";
pub const QUARANTINED: &str = "#6a1b9a";
pub const BLOCKED: &str = "#f9a825";
pub const SKIPPED: &str = "#9e9e9e";
pub const P50: &str = "#1565c0";
pub const P95: &str = "#00838f";
pub const FAILING: &str = "#ad1457";
pub const SLA_MET: &str = "#388e3c";
pub const SLA_LATE: &str = "#ef6c00";
pub const SLA_MISSED: &str = "#b71c1c";
pub const SLA_NONE: &str = "#e0e0e0";
pub const LAG: &str = "#5d4037";

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:60rem;padding:0 1rem;color:#1b1b1b;background:#fff}\
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left}\
svg{width:100%;height:auto;max-width:40rem}svg text{fill:currentColor;font-size:11px}.axis{stroke:#888}\
.verdict{font-size:1.3rem;font-weight:bold}.wrap{overflow-x:auto}\
@media (prefers-color-scheme:dark){body{color:#e8e8e8;background:#121212}th,td{border-color:#555}}\
@media print{body{max-width:none}}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A tick step of 1, 2 or 5 × 10ⁿ giving at most 5 ticks up to `max`.
fn step(max: f64) -> f64 {
    let raw = (max / 5.0).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

/// An SVG frame with its title and description, a y axis from 0 to `max` and its ticks.
fn frame(o: &mut String, id: &str, title: &str, desc: &str, max: f64, unit: &str, counts: bool) -> f64 {
    let step = if counts { step(max.max(1.0)).max(1.0) } else { step(max.max(1.0)) };
    let top = (max.max(1.0) / step).ceil() * step;
    let _ = write!(o, "<svg role=\"img\" aria-labelledby=\"{id}-t {id}-d\" viewBox=\"0 0 640 260\"><title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>", esc(title), esc(desc));
    let _ = write!(
        o,
        "<line class=\"axis\" x1=\"60\" y1=\"220\" x2=\"630\" y2=\"220\"/><line class=\"axis\" x1=\"60\" y1=\"20\" x2=\"60\" y2=\"220\"/>"
    );
    let mut v = 0.0;
    while v <= top + 1e-9 {
        let y = 220.0 - v / top * 200.0;
        let _ = write!(o, "<text x=\"54\" y=\"{:.1}\" text-anchor=\"end\">{}{unit}</text>", y + 4.0, fmt_tick(v));
        v += step;
    }
    top
}

fn fmt_tick(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A stacked series: its name, its colour and its count on a day.
type Series = (&'static str, &'static str, fn(&RunFigures) -> u64);

fn outcome_chart(o: &mut String, r: &WeeklyReport) {
    let series: [Series; 5] = [
        ("succeeded", SUCCEEDED, |f| f.outcomes.succeeded),
        ("failed", FAILED, |f| f.outcomes.failed),
        ("quarantined", QUARANTINED, |f| f.outcomes.quarantined),
        ("blocked", BLOCKED, |f| f.outcomes.blocked),
        ("skipped", SKIPPED, |f| f.outcomes.skipped),
    ];
    let totals: Vec<u64> = r.days.iter().map(|d| series.iter().map(|(_, _, f)| f(&d.figures)).sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0) as f64;
    let _ = write!(o, "<h2>Runs per day by outcome</h2><div class=\"wrap\">");
    let top = frame(
        o,
        "outcomes",
        "Runs per day by outcome",
        "Stacked bars, one per local day: succeeded, failed, quarantined, blocked and skipped runs, by the day they ended.",
        max,
        "",
        true,
    );
    for (i, d) in r.days.iter().enumerate() {
        let x = 70.0 + i as f64 * 80.0;
        let mut y = 220.0;
        for (name, color, f) in &series {
            let n = f(&d.figures);
            if n == 0 {
                continue;
            }
            let h = n as f64 / top * 200.0;
            y -= h;
            let _ = write!(
                o,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"56\" height=\"{h:.1}\" fill=\"{color}\"><title>{} {name}: {n}</title></rect>",
                d.date
            );
        }
        let _ = write!(o, "<text x=\"{:.1}\" y=\"238\" text-anchor=\"middle\">{}</text>", x + 28.0, d.date.format("%a %d"));
    }
    for (i, (name, color, _)) in series.iter().enumerate() {
        let x = 70.0 + i as f64 * 110.0;
        let _ = write!(
            o,
            "<rect x=\"{x}\" y=\"246\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"255\">{name}</text>",
            x + 14.0
        );
    }
    let _ = write!(o, "</svg></div><table><tr><th>day</th>");
    for (name, _, _) in &series {
        let _ = write!(o, "<th>{name}</th>");
    }
    let _ = write!(o, "</tr>");
    for d in &r.days {
        let _ = write!(o, "<tr><td>{}</td>", d.date);
        for (_, _, f) in &series {
            let _ = write!(o, "<td>{}</td>", f(&d.figures));
        }
        let _ = write!(o, "</tr>");
    }
    let _ = write!(o, "</table>");
}

fn seconds(p: &Option<Percentile>) -> f64 {
    p.map_or(0.0, |p| p.value as f64 / 1000.0)
}

fn duration_chart(o: &mut String, r: &WeeklyReport) {
    let max = r.days.iter().map(|d| seconds(&d.figures.duration_p95)).fold(0.0, f64::max);
    let _ = write!(o, "<h2>Run duration per day</h2><div class=\"wrap\">");
    let top = frame(o, "durations", "Run duration per day, p50 and p95", "Pairs of bars, one pair per local day: the median and the 95th percentile (nearest rank; the maximum below 20 runs) of succeeded runs' duration from the start of attempt 1 to the end, in seconds.", max, "s", false);
    for (i, d) in r.days.iter().enumerate() {
        let x = 70.0 + i as f64 * 80.0;
        for (j, (p, color)) in [(&d.figures.duration_p50, P50), (&d.figures.duration_p95, P95)].iter().enumerate() {
            let h = seconds(p) / top * 200.0;
            if h > 0.0 {
                let _ = write!(
                    o,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"26\" height=\"{h:.1}\" fill=\"{color}\"/>",
                    x + j as f64 * 30.0,
                    220.0 - h
                );
            }
        }
        let _ = write!(o, "<text x=\"{:.1}\" y=\"238\" text-anchor=\"middle\">{}</text>", x + 28.0, d.date.format("%a %d"));
    }
    let _ = write!(o, "<rect x=\"70\" y=\"246\" width=\"10\" height=\"10\" fill=\"{P50}\"/><text x=\"84\" y=\"255\">p50</text><rect x=\"180\" y=\"246\" width=\"10\" height=\"10\" fill=\"{P95}\"/><text x=\"194\" y=\"255\">p95</text>");
    let _ = write!(o, "</svg></div><table><tr><th>day</th><th>succeeded runs</th><th>p50</th><th>p95</th></tr>");
    for d in &r.days {
        let f = &d.figures;
        let p95 =
            f.duration_p95.map_or("–".into(), |p| format!("{:.1} s{}", p.value as f64 / 1000.0, if p.is_max { " (max)" } else { "" }));
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{p95}</td></tr>",
            d.date,
            f.outcomes.succeeded,
            f.duration_p50.map_or("–".into(), |p| format!("{:.1} s", p.value as f64 / 1000.0))
        );
    }
    let _ = write!(o, "</table>");
}

/// Worst lag ÷ threshold per dataset, with a line at 1.0 (above it: stale at some time).
fn freshness_chart(o: &mut String, r: &WeeklyReport, md: &str) {
    let _ = write!(o, "<h2>Freshness</h2>");
    if r.freshness.is_empty() {
        let _ = write!(o, "<p>No dataset declares <code>expected_every</code>.</p>");
        return;
    }
    let ratio = |f: &crate::domain::metrics::freshness::FreshnessFigures| match (f.worst_lag_secs, f.threshold_secs) {
        (Some(l), t) if t > 0 => l as f64 / t as f64,
        _ => 0.0,
    };
    let max = r.freshness.iter().map(ratio).fold(1.0, f64::max);
    let _ = write!(o, "<div class=\"wrap\">");
    let top = frame(o, "freshness", "Worst lag per dataset, as a multiple of its threshold", "Bars, one per dataset: the largest time since its newest accepted arrival this week divided by its threshold; the line marks 1, above which the dataset was stale.", max, "×", false);
    for (i, f) in r.freshness.iter().enumerate() {
        let x = 70.0 + i as f64 * 110.0;
        let h = ratio(f) / top * 200.0;
        let _ = write!(o, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"80\" height=\"{h:.1}\" fill=\"{LAG}\"/><text x=\"{:.1}\" y=\"238\" text-anchor=\"middle\">{}</text>", 220.0 - h, x + 40.0, esc(&f.dataset.chars().take(16).collect::<String>()));
    }
    let y1 = 220.0 - 1.0 / top * 200.0;
    let _ = write!(
        o,
        "<line x1=\"60\" y1=\"{y1:.1}\" x2=\"630\" y2=\"{y1:.1}\" stroke=\"{SLA_MISSED}\" stroke-dasharray=\"6 4\"/></svg></div>"
    );
    md_table(o, md, "## Freshness");
}

/// The table of a Markdown section, as HTML.
fn md_table(o: &mut String, md: &str, heading: &str) {
    let rows: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = write!(o, "<table>");
    for (i, row) in rows.iter().enumerate() {
        let cell = if i == 0 { "th" } else { "td" };
        let _ = write!(o, "<tr>{}</tr>", cells(row).iter().map(|c| format!("<{cell}>{}</{cell}>", esc(c))).collect::<String>());
    }
    let _ = write!(o, "</table>");
}

/// The SLA heat strip: one row per job, one cell per day — all met, some late, some missed.
fn sla_chart(o: &mut String, r: &WeeklyReport) {
    let _ = write!(o, "<h2>SLAs by job and day</h2>");
    if r.sla.by_job_day.is_empty() {
        let _ = write!(o, "<p>No run had an SLA deadline this week.</p>");
        return;
    }
    let rows = r.sla.by_job_day.len();
    let height = 40 + rows * 28 + 30;
    let _ = write!(
        o,
        "<div class=\"wrap\"><svg role=\"img\" aria-labelledby=\"sla-t sla-d\" viewBox=\"0 0 640 {height}\"><title id=\"sla-t\">SLAs by job and day</title><desc id=\"sla-d\">A grid, one row per job and one column per local day of the deadline: green when every run met its deadline, orange when one succeeded late, red when one missed it, grey with no deadline that day.</desc>"
    );
    for (i, d) in r.days.iter().enumerate() {
        let _ = write!(o, "<text x=\"{}\" y=\"30\" text-anchor=\"middle\">{}</text>", 180 + i * 64 + 28, d.date.format("%a %d"));
    }
    for (j, (job, days)) in r.sla.by_job_day.iter().enumerate() {
        let y = 40 + j * 28;
        let _ = write!(o, "<text x=\"170\" y=\"{}\" text-anchor=\"end\">{}</text>", y + 17, esc(&job.chars().take(24).collect::<String>()));
        for (i, d) in r.days.iter().enumerate() {
            let (color, what) = match days.get(&d.date) {
                None => (SLA_NONE, "no deadline".to_string()),
                Some(c) if c.missed > 0 => (SLA_MISSED, format!("{} missed", c.missed)),
                Some(c) if c.late > 0 => (SLA_LATE, format!("{} late", c.late)),
                Some(c) => (SLA_MET, format!("{} met", c.met)),
            };
            let _ = write!(
                o,
                "<rect x=\"{}\" y=\"{y}\" width=\"56\" height=\"24\" fill=\"{color}\"><title>{} {}: {what}</title></rect>",
                180 + i * 64,
                esc(job),
                d.date
            );
        }
    }
    let ly = 40 + rows * 28 + 10;
    for (k, (name, color)) in [("met", SLA_MET), ("late", SLA_LATE), ("missed", SLA_MISSED), ("none", SLA_NONE)].iter().enumerate() {
        let x = 180 + k * 90;
        let _ = write!(
            o,
            "<rect x=\"{x}\" y=\"{ly}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{name}</text>",
            x + 14,
            ly + 9
        );
    }
    let _ = write!(o, "</svg></div>");
}

fn failing_chart(o: &mut String, r: &WeeklyReport) {
    let _ = write!(o, "<h2>Top failing jobs</h2>");
    if r.top_failing.is_empty() {
        let _ = write!(o, "<p>None: no run failed, was quarantined or blocked.</p>");
        return;
    }
    let max = r.top_failing.iter().map(|f| f.failed + f.quarantined + f.blocked).max().unwrap_or(0) as f64;
    let _ = write!(o, "<div class=\"wrap\">");
    let top = frame(
        o,
        "failing",
        "Top failing jobs",
        "Bars, one per job: runs that failed, were quarantined or were blocked this week.",
        max,
        "",
        true,
    );
    for (i, f) in r.top_failing.iter().enumerate() {
        let x = 70.0 + i as f64 * 110.0;
        let n = f.failed + f.quarantined + f.blocked;
        let h = n as f64 / top * 200.0;
        let _ = write!(o, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"80\" height=\"{h:.1}\" fill=\"{FAILING}\"/><text x=\"{:.1}\" y=\"238\" text-anchor=\"middle\">{}</text>", 220.0 - h, x + 40.0, esc(&f.job.chars().take(16).collect::<String>()));
    }
    let _ = write!(o, "</svg></div><table><tr><th>job</th><th>failed</th><th>quarantined</th><th>blocked</th><th>runs</th></tr>");
    for f in &r.top_failing {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&f.job),
            f.failed,
            f.quarantined,
            f.blocked,
            f.runs
        );
    }
    let _ = write!(o, "</table>");
}

/// The page.
pub fn render(r: &WeeklyReport) -> String {
    let mut o = String::new();
    let _ = write!(o, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"color-scheme\" content=\"light dark\"><title>Weekly stability report {}</title><style>{STYLE}</style></head><body>", esc(&r.week));
    let _ = write!(
        o,
        "<h1>Weekly stability report {} ({})</h1><p>{} to {} (UTC)</p>",
        esc(&r.week),
        esc(&r.timezone),
        r.from.to_rfc3339(),
        r.to.to_rfc3339()
    );
    let _ = write!(o, "<p class=\"verdict\">Verdict: {}</p><ul>", format!("{:?}", r.verdict).to_uppercase());
    for reason in &r.reasons {
        let _ = write!(o, "<li>{}</li>", esc(reason));
    }
    let _ = write!(o, "</ul><h2>Scorecard</h2>");
    // The Markdown scorecard's table, as HTML.
    let md = markdown::render(r);
    let mut rows = md.lines().skip_while(|l| !l.starts_with("| figure")).take_while(|l| l.starts_with('|'));
    let _ = write!(o, "<table>");
    if let Some(head) = rows.next() {
        let _ = write!(o, "<tr>{}</tr>", cells(head).iter().map(|c| format!("<th>{}</th>", esc(c))).collect::<String>());
    }
    for row in rows.skip(1) {
        let _ = write!(o, "<tr>{}</tr>", cells(row).iter().map(|c| format!("<td>{}</td>", esc(c))).collect::<String>());
    }
    let _ = write!(o, "</table>");
    outcome_chart(&mut o, r);
    duration_chart(&mut o, r);
    sla_chart(&mut o, r);
    md_table(&mut o, &md, "## SLAs");
    freshness_chart(&mut o, r, &md);
    failing_chart(&mut o, r);
    md_section(&mut o, &md, "## Gates, breakers and quarantine");
    md_section(&mut o, &md, "## Evaluators");
    md_section(&mut o, &md, "## Queues");
    md_section(&mut o, &md, "## Alert hygiene");
    md_section(&mut o, &md, "## Changes");
    let _ = write!(o, "<h2>Incidents</h2>");
    if r.episodes.is_empty() {
        let _ = write!(o, "<p>None.</p>");
    } else {
        let _ = write!(o, "<table><tr><th>job</th><th>kind</th><th>opened</th><th>recovered</th><th>time to recover</th><th>time to detect</th><th>bad runs</th></tr>");
        for e in &r.episodes {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.job),
                e.kind,
                e.opened.to_rfc3339(),
                e.closed.map_or("still open".into(), |c| c.to_rfc3339()),
                e.recovery_secs.map_or_else(|| format!("open for {}", markdown::duration(e.open_secs.unwrap_or(0))), markdown::duration),
                e.detect_secs.map_or("not notified".into(), markdown::duration),
                e.bad_runs
            );
        }
        let _ = write!(o, "</table>");
    }
    let _ = writeln!(o, "</body></html>");
    o
}

/// A whole Markdown section (its lines and tables) as HTML, under its heading.
fn md_section(o: &mut String, md: &str, heading: &str) {
    let section: Vec<&str> = md.lines().skip_while(|l| !l.starts_with(heading)).skip(1).take_while(|l| !l.starts_with("## ")).collect();
    let _ = write!(o, "<h2>{}</h2>", esc(heading.trim_start_matches("## ")));
    let mut in_table = false;
    for line in section {
        if line.starts_with('|') {
            if line.starts_with("|---") {
                continue;
            }
            let cell = if in_table { "td" } else { "th" };
            if !in_table {
                let _ = write!(o, "<table>");
                in_table = true;
            }
            let _ = write!(o, "<tr>{}</tr>", cells(line).iter().map(|c| format!("<{cell}>{}</{cell}>", esc(c))).collect::<String>());
        } else {
            if in_table {
                let _ = write!(o, "</table>");
                in_table = false;
            }
            if !line.trim().is_empty() {
                let _ = write!(o, "<p>{}</p>", esc(line));
            }
        }
    }
    if in_table {
        let _ = write!(o, "</table>");
    }
}

fn cells(row: &str) -> Vec<String> {
    row.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_1_2_5_times_a_power_of_ten() {
        assert_eq!(step(10.0), 2.0);
        assert_eq!(step(23.0), 5.0);
        assert_eq!(step(1.0), 0.2);
        assert_eq!(step(480.0), 100.0);
        assert_eq!(esc("<a&\">"), "&lt;a&amp;&quot;&gt;");
    }
}
