//! The writer thread's PostgreSQL side, and the API writes on PostgreSQL.
//!
//! A batch's appends commit in **one transaction** with `SET LOCAL synchronous_commit = off`
//! (log events are not acknowledged writes, like SQLite's `synchronous=NORMAL`): the streams'
//! rows are locked in ascending id order, their counters updated by one statement, and the
//! events inserted by multi-row INSERTs (`unnest` of arrays, [`INSERT_ROWS_MAX`] rows each).
//! Groups and streams are created beforehand in autocommit statements (`INSERT … ON CONFLICT DO
//! NOTHING`), so a batch never holds an insert lock that another node's batch could wait on.
//! Their ids are cached across batches; a stream another node deleted meanwhile shows up as a
//! missing row when locked, and is created again once (its events are dropped if it vanishes
//! twice).
//!
//! An API write runs in its own transaction (durable commit), after the appends queued before
//! it. Limits are enforced after the batch's commits: cheap checks first, and only when
//! something is over, a transaction under [`DELETE_LOCK`] deletes (retention, group size, total
//! size, with `DELETE … RETURNING` so the counters subtract exactly what went), then fixes the
//! streams' counters with their rows locked in id order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use postgres::error::SqlState;
use postgres::{GenericClient, Transaction};

use crate::pg::db::{Conn, DELETE_LOCK, PgConfig};
use crate::query::Position;
use crate::writer::{AppendJob, Batches, IDS_CACHED_MAX, Job, WriteCtx, WriteJob, retention_cutoff};
use crate::{
    EVENT_OVERHEAD_BYTES, GROUP_EXISTS, GROUP_NOT_FOUND, LogLimits, LogsError, STREAM_EXISTS, STREAM_NOT_FOUND, Shared,
};

/// Most events one INSERT statement carries.
pub(crate) const INSERT_ROWS_MAX: usize = 4096;
/// Most event rows one statement reads while looking for where an eviction ends.
const EVICT_SCAN_ROWS: i64 = 1000;

/// The writer thread's connection and what it remembers between batches.
pub(crate) struct PgBatches {
    conn: Conn,
    limits: LogLimits,
    shared: Arc<Shared>,
    /// (group id, stream id) by `account\0region\0group\0stream`.
    ids: HashMap<String, (i64, i64)>,
}

/// Events of one stream in a batch.
struct Append<'a> {
    group: i64,
    stream: i64,
    events: &'a [(i64, String)],
}

fn key_of(job: &AppendJob) -> String {
    format!("{}\0{}\0{}\0{}", job.account, job.region, job.group, job.stream)
}

impl PgBatches {
    /// Connects the writer's client; call on the writer thread.
    pub(crate) fn connect(config: PgConfig, limits: LogLimits, shared: Arc<Shared>) -> Result<PgBatches, LogsError> {
        let client = config.connect()?;
        Ok(PgBatches { conn: Conn::new(config, client), limits, shared, ids: HashMap::new() })
    }

