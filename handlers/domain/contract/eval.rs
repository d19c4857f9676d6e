//! The streaming evaluator: reads CSV or JSON Lines (gzip too) once, in bounded memory, and
//! measures every rule of one schema object. Only uniqueness keeps per-row state, as 64-bit
//! hashes. Failing rows are kept by number, at most ten per rule; cell values are never kept.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::hashes::{HashSet64, BATCH};
use super::model::{Contract, LogicalType, Metric, Property, Rule, TableSpec};
use super::result::{ContractReport, RuleResult, MAX_FAILING_ROWS};

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

/// Failing-row sampler and counter.
#[derive(Debug, Default, Clone)]
struct Tally {
    count: u64,
    rows: Vec<u64>,
}

impl Tally {
    fn hit(&mut self, row: u64) {
        self.count += 1;
        if self.rows.len() < MAX_FAILING_ROWS {
            self.rows.push(row);
        }
    }
}

/// The sets hold xxh3 hashes already: hashing them again would only cost time.
#[derive(Default, Clone, Copy)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type HashSetOfHashes = HashSet<u64, std::hash::BuildHasherDefault<Prehashed>>;

/// Marks a deferred row whose value already occurred earlier in its half.
const REPEATED: u64 = 1 << 63;

/// What one column accumulates.
struct ColumnState<'a> {
    prop: &'a Property,
    index: Option<usize>,
    nulls: Tally,
    type_errors: Tally,
    /// Per quality rule (same order as `prop.quality`).
    rule_tallies: Vec<Tally>,
    /// Per enforced `logicalTypeOptions` entry (same order as `prop.options`).
    option_tallies: Vec<Tally>,
    valid_sets: Vec<Option<Vec<Vec<u8>>>>,
    missing_sets: Vec<(bool, HashSet<Vec<u8>>)>,
    patterns: Vec<Option<regex::bytes::Regex>>,
    seen: Option<HashSet64>,
    /// Values waiting to be looked up in `seen`, a batch at a time (row, hash).
    pending: Vec<(u64, u64)>,
    /// The second half of a file read in parallel also records, in order, each row's hash and
    /// whether the value already occurred in that half; after the first half, each is looked up in
    /// the first half's set, so duplicates and their rows come out exactly as in one pass.
    /// The row's top bit marks the repeat, keeping an entry at 16 bytes.
    deferred: Option<Vec<(u64, u64)>>,
    duplicated: HashSetOfHashes,
    dup_tally: Tally,
    newest: Option<DateTime<Utc>>,
}

