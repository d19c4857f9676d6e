//! One SQLite connection per process and file, with its statements prepared once and cached.
//! Async callers run their statement on the calling thread: a local statement takes tens of
//! microseconds, less than handing it to the blocking pool and back (that hand-off made the demo
//! week 31 s instead of 13 s). A writer of the other process is waited for by SQLite's busy
//! handler, at most `BUSY_TIMEOUT`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

/// How long a statement waits for the other process's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection (every adapter's statements fit).
const STATEMENT_CACHE: usize = 64;

#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating) a database in WAL mode, with a busy timeout so that two processes (the host
    /// stand-in and the handler) can share it.
    pub(crate) fn open(path: &Path, schema: &str) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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

    /// Runs `f` for an async caller (on its thread, see the module's note).
    pub(crate) async fn call<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        self.call_blocking(f)
    }

    /// Runs `f` on the calling thread.
    pub(crate) fn call_blocking<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let mut guard = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard).map_err(|e| e.to_string())
    }
}
