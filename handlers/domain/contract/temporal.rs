//! How date, timestamp and time values are read: ISO 8601 by default, or the `format` a contract
//! gives in `logicalTypeOptions` (a JDK `DateTimeFormatter` pattern, translated to chrono's), and
//! a timestamp without an offset read in the property's `defaultTimezone` (UTC unless given).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How one property's values are read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// A chrono format (from `logicalTypeOptions.format`); None: ISO 8601.
    pub format: Option<String>,
    /// The zone of a timestamp written without an offset (`defaultTimezone`); None: UTC.
    pub zone: Option<Tz>,
}

impl Reading {
    pub fn date(&self, s: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(s.trim(), self.format.as_deref().unwrap_or("%Y-%m-%d")).ok()
    }

    /// A time of day: `HH:MM:SS[.f]` (SQL `TIME`) unless a format says otherwise.
    pub fn time(&self, s: &str) -> Option<NaiveTime> {
        let s = s.trim();
        match &self.format {
            Some(f) => NaiveTime::parse_from_str(s, f).ok(),
            None => (s.len() >= 8 && s.as_bytes()[2] == b':').then(|| NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()).flatten(),
        }
    }

    /// The instant, and whether the text carried its own offset.
    pub fn timestamp(&self, s: &str) -> Option<(DateTime<Utc>, bool)> {
        let s = s.trim();
        let naive = match &self.format {
            Some(f) if f.contains("%z") || f.contains("%:z") || f.contains("%#z") => {
                return DateTime::parse_from_str(s, f).ok().map(|t| (t.with_timezone(&Utc), true));
            }
            Some(f) => NaiveDateTime::parse_from_str(s, f).ok()?,
            None => {
                if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                    return Some((t.with_timezone(&Utc), true));
                }
                if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z") {
                    return Some((t.with_timezone(&Utc), true));
                }
                let plain = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"].iter().find_map(|f| NaiveDateTime::parse_from_str(s, f).ok());
                match plain {
                    Some(n) => n,
                    None => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0)?,
                }
            }
        };
        let utc = match self.zone {
            // In a zone's autumn overlap the earlier instant; in its spring gap, none exists.
            Some(z) => z.from_local_datetime(&naive).earliest()?.with_timezone(&Utc),
            None => naive.and_utc(),
        };
        Some((utc, false))
    }
}

/// Translates a JDK `DateTimeFormatter` pattern to chrono's, or says which letter it cannot read.
pub fn from_jdk(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        match c {
            '\'' => {
                // A quoted literal; '' is a quote.
                let end = chars[i + 1..].iter().position(|x| *x == '\'').map(|p| i + 1 + p).ok_or("an unclosed quote")?;
                if end == i + 1 {
                    out.push('\'');
                }
                for c in &chars[i + 1..end] {
                    if *c == '%' {
                        out.push('%');
                    }
                    out.push(*c);
                }
                i = end + 1;
                continue;
            }
            'y' | 'u' if n == 2 => out.push_str("%y"),
            'y' | 'u' => out.push_str("%Y"),
            'M' if n >= 4 => out.push_str("%B"),
            'M' if n == 3 => out.push_str("%b"),
            'M' => out.push_str("%m"),
            'd' => out.push_str("%d"),
            'D' => out.push_str("%j"),
            'H' => out.push_str("%H"),
            'h' => out.push_str("%I"),
            'm' => out.push_str("%M"),
            's' => out.push_str("%S"),
            'S' if matches!(n, 3 | 6 | 9) => out.push_str(&format!("%{n}f")),
            'a' => out.push_str("%p"),
            'E' if n >= 4 => out.push_str("%A"),
            'E' => out.push_str("%a"),
            'X' | 'x' if n >= 3 => out.push_str("%:z"),
            'X' | 'x' | 'Z' => out.push_str("%z"),
            '%' => out.push_str("%%"),
            c if c.is_ascii_alphabetic() => return Err(format!("the pattern letter `{}`", c.to_string().repeat(n))),
            c => out.extend(std::iter::repeat_n(c, n)),
        }
        i += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdk_patterns_translate_or_name_the_letter() {
        assert_eq!(from_jdk("yyyy-MM-dd").unwrap(), "%Y-%m-%d");
        assert_eq!(from_jdk("dd.MM.yyyy HH:mm:ss").unwrap(), "%d.%m.%Y %H:%M:%S");
        assert_eq!(from_jdk("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").unwrap(), "%Y-%m-%dT%H:%M:%S.%3f%:z");
        assert_eq!(from_jdk("HH:mm").unwrap(), "%H:%M");
        assert!(from_jdk("yyyy-ww").unwrap_err().contains("`ww`"));
        assert!(from_jdk("yyyy 'week").is_err());
    }

    #[test]
    fn values_are_read_with_the_format_and_the_zone() {
        let iso = Reading::default();
        assert!(iso.date("2026-02-28").is_some() && iso.date("28.02.2026").is_none());
        let dotted = Reading { format: Some(from_jdk("dd.MM.yyyy").unwrap()), zone: None };
        assert_eq!(dotted.date("28.02.2026"), NaiveDate::from_ymd_opt(2026, 2, 28));
        assert!(iso.time("06:00:00.5").is_some() && iso.time("6:00").is_none());
        let (t, zoned) = iso.timestamp("2026-11-30T06:00:00+01:00").unwrap();
        assert!(zoned && t.to_rfc3339() == "2026-11-30T05:00:00+00:00");
        let (t, zoned) = iso.timestamp("2026-11-30 06:00:00").unwrap();
        assert!(!zoned && t.to_rfc3339() == "2026-11-30T06:00:00+00:00");
        let paris = Reading { format: None, zone: Some(chrono_tz::Europe::Paris) };
        assert_eq!(paris.timestamp("2026-11-30 06:00:00").unwrap().0.to_rfc3339(), "2026-11-30T05:00:00+00:00");
        assert!(paris.timestamp("2026-03-29 02:30:00").is_none(), "inside the spring gap");
    }
}
