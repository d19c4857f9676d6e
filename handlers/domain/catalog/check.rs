//! Validation: from YAML text to a resolved [`Catalog`], or every problem found, each with its
//! line and column. Never panics, whatever the text holds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::model::{
    BreakerPolicy, Catalog, CatchUp, Dataset, DependencyWait, Gates, Job, Location, OverlapPolicy, RequestTemplate, Sla, Trigger,
};
use super::spec::{self, CatalogSpec, CatchUpPolicy, CatchUpSpec, DatasetSpec, JobKind, JobSpec, RetrySpec, WaitSpec};
use super::yaml::{self, pointer_segment, Document, Pos};
use crate::domain::duration::parse_duration;
use crate::domain::ids::{DatasetId, JobId};
use crate::domain::retry::RetryPolicy;
use crate::domain::schedule::{parse_zone, Ncrontab};

/// One problem in a catalog, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pos: Pos,
    /// JSON pointer of the offending node (`/jobs/score/schedule`).
    pub pointer: String,
    pub message: String,
}

/// A loaded catalog and what is worth a warning but not a refusal.
#[derive(Debug)]
pub struct Loaded {
    pub catalog: Catalog,
    pub warnings: Vec<Problem>,
}

/// What the checks may ask of the outside world; the domain stays free of I/O.
pub struct Environment<'a> {
    /// Folder the catalog lives in (contract paths are relative to it).
    pub base_dir: &'a Path,
    pub file_exists: &'a dyn Fn(&Path) -> bool,
    pub setting: &'a dyn Fn(&str) -> Option<String>,
}

const SUPPORTED_VERSION: u32 = 1;

struct Checker<'a> {
    doc: &'a Document,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Checker<'_> {
    fn at(&mut self, pointer: &str, message: impl Into<String>) {
        self.problems.push(Problem { pos: self.doc.pos_of(pointer), pointer: pointer.to_string(), message: message.into() });
    }
    fn at_value(&mut self, pointer: &str, message: impl Into<String>) {
        self.problems.push(Problem { pos: self.doc.value_pos(pointer), pointer: pointer.to_string(), message: message.into() });
    }
    fn warn(&mut self, pointer: &str, message: impl Into<String>) {
        self.warnings.push(Problem { pos: self.doc.value_pos(pointer), pointer: pointer.to_string(), message: message.into() });
    }
    fn duration(&mut self, pointer: &str, text: Option<&String>) -> Option<Duration> {
        let text = text?;
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.at_value(pointer, e.to_string());
                None
            }
        }
    }
    fn zone(&mut self, pointer: &str, name: Option<&String>, fallback: Tz) -> Tz {
        match name {
            None => fallback,
            Some(n) => parse_zone(n).unwrap_or_else(|e| {
                self.at_value(pointer, e);
                fallback
            }),
        }
    }
    /// Deserializes one node, reporting a type error at its place.
    fn typed<T: DeserializeOwned>(&mut self, pointer: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut p = pointer.to_string();
                for seg in e.path().iter() {
                    match seg {
                        serde_path_to_error::Segment::Map { key } => p.push_str(&format!("/{}", pointer_segment(key))),
                        serde_path_to_error::Segment::Seq { index } => p.push_str(&format!("/{index}")),
                        _ => {}
                    }
                }
                let msg = e.into_inner().to_string();
                self.at_value(&p, msg);
                None
            }
        }
    }
}

impl super::releases::Report for Checker<'_> {
    fn problem(&mut self, pointer: &str, message: String) {
        self.at_value(pointer, message);
    }
    fn zone_at(&mut self, pointer: &str, name: Option<&String>, fallback: Tz) -> Tz {
        self.zone(pointer, name, fallback)
    }
    fn duration_at(&mut self, pointer: &str, text: Option<&String>) -> Option<Duration> {
        self.duration(pointer, text)
    }
}

/// Reads and checks a catalog. `Err` holds every problem found, in file order.
pub fn load(text: &str, env: &Environment<'_>) -> Result<Loaded, Vec<Problem>> {
    let doc = yaml::parse(text)
        .map_err(|errs| errs.into_iter().map(|l| Problem { pos: l.pos, pointer: String::new(), message: l.message }).collect::<Vec<_>>())?;
    let mut c = Checker { doc: &doc, problems: Vec::new(), warnings: Vec::new() };
    let catalog = check_document(&mut c, env);
    let mut problems = c.problems;
    problems.sort_by_key(|p| (p.pos.line, p.pos.col));
    problems.dedup();
    match catalog {
        Some(catalog) if problems.is_empty() => Ok(Loaded { catalog, warnings: c.warnings }),
        _ => Err(problems),
    }
}

