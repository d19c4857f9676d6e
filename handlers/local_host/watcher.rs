//! A data folder as a blob container that raises BlobCreated: `<data-dir>/<container>/<path>`.
//! On a virtual clock, a file "arrives" when the clock reaches its modification time; files that
//! appear while flowgate runs (outputs, files dropped in by hand) arrive at once.
//!
//! On the real clock the folder is watched through the operating system's file notifications
//! (`notify`: inotify on Linux): a file arrives when it is closed after writing or renamed into
//! place, rewrites in place included, without looking at the other files. A rescan runs as the
//! fallback every `FALLBACK_RESCAN` (and when the kernel's queue overflowed), or on every tick
//! where notifications cannot be had (a file system without them).
//!
//! A rescan costs the number of folders, not of files: it reads each folder's modification time
//! and lists only the folders that changed since the last scan (a file created, renamed into
//! place or removed changes its folder's time; flowgate writes every file by renaming it into
//! place and then stamps the folder with the precise time, as kernels before 6.13 take folder
//! times from a clock that ticks every few milliseconds). So the host's work per tick does not
//! grow with the files that have landed. A file
//! rewritten in place does not change its folder's time: on the virtual clock (and without
//! notifications) it is seen again only when something else in its folder changes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// With notifications, how often the folders are rescanned anyway (a notification missed, a
/// file system that gives creations but no close events).
pub(super) const FALLBACK_RESCAN: Duration = Duration::from_secs(5);

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
    /// The real clock's file notifications, once `watch` started them.
    notified: Option<Notifications>,
}

/// What the operating system said changed.
#[derive(Debug)]
enum Change {
    /// A file written and closed, or renamed into place.
    File(PathBuf),
    /// A folder created or moved in: its files are listed.
    Folder(PathBuf),
    /// Notifications were lost: rescan everything.
    Rescan,
}

struct Notifications {
    /// Kept alive for as long as notifications are wanted.
    _watcher: notify::RecommendedWatcher,
    changes: UnboundedReceiver<Change>,
    /// Changes received while waiting, not handled yet.
    inbox: Vec<Change>,
    last_rescan: Instant,
}

