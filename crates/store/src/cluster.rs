//! Cluster membership and shared settings (migration 18), in SQLite: the `nodes` table (one row
//! per running Versa process sharing the store, a new id per start) and `cluster_settings`
//! (secrets every node must agree on, created once by whichever node comes first).
//!
//! Times are the database's: for SQLite that is this process's clock (one node); the PostgreSQL
//! side (`pg/cluster.rs`) uses `clock_timestamp()`, so nodes with skewed clocks still agree on
//! who is live.

use rusqlite::{Connection, OptionalExtension, params};

use crate::{NodeBeat, NodeRow, StoreError};

pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE nodes (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        addr            TEXT NOT NULL,
        started_ms      INTEGER NOT NULL,
        heartbeat_ms    INTEGER NOT NULL,
        capacity        INTEGER NOT NULL,
        busy            INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE cluster_settings (
        name            TEXT PRIMARY KEY,
        value           BLOB NOT NULL
    ) WITHOUT ROWID;
"#;

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn heartbeat_node(conn: &Connection, beat: &NodeBeat) -> Result<i64, StoreError> {
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO nodes (id, name, addr, started_ms, heartbeat_ms, capacity, busy) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6) \
         ON CONFLICT(id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, addr = excluded.addr, \
         capacity = excluded.capacity, busy = excluded.busy",
    )
    .map_err(db_err)?
    .execute(params![beat.id, beat.name, beat.addr, now, i64::from(beat.capacity), i64::from(beat.busy)])
    .map_err(db_err)?;
    Ok(now)
}

pub(crate) fn nodes(conn: &Connection, dead_after_ms: i64) -> Result<Vec<NodeRow>, StoreError> {
    let now = now_ms();
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, name, addr, started_ms, heartbeat_ms, capacity, busy FROM nodes ORDER BY started_ms, id",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map([], |r| {
            let heartbeat_ms: i64 = r.get(4)?;
            Ok(NodeRow {
                id: r.get(0)?,
                name: r.get(1)?,
                addr: r.get(2)?,
                started_ms: r.get(3)?,
                heartbeat_ms,
                capacity: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                busy: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                live: heartbeat_ms > now - dead_after_ms,
            })
        })
        .map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}

pub(crate) fn delete_node(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let n =
        conn.prepare_cached("DELETE FROM nodes WHERE id = ?1").map_err(db_err)?.execute(params![id]).map_err(db_err)?;
    Ok(n > 0)
}

pub(crate) fn delete_dead_nodes(conn: &Connection, dead_for_ms: i64) -> Result<u64, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM nodes WHERE heartbeat_ms < ?1")
        .map_err(db_err)?
        .execute(params![now_ms() - dead_for_ms])
        .map_err(db_err)?;
    Ok(n as u64)
}

pub(crate) fn cluster_setting(conn: &Connection, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    conn.prepare_cached("SELECT value FROM cluster_settings WHERE name = ?1")
        .map_err(db_err)?
        .query_row(params![name], |r| r.get(0))
        .optional()
        .map_err(db_err)
}

pub(crate) fn init_cluster_setting(conn: &Connection, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
    conn.prepare_cached("INSERT INTO cluster_settings (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING")
        .map_err(db_err)?
        .execute(params![name, value])
        .map_err(db_err)?;
    cluster_setting(conn, name)?.ok_or_else(|| StoreError::Corrupt(format!("cluster setting {name} vanished")))
}
