//! Function logs: a bounded store of log events and the subset of the CloudWatch Logs API
//! (JSON 1.1, target prefix `Logs_20140328.`) that `aws logs tail`, `aws logs filter-log-events`
//! and the AWS SDKs use.
//!
//! [`Logs`] owns one SQLite database in its own file (WAL, `synchronous=NORMAL`: log events are
//! not acknowledged writes, so a power loss may drop the last ones, but never corrupts the file),
//! or, with [`Logs::open_postgres`], its own tables in a PostgreSQL database that several Versa
//! nodes share (`pg`: the same seam, every node's events visible from every node).
//!
//! - **Writes** go through one bounded queue to one writer thread (`writer`). [`Logs::append`]
//!   never blocks: when the queue is full, the events are dropped and counted ([`Logs::dropped`]).
//!   The writer commits everything queued in one transaction, then enforces retention and the
//!   [`LogLimits`] by deleting the oldest events. API writes (CreateLogGroup, PutLogEvents, ...)
//!   use the same queue but wait for room, and answer after their commit.
//! - **Reads** run on a small pool of read-only connections (`query`), off the async threads.
//! - **The API** (`api`) decodes JSON 1.1 requests, validates them in AWS's order, and renders
//!   answers and errors with CloudWatch's member names and messages. [`Logs::handle`] is the whole
//!   HTTP-free surface: the server routes `X-Amz-Target: Logs_20140328.*` requests to it.
//!
//! Everything is scoped by (account, region); ARNs are computed, never stored.
//!
//! **Invariant:** event ids only grow (`AUTOINCREMENT`), so `eventId`s and paging tokens never
//! point at a different event after deletions.

mod api;
mod db;
mod pattern;
mod pg;
// The throwaway PostgreSQL cluster of the tests, shared with `store`'s (dependency-free).
#[cfg(test)]
#[path = "../../testkit/src/postgres.rs"]
mod pgtest;
#[cfg(test)]
mod proptests;
mod query;
mod writer;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{Semaphore, oneshot};

use crate::query::Reader;
use crate::writer::{AppendJob, Job, WriteCtx};

/// The `X-Amz-Target` prefix of every CloudWatch Logs operation; the server routes on it.
pub const TARGET_PREFIX: &str = "Logs_20140328.";
/// Most jobs (appends, API writes, flushes) waiting for the writer thread.
pub const APPEND_QUEUE_MAX: usize = 16_384;
/// Most bytes of log events waiting for the writer thread; appends beyond it are dropped.
pub const APPEND_QUEUE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// CloudWatch's size of one event: the message's UTF-8 bytes plus this overhead.
pub const EVENT_OVERHEAD_BYTES: usize = 26;
/// CloudWatch's largest event (message plus overhead); longer messages are truncated.
pub const EVENT_BYTES_MAX: usize = 256 * 1024;
/// Largest request body the server should read before calling [`Logs::handle`]: a full
/// PutLogEvents batch (1 MiB of messages) with room for its JSON escaping.
pub const REQUEST_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Read connections, and so the most reads in flight at once.
pub const READ_CONNECTIONS: usize = 4;
/// How often the writer deletes events older than their group's retention, even when idle.
pub const RETENTION_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// The retention periods PutRetentionPolicy accepts, in days.
pub const RETENTION_DAYS: [u32; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// What the store keeps at most. Sizes count each event as CloudWatch does: its message's UTF-8
/// bytes plus [`EVENT_OVERHEAD_BYTES`] (the database file is larger: rows and indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Bytes of events kept per log group; the oldest events (by timestamp) go first.
    pub max_bytes_per_group: u64,
    /// Bytes of events kept in total; the earliest ingested events go first.
    pub max_total_bytes: u64,
    /// Retention given to log groups when they are created (by an append or CreateLogGroup);
    /// `None` keeps events until a limit evicts them. Must be one of [`RETENTION_DAYS`].
    pub default_retention_days: Option<u32>,
}

impl Default for LogLimits {
    fn default() -> LogLimits {
        LogLimits {
            max_bytes_per_group: 64 * 1024 * 1024,
            max_total_bytes: 1024 * 1024 * 1024,
            default_retention_days: None,
        }
    }
}

