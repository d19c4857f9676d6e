//! A property's `logicalTypeOptions` (ODCS v3.0 and v3.1): the value constraints flowgate
//! enforces, each a rule of its own named as datacontract-cli names its check (`minimum`,
//! `maximum`, `notEqual`, `minLength`, `maxLength`, `pattern`, `minItems`, `maxItems`,
//! `uniqueItems`), and those datacontract-cli does not check (`format`, `multipleOf`, bounds on
//! dates, timestamps and times, `timezone`, `minProperties`, `maxProperties`, `required`). Null
//! values are left to `required`; a value that is not of the logical type is a type failure, not
//! a constraint failure. An option that cannot be enforced is named by lint; an option that is
//! wrong (a pattern that does not compile, a minimum above the maximum, a negative length, a
//! bound that is not a value of the type) is an error.

use serde_json::{Map, Value};

use super::model::LogicalType;
use super::temporal::{self, Reading};

/// One enforced option.
#[derive(Debug, Clone)]
pub struct ValueOption {
    /// The rule's name in results (datacontract-cli's check, without `field_`).
    pub rule: &'static str,
    pub check: Check,
    /// The option's JSON pointer in the contract.
    pub pointer: String,
    /// The threshold as results show it (`>= 2026-01-01`, `length <= 24`).
    pub shown: String,
}

/// What a value must satisfy.
#[derive(Debug, Clone)]
pub enum Check {
    /// Bounds on a number, or on a date, timestamp or time by its [`Subject::Instant`] key.
    Min(f64),
    Max(f64),
    NotEqual(f64),
    MultipleOf(f64),
    /// An integer or number `format` (`i8` … `u128`, `f32`): the range it can hold.
    Range(f64, f64),
    MinLength(u64),
    MaxLength(u64),
    /// Matches somewhere in the value (JSON Schema's and datacontract-cli's reading: not anchored).
    Pattern(regex::Regex),
    Format(TextFormat),
    MinItems(u64),
    MaxItems(u64),
    UniqueItems,
    MinProperties(u64),
    MaxProperties(u64),
    RequiredKeys(Vec<String>),
    /// A timestamp carries its own offset (`timezone: true`) or does not (`false`).
    Zoned(bool),
}

/// A typed, non-null value, as the checks see it.
pub enum Subject<'v> {
    Number(f64),
    Text(&'v str),
    /// A date (days), timestamp (seconds since the epoch) or time (seconds since midnight), and
    /// whether the text carried an offset.
    Instant {
        key: f64,
        zoned: bool,
    },
    Array(&'v [Value]),
    Object(&'v Map<String, Value>),
}

/// The `format` values flowgate checks on strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Email,
    Uri,
    Uuid,
    Date,
    DateTime,
    Time,
    Ipv4,
    Ipv6,
}

/// A finding while reading the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub pointer: String,
    pub message: String,
    pub error: bool,
}

/// A property's options as read.
#[derive(Debug, Default)]
pub struct Parsed {
    pub options: Vec<ValueOption>,
    pub notes: Vec<Note>,
    /// How its dates, timestamps or times are read (`format`, `defaultTimezone`).
    pub reading: Reading,
}

