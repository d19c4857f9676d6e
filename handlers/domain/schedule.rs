//! NCRONTAB schedules as Azure Functions evaluates them: six fields
//! `{second} {minute} {hour} {day} {month} {day-of-week}`, Sunday = 0, names allowed, and when both
//! day fields are restricted a time must match both. Evaluated on the wall clock of an IANA time
//! zone, with one stated rule for daylight-saving changes:
//!
//! - a local time that does not exist (clocks go forward) runs at the end of the gap; if several
//!   slots fall in the same gap, the first runs there and the others are reported as merged;
//! - a local time that happens twice (clocks go back) runs once, at its first occurrence.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::Serialize;

/// Why an expression was rejected; the message says what Azure expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expr}` is not an NCRONTAB expression: {why}")]
pub struct ScheduleError {
    pub expr: String,
    pub why: String,
}

/// A parsed NCRONTAB expression.
#[derive(Clone)]
pub struct Ncrontab {
    text: String,
    cron: Box<Cron>,
}

impl fmt::Debug for Ncrontab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ncrontab({:?})", self.text)
    }
}

const FIELDS: [(&str, u32, u32); 6] =
    [("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("day-of-week", 0, 6)];
/// NCrontab reads a name as any case-insensitive prefix of the English name, taking the first name
/// in calendar order that it prefixes (`J` is January, `Ju` June, `M` March).
const MONTHS: [&str; 12] =
    ["JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER"];
const DAYS: [&str; 7] = ["SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"];

impl Ncrontab {
    /// Parses an expression, rejecting what Azure's NCrontab would reject (5 or 7 fields, `?`, `L`,
    /// `W`, `#`, `@daily` nicknames, out-of-range values).
    pub fn parse(expr: &str) -> Result<Self, ScheduleError> {
        let fail = |why: String| ScheduleError { expr: expr.to_string(), why };
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(fail(format!(
                "it has {} field{}; Azure Functions expects 6: {{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}, e.g. `0 */5 * * * *`{}",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" },
                if fields.len() == 5 { " (a 5-field cron lacks the leading seconds field)" } else { "" }
            )));
        }
        let mut canonical = Vec::with_capacity(6);
        for (text, (name, lo, hi)) in fields.iter().zip(FIELDS) {
            canonical.push(check_field(text, name, lo, hi).map_err(fail)?);
        }
        // The fields in the one form the evaluator reads: numbers, `a-b/n`, `*/n`, lists.
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .dom_and_dow(true)
            .build()
            .parse(&canonical.join(" "))
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self { text: fields.join(" "), cron: Box::new(cron) })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The next slot strictly after `after`, evaluated on `tz`'s wall clock (see [`LocalMapping`]).
    pub fn next_slot(&self, after: DateTime<Utc>, tz: Tz) -> Option<Slot> {
        let mut local = after.with_timezone(&tz).naive_local();
        for _ in 0..MAX_STEPS {
            let next = self.next_local(local)?;
            let slot = map_local(next, tz)?;
            if slot.at > after {
                return Some(slot);
            }
            local = next;
        }
        None
    }

    /// The first slot instant strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.next_slot(after, tz).map(|s| s.at)
    }

    /// The last slot instant strictly before `before`.
    pub fn prev_before(&self, before: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // Local wall times are visited backwards; a fold's second pass maps to its first.
        let mut local = before.with_timezone(&tz).naive_local() + chrono::Duration::hours(2);
        for _ in 0..MAX_STEPS {
            let prev = self.cron.find_previous_occurrence(&local.and_utc(), false).ok()?.naive_utc();
            let slot = map_local(prev, tz)?;
            if slot.at < before {
                return Some(slot.at);
            }
            local = prev;
        }
        None
    }

    /// Every slot in `(after, until]`, oldest first, at most `cap`. A local time inside a
    /// spring-forward gap runs when the gap ends; when several do, the first is
    /// [`LocalMapping::ShiftedPastGap`] and the rest are [`LocalMapping::MergedIntoGapEnd`]
    /// (listed so that the caller records them, never dropped silently).
    pub fn slots(&self, after: DateTime<Utc>, until: DateTime<Utc>, tz: Tz, cap: usize) -> Vec<Slot> {
        let mut out: Vec<Slot> = Vec::new();
        let Some(first) = self.next_slot(after, tz) else {
            return out;
        };
        if first.at > until {
            return out;
        }
        let mut local = first.local;
        out.push(first);
        while out.len() < cap {
            let Some(next) = self.next_local(local) else {
                break;
            };
            local = next;
            let Some(mut slot) = map_local(next, tz) else {
                break;
            };
            // Wall times only move forward, and a fold's second pass is never visited, so only a
            // gap makes a later wall time land on an instant that already runs.
            if out.last().is_some_and(|l| slot.at <= l.at) {
                slot.mapping = LocalMapping::MergedIntoGapEnd;
            }
            if slot.at > until {
                break;
            }
            out.push(slot);
        }
        out
    }

    /// Slot instants in `(after, until]`, at most `cap` (merged gap slots left out).
    pub fn occurrences(&self, after: DateTime<Utc>, until: DateTime<Utc>, tz: Tz, cap: usize) -> Vec<DateTime<Utc>> {
        self.slots(after, until, tz, cap).into_iter().filter(|s| s.mapping != LocalMapping::MergedIntoGapEnd).map(|s| s.at).collect()
    }

    fn next_local(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        // The cron is matched against the wall clock: a naive time stands in as UTC, which has no DST.
        self.cron.find_next_occurrence(&after.and_utc(), false).ok().map(|t| t.naive_utc())
    }
}

