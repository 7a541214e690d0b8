//! Function code packages: validating uploaded zips and storing them by content.
//!
//! A package is stored once per SHA-256, however many versions (or functions) use it. The
//! [`BlobBackend`] trait is the seam for other object stores (an S3-compatible bucket shared by
//! several Versa nodes); [`FsBlobs`] is the embedded backend, a directory in the data dir, and
//! [`S3Blobs`] keeps them in an S3-compatible bucket (`--blobs s3://…`).
//!
//! **Invariant:** a blob is only ever written whole: readers never see a partial file.
//! **Boundary:** this crate knows nothing about which versions use a blob. Deciding that a blob
//! is garbage is `control`'s job, because only the store knows the references.

mod fs;
pub mod merge;
pub mod package;
pub mod s3;

use std::io;

use model::function::Sha256;

pub use crate::fs::FsBlobs;
pub use crate::s3::{BlobsUrl, S3Blobs, S3Url};

/// Content-addressed storage of code packages.
///
/// Methods block; callers run them on blocking threads.
pub trait BlobBackend: Send + Sync + 'static {
    /// Stores `data` under `key` unless a blob with that key exists. When it returns `Ok`, the
    /// blob survives a crash.
    fn put(&self, key: &Sha256, data: &[u8]) -> io::Result<()>;
    /// The whole blob, or `None` if there is none under `key`.
    fn get(&self, key: &Sha256) -> io::Result<Option<Vec<u8>>>;
    /// Removes the blob; removing a missing blob is not an error.
    fn delete(&self, key: &Sha256) -> io::Result<()>;
    /// Every key currently stored, for the garbage sweep at startup.
    fn list(&self) -> io::Result<Vec<Sha256>>;
    /// Whether a blob is stored under `key`, when that can be told without blocking (a
    /// local file's metadata); `false` when it cannot. Callers may then skip [`put`](Self::put).
    fn surely_stored(&self, _key: &Sha256) -> bool {
        false
    }
}

/// The SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Sha256 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    Sha256(out)
}

#[cfg(test)]
mod proptests;
