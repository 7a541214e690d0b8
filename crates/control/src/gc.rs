//! Garbage collection of code blobs that no version references any more.
//!
//! Two ways, by [`CodeGc`]:
//! - **Local** (the embedded file backend; this process is the blob store's only user): a
//!   writer holds `blob_gate` (read) from its upload until its reference commits; the
//!   collector holds it (write) while it checks references and deletes. Unreferenced blobs go
//!   at once, and a startup sweep removes what a crash left.
//! - **Shared** (an S3 bucket that every node of one store uses; a process-local gate cannot
//!   order other nodes): a writer records the blob in the store's `code_blobs` table (touched
//!   now) *before* it uploads or reuses it. A collector round, on any node, takes in one write
//!   transaction the rows untouched for the grace period that nothing references (locked
//!   against touches until it commits; on PostgreSQL one node at a time), deletes their
//!   objects, then the rows. So "A skips an upload because the object exists while B's GC
//!   deletes it" cannot happen: A's touch either precedes B's transaction (the row is fresh,
//!   B does not take it) or follows it (the object is already gone, A's HEAD misses and it
//!   uploads). A writer slower than the grace period between touch and commit is the one
//!   case left, which is why the grace period is an hour.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use model::function::Sha256;
use store::StoreError;
use tokio::sync::RwLockReadGuard;

use crate::{Control, ControlError, Result, blocking};

/// How unreferenced code blobs are collected (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeGc {
    /// This process is the blob store's only user: a process-local gate, immediate deletes.
    Local,
    /// The blob store is shared: `code_blobs` rows, collected after `grace` untouched.
    Shared { grace: Duration },
}

/// How long a blob must have gone untouched (uploaded or reused) before it may be collected.
pub const CODE_GC_GRACE_DEFAULT: Duration = Duration::from_secs(3600);
/// A collector round runs at least this often (and `grace` after references were dropped).
pub const CODE_GC_INTERVAL: Duration = Duration::from_secs(600);
/// Most blobs one collector transaction deletes (their objects are deleted inside it, so the
/// batch bounds how long it holds the store's writer).
pub const CODE_GC_BATCH: usize = 64;
/// Waited beyond the grace period before a round, so that what was just freed is stale.
const CODE_GC_SLACK: Duration = Duration::from_millis(200);
/// Rows added per transaction when the startup sweep adopts blobs found in the bucket.
const CODE_GC_TRACK_BATCH: usize = 500;