/// Candidates examined before giving up (an expression that matches nothing, like Feb 30).
const MAX_STEPS: usize = 100_000;

/// How a slot's local wall time became an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalMapping {
    /// The local time happens once.
    Exact,
    /// The local time happens twice (clocks go back): the slot runs once, at the first.
    FirstOfTwo,
    /// The local time does not exist (clocks go forward): the slot runs when the gap ends.
    ShiftedPastGap,
    /// Another local time in the same gap already runs at the gap's end: this one is skipped.
    MergedIntoGapEnd,
}

/// One schedule slot: the instant it runs, and the local wall time it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub at: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub mapping: LocalMapping,
}

/// Maps a local wall time to its instant by the same rule as slots (gap: its end; fold: the first).
pub fn local_to_instant(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    map_local(local, tz).map(|s| s.at)
}

fn map_local(local: NaiveDateTime, tz: Tz) -> Option<Slot> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(Slot { at: t.with_timezone(&Utc), local, mapping: LocalMapping::Exact }),
        LocalResult::Ambiguous(first, _) => Some(Slot { at: first.with_timezone(&Utc), local, mapping: LocalMapping::FirstOfTwo }),
        LocalResult::None => {
            // Walk minute by minute to the end of the gap (gaps are at most a few hours).
            let mut probe = local.with_second(0)?.with_nanosecond(0)?;
            for _ in 0..(26 * 60) {
                probe += chrono::Duration::minutes(1);
                match tz.from_local_datetime(&probe) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        return Some(Slot { at: t.with_timezone(&Utc), local, mapping: LocalMapping::ShiftedPastGap })
                    }
                    LocalResult::None => {}
                }
            }
            None
        }
    }
}

/// Checks one field by NCrontab's rules and returns it in canonical form: names become numbers,
/// and a start with a step, `a/n`, becomes `a-max/n` (NCrontab: from `a` to the field's maximum).
fn check_field(text: &str, name: &str, lo: u32, hi: u32) -> Result<String, String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        if part.is_empty() {
            return Err(format!("the {name} field `{text}` has an empty list item"));
        }
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if let Some(s) = step {
            match s.parse::<u32>() {
                Ok(n) if n >= 1 => {}
                _ => return Err(format!("the {name} field has step `/{s}`; a step is a whole number of at least 1")),
            }
        }
        let canonical_range = if range == "*" {
            "*".to_string()
        } else {
            let bounds: Vec<&str> = range.split('-').collect();
            if bounds.len() > 2 || bounds.iter().any(|b| b.is_empty()) {
                return Err(format!("the {name} field has `{part}`, which is not a value, a range `a-b`, a list or a step"));
            }
            let mut values = Vec::new();
            for b in &bounds {
                values.push(field_value(b, name, lo, hi)?);
            }
            match values[..] {
                [a, b] if a > b => return Err(format!("the {name} field has the range `{range}`, which runs backwards")),
                [a, b] => format!("{a}-{b}"),
                // `a/n` runs from `a` to the field's maximum.
                [a] if step.is_some() => format!("{a}-{hi}"),
                [a] => a.to_string(),
                _ => unreachable!("one or two bounds"),
            }
        };
        out.push(match step {
            Some(s) => format!("{canonical_range}/{s}"),
            None => canonical_range,
        });
    }
    Ok(out.join(","))
}

