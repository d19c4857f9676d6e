//! Identifier newtypes: names from the catalog and keys derived from them.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name must not be empty")]
    Empty,
    #[error("a name may be at most 64 characters long (this one has {0})")]
    TooLong(usize),
    #[error("`{name}` contains `{ch}`; names use letters, digits, `_`, `-` and `.` only")]
    BadChar { name: String, ch: char },
}

fn check_name(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    let n = s.chars().count();
    if n > 64 {
        return Err(NameError::TooLong(n));
    }
    if let Some(ch) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(NameError::BadChar { name: s.to_string(), ch });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses a catalog name: letters, digits, `_`, `-`, `.`; 1 to 64 characters.
            pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
                let s = s.into();
                check_name(&s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::parse(s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A job's name in the catalog.
    JobId
);
name_type!(
    /// A dataset's name in the catalog.
    DatasetId
);

/// Formats an instant the one way flowgate stores and compares it: RFC 3339, UTC, milliseconds,
/// fixed width (so that text order is time order).
pub fn instant_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The idempotency key of a run: one job at one logical time. Rendered `job@2026-11-27T09:15:00.000Z`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey {
    pub job: JobId,
    pub logical_time: DateTime<Utc>,
}

impl RunKey {
    pub fn new(job: JobId, logical_time: DateTime<Utc>) -> Self {
        Self { job, logical_time }
    }
    /// The row key under the job's partition: the logical time, sortable as text.
    pub fn row(&self) -> String {
        instant_key(self.logical_time)
    }
    /// Reads the `job@instant` form `Display` writes.
    pub fn parse(s: &str) -> Option<Self> {
        let (job, at) = s.rsplit_once('@')?;
        let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        Some(Self::new(JobId::parse(job).ok()?, at))
    }
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.job, self.row())
    }
}

/// The Functions host's id for one invocation (`X-Azure-Functions-InvocationId`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct InvocationId(String);

impl InvocationId {
    /// Keeps at most 128 printable ASCII characters of what the host sent; anything else is dropped
    /// so the id is always safe to log.
    pub fn from_header(raw: &str) -> Self {
        Self(raw.chars().filter(|c| c.is_ascii_graphic()).take(128).collect())
    }
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InvocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(JobId::parse("classify_correspondence-v2.1").is_ok());
        assert_eq!(JobId::parse(""), Err(NameError::Empty));
        assert!(matches!(JobId::parse("a b"), Err(NameError::BadChar { ch: ' ', .. })));
        assert!(matches!(JobId::parse("x".repeat(65)), Err(NameError::TooLong(65))));
    }

    #[test]
    fn run_key_renders_job_and_instant() {
        let t = DateTime::parse_from_rfc3339("2026-11-27T09:15:00.123+01:00").unwrap().with_timezone(&Utc);
        let k = RunKey::new(JobId::parse("j").unwrap(), t);
        assert_eq!(k.to_string(), "j@2026-11-27T08:15:00.123Z");
    }

    #[test]
    fn invocation_ids_are_sanitised() {
        assert_eq!(InvocationId::from_header("ab c\n\u{7}d").as_str(), "abcd");
    }
}
