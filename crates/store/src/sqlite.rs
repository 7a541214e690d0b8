//! The embedded backend: one SQLite database in WAL mode with synchronous commits.
//!
//! All writes run on one dedicated thread, which batches whatever jobs are queued into one
//! transaction (each job inside its own savepoint, so a failing job rolls back alone) and
//! commits once: group commit. A job's caller hears back only after that commit is durable.
//! Reads run on a small pool of read-only connections, each read inside its own transaction so
//! it sees one consistent snapshot.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use model::function::{
    Alias, EventInvokeConfig, Function, FunctionId, ProvisionedConfig, QueuedEvent, Sha256, VersionRecord,
};
use model::layer::{Layer, LayerId, LayerPolicy, LayerVersion};
use model::name::Version;
use model::policy::{FunctionUrl, Policy};
use model::scope::{AccountId, Region, Scope};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{Semaphore, mpsc};

use crate::{
    AccessKeyRow, AccountUsage, AlarmHistoryFilter, AlarmHistoryRow, AlarmRecord, AlarmStateRow, Backend, BoxFuture,
    Completion, FunctionKey, LayerKey, MetricPoint, MetricSeries, QueueTotals, ReadJob, ReadTx, StoreError, UrlTarget,
    WriteJob, WriteTx,
};
use crate::{
    AliasHistoryRow, AliasRow, ApigwRow, CdDeploymentQuery, CdDeploymentRow, ClaimedEvent, EsmRow, ScheduleRow,
};
use crate::{CLAIM_SCAN_MAX, PerFunctionMax};
use crate::{Channel, NodeBeat, NodeRow, ProvisionedAllocation};
use crate::{OLDEST_WINDOW, code_blobs, codec};
use crate::{SqsCounts, SqsMessageRow, SqsQueueRow, sqs};

/// Most write jobs waiting for the writer thread; callers wait beyond that.
pub const WRITE_QUEUE_DEPTH: usize = 1024;
/// Most jobs committed together in one transaction.
pub const WRITE_BATCH_MAX: usize = 128;
/// Read connections, and so the most reads in flight at once.
pub const READ_CONNECTIONS: usize = 4;
/// How long a connection waits on a lock held by another process before failing.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Prepared statements kept per connection (rusqlite's default is 16, fewer than the
/// statements one connection runs, so they were re-prepared over and over).
const STATEMENT_CACHE_MAX: usize = 256;

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
}

/// The embedded SQLite backend. Dropping it stops the writer thread after the queued jobs.
pub struct SqliteBackend {
    writes: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_permits: Arc<Semaphore>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteBackend")
    }
}

fn db_err(e: rusqlite::Error) -> StoreError {
    // A unique or primary key taken: a conflict the caller can name, not a database failure.
    const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
    const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && matches!(f.extended_code, SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE)
    {
        return StoreError::Conflict(e.to_string());
    }
    StoreError::Database(e.to_string())
}

/// The database's clock (the node's own, for the embedded backend), in epoch milliseconds.
fn db_now_ms(conn: &Connection) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER)")
        .map_err(db_err)?
        .query_row([], |r| r.get::<_, i64>(0))
        .map_err(db_err)
}

impl SqliteBackend {
    /// Opens (creating and migrating if needed) the database at `options.path`.
    pub fn open(options: &SqliteOptions) -> Result<SqliteBackend, StoreError> {
        let mut conn = Connection::open(&options.path).map_err(db_err)?;
        configure(&conn)?;
        migrate(&mut conn)?;
        let mut readers = Vec::with_capacity(READ_CONNECTIONS);
        for _ in 0..READ_CONNECTIONS {
            readers.push(open_reader(&options.path)?);
        }
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_DEPTH);
        let writer = std::thread::Builder::new()
            .name("versa-store-writer".to_owned())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteBackend {
            writes: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers: Arc::new(Mutex::new(readers)),
            read_permits: Arc::new(Semaphore::new(READ_CONNECTIONS)),
        })
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued and exit.
        self.writes.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

impl Backend for SqliteBackend {
    fn submit_write(&self, job: WriteJob) -> BoxFuture<'_, Result<(), StoreError>> {
        let sender = self.writes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move {
            let sender = sender.ok_or(StoreError::Closed)?;
            sender.send(job).await.map_err(|_| StoreError::Closed)
        })
    }

    fn submit_read(&self, job: ReadJob) -> BoxFuture<'_, Result<(), StoreError>> {
        let permits = self.read_permits.clone();
        let readers = self.readers.clone();
        Box::pin(async move {
            let permit = permits.acquire_owned().await.map_err(|_| StoreError::Closed)?;
            let joined = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let conn = readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some(conn) = conn else {
                    return Err(StoreError::Database("no free read connection".to_owned()));
                };
                let result = run_read(&conn, job);
                readers.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
                result
            })
            .await;
            joined.map_err(|_| StoreError::Panicked)?
        })
    }

    fn read_here(&self, job: ReadJob) -> Result<Result<(), StoreError>, ReadJob> {
        // A WAL reader never waits for the writer: a short read on a free connection costs
        // less than the hop to a blocking thread and back.
        let Ok(permit) = self.read_permits.clone().try_acquire_owned() else { return Err(job) };
        let conn = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let Some(conn) = conn else { return Err(job) };
        let _permit = permit;
        let result = run_read(&conn, job);
        self.readers.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        Ok(result)
    }
}

fn run_read(conn: &Connection, job: ReadJob) -> Result<(), StoreError> {
    control(conn, "BEGIN DEFERRED")?;
    let mut tx = SqliteTx { conn };
    job(&mut tx);
    // A read transaction has nothing to commit; ending it releases the snapshot.
    control(conn, "COMMIT")
}

