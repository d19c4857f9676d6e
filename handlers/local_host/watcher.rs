//! A data folder as a blob container that raises BlobCreated: `<data-dir>/<container>/<path>`.
//! On a virtual clock, a file "arrives" when the clock reaches its modification time; files that
//! appear while flowgate runs (outputs, files dropped in by hand) arrive at once.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};

/// A blob that arrived.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Arrival {
    pub(super) at: DateTime<Utc>,
    pub(super) container: String,
    pub(super) path: String,
    pub(super) size: u64,
}

pub(super) struct Watcher {
    root: PathBuf,
    /// Files already announced (or there before we started), with the mtime announced.
    known: HashMap<PathBuf, SystemTime>,
    /// Virtual clock only: files waiting for the clock to reach their mtime.
    pending: BTreeSet<(DateTime<Utc>, PathBuf)>,
    virtual_clock: bool,
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, SystemTime, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            walk(&p, out);
        } else if meta.is_file()
            && !p.to_string_lossy().contains(".partial-")
            && !p.to_string_lossy().ends_with(crate::ports::SIDECAR_SUFFIX)
        {
            out.push((p, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len()));
        }
    }
}

impl Watcher {
    /// Takes the folder's current contents: on a virtual clock starting at `from`, files modified
    /// after `from` are pending arrivals; everything else counts as already there.
    pub(super) fn new(root: &Path, virtual_from: Option<DateTime<Utc>>) -> Self {
        let mut w =
            Self { root: root.to_path_buf(), known: HashMap::new(), pending: BTreeSet::new(), virtual_clock: virtual_from.is_some() };
        let mut files = Vec::new();
        walk(root, &mut files);
        for (p, mtime, _) in files {
            let at: DateTime<Utc> = mtime.into();
            match virtual_from {
                Some(from) if at > from => {
                    w.pending.insert((at, p));
                }
                _ => {
                    w.known.insert(p, mtime);
                }
            }
        }
        w
    }

    /// Files that arrived by `now`: pending ones whose time has come, and new or rewritten files.
    pub(super) fn due(&mut self, now: DateTime<Utc>, rescan: bool) -> Vec<Arrival> {
        let mut out = Vec::new();
        while let Some((at, p)) = self.pending.first().cloned() {
            if at > now {
                break;
            }
            self.pending.pop_first();
            if let Ok(meta) = std::fs::metadata(&p) {
                self.known.insert(p.clone(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
                if let Some(a) = self.arrival(&p, at, meta.len()) {
                    out.push(a);
                }
            }
        }
        if rescan {
            let mut files = Vec::new();
            walk(&self.root, &mut files);
            for (p, mtime, len) in files {
                if self.pending.iter().any(|(_, q)| *q == p) {
                    continue;
                }
                if self.known.get(&p) == Some(&mtime) {
                    continue;
                }
                self.known.insert(p.clone(), mtime);
                let at = if self.virtual_clock { now } else { mtime.into() };
                if let Some(a) = self.arrival(&p, at, len) {
                    out.push(a);
                }
            }
        }
        out.sort();
        out
    }

    /// The next pending arrival time after `now` (virtual clock).
    pub(super) fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.pending.iter().map(|(t, _)| *t).find(|t| *t > now)
    }

    fn arrival(&self, p: &Path, at: DateTime<Utc>, size: u64) -> Option<Arrival> {
        let rel = p.strip_prefix(&self.root).ok()?;
        let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned());
        let container = parts.next()?;
        let path: Vec<String> = parts.collect();
        if path.is_empty() {
            return None;
        }
        Some(Arrival { at, container, path: path.join("/"), size })
    }
}