fn check_document(c: &mut Checker<'_>, env: &Environment<'_>) -> Option<Catalog> {
    let mut value = c.doc.value.clone();
    if !value.is_object() {
        let found = kind_of(&value);
        c.at_value("", format!("a catalog is a YAML mapping with `version`, `datasets` and `jobs`; this file holds {found}"));
        return None;
    }
    // Unknown keys anywhere, each with the closest valid key; then drop them so the typed pass
    // can still find the other problems.
    let mut unknown = Vec::new();
    walk_unknown(schema(), schema(), &value, String::new(), &mut unknown);
    for (pointer, key, valid) in &unknown {
        let hint = closest(key, valid).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
        let listing = if valid.len() <= 12 { format!(" (valid here: {})", valid.join(", ")) } else { String::new() };
        c.at(pointer, format!("unknown key `{key}`{hint}{listing}"));
        remove_pointer(&mut value, pointer);
    }

    let shell: CatalogSpec<Value, Value> = c.typed("", value)?;
    if shell.version != SUPPORTED_VERSION {
        c.at_value(
            "/version",
            format!("catalog format version {} is not supported; this release reads version {SUPPORTED_VERSION}", shell.version),
        );
    }
    let timezone = c.zone("/timezone", shell.timezone.as_ref(), Tz::UTC);

    let mut datasets_spec: BTreeMap<String, DatasetSpec> = BTreeMap::new();
    for (name, raw) in shell.datasets {
        let p = format!("/datasets/{}", pointer_segment(&name));
        if let Some(d) = c.typed::<DatasetSpec>(&p, raw) {
            datasets_spec.insert(name, d);
        }
    }
    let mut jobs_spec: BTreeMap<String, JobSpec> = BTreeMap::new();
    for (name, raw) in shell.jobs {
        let p = format!("/jobs/{}", pointer_segment(&name));
        if let Some(j) = c.typed::<JobSpec>(&p, raw) {
            jobs_spec.insert(name, j);
        }
    }

    let mut datasets = BTreeMap::new();
    for (name, d) in &datasets_spec {
        let p = format!("/datasets/{}", pointer_segment(name));
        let strict = shell.contracts.as_ref().and_then(|x| x.strict).unwrap_or(false);
        if let Some(ds) = check_dataset(c, env, &p, name, d, strict) {
            datasets.insert(ds.id.clone(), ds);
        }
    }
    let known_datasets: HashSet<&str> = datasets_spec.keys().map(String::as_str).collect();
    let known_jobs: HashSet<&str> = jobs_spec.keys().map(String::as_str).collect();

    let defaults = &shell.defaults;
    let default_retry = retry_policy(c, "/defaults/retry", defaults.retry.as_ref(), &RetryPolicy::default());
    let default_timeout = c.duration("/defaults/timeout", defaults.timeout.as_ref()).unwrap_or(Duration::from_secs(60));
    let default_breaker = breaker_policy(c, "/defaults/breaker", defaults.breaker.as_ref(), &BreakerPolicy::default());
    let default_gates = gates(defaults.gates.as_ref(), &Gates { contracts: true, freshness: true });

    let default_catch_up = catch_up(c, "/defaults/catch_up", defaults.catch_up.as_ref(), CatchUp::Latest);
    let default_overlap = defaults.overlap.unwrap_or(OverlapPolicy::QueueOne);
    let default_wait = dependency_wait(c, "/defaults/wait", defaults.wait.as_ref(), DependencyWait::default());

    let mut jobs = BTreeMap::new();
    for (name, j) in &jobs_spec {
        let p = format!("/jobs/{}", pointer_segment(name));
        let ctx = JobContext {
            catch_up: default_catch_up,
            overlap: default_overlap,
            wait: default_wait,
            known_datasets: &known_datasets,
            known_jobs: &known_jobs,
            timezone,
            retry: &default_retry,
            timeout: default_timeout,
            breaker: &default_breaker,
            gates: &default_gates,
            owner: defaults.owner.as_ref(),
            env,
        };
        if let Some(job) = check_job(c, &p, name, j, &ctx) {
            jobs.insert(job.id.clone(), job);
        }
    }
    check_cycles(c, &jobs_spec);
    let releases = super::releases::policy(c, env, shell.releases.as_ref(), timezone, &known_datasets);

    if c.problems.is_empty() {
        Some(Catalog { timezone, datasets, jobs, releases })
    } else {
        None
    }
}

