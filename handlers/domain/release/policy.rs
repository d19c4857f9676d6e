//! A catalog's release policy, resolved: approvals and roles, automated checks, change windows and
//! freezes on a wall clock (an IANA zone, so a window means the same local hours across a DST
//! change), and the emergency path.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::ids::DatasetId;
use crate::domain::principal::roles;

/// The release policy of a catalog (the defaults when it has no `releases:` section).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleasePolicy {
    /// Whether the catalog has a `releases:` section.
    pub declared: bool,
    pub approvals: u32,
    pub approver_role: String,
    pub promoter_role: String,
    pub rollback_role: String,
    pub solo: bool,
    pub checks: ReleaseChecks,
    pub windows: Windows,
    pub emergency: Emergency,
    /// Canary rollouts of deployment changes (`None`: a promotion switches at once).
    pub rollout: Option<RolloutPolicy>,
}

/// How a deployment change is rolled out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutPolicy {
    /// The candidate's share of items, in basis points.
    pub share_bp: u64,
    pub canary: crate::domain::canary::CanaryPolicy,
}

impl Default for ReleasePolicy {
    fn default() -> Self {
        Self {
            declared: false,
            approvals: 1,
            approver_role: roles::RELEASE_APPROVER.into(),
            promoter_role: roles::RELEASE_APPROVER.into(),
            rollback_role: roles::RELEASE_APPROVER.into(),
            solo: false,
            checks: ReleaseChecks::default(),
            windows: Windows::default(),
            emergency: Emergency::default(),
            rollout: None,
        }
    }
}

/// Automated checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseChecks {
    pub contract_lint: bool,
    /// Dataset → sample file, relative to the catalog.
    pub samples: BTreeMap<DatasetId, String>,
    pub smoke: bool,
    pub evaluation: Option<EvaluationCheck>,
}

impl Default for ReleaseChecks {
    fn default() -> Self {
        Self { contract_lint: true, samples: BTreeMap::new(), smoke: true, evaluation: None }
    }
}

/// The offline evaluation gate: a pinned dataset and the comparison's parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationCheck {
    /// The dataset file, relative to the catalog (part of the release).
    pub dataset: String,
    pub id_column: String,
    pub alpha: f64,
    pub delta: f64,
    pub min_items: u64,
    pub floors: BTreeMap<String, f64>,
}

impl EvaluationCheck {
    pub fn options(&self) -> crate::domain::evaluation::GateOptions {
        crate::domain::evaluation::GateOptions {
            alpha: self.alpha,
            delta: self.delta,
            min_items: self.min_items,
            floors: self.floors.clone(),
        }
    }
}

/// A weekly window: on `days`, from `from` (included) to `to` (excluded), local time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Allow {
    pub days: Vec<Weekday>,
    pub from: NaiveTime,
    pub to: NaiveTime,
}

/// No promotions between two local date-times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freeze {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    pub reason: Option<String>,
}

/// Change windows and freezes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Windows {
    #[serde(serialize_with = "zone_name")]
    pub timezone: Tz,
    pub allow: Vec<Allow>,
    pub freeze: Vec<Freeze>,
}

fn zone_name<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

impl Default for Windows {
    fn default() -> Self {
        Self { timezone: Tz::UTC, allow: Vec::new(), freeze: Vec::new() }
    }
}

/// The emergency path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Emergency {
    pub role: String,
    #[serde(with = "secs")]
    pub review_within: Duration,
}

impl Default for Emergency {
    fn default() -> Self {
        Self { role: roles::RELEASE_EMERGENCY.into(), review_within: Duration::from_secs(72 * 3600) }
    }
}

mod secs {
    pub(super) fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::domain::duration::format_duration(*d))
    }
}

impl Windows {
    /// `Ok` when a promotion may happen at `now`; `Err` says which rule refuses it, in local time.
    pub fn admits(&self, now: DateTime<Utc>) -> Result<(), String> {
        let local = now.with_timezone(&self.timezone);
        let wall = local.naive_local();
        if let Some(f) = self.freeze.iter().find(|f| f.from <= wall && wall < f.to) {
            let why = f.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            return Err(format!(
                "{} {} is inside the freeze from {} to {}{why}",
                wall.format("%Y-%m-%d %H:%M"),
                self.timezone.name(),
                f.from.format("%Y-%m-%d %H:%M"),
                f.to.format("%Y-%m-%d %H:%M")
            ));
        }
        if self.allow.is_empty() || self.allow.iter().any(|a| a.contains(wall)) {
            return Ok(());
        }
        let listed: Vec<String> = self.allow.iter().map(Allow::describe).collect();
        Err(format!(
            "{} {} ({}) is outside every change window: {}",
            wall.format("%Y-%m-%d %H:%M"),
            self.timezone.name(),
            wall.weekday(),
            listed.join("; ")
        ))
    }

