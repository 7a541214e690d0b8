//! PostgreSQL connections, the log tables and their migrations, and the reader threads.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pgconf::redacted;
use postgres::{Client, Config, IsolationLevel, NoTls};
use tokio::sync::oneshot;

use crate::LogsError;
use crate::query::Reader;

/// The advisory lock that serialises migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x7665_7273_615f_6c6d;
/// The advisory lock every transaction that deletes events holds (evictions, retention sweeps,
/// API deletes): one node at a time, so two sweeps never free the same excess twice.
pub(crate) const DELETE_LOCK: i64 = 0x7665_7273_615f_6c64;

/// Schema migrations, applied in order; `logs_schema_version.version` records how many ran.
/// **Invariant:** entries are only ever appended, never edited.
///
/// Names sort bytewise (`COLLATE "C"`), as in SQLite, whatever the database's locale. Messages
/// are the UTF-8 bytes (`bytea`: a log line may hold a NUL, which `text` refuses). Counters are
/// per stream only (see the module doc of `pg`).
const MIGRATIONS: &[&str] = &[
    // 1: groups, streams, events.
    r#"
    CREATE TABLE logs_groups (
        id              bigserial PRIMARY KEY,
        account         text NOT NULL,
        region          text NOT NULL,
        name            text COLLATE "C" NOT NULL,
        created_ms      bigint NOT NULL,
        retention_days  bigint,
        UNIQUE (account, region, name)
    );
    CREATE TABLE logs_streams (
        id                  bigserial PRIMARY KEY,
        group_id            bigint NOT NULL REFERENCES logs_groups (id) ON DELETE CASCADE,
        name                text COLLATE "C" NOT NULL,
        created_ms          bigint NOT NULL,
        first_event_ms      bigint,
        last_event_ms       bigint,
        last_ingestion_ms   bigint,
        upload_sequence     bigint NOT NULL DEFAULT 0,
        stored_bytes        bigint NOT NULL DEFAULT 0,
        UNIQUE (group_id, name)
    );
    CREATE TABLE logs_events (
        id              bigserial PRIMARY KEY,
        group_id        bigint NOT NULL,
        stream_id       bigint NOT NULL,
        timestamp_ms    bigint NOT NULL,
        ingestion_ms    bigint NOT NULL,
        bytes           bigint NOT NULL,
        message         bytea NOT NULL
    );
    CREATE INDEX logs_events_by_stream ON logs_events (stream_id, timestamp_ms, id);
    CREATE INDEX logs_events_by_group ON logs_events (group_id, timestamp_ms, id);
    "#,
];

/// Connection settings for `url`; the URL names the database in messages.
#[derive(Clone)]
pub(crate) struct PgConfig {
    config: Config,
    url: String,
}

impl PgConfig {
    /// Connects; call only on a thread that is not a tokio runtime's.
    pub(crate) fn connect(&self) -> Result<Client, LogsError> {
        self.config.connect(NoTls).map_err(|e| {
            LogsError::Database(format!(
                "cannot connect to PostgreSQL at {}: {}",
                redacted(&self.url),
                LogsError::from(e)
            ))
        })
    }
}

/// Parses `url`, connects once and migrates the log tables (on a thread of its own).
pub(crate) fn prepare(url: &str) -> Result<PgConfig, LogsError> {
    let config = pgconf::config(url, "versa-logs")
        .map_err(|e| LogsError::Database(format!("invalid PostgreSQL URL {}: {e}", redacted(url))))?;
    let config = PgConfig { config, url: url.to_owned() };
    let migrating = config.clone();
    std::thread::Builder::new()
        .name("versa-logs-migrate".to_owned())
        .spawn(move || migrate(&mut migrating.connect()?))
        .map_err(|e| LogsError::Database(format!("cannot start a thread: {e}")))?
        .join()
        .map_err(|_| LogsError::Database("the log store migration panicked".to_owned()))??;
    Ok(config)
}