    /// The ids of a job's group and stream, creating them if needed (autocommit).
    fn ids_of(&mut self, job: &AppendJob, now_ms: i64) -> Result<(i64, i64), LogsError> {
        let key = key_of(job);
        if let Some(&ids) = self.ids.get(&key) {
            return Ok(ids);
        }
        let retention = self.limits.default_retention_days;
        let client = self.conn.client()?;
        let mut attempt = 0;
        let ids = loop {
            let group = ensure_group(client, &job.account, &job.region, &job.group, now_ms, retention)?;
            match ensure_stream(client, group, &job.stream, now_ms) {
                Ok(stream) => break (group, stream),
                // The group was deleted by another node in between: create it again, once.
                Err(e) if attempt == 0 && e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        };
        if self.ids.len() >= IDS_CACHED_MAX {
            self.ids.clear();
        }
        self.ids.insert(key, ids);
        Ok(ids)
    }

    /// Commits `jobs` (emptying it) in one transaction; counts what is lost.
    fn commit_appends(
        &mut self,
        jobs: &mut Vec<AppendJob>,
        now_ms: i64,
        touched: &mut BTreeSet<i64>,
    ) -> Result<(), LogsError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let events: u64 = jobs.iter().map(|j| j.events.len() as u64).sum();
        let result = self.try_appends(jobs, now_ms, touched);
        jobs.clear();
        match result {
            Ok(dropped) => {
                self.shared.count_dropped(dropped);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "log batch failed; its events are lost");
                self.shared.count_dropped(events);
                Err(e)
            }
        }
    }

    /// Returns how many events were dropped because their stream vanished twice.
    fn try_appends(&mut self, jobs: &[AppendJob], now_ms: i64, touched: &mut BTreeSet<i64>) -> Result<u64, LogsError> {
        let mut ids = Vec::with_capacity(jobs.len());
        for job in jobs {
            ids.push(self.ids_of(job, now_ms)?);
        }
        let mut retried = false;
        loop {
            let items: Vec<Append<'_>> = jobs
                .iter()
                .zip(&ids)
                .filter(|(job, _)| !job.events.is_empty())
                .map(|(job, &(group, stream))| Append { group, stream, events: &job.events })
                .collect();
            if items.is_empty() {
                return Ok(0);
            }
            let client = self.conn.client()?;
            let mut tx = client.transaction()?;
            tx.batch_execute("SET LOCAL synchronous_commit = off")?;
            let present = lock_streams(&mut tx, items.iter().map(|i| i.stream))?;
            let missing = items.iter().any(|i| !present.contains(&i.stream));
            if missing && !retried {
                drop(tx);
                retried = true;
                for (job, ids) in jobs.iter().zip(ids.iter_mut()) {
                    if !present.contains(&ids.1) {
                        self.ids.remove(&key_of(job));
                        *ids = self.ids_of(job, now_ms)?;
                    }
                }
                continue;
            }
            let (kept, lost): (Vec<Append<'_>>, Vec<Append<'_>>) =
                items.into_iter().partition(|i| present.contains(&i.stream));
            apply_appends(&mut tx, now_ms, &kept)?;
            tx.commit()?;
            touched.extend(kept.iter().map(|i| i.group));
            for item in &lost {
                self.ids.retain(|_, v| v.1 != item.stream);
            }
            return Ok(lost.iter().map(|i| i.events.len() as u64).sum());
        }
    }

    /// Runs one API write in its own transaction.
    fn run_write(&mut self, job: &mut dyn WriteJob, now_ms: i64, touched: &mut BTreeSet<i64>) -> Result<(), LogsError> {
        let default_retention_days = self.limits.default_retention_days;
        let client = self.conn.client()?;
        let tx = client.transaction()?;
        let mut ctx = PgCtx { tx, now_ms, default_retention_days, touched: BTreeSet::new() };
        let keep = job.run(&mut WriteCtx::Postgres(&mut ctx));
        let PgCtx { tx, touched: written, .. } = ctx;
        if keep {
            tx.commit()?;
            touched.extend(written);
        }
        // Not kept: dropping the transaction rolls it back.
        Ok(())
    }

    /// Enforces retention and the size limits on `touched` groups (and, with `sweep_all`, the
    /// retention of every group).
    fn enforce(&mut self, touched: &BTreeSet<i64>, now_ms: i64, sweep_all: bool) -> Result<(), LogsError> {
        if touched.is_empty() && !sweep_all {
            return Ok(());
        }
        let limits = self.limits;
        let client = self.conn.client()?;
        // Most batches have nothing to delete: find out without taking the lock.
        let mut due = sweep_all;
        for &group in touched {
            if due {
                break;
            }
            due = group_over(client, group, now_ms, limits.max_bytes_per_group)?;
        }
        if !due && !touched.is_empty() {
            due = total_bytes(client)? > limits.max_total_bytes;
        }
        if !due {
            return Ok(());
        }
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DELETE_LOCK])?;
        for &group in touched {
            enforce_group(&mut tx, group, now_ms, limits.max_bytes_per_group)?;
        }
        if sweep_all {
            sweep_retention(&mut tx, now_ms)?;
        }
        if !touched.is_empty() {
            evict_total(&mut tx, limits.max_total_bytes)?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Batches for PgBatches {
    fn run_batch(&mut self, batch: &mut Vec<Job>, now_ms: i64, sweep_all: bool) {
        let mut appends: Vec<AppendJob> = Vec::new();
        let mut writes = Vec::new();
        let mut flushes = Vec::new();
        let mut touched = BTreeSet::new();
        let mut failure: Option<LogsError> = None;
        for job in batch.drain(..) {
            match job {
                Job::Append(append) => {
                    self.shared.queued_bytes.fetch_sub(append.bytes, Ordering::Relaxed);
                    appends.push(*append);
                }
                Job::Write(mut write) => {
                    // The appends queued before the write commit before it.
                    if let Err(e) = self.commit_appends(&mut appends, now_ms, &mut touched) {
                        failure = Some(e);
                    }
                    let outcome = self.run_write(write.as_mut(), now_ms, &mut touched);
                    writes.push((write, outcome));
                }
                Job::Flush(reply) => flushes.push(reply),
            }
        }
        if let Err(e) = self.commit_appends(&mut appends, now_ms, &mut touched) {
            failure = Some(e);
        }
        if let Err(e) = self.enforce(&touched, now_ms, sweep_all) {
            tracing::error!(error = %e, "log limits not enforced");
            failure.get_or_insert(e);
        }
        for (write, outcome) in writes {
            write.complete(outcome);
        }
        let outcome = match failure {
            None => Ok(()),
            Some(e) => Err(e),
        };
        for reply in flushes {
            let _ = reply.send(outcome.clone());
        }
    }

    fn sweep_alone(&mut self, now_ms: i64) {
        let result = self.conn.client().and_then(|client| {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DELETE_LOCK])?;
            sweep_retention(&mut tx, now_ms)?;
            tx.commit()?;
            Ok(())
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "log retention sweep failed");
        }
    }
}

