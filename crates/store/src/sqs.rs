//! SQS queues and messages (migration 15; the `sqs` crate's state), in SQLite.
//!
//! A queue row carries its attributes and tags as the `sqs` crate's opaque document, plus the
//! count and bytes of its messages (kept here, so that the crate's bounds cost no query). A
//! message row is one message with its visibility (`visible_ms`), receive count and current
//! receipt handle; `seq` (AUTOINCREMENT, never reused) orders messages and is a FIFO queue's
//! sequence number. FIFO deduplication ids live in `sqs_dedup` until they expire.

use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;

/// A queue as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SqsQueueRow {
    /// Assigned by the store on insert (ignored there).
    pub id: i64,
    pub account: String,
    pub region: String,
    pub name: String,
    pub created_ms: i64,
    /// The `sqs` crate's document: attributes, tags, timestamps (opaque here).
    pub doc: String,
    /// Messages in the queue, and their bytes (maintained by the store; ignored on insert).
    pub messages: u64,
    pub bytes: u64,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SqsMessageRow {
    /// Assigned by the store on insert (ignored there); increases with insertion order.
    pub seq: i64,
    pub queue_id: i64,
    pub message_id: String,
    pub body: String,
    /// The `sqs` crate's document: message and system attributes (opaque here).
    pub attrs: String,
    pub md5_body: String,
    pub md5_attrs: Option<String>,
    pub sent_ms: i64,
    /// When the message can be received (next).
    pub visible_ms: i64,
    /// When the retention period ends.
    pub expires_ms: i64,
    pub receive_count: u32,
    pub first_receive_ms: Option<i64>,
    /// The receipt handle of the last receive.
    pub receipt: Option<String>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    /// The size counted against the queue's bytes.
    pub size: u64,
}

/// How many messages of a queue are visible, in flight, and delayed at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqsCounts {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE sqs_queues (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        account         TEXT NOT NULL,
        region          TEXT NOT NULL,
        name            TEXT NOT NULL,
        created_ms      INTEGER NOT NULL,
        doc             TEXT NOT NULL,
        messages        INTEGER NOT NULL DEFAULT 0,
        bytes           INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account, region, name)
    );
    CREATE TABLE sqs_messages (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        queue_id        INTEGER NOT NULL REFERENCES sqs_queues(id) ON DELETE CASCADE,
        message_id      TEXT NOT NULL,
        body            TEXT NOT NULL,
        attrs           TEXT NOT NULL,
        md5_body        TEXT NOT NULL,
        md5_attrs       TEXT,
        sent_ms         INTEGER NOT NULL,
        visible_ms      INTEGER NOT NULL,
        expires_ms      INTEGER NOT NULL,
        receive_count   INTEGER NOT NULL,
        first_receive_ms INTEGER,
        receipt         TEXT,
        group_id        TEXT,
        dedup_id        TEXT,
        size            INTEGER NOT NULL
    );
    CREATE INDEX sqs_messages_due ON sqs_messages(queue_id, visible_ms, seq);
    CREATE INDEX sqs_messages_order ON sqs_messages(queue_id, seq);
    CREATE INDEX sqs_messages_group ON sqs_messages(queue_id, group_id, visible_ms) WHERE group_id IS NOT NULL;
    CREATE INDEX sqs_messages_expiry ON sqs_messages(expires_ms);
    CREATE TABLE sqs_dedup (
        queue_id        INTEGER NOT NULL REFERENCES sqs_queues(id) ON DELETE CASCADE,
        key             TEXT NOT NULL,
        message_id      TEXT NOT NULL,
        seq             INTEGER NOT NULL,
        expires_ms      INTEGER NOT NULL,
        PRIMARY KEY (queue_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX sqs_dedup_expiry ON sqs_dedup(expires_ms);
"#;

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

const QUEUE_COLUMNS: &str = "id, account, region, name, created_ms, doc, messages, bytes";

fn queue_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SqsQueueRow> {
    Ok(SqsQueueRow {
        id: r.get(0)?,
        account: r.get(1)?,
        region: r.get(2)?,
        name: r.get(3)?,
        created_ms: r.get(4)?,
        doc: r.get(5)?,
        messages: r.get::<_, i64>(6)? as u64,
        bytes: r.get::<_, i64>(7)? as u64,
    })
}

const MESSAGE_COLUMNS: &str = "seq, queue_id, message_id, body, attrs, md5_body, md5_attrs, sent_ms, visible_ms, \
     expires_ms, receive_count, first_receive_ms, receipt, group_id, dedup_id, size";

fn message_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SqsMessageRow> {
    Ok(SqsMessageRow {
        seq: r.get(0)?,
        queue_id: r.get(1)?,
        message_id: r.get(2)?,
        body: r.get(3)?,
        attrs: r.get(4)?,
        md5_body: r.get(5)?,
        md5_attrs: r.get(6)?,
        sent_ms: r.get(7)?,
        visible_ms: r.get(8)?,
        expires_ms: r.get(9)?,
        receive_count: r.get(10)?,
        first_receive_ms: r.get(11)?,
        receipt: r.get(12)?,
        group_id: r.get(13)?,
        dedup_id: r.get(14)?,
        size: r.get::<_, i64>(15)? as u64,
    })
}

pub(crate) fn queue(
    c: &Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<SqsQueueRow>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {QUEUE_COLUMNS} FROM sqs_queues WHERE account = ?1 AND region = ?2 AND name = ?3"
    ))
    .map_err(db_err)?
    .query_row(params![account, region, name], queue_from_row)
    .optional()
    .map_err(db_err)
}

