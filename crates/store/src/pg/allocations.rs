//! Provisioned-concurrency allocations on PostgreSQL (migration 6); see `../allocations.rs`.
//! The planner's rewrite runs under a transaction-scoped advisory lock, so two nodes that both
//! believe they plan (a membership change) write one after the other, never interleaved.

use model::function::FunctionId;
use postgres::Transaction;

use super::pg_err;
use crate::{ProvisionedAllocation, StoreError};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE provisioned_allocations (
    function_id     bigint NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
    qualifier       text COLLATE "C" NOT NULL,
    node_id         text COLLATE "C" NOT NULL,
    count           bigint NOT NULL,
    ready           bigint NOT NULL DEFAULT 0,
    applied_ms      bigint NOT NULL DEFAULT 0,
    failed          text,
    PRIMARY KEY (function_id, qualifier, node_id)
);
CREATE INDEX provisioned_allocations_node ON provisioned_allocations (node_id);
"#;

/// The advisory lock key of the planner's writes.
const PLANNER_LOCK: &str = "versa:provisioned";

const COLUMNS: &str = "function_id, qualifier, node_id, count, ready, applied_ms, failed";

fn row(r: &postgres::Row) -> ProvisionedAllocation {
    ProvisionedAllocation {
        function_id: FunctionId(r.get(0)),
        qualifier: r.get(1),
        node_id: r.get(2),
        count: r.get::<_, i64>(3) as u32,
        ready: r.get::<_, i64>(4) as u32,
        applied_ms: r.get(5),
        failed: r.get(6),
    }
}

pub(super) fn of_function(
    t: &mut Transaction<'_>,
    function: FunctionId,
) -> Result<Vec<ProvisionedAllocation>, StoreError> {
    let rows = t
        .query(
            &format!(
                "SELECT {COLUMNS} FROM provisioned_allocations WHERE function_id = $1 ORDER BY qualifier, node_id"
            ),
            &[&function.0],
        )
        .map_err(pg_err)?;
    Ok(rows.iter().map(row).collect())
}

pub(super) fn of_node(t: &mut Transaction<'_>, node_id: &str) -> Result<Vec<ProvisionedAllocation>, StoreError> {
    let rows = t
        .query(
            &format!(
                "SELECT {COLUMNS} FROM provisioned_allocations WHERE node_id = $1 ORDER BY function_id, qualifier"
            ),
            &[&node_id],
        )
        .map_err(pg_err)?;
    Ok(rows.iter().map(row).collect())
}

pub(super) fn plan(
    t: &mut Transaction<'_>,
    function: FunctionId,
    shares: &[(String, String, u32)],
) -> Result<bool, StoreError> {
    t.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&PLANNER_LOCK]).map_err(pg_err)?;
    let before = of_function(t, function)?;
    if !crate::allocation_differs(&before, shares) {
        return Ok(false);
    }
    t.execute("DELETE FROM provisioned_allocations WHERE function_id = $1", &[&function.0]).map_err(pg_err)?;
    for (qualifier, node, count) in shares {
        let kept = before.iter().find(|a| &a.qualifier == qualifier && &a.node_id == node && a.count == *count);
        let (ready, applied, failed) = kept.map_or((0, 0, None), |a| (a.ready, a.applied_ms, a.failed.clone()));
        t.execute(
            &format!("INSERT INTO provisioned_allocations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            &[&function.0, qualifier, node, &i64::from(*count), &i64::from(ready), &applied, &failed],
        )
        .map_err(pg_err)?;
    }
    Ok(true)
}

pub(super) fn drop_orphans(t: &mut Transaction<'_>) -> Result<u64, StoreError> {
    t.execute(
        "DELETE FROM provisioned_allocations a WHERE NOT EXISTS (SELECT 1 FROM provisioned_configs c \
         WHERE c.function_id = a.function_id AND c.qualifier = a.qualifier)",
        &[],
    )
    .map_err(pg_err)
}

pub(super) fn report(t: &mut Transaction<'_>, node_id: &str, rows: &[ProvisionedAllocation]) -> Result<(), StoreError> {
    for r in rows {
        t.execute(
            "UPDATE provisioned_allocations SET ready = $4, applied_ms = $5, failed = $6 \
             WHERE function_id = $1 AND qualifier = $2 AND node_id = $3",
            &[&r.function_id.0, &r.qualifier, &node_id, &i64::from(r.ready), &r.applied_ms, &r.failed],
        )
        .map_err(pg_err)?;
    }
    Ok(())
}
