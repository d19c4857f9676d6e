//! Rollouts, pure: which side of a canary an item is on (a salted SHA-256 bucket, stable per item
//! and monotone in the share), and whether a blue/green traffic plan for a managed online endpoint
//! is one Azure ML accepts and flowgate can stand behind (release-gates.md §4).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::JobId;
use super::release::ReleaseId;

/// Buckets per rollout: a share is given in basis points (1 = 0.01 %).
pub const BUCKETS: u64 = 10_000;

/// The item's bucket: the first 8 bytes (big-endian) of
/// SHA-256("flowgate-rollout/v1\0" ‖ rollout id ‖ "\0" ‖ item key), mod 10,000.
pub fn bucket(rollout: &str, key: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"flowgate-rollout/v1\0");
    h.update(rollout.as_bytes());
    h.update(b"\0");
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// Whether the item goes to the canary at a share of `share_bp` basis points. Raising the share
/// only adds items: an item on the canary at a share stays on it at any larger share.
pub fn is_canary(rollout: &str, key: &str, share_bp: u64) -> bool {
    bucket(rollout, key) < share_bp.min(BUCKETS)
}

/// A canary in progress, as the active pointer carries it: which items of which jobs run on the
/// candidate release instead of the active (stable) one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    /// Salts the buckets: a new rollout draws a new sample of items.
    pub rollout: String,
    pub candidate: ReleaseId,
    /// The stable release (the active one when the canary started).
    pub stable: ReleaseId,
    /// The candidate's share of items, in basis points.
    pub share_bp: u64,
    /// The jobs whose items are split (those whose deployment the candidate changes).
    pub jobs: BTreeSet<JobId>,
    /// Per job: (stable deployment, canary deployment), for the record.
    #[serde(default)]
    pub deployments: BTreeMap<JobId, (String, String)>,
    pub started: DateTime<Utc>,
}

impl Canary {
    /// The release a new run of `job` for `item_key` runs on: the candidate for items in the
    /// canary's share, the stable release otherwise. Decided once, when the run is created, and
    /// stored with it (retries and replays reuse the run's release).
    pub fn route(&self, job: &JobId, item_key: &str) -> &ReleaseId {
        if self.jobs.contains(job) && is_canary(&self.rollout, item_key, self.share_bp) {
            &self.candidate
        } else {
            &self.stable
        }
    }
}

/// A share written as a percentage (`10`, `2.5`), in basis points; `Err` above 100 % or not above 0.
pub fn share_bp(percent: f64) -> Result<u64, String> {
    if !(percent > 0.0 && percent <= 100.0) {
        return Err(format!("a share of {percent} % is not above 0 % and at most 100 %"));
    }
    Ok((percent * 100.0).round() as u64)
}

/// An endpoint's traffic: live shares and at most one mirror, in percent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrafficPlan {
    pub traffic: BTreeMap<String, u32>,
    pub mirror: BTreeMap<String, u32>,
}

/// Why a traffic plan is refused, before any call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("live traffic sums to {0} %, not 100 %")]
    NotHundred(u32),
    #[error("traffic is mirrored to {0} deployments; Azure ML mirrors to one")]
    SeveralMirrors(usize),
    #[error("{deployment} would get {percent} % mirrored traffic; the most is 50 %")]
    MirrorTooLarge { deployment: String, percent: u32 },
    #[error("{0} is both live and mirrored; a deployment is one or the other")]
    LiveAndMirrored(String),
    #[error("flowgate pins every call to a deployment, and pinned calls are never mirrored: a mirror would receive nothing from flowgate")]
    MirrorOfPinnedCalls,
}

