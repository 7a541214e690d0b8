//! Object data on disk.
//!
//! ```text
//! <dir>/s3.sqlite3            metadata (store)
//! <dir>/tmp/<id>              uploads being written (removed at startup)
//! <dir>/data/<id[..2]>/<id>   immutable data files of objects and parts
//! ```
//!
//! A data file is written once under `tmp/`, fsynced, renamed into `data/` (and the directory
//! fsynced) before the database commit that references it; it is never modified afterwards, so
//! readers need no locks. It is unlinked after the commit that stopped referencing it. Readers
//! that already opened it keep reading (POSIX unlink semantics). A crash can leave a file that
//! nothing references (between rename and commit, or between commit and unlink); the startup
//! sweep deletes those.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The data and temp directories.
#[derive(Debug)]
pub struct Files {
    data: PathBuf,
    tmp: PathBuf,
}

/// A fresh, unique data file id (32 lowercase hex digits).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Files {
    /// Creates the directories (and the 256 fan-out directories of `data/`).
    pub fn open(dir: &Path) -> io::Result<Files> {
        let files = Files { data: dir.join("data"), tmp: dir.join("tmp") };
        std::fs::create_dir_all(&files.tmp)?;
        for i in 0..=255u8 {
            std::fs::create_dir_all(files.data.join(format!("{i:02x}")))?;
        }
        sync_dir(&files.data)?;
        sync_dir(dir)?;
        Ok(files)
    }

    pub fn tmp_path(&self, id: &str) -> PathBuf {
        self.tmp.join(id)
    }

    pub fn data_path(&self, id: &str) -> PathBuf {
        self.data.join(id.get(..2).unwrap_or("00")).join(id)
    }

    /// Moves a fsynced temp file into `data/` under the same id and makes the rename durable.
    pub fn persist(&self, id: &str) -> io::Result<()> {
        let to = self.data_path(id);
        std::fs::rename(self.tmp_path(id), &to)?;
        sync_dir(to.parent().unwrap_or(&self.data))
    }

    /// A new data file holding the same bytes as the data file `source` (a hard link: data files
    /// are immutable), durable. Falls back to copying where links are not possible.
    pub fn link_copy(&self, source: &str, id: &str) -> io::Result<()> {
        let to = self.data_path(id);
        if std::fs::hard_link(self.data_path(source), &to).is_err() {
            let tmp = self.tmp_path(id);
            std::fs::copy(self.data_path(source), &tmp)?;
            File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &to)?;
        }
        sync_dir(to.parent().unwrap_or(&self.data))
    }

    /// Unlinks data files no longer referenced; failures are logged (the startup sweep retries).
    pub fn remove_data(&self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if let Err(e) = std::fs::remove_file(self.data_path(&id))
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(file = %id, error = %e, "s3: could not remove an unreferenced data file");
            }
        }
    }

    /// Startup sweep: removes every temp file, and every data file not in `referenced`.
    /// Returns how many files were removed.
    pub fn sweep(&self, referenced: &HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.tmp)? {
            let entry = entry?;
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
        for i in 0..=255u8 {
            for entry in std::fs::read_dir(self.data.join(format!("{i:02x}")))? {
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
    path: PathBuf,
    armed: bool,
}

impl DataFile {
    pub fn new(files: &Files, id: String) -> DataFile {
        DataFile { path: files.data_path(&id), id, armed: true }
    }

    pub fn committed(mut self) {
        self.armed = false;
    }
}

impl Drop for DataFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persist_link_and_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let t = TempFile::new(&files);
        std::fs::write(t.path(), b"abc").unwrap();
        files.persist(&t.id).unwrap();
        let a = t.id.clone();
        t.keep();
        assert_eq!(std::fs::read(files.data_path(&a)).unwrap(), b"abc");
        let b = new_id();
        files.link_copy(&a, &b).unwrap();
        assert_eq!(std::fs::read(files.data_path(&b)).unwrap(), b"abc");

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
        assert!(files.data_path(&a).exists());
        assert!(!files.data_path(&b).exists());
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