fn value_bytes(v: &Value) -> Vec<u8> {
    value_text(v).into_bytes()
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl<'a> ColumnState<'a> {
    fn new(prop: &'a Property) -> Self {
        let needs_unique = prop.unique || prop.primary_key || prop.quality.iter().any(|r| r.metric == Metric::DuplicateValues);
        let mut valid_sets = Vec::new();
        let mut missing_sets = Vec::new();
        let mut patterns = Vec::new();
        for r in &prop.quality {
            match &r.metric {
                Metric::InvalidValues { valid_values, pattern } => {
                    valid_sets.push(valid_values.as_ref().map(|v| v.iter().map(value_bytes).collect()));
                    patterns.push(pattern.as_ref().and_then(|p| regex::bytes::Regex::new(&format!("^(?:{p})$")).ok()));
                    missing_sets.push((false, HashSet::new()));
                }
                Metric::MissingValues(list) => {
                    let null = list.iter().any(Value::is_null);
                    missing_sets.push((null, list.iter().filter(|v| !v.is_null()).map(value_bytes).collect()));
                    valid_sets.push(None);
                    patterns.push(None);
                }
                _ => {
                    valid_sets.push(None);
                    patterns.push(None);
                    missing_sets.push((false, HashSet::new()));
                }
            }
        }
        Self {
            prop,
            index: None,
            nulls: Tally::default(),
            type_errors: Tally::default(),
            rule_tallies: vec![Tally::default(); prop.quality.len()],
            option_tallies: vec![Tally::default(); prop.options.len()],
            valid_sets,
            missing_sets,
            patterns,
            seen: needs_unique.then(HashSet64::default),
            pending: Vec::new(),
            deferred: None,
            duplicated: HashSetOfHashes::default(),
            dup_tally: Tally::default(),
            newest: None,
        }
    }

    /// One cell. `text` is the value's UTF-8 text (None: null); `json` the JSON value for JSON
    /// Lines. Text stays bytes: only the types that need parsing look at it as `str`.
    fn observe(&mut self, row: u64, text: Option<&[u8]>, json: Option<&Value>, freshness: bool) {
        let Some(t) = text else {
            self.nulls.hit(row);
            for (i, r) in self.prop.quality.iter().enumerate() {
                match &r.metric {
                    Metric::NullValues => self.rule_tallies[i].hit(row),
                    Metric::MissingValues(_) if self.missing_sets[i].0 => self.rule_tallies[i].hit(row),
                    _ => {}
                }
            }
            return;
        };
        // A timestamp is parsed once, for its type check and for freshness.
        let ts = if freshness || (self.prop.logical_type == LogicalType::Timestamp && json.is_none()) { timestamp_of(t) } else { None };
        let typed = match (self.prop.logical_type, json) {
            (LogicalType::Timestamp, None) => ts.is_some(),
            (lt, _) => type_ok(lt, t, json),
        };
        if !typed {
            self.type_errors.hit(row);
        } else if !self.prop.options.is_empty() {
            self.check_options(row, t, json);
        }
        if let Some(ts) = ts.filter(|_| freshness) {
            if self.newest.is_none_or(|n| ts > n) {
                self.newest = Some(ts);
            }
        }
        for (i, r) in self.prop.quality.iter().enumerate() {
            match &r.metric {
                Metric::MissingValues(_) if self.missing_sets[i].1.contains(t) => self.rule_tallies[i].hit(row),
                Metric::InvalidValues { .. } => {
                    let bad_value = self.valid_sets[i].as_ref().is_some_and(|set| !set.iter().any(|v| v.as_slice() == t));
                    let bad_pattern = self.patterns[i].as_ref().is_some_and(|re| !re.is_match(t));
                    if bad_value || bad_pattern {
                        self.rule_tallies[i].hit(row);
                    }
                }
                _ => {}
            }
        }
        if self.seen.is_some() {
            self.pending.push((row, xxhash_rust::xxh3::xxh3_64(t)));
            if self.pending.len() >= BATCH {
                self.flush();
            }
        }
    }

    /// The value constraints of a typed, non-null value: numbers for integer and number
    /// properties, the text (characters) for strings.
    fn check_options(&mut self, row: u64, t: &[u8], json: Option<&Value>) {
        use crate::domain::contract::options::Check;
        let numeric = matches!(self.prop.logical_type, LogicalType::Integer | LogicalType::Number);
        let number = || match json {
            Some(v) => v.as_f64(),
            None => std::str::from_utf8(t).ok().and_then(|s| s.trim().parse::<f64>().ok()),
        };
        let text = || match json {
            Some(Value::String(s)) => Some(std::borrow::Cow::Borrowed(s.as_str())),
            Some(_) => None,
            None => std::str::from_utf8(t).ok().map(std::borrow::Cow::Borrowed),
        };
        let (x, s) = if numeric { (number(), None) } else { (None, text()) };
        for (i, o) in self.prop.options.iter().enumerate() {
            let ok = match (&o.check, x, s.as_deref()) {
                (Check::Min(_) | Check::Max(_) | Check::NotEqual(_) | Check::MultipleOf(_), Some(x), _) => o.check.number_ok(x),
                (_, _, Some(s)) => o.check.text_ok(s),
                _ => true,
            };
            if !ok {
                self.option_tallies[i].hit(row);
            }
        }
    }

    /// Looks up the waiting values in the uniqueness set, in row order.
    fn flush(&mut self) {
        let Some(seen) = &mut self.seen else { return };
        let pending = &self.pending;
        if let Some(list) = &mut self.deferred {
            let base = list.len();
            list.extend_from_slice(pending);
            seen.insert_batch(pending, |row, _| {
                let i = base + pending.partition_point(|(r, _)| *r < row);
                list[i].0 |= REPEATED;
            });
        } else {
            let (duplicated, tally) = (&mut self.duplicated, &mut self.dup_tally);
            seen.insert_batch(pending, |row, h| {
                if duplicated.insert(h) {
                    tally.hit(row);
                } else if tally.rows.len() < MAX_FAILING_ROWS {
                    tally.rows.push(row);
                }
            });
        }
        self.pending.clear();
    }
}

impl Tally {
    /// Adds a later part's tally, its rows numbered after `offset` rows.
    fn absorb(&mut self, other: Tally, offset: u64) {
        self.count += other.count;
        for r in other.rows {
            if self.rows.len() < MAX_FAILING_ROWS {
                self.rows.push(r + offset);
            }
        }
    }
}

impl ColumnState<'_> {
    /// Makes room for about `rows` more values in the uniqueness state.
    fn reserve(&mut self, rows: usize) {
        if let Some(seen) = &mut self.seen {
            seen.reserve(rows.saturating_sub(seen.len()));
        }
        if let Some(list) = &mut self.deferred {
            list.reserve(rows.saturating_sub(list.len()));
        }
    }

    /// Folds in the state of the part of the file that follows this one (`offset` rows later).
    fn absorb(&mut self, other: ColumnState<'_>, offset: u64) {
        self.nulls.absorb(other.nulls, offset);
        self.type_errors.absorb(other.type_errors, offset);
        for (mine, theirs) in self.rule_tallies.iter_mut().zip(other.rule_tallies) {
            mine.absorb(theirs, offset);
        }
        for (mine, theirs) in self.option_tallies.iter_mut().zip(other.option_tallies) {
            mine.absorb(theirs, offset);
        }
        self.newest = match (self.newest, other.newest) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if self.index.is_none() {
            self.index = other.index;
        }
        if let (Some(seen), Some(list)) = (&self.seen, other.deferred) {
            for (tagged, h) in list {
                let row = tagged & !REPEATED;
                if tagged & REPEATED != 0 || seen.contains(h) {
                    if self.duplicated.insert(h) {
                        self.dup_tally.hit(row + offset);
                    } else if self.dup_tally.rows.len() < MAX_FAILING_ROWS {
                        self.dup_tally.rows.push(row + offset);
                    }
                }
            }
        }
    }
}