/// A log group's id, creating it (with the default retention) if needed.
fn ensure_group(
    client: &mut impl GenericClient,
    account: &str,
    region: &str,
    name: &str,
    now_ms: i64,
    retention_days: Option<u32>,
) -> Result<i64, LogsError> {
    let select = "SELECT id FROM logs_groups WHERE account = $1 AND region = $2 AND name = $3";
    if let Some(row) = client.query_opt(select, &[&account, &region, &name])? {
        return Ok(row.get(0));
    }
    let retention = retention_days.map(i64::from);
    let inserted = client.query_opt(
        "INSERT INTO logs_groups (account, region, name, created_ms, retention_days) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (account, region, name) DO NOTHING RETURNING id",
        &[&account, &region, &name, &now_ms, &retention],
    )?;
    if let Some(row) = inserted {
        return Ok(row.get(0));
    }
    // Another node created it first.
    let row = client.query_opt(select, &[&account, &region, &name])?;
    row.map(|r| r.get(0)).ok_or_else(|| LogsError::Database("a log group vanished while it was created".to_owned()))
}

/// A stream's id, creating it if needed; fails with a foreign key violation when the group is gone.
fn ensure_stream(client: &mut impl GenericClient, group: i64, name: &str, now_ms: i64) -> Result<i64, postgres::Error> {
    let select = "SELECT id FROM logs_streams WHERE group_id = $1 AND name = $2";
    if let Some(row) = client.query_opt(select, &[&group, &name])? {
        return Ok(row.get(0));
    }
    let inserted = client.query_opt(
        "INSERT INTO logs_streams (group_id, name, created_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (group_id, name) DO NOTHING RETURNING id",
        &[&group, &name, &now_ms],
    )?;
    match inserted {
        Some(row) => Ok(row.get(0)),
        None => Ok(client.query_one(select, &[&group, &name])?.get(0)),
    }
}