/// Settings of every connection, writer and readers.
fn tune(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_MAX);
    // The query planner stability guarantee: a statement keeps the plan it was prepared with.
    // Without it SQLite re-prepares a cached statement on every execution that binds a
    // parameter the planner looked at (`LIMIT ?`, `OFFSET ?`, values compared with partial
    // indexes' conditions): ~10 % of a write's CPU. The store never runs ANALYZE, so no plan
    // depends on the bound values anyway.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(db_err)?;
    Ok(())
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    tune(conn)?;
    // WAL with synchronous=FULL: every commit is fsynced before it is acknowledged.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(db_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database(format!("cannot enable WAL (journal_mode={mode})")));
    }
    // Statement journals (each job's savepoint in a batch, multi-row statements) in memory:
    // in a temporary file they cost a `pwrite` per page a savepoint touches. A batch is bounded
    // (WRITE_BATCH_MAX jobs), so is what they hold.
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;").map_err(db_err)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(db_err)?;
    tune(&conn)?;
    Ok(conn)
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// **Invariant:** entries are only ever appended, never edited.
const MIGRATIONS: &[&str] = &[
    // 1: functions, versions, aliases.
    r#"
    CREATE TABLE functions (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        name            TEXT NOT NULL,
        latest          TEXT NOT NULL,
        latest_code     TEXT NOT NULL,
        latest_code_size INTEGER NOT NULL,
        next_version    INTEGER NOT NULL,
        tags            TEXT NOT NULL,
        UNIQUE (account, region, name)
    );
    CREATE TABLE versions (
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        version         INTEGER NOT NULL,
        doc             TEXT NOT NULL,
        code            TEXT NOT NULL,
        code_size       INTEGER NOT NULL,
        PRIMARY KEY (function_id, version)
    ) WITHOUT ROWID;
    CREATE INDEX versions_code ON versions(code);
    CREATE INDEX functions_code ON functions(latest_code);
    CREATE TABLE aliases (
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        name            TEXT NOT NULL,
        doc             TEXT NOT NULL,
        primary_version INTEGER,
        routing_version INTEGER,
        PRIMARY KEY (function_id, name)
    ) WITHOUT ROWID;
    "#,
    // 2: reserved concurrency, asynchronous-invocation configs, the durable event queue.
    r#"
    ALTER TABLE functions ADD COLUMN reserved_concurrency INTEGER;
    CREATE TABLE event_invoke_configs (
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        qualifier       TEXT NOT NULL,
        doc             TEXT NOT NULL,
        PRIMARY KEY (function_id, qualifier)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        function_name   TEXT NOT NULL,
        qualifier       TEXT,
        request_id      TEXT NOT NULL,
        payload         BLOB NOT NULL,
        received_ms     INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        not_before_ms   INTEGER NOT NULL,
        claimed_until_ms INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX events_due ON events(not_before_ms);
    CREATE INDEX events_function ON events(function_id);
    "#,
    // 3: provisioned concurrency configs.
    r#"
    CREATE TABLE provisioned_configs (
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        qualifier       TEXT NOT NULL,
        requested       INTEGER NOT NULL,
        last_modified_ms INTEGER NOT NULL,
        PRIMARY KEY (function_id, qualifier)
    ) WITHOUT ROWID;
    "#,
    // 4: resource policies and function URLs.
    r#"
    CREATE TABLE policies (
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        qualifier       TEXT NOT NULL,
        doc             TEXT NOT NULL,
        PRIMARY KEY (function_id, qualifier)
    ) WITHOUT ROWID;
    CREATE TABLE function_urls (
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        qualifier       TEXT NOT NULL,
        url_id          TEXT NOT NULL UNIQUE,
        doc             TEXT NOT NULL,
        PRIMARY KEY (function_id, qualifier)
    ) WITHOUT ROWID;
    "#,
    // 5: layers, their versions (with their policies), and which layer code each function
    // version mounts (version 0 is `$LATEST`), so that code stays while anything uses it.
    r#"
    CREATE TABLE layers (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        name            TEXT NOT NULL,
        next_version    INTEGER NOT NULL,
        UNIQUE (account, region, name)
    );
    CREATE TABLE layer_versions (
        layer_id        INTEGER NOT NULL REFERENCES layers(id) ON DELETE CASCADE,
        version         INTEGER NOT NULL,
        doc             TEXT NOT NULL,
        code            TEXT NOT NULL,
        code_size       INTEGER NOT NULL,
        policy          TEXT,
        PRIMARY KEY (layer_id, version)
    ) WITHOUT ROWID;
    CREATE INDEX layer_versions_code ON layer_versions(code);
    CREATE TABLE function_layers (
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        version         INTEGER NOT NULL,
        position        INTEGER NOT NULL,
        code            TEXT NOT NULL,
        PRIMARY KEY (function_id, version, position)
    ) WITHOUT ROWID;
    CREATE INDEX function_layers_code ON function_layers(code);
    "#,
    // 6: access keys (`--auth sigv4`); secrets sealed by `control`.
    r#"
    CREATE TABLE access_keys (
        access_key_id   TEXT PRIMARY KEY,
        account         TEXT NOT NULL,
        sealed_secret   BLOB NOT NULL,
        root            INTEGER NOT NULL,
        created_ms      INTEGER NOT NULL,
        name            TEXT
    ) WITHOUT ROWID;
    "#,
    // 7: metric aggregates (the `metrics` crate): one row per series and minute, and the
    // series list (bounded by the writer, `metrics::MAX_STORED_SERIES`).
    r#"
    CREATE TABLE metric_series (
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        namespace       TEXT NOT NULL,
        metric          TEXT NOT NULL,
        dims            TEXT NOT NULL,
        PRIMARY KEY (account, region, namespace, metric, dims)
    ) WITHOUT ROWID;
    CREATE TABLE metric_points (
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        namespace       TEXT NOT NULL,
        metric          TEXT NOT NULL,
        dims            TEXT NOT NULL,
        start_ms        INTEGER NOT NULL,
        sum             REAL NOT NULL,
        count           INTEGER NOT NULL,
        min             REAL NOT NULL,
        max             REAL NOT NULL,
        sketch          BLOB NOT NULL,
        PRIMARY KEY (account, region, namespace, metric, dims, start_ms)
    ) WITHOUT ROWID;
    CREATE INDEX metric_points_start ON metric_points(start_ms);
    "#,
    // 8: CloudWatch alarms (the `alarms` crate): definitions with state and due time, their
    // tags, and history items (kept after an alarm is deleted; trimmed by age and count).
    r#"
    CREATE TABLE alarms (
        account                 TEXT NOT NULL,
        region                  TEXT NOT NULL,
        name                    TEXT NOT NULL,
        config                  TEXT NOT NULL,
        config_updated_ms       INTEGER NOT NULL,
        actions_enabled         INTEGER NOT NULL,
        state                   TEXT NOT NULL,
        reason                  TEXT NOT NULL,
        reason_data             TEXT,
        state_updated_ms        INTEGER NOT NULL,
        state_transitioned_ms   INTEGER NOT NULL,
        next_eval_ms            INTEGER NOT NULL,
        PRIMARY KEY (account, region, name)
    ) WITHOUT ROWID;
    CREATE INDEX alarms_due ON alarms(next_eval_ms);
    CREATE TABLE alarm_tags (
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        name            TEXT NOT NULL,
        key             TEXT NOT NULL,
        value           TEXT NOT NULL,
        PRIMARY KEY (account, region, name, key)
    ) WITHOUT ROWID;
    CREATE TABLE alarm_history (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        alarm_name      TEXT NOT NULL,
        alarm_type      TEXT NOT NULL,
        timestamp_ms    INTEGER NOT NULL,
        item_type       TEXT NOT NULL,
        summary         TEXT NOT NULL,
        data            TEXT NOT NULL
    );
    CREATE INDEX alarm_history_alarm ON alarm_history(account, region, alarm_name, id);
    CREATE INDEX alarm_history_time ON alarm_history(timestamp_ms);
    "#,
    // 9: 1-second (high-resolution) metric aggregates, kept
    // `metrics::HIGH_RESOLUTION_RETENTION_MS`; their series are also in `metric_series` (each
    // value is also added to its minute).
    r#"
    CREATE TABLE metric_points_hr (
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        namespace       TEXT NOT NULL,
        metric          TEXT NOT NULL,
        dims            TEXT NOT NULL,
        start_ms        INTEGER NOT NULL,
        sum             REAL NOT NULL,
        count           INTEGER NOT NULL,
        min             REAL NOT NULL,
        max             REAL NOT NULL,
        sketch          BLOB NOT NULL,
        PRIMARY KEY (account, region, namespace, metric, dims, start_ms)
    ) WITHOUT ROWID;
    CREATE INDEX metric_points_hr_start ON metric_points_hr(start_ms);
    "#,
    // 10: CodeDeploy (the `codedeploy` crate): applications, deployment groups and custom
    // deployment configs as JSON documents; deployments (their whole durable state machine in
    // `doc`, with the due time and activity as columns); tags by ARN. At most one active
    // deployment per deployment group.
    r#"
    CREATE TABLE cd_objects (
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        kind            TEXT NOT NULL,
        name            TEXT NOT NULL,
        doc             TEXT NOT NULL,
        PRIMARY KEY (account, region, kind, name)
    ) WITHOUT ROWID;
    CREATE TABLE cd_deployments (
        id              TEXT PRIMARY KEY,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        application     TEXT NOT NULL,
        deployment_group TEXT NOT NULL,
        active          INTEGER NOT NULL,
        next_due_ms     INTEGER,
        create_ms       INTEGER NOT NULL,
        doc             TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX cd_deployments_one_active
        ON cd_deployments(account, region, application, deployment_group) WHERE active = 1;
    CREATE INDEX cd_deployments_scope ON cd_deployments(account, region, create_ms);
    CREATE TABLE cd_tags (
        arn             TEXT NOT NULL,
        key             TEXT NOT NULL,
        value           TEXT NOT NULL,
        PRIMARY KEY (arn, key)
    ) WITHOUT ROWID;
    "#,
    // 11: alias history, one row per alias change, written in the change's own transaction.
    // Kept when the alias is deleted; removed with the function (a function created again
    // under the same name starts with no history). `before`/`after` are JSON documents
    // (`{"v":"2","w":[["3",0.2]]}`), NULL for a creation/deletion.
    r#"
    CREATE TABLE alias_history (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        function_name   TEXT NOT NULL,
        alias           TEXT NOT NULL,
        time_ms         INTEGER NOT NULL,
        actor_kind      TEXT NOT NULL,
        actor_id        TEXT NOT NULL,
        operation       TEXT NOT NULL,
        before          TEXT,
        after           TEXT,
        revision_id     TEXT
    );
    CREATE INDEX alias_history_alias ON alias_history(function_id, alias, id);
    "#,
    // 12: bounded CodeDeploy reads: a group's deployments newest first (ListDeployments by
    // group, lastAttempted/lastSuccessful, trimming to `CD_DEPLOYMENTS_PER_GROUP`), and the
    // active ones by due time (the scheduler's bounded pass), the recent ones (`/metrics`).
    r#"
    CREATE INDEX cd_deployments_group
        ON cd_deployments(account, region, application, deployment_group, create_ms, id);
    CREATE INDEX cd_deployments_due ON cd_deployments(next_due_ms, create_ms, id) WHERE active = 1;
    CREATE INDEX cd_deployments_created ON cd_deployments(create_ms);
    "#,
    // 13: API Gateway (the `apigateway` crate): one row per REST or HTTP API, its whole
    // definition as one document; ids are unique across accounts (the invoke URL names only
    // the id).
    r#"
    CREATE TABLE apigw_apis (
        id              TEXT PRIMARY KEY,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        kind            TEXT NOT NULL,
        doc             TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX apigw_apis_scope ON apigw_apis(account, region, kind, id);
    "#,
    // 14: EventBridge rules (targets in the document) and Scheduler schedules (the
    // `eventbridge` crate), each with the due time of its next tick; a tick is fired in the
    // transaction that moves `next_due_ms` on (`advance_schedule_due`).
    r#"
    CREATE TABLE schedules (
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        kind            TEXT NOT NULL,
        name            TEXT NOT NULL,
        doc             TEXT NOT NULL,
        next_due_ms     INTEGER,
        PRIMARY KEY (account, region, kind, name)
    ) WITHOUT ROWID;
    CREATE INDEX schedules_due ON schedules(next_due_ms) WHERE next_due_ms IS NOT NULL;
    "#,
    // 15: SQS queues, messages and FIFO deduplication keys (`crates/store/src/sqs.rs`).
    crate::sqs::MIGRATION,
    // 16: Lambda event source mappings (`control::esm`): one row per mapping, the mapping as
    // one document of control's; stream checkpoints per (mapping, stream label, shard), deleted
    // with their mapping. SQS keeps its in-flight state in the queue itself.
    r#"
    CREATE TABLE esm_mappings (
        uuid            TEXT PRIMARY KEY,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        source_arn      TEXT NOT NULL,
        function_arn    TEXT NOT NULL,
        doc             TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX esm_mappings_scope ON esm_mappings(account, region, uuid);
    CREATE TABLE esm_checkpoints (
        uuid            TEXT NOT NULL REFERENCES esm_mappings(uuid) ON DELETE CASCADE,
        shard           TEXT NOT NULL,
        sequence        TEXT NOT NULL,
        PRIMARY KEY (uuid, shard)
    ) WITHOUT ROWID;
    "#,
    // 17: the event queue on one visibility time (the due time, or the lease end while
    // claimed), with the claiming node and a fencing token checked when the event is finished
    // or rescheduled. Claims of the previous run are freed here (as its startup used to).
    r#"
    ALTER TABLE events ADD COLUMN visible_at_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE events ADD COLUMN claimed_by TEXT;
    ALTER TABLE events ADD COLUMN claim_token TEXT;
    UPDATE events SET visible_at_ms = not_before_ms;
    DROP INDEX events_due;
    ALTER TABLE events DROP COLUMN not_before_ms;
    ALTER TABLE events DROP COLUMN claimed_until_ms;
    CREATE INDEX events_visible ON events(visible_at_ms, id);
    CREATE INDEX events_claimed_by ON events(claimed_by) WHERE claimed_by IS NOT NULL;
    "#,
    // 18: cluster membership (`nodes`, heartbeats on the database's clock) and settings every
    // node shares (`cluster_settings`: the code-URL key, the cluster secret). See `cluster.rs`.
    crate::cluster::MIGRATION,
    // 19: the code blobs of a shared blob store, for the grace-period collector
    // (`crates/store/src/code_blobs.rs`).
    crate::code_blobs::MIGRATION,
    // 20: leases, the cluster-wide singletons (the alarm evaluator, the deployment engine).
    crate::leases::MIGRATION,
    // 21: provisioned-concurrency allocations per node (the cluster's planner; `allocations.rs`).
    crate::allocations::MIGRATION,
    // 22: the event queue without AUTOINCREMENT (every insert also wrote `sqlite_sequence`; an
    // id freed by a finished event may be given again, which nothing relies on: finishing or
    // rescheduling an event checks its claim token too), and its totals kept in
    // `event_queue_totals` by triggers, so counting the queue reads one row instead of all.
    r#"
    CREATE TABLE events_new (
        id              INTEGER PRIMARY KEY,
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        function_name   TEXT NOT NULL,
        qualifier       TEXT,
        request_id      TEXT NOT NULL,
        payload         BLOB NOT NULL,
        received_ms     INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        visible_at_ms   INTEGER NOT NULL DEFAULT 0,
        claimed_by      TEXT,
        claim_token     TEXT
    );
    INSERT INTO events_new (id, function_id, account, region, function_name, qualifier, request_id, payload,
        received_ms, attempts, visible_at_ms, claimed_by, claim_token)
        SELECT id, function_id, account, region, function_name, qualifier, request_id, payload,
        received_ms, attempts, visible_at_ms, claimed_by, claim_token FROM events;
    DROP TABLE events;
    ALTER TABLE events_new RENAME TO events;
    DELETE FROM sqlite_sequence WHERE name = 'events';
    CREATE INDEX events_visible ON events(visible_at_ms, id);
    CREATE INDEX events_claimed_by ON events(claimed_by) WHERE claimed_by IS NOT NULL;
    CREATE INDEX events_function ON events(function_id);
    CREATE TABLE event_queue_totals (
        id              INTEGER PRIMARY KEY CHECK (id = 0),
        events          INTEGER NOT NULL,
        bytes           INTEGER NOT NULL
    );
    INSERT INTO event_queue_totals (id, events, bytes)
        SELECT 0, count(*), coalesce(sum(length(payload)), 0) FROM events;
    CREATE TRIGGER events_added AFTER INSERT ON events BEGIN
        UPDATE event_queue_totals SET events = events + 1, bytes = bytes + length(NEW.payload) WHERE id = 0;
    END;
    CREATE TRIGGER events_removed AFTER DELETE ON events BEGIN
        UPDATE event_queue_totals SET events = events - 1, bytes = bytes - length(OLD.payload) WHERE id = 0;
    END;
    "#,
    // 23: no index of the claim holders. Only a node alone uses this store, and it asks who
    // holds claims once, at start (`claim_holders`, `reap_claims`: one scan of the bounded
    // queue), while the index cost two B-tree changes per event (its claim and its finish).
    "DROP INDEX events_claimed_by;",
    // 24: a key can be disabled (`versa keys disable`) and enabled again.
    "ALTER TABLE access_keys ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;",
];

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map_err(db_err)? as usize;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the database has schema version {applied}, newer than this Versa knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction().map_err(db_err)?;
        tx.execute_batch(sql).map_err(db_err)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1)).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        tracing::info!(version = i + 1, "applied store migration");
    }
    Ok(())
}

fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<WriteJob>) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(WRITE_BATCH_MAX);
    let mut done: Vec<Completion> = Vec::with_capacity(WRITE_BATCH_MAX);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < WRITE_BATCH_MAX {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&conn, &mut batch, &mut done);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "store commit failed");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for complete in done.drain(..) {
            complete(outcome.clone());
        }
    }
}

/// Runs one of the transaction-control statements through the statement cache (parsing
/// `BEGIN`/`SAVEPOINT`/`RELEASE`/`COMMIT` anew for every batch cost more than running them).
fn control(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).map_err(db_err)
}