fn type_ok(t: LogicalType, bytes: &[u8], json: Option<&Value>) -> bool {
    if let Some(v) = json {
        return match t {
            LogicalType::String => v.is_string(),
            LogicalType::Integer => v.is_i64() || v.is_u64(),
            LogicalType::Number => v.is_number(),
            LogicalType::Boolean => v.is_boolean(),
            LogicalType::Date => v.as_str().is_some_and(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
            LogicalType::Timestamp => v.as_str().is_some_and(|s| parse_timestamp(s).is_some()),
            LogicalType::Time => v.as_str().is_some_and(is_time),
            LogicalType::Other => true,
        };
    }
    if matches!(t, LogicalType::String | LogicalType::Other) {
        return true;
    }
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    match t {
        LogicalType::String | LogicalType::Other => true,
        LogicalType::Integer => text.trim().parse::<i64>().is_ok(),
        LogicalType::Number => text.trim().parse::<f64>().is_ok_and(f64::is_finite),
        LogicalType::Boolean => matches!(text.trim().to_ascii_lowercase().as_str(), "true" | "false"),
        LogicalType::Date => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").is_ok(),
        LogicalType::Timestamp => parse_timestamp(text).is_some(),
        LogicalType::Time => is_time(text.trim()),
    }
}

/// A time of day as SQL `TIME` reads it: `HH:MM:SS` or `HH:MM:SS.fff…` (00:00:00 to 23:59:59.999…).
fn is_time(s: &str) -> bool {
    chrono::NaiveTime::parse_from_str(s, "%H:%M:%S%.f").is_ok() && s.len() >= 8 && s.as_bytes()[2] == b':'
}

/// RFC 3339, or `YYYY-MM-DD[ T]HH:MM:SS[.f]` taken as UTC, or a date (midnight UTC).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(t) = parse_zulu_seconds(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|n| n.and_utc())
}