impl LogLimits {
    fn validate(&self) -> Result<(), LogsError> {
        if self.max_bytes_per_group == 0 || self.max_total_bytes == 0 {
            return Err(LogsError::InvalidLimits("byte limits must be greater than zero".to_owned()));
        }
        if let Some(days) = self.default_retention_days
            && !RETENTION_DAYS.contains(&days)
        {
            return Err(LogsError::InvalidLimits(format!(
                "default retention of {days} days is not one CloudWatch allows ({RETENTION_DAYS:?})"
            )));
        }
        Ok(())
    }
}

/// Everything that can go wrong. The first variants are CloudWatch error codes and carry
/// CloudWatch's message; the last ones are Versa's own failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceAlreadyExists(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Serialization(String),
    #[error("{0}")]
    UnknownOperation(String),
    /// [`LogLimits`] that cannot work; only [`Logs::open`] returns it.
    #[error("invalid log limits: {0}")]
    InvalidLimits(String),
    #[error("log database error: {0}")]
    Database(String),
    #[error("the log store is shut down")]
    Closed,
}

impl LogsError {
    /// The `__type` of the JSON 1.1 error body.
    pub fn code(&self) -> &'static str {
        match self {
            LogsError::ResourceNotFound(_) => "ResourceNotFoundException",
            LogsError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            LogsError::InvalidParameter(_) => "InvalidParameterException",
            LogsError::Validation(_) => "ValidationException",
            LogsError::Serialization(_) => "SerializationException",
            LogsError::UnknownOperation(_) => "UnknownOperationException",
            LogsError::InvalidLimits(_) | LogsError::Database(_) | LogsError::Closed => "ServiceUnavailableException",
        }
    }

    /// The HTTP status: 400 for the caller's mistakes, 500 for Versa's.
    pub fn status(&self) -> u16 {
        match self {
            LogsError::InvalidLimits(_) | LogsError::Database(_) | LogsError::Closed => 500,
            _ => 400,
        }
    }
}

impl From<rusqlite::Error> for LogsError {
    fn from(e: rusqlite::Error) -> LogsError {
        LogsError::Database(e.to_string())
    }
}

impl From<postgres::Error> for LogsError {
    fn from(e: postgres::Error) -> LogsError {
        if let Some(db) = e.as_db_error() {
            return LogsError::Database(format!("{} ({})", db.message(), db.code().code()));
        }
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        LogsError::Database(text)
    }
}

pub(crate) const GROUP_NOT_FOUND: &str = "The specified log group does not exist.";
pub(crate) const STREAM_NOT_FOUND: &str = "The specified log stream does not exist.";
pub(crate) const GROUP_EXISTS: &str = "The specified log group already exists";
pub(crate) const STREAM_EXISTS: &str = "The specified log stream already exists";

/// One answer of [`Logs::handle`]; its content type is [`Response::CONTENT_TYPE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The error code for the `x-amzn-ErrorType` header; `None` on success.
    pub error_type: Option<String>,
}

impl Response {
    pub const CONTENT_TYPE: &'static str = "application/x-amz-json-1.1";
}

/// The wall clock in epoch milliseconds; tests substitute their own.
pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How a store is run; [`Logs::open`] uses the defaults, tests change them.
pub(crate) struct Options {
    pub clock: Clock,
    /// Zero sweeps after every batch and never while idle.
    pub sweep_interval: Duration,
    pub queue_bytes_max: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            clock: Arc::new(stdx::time::now_ms),
            sweep_interval: RETENTION_SWEEP_INTERVAL,
            queue_bytes_max: APPEND_QUEUE_BYTES_MAX,
        }
    }
}

/// State shared with the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Bytes of the appends in the queue; the writer subtracts what it takes.
    pub queued_bytes: AtomicUsize,
    /// Events dropped: queue full, or their batch failed to commit.
    pub dropped: AtomicU64,
}