impl Control {
    /// Stores a code package before the write that references it. Under [`CodeGc::Local`] the
    /// returned guard must be held until that write has finished (see `blob_gate`); under
    /// [`CodeGc::Shared`] the blob is touched in the store first and there is no guard.
    pub(crate) async fn store_code(&self, sha: Sha256, data: Vec<u8>) -> Result<Option<RwLockReadGuard<'_, ()>>> {
        let gate = match self.settings.code_gc {
            CodeGc::Local => Some(self.blob_gate.read().await),
            CodeGc::Shared { .. } => {
                self.store.write(move |tx| tx.touch_code_blob(&sha)).await?;
                None
            }
        };
        // A blob already stored (the same zip again) needs no hop to a blocking thread.
        if !self.blobs.surely_stored(&sha) {
            let blobs = self.blobs.clone();
            blocking(move || blobs.put(&sha, &data)).await?;
        }
        Ok(gate)
    }

    /// Deletes those of `candidates` that nothing references. Called after the transaction
    /// that dropped references has committed. Failures are logged: the operation that freed
    /// the blobs has already succeeded, and the startup sweep retries. Under
    /// [`CodeGc::Shared`] it only wakes the collector, which runs a round once the grace
    /// period has passed.
    pub(crate) async fn collect_garbage(&self, candidates: Vec<Sha256>) {
        let candidates: BTreeSet<Sha256> = candidates.into_iter().collect();
        if candidates.is_empty() {
            return;
        }
        if let CodeGc::Shared { .. } = self.settings.code_gc {
            self.code_gc_wake.notify_one();
            return;
        }
        let _gate = self.blob_gate.write().await;
        for sha in candidates {
            let refs = self.store.read(move |tx| tx.code_references(&sha)).await;
            match refs {
                Ok(0) => {
                    let blobs = self.blobs.clone();
                    if let Err(e) = blocking(move || blobs.delete(&sha)).await {
                        tracing::warn!(sha = %sha.to_hex(), error = %e, "could not delete an unreferenced code blob");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not count code references"),
            }
        }
    }

    /// Deletes every stored blob that no version references: what a crash between writing a
    /// blob and committing its reference (or before collecting it) leaves behind. Run at
    /// startup, before requests are served. Returns how many blobs it deleted.
    ///
    /// Under [`CodeGc::Shared`] other nodes may be uploading right now, so nothing is deleted
    /// on sight: blobs in the bucket without a `code_blobs` row get one (touched now), and
    /// then one collector round runs.
    pub async fn sweep_unreferenced_code(&self) -> Result<usize> {
        if let CodeGc::Shared { .. } = self.settings.code_gc {
            let blobs = self.blobs.clone();
            let found = blocking(move || blobs.list()).await?;
            let mut adopted = 0;
            for chunk in found.chunks(CODE_GC_TRACK_BATCH) {
                let chunk = chunk.to_vec();
                adopted += self.store.write(move |tx| tx.track_code_blobs(&chunk)).await?;
            }
            if adopted > 0 {
                tracing::info!(
                    adopted,
                    "code blobs found in the bucket without a record; collected after the grace period if unused"
                );
            }
            return self.collect_stale_code().await;
        }
        let _gate = self.blob_gate.write().await;
        let referenced: BTreeSet<Sha256> =
            self.store.read(|tx| Ok::<_, StoreError>(tx.referenced_code()?.into_iter().collect())).await?;
        let blobs = self.blobs.clone();
        blocking(move || {
            let mut deleted = 0;
            for sha in blobs.list()? {
                if !referenced.contains(&sha) {
                    blobs.delete(&sha)?;
                    deleted += 1;
                }
            }
            Ok(deleted)
        })
        .await
    }

    /// One collector round under [`CodeGc::Shared`] (nothing under `Local`): deletes the blobs
    /// untouched for the grace period that nothing references, in transactions of at most
    /// [`CODE_GC_BATCH`]. Returns how many it deleted.
    ///
    /// The objects are deleted inside the store's write transaction, on the store's writer
    /// thread (a plain OS thread; the blob client never blocks an async worker), so that the
    /// rows stay locked against touches until the objects are gone.
    pub async fn collect_stale_code(&self) -> Result<usize> {
        let CodeGc::Shared { grace } = self.settings.code_gc else { return Ok(0) };
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let mut total = 0;
        loop {
            let blobs = self.blobs.clone();
            let (deleted, more) = self
                .store
                .write(move |tx| {
                    let stale = tx.stale_code_blobs(grace_ms, CODE_GC_BATCH)?;
                    let mut more = stale.len() == CODE_GC_BATCH;
                    let mut gone = Vec::with_capacity(stale.len());
                    for sha in stale {
                        match blobs.delete(&sha) {
                            Ok(()) => gone.push(sha),
                            Err(e) => {
                                tracing::warn!(sha = %sha.to_hex(), error = %e, "could not delete a stale code blob");
                                more = false;
                                break;
                            }
                        }
                    }
                    tx.delete_code_blobs(&gone)?;
                    Ok::<_, ControlError>((gone.len(), more))
                })
                .await?;
            total += deleted;
            if !more {
                return Ok(total);
            }
        }
    }

    /// Starts the collector of [`CodeGc::Shared`] (`None` under `Local`): a round every
    /// [`CODE_GC_INTERVAL`], and one a grace period after references were dropped. It ends
    /// when the control plane is dropped, or when aborted.
    pub fn start_code_collector(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let CodeGc::Shared { grace } = self.settings.code_gc else { return None };
        let (control, wake) = (Arc::downgrade(self), self.code_gc_wake.clone());
        Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(CODE_GC_INTERVAL) => {}
                    () = wake.notified() => tokio::time::sleep(grace + CODE_GC_SLACK).await,
                }
                let Some(control) = control.upgrade() else { return };
                match control.collect_stale_code().await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "collected unreferenced code blobs"),
                    Err(e) => tracing::warn!(error = %e, "the code blob collector failed; it retries"),
                }
            }
        }))
    }
}
