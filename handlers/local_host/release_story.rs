//! The demo's release story, played on the virtual clock by development identities through the
//! same flows as `flowgate release`:
//! - Monday 07:30, release v1 (the example catalog, deployment `blue`) is evaluated on the pinned
//!   dataset, approved by two people and promoted;
//! - Monday 09:00, v2 moves both jobs to deployment `green`: its author's own approval is refused,
//!   its offline evaluation against v1 passes, and its promotion starts a canary on half of the new
//!   items; CanaryWatch (the timer) later promotes it through the blue/green switch;
//! - Friday 14:00, v3 moves them to `red`, whose offline evaluation fails: its promotion is refused;
//! - Friday 16:30, v1 comes back in one step, traffic with it.
//!
//! The demo scorer's deployments answer differently (`demo_endpoint`); the evaluation scores the
//! dataset through it, pinned to each side's deployment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::adapters::local::{FileBlobs, SqliteAudit, SqliteStore};
use crate::app::{audit_path, store_path};
use crate::domain::audit::AuditKind;
use crate::domain::principal::Principal;
use crate::domain::release::ReleaseId;
use crate::flows::releases::{self as releases, evaluation, Promotion, ReleaseDeps};

/// The identities the story acts as (written to `<state>/identities.yaml`).
pub const IDENTITIES: &str = "# Development identities for `flowgate release --as NAME` (demo).\nalice: [Release.Approver]\nbob: [Release.Approver]\ncarol: [Release.Approver]\n";

/// The catalogs the story releases.
#[derive(Debug, Clone)]
pub struct ReleaseStory {
    pub v1: PathBuf,
    /// Deployment `green`.
    pub v2: PathBuf,
    /// Deployment `red`.
    pub v3: PathBuf,
}

/// Writes the identities and the changed catalogs (with their contracts, samples and evaluation
/// dataset) under `state`.
pub fn prepare(catalog: &Path, state: &Path) -> Result<ReleaseStory, String> {
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let ids = state.join(crate::adapters::local::identities::FILE);
    std::fs::write(&ids, IDENTITIES).map_err(|e| io(&ids, e))?;
    let source = catalog.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(catalog).map_err(|e| io(catalog, e))?;
    let mut changed = Vec::new();
    for deployment in ["green", "red"] {
        let dir = state.join(format!("demo-{deployment}"));
        for sub in ["contracts", "samples", "evaluation"] {
            let (from, to) = (source.join(sub), dir.join(sub));
            std::fs::create_dir_all(&to).map_err(|e| io(&to, e))?;
            for f in std::fs::read_dir(&from).map_err(|e| io(&from, e))?.flatten() {
                std::fs::copy(f.path(), to.join(f.file_name())).map_err(|e| io(&f.path(), e))?;
            }
        }
        let moved = text.replace("deployment: blue", &format!("deployment: {deployment}"));
        if moved == text {
            return Err(format!("{}: the demo's change (`deployment: blue`) no longer applies", catalog.display()));
        }
        let path = dir.join("catalog.yaml");
        std::fs::write(&path, moved).map_err(|e| io(&path, e))?;
        changed.push(path);
    }
    let v3 = changed.pop().unwrap_or_default();
    let v2 = changed.pop().unwrap_or_default();
    Ok(ReleaseStory { v1: catalog.to_path_buf(), v2, v3 })
}

/// The story's steps and what happened, as the host plays them.
pub struct Player {
    deps: ReleaseDeps,
    story: ReleaseStory,
    steps: Vec<(DateTime<Utc>, u8)>,
    v1: Option<ReleaseId>,
    scoring_url: Option<String>,
    log: Vec<(DateTime<Utc>, String)>,
}

fn person(name: &str) -> Principal {
    Principal::development(name, ["Release.Approver".to_string()])
}

