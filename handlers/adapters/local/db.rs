//! One SQLite connection per process and file, used from async code through `spawn_blocking`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating) a database in WAL mode, with a busy timeout so that two processes (the host
    /// stand-in and the handler) can share it.
    pub(crate) fn open(path: &Path, schema: &str) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Two processes creating the same new file race for the switch to WAL, which SQLite
        // answers with SQLITE_BUSY at once (no busy handler): try again for a few seconds.
        let mut tries = 0;
        loop {
            let setup = conn
                .pragma_update(None, "journal_mode", "WAL")
                .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
                .and_then(|()| conn.execute_batch(schema));
            match setup {
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20 + fastrand::u64(0..30)));
                }
                other => break other?,
            }
        }
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("database task failed: {e}"))?
    }

    /// Runs `f` on the calling thread (for synchronous callers such as the CLI).
    pub(crate) fn call_blocking<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let mut guard = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard).map_err(|e| e.to_string())
    }
}
