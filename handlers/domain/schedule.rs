//! NCRONTAB schedules as Azure Functions evaluates them: six fields
//! `{second} {minute} {hour} {day} {month} {day-of-week}`, Sunday = 0, names allowed, and when both
//! day fields are restricted a time must match both. Evaluated in an IANA time zone.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

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

const FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 6),
];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Ncrontab {
    /// Parses an expression, rejecting what Azure's NCrontab would reject (5 or 7 fields, `?`, `L`,
    /// `W`, `#`, `@daily` nicknames, out-of-range values).
    pub fn parse(expr: &str) -> Result<Self, ScheduleError> {
        let fail = |why: String| ScheduleError {
            expr: expr.to_string(),
            why,
        };
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(fail(format!(
                "it has {} field{}; Azure Functions expects 6: {{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}, e.g. `0 */5 * * * *`{}",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" },
                if fields.len() == 5 { " (a 5-field cron lacks the leading seconds field)" } else { "" }
            )));
        }
        for (text, (name, lo, hi)) in fields.iter().zip(FIELDS) {
            check_field(text, name, lo, hi).map_err(fail)?;
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .dom_and_dow(true)
            .build()
            .parse(&fields.join(" "))
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            text: fields.join(" "),
            cron: Box::new(cron),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first occurrence strictly after `after`, evaluated in `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The last occurrence strictly before `before`, evaluated in `tz`.
    pub fn prev_before(&self, before: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&before.with_timezone(&tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Occurrences in `(after, until]`, at most `cap` of them, oldest first.
    pub fn occurrences(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        tz: Tz,
        cap: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = after;
        while out.len() < cap {
            match self.next_after(t, tz) {
                Some(n) if n <= until => {
                    out.push(n);
                    t = n;
                }
                _ => break,
            }
        }
        out
    }
}

fn check_field(text: &str, name: &str, lo: u32, hi: u32) -> Result<(), String> {
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if let Some(s) = step {
            match s.parse::<u32>() {
                Ok(n) if n >= 1 => {}
                _ => {
                    return Err(format!(
                        "the {name} field has step `/{s}`; a step is a whole number of at least 1"
                    ))
                }
            }
        }
        if range == "*" {
            continue;
        }
        let bounds: Vec<&str> = range.split('-').collect();
        if bounds.len() > 2 || bounds.iter().any(|b| b.is_empty()) {
            return Err(format!("the {name} field has `{part}`, which is not a value, a range `a-b`, a list or a step"));
        }
        let mut values = Vec::new();
        for b in &bounds {
            values.push(field_value(b, name, lo, hi)?);
        }
        if values.len() == 2 && values[0] > values[1] {
            return Err(format!(
                "the {name} field has the range `{range}`, which runs backwards"
            ));
        }
    }
    Ok(())
}

fn field_value(token: &str, name: &str, lo: u32, hi: u32) -> Result<u32, String> {
    if let Ok(n) = token.parse::<u32>() {
        if n < lo || n > hi {
            let extra = if name == "day-of-week" && n == 7 {
                " (Sunday is 0 in NCRONTAB)"
            } else {
                ""
            };
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
    if let Some(i) = names.iter().position(|n| *n == upper) {
        return Ok(if name == "month" {
            i as u32 + 1
        } else {
            i as u32
        });
    }
    if matches!(upper.as_str(), "?" | "L" | "W")
        || upper.contains('#')
        || upper.ends_with('L')
        || upper.ends_with('W')
    {
        return Err(format!(
            "the {name} field uses `{token}`, a Quartz extension that NCRONTAB does not support"
        ));
    }
    if token.starts_with('@') {
        return Err(format!(
            "`{token}` nicknames are not NCRONTAB; write the six fields out"
        ));
    }
    Err(format!(
        "the {name} field has `{token}`, which is neither a number in {lo}-{hi}{}",
        if names.is_empty() { "" } else { " nor a name" }
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
    name.parse::<Tz>().map_err(|_| {
        format!("`{name}` is not an IANA time zone name (e.g. `Europe/London`, `UTC`)")
    })
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
        assert_eq!(
            c.next_after(utc("2026-11-27T10:02:00Z"), Tz::UTC),
            Some(utc("2026-11-27T10:05:00Z"))
        );
        assert_eq!(
            c.next_after(utc("2026-11-27T10:05:00Z"), Tz::UTC),
            Some(utc("2026-11-27T10:10:00Z"))
        );
    }

    #[test]
    fn both_day_fields_must_match() {
        // The 13th that is also a Friday: 2026-11-13 is a Friday.
        let c = Ncrontab::parse("0 0 9 13 * FRI").unwrap();
        assert_eq!(
            c.next_after(utc("2026-10-01T00:00:00Z"), Tz::UTC),
            Some(utc("2026-11-13T09:00:00Z"))
        );
    }

    #[test]
    fn sunday_is_zero_and_names_work() {
        let c = Ncrontab::parse("0 30 8 * Jan-Dec 0").unwrap();
        // 2026-11-29 is a Sunday.
        assert_eq!(
            c.next_after(utc("2026-11-27T00:00:00Z"), Tz::UTC),
            Some(utc("2026-11-29T08:30:00Z"))
        );
    }

    #[test]
    fn evaluates_in_the_zone() {
        let c = Ncrontab::parse("0 0 9 * * *").unwrap();
        let london = parse_zone("Europe/London").unwrap();
        // Summer time: 09:00 BST = 08:00 UTC.
        assert_eq!(
            c.next_after(utc("2026-07-01T00:00:00Z"), london),
            Some(utc("2026-07-01T08:00:00Z"))
        );
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

    #[test]
    fn occurrences_are_capped() {
        let c = Ncrontab::parse("0 * * * * *").unwrap();
        let v = c.occurrences(
            utc("2026-11-27T00:00:00Z"),
            utc("2026-11-27T01:00:00Z"),
            Tz::UTC,
            10,
        );
        assert_eq!(v.len(), 10);
        assert_eq!(v[0], utc("2026-11-27T00:01:00Z"));
    }
}
