//! The PostgreSQL backend: one database shared by every Versa node.
//!
//! `postgres` (the sync client) on dedicated OS threads: a `postgres::Client` runs its own
//! small runtime, so it must never be created or dropped on a tokio thread. Each thread owns
//! one client for its whole life (reconnecting after the database comes back).
//!
//! - **Writes** run on [`WRITER_CONNECTIONS`] threads, one transaction per job, READ COMMITTED;
//!   `WriteTx::lock_function` is `SELECT … FOR UPDATE`, which serialises writers of one function
//!   across nodes (version numbers stay unique). No batching: a batch would widen lock sets and
//!   turn one job's deadlock into many aborted jobs. A job is never retried (`WriteJob` is
//!   `FnOnce`), so a deadlock or serialisation failure surfaces as an error.
//! - **Reads** run on [`READER_CONNECTIONS`] threads, each job in a REPEATABLE READ READ ONLY
//!   transaction (one snapshot for the whole job, like SQLite's read transactions).
//! - **Migrations** ([`MIGRATIONS`], append-only) run at open under an advisory lock, so nodes
//!   starting together migrate once; `versa_schema` records how many ran. A database whose
//!   schema is newer than this binary is refused before anything is written.
//!
//! Core tables and methods are in `core.rs`; the services' (metrics, alarms, CodeDeploy,
//! schedules, SQS, API Gateway, mappings) in `services.rs`.

mod allocations;
mod cluster;
mod code_blobs;
mod core;
mod leases;
mod services;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pgconf::redacted;
use postgres::error::SqlState;
use postgres::{Client, Config, IsolationLevel, NoTls, Transaction};
use tokio::sync::mpsc;

use model::function::{
    Alias, EventInvokeConfig, Function, FunctionId, ProvisionedConfig, QueuedEvent, Sha256, VersionRecord,
};
use model::layer::{Layer, LayerId, LayerPolicy, LayerVersion};
use model::policy::{FunctionUrl, Policy};
use model::scope::Scope;

use crate::{
    AccessKeyRow, AccountUsage, AlarmHistoryFilter, AlarmHistoryRow, AlarmRecord, AlarmStateRow, AliasHistoryRow,
    AliasRow, ApigwRow, Backend, BoxFuture, CdDeploymentQuery, CdDeploymentRow, ClaimedEvent, EsmRow, FunctionKey,
    LayerKey, MetricPoint, MetricSeries, QueueTotals, ReadJob, ReadTx, ScheduleRow, SqsCounts, SqsMessageRow,
    SqsQueueRow, StoreError, UrlTarget, WriteJob, WriteTx,
};
use crate::{Channel, NodeBeat, NodeRow, PerFunctionMax, ProvisionedAllocation, Subscription};

/// Schema migrations, applied in order; `versa_schema.version` records how many ran.
/// **Invariant:** entries are only ever appended, never edited.
pub const MIGRATIONS: &[&str] = &[
    core::SCHEMA,
    services::SCHEMA,
    cluster::SCHEMA,
    code_blobs::SCHEMA,
    leases::SCHEMA,
    allocations::SCHEMA,
    core::EVENT_TOTALS,
    core::KEYS_DISABLED,
];

/// Writer threads (connections), and so the most write transactions in flight per node.
pub const WRITER_CONNECTIONS: usize = 4;
/// Reader threads (connections), and so the most reads in flight per node.
pub const READER_CONNECTIONS: usize = 4;
/// Most write jobs waiting for a writer thread; callers wait beyond that.
pub const WRITE_QUEUE_DEPTH: usize = 1024;
/// Most read jobs waiting for a reader thread; callers wait beyond that.
pub const READ_QUEUE_DEPTH: usize = 1024;
/// The most a store call waits (queueing, connecting and running) before its caller gets
/// `StoreError::TimedOut` (Lambda's `ServiceException`) rather than hanging while the database
/// is gone. A job its caller gave up on before it started is skipped.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection idle this long is checked (one empty query) before its next transaction.
pub const IDLE_PROBE_AFTER: Duration = Duration::from_secs(1);
/// How long that check may take.
pub const IDLE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most prepared statements a connection keeps (then it forgets them all and starts again).
const STATEMENT_CACHE_MAX: usize = 512;
/// The advisory lock that serialises migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x7665_7273_615f_6d67;

/// Where the database is, and how many connections this node opens.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// A libpq URL (`postgres://user@host/db?…`) or keyword string (`host=… dbname=…`).
    pub url: String,
    pub writers: usize,
    pub readers: usize,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions { url: url.into(), writers: WRITER_CONNECTIONS, readers: READER_CONNECTIONS }
    }
}

/// The PostgreSQL backend. Dropping it ends its threads after the jobs already queued.
pub struct PgBackend {
    writes: Mutex<Option<mpsc::Sender<WriteJob>>>,
    reads: Mutex<Option<mpsc::Sender<ReadJob>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Where the database is, for the notice listener's own connection (`cluster.rs`).
    config: Config,
    url: String,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgBackend")
    }
}

/// A database error as a store error: a unique violation is a [`StoreError::Conflict`].
pub(crate) fn pg_err(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let text = format!("{} ({})", db.message(), db.code().code());
        if *db.code() == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(text);
        }
        return StoreError::Database(text);
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    StoreError::Database(text)
}

fn parse_config(url: &str) -> Result<Config, StoreError> {
    pgconf::config(url, "versa")
        .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL {}: {e}", redacted(url))))
}

fn connect(config: &Config, url: &str) -> Result<Client, StoreError> {
    config.connect(NoTls).map_err(|e| match pg_err(e) {
        StoreError::Database(m) => {
            StoreError::Database(format!("cannot connect to PostgreSQL at {}: {m}", redacted(url)))
        }
        other => other,
    })
}

