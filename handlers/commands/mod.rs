//! The CLI's commands beyond `serve` and `local`: each returns the process exit code
//! (0 success, 1 failure, 2 unusable input) and prints its own results.

pub mod alerts;
pub mod audit;
pub mod canary;
pub mod contract;
pub mod dataset;
pub mod doctor;
pub mod evaluate;
pub mod evidence;
pub mod lineage;
pub mod package;
pub mod plan;
pub mod quarantine;
pub mod release;
pub mod report;
pub mod retention;
pub mod runs;
pub mod schedule;
pub mod state;
pub mod trace;
pub mod validate;

/// Exit codes.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
}

/// An optional bound of a time window.
type Bound = Option<chrono::DateTime<chrono::Utc>>;

/// `--from` and `--to` as instants; on a bad value, prints why and gives exit code 2.
pub(crate) fn window(from: Option<&str>, to: Option<&str>) -> Result<(Bound, Bound), u8> {
    match (audit::instant("--from", from), audit::instant("--to", to)) {
        (Ok(f), Ok(t)) => Ok((f, t)),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            Err(exit::BAD_INPUT)
        }
    }
}

/// An `--out` folder that is new or empty; on another, prints why and gives exit code 2.
pub(crate) fn fresh_out(out: &std::path::Path) -> Result<(), u8> {
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        eprintln!("error: --out {}: exists and is not empty; name a new folder", out.display());
        return Err(exit::BAD_INPUT);
    }
    Ok(())
}

/// Prints items as JSON Lines on stdout, or the error that kept them from being read.
pub(crate) fn print_jsonl<T: serde::Serialize, E: std::fmt::Display>(items: Result<Vec<T>, E>) -> u8 {
    match items {
        Ok(items) => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for i in &items {
                let _ = writeln!(out, "{}", serde_json::to_string(i).unwrap_or_default());
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

/// Prints the catalog's JSON Schema.
pub fn schema() -> u8 {
    let s = crate::domain::catalog::spec::json_schema();
    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    exit::OK
}