pub(crate) fn queue_by_id(c: &Connection, id: i64) -> Result<Option<SqsQueueRow>, StoreError> {
    c.prepare_cached(&format!("SELECT {QUEUE_COLUMNS} FROM sqs_queues WHERE id = ?1"))
        .map_err(db_err)?
        .query_row(params![id], queue_from_row)
        .optional()
        .map_err(db_err)
}

pub(crate) fn queues(
    c: &Connection,
    account: &str,
    region: &str,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<SqsQueueRow>, StoreError> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {QUEUE_COLUMNS} FROM sqs_queues WHERE account = ?1 AND region = ?2 AND name > ?3 \
             AND substr(name, 1, length(?4)) = ?4 ORDER BY name LIMIT ?5"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![account, region, after.unwrap_or(""), prefix, limit as i64], queue_from_row)
        .map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}

pub(crate) fn queue_count(c: &Connection, account: &str, region: &str) -> Result<u64, StoreError> {
    c.prepare_cached("SELECT COUNT(*) FROM sqs_queues WHERE account = ?1 AND region = ?2")
        .map_err(db_err)?
        .query_row(params![account, region], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(db_err)
}

pub(crate) fn message(c: &Connection, seq: i64) -> Result<Option<SqsMessageRow>, StoreError> {
    c.prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM sqs_messages WHERE seq = ?1"))
        .map_err(db_err)?
        .query_row(params![seq], message_from_row)
        .optional()
        .map_err(db_err)
}

pub(crate) fn candidates(
    c: &Connection,
    queue_id: i64,
    now_ms: i64,
    fifo: bool,
    limit: usize,
) -> Result<Vec<SqsMessageRow>, StoreError> {
    // FIFO: in sending order, skipping every group with a message in flight (one in-flight
    // batch per group). Standard: whatever became visible first.
    let sql = if fifo {
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM sqs_messages m WHERE m.queue_id = ?1 AND m.visible_ms <= ?2 \
             AND m.expires_ms > ?2 AND NOT EXISTS (SELECT 1 FROM sqs_messages o WHERE o.queue_id = ?1 \
             AND o.group_id = m.group_id AND o.visible_ms > ?2 AND o.receive_count > 0) ORDER BY m.seq LIMIT ?3"
        )
    } else {
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM sqs_messages WHERE queue_id = ?1 AND visible_ms <= ?2 \
             AND expires_ms > ?2 ORDER BY visible_ms, seq LIMIT ?3"
        )
    };
    let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
    let rows = stmt.query_map(params![queue_id, now_ms, limit as i64], message_from_row).map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}

pub(crate) fn next_visible(c: &Connection, queue_id: i64, now_ms: i64) -> Result<Option<i64>, StoreError> {
    c.prepare_cached("SELECT MIN(visible_ms) FROM sqs_messages WHERE queue_id = ?1 AND visible_ms > ?2")
        .map_err(db_err)?
        .query_row(params![queue_id, now_ms], |r| r.get::<_, Option<i64>>(0))
        .map_err(db_err)
}

pub(crate) fn counts(c: &Connection, queue_id: i64, now_ms: i64) -> Result<SqsCounts, StoreError> {
    c.prepare_cached(
        "SELECT COALESCE(SUM(visible_ms <= ?2), 0), COALESCE(SUM(visible_ms > ?2 AND receive_count > 0), 0), \
         COALESCE(SUM(visible_ms > ?2 AND receive_count = 0), 0) FROM sqs_messages WHERE queue_id = ?1",
    )
    .map_err(db_err)?
    .query_row(params![queue_id, now_ms], |r| {
        Ok(SqsCounts {
            visible: r.get::<_, i64>(0)? as u64,
            in_flight: r.get::<_, i64>(1)? as u64,
            delayed: r.get::<_, i64>(2)? as u64,
        })
    })
    .map_err(db_err)
}

pub(crate) fn dedup(
    c: &Connection,
    queue_id: i64,
    key: &str,
    now_ms: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    c.prepare_cached("SELECT message_id, seq FROM sqs_dedup WHERE queue_id = ?1 AND key = ?2 AND expires_ms > ?3")
        .map_err(db_err)?
        .query_row(params![queue_id, key, now_ms], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db_err)
}

pub(crate) fn insert_queue(c: &Connection, q: &SqsQueueRow) -> Result<i64, StoreError> {
    c.prepare_cached("INSERT INTO sqs_queues (account, region, name, created_ms, doc) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(db_err)?
        .execute(params![q.account, q.region, q.name, q.created_ms, q.doc])
        .map_err(db_err)?;
    Ok(c.last_insert_rowid())
}

pub(crate) fn update_queue(c: &Connection, id: i64, doc: &str) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE sqs_queues SET doc = ?2 WHERE id = ?1")
        .map_err(db_err)?
        .execute(params![id, doc])
        .map_err(db_err)?;
    Ok(())
}

