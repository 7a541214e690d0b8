//! The PostgreSQL side of the metadata database: S3's own tables (`s3_*`) in the database the
//! server's `--store postgres://…` names, shared by every node.
//!
//! - **Schema:** [`MIGRATIONS`], append-only, counted in S3's own `s3_schema_version` table (the
//!   store's migration list is not touched); applied at open under an advisory transaction
//!   lock, so nodes starting together migrate once. A database whose S3 schema is newer than
//!   this binary is refused before anything is written.
//! - **Connections:** a small pool ([`PG_CONNECTIONS`]) of sync `postgres` clients. A client
//!   runs its own current-thread runtime, so it must never be created or dropped on a tokio
//!   runtime thread: [`PgClient`] connects on a thread of its own and hands a dropped client to
//!   a thread of its own; in between it is used only inside blocking sections (tokio's blocking
//!   pool or plain threads), where blocking on its runtime is allowed.
//! - **Isolation:** writes READ COMMITTED, locking what they decide on: the bucket row
//!   `FOR KEY SHARE` (DeleteBucket takes it `FOR UPDATE`, so no object lands in a bucket being
//!   deleted), an upload `FOR UPDATE` (its parts, completion and abort take turns), and a
//!   transaction-scoped advisory lock per object key (a conditional write decides on the
//!   current object; two writers of one new key take turns). Reads: REPEATABLE READ READ ONLY,
//!   one snapshot per job.
//! - **Keys** are `bytea` (byte order, as S3 lists); names and ids `text COLLATE "C"`.
//! - **Sequencer:** a sequence (never blocks, strictly increasing across nodes).
//! - **Outbox:** the drainer's claim is `FOR UPDATE SKIP LOCKED` plus a lease on `due_ms`.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use postgres::{Client, Config, IsolationLevel, NoTls, Transaction};

use super::{BucketRow, DbError, DbResult, Meta, ObjectRow, OutboxRow, OutboxTotals, PartRow, Tx, TxKind, UploadRow};
use crate::error::ApiError;

/// Connections one node opens to the database for S3's metadata.
pub const PG_CONNECTIONS: usize = 8;
/// How long the check of a client that just failed may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The advisory lock serialising the S3 migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x7665_7273_615f_7333;
/// The class (first key) of the advisory locks on object keys; the second is a hash of the
/// bucket and key (a collision only makes two unrelated writes take turns).
const OBJECT_KEY_LOCK_CLASS: i32 = 0x7333_6b79;

/// S3's tables, one migration per entry, applied in order; `s3_schema_version.version` counts
/// them. Append only.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE s3_buckets (
    name TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT COLLATE "C" NOT NULL,
    region TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    notification TEXT
);
CREATE INDEX s3_buckets_by_owner ON s3_buckets (owner, name);
CREATE TABLE s3_objects (
    bucket TEXT COLLATE "C" NOT NULL,
    key BYTEA NOT NULL,
    file TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    modified_ms BIGINT NOT NULL,
    meta TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE s3_uploads (
    upload_id TEXT COLLATE "C" PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL,
    key BYTEA NOT NULL,
    initiator TEXT NOT NULL,
    initiated_ms BIGINT NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX s3_uploads_by_key ON s3_uploads (bucket, key, upload_id);
CREATE TABLE s3_parts (
    upload_id TEXT COLLATE "C" NOT NULL,
    part_number INTEGER NOT NULL,
    file TEXT NOT NULL,
    size BIGINT NOT NULL,
    md5 TEXT NOT NULL,
    modified_ms BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
CREATE SEQUENCE s3_sequencer;
CREATE TABLE s3_outbox (
    -- An id is never reused, so a claim held in memory on a settled row's id never covers a
    -- newer row.
    id BIGSERIAL PRIMARY KEY,
    function_arn TEXT NOT NULL,
    bucket TEXT NOT NULL,
    owner TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_ms BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    due_ms BIGINT NOT NULL
);
CREATE INDEX s3_outbox_by_due ON s3_outbox (due_ms, id);
"#];

/// A database error with PostgreSQL's own message and code, for logs.
pub(super) fn describe(e: &DbError) -> String {
    match e {
        DbError::Postgres(p) => match p.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => {
                let mut text = p.to_string();
                let mut source = std::error::Error::source(p);
                while let Some(s) = source {
                    text.push_str(": ");
                    text.push_str(&s.to_string());
                    source = s.source();
                }
                text
            }
        },
        other => other.to_string(),
    }
}

/// A client that is only ever connected and dropped on threads of its own (see the module
/// doc).
struct PgClient(Option<Client>);

impl PgClient {
    fn connect(config: &Config) -> DbResult<PgClient> {
        let config = config.clone();
        std::thread::Builder::new()
            .name("versa-s3-pg-connect".to_owned())
            .spawn(move || config.connect(NoTls))
            .map_err(|e| DbError::Other(format!("cannot start a thread: {e}")))?
            .join()
            .map_err(|_| DbError::Other("connecting to PostgreSQL panicked".to_owned()))?
            .map(|c| PgClient(Some(c)))
            .map_err(DbError::from)
    }

    fn client(&mut self) -> &mut Client {
        self.0.as_mut().expect("a PgClient holds its client until dropped")
    }
}

impl Drop for PgClient {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            // Dropping a client shuts its runtime down, which must not happen on a runtime
            // thread; if no thread can be started, leak it rather than panic.
            let (send, recv) = std::sync::mpsc::channel::<Client>();
            let closer = std::thread::Builder::new().name("versa-s3-pg-close".to_owned()).spawn(move || {
                if let Ok(c) = recv.recv() {
                    drop(c);
                }
            });
            match closer {
                Ok(_) => {
                    if let Err(unsent) = send.send(c) {
                        std::mem::forget(unsent.0);
                    }
                }
                Err(_) => std::mem::forget(c),
            }
        }
    }
}

