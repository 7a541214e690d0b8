//! Garbage collection of code blobs that no version references any more.

use std::collections::BTreeSet;

use model::function::Sha256;
use store::StoreError;

use crate::{Control, Result, blocking};

impl Control {
    /// Deletes those of `candidates` that nothing references. Called after the transaction
    /// that dropped references has committed. Failures are logged: the operation that freed
    /// the blobs has already succeeded, and the startup sweep retries.
    pub(crate) async fn collect_garbage(&self, candidates: Vec<Sha256>) {
        let candidates: BTreeSet<Sha256> = candidates.into_iter().collect();
        if candidates.is_empty() {
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
    pub async fn sweep_unreferenced_code(&self) -> Result<usize> {
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
}
