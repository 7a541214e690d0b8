//! The code blobs a shared blob store holds (migration 19), for the grace-period collector in
//! `control::gc`, in SQLite.
//!
//! A row is written (`touched_ms` = now) *before* its blob is uploaded or an existing upload is
//! reused; the collector takes only rows untouched for the grace period that nothing
//! references, deletes their objects and then the rows, in one transaction. A writer's touch
//! therefore either comes before the collector's transaction (the row is fresh: not taken) or
//! after it (the object is already gone: the writer's HEAD misses and it uploads again). On
//! PostgreSQL the same holds with row locks (`pg/code_blobs.rs`); SQLite has one writer.

use rusqlite::{Connection, params};

use model::function::Sha256;

use crate::StoreError;

pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE code_blobs (
        sha             TEXT PRIMARY KEY,
        touched_ms      INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX code_blobs_touched ON code_blobs(touched_ms);
"#;

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Milliseconds since the epoch by this host's clock (SQLite has only this host).
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn touch(conn: &Connection, sha: &Sha256) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO code_blobs (sha, touched_ms) VALUES (?1, ?2) \
         ON CONFLICT (sha) DO UPDATE SET touched_ms = max(touched_ms, excluded.touched_ms)",
    )
    .map_err(db_err)?
    .execute(params![sha.to_hex(), now_ms()])
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn track(conn: &Connection, shas: &[Sha256]) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare_cached("INSERT INTO code_blobs (sha, touched_ms) VALUES (?1, ?2) ON CONFLICT (sha) DO NOTHING")
        .map_err(db_err)?;
    let now = now_ms();
    let mut added = 0;
    for sha in shas {
        added += stmt.execute(params![sha.to_hex(), now]).map_err(db_err)? as u64;
    }
    Ok(added)
}

pub(crate) fn stale(conn: &Connection, grace_ms: i64, limit: usize) -> Result<Vec<Sha256>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT sha FROM code_blobs c WHERE touched_ms < ?1 \
             AND NOT EXISTS (SELECT 1 FROM functions WHERE latest_code = c.sha) \
             AND NOT EXISTS (SELECT 1 FROM versions WHERE code = c.sha) \
             AND NOT EXISTS (SELECT 1 FROM layer_versions WHERE code = c.sha) \
             AND NOT EXISTS (SELECT 1 FROM function_layers WHERE code = c.sha) \
             ORDER BY touched_ms LIMIT ?2",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![now_ms().saturating_sub(grace_ms), limit as i64], |r| r.get::<_, String>(0))
        .map_err(db_err)?;
    rows.map(|r| {
        let hex = r.map_err(db_err)?;
        Sha256::from_hex(&hex).ok_or_else(|| StoreError::Corrupt(format!("code blob {hex}")))
    })
    .collect()
}

pub(crate) fn delete(conn: &Connection, shas: &[Sha256]) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM code_blobs WHERE sha = ?1").map_err(db_err)?;
    let mut n = 0;
    for sha in shas {
        n += stmt.execute(params![sha.to_hex()]).map_err(db_err)? as u64;
    }
    Ok(n)
}