impl PgBackend {
    /// Connects, migrates the schema, and starts the connection threads. Blocks (call it at
    /// startup); safe to call from inside a tokio runtime.
    pub fn open(options: &PgOptions) -> Result<PgBackend, StoreError> {
        let config = parse_config(&options.url)?;
        let url = options.url.clone();
        // Connect and migrate on a thread of its own (never a runtime thread).
        {
            let (config, url) = (config.clone(), url.clone());
            std::thread::Builder::new()
                .name("versa-pg-migrate".to_owned())
                .spawn(move || {
                    let mut client = connect(&config, &url)?;
                    migrate(&mut client)
                })
                .map_err(|e| StoreError::Database(format!("cannot start a thread: {e}")))?
                .join()
                .map_err(|_| StoreError::Panicked)??;
        }
        let (wtx, wrx) = mpsc::channel::<WriteJob>(WRITE_QUEUE_DEPTH);
        let (rtx, rrx) = mpsc::channel::<ReadJob>(READ_QUEUE_DEPTH);
        let (wrx, rrx) = (Arc::new(Mutex::new(wrx)), Arc::new(Mutex::new(rrx)));
        let backend = PgBackend {
            writes: Mutex::new(Some(wtx)),
            reads: Mutex::new(Some(rtx)),
            threads: Mutex::new(Vec::new()),
            config: config.clone(),
            url: url.clone(),
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), StoreError>>();
        let total = options.writers.max(1) + options.readers.max(1);
        for i in 0..total {
            let writer = i < options.writers.max(1);
            let (config, url, ready) = (config.clone(), url.clone(), ready_tx.clone());
            let name = if writer { format!("versa-pg-writer-{i}") } else { format!("versa-pg-reader-{i}") };
            let (wrx, rrx) = (wrx.clone(), rrx.clone());
            let handle = std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let client = match connect(&config, &url) {
                        Ok(c) => {
                            let _ = ready.send(Ok(()));
                            Some(c)
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    let mut conn = Conn { config, url, client, failing: false, last_used: std::time::Instant::now() };
                    if writer { writer_loop(&mut conn, &wrx) } else { reader_loop(&mut conn, &rrx) }
                })
                .map_err(|e| StoreError::Database(format!("cannot start a thread: {e}")))?;
            backend.threads.lock().unwrap_or_else(|e| e.into_inner()).push(handle);
        }
        drop(ready_tx);
        for _ in 0..total {
            // Dropping `backend` on an error closes the queues and ends the started threads.
            ready_rx.recv().map_err(|_| StoreError::Panicked)??;
        }
        Ok(backend)
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        // Closing the queues lets each thread finish what is queued, drop its client and exit.
        self.writes.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.reads.lock().unwrap_or_else(|e| e.into_inner()).take();
        for handle in self.threads.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = handle.join();
        }
    }
}

impl Backend for PgBackend {
    fn submit_write(&self, job: WriteJob) -> BoxFuture<'_, Result<(), StoreError>> {
        let sender = self.writes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move {
            let sender = sender.ok_or(StoreError::Closed)?;
            sender.send(job).await.map_err(|_| StoreError::Closed)
        })
    }

    fn submit_read(&self, job: ReadJob) -> BoxFuture<'_, Result<(), StoreError>> {
        let sender = self.reads.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move {
            let sender = sender.ok_or(StoreError::Closed)?;
            sender.send(job).await.map_err(|_| StoreError::Closed)
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn subscribe(&self) -> Option<Subscription> {
        cluster::subscribe(self.config.clone(), self.url.clone())
    }

    fn call_timeout(&self) -> Option<Duration> {
        Some(CALL_TIMEOUT)
    }
}

thread_local! {
    /// This thread's connection's prepared statements, by SQL text: each thread owns one
    /// connection, so a thread-local cache is a per-connection cache. Cleared on reconnect.
    static STATEMENTS: std::cell::RefCell<std::collections::HashMap<String, postgres::Statement>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// `sql` prepared on this thread's connection, once per connection (a statement run by text
/// costs a second round trip each time).
pub(crate) fn prepared(t: &mut Transaction<'_>, sql: &str) -> Result<postgres::Statement, StoreError> {
    if let Some(s) = STATEMENTS.with(|c| c.borrow().get(sql).cloned()) {
        return Ok(s);
    }
    let statement = t.prepare(sql).map_err(pg_err)?;
    STATEMENTS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= STATEMENT_CACHE_MAX {
            c.clear();
        }
        c.insert(sql.to_owned(), statement.clone());
    });
    Ok(statement)
}

/// One thread's connection, reopened when it broke.
struct Conn {
    config: Config,
    url: String,
    client: Option<Client>,
    /// Whether the last attempt to reach the database failed (logged once per outage).
    failing: bool,
    /// When the connection last began a transaction.
    last_used: std::time::Instant,
}