fn run_batch(conn: &Connection, batch: &mut Vec<WriteJob>, done: &mut Vec<Completion>) -> Result<(), StoreError> {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        // Nothing ran: dropping the jobs tells every caller the store failed.
        batch.clear();
        return Err(e);
    }
    // A batch of one job (a single client's write) needs no savepoint: the transaction is the
    // job's, and a job that does not commit rolls all of it back.
    if batch.len() == 1 {
        let job = batch.pop().expect("one job");
        let mut tx = SqliteTx { conn };
        let (commit, complete) = job(&mut tx);
        done.push(complete);
        return control(conn, if commit { "COMMIT" } else { "ROLLBACK" });
    }
    for job in batch.drain(..) {
        control(conn, "SAVEPOINT job")?;
        let mut tx = SqliteTx { conn };
        let (commit, complete) = job(&mut tx);
        done.push(complete);
        if !commit {
            control(conn, "ROLLBACK TO job")?;
        }
        control(conn, "RELEASE job")?;
    }
    control(conn, "COMMIT")
}

struct SqliteTx<'c> {
    conn: &'c Connection,
}

type FunctionRow = (i64, String, String, u32, String, Option<u32>);

fn function_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FunctionRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn decode_function(raw: FunctionRow) -> Result<Function, StoreError> {
    let (id, name, latest, next_version, tags, reserved_concurrency) = raw;
    Ok(Function {
        id: FunctionId(id),
        name,
        latest: codec::decode_version(Version::Latest, &latest)?,
        next_version,
        tags: codec::decode_tags(&tags)?,
        reserved_concurrency,
    })
}

const FUNCTION_COLUMNS: &str = "id, name, latest, next_version, tags, reserved_concurrency";

fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<QueuedEvent> {
    let invalid = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, format!("invalid {what}").into())
    };
    let account: String = row.get(8)?;
    let region: String = row.get(9)?;
    Ok(QueuedEvent {
        id: row.get(0)?,
        scope: Scope {
            account: AccountId::parse(&account).ok_or_else(|| invalid(8, "account"))?,
            region: Region::parse(&region).ok_or_else(|| invalid(9, "region"))?,
        },
        function_id: FunctionId(row.get(1)?),
        function_name: row.get(2)?,
        qualifier: row.get(3)?,
        request_id: row.get(4)?,
        payload: row.get(5)?,
        received_ms: row.get(6)?,
        attempts: row.get(7)?,
    })
}

const DELETE_POLICY: &str = "DELETE FROM policies WHERE function_id = ?1 AND qualifier = ?2";
const DELETE_FUNCTION_URL: &str = "DELETE FROM function_urls WHERE function_id = ?1 AND qualifier = ?2";

/// The `function_layers.version` of `$LATEST`.
const LATEST_LAYERS: u32 = 0;

impl SqliteTx<'_> {
    /// Runs one of the `DELETE_*` statements for a function's qualifier; whether a row went.
    fn delete_qualified(&self, sql: &str, id: FunctionId, qualifier: &str) -> Result<bool, StoreError> {
        let n = self.conn.prepare_cached(sql).map_err(db_err)?.execute(params![id.0, qualifier]).map_err(db_err)?;
        Ok(n > 0)
    }

    /// Records which layer code a function version mounts, replacing what was recorded.
    fn put_function_layers(&self, id: FunctionId, version: u32, v: &VersionRecord) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM function_layers WHERE function_id = ?1 AND version = ?2")
            .map_err(db_err)?
            .execute(params![id.0, version])
            .map_err(db_err)?;
        for (position, layer) in v.config.layers.iter().enumerate() {
            self.conn
                .prepare_cached(
                    "INSERT INTO function_layers (function_id, version, position, code) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(db_err)?
                .execute(params![id.0, version, position as i64, layer.code.sha256.to_hex()])
                .map_err(db_err)?;
        }
        Ok(())
    }
}

fn layer_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Layer> {
    Ok(Layer { id: LayerId(row.get(0)?), name: row.get(1)?, next_version: row.get(2)? })
}

