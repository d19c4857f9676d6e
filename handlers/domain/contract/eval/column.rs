//! What one column accumulates in the streaming pass: null, type and constraint tallies, the
//! uniqueness state (64-bit hashes, looked up a batch at a time), and the newest timestamp; and
//! how a cell is read as its logical type.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::super::hashes::{HashSet64, BATCH};
use super::super::model::{LogicalType, Metric, Property, TableSpec};
use super::super::result::MAX_FAILING_ROWS;
use super::super::temporal::Reading;

/// Failing-row sampler and counter.
#[derive(Debug, Default, Clone)]
pub(super) struct Tally {
    pub(super) count: u64,
    pub(super) rows: Vec<u64>,
}

impl Tally {
    pub(super) fn hit(&mut self, row: u64) {
        self.count += 1;
        if self.rows.len() < MAX_FAILING_ROWS {
            self.rows.push(row);
        }
    }
}

/// The sets hold xxh3 hashes already: hashing them again would only cost time.
#[derive(Default, Clone, Copy)]
pub(super) struct Prehashed(u64);

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
pub(super) const REPEATED: u64 = 1 << 63;

/// What one column accumulates.
pub(super) struct ColumnState<'a> {
    pub(super) prop: &'a Property,
    pub(super) index: Option<usize>,
    pub(super) nulls: Tally,
    pub(super) type_errors: Tally,
    /// Per quality rule (same order as `prop.quality`).
    pub(super) rule_tallies: Vec<Tally>,
    /// Per enforced `logicalTypeOptions` entry (same order as `prop.options`).
    pub(super) option_tallies: Vec<Tally>,
    pub(super) valid_sets: Vec<Option<Vec<Vec<u8>>>>,
    pub(super) missing_sets: Vec<(bool, HashSet<Vec<u8>>)>,
    pub(super) patterns: Vec<Option<regex::bytes::Regex>>,
    /// For a composite primary key: its columns; each row's value is their tuple.
    pub(super) members: Vec<String>,
    /// Where each member is in a CSV file's header.
    pub(super) member_index: Vec<Option<usize>>,
    /// For a tuple of a schema-level duplicateValues rule: the rule's index in the table's quality.
    pub(super) tuple_rule: Option<usize>,
    pub(super) seen: Option<HashSet64>,
    /// Values waiting to be looked up in `seen`, a batch at a time (row, hash).
    pub(super) pending: Vec<(u64, u64)>,
    /// The second half of a file read in parallel also records, in order, each row's hash and
    /// whether the value already occurred in that half; after the first half, each is looked up in
    /// the first half's set, so duplicates and their rows come out exactly as in one pass.
    /// The row's top bit marks the repeat, keeping an entry at 16 bytes.
    pub(super) deferred: Option<Vec<(u64, u64)>>,
    pub(super) duplicated: HashSetOfHashes,
    pub(super) dup_tally: Tally,
    pub(super) newest: Option<DateTime<Utc>>,
}

pub(super) fn value_bytes(v: &Value) -> Vec<u8> {
    value_text(v).into_bytes()
}

