//! The event outbox: the event records of a write are rows of the `outbox` table, inserted in
//! the write's own transaction, so that a committed object change always has its events on
//! disk. After the commit, the request that wrote them delivers them through the `Notifier`
//! (before it answers) and deletes them; a drainer task delivers what is left: rows of a run
//! that crashed between commit and delivery, and deliveries the Lambda side refused for now,
//! retried with a bounded backoff. A row is deleted only once its event is queued on the Lambda
//! side or refused for good (`DeliveryError::Refused`, dropped with a warning), so delivery is
//! at least once: a crash after the queueing and before the delete delivers it again.
//!
//! Who delivers a row is decided in memory: the writing request claims its rows before its
//! transaction commits, the drainer claims the due rows it takes, and nobody delivers a row
//! someone else holds. A claim ends when its `Staged` is dropped, after the rows were settled.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::ApiError;
use crate::files::{ORPHAN_GRACE, ORPHAN_SWEEP_INTERVAL};
use crate::limits::{
    OUTBOX_CLAIM_LEASE_MS, OUTBOX_DRAIN_BATCH, OUTBOX_IDLE_POLL_MS, OUTBOX_OWNER_GRACE_MS, OUTBOX_RETRY_DELAY_MAX_MS,
    OUTBOX_RETRY_DELAY_MIN_MS,
};
use crate::notify::{self, EventContext, ObjectEvent};
use crate::service::{Inner, Origin};
use crate::store::{self, BucketRow, OutboxRow, Tx};
use crate::{DeliveryError, Fault};

/// The in-memory side of the outbox: who holds which rows, the drainer's wake-up, the fault.
#[derive(Default)]
pub struct Outbox {
    /// Ids of rows a request or the drainer is delivering.
    claimed: Mutex<HashSet<i64>>,
    /// Woken when a delivery was refused for now (a row to retry).
    retry: tokio::sync::Notify,
    /// [`Fault::CrashAfterCommit`].
    crash_after_commit: AtomicBool,
}

/// Outbox rows held by one deliverer until they are settled; dropping it releases the claim.
pub struct Staged {
    outbox: Arc<Outbox>,
    rows: Vec<OutboxRow>,
}

impl Staged {
    /// A write that produced no event records.
    pub fn none(inner: &Inner) -> Staged {
        Staged { outbox: inner.outbox.clone(), rows: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        let mut claimed = self.outbox.claimed.lock().unwrap_or_else(|p| p.into_inner());
        for r in &self.rows {
            claimed.remove(&r.id);
        }
    }
}

impl Outbox {
    pub fn inject(&self, fault: Fault) {
        match fault {
            Fault::CrashAfterCommit => self.crash_after_commit.store(true, Ordering::Relaxed),
        }
    }

    /// The crash point of [`Fault::CrashAfterCommit`]: between a write's commit and the
    /// delivery of its events.
    pub fn after_commit(&self) {
        if self.crash_after_commit.load(Ordering::Relaxed) {
            eprintln!(
                "VERSA_FAULT=s3-crash-after-commit: aborting after an S3 commit, before its events are delivered"
            );
            std::process::abort();
        }
    }

