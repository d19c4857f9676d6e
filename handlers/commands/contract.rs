//! `flowgate contract lint FILE` and `flowgate contract check --contract FILE --data FILE
//! [--now T] [--table NAME] [--format csv|jsonl] [--json]`.

use std::fs::File;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::exit;
use crate::domain::contract::eval::{evaluate_file, EvalOptions, Format};
use crate::domain::contract::{parse, Contract, LintFinding};

fn render(path: &Path, f: &LintFinding) -> String {
    format!("{}:{}:{}: {}: {}", path.display(), f.pos.line, f.pos.col, if f.error { "error" } else { "warning" }, f.message)
}

fn read_contract(path: &Path) -> Result<(Contract, Vec<LintFinding>), u8> {
    let text = match std::fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => {
                eprintln!("error: {}: the contract is not valid UTF-8 text", path.display());
                return Err(exit::BAD_INPUT);
            }
        },
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return Err(exit::BAD_INPUT);
        }
    };
    parse(&text).map_err(|findings| {
        for f in &findings {
            eprintln!("{}", render(path, f));
        }
        exit::BAD_INPUT
    })
}

/// Lint: exit 0 (warnings listed for what flowgate does not enforce) or 2 with every error (and,
/// with `strict`, when anything is not enforced).
pub fn lint(path: &Path, strict: bool) -> u8 {
    match read_contract(path) {
        Err(code) => code,
        Ok((c, findings)) => {
            for f in &findings {
                println!("{}", render(path, f));
            }
            let properties: usize = c.tables.iter().map(|t| t.properties.len()).sum();
            let quality: usize =
                c.tables.iter().map(|t| t.quality.len() + t.properties.iter().map(|p| p.quality.len()).sum::<usize>()).sum();
            println!(
                "{}: `{}` version {} is usable: {} schema object(s), {properties} propert(ies), {quality} quality rule(s){}; {} part(s) not enforced",
                path.display(),
                c.id,
                c.version,
                c.tables.len(),
                if c.freshness.is_some() { ", freshness" } else { "" },
                findings.len()
            );
            if strict && !findings.is_empty() {
                eprintln!("error: {}: --strict: {} part(s) not enforced", path.display(), findings.len());
                return exit::BAD_INPUT;
            }
            exit::OK
        }
    }
}

/// How a data file is read: from `--format`, else its name (`.csv`, `.jsonl`, `.ndjson`, `.gz`).
pub fn format_of(path: &Path, format: Option<&str>) -> Result<(Format, bool), String> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let gzip = name.ends_with(".gz");
    let base = name.trim_end_matches(".gz");
    let f = match format {
        Some("csv") => Format::Csv,
        Some("jsonl") => Format::Jsonl,
        Some(other) => return Err(format!("--format `{other}` is not csv or jsonl")),
        None if base.ends_with(".csv") => Format::Csv,
        None if base.ends_with(".jsonl") || base.ends_with(".ndjson") || base.ends_with(".json") => Format::Jsonl,
        None => return Err(format!("cannot tell the format of `{}` from its name; pass --format csv or jsonl", path.display())),
    };
    Ok((f, gzip))
}

pub fn check(contract: &Path, data: &Path, now: Option<&str>, table: Option<String>, format: Option<&str>, as_json: bool) -> u8 {
    let (c, _) = match read_contract(contract) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let now: DateTime<Utc> = match now {
        None => Utc::now(),
        Some(t) => match DateTime::parse_from_rfc3339(t) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => {
                eprintln!("error: --now `{t}` is not an RFC 3339 instant: {e}");
                return exit::BAD_INPUT;
            }
        },
    };
    let (fmt, gzip) = match format_of(data, format) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if let Err(e) = File::open(data) {
        eprintln!("error: --data {}: {e}", data.display());
        return exit::BAD_INPUT;
    }
    let mut opts = EvalOptions::new(fmt, now);
    opts.gzip = gzip;
    opts.table = table;
    let report = match evaluate_file(&c, data, &opts) {
        Ok(r) => r,
        Err(e) => {
            if as_json {
                println!("{}", json!({ "usable": false, "data": data.display().to_string(), "error": e.0 }));
            }
            eprintln!("error: {}: {}", data.display(), e.0);
            return exit::BAD_INPUT;
        }
    };
    if as_json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        for r in &report.rules {
            let rows = if r.failing_rows.is_empty() {
                String::new()
            } else {
                format!("  rows {}", r.failing_rows.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
            };
            let detail = r.detail.as_ref().map(|d| format!("  ({d})")).unwrap_or_default();
            println!(
                "{} {:<44} {:<16} observed {} (must be {}){detail}{rows}",
                if r.passed { "pass" } else { "FAIL" },
                r.target,
                r.rule,
                trim(r.observed),
                r.threshold
            );
        }
        let failed = report.failed().count();
        println!("{}: {} row(s), {} rule(s), {failed} failed", data.display(), report.rows, report.rules.len());
    }
    if report.passed {
        exit::OK
    } else {
        exit::FAILED
    }
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}
