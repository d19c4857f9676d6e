//! How release commands print: a few lines for people, or JSON with `--json`.

use serde_json::json;

use super::Common;
use crate::domain::release::{ActivePointer, EvaluationRecord};
use crate::flows::releases;
use crate::flows::releases::ops::Proposed;
use crate::flows::releases::{Checked, Listed, ReleaseStatus};

pub(super) fn proposed(p: &Proposed, c: &Common) {
    if c.json {
        println!("{}", json!({ "id": p.id, "created": p.created, "record": p.record, "warnings": p.warnings }));
        return;
    }
    for w in &p.warnings {
        eprintln!("warning: {w}");
    }
    if !p.created {
        println!("{}", p.id);
        eprintln!("release {} was proposed before ({}); nothing changed", p.id.short(), p.record.proposed_at.to_rfc3339());
        return;
    }
    println!("{}", p.id);
    let r = &p.record;
    eprintln!(
        "proposed by {} from {}{}; parent {}; {} job(s), {} dataset(s), {} contract(s)",
        r.proposed_by.key(),
        r.source,
        r.commit.as_deref().map(|c| format!(" (commit {c})")).unwrap_or_default(),
        r.parent.as_ref().map_or("none", |p| p.short()),
        r.jobs,
        r.datasets,
        r.contracts
    );
    eprintln!("next: flowgate release approve {} --state {} --as NAME", p.id.short(), c.state.display());
}

pub(super) fn list(list: &[Listed], pointer: Option<&ActivePointer>, as_json: bool) {
    if as_json {
        println!("{}", json!({ "active": pointer, "releases": list }));
        return;
    }
    match pointer {
        Some(p) => println!("active: {} since {} ({} by {})", p.release.short(), p.since.to_rfc3339(), p.how, p.by),
        None => println!("active: none (the packaged catalog runs, unreleased, unless FLOWGATE_RELEASES=required)"),
    }
    if list.is_empty() {
        println!("no releases proposed");
        return;
    }
    println!("{:<14} {:<9} {:<26} {:<24} {:>9} {:<7} commit", "release", "state", "proposed", "by", "approvals", "checks");
    for r in list {
        let approvals = if r.self_approvals > 0 { format!("{} ({} self)", r.approvals, r.self_approvals) } else { r.approvals.to_string() };
        let checks = match r.checks_passed {
            Some(true) => "passed",
            Some(false) => "FAILED",
            None => "-",
        };
        println!(
            "{:<14} {:<9} {:<26} {:<24} {:>9} {:<7} {}",
            r.id.short(),
            r.state.as_str(),
            r.proposed_at.to_rfc3339(),
            r.proposed_by,
            approvals,
            checks,
            r.commit.as_deref().unwrap_or("-")
        );
    }
}

pub(super) fn status(s: &ReleaseStatus, as_json: bool) {
    if as_json {
        println!("{}", json!(s));
        return;
    }
    let r = &s.record;
    println!("release {}", r.id);
    println!("  state     {}", s.state.as_str());
    println!("  proposed  {} by {} from {}", r.proposed_at.to_rfc3339(), r.proposed_by, r.source);
    if let Some(c) = &r.commit {
        println!("  commit    {c}");
    }
    println!("  parent    {}", r.parent.as_ref().map_or("none", |p| p.short()));
    println!(
        "  approvals {} counted of {} required",
        s.verdict.approvals.iter().filter(|a| a.counted).count(),
        s.verdict.required_approvals
    );
    if s.verdict.solo {
        println!("            solo mode: the proposer may approve their own release");
    }
    for a in &s.verdict.approvals {
        let roles = a.roles.join(",");
        let author = if a.distinct_from_author { "" } else { " SELF-APPROVED" };
        match &a.why_not {
            None => println!("    counted     {} ({roles}) at {}{author}", a.by, a.at.to_rfc3339()),
            Some(w) => println!("    not counted {} ({roles}): {w}", a.by),
        }
    }
    if let Some(rj) = &s.rejection {
        println!("  rejected  by {} at {}: {}", rj.by.key(), rj.at.to_rfc3339(), rj.reason);
    }
    match &s.checks {
        None => println!("  checks    not run (flowgate release gate-check)"),
        Some(c) => {
            println!("  checks    {} at {}", if c.passed() { "passed" } else { "FAILED" }, c.at.to_rfc3339());
            for x in &c.results {
                println!("    {} {:<13} {:<28} {}", if x.passed { "pass" } else { "FAIL" }, x.check, x.subject, x.detail);
            }
        }
    }
    if let Some(r) = &s.rollout {
        rollout(r, s.state == releases::ReleaseState::Canary);
    }
    if let Some(e) = &s.emergency {
        println!(
            "  emergency by {} at {} (incident {}): {}; review {} (due {})",
            e.by.key(),
            e.at.to_rfc3339(),
            e.incident,
            e.reason,
            s.review_state.unwrap_or("open"),
            e.review_due.to_rfc3339()
        );
    }
    if s.verdict.passed {
        println!("  gate      would pass now");
    } else {
        println!("  gate      would fail now:");
        for reason in &s.verdict.reasons {
            println!("    - {reason}");
        }
    }
}