impl Player {
    pub fn new(state: &Path, story: ReleaseStory, from: DateTime<Utc>, settings: Vec<(String, String)>) -> Result<Self, String> {
        let scoring_url = settings.iter().find(|(k, _)| k == "CLAIMS_SCORING_URL").map(|(_, v)| v.clone());
        let settings =
            Arc::new(move |k: &str| settings.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).or_else(|| std::env::var(k).ok()));
        let runner = Arc::new(crate::adapters::http::HttpRunner::new(None)?);
        let deps = ReleaseDeps {
            store: Arc::new(SqliteStore::open(&store_path(state)).map_err(|e| e.to_string())?),
            audit: Arc::new(SqliteAudit::open(&audit_path(state)).map_err(|e| e.to_string())?),
            content: Arc::new(FileBlobs::new(state)),
            runner: runner.clone(),
            endpoints: runner,
            settings,
            azure: false,
        };
        // Monday 07:30 and 09:00, Friday 14:00 and 16:30 (UTC; inside the example's London window).
        let steps = vec![
            (from + Duration::minutes(7 * 60 + 30), 1),
            (from + Duration::hours(9), 2),
            (from + Duration::days(4) + Duration::hours(14), 3),
            (from + Duration::days(4) + Duration::minutes(16 * 60 + 30), 4),
        ];
        Ok(Self { deps, story, steps, v1: None, scoring_url, log: Vec::new() })
    }

    /// When the next step is due after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.steps.iter().map(|(t, _)| *t).find(|t| *t > now)
    }

    /// Plays every step due by `now`.
    pub async fn play(&mut self, now: DateTime<Utc>) {
        while let Some(&(at, step)) = self.steps.first().filter(|(t, _)| *t <= now) {
            self.steps.remove(0);
            let result = match step {
                1 => self.release(&self.story.v1.clone(), at, false).await.map(|id| self.v1 = Some(id)),
                2 => self.release(&self.story.v2.clone(), at, true).await.map(|_| ()),
                3 => self.release(&self.story.v3.clone(), at, false).await.map(|_| ()),
                _ => self.roll_back(at).await,
            };
            if let Err(e) = result {
                self.say(at, format!("step failed: {e}"));
            }
        }
    }

    /// The story's lines with what CanaryWatch and the switches recorded, in time order.
    pub async fn finish(self) -> Vec<String> {
        let mut lines = self.log;
        for e in self.deps.audit.read(None, None).await.unwrap_or_default() {
            let line = match e.kind {
                AuditKind::CanaryDecided if e.actor == releases::rollout::watcher().key() => format!("CanaryWatch: {}", e.decision),
                AuditKind::TrafficSwitched => format!("{} by {}", e.decision, e.actor),
                _ => continue,
            };
            lines.push((e.at, line));
        }
        lines.sort_by_key(|(at, _)| *at); // stable: the story's own lines keep their order
        lines.into_iter().map(|(at, l)| format!("{}  {l}", at.format("%a %H:%M"))).collect()
    }

    fn say(&mut self, at: DateTime<Utc>, line: String) {
        self.log.push((at, line));
    }

    /// Proposes a catalog, records its offline evaluation against the active release, has it
    /// approved and asks for its promotion (a canary, a switch, or a refusal).
    async fn release(&mut self, catalog: &Path, at: DateTime<Utc>, try_self_approval: bool) -> Result<ReleaseId, String> {
        let bundle = crate::commands::release::from_catalog(catalog)?;
        let d = self.deps.clone();
        let id =
            releases::propose(&d, bundle, &person("alice"), None, &catalog.display().to_string(), at).await.map_err(|e| e.to_string())?.id;
        self.say(at, format!("release {} proposed by dev:alice", id.short()));
        if try_self_approval {
            if let Err(e) = releases::approve(&d, &id, &person("alice"), at).await {
                self.say(at, format!("approval by dev:alice refused: {e}"));
            }
        }
        let r = self.evaluate(&id, at).await?;
        let figures = evaluation::figures(&r.comparison).join("; ");
        self.say(
            at,
            format!(
                "offline evaluation {} on {} items: {figures}",
                evaluation::verdict_word(r.verdict),
                r.comparison["evaluators"][0]["n"]
            ),
        );
        for who in ["bob", "carol"] {
            releases::approve(&d, &id, &person(who), at).await.map_err(|e| e.to_string())?;
        }
        match releases::promote(&d, &id, &person("alice"), &Promotion::default(), at).await {
            Ok(p) if p.canary.is_some() => {
                let c = p.canary.as_ref().map(|c| c.share_bp as f64 / 100.0).unwrap_or_default();
                self.say(at, format!("release {} approved by dev:bob and dev:carol: canary started on {c:.0} % of new items", id.short()));
            }
            Ok(p) => self.say(at, format!("release {} approved by dev:bob and dev:carol, checks passed, promoted ({})", id.short(), p.how)),
            Err(e) => self.say(at, format!("promotion of {} refused: {e}", id.short())),
        }
        Ok(id)
    }

    /// Scores the pinned dataset on the active release's deployment and the candidate's, through
    /// the demo scorer, and records the comparison.
    async fn evaluate(&self, id: &ReleaseId, at: DateTime<Utc>) -> Result<crate::domain::release::EvaluationRecord, String> {
        let d = &self.deps;
        let (bundle, view) = releases::load(d, id).await.map_err(|e| e.to_string())?;
        let dataset =
            view.catalog.releases.checks.evaluation.as_ref().ok_or("the demo catalog pins no evaluation dataset")?.dataset.clone();
        let items: Vec<Value> = String::from_utf8_lossy(&bundle.file(&dataset).unwrap_or_default())
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let deployment_of =
            |v: &releases::ReleaseView| v.catalog.jobs.values().find_map(|j| j.deployment.clone()).unwrap_or_else(|| "blue".into());
        let candidate = deployment_of(&view);
        let baseline = match releases::records::pointer(d.store.as_ref()).await.map_err(|e| e.to_string())? {
            Some((p, _)) => deployment_of(&releases::load(d, &p.release).await.map_err(|e| e.to_string())?.1),
            None => candidate.clone(),
        };
        let (base, cand) = (self.score(&items, &baseline).await?, self.score(&items, &candidate).await?);
        evaluation::evaluate(d, id, &person("carol"), base.as_bytes(), cand.as_bytes(), at).await.map_err(|e| e.to_string())
    }

    /// flowgate JSON Lines of exact matches of one deployment's answers.
    async fn score(&self, items: &[Value], deployment: &str) -> Result<String, String> {
        let url = self.scoring_url.clone().ok_or("no demo scorer")?;
        let client = reqwest::Client::new();
        let mut out = String::new();
        for item in items {
            let mut answer = Value::Null;
            // The demo scorer fails a call now and then on purpose: ask again.
            for _ in 0..5 {
                let r =
                    client.post(&url).header("azureml-model-deployment", deployment).json(&json!({ "text": item["text"] })).send().await;
                if let Some(r) = r.ok().filter(|r| r.status().is_success()) {
                    answer = r.json().await.unwrap_or(Value::Null);
                    break;
                }
            }
            let passed = answer["label"] == item["ground_truth"];
            out.push_str(&json!({ "item": item["id"], "evaluator": "exact_match", "passed": passed }).to_string());
            out.push('\n');
        }
        Ok(out)
    }

    async fn roll_back(&mut self, at: DateTime<Utc>) -> Result<(), String> {
        let to = self.v1.clone().ok_or("release v1 was never promoted")?;
        let p = releases::rollback(&self.deps, &to, &person("bob"), at).await.map_err(|e| e.to_string())?;
        let from = p.previous.as_ref().map_or("-", |x| x.short()).to_string();
        self.say(at, format!("rolled back from {from} to {} by dev:bob in one step", to.short()));
        Ok(())
    }
}
