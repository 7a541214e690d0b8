//! Validation of uploaded deployment packages (zip files).
//!
//! A package is untrusted input. It is accepted only if it is a readable zip whose entries all
//! stay inside the package directory when unpacked (no `..` components, no absolute paths, no
//! symlinks that lead out) and whose real unzipped size is within Lambda's limit. The size is
//! measured by decompressing every entry, not by trusting the sizes the zip declares, so a
//! zip bomb is stopped as soon as it crosses the limit.

use std::collections::HashMap;
use std::io::{self, Cursor, Read, Write};

use model::limits;

/// Most entries one package may have.
pub const ENTRIES_MAX: usize = 200_000;
/// Longest symlink target read from a package.
const SYMLINK_TARGET_LEN_MAX: u64 = 4096;
/// Longest component of an entry's path: Linux's `NAME_MAX`, so every accepted name can be
/// created when the package is unpacked.
pub const ENTRY_COMPONENT_LEN_MAX: usize = 255;
/// Most links followed while resolving one symlink of a package (Linux's `MAXSYMLINKS`).
const SYMLINK_HOPS_MAX: usize = 40;
/// Longest entry name. Linux refuses paths of `PATH_MAX` (4096) bytes; this leaves 1024 bytes
/// for the directory a package is unpacked into.
pub const ENTRY_NAME_LEN_MAX: usize = 3072;

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
    // Each symlink as it will be unpacked (the last entry of a name wins): name → target.
    let mut links: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| unreadable(e.to_string()))?;
        let name = entry.name_raw().to_vec();
        check_entry_name(&name).map_err(unreadable)?;
        let is_symlink = kind(&name, entry.unix_mode()) == Kind::Link;
        if !is_symlink {
            links.remove(&components(&name).join(&b'/'));
        }
        if is_symlink {
            let mut target = Vec::new();
            (&mut entry)
                .take(SYMLINK_TARGET_LEN_MAX + 1)
                .read_to_end(&mut target)
                .map_err(|e| unreadable(e.to_string()))?;
            check_symlink(&name, &target).map_err(unreadable)?;
            // A link's target is its content: it counts against the limit like a file's bytes.
            total = total.saturating_add(target.len() as u64);
            if total > unzipped_max {
                return Err(PackageError::UnzippedTooLarge { limit: unzipped_max });
            }
            links.insert(components(&name).join(&b'/'), target);
            continue;
        }
        let mut sink = Counting { written: 0, budget: unzipped_max.saturating_sub(total) };
        match io::copy(&mut entry, &mut sink) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                return Err(PackageError::UnzippedTooLarge { limit: unzipped_max });
            }
            Err(e) => return Err(unreadable(e.to_string())),
        }
        total += sink.written;
    }
    check_links_stay_inside(&links).map_err(unreadable)?;
    Ok(PackageInfo { unzipped_size: total, entries: archive.len() })
}

/// Rejects symlinks that lead out of the package when followed through the package's other
/// symlinks (`l -> b/c/..` with `b/c -> ..` is `..`), as the kernel would follow them once
/// unpacked. Each link alone stays inside ([`check_symlink`]), and no entry lies under a link
/// ([`check_nothing_under_symlinks`]), so resolving over the package's own links is exact.
fn check_links_stay_inside(links: &HashMap<Vec<u8>, Vec<u8>>) -> Result<(), String> {
    for (name, target) in links {
        let shown = String::from_utf8_lossy(name);
        // The directory the link is in, then the target's components still to walk.
        let mut dir: Vec<&[u8]> = components(name);
        dir.pop();
        let mut pending: std::collections::VecDeque<&[u8]> = components(target).into();
        let mut hops = 0;
        while let Some(c) = pending.pop_front() {
            if c == b".." {
                if dir.pop().is_none() {
                    return Err(format!("symlink {shown:?} points outside the package through other links"));
                }
                continue;
            }
            dir.push(c);
            if let Some(next) = links.get(&dir.join(&b'/')) {
                hops += 1;
                if hops > SYMLINK_HOPS_MAX {
                    return Err(format!("symlink {shown:?} goes through more than {SYMLINK_HOPS_MAX} links"));
                }
                if next.first().is_some_and(|b| *b == b'/' || *b == b'\\') {
                    return Err(format!("symlink {shown:?} points outside the package through other links"));
                }
                dir.pop();
                for c in components(next).into_iter().rev() {
                    pending.push_front(c);
                }
            }
        }
    }
    Ok(())
}

/// The path components of an entry name, without empty and `.` components.
fn components(name: &[u8]) -> Vec<&[u8]> {
    name.split(|b| *b == b'/' || *b == b'\\').filter(|c| !c.is_empty() && *c != b".").collect()
}