/// [`parse_timestamp`] on a cell's bytes, trying the common case before any UTF-8 check.
fn timestamp_of(b: &[u8]) -> Option<DateTime<Utc>> {
    parse_zulu_seconds(b).or_else(|| std::str::from_utf8(b).ok().and_then(parse_timestamp))
}

/// The common case, `YYYY-MM-DDTHH:MM:SSZ`, without the general parser.
fn parse_zulu_seconds(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    Some(date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?.and_utc())
}

/// A reader that refuses lines longer than a limit and NUL bytes (binary files), so that neither
/// a single huge line nor a binary file can make the evaluator grow without bound.
struct Guard<R> {
    inner: R,
    limit: usize,
    since_newline: usize,
    offset: u64,
    /// Counts `"` bytes when set (the first half of a file read in two).
    quotes: Option<u64>,
}

impl<R> Guard<R> {
    fn new(inner: R, limit: usize) -> Self {
        Self { inner, limit, since_newline: 0, offset: 0, quotes: None }
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        if let Some(q) = &mut self.quotes {
            *q += memchr::memchr_iter(b'"', chunk).count() as u64;
        }
        if let Some(i) = memchr::memchr(0, chunk) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("byte {} is NUL: this is a binary file, not CSV or JSON Lines text", self.offset + i as u64 + 1),
            ));
        }
        match memchr::memchr(b'\n', chunk) {
            Some(first) => {
                // The line that ends here started in earlier chunks; lines wholly inside this chunk
                // can only be too long if the chunk itself is longer than the limit.
                if self.since_newline + first > self.limit {
                    return Err(too_long(self.limit));
                }
                if n > self.limit {
                    let mut prev = first;
                    for nl in memchr::memchr_iter(b'\n', &chunk[first + 1..]) {
                        let pos = first + 1 + nl;
                        if pos - prev - 1 > self.limit {
                            return Err(too_long(self.limit));
                        }
                        prev = pos;
                    }
                }
                let last = memchr::memrchr(b'\n', chunk).unwrap_or(first);
                self.since_newline = n - last - 1;
            }
            None => self.since_newline += n,
        }
        if self.since_newline > self.limit {
            return Err(too_long(self.limit));
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn too_long(limit: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("a line is longer than {} MiB; the file is not line-oriented data", limit / (1024 * 1024)),
    )
}

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
    let mut cols: Vec<ColumnState<'_>> = table.properties.iter().map(ColumnState::new).collect();
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

fn read_csv<R: Read>(
    reader: R,
    cols: &mut [ColumnState<'_>],
    freshness: Option<&str>,
    header: Option<&[Vec<u8>]>,
    size_hint: Option<u64>,
) -> Result<u64, Unusable> {
    let mut rdr = simd_csv::ZeroCopyReaderBuilder::new().flexible(true).has_headers(false).buffer_capacity(256 * 1024).from_reader(reader);
    let mut row = 0u64;
    let headers: Vec<Vec<u8>> = match header {
        Some(h) => h.to_vec(),
        None => match rdr.read_byte_record() {
            Ok(Some(h)) => (0..h.len()).map(|i| h.unescape(i).unwrap_or_default().into_owned()).collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(csv_error(e, 0)),
        },
    };
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(Unusable("the file is empty: a CSV needs at least a header row".into()));
    }
    if headers.iter().any(|h| simdutf8::basic::from_utf8(h).is_err()) {
        return Err(Unusable("the header row is not valid UTF-8 text".into()));
    }
    for c in cols.iter_mut() {
        c.index = headers.iter().position(|h| h == c.prop.name.as_bytes() || trim_bom(h) == c.prop.name.as_bytes());
    }
    let fresh_idx: Option<usize> = freshness.and_then(|f| cols.iter().position(|c| c.prop.name == f));
    let start = rdr.position();
    loop {
        let record = match rdr.read_byte_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => return Err(csv_error(e, row + 1)),
        };
        row += 1;
        if record.len() != headers.len() {
            return Err(Unusable(format!(
                "row {row} has {} field(s) but the header has {} (a ragged or truncated CSV)",
                record.len(),
                headers.len()
            )));
        }
        if simdutf8::basic::from_utf8(record.as_slice()).is_err() {
            return Err(Unusable(format!("row {row} is not valid UTF-8 text")));
        }
        for (ci, c) in cols.iter_mut().enumerate() {
            // A column missing from the file is null in every row (as a database would read it).
            let Some(i) = c.index else {
                c.observe(row, None, None, false);
                continue;
            };
            // The record was checked as UTF-8 above; unescaping only drops quotes.
            let field = record.unescape(i).unwrap_or_default();
            c.observe(row, (!field.is_empty()).then_some(&field), None, fresh_idx == Some(ci));
        }
        if row == 4096 {
            // Size the uniqueness sets for the whole file once its rows' length is known, rather
            // than growing them (and rehashing) a dozen times.
            if let Some(total) = size_hint {
                let per_row = ((rdr.position() - start) / row).max(1);
                for c in cols.iter_mut() {
                    c.reserve((total / per_row) as usize);
                }
            }
        }
    }
    for c in cols.iter_mut() {
        c.flush();
    }
    Ok(row)
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
    let mut first: Vec<ColumnState<'_>> = table.properties.iter().map(ColumnState::new).collect();
    let mut second: Vec<ColumnState<'_>> = table.properties.iter().map(ColumnState::new).collect();
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