fn check_dataset(c: &mut Checker<'_>, env: &Environment<'_>, p: &str, name: &str, d: &DatasetSpec, strict: bool) -> Option<Dataset> {
    let id = match DatasetId::parse(name) {
        Ok(id) => Some(id),
        Err(e) => {
            c.at(p, format!("dataset name: {e}"));
            None
        }
    };
    let location = match Location::parse(&d.location) {
        Ok(l) => Some(l),
        Err(e) => {
            c.at_value(&format!("{p}/location"), e);
            None
        }
    };
    let contract = d.contract.as_ref().and_then(|rel| {
        let path = env.base_dir.join(rel);
        if (env.file_exists)(&path) {
            Some(path)
        } else {
            c.at_value(&format!("{p}/contract"), format!("contract file `{}` does not exist", path.display()));
            None
        }
    });
    let expected_every = c.duration(&format!("{p}/expected_every"), d.expected_every.as_ref());
    if expected_every == Some(Duration::ZERO) {
        c.at_value(&format!("{p}/expected_every"), "`expected_every` must be longer than zero");
    }
    let strict_contract = d.contracts.as_ref().and_then(|x| x.strict).unwrap_or(strict);
    if strict_contract && d.contract.is_none() {
        c.warn(&format!("{p}/contracts"), "`contracts: {strict: true}` on a dataset with no `contract`: nothing to hold strictly");
    }
    Some(Dataset { id: id?, location: location?, format: d.format, contract, strict_contract, expected_every, owner: d.owner.clone() })
}

struct JobContext<'a> {
    catch_up: CatchUp,
    overlap: OverlapPolicy,
    wait: DependencyWait,
    known_datasets: &'a HashSet<&'a str>,
    known_jobs: &'a HashSet<&'a str>,
    timezone: Tz,
    retry: &'a RetryPolicy,
    timeout: Duration,
    breaker: &'a BreakerPolicy,
    gates: &'a Gates,
    owner: Option<&'a String>,
    env: &'a Environment<'a>,
}