impl Shared {
    pub(crate) fn count_dropped(&self, events: u64) {
        if events == 0 {
            return;
        }
        if self.dropped.fetch_add(events, Ordering::Relaxed) == 0 {
            tracing::warn!(events, "dropping log events; further drops are only counted");
        }
    }
}

/// The log store and API. A cheap handle: clones share one database and writer thread, which
/// stops (after committing what is queued) when the last clone is dropped.
#[derive(Clone)]
pub struct Logs {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logs").field("dropped", &self.dropped()).finish_non_exhaustive()
    }
}

struct Inner {
    // Field order matters: fields drop in order, so the queue closes before `_writer` joins the
    // thread, which then commits what is queued and exits.
    jobs: SyncSender<Job>,
    _writer: writer::WriterThread,
    shared: Arc<Shared>,
    readers: Readers,
    read_permits: Arc<Semaphore>,
    queue_bytes_max: usize,
}

/// The read side of a backend.
enum Readers {
    /// Read-only connections to the SQLite file, leased per read.
    Sqlite(Arc<Mutex<Vec<Connection>>>),
    /// Threads that each own one PostgreSQL connection.
    Postgres(pg::db::Readers),
}

impl Logs {
    /// Opens (creating and migrating if needed) the log database at `path` and starts its writer.
    pub fn open(path: &Path, limits: LogLimits) -> Result<Logs, LogsError> {
        Logs::open_with(path, limits, Options::default())
    }

    /// Opens the log tables in the PostgreSQL database at `url` (a libpq URL or keyword string),
    /// creating and migrating them if needed, and starts this node's writer and readers. Several
    /// nodes may open the same database: each sees every node's events. Blocks while connecting;
    /// safe to call on an async thread (every connection lives on a thread of its own).
    pub fn open_postgres(url: &str, limits: LogLimits) -> Result<Logs, LogsError> {
        Logs::open_postgres_with(url, limits, Options::default())
    }

    pub(crate) fn open_with(path: &Path, limits: LogLimits, options: Options) -> Result<Logs, LogsError> {
        limits.validate()?;
        let conn = db::open_writer(path)?;
        let readers = (0..READ_CONNECTIONS).map(|_| db::open_reader(path)).collect::<Result<Vec<_>, _>>()?;
        let shared = Arc::new(Shared::default());
        let batches = writer::SqliteBatches::new(conn, limits, shared.clone());
        Logs::start(Readers::Sqlite(Arc::new(Mutex::new(readers))), move || Ok(Box::new(batches)), &options, shared)
    }

    pub(crate) fn open_postgres_with(url: &str, limits: LogLimits, options: Options) -> Result<Logs, LogsError> {
        limits.validate()?;
        let config = pg::db::prepare(url)?;
        let readers = pg::db::Readers::start(&config, READ_CONNECTIONS)?;
        let shared = Arc::new(Shared::default());
        let writer_shared = shared.clone();
        let make = move || -> Result<Box<dyn writer::Batches>, LogsError> {
            Ok(Box::new(pg::writer::PgBatches::connect(config, limits, writer_shared)?))
        };
        Logs::start(Readers::Postgres(readers), make, &options, shared)
    }

    /// Starts the writer thread (`make` runs on it and opens its side of the backend).
    fn start(
        readers: Readers,
        make: impl FnOnce() -> Result<Box<dyn writer::Batches>, LogsError> + Send + 'static,
        options: &Options,
        shared: Arc<Shared>,
    ) -> Result<Logs, LogsError> {
        let (jobs, rx) = std::sync::mpsc::sync_channel(APPEND_QUEUE_MAX);
        let writer = writer::WriterThread::spawn(make, rx, options)?;
        Ok(Logs {
            inner: Arc::new(Inner {
                jobs,
                _writer: writer,
                shared,
                readers,
                read_permits: Arc::new(Semaphore::new(READ_CONNECTIONS)),
                queue_bytes_max: options.queue_bytes_max,
            }),
        })
    }

