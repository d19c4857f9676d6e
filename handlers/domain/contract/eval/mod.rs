//! The streaming evaluator: reads CSV or JSON Lines (gzip too) once, in bounded memory, and
//! measures every rule of one schema object. Only uniqueness keeps per-row state, as 64-bit
//! hashes. Failing rows are kept by number, at most ten per rule; cell values are never kept.

mod column;
mod read;
#[cfg(test)]
mod tests;

use std::io::Read;

use chrono::{DateTime, Utc};

use super::model::{Contract, LogicalType, Metric, Rule, TableSpec};
use super::result::{ContractReport, RuleResult};
pub use column::parse_timestamp;
use column::{ColumnState, Tally};
use read::{find_split, read_csv, read_jsonl, Guard};

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

/// How to read the data.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub format: Format,
    pub gzip: bool,
    /// Which schema object the data is; needed when the contract has several.
    pub table: Option<String>,
    /// "Now", for freshness.
    pub now: DateTime<Utc>,
    /// The longest line accepted.
    pub max_line_bytes: usize,
    /// An uncompressed CSV file at least this large is read by two threads.
    pub parallel_from_bytes: u64,
}

impl EvalOptions {
    pub fn new(format: Format, now: DateTime<Utc>) -> Self {
        Self { format, gzip: false, table: None, now, max_line_bytes: 16 * 1024 * 1024, parallel_from_bytes: PARALLEL_FROM_BYTES }
    }
}

/// Data that cannot be evaluated at all (as opposed to data that fails rules).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Unusable(pub String);

fn pick_table<'a>(c: &'a Contract, name: Option<&str>) -> Result<&'a TableSpec, Unusable> {
    match name {
        Some(n) => c.tables.iter().find(|t| t.name == n).ok_or_else(|| Unusable(format!("the contract has no schema object `{n}`"))),
        None => match c.tables.as_slice() {
            [t] => Ok(t),
            [] => Err(Unusable("the contract declares no schema object".into())),
            _ => Err(Unusable(format!("the contract declares {} schema objects; name the one to check", c.tables.len()))),
        },
    }
}

/// Checks `data` against the contract's schema object.
pub fn evaluate<R: Read>(contract: &Contract, data: R, opts: &EvalOptions) -> Result<ContractReport, Unusable> {
    let table = pick_table(contract, opts.table.as_deref())?;
    let freshness_col = contract.freshness.as_ref().filter(|f| f.table == table.name).map(|f| f.column.clone());
    let tuples = column::tuples(table);
    let mut cols = column::columns(table, &tuples);
    let raw: Box<dyn Read> = if opts.gzip { Box::new(flate2::read::MultiGzDecoder::new(data)) } else { Box::new(data) };
    let reader = Guard::new(raw, opts.max_line_bytes);
    let rows = match opts.format {
        Format::Csv => read_csv(reader, &mut cols, freshness_col.as_deref(), None, None)?,
        Format::Jsonl => read_jsonl(reader, &mut cols, freshness_col.as_deref())?,
    };
    Ok(report(contract, table, rows, &cols, opts.now))
}

fn io_error(e: std::io::Error) -> Unusable {
    match e.kind() {
        std::io::ErrorKind::InvalidData => Unusable(e.to_string()),
        std::io::ErrorKind::UnexpectedEof => Unusable("the file ends early (truncated)".into()),
        _ => Unusable(format!("reading the data failed: {e}")),
    }
}

/// Files at least this large are read by two threads, each half on its own core.
pub const PARALLEL_FROM_BYTES: u64 = 32 * 1024 * 1024;

/// Checks a file, reading a large uncompressed CSV in two halves at once. The second half starts
/// after the first line break past the middle; the first half counts the `"` before that point,
/// and only an even count (the break is outside quotes, so both halves are whole records) keeps
/// the result. Otherwise, or if anything about either half is off, the file is read again in one
/// pass, which reports exactly what one pass would.
pub fn evaluate_file(contract: &Contract, path: &std::path::Path, opts: &EvalOptions) -> Result<ContractReport, Unusable> {
    let open = || std::fs::File::open(path).map_err(|e| Unusable(format!("{}: {e}", path.display())));
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if opts.format != Format::Csv || opts.gzip || len < opts.parallel_from_bytes {
        return evaluate(contract, open()?, opts);
    }
    let Some((header, split)) = find_split(open()?, len / 2) else { return evaluate(contract, open()?, opts) };
    let table = pick_table(contract, opts.table.as_deref())?;
    let freshness_col = contract.freshness.as_ref().filter(|f| f.table == table.name).map(|f| f.column.clone());
    let fresh = freshness_col.as_deref();
    let tuples = column::tuples(table);
    let mut first = column::columns(table, &tuples);
    let mut second = column::columns(table, &tuples);
    for c in &mut second {
        if c.seen.is_some() {
            c.deferred = Some(Vec::new());
        }
    }
    let (a, b) = std::thread::scope(|scope| {
        let h = scope.spawn(|| -> Result<u64, Unusable> {
            use std::io::{Seek, SeekFrom};
            let mut f = open()?;
            f.seek(SeekFrom::Start(split)).map_err(|e| Unusable(e.to_string()))?;
            read_csv(Guard::new(f, opts.max_line_bytes), &mut second, fresh, Some(&header), Some(len - split))
        });
        let a = open().and_then(|f| {
            let mut guard = Guard::new(f.take(split), opts.max_line_bytes);
            guard.quotes = Some(0);
            let rows = read_csv(&mut guard, &mut first, fresh, None, Some(split))?;
            match guard.quotes {
                Some(q) if q % 2 == 0 => Ok(rows),
                _ => Err(Unusable("the middle of the file is inside a quoted field".into())),
            }
        });
        (a, h.join().unwrap_or_else(|_| Err(Unusable("the second reader failed".into()))))
    });
    let (Ok(rows_a), Ok(rows_b)) = (a, b) else { return evaluate(contract, open()?, opts) };
    for (x, y) in first.iter_mut().zip(second) {
        x.absorb(y, rows_a);
    }
    Ok(report(contract, table, rows_a + rows_b, &first, opts.now))
}

