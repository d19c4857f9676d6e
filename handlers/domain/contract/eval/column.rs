//! What one column accumulates in the streaming pass: null, type and constraint tallies, the
//! uniqueness state (64-bit hashes, looked up a batch at a time), and the newest timestamp; and
//! how a cell is read as its logical type.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::super::hashes::{HashSet64, BATCH};
use super::super::model::{LogicalType, Metric, Property};
use super::super::result::MAX_FAILING_ROWS;

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
    pub(super) fn new(prop: &'a Property) -> Self {
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
    pub(super) fn check_options(&mut self, row: u64, t: &[u8], json: Option<&Value>) {
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

pub(super) fn type_ok(t: LogicalType, bytes: &[u8], json: Option<&Value>) -> bool {
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
pub(super) fn is_time(s: &str) -> bool {
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
pub(super) fn timestamp_of(b: &[u8]) -> Option<DateTime<Utc>> {
    parse_zulu_seconds(b).or_else(|| std::str::from_utf8(b).ok().and_then(parse_timestamp))
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
