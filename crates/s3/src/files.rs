//! Object data: immutable data files, on disk (the embedded default) or in a shared
//! S3-compatible object store (when the server's blobs are shared, so several nodes serve the
//! same objects).
//!
//! ```text
//! <dir>/s3.sqlite3            metadata (store; SQLite only)
//! <dir>/tmp/<id>              uploads being written (removed at startup), in both modes
//! <dir>/data/<id[..2]>/<id>   immutable data files of objects and parts (local mode)
//! <prefix>/<bucket>/<id>      immutable backing objects of objects and parts (shared mode)
//! ```
//!
//! **Local:** a data file is written once under `tmp/`, fsynced, renamed into `data/` (and the
//! directory fsynced) before the database commit that references it; it is never modified
//! afterwards, so readers need no locks. It is unlinked after the commit that stopped
//! referencing it. Readers that already opened it keep reading (POSIX unlink semantics). A
//! crash can leave a file that nothing references (between rename and commit, or between
//! commit and unlink); the startup sweep deletes those.
//!
//! **Shared:** the body still streams to `tmp/` (hashed, bounded, verified), then is uploaded
//! whole (one PUT, or the store's multipart upload for large files) under a fresh key before
//! the commit that references it; a key is never overwritten (no conditional PUT needed). A
//! completed multipart upload is not copied: its data file is a *manifest*, `m:` followed by
//! its parts' ids and sizes, and reads go through the parts in order. Data a commit stopped
//! referencing is deleted [`SHARED_DELETE_DELAY`] later (a reader on another node may still be
//! streaming it); what a crash leaves behind is deleted by the orphan sweep
//! ([`Files::sweep_orphans`]), which only deletes backing objects nothing references and older
//! than [`ORPHAN_GRACE`] (an upload not yet committed is younger than that).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt as _;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::limits::READ_CHUNK_BYTES;

/// How long after the commit that stopped referencing it a shared backing object is deleted.
pub const SHARED_DELETE_DELAY: Duration = Duration::from_secs(60);
/// The orphan sweep deletes only backing objects older than this: an upload's bytes are
/// written before its row commits, and no upload takes this long between the two.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);
/// How often each node runs the orphan sweep of shared data (deletes are idempotent, so nodes
/// need not agree on who sweeps).
pub const ORPHAN_SWEEP_INTERVAL: Duration = Duration::from_secs(600);
/// Files up to this size go to the object store in one PUT; larger ones in parts.
const SINGLE_PUT_BYTES_MAX: u64 = 16 << 20;
/// Part size of the object store's multipart uploads of large files.
const UPLOAD_CHUNK_BYTES: usize = 8 << 20;
/// Parts of one large file uploaded at once.
const UPLOAD_CONCURRENCY: usize = 4;
/// The prefix of manifests (data files made of the parts of a completed multipart upload).
const MANIFEST: &str = "m:";

/// The data and temp directories, or the temp directory and the object store.
#[derive(Debug)]
pub struct Files {
    tmp: PathBuf,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Local { data: PathBuf },
    Shared(Shared),
}