/// What an entry unpacks as: a directory (its name ends with `/` or `\`), a symlink (its
/// Unix mode says so), else a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Link,
    File,
}

fn kind(name: &[u8], mode: Option<u32>) -> Kind {
    if name.ends_with(b"/") || name.ends_with(b"\\") {
        Kind::Dir
    } else if mode.is_some_and(|m| m & 0o170000 == 0o120000) {
        Kind::Link
    } else {
        Kind::File
    }
}

/// Rejects packages whose entries get in each other's way when unpacked: an entry under a
/// symlink of the same package (`link/file`: unpacking it would write wherever the symlink
/// leads, and a chain of symlinks that each stay inside can together lead out), an entry under
/// a file (`a` and `a/b`), or a directory and a file of the same name. Files and links of the
/// same name replace each other, the last one wins.
fn check_nothing_under_symlinks<R: io::Read + io::Seek>(archive: &mut zip::ZipArchive<R>) -> Result<(), String> {
    // Normalised name → (a directory entry has it, a file has it, a link has it).
    let mut kinds: HashMap<Vec<u8>, (bool, bool, bool)> = HashMap::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| e.to_string())?;
        let name = components(entry.name_raw()).join(&b'/');
        if name.is_empty() {
            continue;
        }
        let k = kinds.entry(name).or_default();
        match kind(entry.name_raw(), entry.unix_mode()) {
            Kind::Dir => k.0 = true,
            Kind::File => k.1 = true,
            Kind::Link => k.2 = true,
        }
    }
    for (name, (dir, file, link)) in &kinds {
        let shown = String::from_utf8_lossy(name);
        if *dir && (*file || *link) {
            return Err(format!("entry {shown:?} is both a directory and a file"));
        }
        let mut at = 0;
        while let Some(p) = name[at..].iter().position(|b| *b == b'/') {
            let prefix = &name[..at + p];
            match kinds.get(prefix) {
                Some((_, _, true)) => return Err(format!("entry {shown:?} is under a symlink")),
                Some((_, true, _)) => {
                    return Err(format!("entry {shown:?} is under the file {:?}", String::from_utf8_lossy(prefix)));
                }
                _ => {}
            }
            at += p + 1;
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
    if name.len() > ENTRY_NAME_LEN_MAX {
        return Err(format!("entry name {shown:?} is longer than {ENTRY_NAME_LEN_MAX} bytes"));
    }
    if name.split(|b| *b == b'/' || *b == b'\\').any(|c| c.len() > ENTRY_COMPONENT_LEN_MAX) {
        return Err(format!("entry path {shown:?} has a component longer than {ENTRY_COMPONENT_LEN_MAX} bytes"));
    }
    Ok(())
}

/// Where entry `name` lands under `root`: its bytes as they are (no lossy UTF-8 conversion, so
/// two names that differ only in invalid bytes stay two paths, as [`check_nothing_under_symlinks`]
/// sees them), `\` read as `/`.
fn entry_path(root: &std::path::Path, name: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let rel: Vec<u8> = name.iter().map(|b| if *b == b'\\' { b'/' } else { *b }).collect();
    let mut path = root.to_path_buf();
    for c in components(&rel) {
        path.push(std::ffi::OsStr::from_bytes(c));
    }
    path
}

/// Refuses to create anything at `path` (under `root`) when one of the directories on the way
/// is a symlink: unpacking never writes through a link, whatever the names.
fn check_no_link_on_the_way(root: &std::path::Path, path: &std::path::Path) -> io::Result<()> {
    let Ok(rel) = path.strip_prefix(root) else { return Err(io::Error::other("entry outside the package")) };
    let mut at = root.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(io::Error::other(format!("entry {:?} is under a symlink", path.display())));
            }
            _ => {}
        }
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
        let path = entry_path(tmp.path(), &name);
        if path == tmp.path() {
            // `./` and the like: the package directory itself.
            continue;
        }
        check_no_link_on_the_way(tmp.path(), &path).map_err(io_err)?;
        let mode = entry.unix_mode();
        let entry_kind = kind(&name, mode);
        if entry_kind == Kind::Dir {
            std::fs::create_dir_all(&path).map_err(io_err)?;
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        // A repeated name replaces the earlier file or link; never write through what it left.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            std::fs::remove_file(&path).map_err(io_err)?;
        }
        if entry_kind == Kind::Link {
            let mut target = Vec::new();
            (&mut entry).take(SYMLINK_TARGET_LEN_MAX + 1).read_to_end(&mut target).map_err(io_err)?;
            check_symlink(&name, &target).map_err(unreadable)?;
            use std::os::unix::ffi::OsStrExt;
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &path).map_err(io_err)?;
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