    /// Claims the rows nobody holds (the drainer's rows).
    fn claim_free(self: &Arc<Self>, rows: Vec<OutboxRow>) -> Staged {
        let mut claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
        let rows: Vec<OutboxRow> = rows.into_iter().filter(|r| claimed.insert(r.id)).collect();
        Staged { outbox: self.clone(), rows }
    }
}

/// Inserts the event records of `events` into the outbox, in the write's transaction `tx`: one
/// row per event and matching Lambda configuration of `bucket` (the bucket row read in `tx`, so
/// the matching is consistent with the commit). The rows are claimed by the caller, which
/// delivers them once `tx` commits. A write whose rows would take a non-empty outbox past its
/// bounds is refused with `SlowDown` (the transaction rolls back: nothing changes).
pub fn stage(
    tx: &Tx<'_>,
    inner: &Inner,
    origin: &Origin,
    bucket: &BucketRow,
    events: &[ObjectEvent],
) -> Result<Staged, ApiError> {
    let Some(doc) = bucket.notification.as_deref() else { return Ok(Staged::none(inner)) };
    if events.is_empty() {
        return Ok(Staged::none(inner));
    }
    let config = match crate::xml::parse(doc.as_bytes())
        .and_then(|root| notify::parse(&root, &bucket.region).map_err(|e| crate::xml::XmlError(e.message())))
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(bucket = %bucket.name, error = %e, "s3: stored notification configuration is unreadable");
            return Ok(Staged::none(inner));
        }
    };
    let cx = EventContext {
        region: &bucket.region,
        bucket: &bucket.name,
        bucket_owner: &bucket.owner,
        requester: &origin.account,
        source_ip: &origin.source_ip,
        request_id: &origin.request_id,
        host_id: &origin.host_id,
    };
    let now = stdx::time::now_ms();
    let mut rows = Vec::new();
    for ev in events {
        for d in notify::matching(&config, ev.event, &ev.key) {
            rows.push(OutboxRow {
                id: 0,
                function_arn: d.arn.clone(),
                bucket: bucket.name.clone(),
                owner: bucket.owner.clone(),
                payload: notify::record(&cx, &d.id, ev),
                created_ms: now,
                attempts: 0,
                due_ms: now + OUTBOX_OWNER_GRACE_MS,
            });
        }
    }
    if rows.is_empty() {
        return Ok(Staged::none(inner));
    }
    let totals = store::outbox_totals(tx)?;
    let bytes: u64 = rows.iter().map(|r| r.payload.len() as u64).sum();
    if totals.rows > 0
        && (totals.rows + rows.len() as u64 > inner.limits.outbox_events_max
            || totals.bytes + bytes > inner.limits.outbox_bytes_max)
    {
        tracing::warn!(
            bucket = %bucket.name,
            waiting = totals.rows,
            waiting_bytes = totals.bytes,
            "s3: the event outbox is full; refusing a write with SlowDown"
        );
        return Err(ApiError::SlowDown);
    }
    for r in &mut rows {
        r.id = store::insert_outbox(tx, r)?;
    }
    let mut claimed = inner.outbox.claimed.lock().unwrap_or_else(|p| p.into_inner());
    claimed.extend(rows.iter().map(|r| r.id));
    drop(claimed);
    Ok(Staged { outbox: inner.outbox.clone(), rows })
}

/// What became of one delivery.
enum Settle {
    /// Queued on the Lambda side, or refused for good: the row goes.
    Delete(i64),
    /// Refused for now: tried again at `due_ms`.
    Retry { id: i64, due_ms: i64 },
}

/// The delay before the next try of a row refused for now `attempts` times before this refusal.
fn retry_delay_ms(attempts: u32) -> i64 {
    OUTBOX_RETRY_DELAY_MIN_MS.saturating_mul(1i64 << attempts.min(16)).min(OUTBOX_RETRY_DELAY_MAX_MS)
}

/// Delivers the claimed rows, in order, then settles them in one transaction (deleting the
/// delivered and refused ones, rescheduling the others) and releases the claim.
pub async fn deliver(inner: &Arc<Inner>, mut staged: Staged) {
    let mut settled = Vec::with_capacity(staged.rows.len());
    let mut retry = false;
    for row in &mut staged.rows {
        let payload = std::mem::take(&mut row.payload);
        let result = inner.notifier.deliver(&row.function_arn, &row.bucket, &row.owner, payload).await;
        settled.push(match result {
            Ok(()) => Settle::Delete(row.id),
            Err(DeliveryError::Refused(e)) => {
                tracing::warn!(bucket = %row.bucket, function = %row.function_arn, error = %e, "s3: event dropped: the destination refused it");
                Settle::Delete(row.id)
            }
            Err(DeliveryError::Unavailable(e)) => {
                if row.attempts == 0 {
                    tracing::warn!(bucket = %row.bucket, function = %row.function_arn, error = %e, "s3: event delivery failed; it stays in the outbox and is retried");
                } else {
                    tracing::debug!(bucket = %row.bucket, function = %row.function_arn, attempts = row.attempts, error = %e, "s3: event delivery failed again");
                }
                retry = true;
                Settle::Retry { id: row.id, due_ms: stdx::time::now_ms() + retry_delay_ms(row.attempts) }
            }
        });
    }
    // Not fsynced: losing this commit (the machine crashing right after) only delivers these
    // events again.
    let result = inner
        .blocking(move |inner| {
            inner.db.write_unsynced(|tx| {
                for s in &settled {
                    match *s {
                        Settle::Delete(id) => {
                            store::delete_outbox(tx, id)?;
                        }
                        Settle::Retry { id, due_ms } => store::retry_outbox(tx, id, due_ms)?,
                    }
                }
                Ok(())
            })
        })
        .await;
    if let Err(e) = result {
        // The rows stay; the drainer delivers them again once they are due.
        tracing::error!(error = %e.message(), "s3: cannot settle delivered events in the outbox");
    }
    drop(staged);
    if retry {
        inner.outbox.retry.notify_one();
    }
}

