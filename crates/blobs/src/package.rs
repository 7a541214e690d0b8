//! Validation of uploaded deployment packages (zip files).
//!
//! A package is untrusted input. It is accepted only if it is a readable zip whose entries all
//! stay inside the package directory when unpacked (no `..` components, no absolute paths, no
//! symlinks that lead out) and whose real unzipped size is within Lambda's limit. The size is
//! measured by decompressing every entry, not by trusting the sizes the zip declares, so a
//! zip bomb is stopped as soon as it crosses the limit.

use std::io::{self, Cursor, Read, Write};

use model::limits;

/// Most entries one package may have.
pub const ENTRIES_MAX: usize = 200_000;
/// Longest symlink target read from a package.
const SYMLINK_TARGET_LEN_MAX: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageInfo {
    /// Total decompressed size of every entry.
    pub unzipped_size: u64,
    pub entries: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackageError {
    /// Not a zip, a corrupt zip, or one with entries we refuse to unpack.
    #[error("could not unzip package: {0}")]
    Unreadable(String),
    #[error("unzipped size exceeds {limit} bytes")]
    UnzippedTooLarge { limit: u64 },
}

/// Checks that `data` is a package Versa can safely unpack; see the module docs.
pub fn inspect(data: &[u8]) -> Result<PackageInfo, PackageError> {
    inspect_with_limit(data, limits::CODE_SIZE_UNZIPPED_MAX)
}

pub fn inspect_with_limit(data: &[u8], unzipped_max: u64) -> Result<PackageInfo, PackageError> {
    let unreadable = |what: String| PackageError::Unreadable(what);
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).map_err(|e| unreadable(e.to_string()))?;
    if archive.len() > ENTRIES_MAX {
        return Err(unreadable(format!("more than {ENTRIES_MAX} entries")));
    }
    // Fail fast on declared sizes; the real sizes are checked while decompressing below.
    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| unreadable(e.to_string()))?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > unzipped_max {
        return Err(PackageError::UnzippedTooLarge { limit: unzipped_max });
    }

    check_nothing_under_symlinks(&mut archive).map_err(unreadable)?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| unreadable(e.to_string()))?;
        let name = entry.name_raw().to_vec();
        check_entry_name(&name).map_err(unreadable)?;
        let is_symlink = entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000);
        if is_symlink {
            let mut target = Vec::new();
            (&mut entry)
                .take(SYMLINK_TARGET_LEN_MAX + 1)
                .read_to_end(&mut target)
                .map_err(|e| unreadable(e.to_string()))?;
            check_symlink(&name, &target).map_err(unreadable)?;
            total += target.len() as u64;
            continue;
        }
        let mut sink = Counting { written: 0, budget: unzipped_max - total };
        match io::copy(&mut entry, &mut sink) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                return Err(PackageError::UnzippedTooLarge { limit: unzipped_max });
            }
            Err(e) => return Err(unreadable(e.to_string())),
        }
        total += sink.written;
    }
    Ok(PackageInfo { unzipped_size: total, entries: archive.len() })
}

/// The path components of an entry name, without empty and `.` components.
fn components(name: &[u8]) -> Vec<&[u8]> {
    name.split(|b| *b == b'/' || *b == b'\\').filter(|c| !c.is_empty() && *c != b".").collect()
}

fn is_symlink_entry(mode: Option<u32>) -> bool {
    mode.is_some_and(|m| m & 0o170000 == 0o120000)
}

/// Rejects entries whose path goes through a symlink of the same package (`link/file` with
/// `link` a symlink). Unpacking one would write wherever the symlink leads, and a chain of
/// symlinks that each stay inside the package can together lead out of it.
fn check_nothing_under_symlinks<R: io::Read + io::Seek>(archive: &mut zip::ZipArchive<R>) -> Result<(), String> {
    let mut links: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    let mut names: Vec<Vec<u8>> = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| e.to_string())?;
        let name = components(entry.name_raw()).join(&b'/');
        if is_symlink_entry(entry.unix_mode()) {
            links.insert(name.clone());
        }
        names.push(name);
    }
    if links.is_empty() {
        return Ok(());
    }
    for name in &names {
        let mut prefix: Vec<u8> = Vec::with_capacity(name.len());
        let parts: Vec<&[u8]> = name.split(|b| *b == b'/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(part);
            if links.contains(&prefix) {
                return Err(format!("entry {:?} is under a symlink", String::from_utf8_lossy(name)));
            }
        }
    }
    Ok(())
}

/// Rejects names that would land outside the package directory when unpacked.
fn check_entry_name(name: &[u8]) -> Result<(), String> {
    let shown = String::from_utf8_lossy(name);
    if name.is_empty() || name.contains(&0) {
        return Err(format!("invalid entry name {shown:?}"));
    }
    if name[0] == b'/' || name[0] == b'\\' || (name.len() >= 2 && name[1] == b':') {
        return Err(format!("absolute entry path {shown:?}"));
    }
    if name.split(|b| *b == b'/' || *b == b'\\').any(|c| c == b"..") {
        return Err(format!("entry path {shown:?} leaves the package"));
    }
    Ok(())
}

/// Rejects symlinks whose target is absolute or climbs above the package root.
fn check_symlink(name: &[u8], target: &[u8]) -> Result<(), String> {
    let shown = String::from_utf8_lossy(name);
    if target.is_empty() || target.len() as u64 > SYMLINK_TARGET_LEN_MAX || target.contains(&0) {
        return Err(format!("invalid symlink {shown:?}"));
    }
    if target[0] == b'/' || target[0] == b'\\' {
        return Err(format!("symlink {shown:?} points outside the package"));
    }
    // Depth of the directory holding the link, then walk the target from there.
    let mut depth: i64 = name.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".").count() as i64 - 1;
    for c in target.split(|b| *b == b'/' || *b == b'\\') {
        match c {
            b"" | b"." => {}
            b".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return Err(format!("symlink {shown:?} points outside the package"));
        }
    }
    Ok(())
}