/// The shared object store, the key prefix of S3's data in it, and the runtime that drives it
/// from blocking code.
#[derive(Clone)]
struct Shared {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    rt: tokio::runtime::Handle,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// A fresh, unique data file id (32 lowercase hex digits).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The ids of the backing data of a data file: itself, or a manifest's parts.
pub fn segment_ids(file: &str) -> Vec<String> {
    match file.strip_prefix(MANIFEST) {
        Some(list) => list.split(',').filter_map(|s| s.split_once('@').map(|(id, _)| id.to_owned())).collect(),
        None => vec![file.to_owned()],
    }
}

/// The `(id, size)` segments of a data file of `size` bytes.
fn segments(file: &str, size: u64) -> Vec<(String, u64)> {
    match file.strip_prefix(MANIFEST) {
        Some(list) => list
            .split(',')
            .filter_map(|s| s.split_once('@'))
            .map(|(id, n)| (id.to_owned(), n.parse().unwrap_or(0)))
            .collect(),
        None => vec![(file.to_owned(), size)],
    }
}

/// A manifest: the data file made of these `(id, size)` parts, in order.
pub fn manifest(parts: &[(String, u64)]) -> String {
    let list: Vec<String> = parts.iter().map(|(id, n)| format!("{id}@{n}")).collect();
    format!("{MANIFEST}{}", list.join(","))
}

fn io_other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl Shared {
    fn path(&self, id: &str) -> object_store::path::Path {
        object_store::path::Path::from(format!("{}/{id}", self.prefix))
    }

    /// Deletes the backing data of `ids` after [`SHARED_DELETE_DELAY`] (a task on the runtime;
    /// lost in a crash, then the orphan sweep deletes it).
    fn delete_later(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let shared = self.clone();
        self.rt.spawn(async move {
            tokio::time::sleep(SHARED_DELETE_DELAY).await;
            for id in ids {
                match shared.store.delete(&shared.path(&id)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => tracing::warn!(file = %id, error = %e, "s3: could not delete unreferenced object data"),
                }
            }
        });
    }

    /// `len` bytes of `id` from `start` as a stream.
    async fn range(
        &self,
        id: &str,
        start: u64,
        len: u64,
    ) -> io::Result<futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>> {
        let options = GetOptions { range: Some(GetRange::Bounded(start..start + len)), ..GetOptions::default() };
        Ok(self.store.get_opts(&self.path(id), options).await.map_err(io::Error::from)?.into_stream())
    }
}

impl Files {
    /// Local mode: creates the directories (and the 256 fan-out directories of `data/`).
    pub fn open(dir: &Path) -> io::Result<Files> {
        let files = Files { tmp: dir.join("tmp"), kind: Kind::Local { data: dir.join("data") } };
        let Kind::Local { data } = &files.kind else { unreachable!("just built") };
        std::fs::create_dir_all(&files.tmp)?;
        for i in 0..=255u8 {
            std::fs::create_dir_all(data.join(format!("{i:02x}")))?;
        }
        sync_dir(data)?;
        sync_dir(dir)?;
        Ok(files)
    }

    /// Shared mode: temp files in `<dir>/tmp`, data in `store` under `<prefix>/`. Must be called
    /// inside a tokio runtime (which then drives the store for blocking callers).
    pub fn open_shared(dir: &Path, store: Arc<dyn ObjectStore>, prefix: &str) -> io::Result<Files> {
        let rt = tokio::runtime::Handle::try_current().map_err(io_other)?;
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let prefix = prefix.trim_matches('/').to_owned();
        Ok(Files { tmp, kind: Kind::Shared(Shared { store, prefix, rt }) })
    }

    /// Whether data lives in the shared object store.
    pub fn is_shared(&self) -> bool {
        matches!(self.kind, Kind::Shared(_))
    }

    pub fn tmp_path(&self, id: &str) -> PathBuf {
        self.tmp.join(id)
    }

    fn data_path(data: &Path, id: &str) -> PathBuf {
        data.join(id.get(..2).unwrap_or("00")).join(id)
    }

    /// Makes the fsynced temp file `id` a data file of `bucket` and returns the data file's id.
    /// Local: moved into `data/` under the same id, durably. Shared: uploaded under
    /// `<bucket>/<id>` (the temp file is left for its owner to remove).
    pub fn persist(&self, id: &str, bucket: &str) -> io::Result<String> {
        match &self.kind {
            Kind::Local { data } => {
                let to = Files::data_path(data, id);
                std::fs::rename(self.tmp_path(id), &to)?;
                sync_dir(to.parent().unwrap_or(data))?;
                Ok(id.to_owned())
            }
            Kind::Shared(s) => {
                let file = format!("{bucket}/{id}");
                let path = s.path(&file);
                let mut input = File::open(self.tmp_path(id))?;
                let size = input.metadata()?.len();
                s.rt.block_on(async {
                    if size <= SINGLE_PUT_BYTES_MAX {
                        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                        input.read_to_end(&mut buf)?;
                        s.store.put(&path, PutPayload::from(buf)).await.map_err(io::Error::from)?;
                        return Ok::<(), io::Error>(());
                    }
                    let upload = s.store.put_multipart(&path).await.map_err(io::Error::from)?;
                    let mut w = WriteMultipart::new_with_chunk_size(upload, UPLOAD_CHUNK_BYTES);
                    let mut buf = vec![0u8; UPLOAD_CHUNK_BYTES];
                    loop {
                        let n = input.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        w.wait_for_capacity(UPLOAD_CONCURRENCY).await.map_err(io::Error::from)?;
                        w.write(&buf[..n]);
                    }
                    w.finish().await.map_err(io::Error::from)?;
                    Ok(())
                })?;
                Ok(file)
            }
        }
    }