fn layer_version_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(u32, String, Option<String>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

const EVENT_COLUMNS: &str =
    "id, function_id, function_name, qualifier, request_id, payload, received_ms, attempts, account, region";

const CD_DEPLOYMENT_COLUMNS: &str =
    "id, account, region, application, deployment_group, active, next_due_ms, create_ms, doc";

fn cd_deployment_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CdDeploymentRow> {
    Ok(CdDeploymentRow {
        id: row.get(0)?,
        account: row.get(1)?,
        region: row.get(2)?,
        application: row.get(3)?,
        group: row.get(4)?,
        active: row.get(5)?,
        next_due_ms: row.get(6)?,
        create_ms: row.get(7)?,
        doc: row.get(8)?,
    })
}

const ACCESS_KEY_COLUMNS: &str = "access_key_id, account, sealed_secret, root, created_ms, name, disabled";

fn access_key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AccessKeyRow> {
    Ok(AccessKeyRow {
        access_key_id: row.get(0)?,
        account: row.get(1)?,
        sealed_secret: row.get(2)?,
        root: row.get(3)?,
        created_ms: row.get(4)?,
        name: row.get(5)?,
        disabled: row.get(6)?,
    })
}

impl ReadTx for SqliteTx<'_> {
    fn schedule_row(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<ScheduleRow>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE account = ?1 AND region = ?2 AND kind = ?3 AND name = ?4"
            ))
            .map_err(db_err)?
            .query_row(params![account, region, kind, name], schedule_from_row)
            .optional()
            .map_err(db_err)
    }

    fn schedule_rows(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ScheduleRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE account = ?1 AND region = ?2 AND kind = ?3 \
                 AND substr(name, 1, length(?4)) = ?4 AND (?5 IS NULL OR name > ?5) ORDER BY name LIMIT ?6"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![account, region, kind, prefix, after, limit as i64], schedule_from_row)
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn schedule_count(&mut self, account: &str, region: &str, kind: &str) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached("SELECT count(*) FROM schedules WHERE account = ?1 AND region = ?2 AND kind = ?3")
            .map_err(db_err)?
            .query_row(params![account, region, kind], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_err)
    }

    fn schedules_due(&mut self, now_ms: i64, limit: usize) -> Result<Vec<ScheduleRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE next_due_ms IS NOT NULL AND next_due_ms <= ?1 \
                 ORDER BY next_due_ms LIMIT ?2"
            ))
            .map_err(db_err)?;
        let rows = stmt.query_map(params![now_ms, limit as i64], schedule_from_row).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn next_schedule_due(&mut self) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached("SELECT min(next_due_ms) FROM schedules")
            .map_err(db_err)?
            .query_row([], |r| r.get::<_, Option<i64>>(0))
            .map_err(db_err)
    }

    fn function(&mut self, key: &FunctionKey) -> Result<Option<Function>, StoreError> {
        let raw = self
            .conn
            .prepare_cached(&format!(
                "SELECT {FUNCTION_COLUMNS} FROM functions WHERE account = ?1 AND region = ?2 AND name = ?3"
            ))
            .map_err(db_err)?
            .query_row(params![key.scope.account.as_str(), key.scope.region.as_str(), key.name], function_from_row)
            .optional()
            .map_err(db_err)?;
        raw.map(decode_function).transpose()
    }

    fn functions(&mut self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<Function>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {FUNCTION_COLUMNS} FROM functions WHERE account = ?1 AND region = ?2 AND name > ?3 \
                 ORDER BY name LIMIT ?4"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![scope.account.as_str(), scope.region.as_str(), after.unwrap_or(""), limit as i64],
                function_from_row,
            )
            .map_err(db_err)?;
        rows.map(|r| decode_function(r.map_err(db_err)?)).collect()
    }

    fn version(&mut self, id: FunctionId, number: u32) -> Result<Option<VersionRecord>, StoreError> {
        let doc: Option<String> = self
            .conn
            .prepare_cached("SELECT doc FROM versions WHERE function_id = ?1 AND version = ?2")
            .map_err(db_err)?
            .query_row(params![id.0, number], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        doc.map(|d| codec::decode_version(Version::Published(number), &d)).transpose()
    }

    fn versions(&mut self, id: FunctionId, after: Option<u32>, limit: usize) -> Result<Vec<VersionRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT version, doc FROM versions WHERE function_id = ?1 AND version > ?2 ORDER BY version LIMIT ?3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![id.0, after.unwrap_or(0), limit as i64], |r| {
                Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err)?;
        rows.map(|r| {
            let (n, doc) = r.map_err(db_err)?;
            codec::decode_version(Version::Published(n), &doc)
        })
        .collect()
    }

    fn highest_version(&mut self, id: FunctionId) -> Result<Option<VersionRecord>, StoreError> {
        let row: Option<(u32, String)> = self
            .conn
            .prepare_cached("SELECT version, doc FROM versions WHERE function_id = ?1 ORDER BY version DESC LIMIT 1")
            .map_err(db_err)?
            .query_row(params![id.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db_err)?;
        row.map(|(n, doc)| codec::decode_version(Version::Published(n), &doc)).transpose()
    }

    fn alias(&mut self, id: FunctionId, name: &str) -> Result<Option<Alias>, StoreError> {
        let doc: Option<String> = self
            .conn
            .prepare_cached("SELECT doc FROM aliases WHERE function_id = ?1 AND name = ?2")
            .map_err(db_err)?
            .query_row(params![id.0, name], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        doc.map(|d| codec::decode_alias(name.to_owned(), &d)).transpose()
    }

    fn aliases(&mut self, id: FunctionId, after: Option<&str>, limit: usize) -> Result<Vec<Alias>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, doc FROM aliases WHERE function_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3")
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![id.0, after.unwrap_or(""), limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err)?;
        rows.map(|r| {
            let (name, doc) = r.map_err(db_err)?;
            codec::decode_alias(name, &doc)
        })
        .collect()
    }

    fn aliases_referencing(&mut self, id: FunctionId, number: u32) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name FROM aliases WHERE function_id = ?1 AND (primary_version = ?2 OR routing_version = ?2) \
                 ORDER BY name",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map(params![id.0, number], |r| r.get::<_, String>(0)).map_err(db_err)?;
        rows.map(|r| r.map_err(db_err)).collect()
    }

    fn code_references(&mut self, sha: &Sha256) -> Result<u64, StoreError> {
        let hex = sha.to_hex();
        self.conn
            .prepare_cached(
                "SELECT (SELECT count(*) FROM functions WHERE latest_code = ?1) + \
                        (SELECT count(*) FROM versions WHERE code = ?1) + \
                        (SELECT count(*) FROM layer_versions WHERE code = ?1) + \
                        (SELECT count(*) FROM function_layers WHERE code = ?1)",
            )
            .map_err(db_err)?
            .query_row(params![hex], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_err)
    }

    fn referenced_code(&mut self) -> Result<Vec<Sha256>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT latest_code FROM functions UNION SELECT code FROM versions \
                 UNION SELECT code FROM layer_versions UNION SELECT code FROM function_layers",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
        rows.map(|r| {
            let hex = r.map_err(db_err)?;
            Sha256::from_hex(&hex).ok_or_else(|| StoreError::Corrupt(format!("code reference {hex}")))
        })
        .collect()
    }

    fn account_usage(&mut self, scope: &Scope) -> Result<AccountUsage, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT count(*), coalesce(sum(latest_code_size), 0) + coalesce((SELECT sum(v.code_size) FROM versions v \
                 JOIN functions f ON f.id = v.function_id WHERE f.account = ?1 AND f.region = ?2), 0) \
                 + coalesce((SELECT sum(lv.code_size) FROM layer_versions lv JOIN layers l ON l.id = lv.layer_id \
                 WHERE l.account = ?1 AND l.region = ?2), 0) \
                 FROM functions WHERE account = ?1 AND region = ?2",
            )
            .map_err(db_err)?
            .query_row(params![scope.account.as_str(), scope.region.as_str()], |r| {
                Ok(AccountUsage { function_count: r.get::<_, i64>(0)? as u64, total_code_size: r.get::<_, i64>(1)? as u64 })
            })
            .map_err(db_err)
    }

    fn event_invoke_config(
        &mut self,
        id: FunctionId,
        qualifier: &str,
    ) -> Result<Option<EventInvokeConfig>, StoreError> {
        let doc: Option<String> = self
            .conn
            .prepare_cached("SELECT doc FROM event_invoke_configs WHERE function_id = ?1 AND qualifier = ?2")
            .map_err(db_err)?
            .query_row(params![id.0, qualifier], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        doc.map(|d| codec::decode_event_invoke_config(&d)).transpose()
    }

    fn event_invoke_configs(
        &mut self,
        id: FunctionId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, EventInvokeConfig)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT qualifier, doc FROM event_invoke_configs WHERE function_id = ?1 AND qualifier > ?2 \
                 ORDER BY qualifier LIMIT ?3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![id.0, after.unwrap_or(""), limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err)?;
        rows.map(|r| {
            let (q, doc) = r.map_err(db_err)?;
            Ok((q, codec::decode_event_invoke_config(&doc)?))
        })
        .collect()
    }

    fn reserved_concurrency_total(&mut self, scope: &Scope) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT coalesce(sum(reserved_concurrency), 0) FROM functions WHERE account = ?1 AND region = ?2",
            )
            .map_err(db_err)?
            .query_row(params![scope.account.as_str(), scope.region.as_str()], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_err)
    }

    fn unreserved_provisioned_total(&mut self, scope: &Scope) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT coalesce(sum(p.requested), 0) FROM provisioned_configs p JOIN functions f \
                 ON f.id = p.function_id WHERE f.account = ?1 AND f.region = ?2 AND f.reserved_concurrency IS NULL",
            )
            .map_err(db_err)?
            .query_row(params![scope.account.as_str(), scope.region.as_str()], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_err)
    }

    fn queued_events(&mut self) -> Result<QueueTotals, StoreError> {
        self.conn
            .prepare_cached("SELECT events, bytes FROM event_queue_totals WHERE id = 0")
            .map_err(db_err)?
            .query_row([], |r| {
                Ok(QueueTotals { events: r.get::<_, i64>(0)? as u64, bytes: r.get::<_, i64>(1)? as u64 })
            })
            .map_err(db_err)
    }

    fn next_event_due(&mut self) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached("SELECT min(visible_at_ms) FROM events")
            .map_err(db_err)?
            .query_row([], |r| r.get::<_, Option<i64>>(0))
            .map_err(db_err)
    }

    fn claim_holders(&mut self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT claimed_by FROM events WHERE claimed_by IS NOT NULL ORDER BY claimed_by")
            .map_err(db_err)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn holds_claim(&mut self, id: i64, token: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("SELECT 1 FROM events WHERE id = ?1 AND claim_token = ?2")
            .map_err(db_err)?
            .exists(params![id, token])
            .map_err(db_err)
    }

    fn provisioned_configs(&mut self, id: FunctionId) -> Result<Vec<ProvisionedConfig>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT qualifier, requested, last_modified_ms FROM provisioned_configs WHERE function_id = ?1 \
                 ORDER BY qualifier",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![id.0], |r| {
                Ok(ProvisionedConfig { qualifier: r.get(0)?, requested: r.get(1)?, last_modified_ms: r.get(2)? })
            })
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    fn policy(&mut self, id: FunctionId, qualifier: &str) -> Result<Option<Policy>, StoreError> {
        let doc: Option<String> = self
            .conn
            .prepare_cached("SELECT doc FROM policies WHERE function_id = ?1 AND qualifier = ?2")
            .map_err(db_err)?
            .query_row(params![id.0, qualifier], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        doc.map(|d| codec::decode_policy(&d)).transpose()
    }

    fn function_url(&mut self, id: FunctionId, qualifier: &str) -> Result<Option<FunctionUrl>, StoreError> {
        let row: Option<(String, String)> = self
            .conn
            .prepare_cached("SELECT url_id, doc FROM function_urls WHERE function_id = ?1 AND qualifier = ?2")
            .map_err(db_err)?
            .query_row(params![id.0, qualifier], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db_err)?;
        row.map(|(url_id, doc)| codec::decode_function_url(url_id, &doc)).transpose()
    }

    fn function_urls(
        &mut self,
        id: FunctionId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, FunctionUrl)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT qualifier, url_id, doc FROM function_urls WHERE function_id = ?1 AND qualifier > ?2 \
                 ORDER BY qualifier LIMIT ?3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![id.0, after.unwrap_or(""), limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (q, url_id, doc) = row.map_err(db_err)?;
            out.push((q, codec::decode_function_url(url_id, &doc)?));
        }
        Ok(out)
    }

    fn function_url_target(&mut self, url_id: &str) -> Result<Option<UrlTarget>, StoreError> {
        let row: Option<(i64, String, String, String, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT f.id, f.account, f.region, f.name, u.qualifier, u.doc FROM function_urls u \
                 JOIN functions f ON f.id = u.function_id WHERE u.url_id = ?1",
            )
            .map_err(db_err)?
            .query_row(params![url_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .optional()
            .map_err(db_err)?;
        let Some((id, a, r, name, qualifier, doc)) = row else { return Ok(None) };
        let scope = Scope {
            account: AccountId::parse(&a).ok_or_else(|| StoreError::Corrupt(format!("account {a}")))?,
            region: Region::parse(&r).ok_or_else(|| StoreError::Corrupt(format!("region {r}")))?,
        };
        let url = codec::decode_function_url(url_id.to_owned(), &doc)?;
        Ok(Some(UrlTarget { scope, function_id: FunctionId(id), function_name: name, qualifier, url }))
    }

    fn layer(&mut self, key: &LayerKey) -> Result<Option<Layer>, StoreError> {
        self.read_layer(key)
    }

    fn layers(&mut self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<Layer>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, name, next_version FROM layers WHERE account = ?1 AND region = ?2 AND name > ?3 \
                 ORDER BY name LIMIT ?4",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![scope.account.as_str(), scope.region.as_str(), after.unwrap_or(""), limit as i64],
                layer_from_row,
            )
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    fn layer_version(&mut self, id: LayerId, version: u32) -> Result<Option<LayerVersion>, StoreError> {
        let row = self
            .conn
            .prepare_cached("SELECT version, doc, policy FROM layer_versions WHERE layer_id = ?1 AND version = ?2")
            .map_err(db_err)?
            .query_row(params![id.0, version], layer_version_from_row)
            .optional()
            .map_err(db_err)?;
        row.map(|(n, doc, policy)| codec::decode_layer_version(n, &doc, policy.as_deref())).transpose()
    }

    fn layer_versions(
        &mut self,
        id: LayerId,
        before: Option<u32>,
        limit: usize,
    ) -> Result<Vec<LayerVersion>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT version, doc, policy FROM layer_versions WHERE layer_id = ?1 AND version < ?2 \
                 ORDER BY version DESC LIMIT ?3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![id.0, before.map_or(i64::MAX, i64::from), limit as i64], layer_version_from_row)
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (n, doc, policy) = row.map_err(db_err)?;
            out.push(codec::decode_layer_version(n, &doc, policy.as_deref())?);
        }
        Ok(out)
    }

    fn functions_with_provisioned(&mut self) -> Result<Vec<(Scope, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT f.account, f.region, f.name FROM provisioned_configs p JOIN functions f \
                 ON f.id = p.function_id",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (a, r, n) = row.map_err(db_err)?;
            let scope = Scope {
                account: AccountId::parse(&a).ok_or_else(|| StoreError::Corrupt(format!("account {a}")))?,
                region: Region::parse(&r).ok_or_else(|| StoreError::Corrupt(format!("region {r}")))?,
            };
            out.push((scope, n));
        }
        Ok(out)
    }

    fn access_key(&mut self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
        self.conn
            .prepare_cached(&format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?1"))
            .map_err(db_err)?
            .query_row(params![access_key_id], access_key_from_row)
            .optional()
            .map_err(db_err)
    }

    fn access_keys(&mut self, limit: usize) -> Result<Vec<AccessKeyRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys ORDER BY access_key_id LIMIT ?1"))
            .map_err(db_err)?;
        let rows = stmt.query_map(params![limit as i64], access_key_from_row).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn metric_point(&mut self, series: &MetricSeries, start_ms: i64) -> Result<Option<MetricPoint>, StoreError> {
        self.read_metric_point("metric_points", series, start_ms)
    }

    fn metric_points(
        &mut self,
        series: &MetricSeries,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        self.read_metric_points("metric_points", series, from_ms, to_ms)
    }

    fn metric_points_hr(
        &mut self,
        series: &MetricSeries,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        self.read_metric_points("metric_points_hr", series, from_ms, to_ms)
    }

    fn metric_point_hr(&mut self, series: &MetricSeries, start_ms: i64) -> Result<Option<MetricPoint>, StoreError> {
        self.read_metric_point("metric_points_hr", series, start_ms)
    }

    fn metric_series_hr(&mut self, limit: usize) -> Result<Vec<MetricSeries>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT account, region, namespace, metric, dims FROM metric_points_hr \
                 ORDER BY account, region, namespace, metric, dims LIMIT ?1",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok(MetricSeries {
                    account: r.get(0)?,
                    region: r.get(1)?,
                    namespace: r.get(2)?,
                    metric: r.get(3)?,
                    dims: r.get(4)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn oldest_queued_event_ms(&mut self) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT min(received_ms) FROM (SELECT received_ms FROM events ORDER BY id LIMIT {OLDEST_WINDOW})"
            ))
            .map_err(db_err)?
            .query_row([], |r| r.get::<_, Option<i64>>(0))
            .map_err(db_err)
    }

    fn all_aliases(&mut self, limit: usize) -> Result<Vec<AliasRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.account, f.region, f.name, a.name, a.doc FROM aliases a JOIN functions f ON f.id = a.function_id \
                 ORDER BY f.account, f.region, f.name, a.name LIMIT ?1",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(db_err)?;
        rows.map(|r| {
            let (account, region, function_name, name, doc) = r.map_err(db_err)?;
            let scope = Scope {
                account: AccountId::parse(&account).ok_or_else(|| StoreError::Corrupt(format!("account {account}")))?,
                region: Region::parse(&region).ok_or_else(|| StoreError::Corrupt(format!("region {region}")))?,
            };
            Ok(AliasRow { scope, function_name, alias: codec::decode_alias(name, &doc)? })
        })
        .collect()
    }

    fn metric_series(
        &mut self,
        account: &str,
        region: &str,
        namespace: Option<&str>,
        after: Option<&MetricSeries>,
        limit: usize,
    ) -> Result<Vec<MetricSeries>, StoreError> {
        let (a_ns, a_metric, a_dims) = match after {
            Some(s) => (s.namespace.as_str(), s.metric.as_str(), s.dims.as_str()),
            None => ("", "", ""),
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT namespace, metric, dims FROM metric_series WHERE account = ?1 AND region = ?2 \
                 AND (?3 IS NULL OR namespace = ?3) AND (namespace, metric, dims) > (?4, ?5, ?6) \
                 ORDER BY namespace, metric, dims LIMIT ?7",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![account, region, namespace, a_ns, a_metric, a_dims, limit as i64], |r| {
                Ok(MetricSeries {
                    account: account.to_owned(),
                    region: region.to_owned(),
                    namespace: r.get(0)?,
                    metric: r.get(1)?,
                    dims: r.get(2)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn has_metric_series(&mut self, series: &MetricSeries) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM metric_series \
                 WHERE account = ?1 AND region = ?2 AND namespace = ?3 AND metric = ?4 AND dims = ?5",
            )
            .map_err(db_err)?
            .query_row(params![series.account, series.region, series.namespace, series.metric, series.dims], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(db_err)
    }

    fn metric_series_count(&mut self) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached("SELECT count(*) FROM metric_series")
            .map_err(db_err)?
            .query_row([], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_err)
    }
    fn alarm(&mut self, account: &str, region: &str, name: &str) -> Result<Option<AlarmRecord>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ALARM_COLUMNS} FROM alarms WHERE account = ?1 AND region = ?2 AND name = ?3"
            ))
            .map_err(db_err)?
            .query_row(params![account, region, name], alarm_from_row)
            .optional()
            .map_err(db_err)
    }

    fn alarms(
        &mut self,
        account: &str,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AlarmRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ALARM_COLUMNS} FROM alarms WHERE account = ?1 AND region = ?2 AND name > ?3 \
                 ORDER BY name LIMIT ?4"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![account, region, after.unwrap_or(""), limit as i64], alarm_from_row)
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn alarm_count(&mut self, account: &str, region: &str) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached("SELECT count(*) FROM alarms WHERE account = ?1 AND region = ?2")
            .map_err(db_err)?
            .query_row(params![account, region], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_err)
    }

    fn alarms_due(&mut self, now_ms: i64, limit: usize) -> Result<Vec<AlarmRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ALARM_COLUMNS} FROM alarms WHERE next_eval_ms <= ?1 ORDER BY next_eval_ms LIMIT ?2"
            ))
            .map_err(db_err)?;
        let rows = stmt.query_map(params![now_ms, limit as i64], alarm_from_row).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn alarm_states(&mut self, limit: usize) -> Result<Vec<AlarmStateRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT account, region, name, state FROM alarms ORDER BY account, region, name LIMIT ?1")
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok(AlarmStateRow { account: r.get(0)?, region: r.get(1)?, name: r.get(2)?, state: r.get(3)? })
            })
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn next_alarm_due(&mut self) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached("SELECT min(next_eval_ms) FROM alarms")
            .map_err(db_err)?
            .query_row([], |r| r.get::<_, Option<i64>>(0))
            .map_err(db_err)
    }

    fn alarm_history(
        &mut self,
        account: &str,
        region: &str,
        filter: &AlarmHistoryFilter,
        limit: usize,
    ) -> Result<Vec<AlarmHistoryRow>, StoreError> {
        let (cmp, order) = if filter.newest_first { ("<", "DESC") } else { (">", "ASC") };
        let after = filter.after_id.unwrap_or(if filter.newest_first { i64::MAX } else { i64::MIN });
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, account, region, alarm_name, alarm_type, timestamp_ms, item_type, summary, data \
                 FROM alarm_history WHERE account = ?1 AND region = ?2 \
                 AND (?3 IS NULL OR alarm_name = ?3) AND (?4 IS NULL OR item_type = ?4) \
                 AND timestamp_ms >= ?5 AND timestamp_ms <= ?6 AND id {cmp} ?7 \
                 ORDER BY timestamp_ms {order}, id {order} LIMIT ?8"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![
                    account,
                    region,
                    filter.alarm_name,
                    filter.item_type,
                    filter.from_ms,
                    filter.to_ms,
                    after,
                    limit as i64
                ],
                |r| {
                    Ok(AlarmHistoryRow {
                        id: r.get(0)?,
                        account: r.get(1)?,
                        region: r.get(2)?,
                        alarm_name: r.get(3)?,
                        alarm_type: r.get(4)?,
                        timestamp_ms: r.get(5)?,
                        item_type: r.get(6)?,
                        summary: r.get(7)?,
                        data: r.get(8)?,
                    })
                },
            )
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn alarm_tags(&mut self, account: &str, region: &str, name: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, value FROM alarm_tags WHERE account = ?1 AND region = ?2 AND name = ?3 ORDER BY key",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map(params![account, region, name], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn alias_history(
        &mut self,
        id: FunctionId,
        alias: &str,
        before_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AliasHistoryRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, account, region, function_name, time_ms, actor_kind, actor_id, operation, before, after, \
                 revision_id FROM alias_history WHERE function_id = ?1 AND alias = ?2 AND id < ?3 \
                 ORDER BY id DESC LIMIT ?4",
            )
            .map_err(db_err)?;
        type Raw =
            (i64, String, String, String, i64, String, String, String, Option<String>, Option<String>, Option<String>);
        let rows = stmt
            .query_map(params![id.0, alias, before_id.unwrap_or(i64::MAX), limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            })
            .map_err(db_err)?;
        rows.map(|r| {
            let (row_id, account, region, function_name, time_ms, actor_kind, actor_id, operation, before, after, rev): Raw =
                r.map_err(db_err)?;
            let scope = Scope {
                account: AccountId::parse(&account).ok_or_else(|| StoreError::Corrupt(format!("account {account}")))?,
                region: Region::parse(&region).ok_or_else(|| StoreError::Corrupt(format!("region {region}")))?,
            };
            Ok(AliasHistoryRow {
                id: row_id,
                function_id: id,
                scope,
                function_name,
                alias: alias.to_owned(),
                time_ms,
                actor_kind,
                actor_id,
                operation,
                before: before.as_deref().map(codec::decode_alias_target).transpose()?,
                after: after.as_deref().map(codec::decode_alias_target).transpose()?,
                revision_id: rev,
            })
        })
        .collect()
    }

    fn cd_object(&mut self, account: &str, region: &str, kind: &str, name: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT doc FROM cd_objects WHERE account = ?1 AND region = ?2 AND kind = ?3 AND name = ?4")
            .map_err(db_err)?
            .query_row(params![account, region, kind, name], |r| r.get(0))
            .optional()
            .map_err(db_err)
    }

    fn cd_objects(&mut self, account: &str, region: &str, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, doc FROM cd_objects WHERE account = ?1 AND region = ?2 AND kind = ?3 ORDER BY name",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map(params![account, region, kind], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn cd_deployment(&mut self, id: &str) -> Result<Option<CdDeploymentRow>, StoreError> {
        self.conn
            .prepare_cached(&format!("SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE id = ?1"))
            .map_err(db_err)?
            .query_row(params![id], cd_deployment_from_row)
            .optional()
            .map_err(db_err)
    }

    fn cd_deployments_page(&mut self, q: &CdDeploymentQuery) -> Result<Vec<CdDeploymentRow>, StoreError> {
        let statuses = serde_json::to_string(&q.statuses).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (before_ms, before_id) = q.before.clone().unzip();
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE account = ?1 AND region = ?2 \
                 AND (?3 IS NULL OR application = ?3) AND (?4 IS NULL OR deployment_group = ?4) \
                 AND (?5 = '[]' OR json_extract(doc, '$.status') IN (SELECT value FROM json_each(?5))) \
                 AND (?6 IS NULL OR create_ms >= ?6) AND (?7 IS NULL OR create_ms <= ?7) \
                 AND (?8 IS NULL OR create_ms < ?8 OR (create_ms = ?8 AND id < ?9)) \
                 AND (?11 IS NULL OR json_extract(doc, '$.sha256') = ?11) \
                 ORDER BY create_ms DESC, id DESC LIMIT ?10"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![
                    q.account,
                    q.region,
                    q.application,
                    q.group,
                    statuses,
                    q.created_from_ms,
                    q.created_to_ms,
                    before_ms,
                    before_id,
                    q.limit as i64,
                    q.sha256
                ],
                cd_deployment_from_row,
            )
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn cd_active_deployments(&mut self, limit: usize) -> Result<Vec<CdDeploymentRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE active = 1 \
                 ORDER BY next_due_ms, create_ms, id LIMIT ?1"
            ))
            .map_err(db_err)?;
        let rows = stmt.query_map(params![limit as i64], cd_deployment_from_row).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn cd_group_active(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
    ) -> Result<Option<CdDeploymentRow>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE account = ?1 AND region = ?2 \
                 AND application = ?3 AND deployment_group = ?4 AND active = 1"
            ))
            .map_err(db_err)?
            .query_row(params![account, region, application, group], cd_deployment_from_row)
            .optional()
            .map_err(db_err)
    }

    fn cd_group_latest(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
        status: Option<&str>,
    ) -> Result<Option<CdDeploymentRow>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE account = ?1 AND region = ?2 \
                 AND application = ?3 AND deployment_group = ?4 \
                 AND (?5 IS NULL OR json_extract(doc, '$.status') = ?5) \
                 ORDER BY create_ms DESC, id DESC LIMIT 1"
            ))
            .map_err(db_err)?
            .query_row(params![account, region, application, group, status], cd_deployment_from_row)
            .optional()
            .map_err(db_err)
    }

    fn cd_deployments_shown(&mut self, since_ms: i64, limit: usize) -> Result<Vec<CdDeploymentRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE active = 1 \
                 UNION SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE create_ms >= ?1 \
                 ORDER BY active DESC, create_ms DESC, id DESC LIMIT ?2"
            ))
            .map_err(db_err)?;
        let rows = stmt.query_map(params![since_ms, limit as i64], cd_deployment_from_row).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn cd_tags(&mut self, arn: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT key, value FROM cd_tags WHERE arn = ?1 ORDER BY key").map_err(db_err)?;
        let rows = stmt.query_map(params![arn], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }
    fn sqs_queue(&mut self, account: &str, region: &str, name: &str) -> Result<Option<SqsQueueRow>, StoreError> {
        sqs::queue(self.conn, account, region, name)
    }

    fn sqs_queue_by_id(&mut self, id: i64) -> Result<Option<SqsQueueRow>, StoreError> {
        sqs::queue_by_id(self.conn, id)
    }

    fn sqs_queues(
        &mut self,
        account: &str,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SqsQueueRow>, StoreError> {
        sqs::queues(self.conn, account, region, prefix, after, limit)
    }

    fn sqs_queue_count(&mut self, account: &str, region: &str) -> Result<u64, StoreError> {
        sqs::queue_count(self.conn, account, region)
    }

    fn sqs_message(&mut self, seq: i64) -> Result<Option<SqsMessageRow>, StoreError> {
        sqs::message(self.conn, seq)
    }

    fn sqs_candidates(
        &mut self,
        queue_id: i64,
        now_ms: i64,
        fifo: bool,
        limit: usize,
    ) -> Result<Vec<SqsMessageRow>, StoreError> {
        sqs::candidates(self.conn, queue_id, now_ms, fifo, limit)
    }

    fn sqs_next_visible(&mut self, queue_id: i64, now_ms: i64) -> Result<Option<i64>, StoreError> {
        sqs::next_visible(self.conn, queue_id, now_ms)
    }

    fn sqs_counts(&mut self, queue_id: i64, now_ms: i64) -> Result<SqsCounts, StoreError> {
        sqs::counts(self.conn, queue_id, now_ms)
    }

    fn sqs_dedup(&mut self, queue_id: i64, key: &str, now_ms: i64) -> Result<Option<(String, i64)>, StoreError> {
        sqs::dedup(self.conn, queue_id, key, now_ms)
    }

    fn apigw_api(&mut self, id: &str) -> Result<Option<ApigwRow>, StoreError> {
        self.conn
            .prepare_cached("SELECT id, account, region, kind, doc FROM apigw_apis WHERE id = ?1")
            .map_err(db_err)?
            .query_row(params![id], apigw_from_row)
            .optional()
            .map_err(db_err)
    }

    fn apigw_apis(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<ApigwRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, account, region, kind, doc FROM apigw_apis \
                 WHERE account = ?1 AND region = ?2 AND kind = ?3 ORDER BY id LIMIT ?4",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map(params![account, region, kind, limit as i64], apigw_from_row).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }
    fn esm(&mut self, uuid: &str) -> Result<Option<EsmRow>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT uuid, account, region, source_arn, function_arn, doc FROM esm_mappings WHERE uuid = ?1",
            )
            .map_err(db_err)?
            .query_row(params![uuid], esm_from_row)
            .optional()
            .map_err(db_err)
    }

    fn esms(&mut self, account: &str, region: &str, limit: usize) -> Result<Vec<EsmRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT uuid, account, region, source_arn, function_arn, doc FROM esm_mappings \
                 WHERE account = ?1 AND region = ?2 ORDER BY uuid LIMIT ?3",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map(params![account, region, limit as i64], esm_from_row).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn all_esms(&mut self, limit: usize) -> Result<Vec<EsmRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT uuid, account, region, source_arn, function_arn, doc FROM esm_mappings ORDER BY uuid LIMIT ?1",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map(params![limit as i64], esm_from_row).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn esm_checkpoints(&mut self, uuid: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT shard, sequence FROM esm_checkpoints WHERE uuid = ?1 ORDER BY shard")
            .map_err(db_err)?;
        let rows = stmt.query_map(params![uuid], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn nodes(&mut self, dead_after_ms: i64) -> Result<Vec<NodeRow>, StoreError> {
        crate::cluster::nodes(self.conn, dead_after_ms)
    }

    fn provisioned_allocations(&mut self, function: FunctionId) -> Result<Vec<ProvisionedAllocation>, StoreError> {
        crate::allocations::of_function(self.conn, function)
    }

    fn node_allocations(&mut self, node_id: &str) -> Result<Vec<ProvisionedAllocation>, StoreError> {
        crate::allocations::of_node(self.conn, node_id)
    }

    fn cluster_setting(&mut self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        crate::cluster::cluster_setting(self.conn, name)
    }
}

fn esm_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EsmRow> {
    Ok(EsmRow {
        uuid: r.get(0)?,
        account: r.get(1)?,
        region: r.get(2)?,
        source_arn: r.get(3)?,
        function_arn: r.get(4)?,
        doc: r.get(5)?,
    })
}

fn apigw_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApigwRow> {
    Ok(ApigwRow { id: r.get(0)?, account: r.get(1)?, region: r.get(2)?, kind: r.get(3)?, doc: r.get(4)? })
}

impl SqliteTx<'_> {
    /// A point of `series` in `table` (`metric_points` or `metric_points_hr`).
    fn read_metric_point(
        &self,
        table: &str,
        series: &MetricSeries,
        start_ms: i64,
    ) -> Result<Option<MetricPoint>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT start_ms, sum, count, min, max, sketch FROM {table} \
                 WHERE account = ?1 AND region = ?2 AND namespace = ?3 AND metric = ?4 AND dims = ?5 AND start_ms = ?6"
            ))
            .map_err(db_err)?
            .query_row(
                params![series.account, series.region, series.namespace, series.metric, series.dims, start_ms],
                metric_point_row,
            )
            .optional()
            .map_err(db_err)
    }

    /// The points of `series` in `table` starting in `[from_ms, to_ms)`, oldest first.
    fn read_metric_points(
        &self,
        table: &str,
        series: &MetricSeries,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT start_ms, sum, count, min, max, sketch FROM {table} \
                 WHERE account = ?1 AND region = ?2 AND namespace = ?3 AND metric = ?4 AND dims = ?5 \
                 AND start_ms >= ?6 AND start_ms < ?7 ORDER BY start_ms"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![series.account, series.region, series.namespace, series.metric, series.dims, from_ms, to_ms],
                metric_point_row,
            )
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    /// Writes (replaces) a point of `series` in `table`.
    fn write_metric_point(&self, table: &str, s: &MetricSeries, point: &MetricPoint) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO {table} \
                 (account, region, namespace, metric, dims, start_ms, sum, count, min, max, sketch) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))
            .map_err(db_err)?
            .execute(params![
                s.account,
                s.region,
                s.namespace,
                s.metric,
                s.dims,
                point.start_ms,
                point.sum,
                point.count as i64,
                point.min,
                point.max,
                point.sketch
            ])
            .map_err(db_err)?;
        Ok(())
    }

    fn read_layer(&self, key: &LayerKey) -> Result<Option<Layer>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT id, name, next_version FROM layers WHERE account = ?1 AND region = ?2 AND name = ?3",
            )
            .map_err(db_err)?
            .query_row(params![key.scope.account.as_str(), key.scope.region.as_str(), key.name], layer_from_row)
            .optional()
            .map_err(db_err)
    }
}