impl Check {
    /// Whether a value satisfies it; a check of another kind of value holds.
    pub fn holds(&self, v: &Subject<'_>) -> bool {
        match (self, v) {
            (Self::Min(m), Subject::Number(x) | Subject::Instant { key: x, .. }) => x >= m,
            (Self::Max(m), Subject::Number(x) | Subject::Instant { key: x, .. }) => x <= m,
            (Self::NotEqual(m), Subject::Number(x) | Subject::Instant { key: x, .. }) => x != m,
            (Self::MultipleOf(m), Subject::Number(x)) => {
                let q = x / m;
                (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
            }
            (Self::Range(lo, hi), Subject::Number(x)) => x >= lo && x <= hi,
            (Self::MinLength(n), Subject::Text(s)) => s.chars().count() as u64 >= *n,
            (Self::MaxLength(n), Subject::Text(s)) => s.chars().count() as u64 <= *n,
            (Self::Pattern(re), Subject::Text(s)) => re.is_match(s),
            (Self::Format(f), Subject::Text(s)) => f.holds(s),
            (Self::MinItems(n), Subject::Array(a)) => a.len() as u64 >= *n,
            (Self::MaxItems(n), Subject::Array(a)) => a.len() as u64 <= *n,
            (Self::UniqueItems, Subject::Array(a)) => {
                let mut seen = std::collections::HashSet::with_capacity(a.len());
                a.iter().all(|x| seen.insert(x.to_string()))
            }
            (Self::MinProperties(n), Subject::Object(o)) => o.len() as u64 >= *n,
            (Self::MaxProperties(n), Subject::Object(o)) => o.len() as u64 <= *n,
            (Self::RequiredKeys(keys), Subject::Object(o)) => keys.iter().all(|k| o.contains_key(k)),
            (Self::Zoned(want), Subject::Instant { zoned, .. }) => zoned == want,
            _ => true,
        }
    }
}

impl TextFormat {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "email" => Self::Email,
            "uri" | "url" => Self::Uri,
            "uuid" => Self::Uuid,
            "date" => Self::Date,
            "date-time" => Self::DateTime,
            "time" => Self::Time,
            "ipv4" => Self::Ipv4,
            "ipv6" => Self::Ipv6,
            _ => return None,
        })
    }

    pub fn holds(self, s: &str) -> bool {
        match self {
            // One `@`, a local part, and a domain with a dot; no spaces.
            Self::Email => s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|l| !l.is_empty())
                    && !s.chars().any(char::is_whitespace)
            }),
            // An absolute URI: a scheme (a letter, then letters, digits, `+-.`), `:`, and more, no spaces.
            Self::Uri => s.split_once(':').is_some_and(|(scheme, rest)| {
                scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && !rest.is_empty()
                    && !s.chars().any(char::is_whitespace)
            }),
            Self::Uuid => s.len() == 36 && uuid::Uuid::parse_str(s).is_ok(),
            Self::Date => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
            Self::DateTime => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            Self::Time => s.len() >= 8 && chrono::NaiveTime::parse_from_str(s, "%H:%M:%S%.f").is_ok(),
            Self::Ipv4 => s.parse::<std::net::Ipv4Addr>().is_ok(),
            Self::Ipv6 => s.parse::<std::net::Ipv6Addr>().is_ok(),
        }
    }
}

/// The key a date, timestamp or time is compared by.
pub fn instant_key(lt: LogicalType, reading: &Reading, s: &str) -> Option<(f64, bool)> {
    use chrono::{Datelike, Timelike};
    match lt {
        LogicalType::Date => reading.date(s).map(|d| (f64::from(d.num_days_from_ce()), false)),
        LogicalType::Timestamp => reading.timestamp(s).map(|(t, zoned)| (t.timestamp_micros() as f64 / 1e6, zoned)),
        LogicalType::Time => reading.time(s).map(|t| (f64::from(t.num_seconds_from_midnight()) + f64::from(t.nanosecond()) / 1e9, false)),
        _ => None,
    }
}