fn check_job(c: &mut Checker<'_>, p: &str, name: &str, j: &JobSpec, ctx: &JobContext<'_>) -> Option<Job> {
    let id = JobId::parse(name).map_err(|e| c.at(p, format!("job name: {e}"))).ok();
    let timezone = c.zone(&format!("{p}/timezone"), j.timezone.as_ref(), ctx.timezone);

    let trigger = match (&j.schedule, &j.on_arrival) {
        (Some(_), Some(_)) => {
            c.at(&format!("{p}/on_arrival"), "a job has either `schedule` or `on_arrival`, not both");
            None
        }
        (Some(expr), None) => match Ncrontab::parse(expr) {
            Ok(n) => {
                // NCrontab accepts a date that never comes (`0 0 0 31 Feb *`); it would never run.
                let reference = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2000, 1, 1, 0, 0, 0).unwrap();
                if n.next_after(reference, chrono_tz::Tz::UTC).is_none() {
                    c.warn(&format!("{p}/schedule"), format!("`{expr}` matches no date: `{name}` would never run"));
                }
                Some(Trigger::Schedule(n))
            }
            Err(e) => {
                c.at_value(&format!("{p}/schedule"), e.to_string());
                None
            }
        },
        (None, Some(ds)) => {
            if ctx.known_datasets.contains(ds.as_str()) {
                DatasetId::parse(ds.clone()).ok().map(Trigger::Arrival)
            } else {
                let hint = closest(ds, &sorted(ctx.known_datasets)).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
                c.at_value(&format!("{p}/on_arrival"), format!("unknown dataset `{ds}`{hint}"));
                None
            }
        }
        (None, None) if !j.depends_on.is_empty() => Some(Trigger::Dependencies),
        (None, None) => {
            c.at(p, "a job needs `schedule` (NCRONTAB), `on_arrival` (a dataset) or `depends_on`");
            None
        }
    };

    let mut depends_on = Vec::new();
    let mut seen = HashSet::new();
    for (i, dep) in j.depends_on.iter().enumerate() {
        let dp = format!("{p}/depends_on/{i}");
        if !seen.insert(dep) {
            c.at_value(&dp, format!("`{dep}` is listed twice in depends_on"));
        } else if dep == name {
            c.at_value(&dp, format!("job `{name}` depends on itself"));
        } else if !ctx.known_jobs.contains(dep.as_str()) {
            let hint = closest(dep, &sorted(ctx.known_jobs)).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
            c.at_value(&dp, format!("unknown dependency `{dep}`: no job has that name{hint}"));
        } else if let Ok(d) = JobId::parse(dep.clone()) {
            depends_on.push(d);
        }
    }
    let inputs = dataset_refs(c, &format!("{p}/inputs"), &j.inputs, ctx.known_datasets);
    let outputs = dataset_refs(c, &format!("{p}/outputs"), &j.outputs, ctx.known_datasets);

    if j.endpoint.trim().is_empty() {
        c.at_value(&format!("{p}/endpoint"), "`endpoint` is empty");
    } else {
        match super::model::expand_settings(&j.endpoint, &|_| Some("x".into())) {
            Err(e) => c.at_value(&format!("{p}/endpoint"), e),
            Ok(_) => {
                if !(j.endpoint.starts_with("http://") || j.endpoint.starts_with("https://") || j.endpoint.starts_with("${")) {
                    c.at_value(&format!("{p}/endpoint"), format!("`{}` is not an http(s) URL or a `${{SETTING}}` reference", j.endpoint));
                } else if let Err(e) = super::model::expand_settings(&j.endpoint, ctx.env.setting) {
                    c.warn(&format!("{p}/endpoint"), format!("{e}; runs of `{name}` will fail until it is set"));
                }
            }
        }
    }
    if j.deployment.is_some() && j.kind != JobKind::OnlineEndpoint {
        c.at(&format!("{p}/deployment"), "`deployment` applies to `kind: online_endpoint` only");
    }
    if let Some(m) = &j.management {
        if j.kind != JobKind::OnlineEndpoint {
            c.at(&format!("{p}/management"), "`management` applies to `kind: online_endpoint` only");
        } else if j.deployment.is_none() {
            c.at(&format!("{p}/management"), "`management` needs `deployment`: the switch moves traffic to the job's deployment");
        } else if !(m.starts_with("https://") || m.starts_with("http://") || m.starts_with("${")) {
            c.at_value(&format!("{p}/management"), format!("`{m}` is not the endpoint's ARM URL"));
        }
    }
    match (&j.evaluation, j.kind) {
        (None, JobKind::Evaluation) => c.at(p, "`kind: evaluation` needs `evaluation: <eval id>`"),
        (Some(_), kind) if kind != JobKind::Evaluation => {
            c.at(&format!("{p}/evaluation"), "`evaluation` applies to `kind: evaluation` only")
        }
        (Some(e), _) if e.trim().is_empty() => c.at_value(&format!("{p}/evaluation"), "`evaluation` is empty"),
        _ => {}
    }
    if j.poll_every.is_some() && !j.kind.is_long_running() {
        c.at(&format!("{p}/poll_every"), "`poll_every` applies to `kind: azure_ml_job` and `kind: evaluation` only");
    }
    let poll_every = c.duration(&format!("{p}/poll_every"), j.poll_every.as_ref()).unwrap_or(Duration::from_secs(30));
    if j.poll_every.is_some() && !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&poll_every) {
        c.at_value(&format!("{p}/poll_every"), "`poll_every` must be between 1s and 1h");
    }

    let request = request_template(c, &format!("{p}/request"), j.request.as_ref(), !inputs.is_empty());
    let sla = sla(c, &format!("{p}/sla"), j.sla.as_ref());
    let retry = retry_policy(c, &format!("{p}/retry"), j.retry.as_ref(), ctx.retry);
    let timeout = c.duration(&format!("{p}/timeout"), j.timeout.as_ref()).unwrap_or(ctx.timeout);
    if timeout.is_zero() {
        c.at_value(&format!("{p}/timeout"), "`timeout` must be longer than zero");
    }
    let breaker = breaker_policy(c, &format!("{p}/breaker"), j.breaker.as_ref(), ctx.breaker);
    let gates = gates(j.gates.as_ref(), ctx.gates);

    Some(Job {
        id: id?,
        kind: j.kind,
        endpoint: j.endpoint.clone(),
        deployment: j.deployment.clone(),
        management: j.management.clone(),
        evaluation: j.evaluation.clone(),
        poll_every,
        owner: j.owner.clone().or_else(|| ctx.owner.cloned()),
        trigger: trigger?,
        timezone,
        depends_on,
        inputs,
        outputs,
        request: request?,
        sla,
        retry,
        timeout,
        breaker,
        gates,
        enabled: j.enabled.unwrap_or(true),
        catch_up: catch_up(c, &format!("{p}/catch_up"), j.catch_up.as_ref(), ctx.catch_up),
        overlap: j.overlap.unwrap_or(ctx.overlap),
        wait: dependency_wait(c, &format!("{p}/wait"), j.wait.as_ref(), ctx.wait),
    })
}