/// The connection pool.
pub(super) struct PgDb {
    config: Config,
    pool: Mutex<Pool>,
    freed: Condvar,
}

struct Pool {
    idle: Vec<PgClient>,
    open: usize,
}

impl PgDb {
    pub(super) fn open(url: &str) -> DbResult<PgDb> {
        let config =
            pgconf::config(url, "versa-s3").map_err(|e| DbError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        let mut first = PgClient::connect(&config)?;
        // Migrate on a thread of its own: `open` may run on a runtime thread.
        let migrated = std::thread::scope(|s| {
            s.spawn(|| migrate(first.client()))
                .join()
                .unwrap_or_else(|_| Err(DbError::Other("migration panicked".into())))
        });
        migrated?;
        Ok(PgDb { config, pool: Mutex::new(Pool { idle: vec![first], open: 1 }), freed: Condvar::new() })
    }

    /// Runs `f` with a pooled client (connecting one if none is idle and fewer than
    /// [`PG_CONNECTIONS`] are open, else waiting). A client whose connection broke is replaced.
    fn with_client<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut client = self.take()?;
        let out = f(client.client());
        // A connection the database dropped (a restart) is often not known closed until it is
        // read again: after a failure, check it, so a dead client is not handed out forever.
        let broken = client.client().is_closed() || (out.is_err() && client.client().is_valid(PROBE_TIMEOUT).is_err());
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if broken {
            pool.open -= 1;
            drop(pool);
            drop(client);
        } else {
            pool.idle.push(client);
            drop(pool);
        }
        self.freed.notify_one();
        out
    }

    fn take(&self) -> Result<PgClient, ApiError> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            if pool.open < PG_CONNECTIONS {
                pool.open += 1;
                drop(pool);
                return PgClient::connect(&self.config).map_err(|e| {
                    self.pool.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
                    self.freed.notify_one();
                    ApiError::from(e)
                });
            }
            pool = self.freed.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub(super) fn write<T>(
        &self,
        unsynced: bool,
        f: impl FnOnce(&Tx<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.with_client(|client| {
            let mut t = client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()
                .map_err(DbError::from)?;
            if unsynced {
                t.batch_execute("SET LOCAL synchronous_commit = off").map_err(DbError::from)?;
            }
            let tx = Tx(TxKind::Pg { tx: std::cell::RefCell::new(t), write: true });
            let out = f(&tx)?;
            if let Some(t) = tx.into_pg() {
                t.commit().map_err(DbError::from)?;
            }
            Ok(out)
        })
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, ApiError>) -> Result<T, ApiError> {
        self.with_client(|client| {
            let t = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(DbError::from)?;
            let tx = Tx(TxKind::Pg { tx: std::cell::RefCell::new(t), write: false });
            let out = f(&tx)?;
            if let Some(t) = tx.into_pg() {
                t.commit().map_err(DbError::from)?;
            }
            Ok(out)
        })
    }

    /// Every `file` of objects and parts. Safe on a runtime thread (runs on a thread of its own).
    pub(super) fn referenced_files(&self) -> DbResult<HashSet<String>> {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.read(|tx| {
                    let TxKind::Pg { tx, .. } = &tx.0 else { return Err(ApiError::InternalError) };
                    let rows = tx
                        .borrow_mut()
                        .query("SELECT file FROM s3_objects UNION ALL SELECT file FROM s3_parts", &[])
                        .map_err(DbError::from)?;
                    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
                })
                .map_err(|e| DbError::Other(e.message()))
            })
            .join()
            .unwrap_or_else(|_| Err(DbError::Other("a PostgreSQL read panicked".into())))
        })
    }
}

