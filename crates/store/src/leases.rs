//! Leases (migration 20), in SQLite: named cluster-wide singletons (River-style: one row per
//! name with its holder and end). A node holds a lease while it renews it before the end; a
//! lease past its end goes to whoever asks next. Times are the database's: this process's
//! clock for SQLite (one node); `pg/leases.rs` uses `clock_timestamp()`. The `holder` column
//! is `<holder>/<epoch>` (the fencing epoch: see `pg/leases.rs`).

use rusqlite::{Connection, OptionalExtension, params};

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

/// A holder is a node id: no `/` (the column holds `<holder>/<epoch>`).
pub(crate) fn check_holder(holder: &str) -> Result<(), StoreError> {
    if holder.is_empty() || holder.contains('/') {
        return Err(StoreError::Database(format!("a lease holder must be non-empty and have no '/': {holder:?}")));
    }
    Ok(())
}

/// The epoch of a stored `<holder>/<epoch>` (0 for a row of an older Versa).
pub(crate) fn epoch_of(stored: &str) -> i64 {
    stored.rsplit_once('/').and_then(|(_, e)| e.parse().ok()).unwrap_or(0)
}

pub(crate) fn acquire_lease(
    conn: &Connection,
    name: &str,
    holder: &str,
    ttl_ms: i64,
) -> Result<Option<i64>, StoreError> {
    check_holder(holder)?;
    let now = now_ms();
    // `?2 || '/'` prefixes the holder's own rows; the epoch is the text after the first '/'.
    let stored: Option<String> = conn
        .prepare_cached(
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2 || '/1', ?3 + ?4) \
             ON CONFLICT(name) DO UPDATE SET \
               holder = CASE WHEN substr(leases.holder, 1, length(?2) + 1) = ?2 || '/' AND leases.expires_ms >= ?3 \
                 THEN leases.holder \
                 ELSE ?2 || '/' || (CAST(substr(leases.holder, instr(leases.holder, '/') + 1) AS INTEGER) \
                   * (instr(leases.holder, '/') > 0) + 1) END, \
               expires_ms = excluded.expires_ms \
             WHERE substr(leases.holder, 1, length(?2) + 1) = ?2 || '/' OR leases.expires_ms < ?3 \
             RETURNING holder",
        )
        .map_err(db_err)?
        .query_row(params![name, holder, now, ttl_ms], |r| r.get(0))
        .optional()
        .map_err(db_err)?;
    Ok(stored.map(|s| epoch_of(&s)))
}

pub(crate) fn release_lease(conn: &Connection, name: &str, holder: &str) -> Result<bool, StoreError> {
    // The row (and its epoch) stays; only the lease ends.
    let n = conn
        .prepare_cached(
            "UPDATE leases SET expires_ms = -9223372036854775807 \
             WHERE name = ?1 AND substr(holder, 1, length(?2) + 1) = ?2 || '/' AND expires_ms >= ?3",
        )
        .map_err(db_err)?
        .execute(params![name, holder, now_ms()])
        .map_err(db_err)?;
    Ok(n > 0)
}

pub(crate) fn lease_holds(conn: &Connection, name: &str, holder: &str, epoch: i64) -> Result<bool, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM leases WHERE name = ?1 AND holder = ?2 AND expires_ms > ?3")
        .map_err(db_err)?
        .query_row(params![name, format!("{holder}/{epoch}"), now_ms()], |r| r.get(0))
        .map_err(db_err)?;
    Ok(n > 0)
}
