//! The metadata database: buckets, objects, multipart uploads and their parts, the event
//! sequencer and the event outbox. This module (with `store/sqlite.rs` and `store/pg.rs`) is the
//! only one with SQL.
//!
//! Two backends behind one [`Db`] handle and one [`Tx`] transaction type, so callers do not
//! care which one runs:
//! - **SQLite** (the embedded default, `sqlite.rs`): one file in the data dir (WAL,
//!   `synchronous=FULL`), one writer connection behind a mutex, a small pool of readers.
//! - **PostgreSQL** (`pg.rs`, when the server runs with `--store postgres://…`): S3's own
//!   tables (`s3_*`, with their own `s3_schema_version`) in the shared database, so several
//!   nodes serve the same buckets. Writes are READ COMMITTED transactions that lock what they
//!   decide on (the bucket row `FOR KEY SHARE`, an upload `FOR UPDATE`, an advisory lock per
//!   object key), reads one REPEATABLE READ snapshot.
//!
//! Every call here is blocking and runs on tokio's blocking pool (or a thread of its own).

mod pg;
mod sqlite;

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::Path;

use crate::error::ApiError;

/// A database error of either backend.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Postgres(#[from] postgres::Error),
    #[error("{0}")]
    Other(String),
}

pub type DbResult<T> = Result<T, DbError>;

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        tracing::error!(error = %pg::describe(&e), "s3: metadata database error");
        ApiError::InternalError
    }
}

/// Stored headers of an object or upload, in the order they arrived: the standard ones
/// (`content-type`, `content-encoding`, …) and user metadata (`x-amz-meta-*`), names lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta(pub Vec<(String, String)>);

impl Meta {
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The storage document: a JSON array of `[name, value]` pairs.
    pub(crate) fn encode(&self) -> String {
        serde_json::Value::Array(
            self.0.iter().map(|(k, v)| serde_json::Value::Array(vec![k.clone().into(), v.clone().into()])).collect(),
        )
        .to_string()
    }

    pub(crate) fn decode(s: &str) -> Meta {
        let pairs = match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::Array(items)) => items
                .into_iter()
                .filter_map(|item| match item {
                    serde_json::Value::Array(kv) => match kv.as_slice() {
                        [serde_json::Value::String(k), serde_json::Value::String(v)] => Some((k.clone(), v.clone())),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Meta(pairs)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRow {
    pub name: String,
    /// The owning account (12 digits).
    pub owner: String,
    pub region: String,
    pub created_ms: i64,
    /// The canonical notification configuration XML, as GetBucketNotificationConfiguration
    /// answers it; `None` when there is none.
    pub notification: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    pub key: String,
    /// The data file's id (see `files`).
    pub file: String,
    pub size: u64,
    /// Unquoted: hex MD5, or `<hex>-<parts>` for multipart objects.
    pub etag: String,
    pub modified_ms: i64,
    pub meta: Meta,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiator: String,
    pub initiated_ms: i64,
    pub meta: Meta,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRow {
    pub part_number: u32,
    pub file: String,
    pub size: u64,
    /// Hex MD5 of the part (its ETag, unquoted).
    pub md5: String,
    pub modified_ms: i64,
}

/// One event record waiting in the outbox for delivery to a Lambda function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Assigned by [`insert_outbox`].
    pub id: i64,
    pub function_arn: String,
    pub bucket: String,
    /// The bucket owner's account, for the destination's policy check.
    pub owner: String,
    /// The event JSON, `{"Records":[…]}`.
    pub payload: Vec<u8>,
    pub created_ms: i64,
    /// Deliveries tried and refused for now.
    pub attempts: u32,
    /// Not taken by the background drainer before this time.
    pub due_ms: i64,
}

/// Rows and payload bytes in the outbox, kept in `counters` by the same transactions that
/// insert and delete rows (so a bound check never scans the table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxTotals {
    pub rows: u64,
    pub bytes: u64,
}

/// The database handle: SQLite (embedded) or PostgreSQL (shared by several nodes).
pub struct Db(DbKind);

enum DbKind {
    Sqlite(sqlite::SqliteDb),
    Pg(pg::PgDb),
}

/// One transaction of either backend, handed to the closures of [`Db::write`] and [`Db::read`].
pub struct Tx<'a>(TxKind<'a>);

enum TxKind<'a> {
    Sqlite(&'a rusqlite::Connection),
    /// `write`: a read-write transaction (row locks may be taken).
    Pg {
        tx: RefCell<postgres::Transaction<'a>>,
        write: bool,
    },
}

/// Runs the backend's function of the same name on the transaction.
macro_rules! on {
    ($tx:expr, $f:ident ( $($a:expr),* )) => {
        match &$tx.0 {
            TxKind::Sqlite(c) => Ok(sqlite::$f(c $(, $a)*)?),
            TxKind::Pg { tx, write } => Ok(pg::$f(&mut tx.borrow_mut(), *write $(, $a)*)?),
        }
    };
}

impl Db {
    /// Opens (creating if needed) the SQLite database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> DbResult<Db> {
        Ok(Db(DbKind::Sqlite(sqlite::SqliteDb::open(path)?)))
    }

    /// Connects to the PostgreSQL database at `url` (libpq URL or keywords) and brings S3's
    /// tables up to date (refusing a schema newer than this binary). Blocks; safe to call from
    /// a tokio runtime thread (the connections are made on threads of their own).
    pub fn open_postgres(url: &str) -> DbResult<Db> {
        Ok(Db(DbKind::Pg(pg::PgDb::open(url)?)))
    }

    /// Whether the metadata lives in PostgreSQL (shared with other nodes).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, DbKind::Pg(_))
    }