impl Conn {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            // Statements prepared on the old connection mean nothing on a new one.
            STATEMENTS.with(|c| c.borrow_mut().clear());
            match connect(&self.config, &self.url) {
                Ok(c) => {
                    if std::mem::take(&mut self.failing) {
                        tracing::info!("the database connection is back");
                    }
                    self.client = Some(c);
                }
                Err(e) => {
                    if !std::mem::replace(&mut self.failing, true) {
                        tracing::error!(error = %e, "no database connection; store calls fail until it returns");
                    }
                    return Err(e);
                }
            }
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// Begins a transaction. A connection that broke while idle (the database restarted) is
    /// only found out when used, so one idle for [`IDLE_PROBE_AFTER`] is checked first (one
    /// empty query) and reopened if it broke: the first jobs after an outage do not fail for
    /// the old connection's sake. A busy connection is not probed (no extra round trip).
    fn begin(&mut self, write: bool) -> Result<Transaction<'_>, StoreError> {
        let idle = std::mem::replace(&mut self.last_used, std::time::Instant::now()).elapsed();
        if idle >= IDLE_PROBE_AFTER && self.client.as_mut().is_some_and(|c| c.is_valid(IDLE_PROBE_TIMEOUT).is_err()) {
            tracing::info!("an idle database connection broke; reconnecting");
            self.client = None;
        }
        let client = self.client()?;
        let mut b = client.build_transaction();
        b = if write {
            b.isolation_level(IsolationLevel::ReadCommitted)
        } else {
            b.isolation_level(IsolationLevel::RepeatableRead).read_only(true)
        };
        b.start().map_err(pg_err)
    }
}

/// A job running longer than this is logged (it holds one of the few connections).
const SLOW_JOB: Duration = Duration::from_secs(1);

fn slow(started: std::time::Instant, kind: &str) {
    let took = started.elapsed();
    if took >= SLOW_JOB {
        tracing::warn!(kind, ms = took.as_millis() as u64, "a slow store job held its connection");
    }
}

/// Takes the next job off a queue shared by several threads; `None` once it is closed.
fn next<T>(queue: &Mutex<mpsc::Receiver<T>>) -> Option<T> {
    queue.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv()
}

fn writer_loop(conn: &mut Conn, queue: &Mutex<mpsc::Receiver<WriteJob>>) {
    while let Some(job) = next(queue) {
        let tx = match conn.begin(true) {
            Ok(tx) => tx,
            Err(e) => {
                // Dropping the job tells its caller the store could not run it.
                tracing::debug!(error = %e, "store write failed: cannot begin");
                continue;
            }
        };
        let mut t = PgTx { t: tx };
        let started = std::time::Instant::now();
        let (commit, complete) = job(&mut t);
        slow(started, "write");
        let outcome = if commit {
            t.t.commit().map_err(pg_err)
        } else {
            // The caller's error is its answer; a failed rollback only ends the connection.
            let _ = t.t.rollback();
            Ok(())
        };
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "store commit failed");
        }
        complete(outcome);
    }
}

fn reader_loop(conn: &mut Conn, queue: &Mutex<mpsc::Receiver<ReadJob>>) {
    while let Some(job) = next(queue) {
        let tx = match conn.begin(false) {
            Ok(tx) => tx,
            Err(e) => {
                tracing::debug!(error = %e, "store read failed: cannot begin");
                continue;
            }
        };
        let mut t = PgTx { t: tx };
        let started = std::time::Instant::now();
        job(&mut t);
        slow(started, "read");
        // A read-only transaction has nothing to commit; ending it releases the snapshot.
        let _ = t.t.rollback();
    }
}

/// Applies the migrations this database lacks, all in one transaction; refuses a database
/// whose schema is newer than this binary's (writing nothing).
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(pg_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(pg_err)?;
    let exists: bool = tx.query_one("SELECT to_regclass('versa_schema') IS NOT NULL", &[]).map_err(pg_err)?.get(0);
    let applied: i64 =
        if exists { tx.query_one("SELECT version FROM versa_schema", &[]).map_err(pg_err)?.get(0) } else { 0 };
    if applied > MIGRATIONS.len() as i64 {
        return Err(StoreError::Database(format!(
            "the PostgreSQL database has Versa schema version {applied}, newer than this Versa knows ({}); \
             upgrade Versa",
            MIGRATIONS.len()
        )));
    }
    if !exists {
        tx.batch_execute("CREATE TABLE versa_schema (version bigint NOT NULL); INSERT INTO versa_schema VALUES (0);")
            .map_err(pg_err)?;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        tx.batch_execute(sql).map_err(|e| match pg_err(e) {
            StoreError::Database(m) | StoreError::Conflict(m) => {
                StoreError::Database(format!("PostgreSQL migration {} failed: {m}", i + 1))
            }
            other => other,
        })?;
        tx.execute("UPDATE versa_schema SET version = $1", &[&(i as i64 + 1)]).map_err(pg_err)?;
        tracing::info!(version = i + 1, "applied PostgreSQL store migration");
    }
    tx.commit().map_err(pg_err)
}

/// A transaction on one connection: what every `ReadTx`/`WriteTx` method runs in.
pub(crate) struct PgTx<'c> {
    t: Transaction<'c>,
}

