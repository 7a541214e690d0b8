//! The SQLite side of the metadata database: one file (WAL, `synchronous=FULL`: a commit that
//! returned is on disk), one writer connection behind a mutex and a small pool of read
//! connections.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{BucketRow, Meta, ObjectRow, OutboxRow, OutboxTotals, PartRow, UploadRow};
use crate::error::ApiError;
use crate::limits::READ_CONNECTIONS;

/// The schema, one migration per entry, applied in order and counted by `PRAGMA user_version`.
/// Append only.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE buckets (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    region TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    notification TEXT
) STRICT;
CREATE INDEX buckets_by_owner ON buckets (owner, name);
CREATE TABLE objects (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    meta TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) STRICT, WITHOUT ROWID;
CREATE TABLE uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    initiator TEXT NOT NULL,
    initiated_ms INTEGER NOT NULL,
    meta TEXT NOT NULL
) STRICT;
CREATE INDEX uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) STRICT, WITHOUT ROWID;
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
"#,
    r#"
CREATE TABLE outbox (
    -- AUTOINCREMENT: an id is never reused, so a claim held in memory on a settled row's id can
    -- never cover a newer row.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function_arn TEXT NOT NULL,
    bucket TEXT NOT NULL,
    owner TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    due_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_by_due ON outbox (due_ms, id);
"#,
];

/// The database handle.
pub struct SqliteDb {
    path: PathBuf,
    pub(super) writer: Mutex<Connection>,
    readers: Mutex<ReadPool>,
    reader_freed: Condvar,
}

struct ReadPool {
    idle: Vec<Connection>,
    open: usize,
}

/// Sizes and counters are `u64` here and `INTEGER` (i64) in SQLite; they never reach 2^63.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

impl SqliteDb {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> rusqlite::Result<SqliteDb> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
        }
        tx.commit()?;
        Ok(SqliteDb {
            path: path.to_owned(),
            writer: Mutex::new(conn),
            readers: Mutex::new(ReadPool { idle: Vec::new(), open: 0 }),
            reader_freed: Condvar::new(),
        })
    }

    /// Every data file the database references, for the startup sweep.
    pub fn referenced_files(&self) -> rusqlite::Result<std::collections::HashSet<String>> {
        referenced_files(&self.writer.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs `f` in one IMMEDIATE write transaction; commits (fsynced) if it returns `Ok`.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Like [`Db::write`], but the commit is not fsynced (`synchronous=NORMAL` for this one
    /// transaction): a crash of the machine may undo it (whole, never in part; the next fsynced
    /// commit makes it durable). Only for changes whose loss is harmless: settling delivered
    /// outbox rows, where a lost delete delivers the event again (at least once) and saves an
    /// fsync on every notified write.
    pub fn write_unsynced<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })();
        // Setting the flag does no I/O; if it still failed, no later write may run unsynced.
        if let Err(e) = conn.pragma_update(None, "synchronous", "FULL") {
            tracing::error!(error = %e, "s3: cannot restore synchronous=FULL; aborting to keep writes durable");
            std::process::abort();
        }
        result
    }

    /// Runs `f` in one read transaction (a consistent snapshot) on a pooled read connection.
    pub fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut conn = self.take_reader()?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx)?;
            tx.finish()?;
            Ok(out)
        })();
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        pool.idle.push(conn);
        self.reader_freed.notify_one();
        result
    }

    fn take_reader(&self) -> Result<Connection, ApiError> {
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            if pool.open < READ_CONNECTIONS {
                pool.open += 1;
                drop(pool);
                let opened = Connection::open(&self.path).and_then(|c| configure(&c).map(|()| c));
                if opened.is_err() {
                    self.readers.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
                }
                return Ok(opened?);
            }
            pool = self.reader_freed.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }
}

// --- Buckets -------------------------------------------------------------------------------

fn bucket_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BucketRow> {
    Ok(BucketRow {
        name: r.get(0)?,
        owner: r.get(1)?,
        region: r.get(2)?,
        created_ms: r.get(3)?,
        notification: r.get(4)?,
    })
}

pub(super) fn get_bucket(c: &Connection, name: &str) -> rusqlite::Result<Option<BucketRow>> {
    c.query_row("SELECT name, owner, region, created_ms, notification FROM buckets WHERE name = ?1", [name], bucket_row)
        .optional()
}

