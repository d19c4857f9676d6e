//! The demo's release story, played on the virtual clock by development identities: release v1
//! (the example catalog) is approved by two people and promoted on Monday morning; on Wednesday a
//! change (the hourly classification moved five minutes later) is proposed, its author's own
//! approval is refused, two others approve it and it is promoted; on Friday afternoon it is rolled
//! back to v1 in one step. Each step runs through the same flows as `flowgate release`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::adapters::local::{FileBlobs, SqliteAudit, SqliteStore};
use crate::app::{audit_path, store_path};
use crate::domain::principal::Principal;
use crate::domain::release::ReleaseId;
use crate::flows::releases::{self as releases, Promotion, ReleaseDeps};

/// The identities the story acts as (written to `<state>/identities.yaml`).
pub const IDENTITIES: &str = "# Development identities for `flowgate release --as NAME` (demo).\nalice: [Release.Approver]\nbob: [Release.Approver]\ncarol: [Release.Approver]\n";

/// The two catalogs the story releases.
#[derive(Debug, Clone)]
pub struct ReleaseStory {
    pub v1: PathBuf,
    pub v2: PathBuf,
}

/// Writes the identities and the changed catalog (with its contracts and samples) under `state`.
pub fn prepare(catalog: &Path, state: &Path) -> Result<ReleaseStory, String> {
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let ids = state.join(crate::adapters::local::identities::FILE);
    std::fs::write(&ids, IDENTITIES).map_err(|e| io(&ids, e))?;
    let source = catalog.parent().unwrap_or(Path::new("."));
    let changed = state.join("demo-change");
    for sub in ["contracts", "samples"] {
        let (from, to) = (source.join(sub), changed.join(sub));
        std::fs::create_dir_all(&to).map_err(|e| io(&to, e))?;
        for f in std::fs::read_dir(&from).map_err(|e| io(&from, e))?.flatten() {
            std::fs::copy(f.path(), to.join(f.file_name())).map_err(|e| io(&f.path(), e))?;
        }
    }
    let text = std::fs::read_to_string(catalog).map_err(|e| io(catalog, e))?;
    let moved = text.replace("schedule: \"0 15 8-18 * * Mon-Fri\"", "schedule: \"0 20 8-18 * * Mon-Fri\"");
    if moved == text {
        return Err(format!("{}: the demo's change (classify_correspondence's schedule) no longer applies", catalog.display()));
    }
    let v2 = changed.join("catalog.yaml");
    std::fs::write(&v2, moved).map_err(|e| io(&v2, e))?;
    Ok(ReleaseStory { v1: catalog.to_path_buf(), v2 })
}

/// The story's steps and what happened, as the host plays them.
pub struct Player {
    deps: ReleaseDeps,
    story: ReleaseStory,
    steps: Vec<(DateTime<Utc>, u8)>,
    v1: Option<ReleaseId>,
    pub log: Vec<String>,
}

fn person(name: &str) -> Principal {
    Principal::development(name, ["Release.Approver".to_string()])
}

impl Player {
    pub fn new(state: &Path, story: ReleaseStory, from: DateTime<Utc>, settings: Vec<(String, String)>) -> Result<Self, String> {
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
        // Monday 07:30, Wednesday 10:00, Friday 16:00 (UTC; inside the example's London window).
        let steps = vec![
            (from + Duration::minutes(7 * 60 + 30), 1),
            (from + Duration::days(2) + Duration::hours(10), 2),
            (from + Duration::days(4) + Duration::hours(16), 3),
        ];
        Ok(Self { deps, story, steps, v1: None, log: Vec::new() })
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
                _ => self.roll_back(at).await,
            };
            if let Err(e) = result {
                self.log.push(format!("{}  step failed: {e}", at.format("%a %H:%M")));
            }
        }
    }

    async fn release(&mut self, catalog: &Path, at: DateTime<Utc>, try_self_approval: bool) -> Result<ReleaseId, String> {
        let d = &self.deps;
        let bundle = crate::commands::release::from_catalog(catalog)?;
        let id =
            releases::propose(d, bundle, &person("alice"), None, &catalog.display().to_string(), at).await.map_err(|e| e.to_string())?.id;
        let day = at.format("%a %H:%M");
        self.log.push(format!("{day}  release {} proposed by dev:alice", id.short()));
        if try_self_approval {
            if let Err(e) = releases::approve(d, &id, &person("alice"), at).await {
                self.log.push(format!("{day}  approval by dev:alice refused: {e}"));
            }
        }
        for who in ["bob", "carol"] {
            releases::approve(d, &id, &person(who), at).await.map_err(|e| e.to_string())?;
        }
        let p = releases::promote(d, &id, &person("alice"), &Promotion::default(), at).await.map_err(|e| e.to_string())?;
        self.log.push(format!("{day}  release {} approved by dev:bob and dev:carol, checks passed, promoted ({})", id.short(), p.how));
        Ok(id)
    }

    async fn roll_back(&mut self, at: DateTime<Utc>) -> Result<(), String> {
        let to = self.v1.clone().ok_or("release v1 was never promoted")?;
        let p = releases::rollback(&self.deps, &to, &person("bob"), at).await.map_err(|e| e.to_string())?;
        let from = p.previous.as_ref().map_or("-", |x| x.short()).to_string();
        self.log.push(format!("{}  rolled back from {from} to {} by dev:bob in one step", at.format("%a %H:%M"), to.short()));
        Ok(())
    }
}