    /// A new data file of `bucket` holding the same bytes as the data file `source` (not a
    /// manifest), durable; returns its id. Local: a hard link (data files are immutable), or a
    /// copy where links are not possible. Shared: the store's server-side copy. `NotFound` if
    /// `source` is gone (replaced meanwhile).
    pub fn link_copy(&self, source: &str, bucket: &str) -> io::Result<String> {
        let id = new_id();
        match &self.kind {
            Kind::Local { data } => {
                let to = Files::data_path(data, &id);
                if std::fs::hard_link(Files::data_path(data, source), &to).is_err() {
                    let tmp = self.tmp_path(&id);
                    std::fs::copy(Files::data_path(data, source), &tmp)?;
                    File::open(&tmp)?.sync_all()?;
                    std::fs::rename(&tmp, &to)?;
                }
                sync_dir(to.parent().unwrap_or(data))?;
                Ok(id)
            }
            Kind::Shared(s) => {
                let file = format!("{bucket}/{id}");
                s.rt.block_on(s.store.copy(&s.path(source), &s.path(&file))).map_err(io::Error::from)?;
                Ok(file)
            }
        }
    }

    /// A blocking reader of the data file `file` (`size` bytes in all) from `start`. `NotFound`
    /// if it is gone (replaced meanwhile).
    pub fn reader(&self, file: &str, size: u64, start: u64) -> io::Result<Box<dyn Read + Send>> {
        match &self.kind {
            Kind::Local { data } => {
                let mut f = File::open(Files::data_path(data, file))?;
                if start > 0 {
                    f.seek(SeekFrom::Start(start))?;
                }
                Ok(Box::new(f))
            }
            Kind::Shared(s) => Ok(Box::new(SharedReader {
                shared: s.clone(),
                spans: spans(&segments(file, size), start, size.saturating_sub(start)),
                current: None,
                pending: bytes::Bytes::new(),
            })),
        }
    }

    /// `len` bytes of the data file `file` (`size` bytes in all) from `start`, as a response
    /// body of `READ_CHUNK_BYTES` frames (local) or the store's frames (shared). `NotFound` if
    /// it is gone (replaced meanwhile) — for a manifest, only its first part is checked before
    /// the answer starts.
    pub async fn body(&self, file: &str, size: u64, start: u64, len: u64) -> io::Result<Body> {
        match &self.kind {
            Kind::Local { data } => {
                let mut f = tokio::fs::File::open(Files::data_path(data, file)).await?;
                if start > 0 {
                    f.seek(SeekFrom::Start(start)).await?;
                }
                Ok(stream_file(f, len))
            }
            Kind::Shared(s) => {
                let spans = spans(&segments(file, size), start, len);
                let mut spans = spans.into_iter();
                let Some((id, a, n)) = spans.next() else { return Ok(Body::empty()) };
                let first = s.range(&id, a, n).await?;
                let rest: Vec<(String, u64, u64)> = spans.collect();
                let shared = s.clone();
                let tail = futures_util::stream::iter(rest)
                    .then(move |(id, a, n)| {
                        let shared = shared.clone();
                        async move {
                            match shared.range(&id, a, n).await {
                                Ok(st) => st.map(|r| r.map_err(io::Error::from)).boxed(),
                                Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
                            }
                        }
                    })
                    .flatten();
                Ok(Body::from_stream(first.map(|r| r.map_err(io::Error::from)).chain(tail)))
            }
        }
    }

    /// Removes data files no longer referenced (local: unlinked now, failures logged and left
    /// to the startup sweep; shared: deleted later, see [`SHARED_DELETE_DELAY`]). A manifest's
    /// parts go with it.
    pub fn remove_data(&self, ids: impl IntoIterator<Item = String>) {
        self.kind.remove(ids.into_iter().flat_map(|f| segment_ids(&f)).collect());
    }