fn catch_up(c: &mut Checker<'_>, p: &str, spec: Option<&CatchUpSpec>, base: CatchUp) -> CatchUp {
    let (policy, window, max) = match spec {
        None => return base,
        Some(CatchUpSpec::Policy(policy)) => (*policy, None, None),
        Some(CatchUpSpec::Detailed(d)) => (d.policy, d.window.as_ref(), d.max),
    };
    if policy != CatchUpPolicy::All && (window.is_some() || max.is_some()) {
        c.at(p, "`window` and `max` apply to `policy: all` only");
    }
    match policy {
        CatchUpPolicy::None => CatchUp::None,
        CatchUpPolicy::Latest => CatchUp::Latest,
        CatchUpPolicy::All => {
            let window = c.duration(&format!("{p}/window"), window).unwrap_or(Duration::from_secs(24 * 3600));
            let max = max.unwrap_or(24);
            if max == 0 || max > 10_000 {
                c.at_value(&format!("{p}/max"), format!("`max` must be between 1 and 10000, not {max}"));
            }
            CatchUp::All { window, max }
        }
    }
}

fn dependency_wait(c: &mut Checker<'_>, p: &str, spec: Option<&WaitSpec>, base: DependencyWait) -> DependencyWait {
    let Some(spec) = spec else { return base };
    let limit = c.duration(&format!("{p}/limit"), spec.limit.as_ref()).unwrap_or(base.limit);
    let window = c.duration(&format!("{p}/window"), spec.window.as_ref()).unwrap_or(base.window);
    if limit.is_zero() {
        c.at_value(&format!("{p}/limit"), "`limit` must be longer than zero");
    }
    DependencyWait { limit, window }
}

fn dataset_refs(c: &mut Checker<'_>, p: &str, names: &[String], known: &HashSet<&str>) -> Vec<DatasetId> {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if known.contains(n.as_str()) {
            if let Ok(d) = DatasetId::parse(n.clone()) {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        } else {
            let hint = closest(n, &sorted(known)).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
            c.at_value(&format!("{p}/{i}"), format!("unknown dataset `{n}`{hint}"));
        }
    }
    out
}

fn request_template(c: &mut Checker<'_>, p: &str, r: Option<&spec::RequestSpec>, has_inputs: bool) -> Option<RequestTemplate> {
    let Some(r) = r else {
        return Some(RequestTemplate::default());
    };
    let body = match &r.body {
        None => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(other) => {
            c.at_value(&format!("{p}/body"), format!("`body` must be a mapping (JSON object), not {}", kind_of(other)));
            return None;
        }
    };
    if !has_inputs && !r.fields.is_empty() {
        c.at(&format!("{p}/fields"), "`fields` maps input record columns, but the job has no `inputs`");
    }
    Some(RequestTemplate { fields: r.fields.clone(), key: r.key.clone(), body })
}

fn sla(c: &mut Checker<'_>, p: &str, s: Option<&spec::SlaSpec>) -> Option<Sla> {
    let s = s?;
    let complete_within = c.duration(&format!("{p}/complete_within"), s.complete_within.as_ref());
    let warn_before = c.duration(&format!("{p}/warn_before"), s.warn_before.as_ref());
    let by_minute_of_day = s.by.as_ref().and_then(|t| {
        let parsed = t.split_once(':').and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)));
        match parsed {
            Some((h, m)) if h < 24 && m < 60 && t.len() == 5 => Some(h * 60 + m),
            _ => {
                c.at_value(&format!("{p}/by"), format!("`{t}` is not a time of day; write `HH:MM` (24-hour)"));
                None
            }
        }
    });
    if complete_within.is_none() && by_minute_of_day.is_none() && s.complete_within.is_none() && s.by.is_none() {
        c.at(p, "an `sla` needs `complete_within` or `by`");
    }
    if let (Some(w), Some(cw)) = (warn_before, complete_within) {
        if w >= cw {
            c.at_value(&format!("{p}/warn_before"), "`warn_before` must be shorter than `complete_within`");
        }
    }
    Some(Sla { complete_within, by_minute_of_day, warn_before })
}

