//! Which catalog runs, answered in one place: an invocation that starts runs (a tick, an arrival)
//! uses the active release, read from the pointer each time; a run's later work (its attempts,
//! polls, replays) uses the release the run was created under. Parsed releases are cached by id
//! (an id's content never changes). Without an active release the packaged catalog runs,
//! recorded as unreleased, unless `FLOWGATE_RELEASES=required`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{records, ReleaseDeps, ReleaseView};
use crate::domain::alert::{Alert, AlertKind};
use crate::domain::catalog::Catalog;
use crate::domain::release::ReleaseId;
use crate::flows::{Contracts, Deps, FlowError};
use crate::ports::BlobStore;

/// A release's parsed catalog and contracts.
type Pinned = (Arc<Catalog>, Arc<Contracts>);

/// This instance's releases: the packaged catalog, whether a release is required, and the
/// parsed releases it has seen.
pub struct ReleaseCache {
    pub content: Arc<dyn BlobStore>,
    /// `FLOWGATE_RELEASES=required`: nothing runs until a release is active.
    pub required: bool,
    /// Azure mode (approvals by development identities do not count).
    pub azure: bool,
    packaged: Pinned,
    views: Mutex<HashMap<ReleaseId, Pinned>>,
}

impl ReleaseCache {
    pub fn new(content: Arc<dyn BlobStore>, required: bool, azure: bool, catalog: Arc<Catalog>, contracts: Arc<Contracts>) -> Self {
        Self { content, required, azure, packaged: (catalog, contracts), views: Mutex::default() }
    }

    fn cached(&self, id: &ReleaseId) -> Option<Pinned> {
        self.views.lock().ok().and_then(|m| m.get(id).cloned())
    }

    fn keep(&self, view: &ReleaseView) {
        if let Ok(mut m) = self.views.lock() {
            m.insert(view.id.clone(), (view.catalog.clone(), view.contracts.clone()));
        }
    }
}

/// Whether `FLOWGATE_RELEASES` asks that nothing runs without an active release.
pub fn required_by(setting: Option<&str>) -> Result<bool, String> {
    match setting.map(str::trim) {
        None | Some("") | Some("optional") => Ok(false),
        Some("required") => Ok(true),
        Some(other) => Err(format!("FLOWGATE_RELEASES `{other}` is not `required` or `optional`")),
    }
}

impl Deps {
    /// What release operations need, from these dependencies.
    pub fn release_deps(&self) -> ReleaseDeps {
        ReleaseDeps {
            store: self.store.clone(),
            audit: self.audit.clone(),
            content: self.releases.content.clone(),
            runner: self.runner.clone(),
            settings: self.settings.clone(),
            azure: self.releases.azure,
            endpoints: self.endpoints.clone(),
        }
    }

    /// These dependencies on the active release (the packaged catalog when none is active and
    /// none is required); `None` when a release is required and none is active.
    pub async fn active(&self) -> Result<Option<Deps>, FlowError> {
        let pointer = match records::pointer(self.store.as_ref()).await? {
            Some((p, _)) if !p.recorded => super::converge(&self.release_deps()).await.map_err(release_error)?,
            other => other.map(|(p, _)| p),
        };
        match pointer {
            Some(p) => {
                let mut deps = self.pinned(Some(&p.release)).await?;
                deps.canary = p.canary.map(Arc::new);
                Ok(Some(deps))
            }
            None if self.releases.required => Ok(None),
            None => self.pinned(None).await.map(Some),
        }
    }

    /// These dependencies on `release` (a run's own), or on the packaged catalog for `None`.
    pub async fn pinned(&self, release: Option<&ReleaseId>) -> Result<Deps, FlowError> {
        if release == self.release.as_ref() && (release.is_some() || Arc::ptr_eq(&self.catalog, &self.releases.packaged.0)) {
            return Ok(self.clone());
        }
        let (catalog, contracts) = match release {
            None => self.releases.packaged.clone(),
            Some(id) => match self.releases.cached(id) {
                Some(x) => x,
                None => {
                    let (_, view) = super::load(&self.release_deps(), id).await.map_err(release_error)?;
                    self.releases.keep(&view);
                    (view.catalog, view.contracts)
                }
            },
        };
        Ok(Deps { catalog, contracts, release: release.cloned(), canary: None, ..self.clone() })
    }
}

fn release_error(e: super::ReleaseError) -> FlowError {
    match e {
        super::ReleaseError::Store(s) => FlowError::Store(s),
        super::ReleaseError::Audit(a) => FlowError::Audit(a),
        other => FlowError::Release(other.to_string()),
    }
}

/// Raises (once a day) that nothing runs because a release is required and none is active.
pub async fn no_active_release(deps: &Deps, now: chrono::DateTime<chrono::Utc>) -> Result<Option<Alert>, FlowError> {
    let day = now.format("%Y-%m-%d").to_string();
    let message = "no release is active and FLOWGATE_RELEASES=required: nothing runs until one is promoted \
                   (flowgate release propose, approve, promote; docs/releases.md)"
        .to_string();
    let alert = Alert {
        kind: AlertKind::NoActiveRelease,
        subject: "releases".into(),
        key: day,
        raised_at: now,
        due_at: now,
        owner: None,
        message,
        late: false,
    };
    crate::flows::alerts::raise(deps, alert).await
}

/// Raises an alert for each emergency change whose review is overdue (once per change).
pub async fn review_pass(deps: &Deps, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<Alert>, FlowError> {
    let mut out = Vec::new();
    for (change, _) in records::emergencies(deps.store.as_ref()).await? {
        if change.review_state(now) != "overdue" {
            continue;
        }
        let message = format!(
            "the emergency change {} (incident {}) by {} was due for review by a second person at {}: `flowgate release review {}`",
            change.release.short(),
            change.incident,
            change.by.key(),
            change.review_due.to_rfc3339(),
            change.release.short()
        );
        let alert = Alert {
            kind: AlertKind::EmergencyReviewOverdue,
            subject: "releases".into(),
            key: change.release.to_string(),
            raised_at: now,
            due_at: change.review_due,
            owner: None,
            message,
            late: false,
        };
        out.extend(crate::flows::alerts::raise(deps, alert).await?);
    }
    Ok(out)
}
