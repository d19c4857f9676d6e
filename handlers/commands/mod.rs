//! The CLI's commands beyond `serve` and `local`: each returns the process exit code
//! (0 success, 1 failure, 2 unusable input) and prints its own results.

pub mod audit;
pub mod contract;
pub mod evidence;
pub mod lineage;
pub mod package;
pub mod plan;
pub mod quarantine;
pub mod retention;
pub mod runs;
pub mod schedule;
pub mod state;
pub mod validate;

/// Exit codes.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
}

/// Prints the catalog's JSON Schema.
pub fn schema() -> u8 {
    let s = crate::domain::catalog::spec::json_schema();
    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    exit::OK
}