pub(super) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl<'a> ColumnState<'a> {
    /// `composite`: the property is one column of a primary key of several, so it is not unique
    /// on its own account.
    pub(super) fn new(prop: &'a Property, composite: bool) -> Self {
        let needs_unique =
            prop.unique || (prop.primary_key && !composite) || prop.quality.iter().any(|r| r.metric == Metric::DuplicateValues);
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
            members: Vec::new(),
            member_index: Vec::new(),
            tuple_rule: None,
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
    pub(super) fn observe(&mut self, row: u64, text: Option<&[u8]>, json: Option<&Value>, freshness: bool) {
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
        let ts = if freshness || (self.prop.logical_type == LogicalType::Timestamp && json.is_none()) {
            timestamp_of(t, &self.prop.reading)
        } else {
            None
        };
        let typed = match (self.prop.logical_type, json) {
            (LogicalType::Timestamp, None) => ts.is_some(),
            _ => type_ok(self.prop, t, json),
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
    /// properties, the text (characters) for strings, the instant for dates, timestamps and times,
    /// the JSON value for arrays and objects.
    pub(super) fn check_options(&mut self, row: u64, t: &[u8], json: Option<&Value>) {
        use crate::domain::contract::options::{instant_key, Subject};
        let lt = self.prop.logical_type;
        let text = || match json {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => None,
            None => std::str::from_utf8(t).ok(),
        };
        let parsed: Option<Value>;
        let subject = match lt {
            LogicalType::Integer | LogicalType::Number => match json {
                Some(v) => v.as_f64().map(Subject::Number),
                None => text().and_then(|s| s.trim().parse::<f64>().ok()).map(Subject::Number),
            },
            LogicalType::String => text().map(Subject::Text),
            LogicalType::Date | LogicalType::Timestamp | LogicalType::Time => {
                text().and_then(|s| instant_key(lt, &self.prop.reading, s)).map(|(key, zoned)| Subject::Instant { key, zoned })
            }
            LogicalType::Array | LogicalType::Object => {
                let v = match json {
                    Some(v) => Some(v),
                    None => {
                        parsed = serde_json::from_slice(t).ok();
                        parsed.as_ref()
                    }
                };
                match v {
                    Some(Value::Array(a)) => Some(Subject::Array(a)),
                    Some(Value::Object(o)) => Some(Subject::Object(o)),
                    _ => None,
                }
            }
            LogicalType::Boolean => None,
        };
        let Some(subject) = subject else { return };
        for (i, o) in self.prop.options.iter().enumerate() {
            if !o.check.holds(&subject) {
                self.option_tallies[i].hit(row);
            }
        }
    }

    /// Looks up the waiting values in the uniqueness set, in row order.
    pub(super) fn flush(&mut self) {
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

/// A tuple of columns the data is checked for repeats of: the composite primary key, or the
/// columns of a schema-level `duplicateValues` rule (`rule`: its index in the table's quality).
pub(super) struct Tuple {
    prop: Property,
    columns: Vec<String>,
    rule: Option<usize>,
}

/// The schema object's tuples: its composite key first, then each schema-level duplicateValues.
pub(super) fn tuples(table: &TableSpec) -> Vec<Tuple> {
    let make = |columns: &[String], rule: Option<usize>| {
        let name = format!("({})", columns.join(", "));
        let prop = Property {
            name: name.clone(),
            column: name,
            logical_type: LogicalType::String,
            required: false,
            unique: true,
            primary_key: false,
            pii: false,
            quality: Vec::new(),
            options: Vec::new(),
            reading: Reading::default(),
        };
        Tuple { prop, columns: columns.to_vec(), rule }
    };
    let mut out = Vec::new();
    if table.composite_key.len() > 1 {
        out.push(make(&table.composite_key, None));
    }
    for (i, r) in table.quality.iter().enumerate() {
        if let Metric::DuplicateRows(columns) = &r.metric {
            out.push(make(columns, Some(i)));
        }
    }
    out
}

/// Adds one member's value to a key tuple: its length (or a null marker), then its bytes.
pub(super) fn push_member(key: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(v) => {
            key.extend_from_slice(&(v.len() as u32).to_le_bytes());
            key.extend_from_slice(v);
        }
        None => key.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// The columns for a schema object: one per property, then one per tuple.
pub(super) fn columns<'a>(table: &'a TableSpec, tuples: &'a [Tuple]) -> Vec<ColumnState<'a>> {
    let composite = !table.composite_key.is_empty();
    let mut cols: Vec<ColumnState<'a>> = table.properties.iter().map(|p| ColumnState::new(p, composite)).collect();
    for t in tuples {
        let mut c = ColumnState::new(&t.prop, false);
        c.members.clone_from(&t.columns);
        c.tuple_rule = t.rule;
        cols.push(c);
    }
    cols
}

impl Tally {
    /// Adds a later part's tally, its rows numbered after `offset` rows.
    pub(super) fn absorb(&mut self, other: Tally, offset: u64) {
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
    pub(super) fn reserve(&mut self, rows: usize) {
        if let Some(seen) = &mut self.seen {
            seen.reserve(rows.saturating_sub(seen.len()));
        }
        if let Some(list) = &mut self.deferred {
            list.reserve(rows.saturating_sub(list.len()));
        }
    }

    /// Folds in the state of the part of the file that follows this one (`offset` rows later).
    pub(super) fn absorb(&mut self, other: ColumnState<'_>, offset: u64) {
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

pub(super) fn type_ok(prop: &Property, bytes: &[u8], json: Option<&Value>) -> bool {
    let r = &prop.reading;
    if let Some(v) = json {
        return match prop.logical_type {
            LogicalType::String => v.is_string(),
            LogicalType::Integer => v.is_i64() || v.is_u64(),
            LogicalType::Number => v.is_number(),
            LogicalType::Boolean => v.is_boolean(),
            LogicalType::Date => v.as_str().is_some_and(|s| r.date(s).is_some()),
            LogicalType::Timestamp => v.as_str().is_some_and(|s| r.timestamp(s).is_some()),
            LogicalType::Time => v.as_str().is_some_and(|s| r.time(s).is_some()),
            LogicalType::Object => v.is_object(),
            LogicalType::Array => v.is_array(),
        };
    }
    if prop.logical_type == LogicalType::String {
        return true;
    }
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    match prop.logical_type {
        LogicalType::String => true,
        LogicalType::Integer => text.trim().parse::<i64>().is_ok(),
        LogicalType::Number => text.trim().parse::<f64>().is_ok_and(f64::is_finite),
        LogicalType::Boolean => matches!(text.trim().to_ascii_lowercase().as_str(), "true" | "false"),
        LogicalType::Date => r.date(text).is_some(),
        LogicalType::Timestamp => r.timestamp(text).is_some(),
        LogicalType::Time => r.time(text).is_some(),
        // A CSV cell holds an object or array as its JSON text.
        LogicalType::Object => text.trim_start().starts_with('{') && serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()),
        LogicalType::Array => text.trim_start().starts_with('[') && serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_array()),
    }
}

/// RFC 3339, or `YYYY-MM-DD[ T]HH:MM:SS[.f]` taken as UTC, or a date (midnight UTC).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    parse_zulu_seconds(s.trim().as_bytes()).or_else(|| Reading::default().timestamp(s).map(|(t, _)| t))
}

/// A timestamp cell's instant as the property reads it, trying the common case before any UTF-8 check.
pub(super) fn timestamp_of(b: &[u8], reading: &Reading) -> Option<DateTime<Utc>> {
    let common = if reading.format.is_none() { parse_zulu_seconds(b) } else { None };
    common.or_else(|| std::str::from_utf8(b).ok().and_then(|s| reading.timestamp(s)).map(|(t, _)| t))
}

/// The common case, `YYYY-MM-DDTHH:MM:SSZ`, without the general parser.
pub(super) fn parse_zulu_seconds(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    Some(date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?.and_utc())
}