fn field_value(token: &str, name: &str, lo: u32, hi: u32) -> Result<u32, String> {
    if let Ok(n) = token.parse::<u32>() {
        if n < lo || n > hi {
            let extra = if name == "day-of-week" && n == 7 { " (Sunday is 0 in NCRONTAB)" } else { "" };
            return Err(format!("the {name} field allows {lo}-{hi}, not {n}{extra}"));
        }
        return Ok(n);
    }
    let upper = token.to_ascii_uppercase();
    let names: &[&str] = match name {
        "month" => &MONTHS,
        "day-of-week" => &DAYS,
        _ => &[],
    };
    if upper.chars().all(|c| c.is_ascii_alphabetic()) {
        if let Some(i) = names.iter().position(|n| n.starts_with(&upper)) {
            return Ok(if name == "month" { i as u32 + 1 } else { i as u32 });
        }
    }
    if matches!(upper.as_str(), "?" | "L" | "W") || upper.contains('#') || upper.ends_with('L') || upper.ends_with('W') {
        return Err(format!("the {name} field uses `{token}`, a Quartz extension that NCRONTAB does not support"));
    }
    if token.starts_with('@') {
        return Err(format!("`{token}` nicknames are not NCRONTAB; write the six fields out"));
    }
    Err(format!(
        "the {name} field has `{token}`, which is neither a number in {lo}-{hi}{}",
        if names.is_empty() { "" } else { " nor a name (or the start of one: `Jan`, `February`, `SEPT`, `sunday`)" }
    ))
}

impl FromStr for Ncrontab {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, ScheduleError> {
        Self::parse(s)
    }
}

