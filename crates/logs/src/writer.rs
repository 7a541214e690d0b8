//! The writer thread: the one connection that changes the log database.
//!
//! Jobs arrive through one bounded queue: appends (which their callers drop when the queue is
//! full), API writes and flushes (whose callers wait for room). The thread takes whatever is
//! queued, up to [`WRITE_BATCH_MAX`] jobs, and runs it as one transaction: appends insert their
//! events, each API write runs in its own savepoint (an `Err` undoes only that write). Stream and
//! group counters are updated once per batch. Before the commit the writer enforces the limits
//! on the groups that received events: retention first, then the group's size, then the total
//! size; every [`RETENTION_SWEEP_INTERVAL`](crate::RETENTION_SWEEP_INTERVAL) it also sweeps the
//! retention of every group, even when no job arrives. Callers hear back after the commit.
//!
//! Evicting events keeps the counters exact; a stream left without events is removed (a later
//! append recreates it).
//!
//! The loop above (batching, lingering, flushes, the sweep timer) is the backend's seam: it hands
//! each batch to a [`Batches`], here [`SqliteBatches`], or `pg::writer::PgBatches` for
//! PostgreSQL. API writes take a [`WriteCtx`] of either backend.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::pg::writer::PgCtx;
use crate::query::{group_id_sqlite as group_id, stream_id_sqlite as stream_id};
use crate::{
    Clock, EVENT_OVERHEAD_BYTES, GROUP_EXISTS, GROUP_NOT_FOUND, LogLimits, LogsError, Options, STREAM_EXISTS,
    STREAM_NOT_FOUND, Shared,
};

/// Most jobs run in one transaction.
pub(crate) const WRITE_BATCH_MAX: usize = 1024;
/// How long the writer waits for more appends after the first of a batch, so that a stream of
/// small appends (one per invocation) costs one commit per interval instead of one each. API
/// writes and flushes end the wait within [`LINGER_POLL`].
pub(crate) const APPEND_LINGER: Duration = Duration::from_millis(10);
/// How often a lingering writer looks at its queue (so an API write or flush waits at most
/// this long for the linger to end).
pub(crate) const LINGER_POLL: Duration = Duration::from_millis(2);
/// Most (group, stream) ids a batch remembers; appends beyond it look the ids up again.
pub(crate) const IDS_CACHED_MAX: usize = 4096;
/// Most rows one `INSERT` carries (6 parameters each). Rows go in statements of 32, 16, 8, 4, 2
/// and 1 rows, so the writer prepares at most six insert statements.
pub(crate) const INSERT_ROWS_MAX: usize = 32;
/// Events a batch holds before inserting them (they are also inserted before each API write and
/// before the batch's limits are enforced).
pub(crate) const ROWS_PENDING_MAX: usize = 1024;
/// Prepared statements the writer's connection keeps (the six inserts and the rest of its
/// statements fit; rusqlite's default is 16).
const STATEMENTS_CACHED_MAX: usize = 64;
const MS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

pub(crate) enum Job {
    Append(Box<AppendJob>),
    Write(Box<dyn WriteJob>),
    Flush(oneshot::Sender<Result<(), LogsError>>),
}

/// Events for one stream, from [`crate::Logs::append`].
pub(crate) struct AppendJob {
    pub account: String,
    pub region: String,
    pub group: String,
    pub stream: String,
    pub events: Vec<(i64, String)>,
    /// What the job counts against the queue's byte budget.
    pub bytes: usize,
}

/// An API write: runs inside the batch, answers after the commit.
pub(crate) trait WriteJob: Send {
    /// Runs the change; `false` rolls its savepoint (or transaction) back.
    fn run(&mut self, ctx: &mut WriteCtx<'_, '_>) -> bool;
    /// Answers the caller with the outcome of the batch's commit.
    fn complete(self: Box<Self>, committed: Result<(), LogsError>);
}

struct Op<T, F> {
    f: Option<F>,
    result: Option<Result<T, LogsError>>,
    reply: oneshot::Sender<Result<T, LogsError>>,
}

/// Wraps a closure as a [`WriteJob`] that sends its result to `reply`.
pub(crate) fn write_job<T, F>(f: F, reply: oneshot::Sender<Result<T, LogsError>>) -> Box<dyn WriteJob>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_, '_>) -> Result<T, LogsError> + Send + 'static,
{
    Box::new(Op { f: Some(f), result: None, reply })
}

