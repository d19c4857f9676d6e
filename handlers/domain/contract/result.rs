//! The evidence of a contract check: per rule, what was observed, the threshold, pass or fail,
//! and at most ten failing row numbers. Never a cell value.

use serde::{Deserialize, Serialize};

/// How many failing row numbers a rule keeps.
pub const MAX_FAILING_ROWS: usize = 10;

/// One rule's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    /// Where the rule applies: `table` or `table.column`.
    pub target: String,
    /// `rowCount`, `nullValues`, `missingValues`, `invalidValues`, `duplicateValues`, `present`,
    /// `required`, `unique`, `type`, `freshness`, `schemaVersion`.
    pub rule: String,
    /// The measured value: a count, a percent (`unit: percent`), or an age in seconds.
    pub observed: f64,
    /// The threshold, e.g. `= 0`, `<= 5%`, `<= 3600s`.
    pub threshold: String,
    pub passed: bool,
    /// Data row numbers (1 is the first row after a CSV header), at most ten.
    #[serde(default)]
    pub failing_rows: Vec<u64>,
    #[serde(default)]
    pub detail: Option<String>,
}

/// All results of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractReport {
    pub contract: String,
    pub version: String,
    pub table: String,
    pub rows: u64,
    pub passed: bool,
    pub rules: Vec<RuleResult>,
}

impl ContractReport {
    pub fn failed(&self) -> impl Iterator<Item = &RuleResult> {
        self.rules.iter().filter(|r| !r.passed)
    }
}