/// Parses an IANA time zone name.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| format!("`{name}` is not an IANA time zone name (e.g. `Europe/London`, `UTC`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_five_minutes() {
        let c = Ncrontab::parse("0 */5 * * * *").unwrap();
        assert_eq!(c.next_after(utc("2026-11-27T10:02:00Z"), Tz::UTC), Some(utc("2026-11-27T10:05:00Z")));
        assert_eq!(c.next_after(utc("2026-11-27T10:05:00Z"), Tz::UTC), Some(utc("2026-11-27T10:10:00Z")));
    }

    #[test]
    fn both_day_fields_must_match() {
        // The 13th that is also a Friday: 2026-11-13 is a Friday.
        let c = Ncrontab::parse("0 0 9 13 * FRI").unwrap();
        assert_eq!(c.next_after(utc("2026-10-01T00:00:00Z"), Tz::UTC), Some(utc("2026-11-13T09:00:00Z")));
    }

    #[test]
    fn sunday_is_zero_and_names_work() {
        let c = Ncrontab::parse("0 30 8 * Jan-Dec 0").unwrap();
        // 2026-11-29 is a Sunday.
        assert_eq!(c.next_after(utc("2026-11-27T00:00:00Z"), Tz::UTC), Some(utc("2026-11-29T08:30:00Z")));
    }

    #[test]
    fn a_start_with_a_step_runs_to_the_end_of_the_field() {
        let next = |e: &str, from: &str| Ncrontab::parse(e).unwrap().next_after(utc(from), Tz::UTC);
        // `0 2/5 * * * *`: every 5th minute from 2 to 59.
        assert_eq!(next("0 2/5 * * * *", "2026-11-27T10:00:00Z"), Some(utc("2026-11-27T10:02:00Z")));
        assert_eq!(next("0 2/5 * * * *", "2026-11-27T10:57:00Z"), Some(utc("2026-11-27T11:02:00Z")));
        assert_eq!(next("0 0 14/1 * * *", "2026-11-27T10:00:00Z"), Some(utc("2026-11-27T14:00:00Z")));
        assert_eq!(next("0 0 14/1 * * *", "2026-11-27T23:00:00Z"), Some(utc("2026-11-28T14:00:00Z")));
        assert_eq!(next("5/15 * * * * *", "2026-11-27T10:00:50Z"), Some(utc("2026-11-27T10:01:05Z")));
        // At the top of its range `a/n` is the one value.
        assert_eq!(next("0 59/5 * * * *", "2026-11-27T10:00:00Z"), Some(utc("2026-11-27T10:59:00Z")));
        assert_eq!(next("0 59/5 * * * *", "2026-11-27T10:59:00Z"), Some(utc("2026-11-27T11:59:00Z")));
        // In a list, and on names.
        assert_eq!(next("0 0 0 * Nov/2,Feb *", "2026-11-27T10:00:00Z"), Some(utc("2026-11-28T00:00:00Z")));
        assert_eq!(next("0 0 0 * Nov/2,Feb *", "2026-12-01T10:00:00Z"), Some(utc("2027-02-01T00:00:00Z")), "Nov/2 is November only");
    }

    #[test]
    fn names_are_any_prefix_first_in_calendar_order() {
        let month = |e: &str| check_field(e, "month", 1, 12).unwrap();
        let day = |e: &str| check_field(e, "day-of-week", 0, 6).unwrap();
        assert_eq!(month("February,April-Jun"), "2,4-6");
        assert_eq!(month("SEPT-October"), "9-10");
        assert_eq!(month("DECEM"), "12");
        assert_eq!(month("january,FeB,Mar,april,May,JuNE,July,Augu"), "1,2,3,4,5,6,7,8");
        assert_eq!(
            (month("J"), month("Ju"), month("Jul"), month("M"), month("MA"), month("MAY"), month("A")),
            ("1".into(), "6".into(), "7".into(), "3".into(), "3".into(), "5".into(), "4".into())
        );
        assert_eq!(
            (day("sunday"), day("SUNDAY"), day("S"), day("SA"), day("T"), day("TH")),
            ("0".into(), "0".into(), "0".into(), "6".into(), "2".into(), "4".into())
        );
        // Not a prefix of any name, or a name where none is allowed.
        assert!(check_field("Janu4ry", "month", 1, 12).unwrap_err().contains("nor a name"));
        assert!(check_field("Sept", "day-of-week", 0, 6).is_err());
        assert!(check_field("Mon", "hour", 0, 23).is_err());
        let c = Ncrontab::parse("0 30 6 * * SUNDAY").unwrap();
        assert_eq!(c.next_after(utc("2026-11-27T00:00:00Z"), Tz::UTC), Some(utc("2026-11-29T06:30:00Z")));
    }

    #[test]
    fn an_impossible_date_has_no_slot_and_says_so_quickly() {
        let t = std::time::Instant::now();
        let c = Ncrontab::parse("0 0 0 31 Feb *").unwrap();
        assert_eq!(c.next_after(utc("2026-11-27T00:00:00Z"), Tz::UTC), None);
        assert!(Ncrontab::parse("0 0 0 30 2 *").unwrap().next_after(utc("2026-11-27T00:00:00Z"), Tz::UTC).is_none());
        assert!(t.elapsed() < std::time::Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn evaluates_in_the_zone() {
        let c = Ncrontab::parse("0 0 9 * * *").unwrap();
        let london = parse_zone("Europe/London").unwrap();
        // Summer time: 09:00 BST = 08:00 UTC.
        assert_eq!(c.next_after(utc("2026-07-01T00:00:00Z"), london), Some(utc("2026-07-01T08:00:00Z")));
    }

    #[test]
    fn rejects_what_azure_rejects() {
        for (bad, needle) in [
            ("*/5 * * * *", "has 5 fields"),
            ("0 0 0 * * * 2026", "has 7 fields"),
            ("0 0 12 ? * MON", "Quartz"),
            ("0 0 12 L * *", "Quartz"),
            ("0 0 12 * * 7", "Sunday is 0"),
            ("0 61 * * * *", "0-59"),
            ("0 0 25 * * *", "0-23"),
            ("0 0 0 5-1 * *", "backwards"),
            ("0 0 0 * * FOO", "nor a name"),
            ("0 */0 * * * *", "step"),
            ("@daily", "has 1 field;"),
        ] {
            let e = Ncrontab::parse(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    fn zone(name: &str) -> Tz {
        parse_zone(name).unwrap()
    }

    /// (expression, zone, after, expected next slots as UTC instants)
    const TABLE: &[(&str, &str, &str, &[&str])] = &[
        // seconds, steps, lists, ranges
        ("*/20 * * * * *", "UTC", "2026-11-27T10:00:00Z", &["2026-11-27T10:00:20Z", "2026-11-27T10:00:40Z", "2026-11-27T10:01:00Z"]),
        (
            "0 0,30 9-10 * * *",
            "UTC",
            "2026-11-27T08:00:00Z",
            &["2026-11-27T09:00:00Z", "2026-11-27T09:30:00Z", "2026-11-27T10:00:00Z", "2026-11-27T10:30:00Z", "2026-11-28T09:00:00Z"],
        ),
        (
            "0 10-50/20 * * * *",
            "UTC",
            "2026-11-27T10:00:00Z",
            &["2026-11-27T10:10:00Z", "2026-11-27T10:30:00Z", "2026-11-27T10:50:00Z", "2026-11-27T11:10:00Z"],
        ),
        // names: months and days, any case
        ("0 0 12 * feb,Dec sun", "UTC", "2026-11-27T00:00:00Z", &["2026-12-06T12:00:00Z", "2026-12-13T12:00:00Z"]),
        ("0 0 8 * * Mon-Fri", "UTC", "2026-11-27T09:00:00Z", &["2026-11-30T08:00:00Z", "2026-12-01T08:00:00Z"]),
        // day-of-week 0 and 6
        ("0 0 0 * * 0,6", "UTC", "2026-11-27T00:00:00Z", &["2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z", "2026-12-05T00:00:00Z"]),
        // both day fields restricted: both must match (Friday the 13th)
        ("0 0 9 13 * 5", "UTC", "2026-01-01T00:00:00Z", &["2026-02-13T09:00:00Z", "2026-03-13T09:00:00Z", "2026-11-13T09:00:00Z"]),
        // month ends: the 31st skips short months; Feb 29 only in leap years
        ("0 0 0 31 * *", "UTC", "2026-01-31T00:00:00Z", &["2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"]),
        ("0 0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
        ("0 0 0 L * *", "UTC", "2026-01-01T00:00:00Z", &[]),
        // time zones
        ("0 0 9 * * *", "Europe/London", "2026-07-01T00:00:00Z", &["2026-07-01T08:00:00Z", "2026-07-02T08:00:00Z"]),
        ("0 0 9 * * *", "America/New_York", "2026-01-01T00:00:00Z", &["2026-01-01T14:00:00Z"]),
        ("0 0 9 * * *", "Australia/Sydney", "2026-01-01T00:00:00Z", &["2026-01-01T22:00:00Z"]),
        // London spring forward (29 Mar 2026, 01:00 GMT -> 02:00 BST): 01:30 does not exist, runs at the gap's end
        (
            "0 30 1 * * *",
            "Europe/London",
            "2026-03-28T00:00:00Z",
            &["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
        ),
        // London fall back (25 Oct 2026, 02:00 BST -> 01:00 GMT): 01:30 happens twice, runs once at the first
        (
            "0 30 1 * * *",
            "Europe/London",
            "2026-10-24T00:00:00Z",
            &["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
        ),
        // New York (8 Mar 2026 gap 02:00-03:00; 1 Nov 2026 fold 01:00-02:00)
        (
            "0 30 2 * * *",
            "America/New_York",
            "2026-03-07T00:00:00Z",
            &["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
        ),
        (
            "0 30 1 * * *",
            "America/New_York",
            "2026-10-31T00:00:00Z",
            &["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
        ),
        // Sydney (5 Apr 2026 fold 02:00-03:00 AEDT->AEST; 4 Oct 2026 gap 02:00-03:00)
        (
            "0 30 2 * * *",
            "Australia/Sydney",
            "2026-04-03T00:00:00Z",
            &["2026-04-03T15:30:00Z", "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"],
        ),
        (
            "0 30 2 * * *",
            "Australia/Sydney",
            "2026-10-02T00:00:00Z",
            &["2026-10-02T16:30:00Z", "2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"],
        ),
    ];

    #[test]
    fn table_of_expressions_zones_and_transitions() {
        for (expr, tz, after, want) in TABLE {
            let parsed = Ncrontab::parse(expr);
            if want.is_empty() {
                assert!(parsed.is_err(), "{expr} should be rejected");
                continue;
            }
            let c = parsed.unwrap_or_else(|e| panic!("{expr}: {e}"));
            let mut t = utc(after);
            for w in *want {
                let next = c.next_after(t, zone(tz)).unwrap_or_else(|| panic!("{expr} in {tz}: nothing after {t}"));
                assert_eq!(next, utc(w), "{expr} in {tz} after {t}");
                t = next;
            }
        }
    }

    #[test]
    fn slots_in_a_gap_run_once_and_the_rest_are_reported() {
        let c = Ncrontab::parse("0 */15 * * * *").unwrap();
        let s = c.slots(utc("2026-03-29T00:40:00Z"), utc("2026-03-29T01:20:00Z"), zone("Europe/London"), 100);
        let summary: Vec<(String, LocalMapping)> =
            s.iter().map(|x| (format!("{} {}", x.local.format("%H:%M"), instant_key_short(x.at)), x.mapping)).collect();
        assert_eq!(
            summary,
            vec![
                ("00:45 00:45".to_string(), LocalMapping::Exact),
                ("01:00 01:00".to_string(), LocalMapping::ShiftedPastGap),
                ("01:15 01:00".to_string(), LocalMapping::MergedIntoGapEnd),
                ("01:30 01:00".to_string(), LocalMapping::MergedIntoGapEnd),
                ("01:45 01:00".to_string(), LocalMapping::MergedIntoGapEnd),
                ("02:00 01:00".to_string(), LocalMapping::MergedIntoGapEnd),
                ("02:15 01:15".to_string(), LocalMapping::Exact),
            ]
        );
        assert_eq!(c.occurrences(utc("2026-03-29T00:40:00Z"), utc("2026-03-29T01:20:00Z"), zone("Europe/London"), 100).len(), 3);
    }

    #[test]
    fn a_fold_runs_each_wall_time_once() {
        let c = Ncrontab::parse("0 */30 * * * *").unwrap();
        let s = c.slots(utc("2026-10-24T23:00:00Z"), utc("2026-10-25T02:00:00Z"), zone("Europe/London"), 100);
        let got: Vec<(String, LocalMapping)> =
            s.iter().map(|x| (format!("{} {}", x.local.format("%H:%M"), instant_key_short(x.at)), x.mapping)).collect();
        assert_eq!(
            got,
            vec![
                ("00:30 23:30".to_string(), LocalMapping::Exact),
                ("01:00 00:00".to_string(), LocalMapping::FirstOfTwo),
                ("01:30 00:30".to_string(), LocalMapping::FirstOfTwo),
                ("02:00 02:00".to_string(), LocalMapping::Exact),
            ]
        );
        // prev_before agrees with next_after around the fold.
        assert_eq!(c.prev_before(utc("2026-10-25T02:00:00Z"), zone("Europe/London")), Some(utc("2026-10-25T00:30:00Z")));
        assert_eq!(c.prev_before(utc("2026-10-25T00:30:00Z"), zone("Europe/London")), Some(utc("2026-10-25T00:00:00Z")));
    }

    fn instant_key_short(t: DateTime<Utc>) -> String {
        t.format("%H:%M").to_string()
    }

    #[test]
    fn occurrences_are_capped() {
        let c = Ncrontab::parse("0 * * * * *").unwrap();
        let v = c.occurrences(utc("2026-11-27T00:00:00Z"), utc("2026-11-27T01:00:00Z"), Tz::UTC, 10);
        assert_eq!(v.len(), 10);
        assert_eq!(v[0], utc("2026-11-27T00:01:00Z"));
    }
}