/// The drainer (see [`crate::S3::start_outbox`]) and, when object data is shared, the orphan
/// sweep, in one task.
pub fn start(inner: Arc<Inner>) -> tokio::task::JoinHandle<()> {
    let sweeper = inner.clone();
    tokio::spawn(async move {
        tokio::join!(drain(inner), sweep_orphans(sweeper));
    })
}

/// Every [`ORPHAN_SWEEP_INTERVAL`], deletes shared backing data nothing references (older than
/// [`ORPHAN_GRACE`]). Never returns; does nothing when data is local (the startup sweep of
/// `S3::open` covers that).
async fn sweep_orphans(inner: Arc<Inner>) {
    if !inner.files.is_shared() {
        return std::future::pending().await;
    }
    loop {
        let db = inner.clone();
        let referenced = async move {
            db.blocking(|i| Ok(i.db.referenced_files()?)).await.map_err(|e| std::io::Error::other(e.message()))
        };
        match inner.files.sweep_orphans(ORPHAN_GRACE, referenced).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "s3: orphan sweep deleted unreferenced object data"),
            Err(e) => tracing::warn!(error = %e, "s3: orphan sweep failed; it runs again later"),
        }
        tokio::time::sleep(ORPHAN_SWEEP_INTERVAL).await;
    }
}

async fn drain(inner: Arc<Inner>) {
    {
        // The only node: nothing delivers the rows a previous run left, so they are due now.
        // (Shared: other nodes may be delivering theirs; a crashed node's rows fall due when
        // their owner's grace or the drainer's lease runs out.)
        if !inner.db.is_shared() {
            let now = stdx::time::now_ms();
            match inner.blocking(move |i| i.db.write(|tx| Ok(store::make_outbox_due(tx, now)?))).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "s3: delivering events left in the outbox by the previous run"),
                Err(e) => tracing::error!(error = %e.message(), "s3: cannot read the event outbox"),
            }
        }
        loop {
            let now = stdx::time::now_ms();
            let due =
                inner.blocking(move |i| i.db.claim_outbox(now, now + OUTBOX_CLAIM_LEASE_MS, OUTBOX_DRAIN_BATCH)).await;
            let mut held_elsewhere = false;
            match due {
                Ok(rows) => {
                    let found = rows.len();
                    let staged = inner.outbox.claim_free(rows);
                    if !staged.is_empty() {
                        deliver(&inner, staged).await;
                        continue;
                    }
                    held_elsewhere = found > 0;
                }
                Err(e) => tracing::error!(error = %e.message(), "s3: cannot read the event outbox"),
            }
            // Sleep until the next row is due or a delivery is refused, at most the idle poll;
            // rows due but held by their requests are looked at again after the minimum delay.
            let next = inner.blocking(|i| i.db.read(|tx| Ok(store::next_outbox_due(tx)?))).await.ok().flatten();
            let idle = OUTBOX_IDLE_POLL_MS as i64;
            let wait_ms = match next {
                _ if held_elsewhere => OUTBOX_RETRY_DELAY_MIN_MS,
                Some(due) => (due - stdx::time::now_ms()).clamp(0, idle),
                None => idle,
            };
            tokio::select! {
                () = inner.outbox.retry.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_bound() {
        assert_eq!(retry_delay_ms(0), OUTBOX_RETRY_DELAY_MIN_MS);
        assert_eq!(retry_delay_ms(1), 2 * OUTBOX_RETRY_DELAY_MIN_MS);
        assert_eq!(retry_delay_ms(40), OUTBOX_RETRY_DELAY_MAX_MS);
        assert_eq!(retry_delay_ms(u32::MAX), OUTBOX_RETRY_DELAY_MAX_MS);
    }
}