/// Hostile packages, built byte by byte.
#[cfg(test)]
pub(crate) mod hostile {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    /// One entry of [`raw_zip`]: any name bytes, any content, any Unix mode (file type bits
    /// included).
    pub(crate) type RawEntry<'a> = (&'a [u8], &'a [u8], u32);

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for b in data {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    /// A zip of stored entries, written by hand so that names and modes can be anything (the
    /// `zip` writer takes only UTF-8 names and permission bits).
    pub(crate) fn raw_zip(entries: &[RawEntry<'_>]) -> Vec<u8> {
        let (mut out, mut central) = (Vec::new(), Vec::new());
        let u16le = |v: usize| u16::try_from(v).unwrap().to_le_bytes();
        let u32le = |v: usize| u32::try_from(v).unwrap().to_le_bytes();
        for (name, data, mode) in entries {
            let offset = out.len();
            let crc = crc32(data).to_le_bytes();
            out.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&crc);
            out.extend_from_slice(&u32le(data.len()));
            out.extend_from_slice(&u32le(data.len()));
            out.extend_from_slice(&u16le(name.len()));
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name);
            out.extend_from_slice(data);
            // Made by Unix (3), version 2.0; stored; no extra field, comment or attributes.
            central.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02, 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&crc);
            central.extend_from_slice(&u32le(data.len()));
            central.extend_from_slice(&u32le(data.len()));
            central.extend_from_slice(&u16le(name.len()));
            central.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&(mode << 16).to_le_bytes());
            central.extend_from_slice(&u32le(offset));
            central.extend_from_slice(name);
        }
        let cd_offset = out.len();
        out.extend_from_slice(&central);
        out.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
        out.extend_from_slice(&u16le(entries.len()));
        out.extend_from_slice(&u16le(entries.len()));
        out.extend_from_slice(&u32le(central.len()));
        out.extend_from_slice(&u32le(cd_offset));
        out.extend_from_slice(&[0, 0]);
        out
    }

    pub(crate) const LINK: u32 = 0o120777;
    pub(crate) const FILE: u32 = 0o100644;
    pub(crate) const DIR: u32 = 0o040755;

    /// Found while writing the property tests: names were turned into paths through a lossy UTF-8
    /// conversion, so `l\xfe/evil` was not under the link `l\xff` for the check but was for
    /// unpacking, and the chain `l -> b/c/..`, `b/c -> ..` led the file out of the package.
    #[test]
    fn names_differing_in_invalid_bytes_stay_apart() {
        let z = raw_zip(&[(b"b/c", b"..", LINK), (b"l\xff", b"b/c/..", LINK), (b"l\xfe/evil", b"x", FILE)]);
        let d = tempfile::tempdir().unwrap();
        // Inspect refuses the chain now; unpacking alone keeps the names apart too.
        assert!(inspect(&z).is_err());
        unpack(&z, &d.path().join("p")).unwrap();
        assert!(!d.path().join("evil").exists(), "written outside the package");
        assert_eq!(std::fs::read(d.path().join("p").join(std::ffi::OsStr::from_bytes(b"l\xfe/evil"))).unwrap(), b"x");
        // And unpacking never writes through a link, whatever the check saw.
        let z = raw_zip(&[(b"b/c", b"..", LINK), (b"l", b"b/c/..", LINK), (b"l/evil", b"x", FILE)]);
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("t");
        std::fs::create_dir(&tmp).unwrap();
        std::os::unix::fs::symlink("..", tmp.join("l")).unwrap();
        let err = check_no_link_on_the_way(&tmp, &entry_path(&tmp, b"l/evil")).unwrap_err();
        assert!(err.to_string().contains("under a symlink"), "{err}");
        assert!(inspect(&z).is_err());
    }

    /// Each link stays inside alone, but `l` followed through `a/b` is the package's parent
    /// (found while writing the property tests; the host probes `bootstrap` with `exists()`,
    /// which follows links).
    #[test]
    fn chained_links_leading_out_are_refused() {
        let z = raw_zip(&[(b"a/b", b"..", LINK), (b"l", b"a/b/..", LINK)]);
        let Err(PackageError::Unreadable(m)) = inspect(&z) else { panic!("accepted") };
        assert!(m.contains("\"l\" points outside the package through other links"), "{m}");
        // The same chain staying inside, a chain through a link that a later file replaces,
        // and a loop (which the kernel refuses to follow) are fine.
        inspect(&raw_zip(&[(b"a/b", b"..", LINK), (b"l", b"a/b/a", LINK)])).unwrap();
        inspect(&raw_zip(&[(b"a/b", b"..", LINK), (b"a/b", b"x", FILE), (b"l", b"a/b/..", LINK)])).unwrap();
        let Err(PackageError::Unreadable(m)) = inspect(&raw_zip(&[(b"x", b"y", LINK), (b"y", b"x", LINK)])) else {
            panic!("accepted")
        };
        assert!(m.contains("more than 40 links"), "{m}");
    }

    /// Found while writing the property tests: a name with a component longer than `NAME_MAX` passed
    /// inspection and then failed to unpack ("File name too long").
    #[test]
    fn long_components_are_refused_when_inspected() {
        let long = format!("{}/x", "a".repeat(ENTRY_COMPONENT_LEN_MAX + 1));
        let z = raw_zip(&[(long.as_bytes(), b"x", FILE)]);
        let Err(PackageError::Unreadable(m)) = inspect(&z) else { panic!("accepted") };
        assert!(m.contains("component longer than 255 bytes"), "{m}");
        let fits = format!("{}/x", "a".repeat(ENTRY_COMPONENT_LEN_MAX));
        let z = raw_zip(&[(fits.as_bytes(), b"x", FILE)]);
        inspect(&z).unwrap();
        let d = tempfile::tempdir().unwrap();
        unpack(&z, &d.path().join("p")).unwrap();
        let deep = "abcdefgh/".repeat(ENTRY_NAME_LEN_MAX / 9 + 1);
        let z = raw_zip(&[(deep.as_bytes(), b"", FILE)]);
        assert!(matches!(inspect(&z), Err(PackageError::Unreadable(m)) if m.contains("longer than 3072 bytes")));
    }

    /// Found by the property tests: packages whose entries got in each other's way passed
    /// inspection and then failed to unpack (`a` and `a/b`; a directory and a file of one name;
    /// a file and then a link of one name), so every cold start of the function failed.
    #[test]
    fn entries_in_each_others_way() {
        let refused = |entries: &[RawEntry<'_>], why: &str| {
            let Err(PackageError::Unreadable(m)) = inspect(&raw_zip(entries)) else { panic!("accepted") };
            assert!(m.contains(why), "{m}");
        };
        refused(&[(b"a", b"x", FILE), (b"a/b", b"y", FILE)], "\"a/b\" is under the file \"a\"");
        refused(&[(b"a/b/c", b"y", FILE), (b"a\\b", b"x", FILE)], "is under the file \"a/b\"");
        refused(&[(b"d/", b"", DIR), (b"d", b"x", FILE)], "\"d\" is both a directory and a file");
        refused(&[(b"l", b".", LINK), (b"l/x", b"y", FILE)], "is under a symlink");
        // The same name twice: the last file or link wins, as unzip does.
        let d = tempfile::tempdir().unwrap();
        let z = raw_zip(&[(b"f", b"old", FILE), (b"f", b"target", LINK), (b"g", b"t", LINK), (b"g", b"new", FILE)]);
        inspect(&z).unwrap();
        unpack(&z, &d.path().join("p")).unwrap();
        assert_eq!(std::fs::read_link(d.path().join("p/f")).unwrap(), std::path::Path::new("target"));
        assert_eq!(std::fs::read(d.path().join("p/g")).unwrap(), b"new");
    }

    /// A symlink target that is not UTF-8 is a valid Unix link: accepted and unpacked as is.
    #[test]
    fn non_utf8_symlink_targets_unpack() {
        let z = raw_zip(&[(b"l", b"a\xff", LINK)]);
        inspect(&z).unwrap();
        let d = tempfile::tempdir().unwrap();
        unpack(&z, &d.path().join("p")).unwrap();
        assert_eq!(std::fs::read_link(d.path().join("p/l")).unwrap().as_os_str().as_bytes(), b"a\xff");
    }

    /// Symlink targets count against the unzipped limit, like file contents.
    #[test]
    fn symlink_targets_count_against_the_limit() {
        let z = raw_zip(&[(b"a", b"xxxxx", LINK), (b"b", b"yyyyy", LINK), (b"c", b"z", FILE)]);
        assert_eq!(inspect_with_limit(&z, 11).unwrap().unzipped_size, 11);
        assert_eq!(inspect_with_limit(&z, 10), Err(PackageError::UnzippedTooLarge { limit: 10 }));
        assert_eq!(inspect_with_limit(&z, 9), Err(PackageError::UnzippedTooLarge { limit: 9 }));
    }
}