    /// Startup sweep: removes every temp file, and (local mode) every data file not in
    /// `referenced`. Returns how many files were removed.
    pub fn sweep(&self, referenced: &HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.tmp)? {
            let entry = entry?;
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
        let Kind::Local { data } = &self.kind else { return Ok(removed) };
        for i in 0..=255u8 {
            for entry in std::fs::read_dir(data.join(format!("{i:02x}")))? {
                let entry = entry?;
                let name = entry.file_name();
                if !referenced.contains(name.to_string_lossy().as_ref()) {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Shared mode: deletes every backing object under the prefix that is older than `grace`
    /// and not in the set `referenced` returns (read after the listing, so a row committed
    /// meanwhile counts). Returns how many were deleted; nothing in local mode.
    pub async fn sweep_orphans(
        &self,
        grace: Duration,
        referenced: impl std::future::Future<Output = io::Result<HashSet<String>>>,
    ) -> io::Result<usize> {
        let Kind::Shared(s) = &self.kind else { return Ok(0) };
        let root = object_store::path::Path::from(s.prefix.clone());
        let cutoff = stdx::time::now_ms() - i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let mut old = Vec::new();
        let mut listing = s.store.list(Some(&root));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(io::Error::from)?;
            if meta.last_modified.timestamp_millis() < cutoff {
                let full = meta.location.to_string();
                let id = full.strip_prefix(&format!("{}/", s.prefix)).unwrap_or(&full).to_owned();
                old.push(id);
            }
        }
        if old.is_empty() {
            return Ok(0);
        }
        let referenced = referenced.await?;
        let mut deleted = 0;
        for id in old.into_iter().filter(|id| !referenced.contains(id)) {
            match s.store.delete(&s.path(&id)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => tracing::warn!(file = %id, error = %e, "s3: orphan sweep could not delete"),
            }
        }
        Ok(deleted)
    }
}

impl Kind {
    fn remove(&self, ids: Vec<String>) {
        match self {
            Kind::Local { data } => {
                for id in ids {
                    if let Err(e) = std::fs::remove_file(Files::data_path(data, &id))
                        && e.kind() != io::ErrorKind::NotFound
                    {
                        tracing::warn!(file = %id, error = %e, "s3: could not remove an unreferenced data file");
                    }
                }
            }
            Kind::Shared(s) => s.delete_later(ids),
        }
    }
}

/// The `(id, offset, length)` pieces of `segments` covering `len` bytes from `start`; empty
/// pieces left out.
fn spans(segments: &[(String, u64)], start: u64, len: u64) -> Vec<(String, u64, u64)> {
    let (mut out, mut offset, end) = (Vec::new(), 0u64, start.saturating_add(len));
    for (id, size) in segments {
        let (a, b) = (offset.max(start), (offset + size).min(end));
        if a < b {
            out.push((id.clone(), a - offset, b - a));
        }
        offset += size;
    }
    out
}

/// A blocking reader over the store's ranged GETs of a data file's spans.
struct SharedReader {
    shared: Shared,
    spans: Vec<(String, u64, u64)>,
    current: Option<futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>>,
    pending: bytes::Bytes,
}

impl Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.pending.is_empty() {
                let n = buf.len().min(self.pending.len());
                buf[..n].copy_from_slice(&self.pending.split_to(n));
                return Ok(n);
            }
            if let Some(stream) = self.current.as_mut() {
                match self.shared.rt.block_on(stream.next()) {
                    Some(chunk) => {
                        self.pending = chunk.map_err(io::Error::from)?;
                        continue;
                    }
                    None => self.current = None,
                }
            }
            if self.spans.is_empty() {
                return Ok(0);
            }
            let (id, a, n) = self.spans.remove(0);
            self.current = Some(self.shared.rt.block_on(self.shared.range(&id, a, n))?);
        }
    }
}

/// `len` bytes of `file` from its current position, as a body of `READ_CHUNK_BYTES` frames.
fn stream_file(file: tokio::fs::File, len: u64) -> Body {
    let stream = futures_util::stream::unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(READ_CHUNK_BYTES);
        let mut buf = vec![0u8; want];
        match file.read(&mut buf).await {
            Ok(0) => Some((Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)), (file, 0))),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    Body::from_stream(stream)
}