/// The header (unquoted headers only), and the offset just after the first line break at or after
/// `mid`. Whether that break is outside quotes is for the first half's reader to confirm.
fn find_split(file: std::fs::File, mid: u64) -> Option<(Vec<Vec<u8>>, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let buf = reader.fill_buf().ok()?;
    let end = memchr::memchr(b'\n', buf)?;
    if buf[..end].contains(&b'"') {
        return None; // a quoted header: read in one pass
    }
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let header: Vec<Vec<u8>> = line.split(|b| *b == b',').map(<[u8]>::to_vec).collect();
    if mid <= end as u64 {
        return None;
    }
    reader.seek(SeekFrom::Start(mid)).ok()?;
    let mut offset = mid;
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            return None;
        }
        if let Some(nl) = memchr::memchr(b'\n', buf) {
            return Some((header, offset + nl as u64 + 1));
        }
        let n = buf.len();
        offset += n as u64;
        reader.consume(n);
    }
}

fn trim_bom(h: &[u8]) -> &[u8] {
    h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h)
}

fn csv_error(e: simd_csv::Error, row: u64) -> Unusable {
    match e.into_kind() {
        simd_csv::ErrorKind::Io(io) => io_error(io),
        simd_csv::ErrorKind::Utf8Error => Unusable(format!("row {row} is not valid UTF-8 text")),
        other => Unusable(format!("unreadable CSV at row {row}: {other:?}")),
    }
}