/// What an event means for the data folder (nothing yet for a file still open for writing).
fn changes_of(event: notify::Event) -> Vec<Change> {
    if event.need_rescan() {
        return vec![Change::Rescan];
    }
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => event.paths.into_iter().map(Change::File).collect(),
        EventKind::Modify(ModifyKind::Name(_)) => {
            event.paths.into_iter().map(|p| if p.is_dir() { Change::Folder(p) } else { Change::File(p) }).collect()
        }
        EventKind::Create(CreateKind::Folder) => event.paths.into_iter().map(Change::Folder).collect(),
        _ => Vec::new(),
    }
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
        // Notifications name paths under the folder as it was given to them: one spelling.
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut w = Self {
            root: root.clone(),
            known: HashMap::new(),
            pending: BTreeSet::new(),
            pending_paths: HashSet::new(),
            dirs: HashMap::new(),
            virtual_clock: virtual_from.is_some(),
            notified: None,
        };
        let mut files = Vec::new();
        w.scan(&root, &mut files);
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

    /// Real clock: watches the folder through file notifications from now on. On failure (no
    /// notifications on this file system, the watch limit reached) says why; the host then
    /// rescans on every tick.
    pub(super) fn watch(&mut self) -> Result<(), String> {
        let (tx, rx) = unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let changes = match event {
                Ok(e) => changes_of(e),
                Err(e) => {
                    tracing::warn!(error = %e, "file notification lost; rescanning the data folder");
                    vec![Change::Rescan]
                }
            };
            for c in changes {
                let _ = tx.send(c);
            }
        })
        .map_err(|e| e.to_string())?;
        notify::Watcher::watch(&mut watcher, &self.root, notify::RecursiveMode::Recursive).map_err(|e| e.to_string())?;
        self.notified = Some(Notifications { _watcher: watcher, changes: rx, inbox: Vec::new(), last_rescan: Instant::now() });
        // What landed between the first scan and the watch.
        self.rescan_soon();
        Ok(())
    }

    /// Whether file notifications are on.
    pub(super) fn notifying(&self) -> bool {
        self.notified.is_some()
    }

    /// Waits for the next file notification (forever without notifications).
    pub(super) async fn changed(&mut self) {
        match self.notified.as_mut() {
            Some(n) => match n.changes.recv().await {
                Some(c) => n.inbox.push(c),
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    fn rescan_soon(&mut self) {
        if let Some(n) = self.notified.as_mut() {
            n.last_rescan = Instant::now().checked_sub(FALLBACK_RESCAN).unwrap_or_else(Instant::now);
        }
    }

    /// Files that arrived by `now`: pending ones whose time has come, and new or rewritten files.
    /// `rescan` asks for the folders to be looked at again; with notifications that happens only
    /// every `FALLBACK_RESCAN`, the notifications say the rest.
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
        let mut files = Vec::new();
        let full = match self.notified.as_mut() {
            None => rescan,
            Some(n) => {
                let mut changes = std::mem::take(&mut n.inbox);
                while let Ok(c) = n.changes.try_recv() {
                    changes.push(c);
                }
                let mut full = n.last_rescan.elapsed() >= FALLBACK_RESCAN;
                for c in changes {
                    match c {
                        Change::Rescan => full = true,
                        Change::Folder(dir) => {
                            self.dirs.remove(&dir);
                            self.scan(&dir, &mut files);
                        }
                        Change::File(p) => {
                            if let Ok(meta) = std::fs::metadata(&p) {
                                if meta.is_file() && is_announced(&p) {
                                    files.push((p, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len()));
                                }
                            }
                        }
                    }
                }
                if full {
                    if let Some(n) = self.notified.as_mut() {
                        n.last_rescan = Instant::now();
                    }
                }
                full
            }
        };
        if full {
            let root = self.root.clone();
            self.scan(&root, &mut files);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::local::files::FileBlobs;
    use crate::ports::BlobStore;

    fn names(a: &[Arrival]) -> Vec<String> {
        a.iter().map(|a| format!("{}/{}", a.container, a.path)).collect()
    }

    #[tokio::test]
    async fn files_written_back_to_back_into_one_folder_each_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FileBlobs::new(dir.path());
        blobs.write("out", "job/a.jsonl", b"{}\n").await.unwrap();
        let start = Utc::now();
        let mut w = Watcher::new(dir.path(), Some(start));
        // A rescan between two writes, back to back: within one tick of the file clock where the
        // kernel stamps folders coarsely (before 6.13; newer kernels stamp a folder precisely
        // once its time was read).
        for i in 0..20 {
            blobs.write("out", &format!("job/{i}.jsonl"), b"{}\n").await.unwrap();
            assert_eq!(names(&w.due(start, true)), vec![format!("out/job/{i}.jsonl")], "write {i}");
        }
        assert!(w.due(start, true).is_empty());
    }

    #[tokio::test]
    async fn with_notifications_a_rewrite_in_place_and_a_new_folder_arrive() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("landing/a")).unwrap();
        std::fs::write(dir.path().join("landing/a/old.csv"), "x\n").unwrap();
        let mut w = Watcher::new(dir.path(), None);
        w.watch().unwrap();
        assert!(w.notifying());
        let wait_for = |w: &mut Watcher, want: &str| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let got = names(&w.due(Utc::now(), false));
                if got.iter().any(|n| n == want) {
                    return got;
                }
                assert!(std::time::Instant::now() < deadline, "{want} never arrived");
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        // In place: the folder's time does not change, the notification says it.
        std::fs::write(dir.path().join("landing/a/old.csv"), "x\ny\n").unwrap();
        assert_eq!(wait_for(&mut w, "landing/a/old.csv"), vec!["landing/a/old.csv"]);
        // A folder made after the watch started, and a file in it.
        std::fs::create_dir_all(dir.path().join("landing/b/c")).unwrap();
        std::fs::write(dir.path().join("landing/b/c/new.csv"), "z\n").unwrap();
        wait_for(&mut w, "landing/b/c/new.csv");
    }
}
