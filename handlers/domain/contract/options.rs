//! A property's `logicalTypeOptions` (ODCS v3): the value constraints flowgate enforces, each a
//! rule of its own named as datacontract-cli names its check (`minimum`, `maximum`, `notEqual`,
//! `minLength`, `maxLength`, `pattern`), plus `format` and `multipleOf`, which datacontract-cli
//! does not check. Null values are left to `required`; a value that is not of the logical type is
//! a type failure, not a constraint failure. An option that cannot be enforced on its type is
//! named by lint; an option that is wrong (a pattern that does not compile, a minimum above the
//! maximum, a negative length) is an error.

use serde_json::{Map, Value};

use super::model::LogicalType;

/// One enforced option.
#[derive(Debug, Clone)]
pub struct ValueOption {
    /// The rule's name in results (datacontract-cli's check, without `field_`).
    pub rule: &'static str,
    pub check: Check,
    /// The option's JSON pointer in the contract.
    pub pointer: String,
}

/// What a value must satisfy.
#[derive(Debug, Clone)]
pub enum Check {
    Min(f64),
    Max(f64),
    NotEqual(f64),
    MultipleOf(f64),
    MinLength(u64),
    MaxLength(u64),
    /// Matches somewhere in the value (JSON Schema's and datacontract-cli's reading: not anchored).
    Pattern(regex::Regex),
    Format(TextFormat),
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

impl Check {
    /// For the threshold column of results.
    pub fn describe(&self) -> String {
        match self {
            Self::Min(x) => format!(">= {x}"),
            Self::Max(x) => format!("<= {x}"),
            Self::NotEqual(x) => format!("!= {x}"),
            Self::MultipleOf(x) => format!("multiple of {x}"),
            Self::MinLength(n) => format!("length >= {n}"),
            Self::MaxLength(n) => format!("length <= {n}"),
            Self::Pattern(re) => format!("matches {}", re.as_str()),
            Self::Format(f) => format!("format {f:?}").to_lowercase(),
        }
    }