fn metric_point_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MetricPoint> {
    Ok(MetricPoint {
        start_ms: r.get(0)?,
        sum: r.get(1)?,
        count: r.get::<_, i64>(2)? as u64,
        min: r.get(3)?,
        max: r.get(4)?,
        sketch: r.get(5)?,
    })
}

const ALARM_COLUMNS: &str = "account, region, name, config, config_updated_ms, actions_enabled, state, reason, \
     reason_data, state_updated_ms, state_transitioned_ms, next_eval_ms";

fn alarm_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlarmRecord> {
    Ok(AlarmRecord {
        account: r.get(0)?,
        region: r.get(1)?,
        name: r.get(2)?,
        config: r.get(3)?,
        config_updated_ms: r.get(4)?,
        actions_enabled: r.get(5)?,
        state: r.get(6)?,
        reason: r.get(7)?,
        reason_data: r.get(8)?,
        state_updated_ms: r.get(9)?,
        state_transitioned_ms: r.get(10)?,
        next_eval_ms: r.get(11)?,
    })
}

impl WriteTx for SqliteTx<'_> {
    fn put_schedule_row(&mut self, row: &ScheduleRow) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO schedules ({SCHEDULE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .map_err(db_err)?
            .execute(params![row.account, row.region, row.kind, row.name, row.doc, row.next_due_ms])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_schedule_row(&mut self, account: &str, region: &str, kind: &str, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM schedules WHERE account = ?1 AND region = ?2 AND kind = ?3 AND name = ?4")
            .map_err(db_err)?
            .execute(params![account, region, kind, name])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn advance_schedule_due(
        &mut self,
        row: &ScheduleRow,
        from_ms: i64,
        to_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE schedules SET next_due_ms = ?6 WHERE account = ?1 AND region = ?2 AND kind = ?3 \
                 AND name = ?4 AND next_due_ms = ?5",
            )
            .map_err(db_err)?
            .execute(params![row.account, row.region, row.kind, row.name, from_ms, to_ms])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn lock_function(&mut self, key: &FunctionKey) -> Result<Option<Function>, StoreError> {
        // All writes are serialised on the writer thread: a plain read is already exclusive.
        self.function(key)
    }

    fn insert_function(&mut self, scope: &Scope, f: &Function) -> Result<FunctionId, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO functions (account, region, name, latest, latest_code, latest_code_size, next_version, tags, \
                 reserved_concurrency) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(db_err)?
            .execute(params![
                scope.account.as_str(),
                scope.region.as_str(),
                f.name,
                codec::encode_version(&f.latest),
                f.latest.code.sha256.to_hex(),
                f.latest.code.size as i64,
                f.next_version,
                codec::encode_tags(&f.tags),
                f.reserved_concurrency,
            ])
            .map_err(db_err)?;
        let id = FunctionId(self.conn.last_insert_rowid());
        self.put_function_layers(id, LATEST_LAYERS, &f.latest)?;
        Ok(id)
    }

    fn update_function(&mut self, f: &Function) -> Result<(), StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE functions SET latest = ?2, latest_code = ?3, latest_code_size = ?4, next_version = ?5, tags = ?6, \
                 reserved_concurrency = ?7 WHERE id = ?1",
            )
            .map_err(db_err)?
            .execute(params![
                f.id.0,
                codec::encode_version(&f.latest),
                f.latest.code.sha256.to_hex(),
                f.latest.code.size as i64,
                f.next_version,
                codec::encode_tags(&f.tags),
                f.reserved_concurrency,
            ])
            .map_err(db_err)?;
        if n != 1 {
            return Err(StoreError::Database(format!("function {} vanished during an update", f.id.0)));
        }
        self.put_function_layers(f.id, LATEST_LAYERS, &f.latest)
    }

    fn delete_function(&mut self, id: FunctionId) -> Result<(), StoreError> {
        // Children go by ON DELETE CASCADE.
        self.conn
            .prepare_cached("DELETE FROM functions WHERE id = ?1")
            .map_err(db_err)?
            .execute(params![id.0])
            .map_err(db_err)?;
        Ok(())
    }

    fn insert_version(&mut self, id: FunctionId, v: &VersionRecord) -> Result<(), StoreError> {
        let Version::Published(n) = v.version else {
            return Err(StoreError::Database("only published versions are stored as versions".to_owned()));
        };
        self.conn
            .prepare_cached(
                "INSERT INTO versions (function_id, version, doc, code, code_size) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?
            .execute(params![id.0, n, codec::encode_version(v), v.code.sha256.to_hex(), v.code.size as i64])
            .map_err(db_err)?;
        self.put_function_layers(id, n, v)
    }

    fn delete_version(&mut self, id: FunctionId, number: u32) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM versions WHERE function_id = ?1 AND version = ?2")
            .map_err(db_err)?
            .execute(params![id.0, number])
            .map_err(db_err)?;
        self.conn
            .prepare_cached("DELETE FROM function_layers WHERE function_id = ?1 AND version = ?2")
            .map_err(db_err)?
            .execute(params![id.0, number])
            .map_err(db_err)?;
        self.delete_qualified(DELETE_POLICY, id, &number.to_string())?;
        Ok(n > 0)
    }

    fn put_alias(&mut self, id: FunctionId, a: &Alias) -> Result<(), StoreError> {
        let primary = match a.function_version {
            Version::Published(n) => Some(n),
            Version::Latest => None,
        };
        self.conn
            .prepare_cached(
                "INSERT INTO aliases (function_id, name, doc, primary_version, routing_version) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (function_id, name) DO UPDATE SET doc = excluded.doc, \
                 primary_version = excluded.primary_version, routing_version = excluded.routing_version",
            )
            .map_err(db_err)?
            .execute(params![id.0, a.name, codec::encode_alias(a), primary, a.routing.map(|r| r.version)])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_alias(&mut self, id: FunctionId, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM aliases WHERE function_id = ?1 AND name = ?2")
            .map_err(db_err)?
            .execute(params![id.0, name])
            .map_err(db_err)?;
        self.delete_qualified(DELETE_POLICY, id, name)?;
        self.delete_qualified(DELETE_FUNCTION_URL, id, name)?;
        Ok(n > 0)
    }

    fn put_policy(&mut self, id: FunctionId, qualifier: &str, policy: &Policy) -> Result<(), StoreError> {
        if policy.statements.is_empty() {
            return self.delete_qualified(DELETE_POLICY, id, qualifier).map(|_| ());
        }
        self.conn
            .prepare_cached(
                "INSERT INTO policies (function_id, qualifier, doc) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (function_id, qualifier) DO UPDATE SET doc = excluded.doc",
            )
            .map_err(db_err)?
            .execute(params![id.0, qualifier, codec::encode_policy(policy)])
            .map_err(db_err)?;
        Ok(())
    }

    fn put_function_url(&mut self, id: FunctionId, qualifier: &str, url: &FunctionUrl) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO function_urls (function_id, qualifier, url_id, doc) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (function_id, qualifier) DO UPDATE SET url_id = excluded.url_id, doc = excluded.doc",
            )
            .map_err(db_err)?
            .execute(params![id.0, qualifier, url.url_id, codec::encode_function_url(url)])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_function_url(&mut self, id: FunctionId, qualifier: &str) -> Result<bool, StoreError> {
        self.delete_qualified(DELETE_FUNCTION_URL, id, qualifier)
    }

    fn put_event_invoke_config(
        &mut self,
        id: FunctionId,
        qualifier: &str,
        config: &EventInvokeConfig,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO event_invoke_configs (function_id, qualifier, doc) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (function_id, qualifier) DO UPDATE SET doc = excluded.doc",
            )
            .map_err(db_err)?
            .execute(params![id.0, qualifier, codec::encode_event_invoke_config(config)])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_event_invoke_config(&mut self, id: FunctionId, qualifier: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM event_invoke_configs WHERE function_id = ?1 AND qualifier = ?2")
            .map_err(db_err)?
            .execute(params![id.0, qualifier])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn enqueue_event(&mut self, event: &QueuedEvent, not_before_ms: i64) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO events (function_id, function_name, qualifier, request_id, payload, received_ms, \
                 attempts, visible_at_ms, account, region) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(db_err)?
            .execute(params![
                event.function_id.0,
                event.function_name,
                event.qualifier,
                event.request_id,
                event.payload,
                event.received_ms,
                event.attempts,
                not_before_ms,
                event.scope.account.as_str(),
                event.scope.region.as_str()
            ])
            .map_err(db_err)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn claim_events(
        &mut self,
        node_id: &str,
        lease_ms: i64,
        limit: usize,
        per_function: Option<&PerFunctionMax>,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        let now = db_now_ms(self.conn)?;
        let of_row = |r: &rusqlite::Row<'_>| Ok(ClaimedEvent { event: event_from_row(r)?, token: r.get(10)? });
        let mut out: Vec<ClaimedEvent> = match per_function {
            None => {
                let mut stmt = self
                    .conn
                    .prepare_cached(&format!(
                        "UPDATE events SET visible_at_ms = ?1 + ?2, claimed_by = ?3, \
                         claim_token = lower(hex(randomblob(16))) \
                         WHERE id IN (SELECT id FROM events WHERE visible_at_ms <= ?1 ORDER BY visible_at_ms, id LIMIT ?4) \
                         RETURNING {EVENT_COLUMNS}, claim_token"
                    ))
                    .map_err(db_err)?;
                let rows = stmt.query_map(params![now, lease_ms, node_id, limit as i64], of_row).map_err(db_err)?;
                rows.collect::<Result<_, _>>().map_err(db_err)?
            }
            Some(caps) => {
                // The caps as a JSON object {"<function id>": <max>} (one writer: no other claim
                // runs meanwhile, so no locking subtleties here).
                let caps_json = serde_json::Value::Object(
                    caps.of.iter().map(|(f, m)| (f.0.to_string(), serde_json::Value::from(*m as u64))).collect(),
                )
                .to_string();
                let mut stmt = self
                    .conn
                    .prepare_cached(&format!(
                        "UPDATE events SET visible_at_ms = ?1 + ?2, claimed_by = ?3, \
                         claim_token = lower(hex(randomblob(16))) \
                         WHERE id IN (SELECT id FROM ( \
                           SELECT d.id, d.visible_at_ms, \
                             coalesce((SELECT value FROM json_each(?5) WHERE key = CAST(d.function_id AS TEXT)), ?6) AS m, \
                             row_number() OVER (PARTITION BY d.function_id ORDER BY d.visible_at_ms, d.id) AS n \
                           FROM (SELECT id, function_id, visible_at_ms FROM events WHERE visible_at_ms <= ?1 \
                                 AND CAST(function_id AS TEXT) NOT IN (SELECT key FROM json_each(?5) WHERE value = 0) \
                                 ORDER BY visible_at_ms, id LIMIT ?7) AS d) \
                         WHERE n <= m ORDER BY visible_at_ms, id LIMIT ?4) \
                         RETURNING {EVENT_COLUMNS}, claim_token"
                    ))
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(
                        params![
                            now,
                            lease_ms,
                            node_id,
                            limit as i64,
                            caps_json,
                            caps.default as i64,
                            CLAIM_SCAN_MAX as i64
                        ],
                        of_row,
                    )
                    .map_err(db_err)?;
                rows.collect::<Result<_, _>>().map_err(db_err)?
            }
        };
        out.sort_by_key(|e| e.event.id);
        Ok(out)
    }

    fn delete_event(&mut self, id: i64, token: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM events WHERE id = ?1 AND claim_token = ?2")
            .map_err(db_err)?
            .execute(params![id, token])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn reschedule_event(
        &mut self,
        id: i64,
        token: &str,
        attempts: u32,
        not_before_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE events SET attempts = ?3, visible_at_ms = ?4, claimed_by = NULL, claim_token = NULL \
                 WHERE id = ?1 AND claim_token = ?2",
            )
            .map_err(db_err)?
            .execute(params![id, token, attempts, not_before_ms])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn reap_claims(&mut self, dead_node_ids: &[String]) -> Result<u64, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE events SET visible_at_ms = 0, claimed_by = NULL, claim_token = NULL WHERE claimed_by = ?1",
            )
            .map_err(db_err)?;
        let mut n = 0;
        for node in dead_node_ids {
            n += stmt.execute(params![node]).map_err(db_err)? as u64;
        }
        Ok(n)
    }

    fn put_provisioned_config(&mut self, id: FunctionId, config: &ProvisionedConfig) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO provisioned_configs (function_id, qualifier, requested, last_modified_ms) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (function_id, qualifier) DO UPDATE SET \
                 requested = excluded.requested, last_modified_ms = excluded.last_modified_ms",
            )
            .map_err(db_err)?
            .execute(params![id.0, config.qualifier, config.requested, config.last_modified_ms])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_provisioned_config(&mut self, id: FunctionId, qualifier: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM provisioned_configs WHERE function_id = ?1 AND qualifier = ?2")
            .map_err(db_err)?
            .execute(params![id.0, qualifier])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn lock_layer(&mut self, key: &LayerKey) -> Result<Option<Layer>, StoreError> {
        // All writes are serialised on the writer thread: a plain read is already exclusive.
        self.read_layer(key)
    }

    fn insert_layer(&mut self, scope: &Scope, layer: &Layer) -> Result<LayerId, StoreError> {
        self.conn
            .prepare_cached("INSERT INTO layers (account, region, name, next_version) VALUES (?1, ?2, ?3, ?4)")
            .map_err(db_err)?
            .execute(params![scope.account.as_str(), scope.region.as_str(), layer.name, layer.next_version])
            .map_err(db_err)?;
        Ok(LayerId(self.conn.last_insert_rowid()))
    }

    fn update_layer(&mut self, layer: &Layer) -> Result<(), StoreError> {
        let n = self
            .conn
            .prepare_cached("UPDATE layers SET next_version = ?2 WHERE id = ?1")
            .map_err(db_err)?
            .execute(params![layer.id.0, layer.next_version])
            .map_err(db_err)?;
        if n != 1 {
            return Err(StoreError::Database(format!("layer {} vanished during an update", layer.id.0)));
        }
        Ok(())
    }

    fn insert_layer_version(&mut self, id: LayerId, v: &LayerVersion) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO layer_versions (layer_id, version, doc, code, code_size, policy) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(db_err)?
            .execute(params![
                id.0,
                v.version,
                codec::encode_layer_version(v),
                v.code.sha256.to_hex(),
                v.code.size as i64,
                v.policy.as_ref().map(codec::encode_layer_policy),
            ])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_layer_version(&mut self, id: LayerId, version: u32) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM layer_versions WHERE layer_id = ?1 AND version = ?2")
            .map_err(db_err)?
            .execute(params![id.0, version])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn put_layer_version_policy(
        &mut self,
        id: LayerId,
        version: u32,
        policy: Option<&LayerPolicy>,
    ) -> Result<(), StoreError> {
        let n = self
            .conn
            .prepare_cached("UPDATE layer_versions SET policy = ?3 WHERE layer_id = ?1 AND version = ?2")
            .map_err(db_err)?
            .execute(params![id.0, version, policy.map(codec::encode_layer_policy)])
            .map_err(db_err)?;
        if n != 1 {
            return Err(StoreError::Database(format!("layer version {}:{version} vanished", id.0)));
        }
        Ok(())
    }

    fn insert_access_key(&mut self, key: &AccessKeyRow) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))
            .map_err(db_err)?
            .execute(params![
                key.access_key_id,
                key.account,
                key.sealed_secret,
                key.root,
                key.created_ms,
                key.name,
                key.disabled
            ])
            .map_err(db_err)?;
        Ok(())
    }

    fn set_access_key_disabled(&mut self, access_key_id: &str, disabled: bool) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("UPDATE access_keys SET disabled = ?2 WHERE access_key_id = ?1")
            .map_err(db_err)?
            .execute(params![access_key_id, disabled])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn delete_access_key(&mut self, access_key_id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM access_keys WHERE access_key_id = ?1")
            .map_err(db_err)?
            .execute(params![access_key_id])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn put_metric_point(&mut self, series: &MetricSeries, point: &MetricPoint) -> Result<(), StoreError> {
        let s = series;
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO metric_series (account, region, namespace, metric, dims) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?
            .execute(params![s.account, s.region, s.namespace, s.metric, s.dims])
            .map_err(db_err)?;
        self.write_metric_point("metric_points", series, point)
    }

    fn put_metric_point_hr(&mut self, series: &MetricSeries, point: &MetricPoint) -> Result<(), StoreError> {
        self.write_metric_point("metric_points_hr", series, point)
    }

    fn delete_metric_points_hr_before(&mut self, before_ms: i64) -> Result<u64, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM metric_points_hr WHERE start_ms < ?1")
            .map_err(db_err)?
            .execute(params![before_ms])
            .map_err(db_err)?;
        Ok(n as u64)
    }

    fn delete_metric_points_before(&mut self, before_ms: i64) -> Result<u64, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM metric_points WHERE start_ms < ?1")
            .map_err(db_err)?
            .execute(params![before_ms])
            .map_err(db_err)?;
        if n > 0 {
            self.conn
                .prepare_cached(
                    "DELETE FROM metric_series WHERE NOT EXISTS (SELECT 1 FROM metric_points p \
                     WHERE p.account = metric_series.account AND p.region = metric_series.region \
                     AND p.namespace = metric_series.namespace AND p.metric = metric_series.metric \
                     AND p.dims = metric_series.dims)",
                )
                .map_err(db_err)?
                .execute([])
                .map_err(db_err)?;
        }
        Ok(n as u64)
    }
    fn put_alarm(&mut self, a: &AlarmRecord) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!("INSERT OR REPLACE INTO alarms ({ALARM_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"))
            .map_err(db_err)?
            .execute(params![
                a.account,
                a.region,
                a.name,
                a.config,
                a.config_updated_ms,
                a.actions_enabled,
                a.state,
                a.reason,
                a.reason_data,
                a.state_updated_ms,
                a.state_transitioned_ms,
                a.next_eval_ms
            ])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_alarm(&mut self, account: &str, region: &str, name: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("DELETE FROM alarm_tags WHERE account = ?1 AND region = ?2 AND name = ?3")
            .map_err(db_err)?
            .execute(params![account, region, name])
            .map_err(db_err)?;
        let n = self
            .conn
            .prepare_cached("DELETE FROM alarms WHERE account = ?1 AND region = ?2 AND name = ?3")
            .map_err(db_err)?
            .execute(params![account, region, name])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn set_alarm_due(&mut self, account: &str, region: &str, name: &str, next_eval_ms: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE alarms SET next_eval_ms = ?4 WHERE account = ?1 AND region = ?2 AND name = ?3")
            .map_err(db_err)?
            .execute(params![account, region, name, next_eval_ms])
            .map_err(db_err)?;
        Ok(())
    }

    fn insert_alarm_history(&mut self, h: &AlarmHistoryRow) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO alarm_history (account, region, alarm_name, alarm_type, timestamp_ms, item_type, summary, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(db_err)?
            .execute(params![h.account, h.region, h.alarm_name, h.alarm_type, h.timestamp_ms, h.item_type, h.summary, h.data])
            .map_err(db_err)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn trim_alarm_history(
        &mut self,
        before_ms: i64,
        keep_per_alarm: usize,
        keep_total: usize,
    ) -> Result<u64, StoreError> {
        let old = self
            .conn
            .prepare_cached("DELETE FROM alarm_history WHERE timestamp_ms < ?1")
            .map_err(db_err)?
            .execute(params![before_ms])
            .map_err(db_err)?;
        let over = self
            .conn
            .prepare_cached(
                "DELETE FROM alarm_history WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER \
                 (PARTITION BY account, region, alarm_name ORDER BY id DESC) AS n FROM alarm_history) WHERE n > ?1)",
            )
            .map_err(db_err)?
            .execute(params![keep_per_alarm as i64])
            .map_err(db_err)?;
        let beyond = self
            .conn
            .prepare_cached(
                "DELETE FROM alarm_history WHERE id <= (SELECT id FROM alarm_history ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            )
            .map_err(db_err)?
            .execute(params![keep_total as i64])
            .map_err(db_err)?;
        Ok((old + over + beyond) as u64)
    }

    fn insert_alias_history(
        &mut self,
        h: &AliasHistoryRow,
        keep_per_alias: usize,
        keep_total: usize,
    ) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO alias_history (function_id, account, region, function_name, alias, time_ms, actor_kind, \
                 actor_id, operation, before, after, revision_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .map_err(db_err)?
            .execute(params![
                h.function_id.0,
                h.scope.account.as_str(),
                h.scope.region.as_str(),
                h.function_name,
                h.alias,
                h.time_ms,
                h.actor_kind,
                h.actor_id,
                h.operation,
                h.before.as_ref().map(codec::encode_alias_target),
                h.after.as_ref().map(codec::encode_alias_target),
                h.revision_id,
            ])
            .map_err(db_err)?;
        let id = self.conn.last_insert_rowid();
        // The alias's trim walks its index from the newest row (at most `keep_per_alias` steps);
        // the total one compares ids with the newest (ids only grow), so neither grows with the
        // table.
        self.conn
            .prepare_cached(
                "DELETE FROM alias_history WHERE function_id = ?1 AND alias = ?2 AND id <= (SELECT id FROM alias_history \
                 WHERE function_id = ?1 AND alias = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3)",
            )
            .map_err(db_err)?
            .execute(params![h.function_id.0, h.alias, keep_per_alias as i64])
            .map_err(db_err)?;
        self.conn
            .prepare_cached("DELETE FROM alias_history WHERE id <= ?1 - ?2")
            .map_err(db_err)?
            .execute(params![id, keep_total as i64])
            .map_err(db_err)?;
        Ok(id)
    }

    fn put_cd_object(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        name: &str,
        doc: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO cd_objects (account, region, kind, name, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?
            .execute(params![account, region, kind, name, doc])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_cd_object(&mut self, account: &str, region: &str, kind: &str, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM cd_objects WHERE account = ?1 AND region = ?2 AND kind = ?3 AND name = ?4")
            .map_err(db_err)?
            .execute(params![account, region, kind, name])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn replace_cd_deployment(&mut self, d: &CdDeploymentRow, expected: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE cd_deployments SET active = ?2, next_due_ms = ?3, doc = ?4 \
                 WHERE id = ?1 AND doc = ?5 AND application = ?6 AND deployment_group = ?7",
            )
            .map_err(db_err)?
            .execute(params![d.id, d.active, d.next_due_ms, d.doc, expected, d.application, d.group])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn rename_cd_deployments(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: Option<&str>,
        new_application: &str,
        new_group: Option<&str>,
    ) -> Result<usize, StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE cd_deployments SET application = ?4, deployment_group = coalesce(?6, deployment_group) \
                 WHERE account = ?1 AND region = ?2 AND application = ?3 AND (?5 IS NULL OR deployment_group = ?5)",
            )
            .map_err(db_err)?
            .execute(params![account, region, application, new_application, group, new_group])
            .map_err(db_err)
    }

    fn put_cd_deployment(&mut self, d: &CdDeploymentRow) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                // An upsert by id only: OR REPLACE would delete the group's other active
                // deployment on the one-active index instead of refusing.
                "INSERT INTO cd_deployments ({CD_DEPLOYMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT(id) DO UPDATE SET account = ?2, region = ?3, application = ?4, deployment_group = ?5, \
                 active = ?6, next_due_ms = ?7, create_ms = ?8, doc = ?9"
            ))
            .map_err(db_err)?
            .execute(params![
                d.id,
                d.account,
                d.region,
                d.application,
                d.group,
                d.active,
                d.next_due_ms,
                d.create_ms,
                d.doc
            ])
            .map_err(db_err)?;
        Ok(())
    }

    fn trim_cd_deployments(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
        keep: usize,
    ) -> Result<usize, StoreError> {
        self.conn
            .prepare_cached(
                "DELETE FROM cd_deployments WHERE active = 0 AND id IN (SELECT id FROM cd_deployments \
                 WHERE account = ?1 AND region = ?2 AND application = ?3 AND deployment_group = ?4 \
                 ORDER BY create_ms DESC, id DESC LIMIT -1 OFFSET ?5)",
            )
            .map_err(db_err)?
            .execute(params![account, region, application, group, keep as i64])
            .map_err(db_err)
    }

    fn put_esm(&mut self, row: &EsmRow) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO esm_mappings (uuid, account, region, source_arn, function_arn, doc) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(uuid) DO UPDATE SET \
                 source_arn = excluded.source_arn, function_arn = excluded.function_arn, doc = excluded.doc",
            )
            .map_err(db_err)?
            .execute(params![row.uuid, row.account, row.region, row.source_arn, row.function_arn, row.doc])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_esm(&mut self, uuid: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("DELETE FROM esm_checkpoints WHERE uuid = ?1")
            .map_err(db_err)?
            .execute(params![uuid])
            .map_err(db_err)?;
        let n = self
            .conn
            .prepare_cached("DELETE FROM esm_mappings WHERE uuid = ?1")
            .map_err(db_err)?
            .execute(params![uuid])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn put_esm_checkpoint(&mut self, uuid: &str, shard: &str, sequence: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO esm_checkpoints (uuid, shard, sequence) \
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM esm_mappings WHERE uuid = ?1)",
            )
            .map_err(db_err)?
            .execute(params![uuid, shard, sequence])
            .map_err(db_err)?;
        Ok(())
    }

    fn put_apigw_api(&mut self, api: &ApigwRow) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO apigw_apis (id, account, region, kind, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?
            .execute(params![api.id, api.account, api.region, api.kind, api.doc])
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_apigw_api(&mut self, id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM apigw_apis WHERE id = ?1")
            .map_err(db_err)?
            .execute(params![id])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn put_cd_tags(&mut self, arn: &str, tags: &[(String, String)]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM cd_tags WHERE arn = ?1")
            .map_err(db_err)?
            .execute(params![arn])
            .map_err(db_err)?;
        let mut stmt = self
            .conn
            .prepare_cached("INSERT OR REPLACE INTO cd_tags (arn, key, value) VALUES (?1, ?2, ?3)")
            .map_err(db_err)?;
        for (k, v) in tags {
            stmt.execute(params![arn, k, v]).map_err(db_err)?;
        }
        Ok(())
    }

    fn put_alarm_tags(
        &mut self,
        account: &str,
        region: &str,
        name: &str,
        tags: &[(String, String)],
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM alarm_tags WHERE account = ?1 AND region = ?2 AND name = ?3")
            .map_err(db_err)?
            .execute(params![account, region, name])
            .map_err(db_err)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO alarm_tags (account, region, name, key, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?;
        for (k, v) in tags {
            stmt.execute(params![account, region, name, k, v]).map_err(db_err)?;
        }
        Ok(())
    }
    fn sqs_insert_queue(&mut self, queue: &SqsQueueRow) -> Result<i64, StoreError> {
        sqs::insert_queue(self.conn, queue)
    }

    fn sqs_update_queue(&mut self, id: i64, doc: &str) -> Result<(), StoreError> {
        sqs::update_queue(self.conn, id, doc)
    }

    fn sqs_delete_queue(&mut self, id: i64) -> Result<bool, StoreError> {
        sqs::delete_queue(self.conn, id)
    }

    fn sqs_insert_message(&mut self, message: &SqsMessageRow) -> Result<i64, StoreError> {
        sqs::insert_message(self.conn, message)
    }

    fn sqs_update_message(&mut self, message: &SqsMessageRow) -> Result<(), StoreError> {
        sqs::update_message(self.conn, message)
    }

    fn sqs_delete_message(&mut self, seq: i64) -> Result<bool, StoreError> {
        sqs::delete_message(self.conn, seq)
    }

    fn sqs_move_message(&mut self, seq: i64, to_queue: i64, visible_ms: i64) -> Result<(), StoreError> {
        sqs::move_message(self.conn, seq, to_queue, visible_ms)
    }

    fn sqs_purge(&mut self, queue_id: i64) -> Result<u64, StoreError> {
        sqs::purge(self.conn, queue_id)
    }

    fn sqs_put_dedup(
        &mut self,
        queue_id: i64,
        key: &str,
        message_id: &str,
        seq: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        sqs::put_dedup(self.conn, queue_id, key, message_id, seq, expires_ms)
    }

    fn sqs_expire(&mut self, now_ms: i64, limit: usize) -> Result<u64, StoreError> {
        sqs::expire(self.conn, now_ms, limit)
    }

    fn heartbeat_node(&mut self, beat: &NodeBeat) -> Result<i64, StoreError> {
        crate::cluster::heartbeat_node(self.conn, beat)
    }

    fn delete_node(&mut self, id: &str) -> Result<bool, StoreError> {
        crate::cluster::delete_node(self.conn, id)
    }

    fn delete_dead_nodes(&mut self, dead_for_ms: i64) -> Result<u64, StoreError> {
        crate::cluster::delete_dead_nodes(self.conn, dead_for_ms)
    }

    fn init_cluster_setting(&mut self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        crate::cluster::init_cluster_setting(self.conn, name, value)
    }

    fn acquire_lease(&mut self, name: &str, holder: &str, ttl_ms: i64) -> Result<Option<i64>, StoreError> {
        crate::leases::acquire_lease(self.conn, name, holder, ttl_ms)
    }

    fn release_lease(&mut self, name: &str, holder: &str) -> Result<bool, StoreError> {
        crate::leases::release_lease(self.conn, name, holder)
    }

    fn lease_holds(&mut self, name: &str, holder: &str, epoch: i64) -> Result<bool, StoreError> {
        crate::leases::lease_holds(self.conn, name, holder, epoch)
    }

    fn plan_provisioned(&mut self, function: FunctionId, shares: &[(String, String, u32)]) -> Result<bool, StoreError> {
        crate::allocations::plan(self.conn, function, shares)
    }

    fn drop_orphan_allocations(&mut self) -> Result<u64, StoreError> {
        crate::allocations::drop_orphans(self.conn)
    }

    fn report_allocations(&mut self, node_id: &str, rows: &[ProvisionedAllocation]) -> Result<(), StoreError> {
        crate::allocations::report(self.conn, node_id, rows)
    }

    fn notify(&mut self, _channel: Channel, _payload: &str) -> Result<(), StoreError> {
        // One process: the writer's own caches are dropped by the writer itself.
        Ok(())
    }

    fn touch_code_blob(&mut self, sha: &Sha256) -> Result<(), StoreError> {
        code_blobs::touch(self.conn, sha)
    }

    fn track_code_blobs(&mut self, shas: &[Sha256]) -> Result<u64, StoreError> {
        code_blobs::track(self.conn, shas)
    }

    fn stale_code_blobs(&mut self, grace_ms: i64, limit: usize) -> Result<Vec<Sha256>, StoreError> {
        code_blobs::stale(self.conn, grace_ms, limit)
    }

    fn delete_code_blobs(&mut self, shas: &[Sha256]) -> Result<u64, StoreError> {
        code_blobs::delete(self.conn, shas)
    }
}

const SCHEDULE_COLUMNS: &str = "account, region, kind, name, doc, next_due_ms";

fn schedule_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRow> {
    Ok(ScheduleRow {
        account: r.get(0)?,
        region: r.get(1)?,
        kind: r.get(2)?,
        name: r.get(3)?,
        doc: r.get(4)?,
        next_due_ms: r.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migration 22 keeps the queued events (ids included) of a database made before it, starts
    /// the totals from them, and the triggers keep them from then on (cascades too).
    #[test]
    fn event_totals_migration_keeps_events_and_counts_them() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys=ON;").unwrap();
        for sql in &MIGRATIONS[..21] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!("PRAGMA user_version = {}", 21)).unwrap();
        conn.execute_batch(
            "INSERT INTO functions (account, region, name, latest, latest_code, latest_code_size, next_version, tags) \
             VALUES ('123456789012', 'us-east-1', 'f', '{}', 'c', 1, 1, '{}'); \
             INSERT INTO events (function_id, account, region, function_name, request_id, payload, received_ms, \
             visible_at_ms) VALUES (1, '123456789012', 'us-east-1', 'f', 'a', x'0102', 50, 0), \
             (1, '123456789012', 'us-east-1', 'f', 'b', x'010203', 40, 0), \
             (1, '123456789012', 'us-east-1', 'f', 'c', x'01', 60, 0); \
             DELETE FROM events WHERE request_id = 'a';",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let totals = |c: &Connection| SqliteTx { conn: c }.queued_events().unwrap();
        assert_eq!(totals(&conn), QueueTotals { events: 2, bytes: 4 });
        let ids: Vec<(i64, String)> = conn
            .prepare("SELECT id, request_id FROM events ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ids, [(2, "b".to_owned()), (3, "c".to_owned())]);
        assert_eq!(SqliteTx { conn: &conn }.oldest_queued_event_ms().unwrap(), Some(40));
        conn.execute_batch(
            "INSERT INTO events (function_id, account, region, function_name, request_id, payload, received_ms, \
             visible_at_ms) VALUES (1, '123456789012', 'us-east-1', 'f', 'd', x'01020304', 70, 0)",
        )
        .unwrap();
        assert_eq!(totals(&conn), QueueTotals { events: 3, bytes: 8 });
        conn.execute_batch("DELETE FROM events WHERE request_id = 'b'").unwrap();
        assert_eq!(totals(&conn), QueueTotals { events: 2, bytes: 5 });
        assert_eq!(SqliteTx { conn: &conn }.oldest_queued_event_ms().unwrap(), Some(60));
        conn.execute_batch("DELETE FROM functions").unwrap();
        assert_eq!(totals(&conn), QueueTotals::default());
        assert_eq!(SqliteTx { conn: &conn }.oldest_queued_event_ms().unwrap(), None);
    }
}