pub(super) fn list_buckets(c: &Connection, owner: &str) -> rusqlite::Result<Vec<BucketRow>> {
    let mut st = c.prepare_cached(
        "SELECT name, owner, region, created_ms, notification FROM buckets WHERE owner = ?1 ORDER BY name",
    )?;
    st.query_map([owner], bucket_row)?.collect()
}

pub(super) fn count_buckets(c: &Connection, owner: &str) -> rusqlite::Result<u64> {
    c.query_row("SELECT count(*) FROM buckets WHERE owner = ?1", [owner], |r| uint(r, 0))
}

pub(super) fn insert_bucket(c: &Connection, b: &BucketRow) -> rusqlite::Result<bool> {
    c.execute(
        "INSERT INTO buckets (name, owner, region, created_ms, notification) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![b.name, b.owner, b.region, b.created_ms, b.notification],
    )?;
    Ok(true)
}

/// Nothing to lock: one writer connection.
pub(super) fn lock_keys(_c: &Connection, _bucket: &str, _keys: &[&str]) -> rusqlite::Result<()> {
    Ok(())
}

/// Nothing to lock: one writer connection.
pub(super) fn lock_bucket(_c: &Connection, _name: &str) -> rusqlite::Result<()> {
    Ok(())
}

pub(super) fn delete_bucket(c: &Connection, name: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM buckets WHERE name = ?1", [name])?;
    Ok(())
}

/// Whether the bucket holds objects or in-flight multipart uploads.
pub(super) fn bucket_has_content(c: &Connection, name: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM objects WHERE bucket = ?1) OR EXISTS (SELECT 1 FROM uploads WHERE bucket = ?1)",
        [name],
        |r| r.get(0),
    )
}

pub(super) fn set_notification(c: &Connection, name: &str, xml: Option<&str>) -> rusqlite::Result<()> {
    c.execute("UPDATE buckets SET notification = ?2 WHERE name = ?1", params![name, xml])?;
    Ok(())
}

// --- Objects -------------------------------------------------------------------------------

fn object_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
    let key: Vec<u8> = r.get(0)?;
    let meta: String = r.get(5)?;
    Ok(ObjectRow {
        key: String::from_utf8(key)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e)))?,
        file: r.get(1)?,
        size: uint(r, 2)?,
        etag: r.get(3)?,
        modified_ms: r.get(4)?,
        meta: Meta::decode(&meta),
    })
}

pub(super) fn get_object(c: &Connection, bucket: &str, key: &str) -> rusqlite::Result<Option<ObjectRow>> {
    c.query_row(
        "SELECT key, file, size, etag, modified_ms, meta FROM objects WHERE bucket = ?1 AND key = ?2",
        params![bucket, key.as_bytes()],
        object_row,
    )
    .optional()
}

/// Inserts or replaces the object; returns the replaced object's data file.
pub(super) fn put_object(c: &Connection, bucket: &str, o: &ObjectRow) -> rusqlite::Result<Option<String>> {
    let old: Option<String> = c
        .query_row("SELECT file FROM objects WHERE bucket = ?1 AND key = ?2", params![bucket, o.key.as_bytes()], |r| {
            r.get(0)
        })
        .optional()?;
    c.execute(
        "INSERT OR REPLACE INTO objects (bucket, key, file, size, etag, modified_ms, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![bucket, o.key.as_bytes(), o.file, int(o.size), o.etag, o.modified_ms, o.meta.encode()],
    )?;
    Ok(old)
}

/// Deletes the object; returns its data file if it existed.
pub(super) fn delete_object(c: &Connection, bucket: &str, key: &str) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "DELETE FROM objects WHERE bucket = ?1 AND key = ?2 RETURNING file",
        params![bucket, key.as_bytes()],
        |r| r.get(0),
    )
    .optional()
}

/// Objects of `bucket` in key order (UTF-8 byte order, as S3 lists), starting at `from`
/// (inclusive or not), at most `limit`.
pub(super) fn list_objects(
    c: &Connection,
    bucket: &str,
    from: &[u8],
    inclusive: bool,
    limit: usize,
) -> rusqlite::Result<Vec<ObjectRow>> {
    let sql = if inclusive {
        "SELECT key, file, size, etag, modified_ms, meta FROM objects WHERE bucket = ?1 AND key >= ?2 ORDER BY key LIMIT ?3"
    } else {
        "SELECT key, file, size, etag, modified_ms, meta FROM objects WHERE bucket = ?1 AND key > ?2 ORDER BY key LIMIT ?3"
    };
    let mut st = c.prepare_cached(sql)?;
    st.query_map(params![bucket, from, limit as i64], object_row)?.collect()
}