/// Creates the version table if needed and applies the missing migrations, in one transaction
/// under [`MIGRATION_LOCK`]. Refuses a schema newer than this binary.
fn migrate(client: &mut Client) -> DbResult<()> {
    let mut t = client.transaction()?;
    t.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    t.batch_execute("CREATE TABLE IF NOT EXISTS s3_schema_version (version INTEGER NOT NULL)")?;
    let version: i32 = match t.query_opt("SELECT version FROM s3_schema_version", &[])? {
        Some(r) => r.get(0),
        None => {
            t.execute("INSERT INTO s3_schema_version (version) VALUES (0)", &[])?;
            0
        }
    };
    let known = MIGRATIONS.len() as i32;
    if version > known {
        return Err(DbError::Other(format!(
            "the database's S3 schema is version {version}, newer than this binary's {known}; upgrade Versa"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        t.batch_execute(sql)?;
        t.execute("UPDATE s3_schema_version SET version = $1", &[&(i as i32 + 1)])?;
    }
    t.commit()?;
    Ok(())
}

/// Sizes are `u64` here and `BIGINT` there; they never reach 2^63.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn text_key(key: Vec<u8>) -> DbResult<String> {
    String::from_utf8(key).map_err(|e| DbError::Other(format!("a stored key is not UTF-8: {e}")))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// --- Buckets -------------------------------------------------------------------------------

fn bucket_row(r: &postgres::Row) -> BucketRow {
    BucketRow { name: r.get(0), owner: r.get(1), region: r.get(2), created_ms: r.get(3), notification: r.get(4) }
}

pub(super) fn get_bucket(t: &mut Transaction<'_>, write: bool, name: &str) -> DbResult<Option<BucketRow>> {
    let sql = if write {
        "SELECT name, owner, region, created_ms, notification FROM s3_buckets WHERE name = $1 FOR KEY SHARE"
    } else {
        "SELECT name, owner, region, created_ms, notification FROM s3_buckets WHERE name = $1"
    };
    Ok(t.query_opt(sql, &[&name])?.as_ref().map(bucket_row))
}

pub(super) fn list_buckets(t: &mut Transaction<'_>, _write: bool, owner: &str) -> DbResult<Vec<BucketRow>> {
    let rows = t.query(
        "SELECT name, owner, region, created_ms, notification FROM s3_buckets WHERE owner = $1 ORDER BY name",
        &[&owner],
    )?;
    Ok(rows.iter().map(bucket_row).collect())
}

pub(super) fn count_buckets(t: &mut Transaction<'_>, _write: bool, owner: &str) -> DbResult<u64> {
    Ok(uint(t.query_one("SELECT count(*) FROM s3_buckets WHERE owner = $1", &[&owner])?.get(0)))
}

pub(super) fn insert_bucket(t: &mut Transaction<'_>, _write: bool, b: &BucketRow) -> DbResult<bool> {
    let n = t.execute(
        "INSERT INTO s3_buckets (name, owner, region, created_ms, notification) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO NOTHING",
        &[&b.name, &b.owner, &b.region, &b.created_ms, &b.notification],
    )?;
    Ok(n == 1)
}

pub(super) fn lock_bucket(t: &mut Transaction<'_>, _write: bool, name: &str) -> DbResult<()> {
    t.query_opt("SELECT 1 FROM s3_buckets WHERE name = $1 FOR UPDATE", &[&name])?;
    Ok(())
}

pub(super) fn delete_bucket(t: &mut Transaction<'_>, _write: bool, name: &str) -> DbResult<()> {
    t.execute("DELETE FROM s3_buckets WHERE name = $1", &[&name])?;
    Ok(())
}

pub(super) fn bucket_has_content(t: &mut Transaction<'_>, _write: bool, name: &str) -> DbResult<bool> {
    Ok(t
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM s3_objects WHERE bucket = $1) OR EXISTS (SELECT 1 FROM s3_uploads WHERE bucket = $1)",
            &[&name],
        )?
        .get(0))
}

pub(super) fn set_notification(t: &mut Transaction<'_>, _write: bool, name: &str, xml: Option<&str>) -> DbResult<()> {
    t.execute("UPDATE s3_buckets SET notification = $2 WHERE name = $1", &[&name, &xml])?;
    Ok(())
}

// --- Objects -------------------------------------------------------------------------------

/// Locks `(bucket, key)` until the transaction ends.
fn lock_key(t: &mut Transaction<'_>, bucket: &str, key: &str) -> DbResult<()> {
    t.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&OBJECT_KEY_LOCK_CLASS, &key_lock_id(bucket, key)])?;
    Ok(())
}