/// The range an integer or number `format` can hold.
fn width(lt: LogicalType, name: &str) -> Option<(f64, f64)> {
    let signed = |bits: i32| (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0);
    let unsigned = |bits: i32| (0.0, 2f64.powi(bits) - 1.0);
    Some(match (lt, name) {
        (LogicalType::Integer, "i8") => signed(8),
        (LogicalType::Integer, "i16") => signed(16),
        (LogicalType::Integer, "i32") => signed(32),
        (LogicalType::Integer, "i64") => signed(64),
        (LogicalType::Integer, "i128") => signed(128),
        (LogicalType::Integer, "u8") => unsigned(8),
        (LogicalType::Integer, "u16") => unsigned(16),
        (LogicalType::Integer, "u32") => unsigned(32),
        (LogicalType::Integer, "u64") => unsigned(64),
        (LogicalType::Integer, "u128") => unsigned(128),
        (LogicalType::Number, "f32") => (-f64::from(f32::MAX), f64::from(f32::MAX)),
        (LogicalType::Number, "f64") => (f64::MIN, f64::MAX),
        _ => return None,
    })
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

fn count(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// Reads a property's `logicalTypeOptions` (at pointer `p`) for its logical type.
pub fn parse(lt: LogicalType, options: &Map<String, Value>, p: &str) -> Parsed {
    let mut out = Parsed::default();
    let at = |k: &str| format!("{p}/{k}");
    let numeric = matches!(lt, LogicalType::Integer | LogicalType::Number);
    let temporal = matches!(lt, LogicalType::Date | LogicalType::Timestamp | LogicalType::Time);
    // `format` and `defaultTimezone` decide how bounds are read: first.
    if temporal {
        if let Some(v) = options.get("format") {
            match v.as_str().map(temporal::from_jdk) {
                Some(Ok(f)) => out.reading.format = Some(f),
                Some(Err(what)) => out.notes.push(Note {
                    pointer: at("format"),
                    message: format!("logicalTypeOptions `format: {v}` cannot be read ({what}); values are read as ISO 8601"),
                    error: false,
                }),
                None => {
                    out.notes.push(Note { pointer: at("format"), message: "logicalTypeOptions `format` must be text".into(), error: true })
                }
            }
        }
        if let Some(v) = options.get("defaultTimezone").filter(|_| lt == LogicalType::Timestamp) {
            match v.as_str().map(str::parse::<chrono_tz::Tz>) {
                Some(Ok(z)) => out.reading.zone = Some(z),
                _ => out.notes.push(Note {
                    pointer: at("defaultTimezone"),
                    message: format!("logicalTypeOptions `defaultTimezone: {v}` is not an IANA time zone (e.g. Europe/London, Etc/UTC)"),
                    error: true,
                }),
            }
        }
    }
    // The tightest lower and upper bounds, each with its text as written.
    let mut bounds: [Option<(f64, String)>; 2] = [None, None];
    // ODCS v3.0 writes `exclusiveMinimum: true` beside `minimum`; v3.1 gives the bound itself.
    let exclusive_flag = |k: &str| options.get(k).and_then(Value::as_bool).unwrap_or(false);
    for (k, v) in options {
        let mut push =
            |rule: &'static str, check: Check, shown: String| out.options.push(ValueOption { rule, check, pointer: at(k), shown });
        let mut note = |message: String, error: bool| out.notes.push(Note { pointer: at(k), message, error });
        match (k.as_str(), lt) {
            ("minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum", _) if numeric || temporal => {
                let lower = k == "minimum" || k == "exclusiveMinimum";
                let exclusive = k.starts_with("exclusive");
                if exclusive && v.is_boolean() {
                    let paired = if lower { "minimum" } else { "maximum" };
                    if !options.contains_key(paired) {
                        note(format!("logicalTypeOptions `{k}: {v}` has no `{paired}` to apply to"), false);
                    }
                    continue;
                }
                let key = if numeric { number(v) } else { v.as_str().and_then(|s| instant_key(lt, &out.reading, s)).map(|(x, _)| x) };
                let Some(x) = key else {
                    let what =
                        if numeric { "a number".to_string() } else { format!("a {} as the property's values are written", lt.name()) };
                    let v30 = if numeric && exclusive { " (or, in ODCS v3.0, true or false)" } else { "" };
                    note(format!("logicalTypeOptions `{k}` must be {what}{v30}, not {v}"), true);
                    continue;
                };
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                // As datacontract-cli checks an exclusive bound: the bound itself, and not equal to it.
                let v30_exclusive = !exclusive && exclusive_flag(if lower { "exclusiveMinimum" } else { "exclusiveMaximum" });
                if lower {
                    push("minimum", Check::Min(x), format!(">= {text}"));
                    if bounds[0].as_ref().is_none_or(|(b, _)| x > *b) {
                        bounds[0] = Some((x, text.clone()));
                    }
                } else {
                    push("maximum", Check::Max(x), format!("<= {text}"));
                    if bounds[1].as_ref().is_none_or(|(b, _)| x < *b) {
                        bounds[1] = Some((x, text.clone()));
                    }
                }
                if exclusive || v30_exclusive {
                    push("notEqual", Check::NotEqual(x), format!("!= {text}"));
                }
            }
            ("multipleOf", LogicalType::Integer | LogicalType::Number) => match number(v) {
                Some(x) if x > 0.0 => push("multipleOf", Check::MultipleOf(x), format!("multiple of {x}")),
                _ => note("logicalTypeOptions `multipleOf` must be a number above 0".into(), true),
            },
            ("format", LogicalType::Integer | LogicalType::Number) => match v.as_str().and_then(|f| width(lt, f).map(|r| (f, r))) {
                Some((f, (lo, hi))) => push("format", Check::Range(lo, hi), format!("format {f}")),
                None => note(
                    format!(
                        "logicalTypeOptions `format: {v}` is not a {} format ({})",
                        lt.name(),
                        if lt == LogicalType::Integer { "i8 … i128, u8 … u128" } else { "f32, f64" }
                    ),
                    true,
                ),
            },
            ("format", LogicalType::Date | LogicalType::Timestamp | LogicalType::Time) => {}
            ("defaultTimezone", LogicalType::Timestamp) => {}
            ("timezone", LogicalType::Timestamp) => match v.as_bool() {
                Some(b) => push("timezone", Check::Zoned(b), if b { "with an offset".into() } else { "without an offset".into() }),
                None => note("logicalTypeOptions `timezone` must be true or false".into(), true),
            },
            ("minLength" | "maxLength", LogicalType::String) => match count(v) {
                Some(n) if k == "minLength" => push("minLength", Check::MinLength(n), format!("length >= {n}")),
                Some(n) => push("maxLength", Check::MaxLength(n), format!("length <= {n}")),
                None => note(format!("logicalTypeOptions `{k}` must be a whole number of 0 or more, not {v}"), true),
            },
            ("pattern", LogicalType::String) => match v.as_str().map(regex::Regex::new) {
                Some(Ok(re)) => push("pattern", Check::Pattern(re), format!("matches {}", v.as_str().unwrap_or_default())),
                Some(Err(e)) => {
                    note(format!("logicalTypeOptions `pattern` is not a valid regular expression: {}", last_line(&e.to_string())), true)
                }
                None => note("logicalTypeOptions `pattern` must be text".into(), true),
            },
            ("format", LogicalType::String) => match v.as_str().and_then(TextFormat::of) {
                Some(f) => push("format", Check::Format(f), format!("format {}", v.as_str().unwrap_or_default())),
                None => note(
                    format!("logicalTypeOptions `format: {v}` is not enforced (email, uri, uuid, date, date-time, time, ipv4, ipv6 are)"),
                    false,
                ),
            },
            ("minItems" | "maxItems", LogicalType::Array) => match count(v) {
                Some(n) if k == "minItems" => push("minItems", Check::MinItems(n), format!("items >= {n}")),
                Some(n) => push("maxItems", Check::MaxItems(n), format!("items <= {n}")),
                None => note(format!("logicalTypeOptions `{k}` must be a whole number of 0 or more, not {v}"), true),
            },
            ("uniqueItems", LogicalType::Array) => match v.as_bool() {
                Some(true) => push("uniqueItems", Check::UniqueItems, "unique items".into()),
                Some(false) => {}
                None => note("logicalTypeOptions `uniqueItems` must be true or false".into(), true),
            },
            ("minProperties" | "maxProperties", LogicalType::Object) => match count(v) {
                Some(n) if k == "minProperties" => push("minProperties", Check::MinProperties(n), format!("keys >= {n}")),
                Some(n) => push("maxProperties", Check::MaxProperties(n), format!("keys <= {n}")),
                None => note(format!("logicalTypeOptions `{k}` must be a whole number of 0 or more, not {v}"), true),
            },
            ("required", LogicalType::Object) => {
                match v.as_array().map(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()) {
                    Some(Some(keys)) if !keys.is_empty() => {
                        let shown = format!("has {}", keys.join(", "));
                        push("requiredKeys", Check::RequiredKeys(keys), shown)
                    }
                    _ => note("logicalTypeOptions `required` must be a list of key names".into(), true),
                }
            }
            _ => note(format!("logicalTypeOptions `{k}` is not enforced on a {} property", lt.name()), false),
        }
    }
    let pair =
        |a: &str, b: &str| (options.get(a).and_then(Value::as_u64), options.get(b).and_then(Value::as_u64), b.to_string(), a.to_string());
    for (lo, hi, hi_key, lo_key) in [pair("minLength", "maxLength"), pair("minItems", "maxItems"), pair("minProperties", "maxProperties")] {
        if let (Some(a), Some(b)) = (lo, hi) {
            if a > b && out.options.iter().any(|o| o.pointer == at(&hi_key)) {
                out.notes.push(Note {
                    pointer: at(&hi_key),
                    message: format!("logicalTypeOptions `{hi_key}` {b} is below `{lo_key}` {a}: no value can pass"),
                    error: true,
                });
            }
        }
    }
    if let [Some((a, lo)), Some((b, hi))] = bounds {
        if a > b {
            let key = if options.contains_key("maximum") { "maximum" } else { "exclusiveMaximum" };
            out.notes.push(Note {
                pointer: at(key),
                message: format!("logicalTypeOptions: the maximum {hi} is below the minimum {lo}: no value can pass"),
                error: true,
            });
        }
    }
    out
}

fn last_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(lt: LogicalType, v: Value) -> (Vec<ValueOption>, Vec<Note>) {
        let p = parse(lt, v.as_object().unwrap(), "/schema/0/properties/0/logicalTypeOptions");
        (p.options, p.notes)
    }

    fn rules(o: &[ValueOption]) -> Vec<&str> {
        o.iter().map(|x| x.rule).collect()
    }

    #[test]
    fn options_become_rules_by_type_and_wrong_ones_are_errors() {
        let (o, n) =
            read(LogicalType::Integer, json!({"minimum": 0, "maximum": 100, "exclusiveMaximum": 1000, "multipleOf": 5, "format": "u8"}));
        assert_eq!(rules(&o), vec!["maximum", "notEqual", "format", "maximum", "minimum", "multipleOf"]);
        assert!(n.is_empty(), "{n:?}");
        let (o, _) = read(LogicalType::Number, json!({"minimum": 1.5, "exclusiveMinimum": true}));
        assert_eq!(rules(&o), vec!["minimum", "notEqual"], "ODCS v3.0's boolean form");
        let (o, n) = read(LogicalType::String, json!({"minLength": 5, "maxLength": 20, "pattern": "^.+@.+$", "format": "email"}));
        assert_eq!(o.len(), 4);
        assert!(n.is_empty());
        let (o, n) = read(LogicalType::Date, json!({"minimum": "2026-01-01", "exclusiveMaximum": "2027-01-01"}));
        assert_eq!(rules(&o), vec!["maximum", "notEqual", "minimum"]);
        assert!(n.is_empty() && o[2].shown == ">= 2026-01-01", "{n:?}");
        let (o, n) =
            read(LogicalType::Timestamp, json!({"timezone": true, "defaultTimezone": "Europe/Paris", "format": "yyyy-MM-dd HH:mm:ss"}));
        assert_eq!(rules(&o), vec!["timezone"]);
        assert!(n.is_empty(), "{n:?}");
        let (o, _) = read(LogicalType::Array, json!({"minItems": 1, "maxItems": 3, "uniqueItems": true}));
        assert_eq!(rules(&o), vec!["maxItems", "minItems", "uniqueItems"]);
        let (o, _) = read(LogicalType::Object, json!({"minProperties": 1, "maxProperties": 3, "required": ["id"]}));
        assert_eq!(rules(&o), vec!["maxProperties", "minProperties", "requiredKeys"]);
        // Wrong: an error each, with its pointer.
        let (_, n) = read(LogicalType::String, json!({"pattern": "([a-z", "minLength": -1}));
        assert!(n.iter().all(|x| x.error) && n.len() == 2, "{n:?}");
        assert!(n.iter().any(|x| x.pointer.ends_with("/pattern") && x.message.contains("not a valid regular expression")));
        let (_, n) = read(LogicalType::Integer, json!({"minimum": 10, "maximum": 1}));
        assert!(n.iter().any(|x| x.error && x.message.contains("below the minimum")), "{n:?}");
        let (_, n) = read(LogicalType::Date, json!({"minimum": "2026-12-31", "maximum": "2026-01-01"}));
        assert!(n.iter().any(|x| x.error && x.message.contains("below the minimum")), "{n:?}");
        let (_, n) = read(LogicalType::String, json!({"minLength": 10, "maxLength": 2}));
        assert!(n.iter().any(|x| x.error && x.message.contains("below `minLength`")), "{n:?}");
        let (_, n) = read(LogicalType::Array, json!({"minItems": 4, "maxItems": 2}));
        assert!(n.iter().any(|x| x.error && x.message.contains("below `minItems`")), "{n:?}");
        let (_, n) = read(LogicalType::Date, json!({"minimum": "yesterday"}));
        assert!(n[0].error && n[0].message.contains("must be a date"), "{n:?}");
        let (_, n) = read(LogicalType::Timestamp, json!({"defaultTimezone": "Mars/Olympus"}));
        assert!(n[0].error && n[0].message.contains("IANA"), "{n:?}");
        let (_, n) = read(LogicalType::Integer, json!({"format": "i7"}));
        assert!(n[0].error, "{n:?}");
        // Not enforced: said, with the key.
        let (o, n) = read(LogicalType::Boolean, json!({"minItems": 1}));
        assert!(o.is_empty() && !n[0].error && n[0].message.contains("not enforced on a boolean"), "{n:?}");
        let (_, n) = read(LogicalType::String, json!({"format": "hostname"}));
        assert!(n[0].message.contains("not enforced"));
        let (_, n) = read(LogicalType::Date, json!({"format": "yyyy-ww"}));
        assert!(!n[0].error && n[0].message.contains("cannot be read"), "{n:?}");
    }

    #[test]
    fn values_are_checked_as_datacontract_cli_checks_them() {
        let num = Subject::Number;
        assert!(Check::Min(0.0).holds(&num(0.0)) && !Check::Min(0.0).holds(&num(-5.0)));
        assert!(Check::Max(100.0).holds(&num(100.0)) && !Check::Max(100.0).holds(&num(200.0)));
        assert!(!Check::NotEqual(3.0).holds(&num(3.0)));
        assert!(Check::MultipleOf(0.1).holds(&num(0.3)) && !Check::MultipleOf(5.0).holds(&num(7.0)));
        assert!(Check::Range(-128.0, 127.0).holds(&num(127.0)) && !Check::Range(-128.0, 127.0).holds(&num(128.0)));
        let text = Subject::Text;
        assert!(
            Check::MaxLength(20).holds(&text("alice@example.com")) && !Check::MaxLength(20).holds(&text("verylongaddress@example.com"))
        );
        assert!(Check::MinLength(3).holds(&text("héé")) && !Check::MinLength(4).holds(&text("héé")), "characters, not bytes");
        let re = regex::Regex::new("^.+@.+$").unwrap();
        assert!(Check::Pattern(re.clone()).holds(&text("a@b")) && !Check::Pattern(re).holds(&text("no-at-sign")));
        assert!(Check::Pattern(regex::Regex::new("[0-9]").unwrap()).holds(&text("ab1")), "not anchored");
        let items = [json!(1), json!(1)];
        assert!(!Check::UniqueItems.holds(&Subject::Array(&items)) && Check::MaxItems(2).holds(&Subject::Array(&items)));
        let obj = json!({"id": 1});
        assert!(!Check::RequiredKeys(vec!["id".into(), "at".into()]).holds(&Subject::Object(obj.as_object().unwrap())));
        let reading = Reading::default();
        let (key, zoned) = instant_key(LogicalType::Timestamp, &reading, "2026-01-01 00:00:00").unwrap();
        assert!(!zoned && !Check::Zoned(true).holds(&Subject::Instant { key, zoned }));
        let (lo, _) = instant_key(LogicalType::Date, &reading, "2026-01-01").unwrap();
        let (d, _) = instant_key(LogicalType::Date, &reading, "2025-12-31").unwrap();
        assert!(!Check::Min(lo).holds(&Subject::Instant { key: d, zoned: false }));
        let (t, _) = instant_key(LogicalType::Time, &reading, "23:59:59.5").unwrap();
        assert!((t - 86_399.5).abs() < 1e-9);
        for (f, good, bad) in [
            (TextFormat::Email, "a.b@example.org", "a@b"),
            (TextFormat::Uri, "https://example.org/x", "example.org"),
            (TextFormat::Uuid, "6aeafdc1-ed62-4c8f-bf0a-da1061c98cdb", "6aeafdc1"),
            (TextFormat::Date, "2026-02-28", "2026-02-30"),
            (TextFormat::DateTime, "2026-11-30T06:00:00Z", "2026-11-30 06:00"),
            (TextFormat::Time, "06:00:00", "6:00"),
            (TextFormat::Ipv4, "10.40.0.1", "10.40.0.256"),
            (TextFormat::Ipv6, "fe80::1", "fe80:::1"),
        ] {
            assert!(f.holds(good) && !f.holds(bad), "{f:?}");
        }
    }
}