pub(super) fn checked(c: &Checked, as_json: bool) {
    if as_json {
        println!("{}", json!(c));
        return;
    }
    for x in &c.checks.results {
        println!("{} {:<13} {:<28} {}", if x.passed { "pass" } else { "FAIL" }, x.check, x.subject, x.detail);
    }
    let counted = c.verdict.approvals.iter().filter(|a| a.counted).count();
    println!(
        "approvals: {counted} counted of {} required{}",
        c.verdict.required_approvals,
        if c.verdict.solo { " (solo mode)" } else { "" }
    );
    if c.verdict.passed {
        println!("gate PASSED for release {}", c.verdict.release);
    } else {
        println!("gate FAILED for release {}:", c.verdict.release);
        for r in &c.verdict.reasons {
            println!("  - {r}");
        }
    }
}

pub(super) fn switched(p: &ActivePointer, as_json: bool) {
    if as_json {
        println!("{}", json!(p));
        return;
    }
    if let Some(c) = &p.canary {
        let jobs: Vec<String> = c.deployments.iter().map(|(j, (from, to))| format!("{j} {from} → {to}")).collect();
        println!(
            "canary of release {} started: {:.1} % of new items of {} run on it; release {} stays active until CanaryWatch decides (flowgate release status {})",
            c.candidate.short(),
            c.share_bp as f64 / 100.0,
            jobs.join(", "),
            p.release.short(),
            c.candidate.short()
        );
        return;
    }
    println!(
        "release {} is active ({} by {}, generation {}){}",
        p.release.short(),
        p.how,
        p.by,
        p.generation,
        p.previous.as_ref().map(|x| format!("; it replaced {}", x.short())).unwrap_or_default()
    );
}

/// A canary rollout and the live figures of its last analysis.
/// `live`: the canary still runs (on the active pointer).
fn rollout(r: &releases::rollout::RolloutState, live: bool) {
    let c = &r.canary;
    let jobs: Vec<String> = c.deployments.iter().map(|(j, (from, to))| format!("{j} {from} → {to}")).collect();
    let state = match (r.outcome, live) {
        (Some(o), _) => json!(o).as_str().unwrap_or_default().to_string(),
        (None, true) => "observing".to_string(),
        // Promoted or rolled back by a person, or replaced by another canary.
        (None, false) => "ended (no longer on the active pointer)".to_string(),
    };
    println!(
        "  rollout   {state}: {:.1} % of new items of {} since {} (stable {}; {} pass(es))",
        c.share_bp as f64 / 100.0,
        jobs.join(", "),
        c.started.to_rfc3339(),
        c.stable.short(),
        r.passes
    );
    if let Some(a) = &r.last {
        for m in &a.metrics {
            println!(
                "    {:<20} {:>4}/{:<4} p0 {:.3} p1 {:.3} α {:.3}  llr {:+.3} in [{:.3}, {:.3}]: {}  (p0 from {})",
                m.metric.name(),
                m.events,
                m.items,
                m.p0,
                m.p1,
                m.alpha,
                m.llr,
                m.lower,
                m.upper,
                m.says,
                m.p0_from
            );
        }
        println!("    decision {}: {}", json!(a.decision).as_str().unwrap_or_default(), a.reasons.join("; "));
    }
    if let Some(n) = &r.note {
        println!("    note     {n}");
    }
}

/// A recorded offline evaluation.
pub(super) fn evaluated(r: &EvaluationRecord, as_json: bool) {
    if as_json {
        println!("{}", json!(r));
        return;
    }
    for e in r.comparison["evaluators"].as_array().into_iter().flatten() {
        println!(
            "{:<12} {:<24} {:<7} n {:>4}  b {:>3}  c {:>3}  p {:.4} (Holm {:.4})",
            e["verdict"].as_str().unwrap_or("?"),
            e["name"].as_str().unwrap_or("?"),
            e["kind"].as_str().unwrap_or("?"),
            e["n"].as_u64().unwrap_or(0),
            e["b"].as_u64().unwrap_or(0),
            e["c"].as_u64().unwrap_or(0),
            e["p_value"].as_f64().unwrap_or(1.0),
            e["alpha_holm"].as_f64().unwrap_or(0.0)
        );
        for reason in e["reasons"].as_array().into_iter().flatten() {
            println!("             - {}", reason.as_str().unwrap_or_default());
        }
    }
    println!(
        "release {} evaluated on {} (sha256 {}): {}",
        r.release.short(),
        r.dataset,
        &r.dataset_sha256[..12],
        releases::evaluation::verdict_word(r.verdict)
    );
}