/// The advisory lock id of `(bucket, key)`.
fn key_lock_id(bucket: &str, key: &str) -> i32 {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(bucket.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    let d = h.finalize();
    i32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Locks several keys in the order of their lock ids (one global order: no deadlock between
/// two writers of overlapping key sets).
pub(super) fn lock_keys(t: &mut Transaction<'_>, _write: bool, bucket: &str, keys: &[&str]) -> DbResult<()> {
    let mut ids: Vec<i32> = keys.iter().map(|k| key_lock_id(bucket, k)).collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        t.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&OBJECT_KEY_LOCK_CLASS, &id])?;
    }
    Ok(())
}

fn object_row(r: &postgres::Row) -> DbResult<ObjectRow> {
    let meta: String = r.get(5);
    Ok(ObjectRow {
        key: text_key(r.get(0))?,
        file: r.get(1),
        size: uint(r.get(2)),
        etag: r.get(3),
        modified_ms: r.get(4),
        meta: Meta::decode(&meta),
    })
}

pub(super) fn get_object(t: &mut Transaction<'_>, write: bool, bucket: &str, key: &str) -> DbResult<Option<ObjectRow>> {
    if write {
        lock_key(t, bucket, key)?;
    }
    t.query_opt(
        "SELECT key, file, size, etag, modified_ms, meta FROM s3_objects WHERE bucket = $1 AND key = $2",
        &[&bucket, &key.as_bytes()],
    )?
    .as_ref()
    .map(object_row)
    .transpose()
}

pub(super) fn put_object(
    t: &mut Transaction<'_>,
    _write: bool,
    bucket: &str,
    o: &ObjectRow,
) -> DbResult<Option<String>> {
    lock_key(t, bucket, &o.key)?;
    let old: Option<String> = t
        .query_opt("SELECT file FROM s3_objects WHERE bucket = $1 AND key = $2", &[&bucket, &o.key.as_bytes()])?
        .map(|r| r.get(0));
    t.execute(
        "INSERT INTO s3_objects (bucket, key, file, size, etag, modified_ms, meta) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (bucket, key) DO UPDATE SET file = EXCLUDED.file, size = EXCLUDED.size, etag = EXCLUDED.etag,
             modified_ms = EXCLUDED.modified_ms, meta = EXCLUDED.meta",
        &[&bucket, &o.key.as_bytes(), &o.file, &int(o.size), &o.etag, &o.modified_ms, &o.meta.encode()],
    )?;
    Ok(old)
}

pub(super) fn delete_object(
    t: &mut Transaction<'_>,
    _write: bool,
    bucket: &str,
    key: &str,
) -> DbResult<Option<String>> {
    lock_key(t, bucket, key)?;
    Ok(t.query_opt(
        "DELETE FROM s3_objects WHERE bucket = $1 AND key = $2 RETURNING file",
        &[&bucket, &key.as_bytes()],
    )?
    .map(|r| r.get(0)))
}

pub(super) fn list_objects(
    t: &mut Transaction<'_>,
    _write: bool,
    bucket: &str,
    from: &[u8],
    inclusive: bool,
    n: usize,
) -> DbResult<Vec<ObjectRow>> {
    let sql = if inclusive {
        "SELECT key, file, size, etag, modified_ms, meta FROM s3_objects WHERE bucket = $1 AND key >= $2 ORDER BY key LIMIT $3"
    } else {
        "SELECT key, file, size, etag, modified_ms, meta FROM s3_objects WHERE bucket = $1 AND key > $2 ORDER BY key LIMIT $3"
    };
    t.query(sql, &[&bucket, &from, &limit(n)])?.iter().map(object_row).collect()
}