/// A writer that counts bytes and fails once more than `budget` arrive.
struct Counting {
    written: u64,
    budget: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len() as u64;
        if self.written > self.budget {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "unzipped size limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Unpacks a package that [`inspect`] accepted into `dest`, which must not exist. Extraction
/// goes to a sibling temporary directory renamed into place, so `dest` is either absent or
/// complete. File modes come from the zip (so `bootstrap` stays executable), always readable by
/// everyone; directories are `0755`.
pub fn unpack(data: &[u8], dest: &std::path::Path) -> Result<(), PackageError> {
    use std::os::unix::fs::PermissionsExt;
    let unreadable = |what: String| PackageError::Unreadable(what);
    let io_err = |e: io::Error| PackageError::Unreadable(e.to_string());
    let parent = dest.parent().ok_or_else(|| unreadable("no parent directory".into()))?;
    std::fs::create_dir_all(parent).map_err(io_err)?;
    let tmp = tempfile::Builder::new().prefix(".unpack-").tempdir_in(parent).map_err(io_err)?;
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).map_err(|e| unreadable(e.to_string()))?;
    check_nothing_under_symlinks(&mut archive).map_err(unreadable)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| unreadable(e.to_string()))?;
        let name = entry.name_raw().to_vec();
        check_entry_name(&name).map_err(unreadable)?;
        let rel = String::from_utf8_lossy(&name).replace('\\', "/");
        let path = tmp.path().join(rel.trim_start_matches("./"));
        let mode = entry.unix_mode();
        if entry.is_dir() || rel.ends_with('/') {
            std::fs::create_dir_all(&path).map_err(io_err)?;
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        // A repeated name replaces the earlier entry; never write through what it left.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&path).map_err(io_err)?;
        }
        if mode.is_some_and(|m| m & 0o170000 == 0o120000) {
            let mut target = Vec::new();
            (&mut entry).take(SYMLINK_TARGET_LEN_MAX + 1).read_to_end(&mut target).map_err(io_err)?;
            check_symlink(&name, &target).map_err(unreadable)?;
            let target = String::from_utf8(target).map_err(|_| unreadable("symlink target is not UTF-8".into()))?;
            std::os::unix::fs::symlink(target, &path).map_err(io_err)?;
            continue;
        }
        let mut file = std::fs::File::create(&path).map_err(io_err)?;
        io::copy(&mut entry, &mut file).map_err(io_err)?;
        let perm = mode.map_or(0o644, |m| (m & 0o777) | 0o444);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(perm)).map_err(io_err)?;
    }
    // Directories must be traversable by the function's user.
    fn open_dirs(p: &std::path::Path) -> io::Result<()> {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
        for e in std::fs::read_dir(p)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                open_dirs(&e.path())?;
            }
        }
        Ok(())
    }
    open_dirs(tmp.path()).map_err(io_err)?;
    let kept = tmp.keep();
    std::fs::rename(&kept, dest).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        io_err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_entry_name(b"index.py").is_ok());
        assert!(check_entry_name(b"lib/a..b/x").is_ok());
        assert!(check_entry_name(b"../evil").is_err());
        assert!(check_entry_name(b"a/../../evil").is_err());
        assert!(check_entry_name(b"/etc/passwd").is_err());
        assert!(check_entry_name(b"C:\\x").is_err());
    }

    #[test]
    fn symlinks() {
        assert!(check_symlink(b"lib/link", b"../index.py").is_ok());
        assert!(check_symlink(b"link", b"lib/x").is_ok());
        assert!(check_symlink(b"link", b"../x").is_err());
        assert!(check_symlink(b"lib/link", b"../../x").is_err());
        assert!(check_symlink(b"link", b"/etc/passwd").is_err());
    }

    #[test]
    fn entries_under_symlinks_are_refused() {
        use std::io::Write;
        let build = |entries: &[(&str, Option<&str>)]| {
            let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
            for (name, link) in entries {
                match link {
                    Some(target) => w.add_symlink(*name, *target, zip::write::SimpleFileOptions::default()).unwrap(),
                    None => {
                        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
                        w.write_all(b"x").unwrap();
                    }
                }
            }
            w.finish().unwrap().into_inner()
        };
        // Each link stays inside the package, but `l` resolves to the parent of the package
        // (`b/c` is the package root, `..` one above it), and `l/evil` would be written there.
        let chain = build(&[("b/c", Some("..")), ("l", Some("b/c/..")), ("l/evil", None)]);
        assert!(matches!(inspect(&chain), Err(PackageError::Unreadable(m)) if m.contains("under a symlink")));
        let dir = tempfile::tempdir().unwrap();
        assert!(unpack(&chain, &dir.path().join("pkg")).is_err());
        assert!(!dir.path().join("evil").exists());
        // Links themselves, and files beside them, are fine.
        let fine = build(&[("lib/real.so", None), ("lib/alias.so", Some("real.so")), ("bin/x", None)]);
        assert!(inspect(&fine).is_ok());
        unpack(&fine, &dir.path().join("ok")).unwrap();
        assert_eq!(std::fs::read_link(dir.path().join("ok/lib/alias.so")).unwrap(), std::path::Path::new("real.so"));
    }

    #[test]
    fn not_a_zip() {
        assert!(matches!(inspect(b"definitely not a zip"), Err(PackageError::Unreadable(_))));
        assert!(matches!(inspect(b""), Err(PackageError::Unreadable(_))));
    }
}
