//! The embedded blob backend: one file per blob under `<root>/sha256/<first two hex>/<hex>`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use model::function::Sha256;

use crate::BlobBackend;

#[derive(Debug)]
pub struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    /// Opens (creating if needed) a blob directory. Only one process may use it at a time.
    pub fn open(root: &Path) -> io::Result<FsBlobs> {
        fs::create_dir_all(root.join("sha256"))?;
        // Temporary files are only ever left behind by a crash mid-write: clear them.
        let tmp = root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        Ok(FsBlobs { root: root.to_owned() })
    }

    fn path(&self, key: &Sha256) -> PathBuf {
        let hex = key.to_hex();
        self.root.join("sha256").join(&hex[..2]).join(hex)
    }
}

impl BlobBackend for FsBlobs {
    fn put(&self, key: &Sha256, data: &[u8]) -> io::Result<()> {
        let path = self.path(key);
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().expect("blob paths have a parent");
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            // The new shard directory's own entry must be durable too.
            File::open(self.root.join("sha256"))?.sync_all()?;
        }
        // Write to a unique temporary file, make it durable, then rename it into place, so
        // that a crash leaves either nothing or the whole blob under its name.
        let mut tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))?;
        tmp.write_all(data)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    fn surely_stored(&self, key: &Sha256) -> bool {
        // Blobs are renamed into place only once durable (see `put`).
        self.path(key).exists()
    }

    fn get(&self, key: &Sha256) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, key: &Sha256) -> io::Result<()> {
        match fs::remove_file(self.path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn list(&self) -> io::Result<Vec<Sha256>> {
        let mut out = Vec::new();
        for shard in fs::read_dir(self.root.join("sha256"))? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                if let Some(key) = entry.file_name().to_str().and_then(Sha256::from_hex) {
                    out.push(key);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_delete_list() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(dir.path()).unwrap();
        let key = crate::sha256(b"hello");
        assert_eq!(blobs.get(&key).unwrap(), None);
        blobs.put(&key, b"hello").unwrap();
        blobs.put(&key, b"hello").unwrap();
        assert_eq!(blobs.get(&key).unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(blobs.list().unwrap(), vec![key]);
        blobs.delete(&key).unwrap();
        blobs.delete(&key).unwrap();
        assert_eq!(blobs.get(&key).unwrap(), None);
        assert!(blobs.list().unwrap().is_empty());
    }
}