/// fsync of a directory, so that a rename or link in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A temp file that is removed when dropped unless [`TempFile::keep`] was called: a failed,
/// rejected or abandoned (client gone, future dropped) upload leaves nothing behind.
#[derive(Debug)]
pub struct TempFile {
    pub id: String,
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    pub fn new(files: &Files) -> TempFile {
        let id = new_id();
        TempFile { path: files.tmp_path(&id), id, armed: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file was persisted (renamed away); do not remove it on drop.
    pub fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A persisted data file not yet referenced by a committed row: removed when dropped unless
/// [`DataFile::committed`] was called.
#[derive(Debug)]
pub struct DataFile {
    pub id: String,
    kind: Kind,
    armed: bool,
}

impl DataFile {
    pub fn new(files: &Files, id: String) -> DataFile {
        DataFile { id, kind: files.kind.clone(), armed: true }
    }

    /// A data file whose data belongs to others until it commits (a manifest of parts):
    /// nothing is removed when it is dropped.
    pub fn borrowed(files: &Files, id: String) -> DataFile {
        DataFile { id, kind: files.kind.clone(), armed: false }
    }

    pub fn committed(mut self) {
        self.armed = false;
    }
}

impl Drop for DataFile {
    fn drop(&mut self) {
        if self.armed {
            self.kind.remove(segment_ids(&self.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Files {
        fn local_path(&self, id: &str) -> PathBuf {
            let Kind::Local { data } = &self.kind else { panic!("local only") };
            Files::data_path(data, id)
        }
    }

    /// Shared mode over an in-memory object store: persisted temp files become backing
    /// objects `<prefix>/<bucket>/<id>`, reads go through a manifest's parts at any offset, and
    /// the orphan sweep deletes only what nothing references once it is older than the grace.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_data_reads_through_manifests_and_orphans_are_swept() {
        use futures_util::StreamExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let files = Arc::new(Files::open_shared(dir.path(), store.clone(), "/pre/s3/").unwrap());
        assert!(files.is_shared());
        let f = files.clone();
        let (a, b, c) = tokio::task::spawn_blocking(move || {
            let put = |data: &[u8]| {
                let t = TempFile::new(&f);
                std::fs::write(t.path(), data).unwrap();
                f.persist(&t.id, "bk").unwrap()
            };
            (put(b"hello "), put(b"world"), put(b"orphan"))
        })
        .await
        .unwrap();
        assert!(a.starts_with("bk/") && a.len() == 3 + 32);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "dropped after the upload, removed");
        let m = manifest(&[(a.clone(), 6), (b.clone(), 5)]);
        let f = files.clone();
        let m2 = m.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut out = String::new();
            f.reader(&m2, 11, 4).unwrap().read_to_string(&mut out).unwrap();
            out
        });
        assert_eq!(read.await.unwrap(), "o world");
        let body = files.body(&m, 11, 3, 5).await.unwrap();
        let got: Vec<u8> = body.into_data_stream().map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(got, b"lo wo");
        assert!(files.body("bk/missing", 1, 0, 1).await.is_err_and(|e| e.kind() == io::ErrorKind::NotFound));

        // Not yet older than the grace: kept. Then only the unreferenced one goes.
        let referenced: HashSet<String> = segment_ids(&m).into_iter().collect();
        let r = referenced.clone();
        assert_eq!(files.sweep_orphans(Duration::from_secs(3600), async { Ok(r) }).await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = referenced.clone();
        assert_eq!(files.sweep_orphans(Duration::from_millis(1), async { Ok(r) }).await.unwrap(), 1);
        let left: Vec<String> = store.list(None).map(|m| m.unwrap().location.to_string()).collect().await;
        let mut want = vec![format!("pre/s3/{a}"), format!("pre/s3/{b}")];
        want.sort();
        let mut left = left;
        left.sort();
        assert_eq!(left, want);
        assert!(!left.contains(&format!("pre/s3/{c}")));
    }

    #[test]
    fn manifests_and_spans() {
        let m = manifest(&[("b/1".into(), 3), ("b/2".into(), 0), ("b/3".into(), 4)]);
        assert_eq!(m, "m:b/1@3,b/2@0,b/3@4");
        assert_eq!(segment_ids(&m), ["b/1", "b/2", "b/3"]);
        assert_eq!(segment_ids("b/9"), ["b/9"]);
        let segs = segments(&m, 7);
        assert_eq!(spans(&segs, 0, 7), [("b/1".into(), 0, 3), ("b/3".into(), 0, 4)]);
        assert_eq!(spans(&segs, 2, 3), [("b/1".into(), 2, 1), ("b/3".into(), 0, 2)]);
        assert_eq!(spans(&segs, 5, 2), [("b/3".to_owned(), 2, 2)]);
        assert!(spans(&segs, 7, 0).is_empty());
        assert_eq!(spans(&segments("b/9", 5), 1, 3), [("b/9".to_owned(), 1, 3)]);
    }

    #[test]
    fn persist_link_and_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let t = TempFile::new(&files);
        std::fs::write(t.path(), b"abc").unwrap();
        assert_eq!(files.persist(&t.id, "bk").unwrap(), t.id);
        let a = t.id.clone();
        t.keep();
        assert_eq!(std::fs::read(files.local_path(&a)).unwrap(), b"abc");
        let b = files.link_copy(&a, "bk").unwrap();
        assert_eq!(std::fs::read(files.local_path(&b)).unwrap(), b"abc");

        let dropped = TempFile::new(&files);
        std::fs::write(dropped.path(), b"x").unwrap();
        let dropped_path = dropped.path().to_owned();
        drop(dropped);
        assert!(!dropped_path.exists());

        let stray = TempFile::new(&files);
        std::fs::write(stray.path(), b"x").unwrap();
        stray.keep();
        let referenced: HashSet<String> = [a.clone()].into();
        assert_eq!(files.sweep(&referenced).unwrap(), 2);
        assert!(files.local_path(&a).exists());
        assert!(!files.local_path(&b).exists());
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
