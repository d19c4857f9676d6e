//! A folder as blob storage: `<root>/<container>/<path>`. Paths are checked so that nothing
//! outside the root can be read or written.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

use std::collections::BTreeMap;

use crate::ports::{BlobError, BlobStore, SIDECAR_SUFFIX};

/// Files under a root folder, addressed like blobs.
#[derive(Debug, Clone)]
pub struct FileBlobs {
    root: PathBuf,
}

impl FileBlobs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file behind a blob, refusing absolute paths and `..`.
    pub fn file_of(&self, container: &str, path: &str) -> Result<PathBuf, BlobError> {
        let rel = Path::new(container).join(path);
        let ok = !container.is_empty() && !path.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if ok {
            Ok(self.root.join(rel))
        } else {
            Err(BlobError::BadPath(format!("{container}/{path}")))
        }
    }
}

#[async_trait]
impl BlobStore for FileBlobs {
    async fn read(&self, container: &str, path: &str) -> Result<Vec<u8>, BlobError> {
        let file = self.file_of(container, path)?;
        match tokio::fs::read(&file).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound(format!("{container}/{path}"))),
            Err(e) => Err(BlobError::Unavailable(format!("{}: {e}", file.display()))),
        }
    }

    async fn open(&self, container: &str, path: &str) -> Result<Box<dyn std::io::Read + Send>, BlobError> {
        let file = self.file_of(container, path)?;
        match std::fs::File::open(&file) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound(format!("{container}/{path}"))),
            Err(e) => Err(BlobError::Unavailable(format!("{}: {e}", file.display()))),
        }
    }

    async fn metadata(&self, container: &str, path: &str) -> Result<BTreeMap<String, String>, BlobError> {
        let sidecar = self.file_of(container, &format!("{path}{SIDECAR_SUFFIX}"))?;
        let text = match tokio::fs::read_to_string(&sidecar).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(BlobError::Unavailable(format!("{}: {e}", sidecar.display()))),
        };
        // A sidecar that is not an object of strings counts as no metadata, named in the log.
        match serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&text) {
            Ok(m) => Ok(m.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k.to_ascii_lowercase(), s.to_string()))).collect()),
            Err(e) => {
                tracing::warn!(sidecar = %sidecar.display(), error = %e, "unreadable blob metadata sidecar");
                Ok(BTreeMap::new())
            }
        }
    }

    async fn write(&self, container: &str, path: &str, content: &[u8]) -> Result<(), BlobError> {
        let file = self.file_of(container, path)?;
        let unavailable = |e: std::io::Error| BlobError::Unavailable(format!("{}: {e}", file.display()));
        if let Some(dir) = file.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(unavailable)?;
        }
        // Write then rename, so a reader never sees half a blob.
        let tmp = file.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, content).await.map_err(unavailable)?;
        tokio::fs::rename(&tmp, &file).await.map_err(unavailable)?;
        if let Some(dir) = file.parent() {
            stamp_folder(dir);
        }
        Ok(())
    }
}

/// Sets a folder's modification time to this instant. The kernel stamps folders from a coarse
/// clock (a tick of a few milliseconds), so two files renamed into one folder within a tick leave
/// it with the same time, and a watcher that lists only folders whose time changed (the local
/// host's) would miss the second. Best effort: a folder that cannot be stamped is still listed
/// at the host's next rescan or notification.
fn stamp_folder(dir: &Path) {
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.set_modified(std::time::SystemTime::now())) {
        tracing::debug!(folder = %dir.display(), error = %e, "folder time not set");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let b = FileBlobs::new(dir.path());
        b.write("out", "a/b.jsonl", b"{}\n").await.unwrap();
        assert_eq!(b.read("out", "a/b.jsonl").await.unwrap(), b"{}\n");
        assert!(matches!(b.read("out", "nope").await, Err(BlobError::NotFound(_))));
        for (c, p) in [("out", "../x"), ("..", "x"), ("out", "/etc/passwd"), ("", "x"), ("out", "")] {
            assert!(matches!(b.read(c, p).await, Err(BlobError::BadPath(_))), "{c}/{p}");
        }
    }
}