    /// Every data file the database references (objects, including each segment of an object
    /// made of parts, and parts), for the sweeps. Safe to call from a tokio runtime thread.
    pub fn referenced_files(&self) -> DbResult<HashSet<String>> {
        let raw = match &self.0 {
            DbKind::Sqlite(s) => s.referenced_files()?,
            DbKind::Pg(p) => p.referenced_files()?,
        };
        Ok(raw.iter().flat_map(|f| crate::files::segment_ids(f)).collect())
    }

    /// Runs `f` in one write transaction; commits (durably) if it returns `Ok`.
    pub fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, ApiError>) -> Result<T, ApiError> {
        match &self.0 {
            DbKind::Sqlite(s) => s.write(|t| f(&Tx(TxKind::Sqlite(t)))),
            DbKind::Pg(p) => p.write(false, f),
        }
    }

    /// Like [`Db::write`], but the commit is not waited for on disk (SQLite
    /// `synchronous=NORMAL`, PostgreSQL `synchronous_commit=off` for this one transaction): a
    /// crash may undo it (whole, never in part). Only for changes whose loss is harmless:
    /// settling delivered outbox rows, where a lost delete delivers the event again (at least
    /// once) and saves a flush on every notified write.
    pub fn write_unsynced<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, ApiError>) -> Result<T, ApiError> {
        match &self.0 {
            DbKind::Sqlite(s) => s.write_unsynced(|t| f(&Tx(TxKind::Sqlite(t)))),
            DbKind::Pg(p) => p.write(true, f),
        }
    }

    /// Runs `f` in one read transaction (a consistent snapshot).
    pub fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, ApiError>) -> Result<T, ApiError> {
        match &self.0 {
            DbKind::Sqlite(s) => s.read(|t| f(&Tx(TxKind::Sqlite(t)))),
            DbKind::Pg(p) => p.read(f),
        }
    }
}

impl<'a> Tx<'a> {
    /// The PostgreSQL transaction back, to commit it.
    pub(super) fn into_pg(self) -> Option<postgres::Transaction<'a>> {
        match self.0 {
            TxKind::Pg { tx, .. } => Some(tx.into_inner()),
            TxKind::Sqlite(_) => None,
        }
    }
}

