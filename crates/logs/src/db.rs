//! The database file: connection settings, the schema and its migrations, read transactions
//! and the pool of read connections.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::LogsError;

/// How long a connection waits on a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Size the write-ahead log is cut back to after a checkpoint (a large batch may grow it beyond).
const WAL_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Opens the writer's connection: creates the file if needed, enables WAL and migrates.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, LogsError> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LogsError::Database(format!("cannot enable WAL (journal_mode={mode})")));
    }
    // Log events are not acknowledged writes: a commit is durable once the WAL is checkpointed,
    // and a power loss may drop the last commits but cannot corrupt the database.
    // Statement journals (multi-row INSERTs, API writes' savepoints) in memory: in a temporary
    // file they cost a `pwrite` per index page an insert touches, ~a quarter of this writer's
    // CPU under invoke load. A batch is bounded (WRITE_BATCH_MAX jobs), so is what they hold.
    conn.execute_batch(&format!(
        "PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit={WAL_BYTES_MAX}; PRAGMA temp_store=MEMORY;"
    ))?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens one read-only connection; the writer must have created the file.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, LogsError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// **Invariant:** entries are only ever appended, never edited.
///
/// The writer keeps the tables consistent (no foreign keys): `stored_bytes` of a stream and of a
/// group are the sums of `bytes` of their events, and a stream's `first_event_ms` /
/// `last_event_ms` are the smallest and largest timestamps it ever held that are still stored.
const MIGRATIONS: &[&str] = &[
    // 1: groups, streams, events.
    r#"
    CREATE TABLE log_groups (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        name            TEXT NOT NULL,
        created_ms      INTEGER NOT NULL,
        retention_days  INTEGER,
        stored_bytes    INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account, region, name)
    );
    CREATE TABLE log_streams (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        group_id            INTEGER NOT NULL,
        name                TEXT NOT NULL,
        created_ms          INTEGER NOT NULL,
        first_event_ms      INTEGER,
        last_event_ms       INTEGER,
        last_ingestion_ms   INTEGER,
        upload_sequence     INTEGER NOT NULL DEFAULT 0,
        stored_bytes        INTEGER NOT NULL DEFAULT 0,
        UNIQUE (group_id, name)
    );
    CREATE TABLE log_events (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        group_id        INTEGER NOT NULL,
        stream_id       INTEGER NOT NULL,
        timestamp_ms    INTEGER NOT NULL,
        ingestion_ms    INTEGER NOT NULL,
        bytes           INTEGER NOT NULL,
        message         TEXT NOT NULL
    );
    -- Every index ends with the rowid (`id`), so both serve ORDER BY timestamp_ms, id.
    CREATE INDEX log_events_by_stream ON log_events (stream_id, timestamp_ms);
    CREATE INDEX log_events_by_group ON log_events (group_id, timestamp_ms);
    "#,
];

fn migrate(conn: &mut Connection) -> Result<(), LogsError> {
    let applied = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(LogsError::Database(format!(
            "the log database has schema version {applied}, newer than this Versa knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied log store migration");
    }
    Ok(())
}

/// Runs `f` inside one read transaction, so it sees one consistent snapshot.
pub(crate) fn in_read_tx<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, LogsError>,
) -> Result<T, LogsError> {
    // A read that panicked may have left its transaction open; end it before reusing the connection.
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    conn.execute_batch("BEGIN DEFERRED")?;
    let result = f(conn);
    // A read transaction has nothing to commit; ending it releases the snapshot.
    let ended = conn.execute_batch("COMMIT");
    let value = result?;
    ended?;
    Ok(value)
}

/// A read connection taken from the pool; it goes back when the lease is dropped, even on panic.
pub(crate) struct Lease {
    conn: Option<Connection>,
    pool: Arc<Mutex<Vec<Connection>>>,
}

impl Lease {
    pub(crate) fn take(pool: Arc<Mutex<Vec<Connection>>>) -> Result<Lease, LogsError> {
        let conn = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match conn {
            Some(conn) => Ok(Lease { conn: Some(conn), pool }),
            // The semaphore admits at most as many reads as there are connections.
            None => Err(LogsError::Database("no free read connection".to_owned())),
        }
    }

    /// Runs `f` in a read transaction on the leased connection.
    pub(crate) fn run<T>(&self, f: impl FnOnce(&Connection) -> Result<T, LogsError>) -> Result<T, LogsError> {
        match &self.conn {
            Some(conn) => in_read_tx(conn, f),
            // Only `drop` empties the option.
            None => Err(LogsError::Database("a read lease lost its connection".to_owned())),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        }
    }
}