fn retry_policy(c: &mut Checker<'_>, p: &str, r: Option<&RetrySpec>, base: &RetryPolicy) -> RetryPolicy {
    let Some(r) = r else { return base.clone() };
    let mut out = base.clone();
    if let Some(n) = r.max_attempts {
        if (1..=100).contains(&n) {
            out.max_attempts = n;
        } else {
            c.at_value(&format!("{p}/max_attempts"), format!("`max_attempts` must be between 1 and 100, not {n}"));
        }
    }
    if let Some(m) = r.multiplier {
        if (1.0..=10.0).contains(&m) {
            out.multiplier = m;
        } else {
            c.at_value(&format!("{p}/multiplier"), format!("`multiplier` must be between 1.0 and 10.0, not {m}"));
        }
    }
    if let Some(d) = c.duration(&format!("{p}/initial_delay"), r.initial_delay.as_ref()) {
        out.initial_delay = d;
    }
    if let Some(d) = c.duration(&format!("{p}/max_delay"), r.max_delay.as_ref()) {
        out.max_delay = d;
    }
    if let Some(d) = c.duration(&format!("{p}/deadline"), r.deadline.as_ref()) {
        out.deadline = Some(d);
    }
    if out.initial_delay > out.max_delay {
        c.at(p, "`initial_delay` is longer than `max_delay`");
    }
    out
}

fn breaker_policy(c: &mut Checker<'_>, p: &str, b: Option<&spec::BreakerSpec>, base: &BreakerPolicy) -> BreakerPolicy {
    let Some(b) = b else { return base.clone() };
    let mut out = base.clone();
    if let Some(n) = b.consecutive_failures {
        if n >= 1 {
            out.consecutive_failures = n;
        } else {
            c.at_value(&format!("{p}/consecutive_failures"), "`consecutive_failures` must be at least 1");
        }
    }
    if let Some(d) = c.duration(&format!("{p}/cooldown"), b.cooldown.as_ref()) {
        out.cooldown = d;
    }
    if let Some(r) = b.failure_ratio {
        if r > 0.0 && r <= 1.0 {
            out.failure_ratio = r;
        } else {
            c.at_value(&format!("{p}/failure_ratio"), format!("`failure_ratio` must be above 0 and at most 1, not {r}"));
        }
    }
    if let Some(d) = c.duration(&format!("{p}/window"), b.window.as_ref()) {
        out.window = d;
    }
    if let Some(n) = b.min_calls {
        out.min_calls = n.max(1);
    }
    if let Some(n) = b.half_open_probes {
        if n >= 1 {
            out.half_open_probes = n;
        } else {
            c.at_value(&format!("{p}/half_open_probes"), "`half_open_probes` must be at least 1");
        }
    }
    out
}

fn gates(g: Option<&spec::GatesSpec>, base: &Gates) -> Gates {
    match g {
        None => base.clone(),
        Some(g) => Gates { contracts: g.contracts.unwrap_or(base.contracts), freshness: g.freshness.unwrap_or(base.freshness) },
    }
}