// --- Buckets -------------------------------------------------------------------------------

pub fn get_bucket(tx: &Tx<'_>, name: &str) -> DbResult<Option<BucketRow>> {
    on!(tx, get_bucket(name))
}

/// The owner's buckets, by name (byte order).
pub fn list_buckets(tx: &Tx<'_>, owner: &str) -> DbResult<Vec<BucketRow>> {
    on!(tx, list_buckets(owner))
}

pub fn count_buckets(tx: &Tx<'_>, owner: &str) -> DbResult<u64> {
    on!(tx, count_buckets(owner))
}

/// Inserts the bucket; `false` if a bucket of that name exists (created meanwhile by another
/// node: the caller reads it again and answers as for an existing bucket).
pub fn insert_bucket(tx: &Tx<'_>, b: &BucketRow) -> DbResult<bool> {
    on!(tx, insert_bucket(b))
}

/// Locks the bucket row against every write that uses the bucket until the transaction ends
/// (DeleteBucket, before it checks that the bucket is empty). Nothing on SQLite (one writer).
pub fn lock_bucket(tx: &Tx<'_>, name: &str) -> DbResult<()> {
    on!(tx, lock_bucket(name))
}

pub fn delete_bucket(tx: &Tx<'_>, name: &str) -> DbResult<()> {
    on!(tx, delete_bucket(name))
}

/// Whether the bucket holds objects or in-flight multipart uploads.
pub fn bucket_has_content(tx: &Tx<'_>, name: &str) -> DbResult<bool> {
    on!(tx, bucket_has_content(name))
}

pub fn set_notification(tx: &Tx<'_>, name: &str, xml: Option<&str>) -> DbResult<()> {
    on!(tx, set_notification(name, xml))
}

// --- Objects -------------------------------------------------------------------------------

/// The object; in a write transaction on PostgreSQL, the key is locked until the transaction
/// ends (so a conditional write decides on the current object).
pub fn get_object(tx: &Tx<'_>, bucket: &str, key: &str) -> DbResult<Option<ObjectRow>> {
    on!(tx, get_object(bucket, key))
}

/// Inserts or replaces the object; returns the replaced object's data file.
pub fn put_object(tx: &Tx<'_>, bucket: &str, o: &ObjectRow) -> DbResult<Option<String>> {
    on!(tx, put_object(bucket, o))
}

/// Locks the keys of `bucket` (in one global order, so that two writers of overlapping key sets
/// never deadlock) until the transaction ends; nothing on SQLite (one writer). For writes of
/// several keys in one transaction (DeleteObjects).
pub fn lock_keys(tx: &Tx<'_>, bucket: &str, keys: &[&str]) -> DbResult<()> {
    on!(tx, lock_keys(bucket, keys))
}

/// Deletes the object; returns its data file if it existed.
pub fn delete_object(tx: &Tx<'_>, bucket: &str, key: &str) -> DbResult<Option<String>> {
    on!(tx, delete_object(bucket, key))
}

/// Objects of `bucket` in key order (UTF-8 byte order, as S3 lists), starting at `from`
/// (inclusive or not), at most `limit`.
pub fn list_objects(tx: &Tx<'_>, bucket: &str, from: &[u8], inclusive: bool, limit: usize) -> DbResult<Vec<ObjectRow>> {
    on!(tx, list_objects(bucket, from, inclusive, limit))
}

/// The next value of the durable event sequencer (strictly increasing, also across restarts
/// and, on PostgreSQL, across nodes).
pub fn next_sequencer(tx: &Tx<'_>) -> DbResult<u64> {
    on!(tx, next_sequencer())
}

// --- The event outbox -----------------------------------------------------------------------

pub fn outbox_totals(tx: &Tx<'_>) -> DbResult<OutboxTotals> {
    on!(tx, outbox_totals())
}