impl<T, F> WriteJob for Op<T, F>
where
    T: Send,
    F: FnOnce(&mut WriteCtx<'_, '_>) -> Result<T, LogsError> + Send,
{
    fn run(&mut self, ctx: &mut WriteCtx<'_, '_>) -> bool {
        let result = match self.f.take() {
            Some(f) => f(ctx),
            None => Err(LogsError::Database("a write job ran twice".to_owned())),
        };
        let keep = result.is_ok();
        self.result = Some(result);
        keep
    }

    fn complete(self: Box<Self>, committed: Result<(), LogsError>) {
        let answer = match (self.result, committed) {
            // The job's own refusal stands whatever happened to the batch.
            (Some(Err(e)), _) => Err(e),
            (_, Err(e)) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (None, Ok(())) => Err(LogsError::Database("a write job did not run".to_owned())),
        };
        let _ = self.reply.send(answer);
    }
}

/// Counter changes of one stream that the batch has not written yet.
#[derive(Debug, Clone, Copy)]
struct StreamDelta {
    first_ms: i64,
    last_ms: i64,
    bytes: i64,
    uploads: i64,
}

/// What an API write sees: the backend's open transaction and the batch's clock.
pub(crate) enum WriteCtx<'a, 'c> {
    Sqlite(&'a mut SqliteCtx<'c>),
    Postgres(&'a mut PgCtx<'c>),
}

/// What a SQLite write sees: the writer's connection inside the open transaction, the batch's
/// clock, and the counters it has yet to write.
pub(crate) struct SqliteCtx<'c> {
    conn: &'c Connection,
    now_ms: i64,
    default_retention_days: Option<u32>,
    streams: HashMap<i64, StreamDelta>,
    groups: HashMap<i64, i64>,
    /// Groups that received events: their limits are enforced before the commit.
    touched: HashSet<i64>,
    /// (group id, stream id) by `account\0region\0group\0stream`; cleared around API writes,
    /// which may delete groups and streams.
    ids: HashMap<String, (i64, i64)>,
    /// Events appended but not inserted yet, in order: they go in multi-row `INSERT`s
    /// (a row costs a few B-tree inserts; a statement costs much more). At most
    /// [`ROWS_PENDING_MAX`].
    rows: Vec<Row>,
}

/// One event waiting in [`SqliteCtx::rows`].
struct Row {
    group_id: i64,
    stream_id: i64,
    timestamp_ms: i64,
    bytes: i64,
    message: String,
}

/// `INSERT OR FAIL INTO log_events … VALUES (…), (…)` for `n` rows. `OR FAIL`, not the default
/// `ABORT`: an aborting multi-row statement needs a statement journal (a copy of every page it
/// touches, to undo its own rows), about a tenth of this writer's CPU under invoke load, while a
/// failed statement here fails its whole batch, which is rolled back anyway.
fn insert_sql(n: usize) -> String {
    let mut sql = String::from(
        "INSERT OR FAIL INTO log_events (group_id, stream_id, timestamp_ms, ingestion_ms, bytes, message) VALUES ",
    );
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        let p = i * 6;
        sql.push_str(&format!("(?{}, ?{}, ?{}, ?{}, ?{}, ?{})", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6));
    }
    sql
}

/// The insert statements' text, for 32, 16, 8, 4, 2 and 1 rows (largest first).
fn insert_statements() -> &'static [(usize, String)] {
    static SQL: std::sync::OnceLock<Vec<(usize, String)>> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let mut out = Vec::new();
        let mut n = INSERT_ROWS_MAX;
        while n >= 1 {
            out.push((n, insert_sql(n)));
            n /= 2;
        }
        out
    })
}

