//! Checks a catalog's `releases:` section into a [`ReleasePolicy`], each problem at its place.

use chrono::{NaiveDateTime, NaiveTime};
use chrono_tz::Tz;

use super::check::Environment;
use super::spec::{EvaluationCheckSpec, ReleasesSpec, RolloutSpec};
use crate::domain::canary::{CanaryPolicy, Metric};
use crate::domain::ids::DatasetId;
use crate::domain::release::policy::{
    parse_weekday, Allow, Emergency, EvaluationCheck, Freeze, ReleaseChecks, ReleasePolicy, RolloutPolicy, Windows,
};

/// Where problems go: `(pointer, message)` located by the caller.
pub(super) trait Report {
    fn problem(&mut self, pointer: &str, message: String);
    fn zone_at(&mut self, pointer: &str, name: Option<&String>, fallback: Tz) -> Tz;
    fn duration_at(&mut self, pointer: &str, text: Option<&String>) -> Option<std::time::Duration>;
}

pub(super) fn policy(
    r: &mut dyn Report,
    env: &Environment<'_>,
    spec: Option<&ReleasesSpec>,
    catalog_zone: Tz,
    datasets: &std::collections::HashSet<&str>,
) -> ReleasePolicy {
    let Some(s) = spec else { return ReleasePolicy::default() };
    let base = ReleasePolicy::default();
    let solo = s.solo.unwrap_or(false);
    let approvals = s.approvals.unwrap_or(base.approvals);
    if approvals == 0 {
        r.problem("/releases/approvals", "`approvals` must be at least 1 (a one-person team sets `solo: true`)".into());
    }
    let role = |r: &mut dyn Report, key: &str, v: &Option<String>, default: &str| -> String {
        match v {
            Some(x) if x.trim().is_empty() => {
                r.problem(&format!("/releases/{key}"), format!("`{key}` is empty"));
                default.to_string()
            }
            Some(x) => x.trim().to_string(),
            None => default.to_string(),
        }
    };
    let approver_role = role(r, "approver_role", &s.approver_role, &base.approver_role);
    let promoter_role = role(r, "promoter_role", &s.promoter_role, &base.promoter_role);
    let rollback_role = role(r, "rollback_role", &s.rollback_role, &base.rollback_role);

    let mut checks = ReleaseChecks::default();
    if let Some(c) = &s.checks {
        checks.contract_lint = c.contract_lint.unwrap_or(true);
        checks.smoke = c.smoke.unwrap_or(true);
        for (dataset, path) in &c.samples {
            let p = format!("/releases/checks/samples/{}", super::yaml::pointer_segment(dataset));
            if !datasets.contains(dataset.as_str()) {
                r.problem(&p, format!("unknown dataset `{dataset}`: a sample is checked against a dataset's contract"));
                continue;
            }
            if !(env.file_exists)(&env.base_dir.join(path)) {
                r.problem(&p, format!("sample file `{}` does not exist", env.base_dir.join(path).display()));
                continue;
            }
            if let Ok(id) = DatasetId::parse(dataset.clone()) {
                checks.samples.insert(id, path.clone());
            }
        }
        if let Some(e) = &c.evaluation {
            checks.evaluation = evaluation(r, env, e);
        }
    }

    let mut windows = Windows { timezone: catalog_zone, ..Windows::default() };
    if let Some(w) = &s.windows {
        windows.timezone = r.zone_at("/releases/windows/timezone", w.timezone.as_ref(), catalog_zone);
        for (i, a) in w.allow.iter().enumerate() {
            let p = format!("/releases/windows/allow/{i}");
            let mut days = Vec::new();
            for (k, d) in a.days.iter().enumerate() {
                match parse_weekday(d) {
                    Some(wd) => days.push(wd),
                    None => r.problem(&format!("{p}/days/{k}"), format!("`{d}` is not a day of the week (mon, tue, … sun)")),
                }
            }
            let from = time(r, &format!("{p}/from"), &a.from);
            let to = time(r, &format!("{p}/to"), &a.to);
            if let (Some(from), Some(to)) = (from, to) {
                if from == to {
                    r.problem(&format!("{p}/to"), "`to` equals `from`: the window would be empty".into());
                }
                windows.allow.push(Allow { days, from, to });
            }
        }
        for (i, f) in w.freeze.iter().enumerate() {
            let p = format!("/releases/windows/freeze/{i}");
            let from = local(r, &format!("{p}/from"), &f.from);
            let to = local(r, &format!("{p}/to"), &f.to);
            if let (Some(from), Some(to)) = (from, to) {
                if to <= from {
                    r.problem(&format!("{p}/to"), "`to` must be later than `from`".into());
                }
                windows.freeze.push(Freeze { from, to, reason: f.reason.clone() });
            }
        }
    }

    let mut emergency = Emergency::default();
    if let Some(e) = &s.emergency {
        emergency.role = role(r, "emergency/role", &e.role, &emergency.role);
        if let Some(d) = r.duration_at("/releases/emergency/review_within", e.review_within.as_ref()) {
            if d.is_zero() {
                r.problem("/releases/emergency/review_within", "`review_within` must be longer than zero".into());
            }
            emergency.review_within = d;
        }
    }
    ReleasePolicy {
        declared: true,
        approvals: approvals.max(1),
        approver_role,
        promoter_role,
        rollback_role,
        solo,
        checks,
        windows,
        emergency,
        rollout: s.rollout.as_ref().map(|x| rollout(r, x)),
    }
}