impl ReadTx for PgTx<'_> {
    fn function(&mut self, key: &FunctionKey) -> Result<Option<Function>, StoreError> {
        core::function(&mut self.t, key)
    }

    fn functions(&mut self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<Function>, StoreError> {
        core::functions(&mut self.t, scope, after, limit)
    }

    fn version(&mut self, id: FunctionId, number: u32) -> Result<Option<VersionRecord>, StoreError> {
        core::version(&mut self.t, id, number)
    }

    fn versions(&mut self, id: FunctionId, after: Option<u32>, limit: usize) -> Result<Vec<VersionRecord>, StoreError> {
        core::versions(&mut self.t, id, after, limit)
    }

    fn highest_version(&mut self, id: FunctionId) -> Result<Option<VersionRecord>, StoreError> {
        core::highest_version(&mut self.t, id)
    }

    fn alias(&mut self, id: FunctionId, name: &str) -> Result<Option<Alias>, StoreError> {
        core::alias(&mut self.t, id, name)
    }

    fn aliases(&mut self, id: FunctionId, after: Option<&str>, limit: usize) -> Result<Vec<Alias>, StoreError> {
        core::aliases(&mut self.t, id, after, limit)
    }

    fn aliases_referencing(&mut self, id: FunctionId, number: u32) -> Result<Vec<String>, StoreError> {
        core::aliases_referencing(&mut self.t, id, number)
    }

    fn code_references(&mut self, sha: &Sha256) -> Result<u64, StoreError> {
        core::code_references(&mut self.t, sha)
    }

    fn referenced_code(&mut self) -> Result<Vec<Sha256>, StoreError> {
        core::referenced_code(&mut self.t)
    }

    fn account_usage(&mut self, scope: &Scope) -> Result<AccountUsage, StoreError> {
        core::account_usage(&mut self.t, scope)
    }

    fn event_invoke_config(
        &mut self,
        id: FunctionId,
        qualifier: &str,
    ) -> Result<Option<EventInvokeConfig>, StoreError> {
        core::event_invoke_config(&mut self.t, id, qualifier)
    }

    fn event_invoke_configs(
        &mut self,
        id: FunctionId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, EventInvokeConfig)>, StoreError> {
        core::event_invoke_configs(&mut self.t, id, after, limit)
    }

    fn reserved_concurrency_total(&mut self, scope: &Scope) -> Result<u64, StoreError> {
        core::reserved_concurrency_total(&mut self.t, scope)
    }

    fn unreserved_provisioned_total(&mut self, scope: &Scope) -> Result<u64, StoreError> {
        core::unreserved_provisioned_total(&mut self.t, scope)
    }

    fn queued_events(&mut self) -> Result<QueueTotals, StoreError> {
        core::queued_events(&mut self.t)
    }

    fn next_event_due(&mut self) -> Result<Option<i64>, StoreError> {
        core::next_event_due(&mut self.t)
    }

    fn claim_holders(&mut self) -> Result<Vec<String>, StoreError> {
        core::claim_holders(&mut self.t)
    }

    fn holds_claim(&mut self, id: i64, token: &str) -> Result<bool, StoreError> {
        core::holds_claim(&mut self.t, id, token)
    }

    fn oldest_queued_event_ms(&mut self) -> Result<Option<i64>, StoreError> {
        core::oldest_queued_event_ms(&mut self.t)
    }

    fn all_aliases(&mut self, limit: usize) -> Result<Vec<AliasRow>, StoreError> {
        core::all_aliases(&mut self.t, limit)
    }

    fn provisioned_configs(&mut self, id: FunctionId) -> Result<Vec<ProvisionedConfig>, StoreError> {
        core::provisioned_configs(&mut self.t, id)
    }

    fn functions_with_provisioned(&mut self) -> Result<Vec<(Scope, String)>, StoreError> {
        core::functions_with_provisioned(&mut self.t)
    }

    fn policy(&mut self, id: FunctionId, qualifier: &str) -> Result<Option<Policy>, StoreError> {
        core::policy(&mut self.t, id, qualifier)
    }

    fn function_url(&mut self, id: FunctionId, qualifier: &str) -> Result<Option<FunctionUrl>, StoreError> {
        core::function_url(&mut self.t, id, qualifier)
    }

    fn function_urls(
        &mut self,
        id: FunctionId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, FunctionUrl)>, StoreError> {
        core::function_urls(&mut self.t, id, after, limit)
    }

    fn function_url_target(&mut self, url_id: &str) -> Result<Option<UrlTarget>, StoreError> {
        core::function_url_target(&mut self.t, url_id)
    }

    fn layer(&mut self, key: &LayerKey) -> Result<Option<Layer>, StoreError> {
        core::layer(&mut self.t, key)
    }

    fn layers(&mut self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<Layer>, StoreError> {
        core::layers(&mut self.t, scope, after, limit)
    }

    fn layer_version(&mut self, id: LayerId, version: u32) -> Result<Option<LayerVersion>, StoreError> {
        core::layer_version(&mut self.t, id, version)
    }

    fn layer_versions(
        &mut self,
        id: LayerId,
        before: Option<u32>,
        limit: usize,
    ) -> Result<Vec<LayerVersion>, StoreError> {
        core::layer_versions(&mut self.t, id, before, limit)
    }

    fn access_key(&mut self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
        core::access_key(&mut self.t, access_key_id)
    }

    fn access_keys(&mut self, limit: usize) -> Result<Vec<AccessKeyRow>, StoreError> {
        core::access_keys(&mut self.t, limit)
    }

    fn metric_point(&mut self, series: &MetricSeries, start_ms: i64) -> Result<Option<MetricPoint>, StoreError> {
        services::metric_point(&mut self.t, series, start_ms)
    }

    fn metric_points(
        &mut self,
        series: &MetricSeries,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        services::metric_points(&mut self.t, series, from_ms, to_ms)
    }

    fn metric_points_hr(
        &mut self,
        series: &MetricSeries,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        services::metric_points_hr(&mut self.t, series, from_ms, to_ms)
    }

    fn metric_point_hr(&mut self, series: &MetricSeries, start_ms: i64) -> Result<Option<MetricPoint>, StoreError> {
        services::metric_point_hr(&mut self.t, series, start_ms)
    }

    fn metric_series_hr(&mut self, limit: usize) -> Result<Vec<MetricSeries>, StoreError> {
        services::metric_series_hr(&mut self.t, limit)
    }

    fn metric_series(
        &mut self,
        account: &str,
        region: &str,
        namespace: Option<&str>,
        after: Option<&MetricSeries>,
        limit: usize,
    ) -> Result<Vec<MetricSeries>, StoreError> {
        services::metric_series(&mut self.t, account, region, namespace, after, limit)
    }

    fn has_metric_series(&mut self, series: &MetricSeries) -> Result<bool, StoreError> {
        services::has_metric_series(&mut self.t, series)
    }

    fn metric_series_count(&mut self) -> Result<u64, StoreError> {
        services::metric_series_count(&mut self.t)
    }

    fn alarm(&mut self, account: &str, region: &str, name: &str) -> Result<Option<AlarmRecord>, StoreError> {
        services::alarm(&mut self.t, account, region, name)
    }

    fn alarms(
        &mut self,
        account: &str,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AlarmRecord>, StoreError> {
        services::alarms(&mut self.t, account, region, after, limit)
    }

    fn alarm_count(&mut self, account: &str, region: &str) -> Result<u64, StoreError> {
        services::alarm_count(&mut self.t, account, region)
    }

    fn alarms_due(&mut self, now_ms: i64, limit: usize) -> Result<Vec<AlarmRecord>, StoreError> {
        services::alarms_due(&mut self.t, now_ms, limit)
    }

    fn alarm_states(&mut self, limit: usize) -> Result<Vec<AlarmStateRow>, StoreError> {
        services::alarm_states(&mut self.t, limit)
    }

    fn next_alarm_due(&mut self) -> Result<Option<i64>, StoreError> {
        services::next_alarm_due(&mut self.t)
    }

    fn alarm_history(
        &mut self,
        account: &str,
        region: &str,
        filter: &AlarmHistoryFilter,
        limit: usize,
    ) -> Result<Vec<AlarmHistoryRow>, StoreError> {
        services::alarm_history(&mut self.t, account, region, filter, limit)
    }

    fn alarm_tags(&mut self, account: &str, region: &str, name: &str) -> Result<Vec<(String, String)>, StoreError> {
        services::alarm_tags(&mut self.t, account, region, name)
    }

    fn alias_history(
        &mut self,
        id: FunctionId,
        alias: &str,
        before_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AliasHistoryRow>, StoreError> {
        services::alias_history(&mut self.t, id, alias, before_id, limit)
    }

    fn cd_object(&mut self, account: &str, region: &str, kind: &str, name: &str) -> Result<Option<String>, StoreError> {
        services::cd_object(&mut self.t, account, region, kind, name)
    }

    fn cd_objects(&mut self, account: &str, region: &str, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        services::cd_objects(&mut self.t, account, region, kind)
    }

    fn cd_deployment(&mut self, id: &str) -> Result<Option<CdDeploymentRow>, StoreError> {
        services::cd_deployment(&mut self.t, id)
    }

    fn cd_deployments_page(&mut self, q: &CdDeploymentQuery) -> Result<Vec<CdDeploymentRow>, StoreError> {
        services::cd_deployments_page(&mut self.t, q)
    }

    fn cd_active_deployments(&mut self, limit: usize) -> Result<Vec<CdDeploymentRow>, StoreError> {
        services::cd_active_deployments(&mut self.t, limit)
    }

    fn cd_group_active(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
    ) -> Result<Option<CdDeploymentRow>, StoreError> {
        services::cd_group_active(&mut self.t, account, region, application, group)
    }

    fn cd_group_latest(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
        status: Option<&str>,
    ) -> Result<Option<CdDeploymentRow>, StoreError> {
        services::cd_group_latest(&mut self.t, account, region, application, group, status)
    }

    fn cd_deployments_shown(&mut self, since_ms: i64, limit: usize) -> Result<Vec<CdDeploymentRow>, StoreError> {
        services::cd_deployments_shown(&mut self.t, since_ms, limit)
    }

    fn cd_tags(&mut self, arn: &str) -> Result<Vec<(String, String)>, StoreError> {
        services::cd_tags(&mut self.t, arn)
    }

    fn schedule_row(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<ScheduleRow>, StoreError> {
        services::schedule_row(&mut self.t, account, region, kind, name)
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
        services::schedule_rows(&mut self.t, account, region, kind, prefix, after, limit)
    }

    fn schedule_count(&mut self, account: &str, region: &str, kind: &str) -> Result<u64, StoreError> {
        services::schedule_count(&mut self.t, account, region, kind)
    }

    fn schedules_due(&mut self, now_ms: i64, limit: usize) -> Result<Vec<ScheduleRow>, StoreError> {
        services::schedules_due(&mut self.t, now_ms, limit)
    }

    fn next_schedule_due(&mut self) -> Result<Option<i64>, StoreError> {
        services::next_schedule_due(&mut self.t)
    }

    fn sqs_queue(&mut self, account: &str, region: &str, name: &str) -> Result<Option<SqsQueueRow>, StoreError> {
        services::sqs_queue(&mut self.t, account, region, name)
    }

    fn sqs_queue_by_id(&mut self, id: i64) -> Result<Option<SqsQueueRow>, StoreError> {
        services::sqs_queue_by_id(&mut self.t, id)
    }

    fn sqs_queues(
        &mut self,
        account: &str,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SqsQueueRow>, StoreError> {
        services::sqs_queues(&mut self.t, account, region, prefix, after, limit)
    }

    fn sqs_queue_count(&mut self, account: &str, region: &str) -> Result<u64, StoreError> {
        services::sqs_queue_count(&mut self.t, account, region)
    }

    fn sqs_message(&mut self, seq: i64) -> Result<Option<SqsMessageRow>, StoreError> {
        services::sqs_message(&mut self.t, seq)
    }

    fn sqs_candidates(
        &mut self,
        queue_id: i64,
        now_ms: i64,
        fifo: bool,
        limit: usize,
    ) -> Result<Vec<SqsMessageRow>, StoreError> {
        services::sqs_candidates(&mut self.t, queue_id, now_ms, fifo, limit)
    }

    fn sqs_next_visible(&mut self, queue_id: i64, now_ms: i64) -> Result<Option<i64>, StoreError> {
        services::sqs_next_visible(&mut self.t, queue_id, now_ms)
    }

    fn sqs_counts(&mut self, queue_id: i64, now_ms: i64) -> Result<SqsCounts, StoreError> {
        services::sqs_counts(&mut self.t, queue_id, now_ms)
    }

    fn sqs_dedup(&mut self, queue_id: i64, key: &str, now_ms: i64) -> Result<Option<(String, i64)>, StoreError> {
        services::sqs_dedup(&mut self.t, queue_id, key, now_ms)
    }

    fn apigw_api(&mut self, id: &str) -> Result<Option<ApigwRow>, StoreError> {
        services::apigw_api(&mut self.t, id)
    }

    fn apigw_apis(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<ApigwRow>, StoreError> {
        services::apigw_apis(&mut self.t, account, region, kind, limit)
    }

    fn esm(&mut self, uuid: &str) -> Result<Option<EsmRow>, StoreError> {
        services::esm(&mut self.t, uuid)
    }

    fn esms(&mut self, account: &str, region: &str, limit: usize) -> Result<Vec<EsmRow>, StoreError> {
        services::esms(&mut self.t, account, region, limit)
    }

    fn all_esms(&mut self, limit: usize) -> Result<Vec<EsmRow>, StoreError> {
        services::all_esms(&mut self.t, limit)
    }

    fn esm_checkpoints(&mut self, uuid: &str) -> Result<Vec<(String, String)>, StoreError> {
        services::esm_checkpoints(&mut self.t, uuid)
    }

    fn nodes(&mut self, dead_after_ms: i64) -> Result<Vec<NodeRow>, StoreError> {
        cluster::nodes(&mut self.t, dead_after_ms)
    }

    fn provisioned_allocations(&mut self, function: FunctionId) -> Result<Vec<ProvisionedAllocation>, StoreError> {
        allocations::of_function(&mut self.t, function)
    }

    fn node_allocations(&mut self, node_id: &str) -> Result<Vec<ProvisionedAllocation>, StoreError> {
        allocations::of_node(&mut self.t, node_id)
    }

    fn cluster_setting(&mut self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        cluster::cluster_setting(&mut self.t, name)
    }
}

impl WriteTx for PgTx<'_> {
    fn lock_function(&mut self, key: &FunctionKey) -> Result<Option<Function>, StoreError> {
        core::lock_function(&mut self.t, key)
    }

    fn insert_function(&mut self, scope: &Scope, function: &Function) -> Result<FunctionId, StoreError> {
        core::insert_function(&mut self.t, scope, function)
    }

    fn update_function(&mut self, function: &Function) -> Result<(), StoreError> {
        core::update_function(&mut self.t, function)
    }

    fn delete_function(&mut self, id: FunctionId) -> Result<(), StoreError> {
        core::delete_function(&mut self.t, id)
    }

    fn insert_version(&mut self, id: FunctionId, version: &VersionRecord) -> Result<(), StoreError> {
        core::insert_version(&mut self.t, id, version)
    }

    fn delete_version(&mut self, id: FunctionId, number: u32) -> Result<bool, StoreError> {
        core::delete_version(&mut self.t, id, number)
    }

    fn put_alias(&mut self, id: FunctionId, alias: &Alias) -> Result<(), StoreError> {
        core::put_alias(&mut self.t, id, alias)
    }

    fn delete_alias(&mut self, id: FunctionId, name: &str) -> Result<bool, StoreError> {
        core::delete_alias(&mut self.t, id, name)
    }

    fn put_event_invoke_config(
        &mut self,
        id: FunctionId,
        qualifier: &str,
        config: &EventInvokeConfig,
    ) -> Result<(), StoreError> {
        core::put_event_invoke_config(&mut self.t, id, qualifier, config)
    }

    fn delete_event_invoke_config(&mut self, id: FunctionId, qualifier: &str) -> Result<bool, StoreError> {
        core::delete_event_invoke_config(&mut self.t, id, qualifier)
    }

    fn enqueue_event(&mut self, event: &QueuedEvent, not_before_ms: i64) -> Result<i64, StoreError> {
        core::enqueue_event(&mut self.t, event, not_before_ms)
    }

    fn enqueue_events(&mut self, events: &[QueuedEvent]) -> Result<(), StoreError> {
        core::enqueue_events(&mut self.t, events)
    }
    fn claim_events(
        &mut self,
        node_id: &str,
        lease_ms: i64,
        limit: usize,
        per_function: Option<&PerFunctionMax>,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        core::claim_events(&mut self.t, node_id, lease_ms, limit, per_function)
    }

    fn delete_event(&mut self, id: i64, token: &str) -> Result<bool, StoreError> {
        core::delete_event(&mut self.t, id, token)
    }

    fn reschedule_event(
        &mut self,
        id: i64,
        token: &str,
        attempts: u32,
        not_before_ms: i64,
    ) -> Result<bool, StoreError> {
        core::reschedule_event(&mut self.t, id, token, attempts, not_before_ms)
    }

    fn reap_claims(&mut self, dead_node_ids: &[String]) -> Result<u64, StoreError> {
        core::reap_claims(&mut self.t, dead_node_ids)
    }

    fn put_provisioned_config(&mut self, id: FunctionId, config: &ProvisionedConfig) -> Result<(), StoreError> {
        core::put_provisioned_config(&mut self.t, id, config)
    }

    fn delete_provisioned_config(&mut self, id: FunctionId, qualifier: &str) -> Result<bool, StoreError> {
        core::delete_provisioned_config(&mut self.t, id, qualifier)
    }

    fn put_policy(&mut self, id: FunctionId, qualifier: &str, policy: &Policy) -> Result<(), StoreError> {
        core::put_policy(&mut self.t, id, qualifier, policy)
    }

    fn put_function_url(&mut self, id: FunctionId, qualifier: &str, url: &FunctionUrl) -> Result<(), StoreError> {
        core::put_function_url(&mut self.t, id, qualifier, url)
    }

    fn delete_function_url(&mut self, id: FunctionId, qualifier: &str) -> Result<bool, StoreError> {
        core::delete_function_url(&mut self.t, id, qualifier)
    }

    fn lock_layer(&mut self, key: &LayerKey) -> Result<Option<Layer>, StoreError> {
        core::lock_layer(&mut self.t, key)
    }

    fn insert_layer(&mut self, scope: &Scope, layer: &Layer) -> Result<LayerId, StoreError> {
        core::insert_layer(&mut self.t, scope, layer)
    }

    fn update_layer(&mut self, layer: &Layer) -> Result<(), StoreError> {
        core::update_layer(&mut self.t, layer)
    }

    fn insert_layer_version(&mut self, id: LayerId, version: &LayerVersion) -> Result<(), StoreError> {
        core::insert_layer_version(&mut self.t, id, version)
    }

    fn delete_layer_version(&mut self, id: LayerId, version: u32) -> Result<bool, StoreError> {
        core::delete_layer_version(&mut self.t, id, version)
    }

    fn put_layer_version_policy(
        &mut self,
        id: LayerId,
        version: u32,
        policy: Option<&LayerPolicy>,
    ) -> Result<(), StoreError> {
        core::put_layer_version_policy(&mut self.t, id, version, policy)
    }

    fn insert_access_key(&mut self, key: &AccessKeyRow) -> Result<(), StoreError> {
        core::insert_access_key(&mut self.t, key)
    }

    fn delete_access_key(&mut self, access_key_id: &str) -> Result<bool, StoreError> {
        core::delete_access_key(&mut self.t, access_key_id)
    }

    fn set_access_key_disabled(&mut self, access_key_id: &str, disabled: bool) -> Result<bool, StoreError> {
        core::set_access_key_disabled(&mut self.t, access_key_id, disabled)
    }

    fn put_metric_point(&mut self, series: &MetricSeries, point: &MetricPoint) -> Result<(), StoreError> {
        services::put_metric_point(&mut self.t, series, point)
    }

    fn put_metric_point_hr(&mut self, series: &MetricSeries, point: &MetricPoint) -> Result<(), StoreError> {
        services::put_metric_point_hr(&mut self.t, series, point)
    }

    fn delete_metric_points_hr_before(&mut self, before_ms: i64) -> Result<u64, StoreError> {
        services::delete_metric_points_hr_before(&mut self.t, before_ms)
    }

    fn delete_metric_points_before(&mut self, before_ms: i64) -> Result<u64, StoreError> {
        services::delete_metric_points_before(&mut self.t, before_ms)
    }

    fn put_cd_object(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        name: &str,
        doc: &str,
    ) -> Result<(), StoreError> {
        services::put_cd_object(&mut self.t, account, region, kind, name, doc)
    }

    fn delete_cd_object(&mut self, account: &str, region: &str, kind: &str, name: &str) -> Result<bool, StoreError> {
        services::delete_cd_object(&mut self.t, account, region, kind, name)
    }

    fn replace_cd_deployment(&mut self, d: &CdDeploymentRow, expected: &str) -> Result<bool, StoreError> {
        services::replace_cd_deployment(&mut self.t, d, expected)
    }

    fn put_cd_deployment(&mut self, d: &CdDeploymentRow) -> Result<(), StoreError> {
        services::put_cd_deployment(&mut self.t, d)
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
        services::rename_cd_deployments(&mut self.t, account, region, application, group, new_application, new_group)
    }

    fn trim_cd_deployments(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
        keep: usize,
    ) -> Result<usize, StoreError> {
        services::trim_cd_deployments(&mut self.t, account, region, application, group, keep)
    }

    fn put_cd_tags(&mut self, arn: &str, tags: &[(String, String)]) -> Result<(), StoreError> {
        services::put_cd_tags(&mut self.t, arn, tags)
    }

    fn put_apigw_api(&mut self, api: &ApigwRow) -> Result<(), StoreError> {
        services::put_apigw_api(&mut self.t, api)
    }

    fn delete_apigw_api(&mut self, id: &str) -> Result<bool, StoreError> {
        services::delete_apigw_api(&mut self.t, id)
    }

    fn put_esm(&mut self, row: &EsmRow) -> Result<(), StoreError> {
        services::put_esm(&mut self.t, row)
    }

    fn delete_esm(&mut self, uuid: &str) -> Result<bool, StoreError> {
        services::delete_esm(&mut self.t, uuid)
    }

    fn put_esm_checkpoint(&mut self, uuid: &str, shard: &str, sequence: &str) -> Result<(), StoreError> {
        services::put_esm_checkpoint(&mut self.t, uuid, shard, sequence)
    }

    fn put_alarm(&mut self, alarm: &AlarmRecord) -> Result<(), StoreError> {
        services::put_alarm(&mut self.t, alarm)
    }

    fn delete_alarm(&mut self, account: &str, region: &str, name: &str) -> Result<bool, StoreError> {
        services::delete_alarm(&mut self.t, account, region, name)
    }

    fn set_alarm_due(&mut self, account: &str, region: &str, name: &str, next_eval_ms: i64) -> Result<(), StoreError> {
        services::set_alarm_due(&mut self.t, account, region, name, next_eval_ms)
    }

    fn insert_alarm_history(&mut self, item: &AlarmHistoryRow) -> Result<i64, StoreError> {
        services::insert_alarm_history(&mut self.t, item)
    }

    fn trim_alarm_history(
        &mut self,
        before_ms: i64,
        keep_per_alarm: usize,
        keep_total: usize,
    ) -> Result<u64, StoreError> {
        services::trim_alarm_history(&mut self.t, before_ms, keep_per_alarm, keep_total)
    }

    fn insert_alias_history(
        &mut self,
        row: &AliasHistoryRow,
        keep_per_alias: usize,
        keep_total: usize,
    ) -> Result<i64, StoreError> {
        services::insert_alias_history(&mut self.t, row, keep_per_alias, keep_total)
    }

    fn put_alarm_tags(
        &mut self,
        account: &str,
        region: &str,
        name: &str,
        tags: &[(String, String)],
    ) -> Result<(), StoreError> {
        services::put_alarm_tags(&mut self.t, account, region, name, tags)
    }

    fn put_schedule_row(&mut self, row: &ScheduleRow) -> Result<(), StoreError> {
        services::put_schedule_row(&mut self.t, row)
    }

    fn delete_schedule_row(&mut self, account: &str, region: &str, kind: &str, name: &str) -> Result<bool, StoreError> {
        services::delete_schedule_row(&mut self.t, account, region, kind, name)
    }

    fn advance_schedule_due(
        &mut self,
        row: &ScheduleRow,
        from_ms: i64,
        to_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        services::advance_schedule_due(&mut self.t, row, from_ms, to_ms)
    }

    fn sqs_insert_queue(&mut self, queue: &SqsQueueRow) -> Result<i64, StoreError> {
        services::sqs_insert_queue(&mut self.t, queue)
    }

    fn sqs_update_queue(&mut self, id: i64, doc: &str) -> Result<(), StoreError> {
        services::sqs_update_queue(&mut self.t, id, doc)
    }

    fn sqs_delete_queue(&mut self, id: i64) -> Result<bool, StoreError> {
        services::sqs_delete_queue(&mut self.t, id)
    }

    fn sqs_insert_message(&mut self, message: &SqsMessageRow) -> Result<i64, StoreError> {
        services::sqs_insert_message(&mut self.t, message)
    }

    fn sqs_update_message(&mut self, message: &SqsMessageRow) -> Result<(), StoreError> {
        services::sqs_update_message(&mut self.t, message)
    }

    fn sqs_delete_message(&mut self, seq: i64) -> Result<bool, StoreError> {
        services::sqs_delete_message(&mut self.t, seq)
    }

    fn sqs_move_message(&mut self, seq: i64, to_queue: i64, visible_ms: i64) -> Result<(), StoreError> {
        services::sqs_move_message(&mut self.t, seq, to_queue, visible_ms)
    }

    fn sqs_purge(&mut self, queue_id: i64) -> Result<u64, StoreError> {
        services::sqs_purge(&mut self.t, queue_id)
    }

    fn sqs_put_dedup(
        &mut self,
        queue_id: i64,
        key: &str,
        message_id: &str,
        seq: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        services::sqs_put_dedup(&mut self.t, queue_id, key, message_id, seq, expires_ms)
    }

    fn sqs_expire(&mut self, now_ms: i64, limit: usize) -> Result<u64, StoreError> {
        services::sqs_expire(&mut self.t, now_ms, limit)
    }

    fn heartbeat_node(&mut self, beat: &NodeBeat) -> Result<i64, StoreError> {
        cluster::heartbeat_node(&mut self.t, beat)
    }

    fn delete_node(&mut self, id: &str) -> Result<bool, StoreError> {
        cluster::delete_node(&mut self.t, id)
    }

    fn delete_dead_nodes(&mut self, dead_for_ms: i64) -> Result<u64, StoreError> {
        cluster::delete_dead_nodes(&mut self.t, dead_for_ms)
    }

    fn init_cluster_setting(&mut self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        cluster::init_cluster_setting(&mut self.t, name, value)
    }

    fn acquire_lease(&mut self, name: &str, holder: &str, ttl_ms: i64) -> Result<Option<i64>, StoreError> {
        leases::acquire_lease(&mut self.t, name, holder, ttl_ms)
    }

    fn release_lease(&mut self, name: &str, holder: &str) -> Result<bool, StoreError> {
        leases::release_lease(&mut self.t, name, holder)
    }

    fn lease_holds(&mut self, name: &str, holder: &str, epoch: i64) -> Result<bool, StoreError> {
        leases::lease_holds(&mut self.t, name, holder, epoch)
    }

    fn plan_provisioned(&mut self, function: FunctionId, shares: &[(String, String, u32)]) -> Result<bool, StoreError> {
        allocations::plan(&mut self.t, function, shares)
    }

    fn drop_orphan_allocations(&mut self) -> Result<u64, StoreError> {
        allocations::drop_orphans(&mut self.t)
    }

    fn report_allocations(&mut self, node_id: &str, rows: &[ProvisionedAllocation]) -> Result<(), StoreError> {
        allocations::report(&mut self.t, node_id, rows)
    }

    fn notify(&mut self, channel: Channel, payload: &str) -> Result<(), StoreError> {
        cluster::notify(&mut self.t, channel, payload)
    }

    fn touch_code_blob(&mut self, sha: &Sha256) -> Result<(), StoreError> {
        code_blobs::touch_code_blob(&mut self.t, sha)
    }

    fn track_code_blobs(&mut self, shas: &[Sha256]) -> Result<u64, StoreError> {
        code_blobs::track_code_blobs(&mut self.t, shas)
    }

    fn stale_code_blobs(&mut self, grace_ms: i64, limit: usize) -> Result<Vec<Sha256>, StoreError> {
        code_blobs::stale_code_blobs(&mut self.t, grace_ms, limit)
    }

    fn delete_code_blobs(&mut self, shas: &[Sha256]) -> Result<u64, StoreError> {
        code_blobs::delete_code_blobs(&mut self.t, shas)
    }
}
