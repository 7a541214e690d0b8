//! Leases (migration 20), in SQLite: named cluster-wide singletons (River-style: one row per
//! name with its holder and end). A node holds a lease while it renews it before the end; a
//! lease past its end goes to whoever asks next. Times are the database's: this process's
//! clock for SQLite (one node); `pg/leases.rs` uses `clock_timestamp()`.

use rusqlite::{Connection, params};

use crate::StoreError;

pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE leases (
        name            TEXT PRIMARY KEY,
        holder          TEXT NOT NULL,
        expires_ms      INTEGER NOT NULL
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

pub(crate) fn acquire_lease(conn: &Connection, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, StoreError> {
    let now = now_ms();
    let n = conn
        .prepare_cached(
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3 + ?4) \
             ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE leases.holder = excluded.holder OR leases.expires_ms < ?3",
        )
        .map_err(db_err)?
        .execute(params![name, holder, now, ttl_ms])
        .map_err(db_err)?;
    Ok(n > 0)
}

pub(crate) fn release_lease(conn: &Connection, name: &str, holder: &str) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
        .map_err(db_err)?
        .execute(params![name, holder])
        .map_err(db_err)?;
    Ok(n > 0)
}