    /// Whether a number satisfies it (checks on text hold for any number).
    pub fn number_ok(&self, x: f64) -> bool {
        match self {
            Self::Min(m) => x >= *m,
            Self::Max(m) => x <= *m,
            Self::NotEqual(m) => x != *m,
            Self::MultipleOf(m) => {
                let q = x / m;
                (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
            }
            _ => true,
        }
    }

    /// Whether a text satisfies it.
    pub fn text_ok(&self, s: &str) -> bool {
        match self {
            Self::MinLength(n) => s.chars().count() as u64 >= *n,
            Self::MaxLength(n) => s.chars().count() as u64 <= *n,
            Self::Pattern(re) => re.is_match(s),
            Self::Format(f) => f.holds(s),
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

fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

/// Reads a property's `logicalTypeOptions` (at pointer `p`) for its logical type.
pub fn parse(lt: LogicalType, options: &Map<String, Value>, p: &str) -> (Vec<ValueOption>, Vec<Note>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let at = |k: &str| format!("{p}/{k}");
    let mut note = |k: &str, message: String, error: bool| notes.push(Note { pointer: at(k), message, error });
    let numeric = matches!(lt, LogicalType::Integer | LogicalType::Number);
    let textual = lt == LogicalType::String;
    let type_name = match lt {
        LogicalType::Other => "object or array".to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    // ODCS v3.0 writes `exclusiveMinimum: true` beside `minimum`; v3.1 gives the bound itself.
    let exclusive_flag = |k: &str| options.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut bounds: (Option<f64>, Option<f64>) = (None, None);
    for (k, v) in options {
        match (k.as_str(), numeric, textual) {
            ("minimum" | "maximum", true, _) => {
                let Some(x) = number(v) else {
                    note(k, format!("logicalTypeOptions `{k}` must be a number"), true);
                    continue;
                };
                let minimum = k == "minimum";
                if minimum {
                    bounds.0 = Some(x)
                } else {
                    bounds.1 = Some(x)
                }
                out.push(ValueOption {
                    rule: if minimum { "minimum" } else { "maximum" },
                    check: if minimum { Check::Min(x) } else { Check::Max(x) },
                    pointer: at(k),
                });
                if exclusive_flag(if minimum { "exclusiveMinimum" } else { "exclusiveMaximum" }) {
                    out.push(ValueOption { rule: "notEqual", check: Check::NotEqual(x), pointer: at(k) });
                }
            }
            ("exclusiveMinimum" | "exclusiveMaximum", true, _) if v.is_boolean() => {
                let paired = if k == "exclusiveMinimum" { "minimum" } else { "maximum" };
                if !options.contains_key(paired) {
                    note(k, format!("logicalTypeOptions `{k}: {v}` has no `{paired}` to apply to"), false);
                }
            }
            ("exclusiveMinimum" | "exclusiveMaximum", true, _) => {
                let Some(x) = number(v) else {
                    note(k, format!("logicalTypeOptions `{k}` must be a number (or, in ODCS v3.0, true or false)"), true);
                    continue;
                };
                let minimum = k == "exclusiveMinimum";
                // As datacontract-cli checks it: the bound itself, and not equal to it.
                out.push(ValueOption {
                    rule: if minimum { "minimum" } else { "maximum" },
                    check: if minimum { Check::Min(x) } else { Check::Max(x) },
                    pointer: at(k),
                });
                out.push(ValueOption { rule: "notEqual", check: Check::NotEqual(x), pointer: at(k) });
                if minimum {
                    bounds.0 = Some(bounds.0.map_or(x, |b| b.max(x)))
                } else {
                    bounds.1 = Some(bounds.1.map_or(x, |b| b.min(x)))
                }
            }
            ("multipleOf", true, _) => match number(v) {
                Some(x) if x > 0.0 => out.push(ValueOption { rule: "multipleOf", check: Check::MultipleOf(x), pointer: at(k) }),
                _ => note(k, "logicalTypeOptions `multipleOf` must be a number above 0".into(), true),
            },
            ("minLength" | "maxLength", _, true) => match v.as_u64() {
                Some(n) => out.push(ValueOption {
                    rule: if k == "minLength" { "minLength" } else { "maxLength" },
                    check: if k == "minLength" { Check::MinLength(n) } else { Check::MaxLength(n) },
                    pointer: at(k),
                }),
                None => note(k, format!("logicalTypeOptions `{k}` must be a whole number of 0 or more, not {v}"), true),
            },
            ("pattern", _, true) => match v.as_str().map(regex::Regex::new) {
                Some(Ok(re)) => out.push(ValueOption { rule: "pattern", check: Check::Pattern(re), pointer: at(k) }),
                Some(Err(e)) => {
                    note(k, format!("logicalTypeOptions `pattern` is not a valid regular expression: {}", last_line(&e.to_string())), true)
                }
                None => note(k, "logicalTypeOptions `pattern` must be text".into(), true),
            },
            ("format", _, true) => match v.as_str().and_then(TextFormat::of) {
                Some(f) => out.push(ValueOption { rule: "format", check: Check::Format(f), pointer: at(k) }),
                None => note(
                    k,
                    format!("logicalTypeOptions `format: {v}` is not enforced (email, uri, uuid, date, date-time, time, ipv4, ipv6 are)"),
                    false,
                ),
            },
            _ => note(k, format!("logicalTypeOptions `{k}` is not enforced on a {type_name} property"), false),
        }
    }
    let lengths = (options.get("minLength").and_then(Value::as_u64), options.get("maxLength").and_then(Value::as_u64));
    if let (Some(a), Some(b)) = lengths {
        if textual && a > b {
            notes.push(Note {
                pointer: at("maxLength"),
                message: format!("logicalTypeOptions `maxLength` {b} is below `minLength` {a}: no value can pass"),
                error: true,
            });
        }
    }
    if let (Some(a), Some(b)) = bounds {
        if a > b {
            notes.push(Note {
                pointer: at("maximum"),
                message: format!("logicalTypeOptions: the maximum {b} is below the minimum {a}: no value can pass"),
                error: true,
            });
        }
    }
    (out, notes)
}

fn last_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(lt: LogicalType, v: Value) -> (Vec<ValueOption>, Vec<Note>) {
        parse(lt, v.as_object().unwrap(), "/schema/0/properties/0/logicalTypeOptions")
    }

    #[test]
    fn options_become_rules_by_type_and_wrong_ones_are_errors() {
        let (o, n) = read(LogicalType::Integer, json!({"minimum": 0, "maximum": 100, "exclusiveMaximum": 1000, "multipleOf": 5}));
        assert_eq!(o.iter().map(|x| x.rule).collect::<Vec<_>>(), vec!["maximum", "notEqual", "maximum", "minimum", "multipleOf"]);
        assert!(n.is_empty(), "{n:?}");
        let (o, _) = read(LogicalType::Number, json!({"minimum": 1.5, "exclusiveMinimum": true}));
        assert_eq!(o.iter().map(|x| x.rule).collect::<Vec<_>>(), vec!["minimum", "notEqual"], "ODCS v3.0's boolean form");
        let (o, n) = read(LogicalType::String, json!({"minLength": 5, "maxLength": 20, "pattern": "^.+@.+$", "format": "email"}));
        assert_eq!(o.len(), 4);
        assert!(n.is_empty());
        // Wrong: an error each, with its pointer.
        let (_, n) = read(LogicalType::String, json!({"pattern": "([a-z", "minLength": -1}));
        assert!(n.iter().all(|x| x.error) && n.len() == 2, "{n:?}");
        assert!(n.iter().any(|x| x.pointer.ends_with("/pattern") && x.message.contains("not a valid regular expression")));
        let (_, n) = read(LogicalType::Integer, json!({"minimum": 10, "maximum": 1}));
        assert!(n.iter().any(|x| x.error && x.message.contains("below the minimum")), "{n:?}");
        let (_, n) = read(LogicalType::String, json!({"minLength": 10, "maxLength": 2}));
        assert!(n.iter().any(|x| x.error && x.message.contains("below `minLength`")), "{n:?}");
        // Not enforced: said, with the key.
        let (o, n) = read(LogicalType::Other, json!({"minItems": 1, "format": "i32"}));
        assert!(o.is_empty());
        assert_eq!(n.iter().filter(|x| !x.error).count(), 2);
        let (_, n) = read(LogicalType::String, json!({"format": "hostname"}));
        assert!(n[0].message.contains("not enforced"));
    }

    #[test]
    fn values_are_checked_as_datacontract_cli_checks_them() {
        assert!(Check::Min(0.0).number_ok(0.0) && !Check::Min(0.0).number_ok(-5.0));
        assert!(Check::Max(100.0).number_ok(100.0) && !Check::Max(100.0).number_ok(200.0));
        assert!(!Check::NotEqual(3.0).number_ok(3.0));
        assert!(Check::MultipleOf(0.1).number_ok(0.3) && !Check::MultipleOf(5.0).number_ok(7.0));
        assert!(Check::MaxLength(20).text_ok("alice@example.com") && !Check::MaxLength(20).text_ok("verylongaddress@example.com"));
        assert!(Check::MinLength(3).text_ok("héé") && !Check::MinLength(4).text_ok("héé"), "characters, not bytes");
        let re = regex::Regex::new("^.+@.+$").unwrap();
        assert!(Check::Pattern(re.clone()).text_ok("a@b") && !Check::Pattern(re).text_ok("no-at-sign"));
        assert!(Check::Pattern(regex::Regex::new("[0-9]").unwrap()).text_ok("ab1"), "not anchored");
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
