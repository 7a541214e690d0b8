//! Provisioned-concurrency allocations (migration 21), in SQLite: which node keeps how many of
//! a config's environments, written by the planner (`crates/cluster`), and how many each node
//! has ready (written by that node). One node alone never writes them: all is its own.

use model::function::FunctionId;
use rusqlite::{Connection, params};

use crate::{ProvisionedAllocation, StoreError};

pub(crate) const MIGRATION: &str = r#"
    CREATE TABLE provisioned_allocations (
        function_id     INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        qualifier       TEXT NOT NULL,
        node_id         TEXT NOT NULL,
        count           INTEGER NOT NULL,
        ready           INTEGER NOT NULL DEFAULT 0,
        applied_ms      INTEGER NOT NULL DEFAULT 0,
        failed          TEXT,
        PRIMARY KEY (function_id, qualifier, node_id)
    ) WITHOUT ROWID;
    CREATE INDEX provisioned_allocations_node ON provisioned_allocations(node_id);
"#;

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

const COLUMNS: &str = "function_id, qualifier, node_id, count, ready, applied_ms, failed";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProvisionedAllocation> {
    Ok(ProvisionedAllocation {
        function_id: FunctionId(r.get(0)?),
        qualifier: r.get(1)?,
        node_id: r.get(2)?,
        count: r.get::<_, i64>(3)? as u32,
        ready: r.get::<_, i64>(4)? as u32,
        applied_ms: r.get(5)?,
        failed: r.get(6)?,
    })
}

pub(crate) fn of_function(conn: &Connection, function: FunctionId) -> Result<Vec<ProvisionedAllocation>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM provisioned_allocations WHERE function_id = ?1 ORDER BY qualifier, node_id"
        ))
        .map_err(db_err)?;
    let rows = stmt.query_map(params![function.0], row).map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}

pub(crate) fn of_node(conn: &Connection, node_id: &str) -> Result<Vec<ProvisionedAllocation>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM provisioned_allocations WHERE node_id = ?1 ORDER BY function_id, qualifier"
        ))
        .map_err(db_err)?;
    let rows = stmt.query_map(params![node_id], row).map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}

pub(crate) fn plan(
    conn: &Connection,
    function: FunctionId,
    shares: &[(String, String, u32)],
) -> Result<bool, StoreError> {
    let before = of_function(conn, function)?;
    if !crate::allocation_differs(&before, shares) {
        return Ok(false);
    }
    conn.prepare_cached("DELETE FROM provisioned_allocations WHERE function_id = ?1")
        .map_err(db_err)?
        .execute(params![function.0])
        .map_err(db_err)?;
    let mut insert = conn
        .prepare_cached(&format!("INSERT INTO provisioned_allocations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"))
        .map_err(db_err)?;
    for (qualifier, node, count) in shares {
        // A node keeping its count keeps what it reported.
        let kept = before.iter().find(|a| &a.qualifier == qualifier && &a.node_id == node && a.count == *count);
        let (ready, applied, failed) = kept.map_or((0, 0, None), |a| (a.ready, a.applied_ms, a.failed.clone()));
        insert
            .execute(params![function.0, qualifier, node, i64::from(*count), i64::from(ready), applied, failed])
            .map_err(db_err)?;
    }
    Ok(true)
}

pub(crate) fn drop_orphans(conn: &Connection) -> Result<u64, StoreError> {
    let n = conn
        .prepare_cached(
            "DELETE FROM provisioned_allocations WHERE NOT EXISTS (SELECT 1 FROM provisioned_configs c \
             WHERE c.function_id = provisioned_allocations.function_id \
             AND c.qualifier = provisioned_allocations.qualifier)",
        )
        .map_err(db_err)?
        .execute([])
        .map_err(db_err)?;
    Ok(n as u64)
}

pub(crate) fn report(conn: &Connection, node_id: &str, rows: &[ProvisionedAllocation]) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "UPDATE provisioned_allocations SET ready = ?4, applied_ms = ?5, failed = ?6 \
             WHERE function_id = ?1 AND qualifier = ?2 AND node_id = ?3",
        )
        .map_err(db_err)?;
    for r in rows {
        stmt.execute(params![r.function_id.0, r.qualifier, node_id, i64::from(r.ready), r.applied_ms, r.failed])
            .map_err(db_err)?;
    }
    Ok(())
}