pub(super) fn next_sequencer(t: &mut Transaction<'_>, _write: bool) -> DbResult<u64> {
    Ok(uint(t.query_one("SELECT nextval('s3_sequencer')", &[])?.get(0)))
}

// --- The event outbox -----------------------------------------------------------------------

pub(super) fn outbox_totals(t: &mut Transaction<'_>, _write: bool) -> DbResult<OutboxTotals> {
    let r = t.query_one("SELECT count(*), COALESCE(sum(octet_length(payload)), 0)::BIGINT FROM s3_outbox", &[])?;
    Ok(OutboxTotals { rows: uint(r.get(0)), bytes: uint(r.get(1)) })
}

pub(super) fn insert_outbox(t: &mut Transaction<'_>, _write: bool, row: &OutboxRow) -> DbResult<i64> {
    let attempts = i32::try_from(row.attempts).unwrap_or(i32::MAX);
    Ok(t.query_one(
        "INSERT INTO s3_outbox (function_arn, bucket, owner, payload, created_ms, attempts, due_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        &[&row.function_arn, &row.bucket, &row.owner, &row.payload, &row.created_ms, &attempts, &row.due_ms],
    )?
    .get(0))
}

pub(super) fn delete_outbox(t: &mut Transaction<'_>, _write: bool, id: i64) -> DbResult<bool> {
    Ok(t.execute("DELETE FROM s3_outbox WHERE id = $1", &[&id])? == 1)
}

pub(super) fn retry_outbox(t: &mut Transaction<'_>, _write: bool, id: i64, due_ms: i64) -> DbResult<()> {
    t.execute("UPDATE s3_outbox SET attempts = attempts + 1, due_ms = $2 WHERE id = $1", &[&id, &due_ms])?;
    Ok(())
}

fn outbox_row(r: &postgres::Row) -> OutboxRow {
    OutboxRow {
        id: r.get(0),
        function_arn: r.get(1),
        bucket: r.get(2),
        owner: r.get(3),
        payload: r.get(4),
        created_ms: r.get(5),
        attempts: u32::try_from(r.get::<_, i32>(6)).unwrap_or(0),
        due_ms: r.get(7),
    }
}

pub(super) fn due_outbox(t: &mut Transaction<'_>, _write: bool, now_ms: i64, n: usize) -> DbResult<Vec<OutboxRow>> {
    let rows = t.query(
        "SELECT id, function_arn, bucket, owner, payload, created_ms, attempts, due_ms FROM s3_outbox
         WHERE due_ms <= $1 ORDER BY due_ms, id LIMIT $2",
        &[&now_ms, &limit(n)],
    )?;
    Ok(rows.iter().map(outbox_row).collect())
}

/// See `Db::claim_outbox`.
pub(super) fn claim_outbox(
    t: &mut Transaction<'_>,
    now_ms: i64,
    lease_until_ms: i64,
    n: usize,
) -> DbResult<Vec<OutboxRow>> {
    let rows = t.query(
        "UPDATE s3_outbox SET due_ms = $2 WHERE id IN (
             SELECT id FROM s3_outbox WHERE due_ms <= $1 ORDER BY due_ms, id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING id, function_arn, bucket, owner, payload, created_ms, attempts, due_ms",
        &[&now_ms, &lease_until_ms, &limit(n)],
    )?;
    let mut out: Vec<OutboxRow> = rows.iter().map(outbox_row).collect();
    out.sort_by_key(|r| r.id);
    Ok(out)
}