/// Reports each dependency cycle once, at the `depends_on` of its first job, printing the cycle.
fn check_cycles(c: &mut Checker<'_>, jobs: &BTreeMap<String, JobSpec>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = jobs.keys().map(|k| (k.as_str(), Mark::New)).collect();
    let mut reported: HashSet<Vec<String>> = HashSet::new();
    for start in jobs.keys() {
        if marks[start.as_str()] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, index of next dependency to visit).
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        marks.insert(start, Mark::Active);
        while let Some((node, idx)) = stack.last().copied() {
            let deps = &jobs[node].depends_on;
            if idx >= deps.len() {
                marks.insert(node, Mark::Done);
                stack.pop();
                continue;
            }
            stack.last_mut().expect("non-empty").1 += 1;
            let dep = deps[idx].as_str();
            match marks.get(dep).copied() {
                None | Some(Mark::Done) => {}
                Some(Mark::New) => {
                    marks.insert(dep, Mark::Active);
                    stack.push((dep, 0));
                }
                Some(Mark::Active) => {
                    let from = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[from..].iter().map(|(n, _)| n.to_string()).collect();
                    let mut canon = cycle.clone();
                    canon.sort();
                    if dep == node {
                        continue; // self-dependency is reported on its own
                    }
                    if reported.insert(canon) {
                        cycle.push(dep.to_string());
                        let first = &cycle[0];
                        let i = jobs[first.as_str()].depends_on.iter().position(|d| *d == cycle[1]).unwrap_or(0);
                        let p = format!("/jobs/{}/depends_on/{i}", pointer_segment(first));
                        c.at_value(&p, format!("dependency cycle: {}", cycle.join(" -> ")));
                    }
                }
            }
        }
    }
}

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(spec::json_schema)
}

fn resolve<'a>(root: &'a Value, mut s: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match s.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
            Some(name) => match root.get("$defs").and_then(|d| d.get(name)) {
                Some(t) => s = t,
                None => return s,
            },
            None => return s,
        }
    }
    s
}

/// The branch of a schema that describes an object, if any (through `anyOf`/`oneOf` and `$ref`).
fn object_schema<'a>(root: &'a Value, s: &'a Value) -> Option<&'a Value> {
    let s = resolve(root, s);
    if s.get("properties").is_some() || s.get("additionalProperties").is_some() {
        return Some(s);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = s.get(key).and_then(Value::as_array) {
            if let Some(found) = branches.iter().find_map(|b| object_schema(root, b)) {
                return Some(found);
            }
        }
    }
    None
}

fn array_items<'a>(root: &'a Value, s: &'a Value) -> Option<&'a Value> {
    let s = resolve(root, s);
    if let Some(items) = s.get("items") {
        return Some(items);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = s.get(key).and_then(Value::as_array) {
            if let Some(found) = branches.iter().find_map(|b| array_items(root, b)) {
                return Some(found);
            }
        }
    }
    None
}

/// Collects `(pointer, key, valid keys)` for every key the schema does not allow.
fn walk_unknown(root: &Value, s: &Value, v: &Value, ptr: String, out: &mut Vec<(String, String, Vec<String>)>) {
    match v {
        Value::Object(map) => {
            let Some(os) = object_schema(root, s) else {
                return;
            };
            let props = os.get("properties").and_then(Value::as_object);
            let additional = os.get("additionalProperties");
            for (k, child) in map {
                let cp = format!("{ptr}/{}", pointer_segment(k));
                if let Some(ps) = props.and_then(|p| p.get(k)) {
                    walk_unknown(root, ps, child, cp, out);
                } else {
                    match additional {
                        Some(Value::Bool(false)) => {
                            let valid = props.map(|p| p.keys().cloned().collect()).unwrap_or_default();
                            out.push((cp, k.clone(), valid));
                        }
                        Some(a @ Value::Object(_)) => walk_unknown(root, a, child, cp, out),
                        _ => {}
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = array_items(root, s) {
                for (i, child) in items.iter().enumerate() {
                    walk_unknown(root, is, child, format!("{ptr}/{i}"), out);
                }
            }
        }
        _ => {}
    }
}

fn remove_pointer(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    if let Some(Value::Object(m)) = v.pointer_mut(parent) {
        m.remove(&key);
    }
}

fn closest(word: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.clone())
}

fn sorted(set: &HashSet<&str>) -> Vec<String> {
    let mut v: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The same checks against real files and the process environment (for the CLI and the server).
pub fn load_file(path: &Path) -> Result<Loaded, Vec<Problem>> {
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
                return Err(vec![Problem {
                    pos: Pos { line, col: 1 },
                    pointer: String::new(),
                    message: "the file is not valid UTF-8".into(),
                }]);
            }
        },
        Err(e) => {
            return Err(vec![Problem {
                pos: Pos { line: 0, col: 0 },
                pointer: String::new(),
                message: format!("cannot read the catalog: {e}"),
            }])
        }
    };
    let base: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let exists = |p: &Path| p.is_file();
    let setting = |k: &str| std::env::var(k).ok();
    load(&text, &Environment { base_dir: &base, file_exists: &exists, setting: &setting })
}