/// Inserts a row (its `id` is ignored) and returns its id.
pub fn insert_outbox(tx: &Tx<'_>, row: &OutboxRow) -> DbResult<i64> {
    on!(tx, insert_outbox(row))
}

/// Deletes a row (delivered, or refused for good); `false` if it was already gone.
pub fn delete_outbox(tx: &Tx<'_>, id: i64) -> DbResult<bool> {
    on!(tx, delete_outbox(id))
}

/// Records a delivery refused for now: one more attempt, not taken again before `due_ms`.
pub fn retry_outbox(tx: &Tx<'_>, id: i64, due_ms: i64) -> DbResult<()> {
    on!(tx, retry_outbox(id, due_ms))
}

/// Rows due at `now_ms`, earliest first; at most `limit`.
pub fn due_outbox(tx: &Tx<'_>, now_ms: i64, limit: usize) -> DbResult<Vec<OutboxRow>> {
    on!(tx, due_outbox(now_ms, limit))
}

/// Makes every row due at `now_ms` at the latest (at startup of the only node: nothing is
/// delivering them).
pub fn make_outbox_due(tx: &Tx<'_>, now_ms: i64) -> DbResult<usize> {
    on!(tx, make_outbox_due(now_ms))
}

/// The earliest `due_ms` of any row, if there is one.
pub fn next_outbox_due(tx: &Tx<'_>) -> DbResult<Option<i64>> {
    on!(tx, next_outbox_due())
}

