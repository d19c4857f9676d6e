//! `flowgate report --week 2026-W48 [--tz ZONE] --state DIR --out DIR`: the weekly stability report
//! of a state, as `report.json` (every figure), `report.md` and a self-contained `report.html`. Exit 2 for a week that does not
//! exist, an unknown zone, a state that is not one, or an `--out` folder that is not empty.

use std::path::Path;

use chrono_tz::Tz;

use super::exit;
use crate::domain::report::{html, markdown, IsoWeek};

pub async fn run(week: &str, tz: Option<&str>, state: &Path, out: &Path) -> u8 {
    let week = match IsoWeek::parse(week) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: --week {e}");
            return exit::BAD_INPUT;
        }
    };
    let tz: Tz = match tz.unwrap_or("UTC").parse() {
        Ok(z) => z,
        Err(_) => {
            eprintln!("error: --tz `{}` is not an IANA time zone (e.g. Europe/London)", tz.unwrap_or_default());
            return exit::BAD_INPUT;
        }
    };
    if let Err(code) = super::fresh_out(out) {
        return code;
    }
    let st = match super::state::open(state) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // Freshness thresholds and evaluation jobs come from the catalog that runs: the active release's.
    let inputs = match super::release::active_view_of(&st).await {
        Ok(Some(view)) => crate::flows::report::ReportInputs::of(&view.catalog),
        Ok(None) => Default::default(),
        Err(e) => {
            eprintln!("error: reading the active release: {e}");
            return exit::FAILED;
        }
    };
    let report = match crate::flows::report::weekly(st.store.as_ref(), Some(st.audit.as_ref()), week, tz, &inputs).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: reading the state: {e}");
            return exit::FAILED;
        }
    };
    let write = |name: &str, bytes: &[u8]| {
        std::fs::create_dir_all(out)
            .and_then(|_| std::fs::write(out.join(name), bytes))
            .map_err(|e| format!("{}: {e}", out.join(name).display()))
    };
    let json = serde_json::to_string_pretty(&report).unwrap_or_default() + "\n";
    let written = write("report.json", json.as_bytes())
        .and_then(|_| write("report.md", markdown::render(&report).as_bytes()))
        .and_then(|_| write("report.html", html::render(&report).as_bytes()));
    if let Err(e) = written {
        eprintln!("error: {e}");
        return exit::FAILED;
    }
    println!(
        "{} ({}): {} — success {}, {} episode(s); wrote {}",
        report.week,
        report.timezone,
        format!("{:?}", report.verdict).to_uppercase(),
        report.this_week.success.display(),
        report.episodes.len(),
        out.display()
    );
    exit::OK
}
