//! The status page, pure: what a person opening it at 7 a.m. needs at a glance — the active
//! release (and a canary), today's runs by job and outcome, runs waiting and why, SLAs at risk,
//! open breakers, quarantine, the alerts firing — as one server-rendered HTML page:
//! no script, nothing fetched, readable in a narrow window and in dark mode.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::metrics::Outcomes;

/// A run watched against its SLA.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtRisk {
    pub run: String,
    pub warn_at: Option<DateTime<Utc>>,
    pub breach_at: DateTime<Utc>,
}

/// A breaker that is not closed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenBreaker {
    pub name: String,
    pub state: String,
    pub open_until: Option<DateTime<Utc>>,
}

/// A recent alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentAlert {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub subject: String,
    pub message: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct StatusView {
    pub now: DateTime<Utc>,
    pub timezone: String,
    /// The active release, as a line; `None`: the packaged catalog runs (unreleased).
    pub release: Option<String>,
    /// Runs of today (local), by job.
    pub today: BTreeMap<String, Outcomes>,
    /// Runs waiting, with why.
    pub waiting: Vec<(String, String)>,
    pub at_risk: Vec<AtRisk>,
    pub breakers: Vec<OpenBreaker>,
    pub quarantine_open: usize,
    pub quarantine_oldest: Option<DateTime<Utc>>,
    /// Alerts firing now, newest first.
    pub alerts: Vec<RecentAlert>,
}

/// The badge colours (also what the screenshot test looks for).
pub const OK: &str = "#2e7d32";
pub const ATTENTION: &str = "#c62828";

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:56rem;padding:0 1rem;color:#1b1b1b;background:#fff}\
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem;width:100%}th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left}\
.badge{display:inline-block;padding:.4rem .8rem;border-radius:.3rem;color:#fff;font-weight:bold}.wrap{overflow-x:auto}\
@media (prefers-color-scheme:dark){body{color:#e8e8e8;background:#121212}th,td{border-color:#555}}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl StatusView {
    /// What needs a person, one line each (empty: nothing).
    pub fn needs_attention(&self) -> Vec<String> {
        let mut out = Vec::new();
        let failed: u64 = self.today.values().map(|o| o.failed + o.quarantined).sum();
        if failed > 0 {
            out.push(format!("{failed} run(s) failed or were quarantined today"));
        }
        let breached = self.at_risk.iter().filter(|r| r.breach_at <= self.now).count();
        if breached > 0 {
            out.push(format!("{breached} run(s) past their SLA deadline"));
        }
        if !self.breakers.is_empty() {
            out.push(format!("{} breaker(s) not closed", self.breakers.len()));
        }
        if self.quarantine_open > 0 {
            out.push(format!("{} quarantine item(s) open", self.quarantine_open));
        }
        out
    }

    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = write!(o, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"color-scheme\" content=\"light dark\"><title>flowgate status</title><style>{STYLE}</style></head><body>");
        let _ = write!(o, "<h1>flowgate status</h1><p>{} (UTC); today is counted in {}</p>", self.now.to_rfc3339(), esc(&self.timezone));
        let attention = self.needs_attention();
        if attention.is_empty() {
            let _ = write!(o, "<p><span class=\"badge\" style=\"background:{OK}\">All clear</span></p>");
        } else {
            let _ = write!(o, "<p><span class=\"badge\" style=\"background:{ATTENTION}\">Needs attention</span></p><ul>");
            for a in &attention {
                let _ = write!(o, "<li>{}</li>", esc(a));
            }
            let _ = write!(o, "</ul>");
        }
        let _ = write!(
            o,
            "<h2>Release</h2><p>{}</p>",
            esc(self.release.as_deref().unwrap_or("none active: the packaged catalog runs (unreleased)"))
        );
        let _ = write!(o, "<h2>Today's runs</h2>");
        if self.today.is_empty() {
            let _ = write!(o, "<p>No run has ended today.</p>");
        } else {
            let _ = write!(o, "<div class=\"wrap\"><table><tr><th>job</th><th>succeeded</th><th>failed</th><th>quarantined</th><th>blocked</th><th>skipped</th><th>in flight</th></tr>");
            for (job, c) in &self.today {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(job),
                    c.succeeded,
                    c.failed,
                    c.quarantined,
                    c.blocked,
                    c.skipped,
                    c.in_flight
                );
            }
            let _ = write!(o, "</table></div>");
        }
        section(&mut o, "Waiting", &self.waiting, &["run", "why"], |(r, why)| vec![r.clone(), why.clone()]);
        section(&mut o, "SLAs at risk", &self.at_risk, &["run", "warn at", "deadline"], |r| {
            vec![
                r.run.clone(),
                r.warn_at.map_or("–".into(), |w| w.to_rfc3339()),
                format!("{}{}", r.breach_at.to_rfc3339(), if r.breach_at <= self.now { " (passed)" } else { "" }),
            ]
        });
        section(&mut o, "Breakers not closed", &self.breakers, &["breaker", "state", "open until"], |b| {
            vec![b.name.clone(), b.state.clone(), b.open_until.map_or("–".into(), |t| t.to_rfc3339())]
        });
        let _ = write!(
            o,
            "<h2>Quarantine</h2><p>{} open{}</p>",
            self.quarantine_open,
            self.quarantine_oldest.map(|t| format!(", the oldest since {}", t.to_rfc3339())).unwrap_or_default()
        );
        section(&mut o, "Alerts firing", &self.alerts, &["since", "alert", "labels", "summary"], |a| {
            vec![a.at.to_rfc3339(), a.kind.clone(), a.subject.clone(), a.message.clone()]
        });
        let _ = writeln!(o, "</body></html>");
        o
    }
}

fn section<T>(o: &mut String, title: &str, rows: &[T], heads: &[&str], cells: impl Fn(&T) -> Vec<String>) {
    let _ = write!(o, "<h2>{}</h2>", esc(title));
    if rows.is_empty() {
        let _ = write!(o, "<p>None.</p>");
        return;
    }
    let _ = write!(o, "<div class=\"wrap\"><table><tr>{}</tr>", heads.iter().map(|h| format!("<th>{h}</th>")).collect::<String>());
    for r in rows {
        let _ = write!(o, "<tr>{}</tr>", cells(r).iter().map(|c| format!("<td>{}</td>", esc(c))).collect::<String>());
    }
    let _ = write!(o, "</table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_state_is_all_clear_and_trouble_is_listed() {
        let mut v = StatusView { timezone: "UTC".into(), ..StatusView::default() };
        let page = v.render();
        assert!(page.contains("All clear") && !page.contains("<script"));
        v.quarantine_open = 2;
        v.today.insert("classify".into(), Outcomes { failed: 1, ..Outcomes::default() });
        v.waiting.push(("score@t".into(), "waiting for <extract>".into()));
        let page = v.render();
        assert!(page.contains("Needs attention") && page.contains("1 run(s) failed") && page.contains("2 quarantine item(s) open"));
        assert!(page.contains("waiting for &lt;extract&gt;"), "escaped");
    }
}
