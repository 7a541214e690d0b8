//! The code blobs of a shared blob store, for the grace-period collector in `control::gc`, in
//! PostgreSQL (migration 4; the SQLite side is `crate::code_blobs`).
//!
//! A writer touches its blob's row (`touched_ms` = the database's clock) in its own transaction
//! before it uploads or reuses the blob. A collector round takes, under a transaction-scoped
//! advisory lock (one collecting node at a time), the rows untouched for the grace period that
//! nothing references, `FOR UPDATE SKIP LOCKED`; deletes their objects; then the rows, and
//! commits. A concurrent touch of a taken row waits for that commit and then inserts a fresh
//! row (the writer's HEAD then misses and it uploads again); a row being touched is skipped.

use model::function::Sha256;
use postgres::Transaction;

use super::pg_err as db_err;
use crate::StoreError;

pub(super) const SCHEMA: &str = r#"
    CREATE TABLE code_blobs (
        sha             TEXT PRIMARY KEY,
        touched_ms      BIGINT NOT NULL
    );
    CREATE INDEX code_blobs_touched ON code_blobs(touched_ms);
"#;

/// Milliseconds since the epoch by the database's clock (the same for every node).
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
/// The transaction-scoped advisory lock a collector round holds ("vbgc").
const GC_LOCK: i64 = 0x7662_6763;

fn decode(hex: String) -> Result<Sha256, StoreError> {
    Sha256::from_hex(&hex).ok_or_else(|| StoreError::Corrupt(format!("code blob {hex}")))
}

pub(super) fn touch_code_blob(t: &mut Transaction<'_>, sha: &Sha256) -> Result<(), StoreError> {
    t.execute(
        &format!(
            "INSERT INTO code_blobs (sha, touched_ms) VALUES ($1, {NOW_MS}) ON CONFLICT (sha) \
             DO UPDATE SET touched_ms = GREATEST(code_blobs.touched_ms, EXCLUDED.touched_ms)"
        ),
        &[&sha.to_hex()],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(super) fn track_code_blobs(t: &mut Transaction<'_>, shas: &[Sha256]) -> Result<u64, StoreError> {
    let hexes: Vec<String> = shas.iter().map(Sha256::to_hex).collect();
    t.execute(
        &format!(
            "INSERT INTO code_blobs (sha, touched_ms) SELECT s, {NOW_MS} FROM unnest($1::text[]) AS s \
             ON CONFLICT (sha) DO NOTHING"
        ),
        &[&hexes],
    )
    .map_err(db_err)
}

pub(super) fn stale_code_blobs(
    t: &mut Transaction<'_>,
    grace_ms: i64,
    limit: usize,
) -> Result<Vec<Sha256>, StoreError> {
    let locked: bool = t.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&GC_LOCK]).map_err(db_err)?.get(0);
    if !locked {
        return Ok(Vec::new());
    }
    let rows = t
        .query(
            &format!(
                "SELECT sha FROM code_blobs c WHERE touched_ms < {NOW_MS} - $1 \
                 AND NOT EXISTS (SELECT 1 FROM functions WHERE latest_code = c.sha) \
                 AND NOT EXISTS (SELECT 1 FROM versions WHERE code = c.sha) \
                 AND NOT EXISTS (SELECT 1 FROM layer_versions WHERE code = c.sha) \
                 AND NOT EXISTS (SELECT 1 FROM function_layers WHERE code = c.sha) \
                 ORDER BY touched_ms LIMIT $2 FOR UPDATE SKIP LOCKED"
            ),
            &[&grace_ms, &i64::try_from(limit).unwrap_or(i64::MAX)],
        )
        .map_err(db_err)?;
    rows.into_iter().map(|r| decode(r.get(0))).collect()
}

pub(super) fn delete_code_blobs(t: &mut Transaction<'_>, shas: &[Sha256]) -> Result<u64, StoreError> {
    let hexes: Vec<String> = shas.iter().map(Sha256::to_hex).collect();
    t.execute("DELETE FROM code_blobs WHERE sha = ANY($1)", &[&hexes]).map_err(db_err)
}