fn pct(n: u64, rows: u64) -> f64 {
    if rows == 0 {
        0.0
    } else {
        (n as f64) * 100.0 / rows as f64
    }
}

fn report(contract: &Contract, table: &TableSpec, rows: u64, cols: &[ColumnState<'_>], now: DateTime<Utc>) -> ContractReport {
    let mut out = Vec::new();
    for r in &table.quality {
        if r.metric == Metric::RowCount {
            out.push(rule_result(&table.name, "rowCount", r, rows, rows, Vec::new()));
        }
    }
    for c in cols {
        if !c.members.is_empty() {
            let t = &c.dup_tally;
            out.push(match c.tuple_rule {
                Some(i) => rule_result(&table.name, "duplicateValues", &table.quality[i], t.count, rows, t.rows.clone()),
                None => count_result(&table.name, "primaryKey", t, rows, &format!("repeat the primary key {}", c.prop.name)),
            });
            continue;
        }
        let target = format!("{}.{}", table.name, c.prop.name);
        let present = c.index.is_some();
        out.push(RuleResult {
            target: target.clone(),
            rule: "present".into(),
            observed: if present { 1.0 } else { 0.0 },
            threshold: "= 1".into(),
            passed: present,
            failing_rows: Vec::new(),
            detail: (!present).then(|| format!("the data has no `{}` field", c.prop.column)),
        });
        if c.prop.required || c.prop.primary_key {
            out.push(count_result(&target, "required", &c.nulls, rows, "null or empty"));
        }
        if c.prop.logical_type != LogicalType::String || c.type_errors.count > 0 {
            out.push(count_result(&target, "type", &c.type_errors, rows, &format!("not a valid {}", c.prop.logical_type.name())));
        }
        if c.prop.unique || (c.prop.primary_key && table.composite_key.is_empty()) {
            out.push(count_result(&target, "unique", &c.dup_tally, rows, "duplicated value(s)"));
        }
        for (o, tally) in c.prop.options.iter().zip(&c.option_tallies) {
            out.push(count_result(&target, o.rule, tally, rows, &format!("not {}", o.shown)));
        }
        for (i, r) in c.prop.quality.iter().enumerate() {
            let (name, tally) = match &r.metric {
                Metric::NullValues => ("nullValues", &c.rule_tallies[i]),
                Metric::MissingValues(_) => ("missingValues", &c.rule_tallies[i]),
                Metric::InvalidValues { .. } => ("invalidValues", &c.rule_tallies[i]),
                Metric::DuplicateValues => ("duplicateValues", &c.dup_tally),
                Metric::RowCount | Metric::DuplicateRows(_) => continue,
            };
            out.push(rule_result(&target, name, r, tally.count, rows, tally.rows.clone()));
        }
    }
    if let Some(f) = contract.freshness.as_ref().filter(|f| f.table == table.name) {
        let newest = cols.iter().find(|c| c.prop.name == f.column).and_then(|c| c.newest);
        let max = f.max_age.as_secs_f64();
        let (observed, passed, detail) = match newest {
            Some(t) => {
                let age = (now - t).num_milliseconds() as f64 / 1000.0;
                (age, age <= max, Some(format!("newest `{}` is {}", f.column, t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))))
            }
            None => (f64::INFINITY, false, Some(format!("no readable timestamp in `{}`", f.column))),
        };
        out.push(RuleResult {
            target: format!("{}.{}", f.table, f.column),
            rule: "freshness".into(),
            observed: if observed.is_finite() { observed } else { -1.0 },
            threshold: format!("<= {max}s"),
            passed,
            failing_rows: Vec::new(),
            detail,
        });
    }
    let passed = out.iter().all(|r| r.passed);
    ContractReport { contract: contract.id.clone(), version: contract.version.clone(), table: table.name.clone(), rows, passed, rules: out }
}

fn count_result(target: &str, rule: &str, t: &Tally, rows: u64, what: &str) -> RuleResult {
    RuleResult {
        target: target.to_string(),
        rule: rule.to_string(),
        observed: t.count as f64,
        threshold: "= 0".into(),
        passed: t.count == 0,
        failing_rows: t.rows.clone(),
        detail: (t.count > 0).then(|| format!("{} of {rows} row(s) {what}", t.count)),
    }
}

fn rule_result(target: &str, name: &str, r: &Rule, count: u64, rows: u64, failing_rows: Vec<u64>) -> RuleResult {
    let observed = if r.percent { pct(count, rows) } else { count as f64 };
    let passed = r.operator.holds(observed);
    let threshold = if r.percent { format!("{}%", r.operator.describe()) } else { r.operator.describe() };
    RuleResult {
        target: target.to_string(),
        rule: name.to_string(),
        observed,
        threshold,
        passed,
        failing_rows: if passed { Vec::new() } else { failing_rows },
        detail: (r.percent && name != "rowCount").then(|| format!("{count} of {rows} row(s)")),
    }
}