/// A rollout, checked: a share above 0 and at most 100 %, rates that are rates, limits in order.
fn rollout(r: &mut dyn Report, s: &RolloutSpec) -> RolloutPolicy {
    let p = "/releases/rollout";
    let mut canary = CanaryPolicy::default();
    let share_bp = match crate::domain::rollout::share_bp(s.share.unwrap_or(10.0)) {
        Ok(bp) => bp,
        Err(e) => {
            r.problem(&format!("{p}/share"), e);
            1000
        }
    };
    canary.min_items = s.min_items.unwrap_or(canary.min_items);
    canary.max_items = s.max_items.unwrap_or(canary.max_items);
    if let Some(d) = r.duration_at(&format!("{p}/min_duration"), s.min_duration.as_ref()) {
        canary.min_duration = d;
    }
    if let Some(d) = r.duration_at(&format!("{p}/max_duration"), s.max_duration.as_ref()) {
        canary.max_duration = d;
    }
    if canary.min_items == 0 {
        r.problem(&format!("{p}/min_items"), "`min_items` must be at least 1: no data is no evidence".into());
    }
    if canary.max_items < canary.min_items || canary.max_duration < canary.min_duration {
        r.problem(p, "the maximum (items or duration) is below the minimum: a canary could never promote".into());
    }
    for (key, v, target) in [("alpha", s.alpha, &mut canary.alpha), ("beta", s.beta, &mut canary.beta)] {
        if let Some(v) = v {
            if !(v > 0.0 && v < 0.5) {
                r.problem(&format!("{p}/{key}"), format!("`{key}` {v} is not between 0 and 0.5"));
            } else {
                *target = v;
            }
        }
    }
    if let Some(rate) = s.failure_rate {
        if !(rate > 0.0 && rate < 0.5) {
            r.problem(&format!("{p}/failure_rate"), format!("`failure_rate` {rate} is not between 0 and 0.5"));
        } else {
            canary.slo_rates.insert(Metric::ItemFailure, rate);
            canary.slo_rates.insert(Metric::ContractViolation, rate);
        }
    }
    canary.latency_slo = r.duration_at(&format!("{p}/latency_slo"), s.latency_slo.as_ref());
    RolloutPolicy { share_bp, canary }
}

fn time(r: &mut dyn Report, pointer: &str, text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| r.problem(pointer, format!("`{text}` is not a time of day `HH:MM` (24-hour)")))
        .ok()
}

fn local(r: &mut dyn Report, pointer: &str, text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN)))
        .map_err(|_| r.problem(pointer, format!("`{text}` is not a local date-time `YYYY-MM-DDTHH:MM` (or a date)")))
        .ok()
}

/// The evaluation gate, checked: the dataset exists, the rates are rates.
fn evaluation(r: &mut dyn Report, env: &Environment<'_>, e: &EvaluationCheckSpec) -> Option<EvaluationCheck> {
    let p = "/releases/checks/evaluation";
    let mut ok = true;
    if !(env.file_exists)(&env.base_dir.join(&e.dataset)) {
        r.problem(&format!("{p}/dataset"), format!("evaluation dataset `{}` does not exist", env.base_dir.join(&e.dataset).display()));
        ok = false;
    }
    let alpha = e.alpha.unwrap_or(0.05);
    if !(alpha > 0.0 && alpha < 1.0) {
        r.problem(&format!("{p}/alpha"), format!("alpha {alpha} is not between 0 and 1"));
        ok = false;
    }
    let delta = e.delta.unwrap_or(0.05);
    if !(0.0..1.0).contains(&delta) {
        r.problem(&format!("{p}/delta"), format!("delta {delta} is not from 0 to below 1"));
        ok = false;
    }
    for (name, floor) in &e.floors {
        if !(0.0..=1.0).contains(floor) {
            r.problem(&format!("{p}/floors/{}", super::yaml::pointer_segment(name)), format!("floor {floor} is not a rate from 0 to 1"));
            ok = false;
        }
    }
    let min_items = e.min_items.unwrap_or(30);
    if min_items == 0 {
        r.problem(&format!("{p}/min_items"), "min_items must be at least 1: no evidence is not a pass".into());
        ok = false;
    }
    ok.then(|| EvaluationCheck {
        dataset: e.dataset.clone(),
        id_column: e.id_column.clone().unwrap_or_else(|| "id".into()),
        alpha,
        delta,
        min_items,
        floors: e.floors.clone(),
    })
}