impl<'c> SqliteCtx<'c> {
    fn new(conn: &'c Connection, now_ms: i64, default_retention_days: Option<u32>) -> SqliteCtx<'c> {
        SqliteCtx {
            conn,
            now_ms,
            default_retention_days,
            streams: HashMap::new(),
            groups: HashMap::new(),
            touched: HashSet::new(),
            ids: HashMap::new(),
            rows: Vec::new(),
        }
    }

    /// Takes the job's events (inserted by [`SqliteCtx::insert_rows`], at the latest before the
    /// batch's limits are enforced or an API write runs).
    fn append(&mut self, job: &mut AppendJob) -> Result<(), LogsError> {
        let key = format!("{}\0{}\0{}\0{}", job.account, job.region, job.group, job.stream);
        let (group, stream) = match self.ids.get(&key) {
            Some(&ids) => ids,
            None => {
                let group = self.ensure_group(&job.account, &job.region, &job.group)?;
                let stream = self.ensure_stream(group, &job.stream)?;
                if self.ids.len() >= IDS_CACHED_MAX {
                    self.ids.clear();
                }
                self.ids.insert(key, (group, stream));
                (group, stream)
            }
        };
        self.insert_events(group, stream, std::mem::take(&mut job.events))
    }

    fn ensure_group(&mut self, account: &str, region: &str, name: &str) -> Result<i64, LogsError> {
        if let Some(id) = group_id(self.conn, account, region, name)? {
            return Ok(id);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO log_groups (account, region, name, created_ms, retention_days) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![account, region, name, self.now_ms, self.default_retention_days])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn ensure_stream(&mut self, group_id: i64, name: &str) -> Result<i64, LogsError> {
        if let Some(id) = stream_id(self.conn, group_id, name)? {
            return Ok(id);
        }
        self.conn
            .prepare_cached("INSERT INTO log_streams (group_id, name, created_ms) VALUES (?1, ?2, ?3)")?
            .execute(params![group_id, name, self.now_ms])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn insert_events(&mut self, group_id: i64, stream_id: i64, events: Vec<(i64, String)>) -> Result<(), LogsError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut delta = StreamDelta { first_ms: i64::MAX, last_ms: i64::MIN, bytes: 0, uploads: 1 };
        for (timestamp_ms, message) in events {
            let bytes = (message.len() + EVENT_OVERHEAD_BYTES) as i64;
            delta.first_ms = delta.first_ms.min(timestamp_ms);
            delta.last_ms = delta.last_ms.max(timestamp_ms);
            delta.bytes += bytes;
            self.rows.push(Row { group_id, stream_id, timestamp_ms, bytes, message });
            if self.rows.len() >= ROWS_PENDING_MAX {
                self.insert_rows()?;
            }
        }
        let pending = self.streams.entry(stream_id).or_insert(StreamDelta { bytes: 0, uploads: 0, ..delta });
        pending.first_ms = pending.first_ms.min(delta.first_ms);
        pending.last_ms = pending.last_ms.max(delta.last_ms);
        pending.bytes += delta.bytes;
        pending.uploads += delta.uploads;
        *self.groups.entry(group_id).or_default() += delta.bytes;
        self.touched.insert(group_id);
        Ok(())
    }

    /// Inserts the pending events, in their order, with as few statements as it takes.
    fn insert_rows(&mut self) -> Result<(), LogsError> {
        let rows = std::mem::take(&mut self.rows);
        let mut rest = &rows[..];
        while !rest.is_empty() {
            let (n, sql) = insert_statements()
                .iter()
                .find(|(n, _)| *n <= rest.len())
                .expect("the one-row statement fits any non-empty rest");
            let (chunk, after) = rest.split_at(*n);
            let mut insert = self.conn.prepare_cached(sql)?;
            for (i, r) in chunk.iter().enumerate() {
                let p = i * 6;
                insert.raw_bind_parameter(p + 1, r.group_id)?;
                insert.raw_bind_parameter(p + 2, r.stream_id)?;
                insert.raw_bind_parameter(p + 3, r.timestamp_ms)?;
                insert.raw_bind_parameter(p + 4, self.now_ms)?;
                insert.raw_bind_parameter(p + 5, r.bytes)?;
                insert.raw_bind_parameter(p + 6, r.message.as_str())?;
            }
            insert.raw_execute()?;
            rest = after;
        }
        // Keep the buffer's allocation for the next events.
        let mut rows = rows;
        rows.clear();
        self.rows = rows;
        Ok(())
    }

    /// Inserts the pending events and writes the counter changes of the events so far.
    fn apply_counters(&mut self) -> Result<(), LogsError> {
        self.insert_rows()?;
        let mut update_stream = self.conn.prepare_cached(
            "UPDATE log_streams SET first_event_ms = min(ifnull(first_event_ms, ?2), ?2), \
             last_event_ms = max(ifnull(last_event_ms, ?3), ?3), last_ingestion_ms = ?4, \
             upload_sequence = upload_sequence + ?5, stored_bytes = stored_bytes + ?6 WHERE id = ?1",
        )?;
        for (id, d) in self.streams.drain() {
            update_stream.execute(params![id, d.first_ms, d.last_ms, self.now_ms, d.uploads, d.bytes])?;
        }
        let mut update_group =
            self.conn.prepare_cached("UPDATE log_groups SET stored_bytes = stored_bytes + ?2 WHERE id = ?1")?;
        for (id, bytes) in self.groups.drain() {
            update_group.execute(params![id, bytes])?;
        }
        Ok(())
    }

    fn discard_counters(&mut self) {
        self.rows.clear();
        self.streams.clear();
        self.groups.clear();
    }
}

/// One backend's side of the writer thread: it runs each batch the loop collects.
pub(crate) trait Batches {
    /// Runs `batch` (draining it): commits its appends and writes, enforces the limits on the
    /// groups that received events (and, with `sweep_all`, the retention of every group), then
    /// answers the writes and flushes.
    fn run_batch(&mut self, batch: &mut Vec<Job>, now_ms: i64, sweep_all: bool);
    /// The periodic retention sweep when no job arrived for a whole interval.
    fn sweep_alone(&mut self, now_ms: i64);
}

/// Owns the writer thread; dropping it waits for the thread, which exits once the queue's
/// senders are gone and what they queued is committed.
pub(crate) struct WriterThread {
    handle: Option<JoinHandle<()>>,
}

impl WriterThread {
    /// Starts the thread; `make` runs on it first (a PostgreSQL client must be created on the
    /// thread that uses it) and its failure is returned here.
    pub(crate) fn spawn(
        make: impl FnOnce() -> Result<Box<dyn Batches>, LogsError> + Send + 'static,
        rx: Receiver<Job>,
        options: &Options,
    ) -> Result<WriterThread, LogsError> {
        let clock = options.clock.clone();
        let sweep_interval = options.sweep_interval;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("versa-logs-writer".to_owned())
            .spawn(move || {
                let batches = match make() {
                    Ok(batches) => {
                        let _ = ready_tx.send(Ok(()));
                        batches
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let writer = Writer { batches, rx, clock, sweep_interval, last_sweep: Instant::now() };
                writer.run();
            })
            .map_err(|e| LogsError::Database(format!("cannot start the log writer thread: {e}")))?;
        let thread = WriterThread { handle: Some(handle) };
        ready_rx.recv().map_err(|_| LogsError::Database("the log writer thread panicked".to_owned()))??;
        Ok(thread)
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

struct Writer {
    batches: Box<dyn Batches>,
    rx: Receiver<Job>,
    clock: Clock,
    sweep_interval: Duration,
    last_sweep: Instant,
}

impl Writer {
    fn run(mut self) {
        let mut batch: Vec<Job> = Vec::with_capacity(WRITE_BATCH_MAX);
        loop {
            let next = if self.sweep_interval.is_zero() {
                self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                self.rx.recv_timeout(self.sweep_interval.saturating_sub(self.last_sweep.elapsed()))
            };
            match next {
                Ok(job) => batch.push(job),
                Err(RecvTimeoutError::Timeout) => {
                    self.batches.sweep_alone((self.clock)());
                    self.last_sweep = Instant::now();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let linger_until = Instant::now() + APPEND_LINGER;
            while batch.len() < WRITE_BATCH_MAX {
                let waiting_caller = batch.iter().any(|j| !matches!(j, Job::Append(_)));
                let job = match self.rx.try_recv() {
                    Ok(job) => Some(job),
                    Err(_) if waiting_caller => None,
                    Err(_) => {
                        // Sleep instead of waiting on the queue: at thousands of invocations a
                        // second every append would wake this thread otherwise.
                        let left = linger_until.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            None
                        } else {
                            std::thread::sleep(left.min(LINGER_POLL));
                            continue;
                        }
                    }
                };
                match job {
                    Some(job) => batch.push(job),
                    None => break,
                }
            }
            let sweep_all = self.last_sweep.elapsed() >= self.sweep_interval;
            self.batches.run_batch(&mut batch, (self.clock)(), sweep_all);
            if sweep_all {
                self.last_sweep = Instant::now();
            }
        }
    }
}

/// The SQLite side: one connection, one transaction per batch, a savepoint per API write.
pub(crate) struct SqliteBatches {
    conn: Connection,
    limits: LogLimits,
    shared: Arc<Shared>,
}

impl SqliteBatches {
    pub(crate) fn new(conn: Connection, limits: LogLimits, shared: Arc<Shared>) -> SqliteBatches {
        conn.set_prepared_statement_cache_capacity(STATEMENTS_CACHED_MAX);
        SqliteBatches { conn, limits, shared }
    }
}

impl Batches for SqliteBatches {
    fn run_batch(&mut self, batch: &mut Vec<Job>, now_ms: i64, sweep_all: bool) {
        let mut ctx = SqliteCtx::new(&self.conn, now_ms, self.limits.default_retention_days);
        let mut failure: Option<LogsError> = self.conn.execute_batch("BEGIN IMMEDIATE").err().map(LogsError::from);
        let began = failure.is_none();
        let mut writes = Vec::new();
        let mut flushes = Vec::new();
        let mut appended = 0u64;
        for job in batch.drain(..) {
            match job {
                Job::Append(mut append) => {
                    self.shared.queued_bytes.fetch_sub(append.bytes, Ordering::Relaxed);
                    appended += append.events.len() as u64;
                    if failure.is_none()
                        && let Err(e) = ctx.append(&mut append)
                    {
                        failure = Some(e);
                    }
                }
                Job::Write(mut write) => {
                    if failure.is_none()
                        && let Err(e) = run_write(&mut ctx, write.as_mut())
                    {
                        failure = Some(e);
                    }
                    writes.push(write);
                }
                Job::Flush(reply) => flushes.push(reply),
            }
        }
        if failure.is_none()
            && let Err(e) = finish_batch(&mut ctx, &self.limits, sweep_all)
        {
            failure = Some(e);
        }
        let outcome = match failure {
            None => self.conn.execute_batch("COMMIT").map_err(LogsError::from),
            Some(e) => Err(e),
        };
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "log batch failed; its events are lost");
            if began {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            self.shared.count_dropped(appended);
        }
        for write in writes {
            write.complete(outcome.clone());
        }
        for reply in flushes {
            let _ = reply.send(outcome.clone());
        }
    }

    fn sweep_alone(&mut self, now_ms: i64) {
        let result = self.conn.execute_batch("BEGIN IMMEDIATE").map_err(LogsError::from).and_then(|()| {
            sweep_retention(&self.conn, now_ms)?;
            self.conn.execute_batch("COMMIT").map_err(LogsError::from)
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "log retention sweep failed");
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

fn run_write(ctx: &mut SqliteCtx<'_>, job: &mut dyn WriteJob) -> Result<(), LogsError> {
    ctx.apply_counters()?;
    ctx.ids.clear();
    ctx.conn.execute_batch("SAVEPOINT api_write")?;
    if job.run(&mut WriteCtx::Sqlite(ctx)) {
        ctx.apply_counters()?;
        ctx.conn.execute_batch("RELEASE api_write")?;
    } else {
        ctx.discard_counters();
        ctx.conn.execute_batch("ROLLBACK TO api_write; RELEASE api_write")?;
    }
    ctx.ids.clear();
    Ok(())
}

/// Writes the batch's counters and enforces retention and the size limits.
fn finish_batch(ctx: &mut SqliteCtx<'_>, limits: &LogLimits, sweep_all: bool) -> Result<(), LogsError> {
    ctx.apply_counters()?;
    let touched: Vec<i64> = ctx.touched.drain().collect();
    for &group in &touched {
        enforce_group(ctx.conn, group, ctx.now_ms, limits.max_bytes_per_group)?;
    }
    if sweep_all {
        sweep_retention(ctx.conn, ctx.now_ms)?;
    }
    if !touched.is_empty() {
        evict_total(ctx.conn, limits.max_total_bytes)?;
    }
    Ok(())
}

pub(crate) fn retention_cutoff(now_ms: i64, days: u32) -> i64 {
    now_ms.saturating_sub(i64::from(days).saturating_mul(MS_PER_DAY))
}

/// Applies a group's retention, then its size limit.
fn enforce_group(conn: &Connection, group: i64, now_ms: i64, max_bytes: u64) -> Result<(), LogsError> {
    let read = |conn: &Connection| -> Result<Option<(Option<u32>, i64)>, LogsError> {
        Ok(conn
            .prepare_cached("SELECT retention_days, stored_bytes FROM log_groups WHERE id = ?1")?
            .query_row(params![group], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    };
    let Some((retention, _)) = read(conn)? else { return Ok(()) };
    if let Some(days) = retention {
        expire(conn, group, retention_cutoff(now_ms, days))?;
    }
    let Some((_, stored)) = read(conn)? else { return Ok(()) };
    let excess = u64::try_from(stored).unwrap_or(0).saturating_sub(max_bytes);
    if excess > 0 {
        evict_group(conn, group, excess)?;
    }
    Ok(())
}

/// Deletes the events of every group with a retention that are older than it.
fn sweep_retention(conn: &Connection, now_ms: i64) -> Result<(), LogsError> {
    let groups = conn
        .prepare_cached("SELECT id, retention_days FROM log_groups WHERE retention_days IS NOT NULL")?
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    for (group, days) in groups {
        expire(conn, group, retention_cutoff(now_ms, days))?;
    }
    Ok(())
}

/// Deletes a group's events with a timestamp before `cutoff_ms`.
fn expire(conn: &Connection, group: i64, cutoff_ms: i64) -> Result<(), LogsError> {
    let mut removed = Removed::default();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT stream_id, sum(bytes) FROM log_events WHERE group_id = ?1 AND timestamp_ms < ?2 GROUP BY stream_id",
        )?;
        let mut rows = stmt.query(params![group, cutoff_ms])?;
        while let Some(row) = rows.next()? {
            removed.add(row.get(0)?, group, row.get(1)?);
        }
    }
    if removed.is_empty() {
        return Ok(());
    }
    conn.prepare_cached("DELETE FROM log_events WHERE group_id = ?1 AND timestamp_ms < ?2")?
        .execute(params![group, cutoff_ms])?;
    removed.apply(conn)
}

/// Deletes a group's oldest events (by timestamp) until `excess` bytes are freed.
fn evict_group(conn: &Connection, group: i64, excess: u64) -> Result<(), LogsError> {
    let mut removed = Removed::default();
    let mut freed = 0u64;
    let mut last = None;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT id, timestamp_ms, stream_id, bytes FROM log_events WHERE group_id = ?1 ORDER BY timestamp_ms, id",
        )?;
        let mut rows = stmt.query(params![group])?;
        while freed < excess
            && let Some(row) = rows.next()?
        {
            let bytes: i64 = row.get(3)?;
            removed.add(row.get(2)?, group, bytes);
            freed += u64::try_from(bytes).unwrap_or(0);
            last = Some((row.get::<_, i64>(1)?, row.get::<_, i64>(0)?));
        }
    }
    let Some((timestamp_ms, id)) = last else { return Ok(()) };
    conn.prepare_cached(
        "DELETE FROM log_events WHERE group_id = ?1 AND timestamp_ms <= ?2 AND (timestamp_ms < ?2 OR id <= ?3)",
    )?
    .execute(params![group, timestamp_ms, id])?;
    removed.apply(conn)
}

/// Deletes the earliest ingested events of any group until the total fits `max_bytes`.
fn evict_total(conn: &Connection, max_bytes: u64) -> Result<(), LogsError> {
    let total: i64 = conn.query_row("SELECT ifnull(sum(stored_bytes), 0) FROM log_groups", [], |r| r.get(0))?;
    let excess = u64::try_from(total).unwrap_or(0).saturating_sub(max_bytes);
    if excess == 0 {
        return Ok(());
    }
    let mut removed = Removed::default();
    let mut freed = 0u64;
    let mut last = None;
    {
        let mut stmt = conn.prepare_cached("SELECT id, group_id, stream_id, bytes FROM log_events ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while freed < excess
            && let Some(row) = rows.next()?
        {
            let bytes: i64 = row.get(3)?;
            removed.add(row.get(2)?, row.get(1)?, bytes);
            freed += u64::try_from(bytes).unwrap_or(0);
            last = Some(row.get::<_, i64>(0)?);
        }
    }
    let Some(last) = last else { return Ok(()) };
    conn.prepare_cached("DELETE FROM log_events WHERE id <= ?1")?.execute(params![last])?;
    removed.apply(conn)
}

/// Bytes deleted per stream (and its group), to correct the counters after a deletion.
#[derive(Debug, Default)]
struct Removed {
    streams: HashMap<i64, (i64, i64)>,
}

impl Removed {
    fn add(&mut self, stream: i64, group: i64, bytes: i64) {
        self.streams.entry(stream).or_insert((group, 0)).1 += bytes;
    }

    fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Corrects stream and group counters and event bounds; removes streams left empty.
    fn apply(self, conn: &Connection) -> Result<(), LogsError> {
        let mut groups: HashMap<i64, i64> = HashMap::new();
        for (stream, (group, bytes)) in self.streams {
            *groups.entry(group).or_default() += bytes;
            // Two queries: SQLite answers a lone min() or max() from the index.
            let first: Option<i64> = conn
                .prepare_cached("SELECT min(timestamp_ms) FROM log_events WHERE stream_id = ?1")?
                .query_row(params![stream], |r| r.get(0))?;
            let last: Option<i64> = conn
                .prepare_cached("SELECT max(timestamp_ms) FROM log_events WHERE stream_id = ?1")?
                .query_row(params![stream], |r| r.get(0))?;
            match (first, last) {
                (Some(first), Some(last)) => {
                    conn.prepare_cached(
                        "UPDATE log_streams SET stored_bytes = stored_bytes - ?2, first_event_ms = ?3, \
                         last_event_ms = ?4 WHERE id = ?1",
                    )?
                    .execute(params![stream, bytes, first, last])?;
                }
                _ => {
                    conn.prepare_cached("DELETE FROM log_streams WHERE id = ?1")?.execute(params![stream])?;
                }
            }
        }
        let mut update = conn.prepare_cached("UPDATE log_groups SET stored_bytes = stored_bytes - ?2 WHERE id = ?1")?;
        for (group, bytes) in groups {
            update.execute(params![group, bytes])?;
        }
        Ok(())
    }
}

// API writes: each dispatches to its backend. On SQLite each runs inside its own savepoint, on
// PostgreSQL inside its own transaction; an `Err` undoes it.

pub(crate) fn create_group(
    ctx: &mut WriteCtx<'_, '_>,
    account: &str,
    region: &str,
    name: &str,
) -> Result<(), LogsError> {
    match ctx {
        WriteCtx::Sqlite(c) => create_group_sqlite(c, account, region, name),
        WriteCtx::Postgres(c) => c.create_group(account, region, name),
    }
}

pub(crate) fn delete_group(
    ctx: &mut WriteCtx<'_, '_>,
    account: &str,
    region: &str,
    name: &str,
) -> Result<(), LogsError> {
    match ctx {
        WriteCtx::Sqlite(c) => delete_group_sqlite(c, account, region, name),
        WriteCtx::Postgres(c) => c.delete_group(account, region, name),
    }
}

/// Sets (or with `None` removes) a group's retention and applies it at once.
pub(crate) fn set_retention(
    ctx: &mut WriteCtx<'_, '_>,
    account: &str,
    region: &str,
    name: &str,
    days: Option<u32>,
) -> Result<(), LogsError> {
    match ctx {
        WriteCtx::Sqlite(c) => set_retention_sqlite(c, account, region, name, days),
        WriteCtx::Postgres(c) => c.set_retention(account, region, name, days),
    }
}

pub(crate) fn create_stream(
    ctx: &mut WriteCtx<'_, '_>,
    account: &str,
    region: &str,
    group: &str,
    stream: &str,
) -> Result<(), LogsError> {
    match ctx {
        WriteCtx::Sqlite(c) => create_stream_sqlite(c, account, region, group, stream),
        WriteCtx::Postgres(c) => c.create_stream(account, region, group, stream),
    }
}

pub(crate) fn delete_stream(
    ctx: &mut WriteCtx<'_, '_>,
    account: &str,
    region: &str,
    group: &str,
    stream: &str,
) -> Result<(), LogsError> {
    match ctx {
        WriteCtx::Sqlite(c) => delete_stream_sqlite(c, account, region, group, stream),
        WriteCtx::Postgres(c) => c.delete_stream(account, region, group, stream),
    }
}

/// PutLogEvents: appends to an existing stream and returns the next sequence token.
pub(crate) fn put_events(
    ctx: &mut WriteCtx<'_, '_>,
    account: &str,
    region: &str,
    group: &str,
    stream: &str,
    events: &[(i64, String)],
) -> Result<String, LogsError> {
    let sequence = match ctx {
        WriteCtx::Sqlite(c) => put_events_sqlite(c, account, region, group, stream, events)?,
        WriteCtx::Postgres(c) => c.put_events(account, region, group, stream, events)?,
    };
    Ok(format!("{sequence:056}"))
}

fn existing_group(ctx: &SqliteCtx<'_>, account: &str, region: &str, name: &str) -> Result<i64, LogsError> {
    group_id(ctx.conn, account, region, name)?.ok_or_else(|| LogsError::ResourceNotFound(GROUP_NOT_FOUND.to_owned()))
}

fn existing_stream(ctx: &SqliteCtx<'_>, group: i64, name: &str) -> Result<i64, LogsError> {
    stream_id(ctx.conn, group, name)?.ok_or_else(|| LogsError::ResourceNotFound(STREAM_NOT_FOUND.to_owned()))
}

fn create_group_sqlite(ctx: &mut SqliteCtx<'_>, account: &str, region: &str, name: &str) -> Result<(), LogsError> {
    if group_id(ctx.conn, account, region, name)?.is_some() {
        return Err(LogsError::ResourceAlreadyExists(GROUP_EXISTS.to_owned()));
    }
    ctx.ensure_group(account, region, name)?;
    Ok(())
}

fn delete_group_sqlite(ctx: &mut SqliteCtx<'_>, account: &str, region: &str, name: &str) -> Result<(), LogsError> {
    let group = existing_group(ctx, account, region, name)?;
    ctx.conn.prepare_cached("DELETE FROM log_events WHERE group_id = ?1")?.execute(params![group])?;
    ctx.conn.prepare_cached("DELETE FROM log_streams WHERE group_id = ?1")?.execute(params![group])?;
    ctx.conn.prepare_cached("DELETE FROM log_groups WHERE id = ?1")?.execute(params![group])?;
    Ok(())
}

fn set_retention_sqlite(
    ctx: &mut SqliteCtx<'_>,
    account: &str,
    region: &str,
    name: &str,
    days: Option<u32>,
) -> Result<(), LogsError> {
    let group = existing_group(ctx, account, region, name)?;
    ctx.conn
        .prepare_cached("UPDATE log_groups SET retention_days = ?2 WHERE id = ?1")?
        .execute(params![group, days])?;
    if let Some(days) = days {
        expire(ctx.conn, group, retention_cutoff(ctx.now_ms, days))?;
    }
    Ok(())
}

fn create_stream_sqlite(
    ctx: &mut SqliteCtx<'_>,
    account: &str,
    region: &str,
    group: &str,
    stream: &str,
) -> Result<(), LogsError> {
    let group = existing_group(ctx, account, region, group)?;
    if stream_id(ctx.conn, group, stream)?.is_some() {
        return Err(LogsError::ResourceAlreadyExists(STREAM_EXISTS.to_owned()));
    }
    ctx.ensure_stream(group, stream)?;
    Ok(())
}

fn delete_stream_sqlite(
    ctx: &mut SqliteCtx<'_>,
    account: &str,
    region: &str,
    group: &str,
    stream: &str,
) -> Result<(), LogsError> {
    let group = existing_group(ctx, account, region, group)?;
    let stream = existing_stream(ctx, group, stream)?;
    ctx.conn.prepare_cached("DELETE FROM log_events WHERE stream_id = ?1")?.execute(params![stream])?;
    ctx.conn
        .prepare_cached(
            "UPDATE log_groups SET stored_bytes = stored_bytes - \
             (SELECT stored_bytes FROM log_streams WHERE id = ?2) WHERE id = ?1",
        )?
        .execute(params![group, stream])?;
    ctx.conn.prepare_cached("DELETE FROM log_streams WHERE id = ?1")?.execute(params![stream])?;
    Ok(())
}

fn put_events_sqlite(
    ctx: &mut SqliteCtx<'_>,
    account: &str,
    region: &str,
    group: &str,
    stream: &str,
    events: &[(i64, String)],
) -> Result<i64, LogsError> {
    let group = existing_group(ctx, account, region, group)?;
    let stream = existing_stream(ctx, group, stream)?;
    ctx.insert_events(group, stream, events.to_vec())?;
    ctx.apply_counters()?;
    let sequence: i64 = ctx
        .conn
        .prepare_cached("SELECT upload_sequence FROM log_streams WHERE id = ?1")?
        .query_row(params![stream], |r| r.get(0))?;
    Ok(sequence)
}