/// The next value of the durable event sequencer (strictly increasing across restarts).
pub(super) fn next_sequencer(c: &Connection) -> rusqlite::Result<u64> {
    c.query_row(
        "INSERT INTO counters (name, value) VALUES ('sequencer', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        [],
        |r| uint(r, 0),
    )
}

// --- The event outbox -----------------------------------------------------------------------

fn counter(c: &Connection, name: &str) -> rusqlite::Result<u64> {
    Ok(c.query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| uint(r, 0)).optional()?.unwrap_or(0))
}

fn add_to_counter(c: &Connection, name: &str, delta: i64) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = value + ?2",
        params![name, delta],
    )?;
    Ok(())
}

pub(super) fn outbox_totals(c: &Connection) -> rusqlite::Result<OutboxTotals> {
    Ok(OutboxTotals { rows: counter(c, "outbox_rows")?, bytes: counter(c, "outbox_bytes")? })
}

/// Inserts a row (its `id` is ignored) and returns its id.
pub(super) fn insert_outbox(c: &Connection, row: &OutboxRow) -> rusqlite::Result<i64> {
    let id = c.query_row(
        "INSERT INTO outbox (function_arn, bucket, owner, payload, created_ms, attempts, due_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        params![row.function_arn, row.bucket, row.owner, row.payload, row.created_ms, row.attempts, row.due_ms],
        |r| r.get(0),
    )?;
    add_to_counter(c, "outbox_rows", 1)?;
    add_to_counter(c, "outbox_bytes", int(row.payload.len() as u64))?;
    Ok(id)
}

/// Deletes a row (delivered, or refused for good); `false` if it was already gone.
pub(super) fn delete_outbox(c: &Connection, id: i64) -> rusqlite::Result<bool> {
    let bytes: Option<i64> =
        c.query_row("DELETE FROM outbox WHERE id = ?1 RETURNING length(payload)", [id], |r| r.get(0)).optional()?;
    let Some(bytes) = bytes else { return Ok(false) };
    add_to_counter(c, "outbox_rows", -1)?;
    add_to_counter(c, "outbox_bytes", -bytes)?;
    Ok(true)
}

/// Records a delivery refused for now: one more attempt, not taken again before `due_ms`.
pub(super) fn retry_outbox(c: &Connection, id: i64, due_ms: i64) -> rusqlite::Result<()> {
    c.execute("UPDATE outbox SET attempts = attempts + 1, due_ms = ?2 WHERE id = ?1", params![id, due_ms])?;
    Ok(())
}

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        function_arn: r.get(1)?,
        bucket: r.get(2)?,
        owner: r.get(3)?,
        payload: r.get(4)?,
        created_ms: r.get(5)?,
        attempts: r.get(6)?,
        due_ms: r.get(7)?,
    })
}

/// Rows due at `now_ms`, earliest first; at most `limit`.
pub(super) fn due_outbox(c: &Connection, now_ms: i64, limit: usize) -> rusqlite::Result<Vec<OutboxRow>> {
    let mut st = c.prepare_cached(
        "SELECT id, function_arn, bucket, owner, payload, created_ms, attempts, due_ms FROM outbox
         WHERE due_ms <= ?1 ORDER BY due_ms, id LIMIT ?2",
    )?;
    st.query_map(params![now_ms, limit as i64], outbox_row)?.collect()
}

/// Makes every row due at `now_ms` at the latest (at startup: nothing is delivering them).
pub(super) fn make_outbox_due(c: &Connection, now_ms: i64) -> rusqlite::Result<usize> {
    c.execute("UPDATE outbox SET due_ms = ?1 WHERE due_ms > ?1", [now_ms])
}

/// The earliest `due_ms` of any row, if there is one.
pub(super) fn next_outbox_due(c: &Connection) -> rusqlite::Result<Option<i64>> {
    c.query_row("SELECT min(due_ms) FROM outbox", [], |r| r.get(0))
}