impl Db {
    /// The drainer's claim: rows due at `now_ms` (at most `limit`, earliest first) that this
    /// node now delivers. On SQLite (one node) a read: the claim is the in-memory one of
    /// `outbox`. On PostgreSQL, rows locked `FOR UPDATE SKIP LOCKED` (so two nodes never take
    /// the same row) are leased: their `due_ms` moves to `lease_until_ms`, and no other node
    /// takes them before that unless they are settled (deleted or rescheduled) first.
    pub fn claim_outbox(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, ApiError> {
        match &self.0 {
            DbKind::Sqlite(_) => self.read(|tx| Ok(due_outbox(tx, now_ms, limit)?)),
            DbKind::Pg(_) => self.write(|tx| match &tx.0 {
                TxKind::Pg { tx, .. } => Ok(pg::claim_outbox(&mut tx.borrow_mut(), now_ms, lease_until_ms, limit)?),
                TxKind::Sqlite(_) => Err(ApiError::InternalError),
            }),
        }
    }
}

// --- Multipart uploads ---------------------------------------------------------------------

pub fn insert_upload(tx: &Tx<'_>, u: &UploadRow) -> DbResult<()> {
    on!(tx, insert_upload(u))
}

/// The upload; in a write transaction on PostgreSQL, locked until the transaction ends (part
/// writes and the completion or abort of one upload take turns).
pub fn get_upload(tx: &Tx<'_>, upload_id: &str) -> DbResult<Option<UploadRow>> {
    on!(tx, get_upload(upload_id))
}

pub fn count_uploads(tx: &Tx<'_>) -> DbResult<u64> {
    on!(tx, count_uploads())
}

/// Deletes an upload and its parts; returns the parts' data files.
pub fn delete_upload(tx: &Tx<'_>, upload_id: &str) -> DbResult<Vec<String>> {
    on!(tx, delete_upload(upload_id))
}

/// Uploads of `bucket` in (key, upload id) order after the `(key, upload id)` marker; at most
/// `limit`.
pub fn list_uploads(
    tx: &Tx<'_>,
    bucket: &str,
    after_key: &[u8],
    after_id: &str,
    limit: usize,
) -> DbResult<Vec<UploadRow>> {
    on!(tx, list_uploads(bucket, after_key, after_id, limit))
}

/// Inserts or replaces a part; returns the replaced part's data file.
pub fn put_part(tx: &Tx<'_>, upload_id: &str, p: &PartRow) -> DbResult<Option<String>> {
    on!(tx, put_part(upload_id, p))
}

/// Parts of an upload with numbers above `after`, in order; at most `limit`.
pub fn list_parts(tx: &Tx<'_>, upload_id: &str, after: u32, limit: usize) -> DbResult<Vec<PartRow>> {
    on!(tx, list_parts(upload_id, after, limit))
}

#[cfg(test)]
impl Db {
    fn sqlite_writer(&self) -> &std::sync::Mutex<rusqlite::Connection> {
        match &self.0 {
            DbKind::Sqlite(s) => &s.writer,
            DbKind::Pg(_) => panic!("not SQLite"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_tolerates_garbage() {
        let m = Meta(vec![("content-type".into(), "text/plain".into()), ("x-amz-meta-a".into(), "ü\"".into())]);
        assert_eq!(Meta::decode(&m.encode()), m);
        assert_eq!(Meta::decode("not json"), Meta::default());
    }

    #[test]
    fn sequencer_is_durable_and_increasing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let db = Db::open(&path).unwrap();
        let a = db.write(|tx| Ok(next_sequencer(tx)?)).unwrap();
        let b = db.write(|tx| Ok(next_sequencer(tx)?)).unwrap();
        assert!(b > a);
        drop(db);
        let db = Db::open(&path).unwrap();
        let c = db.write(|tx| Ok(next_sequencer(tx)?)).unwrap();
        assert!(c > b);
        // A rolled-back write leaves nothing behind.
        let r: Result<(), ApiError> = db.write(|tx| {
            next_sequencer(tx)?;
            Err(ApiError::InternalError)
        });
        assert!(r.is_err());
        assert_eq!(db.write(|tx| Ok(next_sequencer(tx)?)).unwrap(), c + 1);
    }

    fn outbox_row(arn: &str, payload: &[u8], due_ms: i64) -> OutboxRow {
        OutboxRow {
            id: 0,
            function_arn: arn.into(),
            bucket: "b".into(),
            owner: "000000000000".into(),
            payload: payload.to_vec(),
            created_ms: 5,
            attempts: 0,
            due_ms,
        }
    }

    #[test]
    fn outbox_rows_are_written_with_the_write_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let db = Db::open(&path).unwrap();
        // Rows inserted in a write that rolls back are gone with it, counters included.
        let r: Result<(), ApiError> = db.write(|tx| {
            insert_outbox(tx, &outbox_row("f", b"lost", 0))?;
            Err(ApiError::InternalError)
        });
        assert!(r.is_err());
        assert_eq!(db.read(|tx| Ok(outbox_totals(tx)?)).unwrap(), OutboxTotals::default());

        let (a, b) = db
            .write(|tx| {
                let o = ObjectRow {
                    key: "k".into(),
                    file: "f".into(),
                    size: 0,
                    etag: String::new(),
                    modified_ms: 0,
                    meta: Meta::default(),
                };
                put_object(tx, "b", &o)?;
                Ok((
                    insert_outbox(tx, &outbox_row("f", b"one", 10))?,
                    insert_outbox(tx, &outbox_row("g", b"two!", 20))?,
                ))
            })
            .unwrap();
        assert_eq!(db.read(|tx| Ok(outbox_totals(tx)?)).unwrap(), OutboxTotals { rows: 2, bytes: 7 });
        // Due rows, earliest first; every row survives a reopen.
        drop(db);
        let db = Db::open(&path).unwrap();
        let due = db.read(|tx| Ok(due_outbox(tx, 15, 10)?)).unwrap();
        assert_eq!(due, [OutboxRow { id: a, ..outbox_row("f", b"one", 10) }]);
        assert_eq!(db.read(|tx| Ok(due_outbox(tx, 20, 10)?)).unwrap().len(), 2);
        assert_eq!(db.read(|tx| Ok(due_outbox(tx, 20, 1)?)).unwrap()[0].id, a);
        assert_eq!(db.read(|tx| Ok(next_outbox_due(tx)?)).unwrap(), Some(10));

        // A retry counts the attempt and moves the row back; a start makes every row due.
        db.write(|tx| Ok(retry_outbox(tx, a, 1000)?)).unwrap();
        let due: Vec<i64> = db.read(|tx| Ok(due_outbox(tx, 100, 10)?)).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(due, [b]);
        assert_eq!(db.write(|tx| Ok(make_outbox_due(tx, 100)?)).unwrap(), 1);
        let rows = db.read(|tx| Ok(due_outbox(tx, 100, 10)?)).unwrap();
        assert_eq!(rows.iter().map(|r| (r.id, r.attempts, r.due_ms)).collect::<Vec<_>>(), [(b, 0, 20), (a, 1, 100)]);

        // Deleting settles the counters; deleting twice is harmless.
        assert!(db.write(|tx| Ok(delete_outbox(tx, a)?)).unwrap());
        assert!(!db.write(|tx| Ok(delete_outbox(tx, a)?)).unwrap());
        assert_eq!(db.read(|tx| Ok(outbox_totals(tx)?)).unwrap(), OutboxTotals { rows: 1, bytes: 4 });
        assert!(db.write(|tx| Ok(delete_outbox(tx, b)?)).unwrap());
        assert_eq!(db.read(|tx| Ok(outbox_totals(tx)?)).unwrap(), OutboxTotals::default());
        assert_eq!(db.read(|tx| Ok(next_outbox_due(tx)?)).unwrap(), None);
    }

    #[test]
    fn unsynced_writes_leave_later_writes_synced() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        let synchronous = |db: &Db| -> i64 {
            db.sqlite_writer().lock().unwrap().pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap()
        };
        assert_eq!(synchronous(&db), 2, "FULL");
        db.write_unsynced(|tx| Ok(next_sequencer(tx)?)).unwrap();
        assert_eq!(synchronous(&db), 2);
        let r: Result<(), ApiError> = db.write_unsynced(|_| Err(ApiError::InternalError));
        assert!(r.is_err());
        assert_eq!(synchronous(&db), 2);
    }

