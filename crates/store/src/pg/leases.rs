//! Leases on PostgreSQL (migration 5): named cluster-wide singletons, one row per name with
//! its holder and end on the database's clock (`clock_timestamp()`), so skewed node clocks
//! cannot make two holders. Acquire and renew are one statement: the row goes to `holder`
//! if it holds it already or the lease has ended.
//!
//! Fencing: the `holder` column is `<holder>/<epoch>`; the epoch grows by one at every
//! takeover (a new holder, or the same one after its lease ended) and stays on renewal, and a
//! release only ends the lease (the row and its epoch stay). A singleton checks
//! `(holder, epoch)` in its write transactions ([`lease_holds`], `FOR SHARE`, so a takeover
//! waits for that transaction): a stale holder's write changes nothing. (The same table shape
//! as before; a row written by an older Versa counts as epoch 0.)

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
) -> Result<Option<i64>, StoreError> {
    crate::leases::check_holder(holder)?;
    let row = t
        .query_opt(
            "INSERT INTO leases (name, holder, expires_at) \
             VALUES ($1, $2 || '/1', clock_timestamp() + $3::bigint * interval '1 millisecond') \
             ON CONFLICT (name) DO UPDATE SET \
               holder = CASE WHEN split_part(leases.holder, '/', 1) = $2 AND leases.expires_at >= clock_timestamp() \
                 THEN leases.holder \
                 ELSE $2 || '/' || (coalesce(nullif(split_part(leases.holder, '/', 2), ''), '0')::bigint + 1) END, \
               expires_at = excluded.expires_at \
             WHERE split_part(leases.holder, '/', 1) = $2 OR leases.expires_at < clock_timestamp() \
             RETURNING holder",
            &[&name, &holder, &ttl_ms],
        )
        .map_err(pg_err)?;
    Ok(row.map(|r| crate::leases::epoch_of(&r.get::<_, String>(0))))
}

pub(super) fn release_lease(t: &mut Transaction<'_>, name: &str, holder: &str) -> Result<bool, StoreError> {
    let n = t
        .execute(
            "UPDATE leases SET expires_at = '-infinity' \
             WHERE name = $1 AND split_part(holder, '/', 1) = $2 AND expires_at >= clock_timestamp()",
            &[&name, &holder],
        )
        .map_err(pg_err)?;
    Ok(n > 0)
}

pub(super) fn lease_holds(t: &mut Transaction<'_>, name: &str, holder: &str, epoch: i64) -> Result<bool, StoreError> {
    let token = format!("{holder}/{epoch}");
    let row = t
        .query_opt(
            "SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND expires_at > clock_timestamp() FOR SHARE",
            &[&name, &token],
        )
        .map_err(pg_err)?;
    Ok(row.is_some())
}