/// Applies the migrations this database lacks, under an advisory lock (nodes starting together
/// migrate once); refuses a database whose log schema is newer than this binary's.
fn migrate(client: &mut Client) -> Result<(), LogsError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS logs_schema_version (version bigint NOT NULL)")?;
    let applied: i64 = match tx.query_opt("SELECT version FROM logs_schema_version", &[])? {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO logs_schema_version (version) VALUES (0)", &[])?;
            0
        }
    };
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(LogsError::Database(format!(
            "the log tables have schema version {applied}, newer than this Versa knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(sql)?;
        tx.execute("UPDATE logs_schema_version SET version = $1", &[&((i + 1) as i64)])?;
        tracing::info!(version = i + 1, "applied log store migration (PostgreSQL)");
    }
    tx.commit()?;
    Ok(())
}

/// A connection that reconnects when it broke (the database restarted, the network failed).
pub(crate) struct Conn {
    config: PgConfig,
    client: Option<Client>,
    last_used: std::time::Instant,
}

/// A connection idle this long is checked (one empty query) before it is used: one the
/// database dropped while idle (a restart) is only found out when read.
const IDLE_PROBE_AFTER: Duration = Duration::from_secs(1);
const IDLE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Conn {
    pub(crate) fn new(config: PgConfig, client: Client) -> Conn {
        Conn { config, client: Some(client), last_used: std::time::Instant::now() }
    }

    pub(crate) fn client(&mut self) -> Result<&mut Client, LogsError> {
        let idle = std::mem::replace(&mut self.last_used, std::time::Instant::now()).elapsed();
        if self.client.as_ref().is_some_and(Client::is_closed)
            || (idle >= IDLE_PROBE_AFTER
                && self.client.as_mut().is_some_and(|c| c.is_valid(IDLE_PROBE_TIMEOUT).is_err()))
        {
            self.client = None;
        }
        match &mut self.client {
            Some(client) => Ok(client),
            slot => Ok(slot.insert(self.config.connect()?)),
        }
    }
}

type ReadJob = Box<dyn FnOnce(&mut Conn) + Send>;

/// Threads that each own one read connection and run read jobs from one queue.
pub(crate) struct Readers {
    // Field order: the queue closes before the threads are joined.
    jobs: Option<SyncSender<ReadJob>>,
    threads: Vec<JoinHandle<()>>,
}

impl Readers {
    /// Connects `count` readers (each on its own thread); fails if any cannot connect.
    pub(crate) fn start(config: &PgConfig, count: usize) -> Result<Readers, LogsError> {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<ReadJob>(count.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut readers = Readers { jobs: Some(jobs), threads: Vec::new() };
        for i in 0..count.max(1) {
            let (config, rx, ready) = (config.clone(), rx.clone(), ready_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("versa-logs-pg-reader-{i}"))
                .spawn(move || match config.connect() {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        reader_loop(Conn::new(config, client), &rx);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                })
                .map_err(|e| LogsError::Database(format!("cannot start a thread: {e}")))?;
            readers.threads.push(handle);
        }
        drop(ready_tx);
        for _ in 0..count.max(1) {
            // Dropping `readers` on an error ends the threads that connected.
            ready_rx.recv().map_err(|_| LogsError::Database("a log reader thread panicked".to_owned()))??;
        }
        Ok(readers)
    }

    /// Queues `f` for a reader thread; it runs in a REPEATABLE READ READ ONLY transaction.
    pub(crate) fn submit<T, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T, LogsError>>, LogsError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Reader<'_, '_>) -> Result<T, LogsError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn: &mut Conn| {
            let _ = tx.send(read(conn, f));
        });
        let jobs = self.jobs.as_ref().ok_or(LogsError::Closed)?;
        // Callers hold one of as many permits as there are threads, so this never waits long.
        jobs.send(job).map_err(|_| LogsError::Closed)?;
        Ok(rx)
    }
}

fn read<T>(conn: &mut Conn, f: impl FnOnce(&mut Reader<'_, '_>) -> Result<T, LogsError>) -> Result<T, LogsError> {
    let client = conn.client()?;
    let mut tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start()?;
    let value = f(&mut Reader::Postgres(&mut tx))?;
    tx.commit()?;
    Ok(value)
}

fn reader_loop(mut conn: Conn, rx: &Mutex<Receiver<ReadJob>>) {
    loop {
        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // A panicking read answers its caller with an error (its sender is dropped) and the
        // thread keeps serving; a transaction it left open is rolled back when dropped.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
            tracing::error!("a log read panicked");
        }
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.jobs.take();
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}