    #[test]
    fn keys_sort_in_byte_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        db.write(|tx| {
            for key in ["b", "a/", "a", "é", "Z", "a0"] {
                let o = ObjectRow {
                    key: key.into(),
                    file: key.into(),
                    size: 0,
                    etag: String::new(),
                    modified_ms: 0,
                    meta: Meta::default(),
                };
                put_object(tx, "bk", &o)?;
            }
            Ok(())
        })
        .unwrap();
        let keys: Vec<String> =
            db.read(|tx| Ok(list_objects(tx, "bk", b"", true, 100)?)).unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["Z", "a", "a/", "a0", "b", "é"]);
        let keys: Vec<String> =
            db.read(|tx| Ok(list_objects(tx, "bk", b"a/", false, 2)?)).unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["a0", "b"]);
    }

    /// The PostgreSQL backend: migrations are idempotent, keys list in byte order, the
    /// sequencer increases across handles, and two nodes' drainers never claim the same outbox
    /// row (`FOR UPDATE SKIP LOCKED`), while a lease that ran out makes rows claimable again.
    #[test]
    fn postgres_keeps_the_semantics_and_claims_rows_once() {
        let Some(pg) = crate::pgcluster::Postgres::start() else { return };
        let url = pg.database();
        let a = Db::open_postgres(&url).unwrap();
        let b = Db::open_postgres(&url).unwrap();
        assert!(a.is_shared());

        let bucket = BucketRow {
            name: "bk".into(),
            owner: "000000000000".into(),
            region: "us-east-1".into(),
            created_ms: 1,
            notification: None,
        };
        assert!(a.write(|tx| Ok(insert_bucket(tx, &bucket)?)).unwrap());
        assert!(!b.write(|tx| Ok(insert_bucket(tx, &bucket)?)).unwrap(), "a second insert is refused, not an error");
        a.write(|tx| {
            for key in ["b", "a/", "a", "é", "Z", "a0"] {
                let o = ObjectRow {
                    key: key.into(),
                    file: key.into(),
                    size: 0,
                    etag: String::new(),
                    modified_ms: 0,
                    meta: Meta::default(),
                };
                put_object(tx, "bk", &o)?;
            }
            Ok(())
        })
        .unwrap();
        let keys: Vec<String> =
            b.read(|tx| Ok(list_objects(tx, "bk", b"", true, 100)?)).unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["Z", "a", "a/", "a0", "b", "é"]);
        let keys: Vec<String> =
            b.read(|tx| Ok(list_objects(tx, "bk", b"a/", false, 2)?)).unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["a0", "b"]);
        let replaced = a
            .write(|tx| {
                let o = ObjectRow {
                    key: "a".into(),
                    file: "new".into(),
                    size: 3,
                    etag: "e".into(),
                    modified_ms: 2,
                    meta: Meta::default(),
                };
                Ok(put_object(tx, "bk", &o)?)
            })
            .unwrap();
        assert_eq!(replaced.as_deref(), Some("a"));
        assert!(b.referenced_files().unwrap().contains("new"));

        let s1 = a.write(|tx| Ok(next_sequencer(tx)?)).unwrap();
        let s2 = b.write(|tx| Ok(next_sequencer(tx)?)).unwrap();
        assert!(s2 > s1);

        // Ten due rows; A's drainer holds four (its transaction still open) while B claims.
        let ids: Vec<i64> =
            a.write(|tx| (0..10).map(|i| Ok(insert_outbox(tx, &outbox_row("f", b"p", i))?)).collect()).unwrap();
        assert_eq!(b.read(|tx| Ok(outbox_totals(tx)?)).unwrap(), OutboxTotals { rows: 10, bytes: 10 });
        let (held_tx, held_rx) = std::sync::mpsc::channel::<Vec<i64>>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let first = std::thread::scope(|s| {
            let (held_tx, go_rx, a) = (held_tx, go_rx, &a);
            let holder = s.spawn(move || {
                a.write(|tx| {
                    let TxKind::Pg { tx, .. } = &tx.0 else { panic!("PostgreSQL") };
                    let rows = pg::claim_outbox(&mut tx.borrow_mut(), 100, 10_000, 4)?;
                    held_tx.send(rows.iter().map(|r| r.id).collect()).unwrap();
                    go_rx.recv().unwrap();
                    Ok(rows.iter().map(|r| r.id).collect::<Vec<_>>())
                })
                .unwrap()
            });
            let held = held_rx.recv().unwrap();
            let other: Vec<i64> = b.claim_outbox(100, 10_000, 100).unwrap().iter().map(|r| r.id).collect();
            go_tx.send(()).unwrap();
            let first = holder.join().unwrap();
            assert_eq!(held, first);
            assert_eq!(first, ids[..4]);
            assert_eq!(other, ids[4..], "B skipped the rows A holds");
            first
        });
        assert_eq!(first.len(), 4);
        // All leased until 10 000: nobody takes them before, anyone after.
        assert!(a.claim_outbox(9_999, 20_000, 100).unwrap().is_empty());
        let again: Vec<i64> = b.claim_outbox(10_000, 20_000, 100).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(again, ids);
        // Settling: deletes and retries as on SQLite.
        assert!(a.write_unsynced(|tx| Ok(delete_outbox(tx, ids[0])?)).unwrap());
        assert!(!b.write(|tx| Ok(delete_outbox(tx, ids[0])?)).unwrap());
        b.write(|tx| Ok(retry_outbox(tx, ids[1], 50)?)).unwrap();
        let due = a.read(|tx| Ok(due_outbox(tx, 60, 10)?)).unwrap();
        assert_eq!(due.iter().map(|r| (r.id, r.attempts)).collect::<Vec<_>>(), [(ids[1], 1)]);
        assert_eq!(a.read(|tx| Ok(next_outbox_due(tx)?)).unwrap(), Some(50));
    }
}