/// Checks a plan. `all_calls_pinned`: flowgate is the endpoint's only caller and pins each call.
pub fn validate(plan: &TrafficPlan, all_calls_pinned: bool) -> Result<(), PlanError> {
    let total: u32 = plan.traffic.values().sum();
    if total != 100 {
        return Err(PlanError::NotHundred(total));
    }
    let mirrors: Vec<(&String, &u32)> = plan.mirror.iter().filter(|(_, p)| **p > 0).collect();
    if mirrors.len() > 1 {
        return Err(PlanError::SeveralMirrors(mirrors.len()));
    }
    if let Some((d, p)) = mirrors.first() {
        if **p > 50 {
            return Err(PlanError::MirrorTooLarge { deployment: (*d).clone(), percent: **p });
        }
        if plan.traffic.get(*d).is_some_and(|t| *t > 0) {
            return Err(PlanError::LiveAndMirrored((*d).clone()));
        }
        if all_calls_pinned {
            return Err(PlanError::MirrorOfPinnedCalls);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_salted_and_monotone() {
        assert_eq!(bucket("r1", "CLM-000001"), bucket("r1", "CLM-000001"));
        let keys: Vec<String> = (0..2000).map(|i| format!("CLM-{i:06}")).collect();
        let moved = keys.iter().filter(|k| bucket("r1", k) != bucket("r2", k)).count();
        assert!(moved > 1900, "another rollout salts the buckets: {moved} of 2000 moved");
        for k in &keys {
            if is_canary("r1", k, 500) {
                assert!(is_canary("r1", k, 1000) && is_canary("r1", k, BUCKETS), "raising the share never moves {k} back");
            }
        }
        let share = keys.iter().filter(|k| is_canary("r1", k, 1000)).count() as f64 / keys.len() as f64;
        assert!((share - 0.10).abs() < 0.03, "10 % share gave {share}");
        assert!(!is_canary("r1", "x", 0) && is_canary("r1", "x", BUCKETS));
    }

    #[test]
    fn the_bucket_is_the_documented_hash() {
        // SHA-256("flowgate-rollout/v1\0r\0k"): its first 8 bytes, big-endian, mod 10,000.
        let d = Sha256::digest(b"flowgate-rollout/v1\0r\0k");
        let want = u64::from_be_bytes(d[..8].try_into().unwrap()) % BUCKETS;
        assert_eq!(bucket("r", "k"), want);
    }

    #[test]
    fn a_canary_routes_its_jobs_items_only() {
        let id = |c: char| ReleaseId::parse(&c.to_string().repeat(64)).unwrap();
        let canary = Canary {
            rollout: "r1".into(),
            candidate: id('b'),
            stable: id('a'),
            share_bp: 1000,
            jobs: [JobId::parse("classify").unwrap()].into(),
            deployments: BTreeMap::new(),
            started: Utc::now(),
        };
        let (job, other) = (JobId::parse("classify").unwrap(), JobId::parse("report").unwrap());
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        let on_canary = keys.iter().filter(|k| canary.route(&job, k) == &id('b')).count();
        assert!((60..140).contains(&on_canary), "about 10 %: {on_canary}");
        assert!(keys.iter().all(|k| canary.route(&other, k) == &id('a')), "a job the candidate does not change stays stable");
        assert_eq!(share_bp(10.0), Ok(1000));
        assert_eq!(share_bp(2.5), Ok(250));
        assert!(share_bp(100.5).is_err() && share_bp(0.0).is_err() && share_bp(f64::NAN).is_err());
    }

    #[test]
    fn traffic_plans_are_checked_before_any_call() {
        let plan = |t: &[(&str, u32)], m: &[(&str, u32)]| TrafficPlan {
            traffic: t.iter().map(|(d, p)| (d.to_string(), *p)).collect(),
            mirror: m.iter().map(|(d, p)| (d.to_string(), *p)).collect(),
        };
        assert!(validate(&plan(&[("blue", 0), ("green", 100)], &[]), true).is_ok());
        assert_eq!(validate(&plan(&[("blue", 90), ("green", 20)], &[]), true), Err(PlanError::NotHundred(110)));
        assert!(matches!(validate(&plan(&[("blue", 100)], &[("green", 60)]), false), Err(PlanError::MirrorTooLarge { .. })));
        assert!(matches!(validate(&plan(&[("blue", 100)], &[("green", 10), ("red", 10)]), false), Err(PlanError::SeveralMirrors(2))));
        assert!(matches!(validate(&plan(&[("blue", 90), ("green", 10)], &[("green", 10)]), false), Err(PlanError::LiveAndMirrored(_))));
        assert_eq!(validate(&plan(&[("blue", 100)], &[("green", 20)]), true), Err(PlanError::MirrorOfPinnedCalls));
        assert!(validate(&plan(&[("blue", 100)], &[("green", 20)]), false).is_ok());
    }
}
