//! `flowgate validate CATALOG [--json]`: a one-screen summary and exit 0, or every problem as
//! `path:line:col: message` and exit 2.

use std::path::Path;

use chrono::Utc;
use serde_json::{json, Value};

use super::exit;
use crate::app::render_problems;
use crate::domain::catalog::check::{load_file, Problem};
use crate::domain::catalog::{Catalog, Trigger};
use crate::domain::duration::format_duration;
use crate::domain::ids::instant_key;

pub fn run(path: &Path, as_json: bool) -> u8 {
    let shown = path.display().to_string();
    match load_file(path) {
        Err(problems) => {
            if as_json {
                println!("{}", json!({ "valid": false, "file": shown, "problems": problems_json(&shown, &problems) }));
            } else {
                eprintln!("{}", render_problems(&shown, &problems));
                eprintln!("{shown}: {} problem(s); the catalog was not accepted", problems.len());
            }
            exit::BAD_INPUT
        }
        Ok(loaded) => {
            if let Err(problems) = crate::app::load_contracts(&loaded.catalog) {
                if as_json {
                    println!("{}", json!({ "valid": false, "file": shown, "contract_problems": problems }));
                } else {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    eprintln!("{shown}: {} problem(s) in its data contracts; the catalog was not accepted", problems.len());
                }
                return exit::BAD_INPUT;
            }
            if as_json {
                println!("{}", summary_json(&shown, &loaded.catalog, &loaded.warnings));
            } else {
                print!("{}", summary_text(&shown, &loaded.catalog));
                for w in &loaded.warnings {
                    println!("warning: {shown}:{}:{}: {}", w.pos.line, w.pos.col, w.message);
                }
            }
            exit::OK
        }
    }
}

fn problems_json(file: &str, problems: &[Problem]) -> Value {
    problems
        .iter()
        .map(|p| json!({ "file": file, "line": p.pos.line, "column": p.pos.col, "pointer": p.pointer, "message": p.message }))
        .collect()
}

fn trigger_text(t: &Trigger) -> String {
    match t {
        Trigger::Schedule(c) => format!("schedule `{}`", c.as_str()),
        Trigger::Arrival(d) => format!("on arrival of `{d}`"),
        Trigger::Dependencies => "after its dependencies".into(),
    }
}

fn summary_text(file: &str, c: &Catalog) -> String {
    let now = Utc::now();
    let mut out = format!("{file}: valid (catalog format 1, time zone {})\n", c.timezone);
    out.push_str(&format!("  {} dataset(s), {} job(s)\n", c.datasets.len(), c.jobs.len()));
    for d in c.datasets.values() {
        out.push_str(&format!(
            "  dataset {:<28} {}/{}  {:?}{}\n",
            d.id.as_str(),
            d.location.container,
            d.location.prefix,
            d.format,
            d.contract.as_ref().map(|p| format!("  contract {}", p.display())).unwrap_or_default()
        ));
    }
    out.push_str(&format!("  {}\n", release_policy_text(&c.releases)));
    for j in c.jobs.values() {
        let next = match &j.trigger {
            Trigger::Schedule(cron) => cron.next_after(now, j.timezone).map(|t| format!("  next {}", instant_key(t))).unwrap_or_default(),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  job     {:<28} {} ({}){}{}  retry {}x, timeout {}\n",
            j.id.as_str(),
            trigger_text(&j.trigger),
            j.timezone,
            next,
            if j.enabled { "" } else { "  [disabled]" },
            j.retry.max_attempts,
            format_duration(j.timeout)
        ));
    }
    out
}

fn summary_json(file: &str, c: &Catalog, warnings: &[Problem]) -> Value {
    let now = Utc::now();
    json!({
        "valid": true,
        "file": file,
        "timezone": c.timezone.name(),
        "datasets": c.datasets.values().map(|d| json!({
            "name": d.id.as_str(),
            "container": d.location.container,
            "prefix": d.location.prefix,
            "contract": d.contract.as_ref().map(|p| p.display().to_string()),
        })).collect::<Vec<_>>(),
        "jobs": c.jobs.values().map(|j| json!({
            "name": j.id.as_str(),
            "trigger": trigger_text(&j.trigger),
            "timezone": j.timezone.name(),
            "enabled": j.enabled,
            "next": match &j.trigger { Trigger::Schedule(cron) => cron.next_after(now, j.timezone).map(instant_key), _ => None },
            "depends_on": j.depends_on.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
            "max_attempts": j.retry.max_attempts,
            "timeout": format_duration(j.timeout),
        })).collect::<Vec<_>>(),
        "releases": c.releases,
        "warnings": problems_json(file, warnings),
    })
}

/// One line saying what a release of this catalog needs.
fn release_policy_text(p: &crate::domain::release::ReleasePolicy) -> String {
    if !p.declared {
        return "releases: no `releases:` section (defaults: 1 approval by `Release.Approver`, lint and smoke checks, no windows)".into();
    }
    let mut checks = Vec::new();
    if p.checks.contract_lint {
        checks.push("contract lint".to_string());
    }
    if !p.checks.samples.is_empty() {
        checks.push(format!("{} sample file(s)", p.checks.samples.len()));
    }
    if p.checks.smoke {
        checks.push("smoke requests".to_string());
    }
    if let Some(e) = &p.checks.evaluation {
        let floors: Vec<String> = e.floors.iter().map(|(n, f)| format!("{n} ≥ {f}")).collect();
        checks.push(format!(
            "offline evaluation on {} (α {}, δ {}, at least {} items{})",
            e.dataset,
            e.alpha,
            e.delta,
            e.min_items,
            if floors.is_empty() { String::new() } else { format!(", floors {}", floors.join(", ")) }
        ));
    }
    let rollout = match &p.rollout {
        None => String::new(),
        Some(r) => format!(
            "; deployment changes canary on {:.1} % of items (promote after {} items and {}, inconclusive at {} items or {})",
            r.share_bp as f64 / 100.0,
            r.canary.min_items,
            format_duration(r.canary.min_duration),
            r.canary.max_items,
            format_duration(r.canary.max_duration)
        ),
    };
    let windows = if p.windows.allow.is_empty() && p.windows.freeze.is_empty() {
        "no change windows".to_string()
    } else {
        format!("{} window(s) and {} freeze(s) in {}", p.windows.allow.len(), p.windows.freeze.len(), p.windows.timezone.name())
    };
    format!(
        "releases: {} approval(s) by `{}`{}; checks: {}; {windows}; emergency by `{}`, reviewed within {}{rollout}",
        p.approvals,
        p.approver_role,
        if p.solo { " (solo mode: self-approval allowed and reported)" } else { "" },
        if checks.is_empty() { "none".to_string() } else { checks.join(", ") },
        p.emergency.role,
        format_duration(p.emergency.review_within)
    )
}
