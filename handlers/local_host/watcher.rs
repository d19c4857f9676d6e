//! A data folder as a blob container that raises BlobCreated: `<data-dir>/<container>/<path>`.
//! On a virtual clock, a file "arrives" when the clock reaches its modification time; files that
//! appear while flowgate runs (outputs, files dropped in by hand) arrive at once.
//!
//! A rescan costs the number of folders, not of files: it reads each folder's modification time
//! and lists only the folders that changed since the last scan (a file created, renamed into
//! place or removed changes its folder's time; flowgate writes every file by renaming it into
//! place). So the host's work per tick does not grow with the files that have landed.

use std::collections::{BTreeSet, HashMap, HashSet};
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
    /// The same files, by path.
    pending_paths: HashSet<PathBuf>,
    /// Each folder's modification time at the last scan, and its subfolders.
    dirs: HashMap<PathBuf, Folder>,
    virtual_clock: bool,
}

struct Folder {
    mtime: SystemTime,
    subfolders: Vec<PathBuf>,
}

fn is_announced(p: &Path) -> bool {
    let s = p.to_string_lossy();
    !s.contains(".partial-") && !s.ends_with(crate::ports::SIDECAR_SUFFIX)
}

impl Watcher {
    /// Takes the folder's current contents: on a virtual clock starting at `from`, files modified
    /// after `from` are pending arrivals; everything else counts as already there.
    pub(super) fn new(root: &Path, virtual_from: Option<DateTime<Utc>>) -> Self {
        let mut w = Self {
            root: root.to_path_buf(),
            known: HashMap::new(),
            pending: BTreeSet::new(),
            pending_paths: HashSet::new(),
            dirs: HashMap::new(),
            virtual_clock: virtual_from.is_some(),
        };
        let mut files = Vec::new();
        w.scan(root, &mut files);
        for (p, mtime, _) in files {
            let at: DateTime<Utc> = mtime.into();
            match virtual_from {
                Some(from) if at > from => {
                    w.pending_paths.insert(p.clone());
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
            self.pending_paths.remove(&p);
            if let Ok(meta) = std::fs::metadata(&p) {
                self.known.insert(p.clone(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
                if let Some(a) = self.arrival(&p, at, meta.len()) {
                    out.push(a);
                }
            }
        }
        if rescan {
            let mut files = Vec::new();
            let root = self.root.clone();
            self.scan(&root, &mut files);
            for (p, mtime, len) in files {
                if self.pending_paths.contains(&p) {
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

    /// The files of every folder that changed since the last scan (all of them the first time),
    /// with their modification time and size.
    fn scan(&mut self, dir: &Path, out: &mut Vec<(PathBuf, SystemTime, u64)>) {
        let Ok(meta) = std::fs::metadata(dir) else {
            self.dirs.remove(dir);
            return;
        };
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if let Some(f) = self.dirs.get(dir).filter(|f| f.mtime == mtime) {
            for sub in f.subfolders.clone() {
                self.scan(&sub, out);
            }
            return;
        }
        let mut subfolders = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                let Ok(meta) = e.metadata() else { continue };
                if meta.is_dir() {
                    subfolders.push(p);
                } else if meta.is_file() && is_announced(&p) {
                    out.push((p, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len()));
                }
            }
        }
        for sub in &subfolders {
            self.scan(sub, out);
        }
        self.dirs.insert(dir.to_path_buf(), Folder { mtime, subfolders });
    }

    /// The next pending arrival time after `now` (virtual clock).
    pub(super) fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.pending.range((now + chrono::Duration::nanoseconds(1), PathBuf::new())..).next().map(|(t, _)| *t)
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