/// Locks the rows of `streams` in ascending id order (the one order every transaction uses);
/// returns the ids that exist.
fn lock_streams(tx: &mut Transaction<'_>, streams: impl Iterator<Item = i64>) -> Result<HashSet<i64>, LogsError> {
    let ids: BTreeSet<i64> = streams.collect();
    let ids: Vec<i64> = ids.into_iter().collect();
    let rows = tx.query("SELECT id FROM logs_streams WHERE id = ANY($1) ORDER BY id FOR UPDATE", &[&ids])?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Counter changes of one stream.
#[derive(Debug, Clone, Copy)]
struct StreamDelta {
    first_ms: i64,
    last_ms: i64,
    bytes: i64,
    uploads: i64,
}

/// Updates the (locked) streams' counters and inserts the events; returns each stream's upload
/// sequence after the update.
fn apply_appends(tx: &mut Transaction<'_>, now_ms: i64, items: &[Append<'_>]) -> Result<HashMap<i64, i64>, LogsError> {
    let mut deltas: BTreeMap<i64, StreamDelta> = BTreeMap::new();
    let rows: usize = items.iter().map(|i| i.events.len()).sum();
    let (mut groups, mut streams, mut timestamps, mut sizes) =
        (Vec::with_capacity(rows), Vec::with_capacity(rows), Vec::with_capacity(rows), Vec::with_capacity(rows));
    let mut messages: Vec<&[u8]> = Vec::with_capacity(rows);
    for item in items {
        let delta = deltas.entry(item.stream).or_insert(StreamDelta {
            first_ms: i64::MAX,
            last_ms: i64::MIN,
            bytes: 0,
            uploads: 0,
        });
        delta.uploads += 1;
        for (timestamp_ms, message) in item.events {
            let bytes = (message.len() + EVENT_OVERHEAD_BYTES) as i64;
            delta.first_ms = delta.first_ms.min(*timestamp_ms);
            delta.last_ms = delta.last_ms.max(*timestamp_ms);
            delta.bytes += bytes;
            groups.push(item.group);
            streams.push(item.stream);
            timestamps.push(*timestamp_ms);
            sizes.push(bytes);
            messages.push(message.as_bytes());
        }
    }
    if deltas.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = deltas.keys().copied().collect();
    let firsts: Vec<i64> = deltas.values().map(|d| d.first_ms).collect();
    let lasts: Vec<i64> = deltas.values().map(|d| d.last_ms).collect();
    let bytes: Vec<i64> = deltas.values().map(|d| d.bytes).collect();
    let uploads: Vec<i64> = deltas.values().map(|d| d.uploads).collect();
    let sequences = tx.query(
        "UPDATE logs_streams s SET first_event_ms = least(s.first_event_ms, d.first_ms), \
         last_event_ms = greatest(s.last_event_ms, d.last_ms), last_ingestion_ms = $6, \
         upload_sequence = s.upload_sequence + d.uploads, stored_bytes = s.stored_bytes + d.bytes \
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) \
         AS d(id, first_ms, last_ms, bytes, uploads) WHERE s.id = d.id RETURNING s.id, s.upload_sequence",
        &[&ids, &firsts, &lasts, &bytes, &uploads, &now_ms],
    )?;
    let insert = tx.prepare(
        "INSERT INTO logs_events (group_id, stream_id, timestamp_ms, ingestion_ms, bytes, message) \
         SELECT u.g, u.s, u.t, $6, u.b, u.m \
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bytea[]) WITH ORDINALITY \
         AS u(g, s, t, b, m, n) ORDER BY u.n",
    )?;
    let mut start = 0;
    while start < rows {
        let end = (start + INSERT_ROWS_MAX).min(rows);
        tx.execute(
            &insert,
            &[
                &&groups[start..end],
                &&streams[start..end],
                &&timestamps[start..end],
                &&sizes[start..end],
                &&messages[start..end],
                &now_ms,
            ],
        )?;
        start = end;
    }
    Ok(sequences.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Whether a group holds events older than its retention or more bytes than `max_bytes`.
fn group_over(client: &mut impl GenericClient, group: i64, now_ms: i64, max_bytes: u64) -> Result<bool, LogsError> {
    let Some(row) = client.query_opt(
        &format!("SELECT g.retention_days, {} FROM logs_groups g WHERE g.id = $1", crate::pg::query::GROUP_BYTES),
        &[&group],
    )?
    else {
        return Ok(false);
    };
    let stored: i64 = row.get(1);
    if u64::try_from(stored).unwrap_or(0) > max_bytes {
        return Ok(true);
    }
    let Some(days) = row.get::<_, Option<i64>>(0) else { return Ok(false) };
    let cutoff = retention_cutoff(now_ms, u32::try_from(days).unwrap_or(u32::MAX));
    let old = client.query_one(
        "SELECT EXISTS (SELECT 1 FROM logs_events WHERE group_id = $1 AND timestamp_ms < $2)",
        &[&group, &cutoff],
    )?;
    Ok(old.get(0))
}

fn total_bytes(client: &mut impl GenericClient) -> Result<u64, LogsError> {
    let row = client.query_one("SELECT coalesce(sum(stored_bytes), 0)::bigint FROM logs_streams", &[])?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Applies a group's retention, then its size limit. Runs under [`DELETE_LOCK`].
fn enforce_group(tx: &mut Transaction<'_>, group: i64, now_ms: i64, max_bytes: u64) -> Result<(), LogsError> {
    let Some(row) = tx.query_opt("SELECT retention_days FROM logs_groups WHERE id = $1", &[&group])? else {
        return Ok(());
    };
    if let Some(days) = row.get::<_, Option<i64>>(0) {
        expire(tx, group, retention_cutoff(now_ms, u32::try_from(days).unwrap_or(u32::MAX)))?;
    }
    let stored: i64 = tx
        .query_one("SELECT coalesce(sum(stored_bytes), 0)::bigint FROM logs_streams WHERE group_id = $1", &[&group])?
        .get(0);
    let excess = u64::try_from(stored).unwrap_or(0).saturating_sub(max_bytes);
    if excess > 0 {
        evict_group(tx, group, excess)?;
    }
    Ok(())
}

/// Deletes the events of every group with a retention that are older than it.
fn sweep_retention(tx: &mut Transaction<'_>, now_ms: i64) -> Result<(), LogsError> {
    let groups =
        tx.query("SELECT id, retention_days FROM logs_groups WHERE retention_days IS NOT NULL ORDER BY id", &[])?;
    for row in groups {
        let days = u32::try_from(row.get::<_, i64>(1)).unwrap_or(u32::MAX);
        expire(tx, row.get(0), retention_cutoff(now_ms, days))?;
    }
    Ok(())
}

/// Bytes deleted per stream, from a `DELETE … RETURNING stream_id, bytes` summed per stream.
type Removed = BTreeMap<i64, i64>;

fn removed_by(
    tx: &mut Transaction<'_>,
    delete: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Removed, LogsError> {
    let rows = tx.query(
        &format!("WITH d AS ({delete} RETURNING stream_id, bytes) SELECT stream_id, sum(bytes)::bigint FROM d GROUP BY stream_id"),
        params,
    )?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Deletes a group's events with a timestamp before `cutoff_ms`.
fn expire(tx: &mut Transaction<'_>, group: i64, cutoff_ms: i64) -> Result<(), LogsError> {
    let removed =
        removed_by(tx, "DELETE FROM logs_events WHERE group_id = $1 AND timestamp_ms < $2", &[&group, &cutoff_ms])?;
    apply_removed(tx, removed)
}

/// Deletes a group's oldest events (by timestamp) until `excess` bytes are freed.
fn evict_group(tx: &mut Transaction<'_>, group: i64, excess: u64) -> Result<(), LogsError> {
    let mut freed = 0u64;
    let mut at = Position::START;
    let mut last = None;
    'scan: loop {
        let rows = tx.query(
            "SELECT id, timestamp_ms, bytes FROM logs_events WHERE group_id = $1 AND (timestamp_ms, id) > ($2, $3) \
             ORDER BY timestamp_ms, id LIMIT $4",
            &[&group, &at.timestamp_ms, &at.id, &EVICT_SCAN_ROWS],
        )?;
        for row in &rows {
            at = Position { timestamp_ms: row.get(1), id: row.get(0) };
            last = Some(at);
            freed += u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
            if freed >= excess {
                break 'scan;
            }
        }
        if (rows.len() as i64) < EVICT_SCAN_ROWS {
            break;
        }
    }
    let Some(last) = last else { return Ok(()) };
    let removed = removed_by(
        tx,
        "DELETE FROM logs_events WHERE group_id = $1 AND (timestamp_ms, id) <= ($2, $3)",
        &[&group, &last.timestamp_ms, &last.id],
    )?;
    apply_removed(tx, removed)
}

/// Deletes the earliest ingested events of any group until the total fits `max_bytes`.
fn evict_total(tx: &mut Transaction<'_>, max_bytes: u64) -> Result<(), LogsError> {
    let excess = total_bytes(tx)?.saturating_sub(max_bytes);
    if excess == 0 {
        return Ok(());
    }
    let mut freed = 0u64;
    let mut at = 0i64;
    let mut last = None;
    'scan: loop {
        let rows =
            tx.query("SELECT id, bytes FROM logs_events WHERE id > $1 ORDER BY id LIMIT $2", &[&at, &EVICT_SCAN_ROWS])?;
        for row in &rows {
            at = row.get(0);
            last = Some(at);
            freed += u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            if freed >= excess {
                break 'scan;
            }
        }
        if (rows.len() as i64) < EVICT_SCAN_ROWS {
            break;
        }
    }
    let Some(last) = last else { return Ok(()) };
    let removed = removed_by(tx, "DELETE FROM logs_events WHERE id <= $1", &[&last])?;
    apply_removed(tx, removed)
}

/// Corrects the counters and event bounds of the streams that lost events (rows locked in id
/// order first, so the bounds see every committed append); removes streams left empty.
fn apply_removed(tx: &mut Transaction<'_>, removed: Removed) -> Result<(), LogsError> {
    if removed.is_empty() {
        return Ok(());
    }
    lock_streams(tx, removed.keys().copied())?;
    let update = tx.prepare(
        "UPDATE logs_streams SET stored_bytes = stored_bytes - $2, \
         first_event_ms = (SELECT min(timestamp_ms) FROM logs_events WHERE stream_id = $1), \
         last_event_ms = (SELECT max(timestamp_ms) FROM logs_events WHERE stream_id = $1) \
         WHERE id = $1 RETURNING first_event_ms",
    )?;
    for (stream, bytes) in removed {
        let row = tx.query_opt(&update, &[&stream, &bytes])?;
        if let Some(row) = row
            && row.get::<_, Option<i64>>(0).is_none()
        {
            tx.execute("DELETE FROM logs_streams WHERE id = $1", &[&stream])?;
        }
    }
    Ok(())
}

/// What an API write sees on PostgreSQL: its own transaction and the batch's clock.
pub(crate) struct PgCtx<'c> {
    tx: Transaction<'c>,
    now_ms: i64,
    default_retention_days: Option<u32>,
    /// Groups that received events: their limits are enforced after the batch.
    touched: BTreeSet<i64>,
}

impl PgCtx<'_> {
    fn existing_group(&mut self, account: &str, region: &str, name: &str) -> Result<i64, LogsError> {
        let row = self.tx.query_opt(
            "SELECT id FROM logs_groups WHERE account = $1 AND region = $2 AND name = $3",
            &[&account, &region, &name],
        )?;
        row.map(|r| r.get(0)).ok_or_else(|| LogsError::ResourceNotFound(GROUP_NOT_FOUND.to_owned()))
    }

    fn delete_lock(&mut self) -> Result<(), LogsError> {
        self.tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DELETE_LOCK])?;
        Ok(())
    }

    pub(crate) fn create_group(&mut self, account: &str, region: &str, name: &str) -> Result<(), LogsError> {
        let retention = self.default_retention_days.map(i64::from);
        let inserted = self.tx.query_opt(
            "INSERT INTO logs_groups (account, region, name, created_ms, retention_days) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account, region, name) DO NOTHING RETURNING id",
            &[&account, &region, &name, &self.now_ms, &retention],
        )?;
        match inserted {
            Some(_) => Ok(()),
            None => Err(LogsError::ResourceAlreadyExists(GROUP_EXISTS.to_owned())),
        }
    }

    pub(crate) fn delete_group(&mut self, account: &str, region: &str, name: &str) -> Result<(), LogsError> {
        self.delete_lock()?;
        let row = self.tx.query_opt(
            "SELECT id FROM logs_groups WHERE account = $1 AND region = $2 AND name = $3 FOR UPDATE",
            &[&account, &region, &name],
        )?;
        let group: i64 =
            row.map(|r| r.get(0)).ok_or_else(|| LogsError::ResourceNotFound(GROUP_NOT_FOUND.to_owned()))?;
        self.tx.query("SELECT id FROM logs_streams WHERE group_id = $1 ORDER BY id FOR UPDATE", &[&group])?;
        self.tx.execute("DELETE FROM logs_events WHERE group_id = $1", &[&group])?;
        self.tx.execute("DELETE FROM logs_streams WHERE group_id = $1", &[&group])?;
        self.tx.execute("DELETE FROM logs_groups WHERE id = $1", &[&group])?;
        Ok(())
    }

    pub(crate) fn set_retention(
        &mut self,
        account: &str,
        region: &str,
        name: &str,
        days: Option<u32>,
    ) -> Result<(), LogsError> {
        self.delete_lock()?;
        let retention = days.map(i64::from);
        let row = self.tx.query_opt(
            "UPDATE logs_groups SET retention_days = $4 WHERE account = $1 AND region = $2 AND name = $3 RETURNING id",
            &[&account, &region, &name, &retention],
        )?;
        let group: i64 =
            row.map(|r| r.get(0)).ok_or_else(|| LogsError::ResourceNotFound(GROUP_NOT_FOUND.to_owned()))?;
        if let Some(days) = days {
            expire(&mut self.tx, group, retention_cutoff(self.now_ms, days))?;
        }
        Ok(())
    }

    pub(crate) fn create_stream(
        &mut self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
    ) -> Result<(), LogsError> {
        let group = self.existing_group(account, region, group)?;
        let inserted = self.tx.query_opt(
            "INSERT INTO logs_streams (group_id, name, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (group_id, name) DO NOTHING RETURNING id",
            &[&group, &stream, &self.now_ms],
        )?;
        match inserted {
            Some(_) => Ok(()),
            None => Err(LogsError::ResourceAlreadyExists(STREAM_EXISTS.to_owned())),
        }
    }

    pub(crate) fn delete_stream(
        &mut self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
    ) -> Result<(), LogsError> {
        self.delete_lock()?;
        let group = self.existing_group(account, region, group)?;
        let row = self.tx.query_opt(
            "SELECT id FROM logs_streams WHERE group_id = $1 AND name = $2 FOR UPDATE",
            &[&group, &stream],
        )?;
        let stream: i64 =
            row.map(|r| r.get(0)).ok_or_else(|| LogsError::ResourceNotFound(STREAM_NOT_FOUND.to_owned()))?;
        self.tx.execute("DELETE FROM logs_events WHERE stream_id = $1", &[&stream])?;
        self.tx.execute("DELETE FROM logs_streams WHERE id = $1", &[&stream])?;
        Ok(())
    }

    /// PutLogEvents: appends to an existing stream; returns its upload sequence after.
    pub(crate) fn put_events(
        &mut self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        events: &[(i64, String)],
    ) -> Result<i64, LogsError> {
        let group = self.existing_group(account, region, group)?;
        let row =
            self.tx.query_opt("SELECT id FROM logs_streams WHERE group_id = $1 AND name = $2", &[&group, &stream])?;
        let stream: i64 =
            row.map(|r| r.get(0)).ok_or_else(|| LogsError::ResourceNotFound(STREAM_NOT_FOUND.to_owned()))?;
        if !lock_streams(&mut self.tx, std::iter::once(stream))?.contains(&stream) {
            return Err(LogsError::ResourceNotFound(STREAM_NOT_FOUND.to_owned()));
        }
        let sequences = apply_appends(&mut self.tx, self.now_ms, &[Append { group, stream, events }])?;
        self.touched.insert(group);
        match sequences.get(&stream) {
            Some(&sequence) => Ok(sequence),
            None => Err(LogsError::ResourceNotFound(STREAM_NOT_FOUND.to_owned())),
        }
    }
}