    /// The local wall time of an instant in the windows' zone (for messages).
    pub fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        self.timezone.from_utc_datetime(&t.naive_utc()).naive_local()
    }
}

impl Allow {
    fn contains(&self, wall: NaiveDateTime) -> bool {
        let (day, time) = (wall.weekday(), wall.time());
        let on = |d: Weekday| self.days.is_empty() || self.days.contains(&d);
        if self.from < self.to {
            on(day) && self.from <= time && time < self.to
        } else {
            // Crosses midnight: the evening of a listed day, or the morning after it.
            (on(day) && time >= self.from) || (on(day.pred()) && time < self.to)
        }
    }

    fn describe(&self) -> String {
        let days = if self.days.is_empty() {
            "every day".to_string()
        } else {
            self.days.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")
        };
        format!("{days} {}–{}", self.from.format("%H:%M"), self.to.format("%H:%M"))
    }
}

/// Parses a weekday: `mon`, `Monday`, … (any case).
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    let l = s.trim().to_ascii_lowercase();
    const NAMES: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    NAMES.iter().find(|(n, _)| l.len() >= 3 && n.starts_with(&l)).map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn london_office_hours() -> Windows {
        Windows {
            timezone: "Europe/London".parse().unwrap(),
            allow: vec![Allow {
                days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
                from: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                to: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            }],
            freeze: vec![Freeze {
                from: NaiveDateTime::parse_from_str("2026-12-21T00:00", "%Y-%m-%dT%H:%M").unwrap(),
                to: NaiveDateTime::parse_from_str("2027-01-04T00:00", "%Y-%m-%dT%H:%M").unwrap(),
                reason: Some("year end".into()),
            }],
        }
    }

    #[test]
    fn windows_follow_the_wall_clock_across_a_dst_change() {
        let w = london_office_hours();
        // Friday 27 March 2026, GMT: 08:30 UTC is 08:30 local (closed), 09:30 UTC is open.
        assert!(w.admits(at("2026-03-27T08:30:00Z")).is_err());
        assert!(w.admits(at("2026-03-27T09:30:00Z")).is_ok());
        // Monday 30 March 2026, BST (clocks went forward on the 29th): 08:30 UTC is 09:30 local.
        assert!(w.admits(at("2026-03-30T08:30:00Z")).is_ok());
        assert!(w.admits(at("2026-03-30T16:30:00Z")).unwrap_err().contains("17:30"), "16:30 UTC is 17:30 BST");
        // Back in October: Monday 26th is GMT again.
        assert!(w.admits(at("2026-10-26T16:30:00Z")).is_ok());
        // Sunday is never open.
        assert!(w.admits(at("2026-03-29T12:00:00Z")).unwrap_err().contains("outside every change window"));
    }

    #[test]
    fn a_freeze_refuses_even_inside_a_window() {
        let w = london_office_hours();
        let e = w.admits(at("2026-12-22T10:00:00Z")).unwrap_err();
        assert!(e.contains("freeze") && e.contains("year end"), "{e}");
        assert!(w.admits(at("2027-01-04T10:00:00Z")).is_ok());
    }

    #[test]
    fn a_window_may_cross_midnight() {
        let w = Windows {
            timezone: Tz::UTC,
            allow: vec![Allow {
                days: vec![Weekday::Sat],
                from: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
                to: NaiveTime::from_hms_opt(2, 0, 0).unwrap(),
            }],
            freeze: vec![],
        };
        assert!(w.admits(at("2026-11-28T23:00:00Z")).is_ok(), "Saturday 23:00");
        assert!(w.admits(at("2026-11-29T01:00:00Z")).is_ok(), "Sunday 01:00, the same window");
        assert!(w.admits(at("2026-11-29T23:00:00Z")).is_err(), "Sunday 23:00");
        assert!(Windows::default().admits(at("2026-11-29T23:00:00Z")).is_ok());
    }

    #[test]
    fn weekdays_parse() {
        assert_eq!(parse_weekday("Mon"), Some(Weekday::Mon));
        assert_eq!(parse_weekday("thursday"), Some(Weekday::Thu));
        assert_eq!(parse_weekday("th"), None);
        assert_eq!(parse_weekday("xyz"), None);
    }
}