// --- Multipart uploads ---------------------------------------------------------------------

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRow> {
    let key: Vec<u8> = r.get(2)?;
    let meta: String = r.get(5)?;
    Ok(UploadRow {
        upload_id: r.get(0)?,
        bucket: r.get(1)?,
        key: String::from_utf8(key)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Blob, Box::new(e)))?,
        initiator: r.get(3)?,
        initiated_ms: r.get(4)?,
        meta: Meta::decode(&meta),
    })
}

pub(super) fn insert_upload(c: &Connection, u: &UploadRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO uploads (upload_id, bucket, key, initiator, initiated_ms, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![u.upload_id, u.bucket, u.key.as_bytes(), u.initiator, u.initiated_ms, u.meta.encode()],
    )?;
    Ok(())
}

pub(super) fn get_upload(c: &Connection, upload_id: &str) -> rusqlite::Result<Option<UploadRow>> {
    c.query_row(
        "SELECT upload_id, bucket, key, initiator, initiated_ms, meta FROM uploads WHERE upload_id = ?1",
        [upload_id],
        upload_row,
    )
    .optional()
}

pub(super) fn count_uploads(c: &Connection) -> rusqlite::Result<u64> {
    c.query_row("SELECT count(*) FROM uploads", [], |r| uint(r, 0))
}

/// Deletes an upload and its parts; returns the parts' data files.
pub(super) fn delete_upload(c: &Connection, upload_id: &str) -> rusqlite::Result<Vec<String>> {
    let files: Vec<String> = {
        let mut st = c.prepare_cached("DELETE FROM parts WHERE upload_id = ?1 RETURNING file")?;
        st.query_map([upload_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
    };
    c.execute("DELETE FROM uploads WHERE upload_id = ?1", [upload_id])?;
    Ok(files)
}

/// Uploads of `bucket` in (key, upload id) order after the `(key, upload id)` marker, whose key
/// starts with `prefix`; at most `limit`.
pub(super) fn list_uploads(
    c: &Connection,
    bucket: &str,
    after_key: &[u8],
    after_id: &str,
    limit: usize,
) -> rusqlite::Result<Vec<UploadRow>> {
    let mut st = c.prepare_cached(
        "SELECT upload_id, bucket, key, initiator, initiated_ms, meta FROM uploads
         WHERE bucket = ?1 AND (key > ?2 OR (key = ?2 AND upload_id > ?3)) ORDER BY key, upload_id LIMIT ?4",
    )?;
    st.query_map(params![bucket, after_key, after_id, limit as i64], upload_row)?.collect()
}

fn part_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PartRow> {
    Ok(PartRow { part_number: r.get(0)?, file: r.get(1)?, size: uint(r, 2)?, md5: r.get(3)?, modified_ms: r.get(4)? })
}

/// Inserts or replaces a part; returns the replaced part's data file.
pub(super) fn put_part(c: &Connection, upload_id: &str, p: &PartRow) -> rusqlite::Result<Option<String>> {
    let old: Option<String> = c
        .query_row(
            "SELECT file FROM parts WHERE upload_id = ?1 AND part_number = ?2",
            params![upload_id, p.part_number],
            |r| r.get(0),
        )
        .optional()?;
    c.execute(
        "INSERT OR REPLACE INTO parts (upload_id, part_number, file, size, md5, modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![upload_id, p.part_number, p.file, int(p.size), p.md5, p.modified_ms],
    )?;
    Ok(old)
}

/// Parts of an upload with numbers above `after`, in order; at most `limit`.
pub(super) fn list_parts(c: &Connection, upload_id: &str, after: u32, limit: usize) -> rusqlite::Result<Vec<PartRow>> {
    let mut st = c.prepare_cached(
        "SELECT part_number, file, size, md5, modified_ms FROM parts WHERE upload_id = ?1 AND part_number > ?2
         ORDER BY part_number LIMIT ?3",
    )?;
    st.query_map(params![upload_id, after, limit as i64], part_row)?.collect()
}

/// Every data file the database references (objects and parts), for the startup sweep.
pub(super) fn referenced_files(c: &Connection) -> rusqlite::Result<std::collections::HashSet<String>> {
    let mut st = c.prepare("SELECT file FROM objects UNION ALL SELECT file FROM parts")?;
    st.query_map([], |r| r.get(0))?.collect()
}
