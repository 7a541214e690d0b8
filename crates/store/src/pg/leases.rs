//! Leases on PostgreSQL (migration 5): named cluster-wide singletons, one row per name with
//! its holder and end on the database's clock (`clock_timestamp()`), so skewed node clocks
//! cannot make two holders. Acquire and renew are one statement: the row goes to `holder`
//! if it holds it already or the lease has ended.

use postgres::Transaction;

use super::pg_err;
use crate::StoreError;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE leases (
    name            text PRIMARY KEY,
    holder          text NOT NULL,
    expires_at      timestamptz NOT NULL
);
"#;

pub(super) fn acquire_lease(
    t: &mut Transaction<'_>,
    name: &str,
    holder: &str,
    ttl_ms: i64,
) -> Result<bool, StoreError> {
    let n = t
        .execute(
            "INSERT INTO leases (name, holder, expires_at) \
             VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 millisecond') \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < clock_timestamp()",
            &[&name, &holder, &ttl_ms],
        )
        .map_err(pg_err)?;
    Ok(n > 0)
}

pub(super) fn release_lease(t: &mut Transaction<'_>, name: &str, holder: &str) -> Result<bool, StoreError> {
    Ok(t.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", &[&name, &holder]).map_err(pg_err)? > 0)
}