    /// Queues `events` (timestamp in epoch milliseconds, message) for `stream` of `group`,
    /// creating both on first use. Never blocks: when the queue is full the events are dropped
    /// and counted. Messages longer than CloudWatch's event limit are truncated.
    pub fn append(&self, account: &str, region: &str, group: &str, stream: &str, events: Vec<(i64, String)>) {
        let mut events = events;
        for (_, message) in &mut events {
            truncate_message(message);
        }
        let count = events.len() as u64;
        let bytes = events.iter().map(|(_, m)| m.len() + EVENT_OVERHEAD_BYTES).sum::<usize>()
            + account.len()
            + region.len()
            + group.len()
            + stream.len();
        let shared = &self.inner.shared;
        let before = shared.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.inner.queue_bytes_max {
            shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            shared.count_dropped(count);
            return;
        }
        let job = Job::Append(Box::new(AppendJob {
            account: account.to_owned(),
            region: region.to_owned(),
            group: group.to_owned(),
            stream: stream.to_owned(),
            events,
            bytes,
        }));
        if self.inner.jobs.try_send(job).is_err() {
            shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            shared.count_dropped(count);
        }
    }

    /// Waits until everything appended before this call is committed (or its batch failed).
    pub async fn flush(&self) -> Result<(), LogsError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Flush(tx)).await?;
        rx.await.map_err(|_| LogsError::Closed)?
    }

    /// Events dropped so far because the queue was full or their batch failed to commit.
    pub fn dropped(&self) -> u64 {
        self.inner.shared.dropped.load(Ordering::Relaxed)
    }

    /// Serves one CloudWatch Logs request: `target` is the `X-Amz-Target` header (e.g.
    /// `Logs_20140328.FilterLogEvents`) and `body` the JSON request. Never fails: errors are
    /// JSON 1.1 error answers.
    pub async fn handle(&self, account: &str, region: &str, target: &str, body: &[u8]) -> Response {
        api::handle(self, account, region, target, body).await
    }

    /// Runs `f` on the writer thread inside the next batch's transaction (SQLite: in its own
    /// savepoint; PostgreSQL: in a transaction of its own; an `Err` undoes only its changes) and
    /// answers after the commit.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, LogsError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_, '_>) -> Result<T, LogsError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Write(writer::write_job(f, tx))).await?;
        rx.await.map_err(|_| LogsError::Closed)?
    }

    /// Runs `f` in a read transaction (one snapshot) on a pooled read connection, off the async
    /// threads.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, LogsError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Reader<'_, '_>) -> Result<T, LogsError> + Send + 'static,
    {
        let permit = self.inner.read_permits.clone().acquire_owned().await.map_err(|_| LogsError::Closed)?;
        match &self.inner.readers {
            Readers::Sqlite(readers) => {
                let readers = readers.clone();
                let joined = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    db::Lease::take(readers)?.run(|conn| f(&mut Reader::Sqlite(conn)))
                })
                .await;
                joined.map_err(|_| LogsError::Database("a log read panicked".to_owned()))?
            }
            Readers::Postgres(readers) => {
                // The permit goes with the job: a caller that stops waiting does not free a
                // reader thread that is still busy with its read.
                let answer = readers.submit(move |reader: &mut Reader<'_, '_>| {
                    let _permit = permit;
                    f(reader)
                })?;
                answer.await.map_err(|_| LogsError::Database("a log read panicked".to_owned()))?
            }
        }
    }

    /// Queues a job that must not be dropped, waiting (off the async threads) for room.
    async fn send(&self, job: Job) -> Result<(), LogsError> {
        match self.inner.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(LogsError::Closed),
            Err(TrySendError::Full(job)) => {
                let jobs = self.inner.jobs.clone();
                let sent = tokio::task::spawn_blocking(move || jobs.send(job).is_ok()).await;
                if sent.unwrap_or(false) { Ok(()) } else { Err(LogsError::Closed) }
            }
        }
    }
}

/// Cuts `message` so that the event fits [`EVENT_BYTES_MAX`], at a character boundary.
pub(crate) fn truncate_message(message: &mut String) {
    let max = EVENT_BYTES_MAX - EVENT_OVERHEAD_BYTES;
    if message.len() > max {
        let mut end = max;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
}
