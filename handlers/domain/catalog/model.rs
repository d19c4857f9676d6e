//! The resolved catalog: names parsed, schedules compiled, durations and policies filled in from
//! the defaults. Everything downstream of `check` works on these types.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use serde_json::Value;

use crate::domain::ids::{DatasetId, JobId};
use crate::domain::retry::RetryPolicy;
use crate::domain::schedule::Ncrontab;

pub use super::spec::{DataFormat, JobKind, OverlapPolicy};

/// A valid catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub timezone: Tz,
    pub datasets: BTreeMap<DatasetId, Dataset>,
    pub jobs: BTreeMap<JobId, Job>,
    /// The release policy (the defaults when the catalog has no `releases:` section).
    pub releases: crate::domain::release::ReleasePolicy,
}

/// Where a dataset's blobs land: a container and a path prefix inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub container: String,
    /// Empty, or ends with `/`.
    pub prefix: String,
}

impl Location {
    /// Parses `container/prefix/...`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().trim_start_matches('/');
        let (container, prefix) = s.split_once('/').unwrap_or((s, ""));
        let ok = (3..=63).contains(&container.len())
            && container.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !container.starts_with('-')
            && !container.ends_with('-');
        if !ok {
            return Err(format!(
                "`{container}` is not a valid container name (3-63 lowercase letters, digits and `-`, as in Azure Storage); write `container/prefix/`"
            ));
        }
        if prefix.split('/').any(|seg| seg == "..") {
            return Err("a location must not contain `..`".into());
        }
        let mut prefix = prefix.to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Self { container: container.to_string(), prefix })
    }

    /// Whether a blob at `container`/`path` belongs here.
    pub fn contains(&self, container: &str, path: &str) -> bool {
        container == self.container && path.starts_with(&self.prefix)
    }
}

/// A dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub id: DatasetId,
    pub location: Location,
    pub format: DataFormat,
    /// Absolute or catalog-relative path of the ODCS contract.
    pub contract: Option<PathBuf>,
    /// Its contract may have no part flowgate does not enforce (`contracts: {strict: true}`).
    pub strict_contract: bool,
    pub expected_every: Option<Duration>,
    pub owner: Option<String>,
}

/// What starts a job's runs.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A schedule slot.
    Schedule(Ncrontab),
    /// The arrival of a blob of a dataset.
    Arrival(DatasetId),
    /// Only its dependencies finishing.
    Dependencies,
}

/// How a run's requests are built (see `spec::RequestSpec`).
#[derive(Debug, Clone, Default)]
pub struct RequestTemplate {
    pub fields: BTreeMap<String, String>,
    pub key: Option<String>,
    pub body: Option<serde_json::Map<String, Value>>,
}

/// Circuit breaker settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    pub consecutive_failures: u32,
    pub cooldown: Duration,
    pub failure_ratio: f64,
    pub window: Duration,
    pub min_calls: u32,
    pub half_open_probes: u32,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            cooldown: Duration::from_secs(900),
            failure_ratio: 0.5,
            window: Duration::from_secs(86_400),
            min_calls: 4,
            half_open_probes: 1,
        }
    }
}

/// A run's deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    pub complete_within: Option<Duration>,
    /// Local time of day, minutes after midnight.
    pub by_minute_of_day: Option<u32>,
    pub warn_before: Option<Duration>,
}

/// Readiness gates.
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    pub contracts: bool,
    pub freshness: bool,
}

/// Which missed slots run after downtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    None,
    Latest,
    All { window: Duration, max: u32 },
}

/// Waiting for dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DependencyWait {
    /// Give up this long after the logical time.
    pub limit: Duration,
    /// Accept upstream runs this long before the logical time (zero: the same slot only).
    pub window: Duration,
}

impl Default for DependencyWait {
    fn default() -> Self {
        Self { limit: Duration::from_secs(6 * 3600), window: Duration::ZERO }
    }
}

/// A job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    /// The endpoint template (`${NAME}` expanded when a run starts).
    pub endpoint: String,
    pub deployment: Option<String>,
    /// The online endpoint's ARM URL, for blue/green switches (unexpanded `${NAME}` allowed).
    pub management: Option<String>,
    /// Evaluation jobs: the eval's id (a template like `endpoint`).
    pub evaluation: Option<String>,
    /// Long-running kinds: how often PollJob asks for the status.
    pub poll_every: Duration,
    pub owner: Option<String>,
    pub trigger: Trigger,
    pub timezone: Tz,
    pub depends_on: Vec<JobId>,
    pub inputs: Vec<DatasetId>,
    pub outputs: Vec<DatasetId>,
    pub request: RequestTemplate,
    pub sla: Option<Sla>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub breaker: BreakerPolicy,
    pub gates: Gates,
    pub enabled: bool,
    pub catch_up: CatchUp,
    pub overlap: OverlapPolicy,
    pub wait: DependencyWait,
}

impl Catalog {
    /// The dataset a blob belongs to: the one with the longest matching location prefix.
    pub fn dataset_for_blob(&self, container: &str, path: &str) -> Option<&Dataset> {
        self.datasets.values().filter(|d| d.location.contains(container, path)).max_by_key(|d| d.location.prefix.len())
    }

    /// Enabled jobs that run only after `upstream` (no schedule, no arrival trigger).
    pub fn dependents_of<'a>(&'a self, upstream: &'a JobId) -> impl Iterator<Item = &'a Job> + 'a {
        self.jobs.values().filter(move |j| j.enabled && matches!(j.trigger, Trigger::Dependencies) && j.depends_on.contains(upstream))
    }

    /// Enabled jobs triggered by arrivals of `dataset`.
    pub fn jobs_on_arrival<'a>(&'a self, dataset: &'a DatasetId) -> impl Iterator<Item = &'a Job> + 'a {
        self.jobs.values().filter(move |j| j.enabled && matches!(&j.trigger, Trigger::Arrival(d) if d == dataset))
    }
}

/// Replaces `${NAME}` and `${NAME:-default}` using `lookup`. Errors name the missing variable.
pub fn expand_settings(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("`{template}` has an unclosed `${{`"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("`${{{inner}}}` is not a setting reference; write `${{NAME}}` or `${{NAME:-default}}`"));
        }
        match lookup(name).filter(|v| !v.is_empty()).or_else(|| default.map(str::to_string)) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("app setting `{name}` is not set (referenced by `{template}`)")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_like_containers() {
        let l = Location::parse("landing/claims").unwrap();
        assert_eq!(l, Location { container: "landing".into(), prefix: "claims/".into() });
        assert!(l.contains("landing", "claims/2026/x.csv"));
        assert!(!l.contains("landing", "claimsx.csv"));
        assert!(Location::parse("Landing/x").is_err());
        assert!(Location::parse("ab").is_err());
        assert!(Location::parse("land/../etc").is_err());
        assert_eq!(Location::parse("out").unwrap().prefix, "");
    }

    #[test]
    fn settings_expand() {
        let env = |k: &str| (k == "URL").then(|| "http://x/score".to_string());
        assert_eq!(expand_settings("${URL}", &env).unwrap(), "http://x/score");
        assert_eq!(expand_settings("${NOPE:-http://d}", &env).unwrap(), "http://d");
        assert!(expand_settings("${NOPE}", &env).unwrap_err().contains("`NOPE`"));
        assert!(expand_settings("${URL", &env).is_err());
        assert!(expand_settings("${a b}", &env).is_err());
        assert_eq!(expand_settings("plain", &env).unwrap(), "plain");
    }
}