fn read_jsonl<R: Read>(reader: R, cols: &mut [ColumnState<'_>], freshness: Option<&str>) -> Result<u64, Unusable> {
    let mut buf = BufReader::with_capacity(256 * 1024, reader);
    let mut line = Vec::new();
    let mut row = 0u64;
    let mut line_no = 0u64;
    let fresh_idx: Option<usize> = freshness.and_then(|f| cols.iter().position(|c| c.prop.name == f));
    let mut present = vec![false; cols.len()];
    loop {
        line.clear();
        let n = buf.read_until(b'\n', &mut line).map_err(io_error)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        row += 1;
        let v: Value = match serde_json::from_slice(trimmed) {
            Ok(v) => v,
            Err(e) if e.is_eof() => return Err(Unusable(format!("line {line_no} is cut off (a truncated file?)"))),
            Err(e) => return Err(Unusable(format!("line {line_no} is not JSON: {e}"))),
        };
        let Value::Object(obj) = v else {
            return Err(Unusable(format!("line {line_no} is not a JSON object")));
        };
        for (ci, c) in cols.iter_mut().enumerate() {
            let cell = obj.get(&c.prop.name).filter(|v| !v.is_null());
            if obj.contains_key(&c.prop.name) {
                present[ci] = true;
            }
            let text = cell.map(value_text);
            c.observe(row, text.as_deref().map(str::as_bytes), cell, fresh_idx == Some(ci));
        }
    }
    for (ci, c) in cols.iter_mut().enumerate() {
        c.flush();
        // A JSON Lines file "has" a column when any row has the key (or it has no rows).
        c.index = (present[ci] || row == 0).then_some(ci);
    }
    Ok(row)
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
        let target = format!("{}.{}", table.name, c.prop.name);
        let present = c.index.is_some();
        out.push(RuleResult {
            target: target.clone(),
            rule: "present".into(),
            observed: if present { 1.0 } else { 0.0 },
            threshold: "= 1".into(),
            passed: present,
            failing_rows: Vec::new(),
            detail: (!present).then(|| format!("the data has no `{}` field", c.prop.name)),
        });
        if c.prop.required || c.prop.primary_key {
            out.push(count_result(&target, "required", &c.nulls, rows, "null or empty"));
        }
        if c.prop.logical_type != LogicalType::Other && c.prop.logical_type != LogicalType::String || c.type_errors.count > 0 {
            let name = format!("{:?}", c.prop.logical_type).to_lowercase();
            out.push(count_result(&target, "type", &c.type_errors, rows, &format!("not a valid {name}")));
        }
        if c.prop.unique || c.prop.primary_key {
            out.push(count_result(&target, "unique", &c.dup_tally, rows, "duplicated value(s)"));
        }
        for (o, tally) in c.prop.options.iter().zip(&c.option_tallies) {
            out.push(count_result(&target, o.rule, tally, rows, &format!("not {}", o.check.describe())));
        }
        for (i, r) in c.prop.quality.iter().enumerate() {
            let (name, tally) = match &r.metric {
                Metric::NullValues => ("nullValues", &c.rule_tallies[i]),
                Metric::MissingValues(_) => ("missingValues", &c.rule_tallies[i]),
                Metric::InvalidValues { .. } => ("invalidValues", &c.rule_tallies[i]),
                Metric::DuplicateValues => ("duplicateValues", &c.dup_tally),
                Metric::RowCount => continue,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contract::model::parse;

    const CONTRACT: &str = include_str!("../../../examples/claims/contracts/claims_correspondence.odcs.yaml");

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T10:30:00Z").unwrap().with_timezone(&Utc)
    }

    fn check(data: &[u8]) -> Result<ContractReport, Unusable> {
        let (c, _) = parse(CONTRACT).unwrap();
        evaluate(&c, data, &EvalOptions::new(Format::Csv, now()))
    }

    fn rule<'a>(r: &'a ContractReport, target: &str, rule: &str) -> &'a RuleResult {
        r.rules
            .iter()
            .find(|x| x.target.ends_with(target) && x.rule == rule)
            .unwrap_or_else(|| panic!("no {rule} on {target}: {:#?}", r.rules))
    }

    const HEADER: &str = "claim_id,received_at,channel,body,policyholder_email\n";

    #[test]
    fn a_time_of_day_is_type_checked_in_csv_and_json() {
        let text = "apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nschema:\n  - name: shifts\n    properties:\n      - name: starts\n        logicalType: time\n";
        let (c, _) = parse(text).unwrap();
        let csv = b"starts\n08:30:00\n23:59:59.250\n24:00:00\n8:30\nnoon\n";
        let r = evaluate(&c, &csv[..], &EvalOptions::new(Format::Csv, now())).unwrap();
        let t = rule(&r, ".starts", "type");
        assert_eq!((t.observed, t.passed), (3.0, false), "{t:#?}");
        let jsonl = b"{\"starts\":\"08:30:00\"}\n{\"starts\":\"07:00:00.5\"}\n";
        assert!(evaluate(&c, &jsonl[..], &EvalOptions::new(Format::Jsonl, now())).unwrap().passed);
    }

    #[test]
    fn good_data_passes_every_rule() {
        let data = format!("{HEADER}C1,2026-11-27T10:00:00Z,email,hello,a@b.example\nC2,2026-11-27T09:59:00Z,portal,crash,c@d.example\n");
        let r = check(data.as_bytes()).unwrap();
        assert!(r.passed, "{:#?}", r.failed().collect::<Vec<_>>());
        assert_eq!(r.rows, 2);
        assert_eq!(rule(&r, "claims_correspondence", "rowCount").observed, 2.0);
        assert_eq!(rule(&r, ".received_at", "freshness").observed, 1800.0);
    }

    #[test]
    fn bad_data_fails_the_right_rules_with_rows_and_no_values() {
        let data =
            format!("{HEADER}C1,2026-11-27T10:00:00Z,email,hello,a@b.example\nC1,2026-11-27T10:00:00Z,fax,,\nC3,yesterday,email,x,\n");
        let r = check(data.as_bytes()).unwrap();
        assert!(!r.passed);
        let failed: Vec<String> = r.failed().map(|x| format!("{} {}", x.target, x.rule)).collect();
        assert_eq!(
            failed,
            vec![
                "claims_correspondence.claim_id unique",
                "claims_correspondence.received_at type",
                "claims_correspondence.channel invalidValues",
                "claims_correspondence.body nullValues",
                "claims_correspondence.policyholder_email nullValues",
            ]
        );
        assert_eq!(rule(&r, ".claim_id", "unique").failing_rows, vec![2]);
        assert_eq!(rule(&r, ".channel", "invalidValues").failing_rows, vec![2]);
        let pct = rule(&r, ".policyholder_email", "nullValues");
        assert!((pct.observed - 66.666).abs() < 0.01, "{pct:?}");
        assert_eq!(pct.threshold, "<= 5%");
        let text = serde_json::to_string(&r).unwrap();
        for value in ["a@b.example", "hello", "fax", "yesterday"] {
            assert!(!text.contains(value), "a cell value leaked into the evidence: {value}");
        }
    }

    #[test]
    fn stale_data_fails_freshness() {
        let data = format!("{HEADER}C1,2026-11-26T10:00:00Z,email,hello,a@b.example\n");
        let r = check(data.as_bytes()).unwrap();
        let f = rule(&r, ".received_at", "freshness");
        assert!(!f.passed);
        assert_eq!(f.observed, 88_200.0);
    }

    #[test]
    fn missing_columns_and_empty_files() {
        let r = check(b"claim_id,received_at\nC1,2026-11-27T10:00:00Z\n").unwrap();
        assert!(!rule(&r, ".channel", "present").passed);
        let r = check(HEADER.as_bytes()).unwrap();
        assert!(!rule(&r, "claims_correspondence", "rowCount").passed, "a header-only file has no rows");
        assert!(check(b"").unwrap_err().0.contains("empty"));
    }

    #[test]
    fn unusable_inputs_are_named_not_panicked_on() {
        let ragged = format!("{HEADER}C1,2026-11-27T10:00:00Z,email\n");
        assert!(check(ragged.as_bytes()).unwrap_err().0.contains("row 1 has 3 field(s) but the header has 5"));
        let mut binary = HEADER.as_bytes().to_vec();
        binary.extend_from_slice(b"C1,\0\x01\x02,x,y,z\n");
        assert!(check(&binary).unwrap_err().0.contains("binary"));
        let bad_utf8 = [HEADER.as_bytes(), b"C1,2026-11-27T10:00:00Z,email,\xff\xfe,x\n"].concat();
        assert!(check(&bad_utf8).unwrap_err().0.contains("not valid UTF-8"));
        let (c, _) = parse(CONTRACT).unwrap();
        let mut opts = EvalOptions::new(Format::Csv, now());
        opts.max_line_bytes = 1024;
        let long = format!("{HEADER}{}\n", "x".repeat(5000));
        assert!(evaluate(&c, long.as_bytes(), &opts).unwrap_err().0.contains("longer than"));
        opts.gzip = true;
        assert!(evaluate(&c, &b"\x1f\x8b\x08\x00garbage"[..], &opts).is_err());
    }

    #[test]
    fn two_halves_give_exactly_the_one_pass_result() {
        let (c, _) = parse(CONTRACT).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        let mut data = String::from(HEADER);
        for i in 0..2000 {
            // Duplicates across the halves, quoted fields with commas and line breaks, nulls.
            let id = if i % 397 == 0 { 7 } else { i };
            let body = if i % 5 == 0 {
                "\"a, \"\"quoted\"\"\nbody\"".to_string()
            } else if i % 11 == 0 {
                String::new()
            } else {
                "plain".into()
            };
            let channel = if i % 13 == 0 { "fax" } else { "email" };
            data.push_str(&format!("C{id},2026-11-27T10:{:02}:00Z,{channel},{body},{}\n", i % 60, if i % 3 == 0 { "" } else { "x@y" }));
        }
        std::fs::write(&path, &data).unwrap();
        let mut opts = EvalOptions::new(Format::Csv, now());
        let one = evaluate(&c, data.as_bytes(), &opts).unwrap();
        opts.parallel_from_bytes = 1024;
        let two = evaluate_file(&c, &path, &opts).unwrap();
        assert_eq!(one, two);
        assert!(!one.passed);
        assert_eq!(rule(&one, ".claim_id", "unique").failing_rows, vec![8, 398, 795, 1192, 1589, 1986]);
        // A ragged row in the second half is reported exactly as in one pass.
        std::fs::write(&path, format!("{data}C1,2026-11-27T10:00:00Z\n")).unwrap();
        let err = evaluate_file(&c, &path, &opts).unwrap_err();
        assert!(err.0.contains("row 2001 has 2 field(s)"), "{err}");
    }

    #[test]
    fn a_middle_inside_a_quoted_field_falls_back_to_one_pass() {
        let (c, _) = parse(CONTRACT).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        // One record whose quoted body spans the middle of the file with many line breaks, so
        // the first line break past the middle is inside quotes.
        let body = format!("\"{}\"", "line, with comma\n".repeat(400));
        let data = format!(
            "{HEADER}C1,2026-11-27T10:00:00Z,email,plain,a@b\nC2,2026-11-27T10:00:00Z,email,{body},a@b\nC1,2026-11-27T10:00:00Z,fax,plain,\n"
        );
        std::fs::write(&path, &data).unwrap();
        let mut opts = EvalOptions::new(Format::Csv, now());
        let one = evaluate(&c, data.as_bytes(), &opts).unwrap();
        opts.parallel_from_bytes = 64;
        assert_eq!(evaluate_file(&c, &path, &opts).unwrap(), one);
        assert_eq!(one.rows, 3);
        assert_eq!(rule(&one, ".claim_id", "unique").failing_rows, vec![3]);
    }

    #[test]
    fn gzip_and_json_lines() {
        use std::io::Write;
        let data = format!("{HEADER}C1,2026-11-27T10:00:00Z,email,hello,a@b.example\n");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let (c, _) = parse(CONTRACT).unwrap();
        let mut opts = EvalOptions::new(Format::Csv, now());
        opts.gzip = true;
        assert!(evaluate(&c, &bytes[..], &opts).unwrap().passed);
        let truncated = &bytes[..bytes.len() - 6];
        assert!(evaluate(&c, truncated, &opts).is_err());
        let jsonl = b"{\"claim_id\":\"C1\",\"received_at\":\"2026-11-27T10:00:00Z\",\"channel\":\"email\",\"body\":\"x\",\"policyholder_email\":null}\n{\"claim_id\":2,\"received_at\":\"2026-11-27T10:00:00Z\",\"channel\":\"email\",\"body\":\"y\",\"policyholder_email\":\"p@q.example\"}\n";
        let r = evaluate(&c, &jsonl[..], &EvalOptions::new(Format::Jsonl, now())).unwrap();
        assert_eq!(rule(&r, ".claim_id", "type").failing_rows, vec![2], "a number where a string is declared");
        assert!(evaluate(&c, &b"{\"claim_id\": \"C1\""[..], &EvalOptions::new(Format::Jsonl, now())).unwrap_err().0.contains("cut off"));
        assert!(evaluate(&c, &b"[1,2]\n"[..], &EvalOptions::new(Format::Jsonl, now())).unwrap_err().0.contains("not a JSON object"));
    }
}