pub(crate) fn delete_queue(c: &Connection, id: i64) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached("DELETE FROM sqs_queues WHERE id = ?1")
        .map_err(db_err)?
        .execute(params![id])
        .map_err(db_err)?;
    Ok(n > 0)
}

fn add_counts(c: &Connection, queue_id: i64, messages: i64, bytes: i64) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE sqs_queues SET messages = messages + ?2, bytes = bytes + ?3 WHERE id = ?1")
        .map_err(db_err)?
        .execute(params![queue_id, messages, bytes])
        .map_err(db_err)?;
    Ok(())
}

pub(crate) fn insert_message(c: &Connection, m: &SqsMessageRow) -> Result<i64, StoreError> {
    c.prepare_cached(
        "INSERT INTO sqs_messages (queue_id, message_id, body, attrs, md5_body, md5_attrs, sent_ms, visible_ms, \
         expires_ms, receive_count, first_receive_ms, receipt, group_id, dedup_id, size) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .map_err(db_err)?
    .execute(params![
        m.queue_id,
        m.message_id,
        m.body,
        m.attrs,
        m.md5_body,
        m.md5_attrs,
        m.sent_ms,
        m.visible_ms,
        m.expires_ms,
        m.receive_count,
        m.first_receive_ms,
        m.receipt,
        m.group_id,
        m.dedup_id,
        m.size as i64
    ])
    .map_err(db_err)?;
    let seq = c.last_insert_rowid();
    add_counts(c, m.queue_id, 1, m.size as i64)?;
    Ok(seq)
}

pub(crate) fn update_message(c: &Connection, m: &SqsMessageRow) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE sqs_messages SET visible_ms = ?2, receive_count = ?3, first_receive_ms = ?4, receipt = ?5, \
         attrs = ?6 WHERE seq = ?1",
    )
    .map_err(db_err)?
    .execute(params![m.seq, m.visible_ms, m.receive_count, m.first_receive_ms, m.receipt, m.attrs])
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn delete_message(c: &Connection, seq: i64) -> Result<bool, StoreError> {
    let Some(m) = message(c, seq)? else { return Ok(false) };
    c.prepare_cached("DELETE FROM sqs_messages WHERE seq = ?1")
        .map_err(db_err)?
        .execute(params![seq])
        .map_err(db_err)?;
    add_counts(c, m.queue_id, -1, -(m.size as i64))?;
    Ok(true)
}

pub(crate) fn move_message(c: &Connection, seq: i64, to_queue: i64, visible_ms: i64) -> Result<(), StoreError> {
    let Some(m) = message(c, seq)? else { return Ok(()) };
    c.prepare_cached("UPDATE sqs_messages SET queue_id = ?2, visible_ms = ?3, receipt = NULL WHERE seq = ?1")
        .map_err(db_err)?
        .execute(params![seq, to_queue, visible_ms])
        .map_err(db_err)?;
    add_counts(c, m.queue_id, -1, -(m.size as i64))?;
    add_counts(c, to_queue, 1, m.size as i64)
}

pub(crate) fn purge(c: &Connection, queue_id: i64) -> Result<u64, StoreError> {
    let n = c
        .prepare_cached("DELETE FROM sqs_messages WHERE queue_id = ?1")
        .map_err(db_err)?
        .execute(params![queue_id])
        .map_err(db_err)?;
    c.prepare_cached("UPDATE sqs_queues SET messages = 0, bytes = 0 WHERE id = ?1")
        .map_err(db_err)?
        .execute(params![queue_id])
        .map_err(db_err)?;
    Ok(n as u64)
}

pub(crate) fn put_dedup(
    c: &Connection,
    queue_id: i64,
    key: &str,
    message_id: &str,
    seq: i64,
    expires_ms: i64,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO sqs_dedup (queue_id, key, message_id, seq, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(db_err)?
    .execute(params![queue_id, key, message_id, seq, expires_ms])
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn expire(c: &Connection, now_ms: i64, limit: usize) -> Result<u64, StoreError> {
    let mut stmt = c
        .prepare_cached("SELECT seq FROM sqs_messages WHERE expires_ms <= ?1 ORDER BY expires_ms LIMIT ?2")
        .map_err(db_err)?;
    let seqs = stmt
        .query_map(params![now_ms, limit as i64], |r| r.get::<_, i64>(0))
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    for seq in &seqs {
        delete_message(c, *seq)?;
    }
    c.prepare_cached(
        "DELETE FROM sqs_dedup WHERE (queue_id, key) IN \
         (SELECT queue_id, key FROM sqs_dedup WHERE expires_ms <= ?1 LIMIT ?2)",
    )
    .map_err(db_err)?
    .execute(params![now_ms, limit as i64])
    .map_err(db_err)?;
    Ok(seqs.len() as u64)
}