pub(super) fn make_outbox_due(t: &mut Transaction<'_>, _write: bool, now_ms: i64) -> DbResult<usize> {
    let n = t.execute("UPDATE s3_outbox SET due_ms = $1 WHERE due_ms > $1", &[&now_ms])?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub(super) fn next_outbox_due(t: &mut Transaction<'_>, _write: bool) -> DbResult<Option<i64>> {
    Ok(t.query_one("SELECT min(due_ms) FROM s3_outbox", &[])?.get(0))
}

// --- Multipart uploads ---------------------------------------------------------------------

fn upload_row(r: &postgres::Row) -> DbResult<UploadRow> {
    let meta: String = r.get(5);
    Ok(UploadRow {
        upload_id: r.get(0),
        bucket: r.get(1),
        key: text_key(r.get(2))?,
        initiator: r.get(3),
        initiated_ms: r.get(4),
        meta: Meta::decode(&meta),
    })
}

pub(super) fn insert_upload(t: &mut Transaction<'_>, _write: bool, u: &UploadRow) -> DbResult<()> {
    t.execute(
        "INSERT INTO s3_uploads (upload_id, bucket, key, initiator, initiated_ms, meta) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&u.upload_id, &u.bucket, &u.key.as_bytes(), &u.initiator, &u.initiated_ms, &u.meta.encode()],
    )?;
    Ok(())
}

pub(super) fn get_upload(t: &mut Transaction<'_>, write: bool, upload_id: &str) -> DbResult<Option<UploadRow>> {
    let sql = if write {
        "SELECT upload_id, bucket, key, initiator, initiated_ms, meta FROM s3_uploads WHERE upload_id = $1 FOR UPDATE"
    } else {
        "SELECT upload_id, bucket, key, initiator, initiated_ms, meta FROM s3_uploads WHERE upload_id = $1"
    };
    t.query_opt(sql, &[&upload_id])?.as_ref().map(upload_row).transpose()
}

pub(super) fn count_uploads(t: &mut Transaction<'_>, _write: bool) -> DbResult<u64> {
    Ok(uint(t.query_one("SELECT count(*) FROM s3_uploads", &[])?.get(0)))
}

pub(super) fn delete_upload(t: &mut Transaction<'_>, _write: bool, upload_id: &str) -> DbResult<Vec<String>> {
    let files = t
        .query("DELETE FROM s3_parts WHERE upload_id = $1 RETURNING file", &[&upload_id])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    t.execute("DELETE FROM s3_uploads WHERE upload_id = $1", &[&upload_id])?;
    Ok(files)
}

pub(super) fn list_uploads(
    t: &mut Transaction<'_>,
    _write: bool,
    bucket: &str,
    after_key: &[u8],
    after_id: &str,
    n: usize,
) -> DbResult<Vec<UploadRow>> {
    t.query(
        "SELECT upload_id, bucket, key, initiator, initiated_ms, meta FROM s3_uploads
         WHERE bucket = $1 AND (key > $2 OR (key = $2 AND upload_id > $3)) ORDER BY key, upload_id LIMIT $4",
        &[&bucket, &after_key, &after_id, &limit(n)],
    )?
    .iter()
    .map(upload_row)
    .collect()
}

fn part_row(r: &postgres::Row) -> PartRow {
    PartRow {
        part_number: u32::try_from(r.get::<_, i32>(0)).unwrap_or(0),
        file: r.get(1),
        size: uint(r.get(2)),
        md5: r.get(3),
        modified_ms: r.get(4),
    }
}

pub(super) fn put_part(
    t: &mut Transaction<'_>,
    _write: bool,
    upload_id: &str,
    p: &PartRow,
) -> DbResult<Option<String>> {
    let number = i32::try_from(p.part_number).unwrap_or(i32::MAX);
    let old: Option<String> = t
        .query_opt(
            "SELECT file FROM s3_parts WHERE upload_id = $1 AND part_number = $2 FOR UPDATE",
            &[&upload_id, &number],
        )?
        .map(|r| r.get(0));
    t.execute(
        "INSERT INTO s3_parts (upload_id, part_number, file, size, md5, modified_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET file = EXCLUDED.file, size = EXCLUDED.size,
             md5 = EXCLUDED.md5, modified_ms = EXCLUDED.modified_ms",
        &[&upload_id, &number, &p.file, &int(p.size), &p.md5, &p.modified_ms],
    )?;
    Ok(old)
}

pub(super) fn list_parts(
    t: &mut Transaction<'_>,
    _write: bool,
    upload_id: &str,
    after: u32,
    n: usize,
) -> DbResult<Vec<PartRow>> {
    let after = i32::try_from(after).unwrap_or(i32::MAX);
    Ok(t.query(
        "SELECT part_number, file, size, md5, modified_ms FROM s3_parts WHERE upload_id = $1 AND part_number > $2
             ORDER BY part_number LIMIT $3",
        &[&upload_id, &after, &limit(n)],
    )?
    .iter()
    .map(part_row)
    .collect())
}
