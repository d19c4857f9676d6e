//! `flowgate doctor --state DIR|azure [--catalog FILE] [--now T] [--json]`: what needs a person,
//! worst first, each with its evidence, the command that deals with it and its runbook. Exit 0
//! when nothing does, 1 when something does, 2 when the state cannot be read.

use std::path::Path;

use chrono::Utc;
use serde_json::json;

use super::exit;
use crate::flows::doctor::{examine, Finding, Inputs, Severity};

/// The runbooks' location: `FLOWGATE_RUNBOOK_BASE_URL`, else the repository's `docs/runbooks`.
pub fn runbook_base() -> String {
    std::env::var("FLOWGATE_RUNBOOK_BASE_URL").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "docs/runbooks".into())
}

/// Settings that point nowhere.
fn settings_problems(catalog: Option<&Path>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = catalog.filter(|c| !c.is_file()) {
        out.push(format!("the catalog {} does not exist (FLOWGATE_CATALOG or --catalog)", c.display()));
    }
    if let Ok(d) = std::env::var("FLOWGATE_DATA_DIR") {
        if !Path::new(&d).is_dir() {
            out.push(format!("FLOWGATE_DATA_DIR {d} is not a folder: no arrival can be seen"));
        }
    }
    if let Ok(u) = std::env::var("FLOWGATE_EXTERNAL_URL") {
        if reqwest::Url::parse(&u).is_err() {
            out.push(format!("FLOWGATE_EXTERNAL_URL `{u}` is not a URL: alert links point nowhere"));
        }
    }
    out
}

pub async fn run(state: &Path, catalog: Option<&Path>, now: Option<&str>, json_out: bool) -> u8 {
    let now = match super::audit::instant("--now", now) {
        Ok(t) => t.unwrap_or_else(Utc::now),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let st = match super::state::open(state) {
        Ok(s) => s,
        Err(_) => return exit::BAD_INPUT,
    };
    let env_catalog = std::env::var("FLOWGATE_CATALOG").ok().map(std::path::PathBuf::from);
    let catalog_path = catalog.map(Path::to_path_buf).or(env_catalog);
    let mut settings = settings_problems(catalog_path.as_deref());
    // The catalog that runs: the active release's, else the file.
    let active = match super::release::active_view_of(&st).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: reading the active release: {e}");
            return exit::BAD_INPUT;
        }
    };
    let file = catalog_path.as_deref().filter(|p| p.is_file()).map(crate::domain::catalog::check::load_file);
    let mut drift = None;
    if let Some(Ok(loaded)) = &file {
        let path = catalog_path.as_deref().unwrap_or(Path::new(""));
        match (crate::app::config_digest(path, &loaded.catalog), crate::flows::config::recorded(st.store.as_ref()).await) {
            (Ok(on_disk), Ok(Some((running, since)))) if on_disk != running => {
                drift = Some((path.display().to_string(), since));
            }
            (Err(e), _) => settings.push(e),
            _ => {}
        }
    }
    if let Some(Err(problems)) = &file {
        settings.push(format!(
            "the catalog {} has {} problem(s); `flowgate validate` lists them",
            catalog_path.as_deref().unwrap_or(Path::new("")).display(),
            problems.len()
        ));
    }
    let catalog = active.as_ref().map(|v| v.catalog.as_ref()).or(match &file {
        Some(Ok(l)) => Some(&l.catalog),
        _ => None,
    });
    let inputs = Inputs {
        store: st.store.as_ref(),
        queue: st.queue.as_ref(),
        audit: st.audit.as_ref(),
        catalog,
        settings,
        state: state.display().to_string(),
        now,
        runbooks: runbook_base(),
    };
    let mut findings = match examine(&inputs).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: the state cannot be read: {e}");
            return exit::BAD_INPUT;
        }
    };
    if let Some((path, since)) = drift {
        findings.push(Finding {
            severity: Severity::Warning,
            check: "catalog_drift",
            subject: path.clone(),
            evidence: format!(
                "the catalog or a contract on disk differs from the configuration the handler last ran with (recorded {})",
                since.map_or("at an unknown time".into(), |t| t.to_rfc3339())
            ),
            command: format!("flowgate validate {path}"),
            runbook: format!("{}/failed-release.md", inputs.runbooks.trim_end_matches('/')),
        });
    }
    if catalog.is_none() {
        eprintln!("note: no catalog (no active release, no --catalog or FLOWGATE_CATALOG): stale datasets were not checked");
    }
    print(&findings, json_out, now);
    if findings.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    }
}

fn print(findings: &[Finding], json_out: bool, now: chrono::DateTime<Utc>) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json!({ "at": now, "findings": findings })).unwrap_or_default());
        return;
    }
    for f in findings {
        let level = match f.severity {
            Severity::Critical => "CRITICAL",
            Severity::Warning => "WARNING ",
        };
        println!(
            "{level} {:<18} {}\n         {}\n         fix:     {}\n         runbook: {}",
            f.check, f.subject, f.evidence, f.command, f.runbook
        );
    }
    let critical = findings.iter().filter(|f| f.severity == Severity::Critical).count();
    if findings.is_empty() {
        println!("nothing needs a person (as of {})", now.to_rfc3339());
    } else {
        println!("{} finding(s): {critical} critical, {} warning", findings.len(), findings.len() - critical);
    }
}
