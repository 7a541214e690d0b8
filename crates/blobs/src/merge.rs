//! Merging unpacked packages into one directory tree: how a function's layers become its `/opt`.
//!
//! Packages are laid over each other in order, as Lambda extracts a function's layers into
//! `/opt`: a file of a later package replaces the same path of an earlier one, directories
//! merge. Files are hard links to the unpacked packages (a copy where linking fails), symlinks
//! stay symlinks.
//!
//! **Invariant:** nothing is ever written through a symlink. The walk does not follow symlinks
//! in the sources, and where a later package has a directory at a path that an earlier one made
//! a symlink (or a file), the symlink is replaced by a real directory rather than written
//! through. So a package whose symlinks stay inside it (what [`crate::package::inspect`]
//! accepts) cannot make the merge write outside the destination.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Builds `dest`, which must not exist, as `sources` laid over each other in order. The tree is
/// built in a sibling temporary directory and renamed into place, so `dest` is either absent
/// or complete.
pub fn merge(sources: &[PathBuf], dest: &Path) -> io::Result<()> {
    let parent = dest.parent().ok_or_else(|| io::Error::other("the destination has no parent directory"))?;
    fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new().prefix(".merge-").tempdir_in(parent)?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
    for source in sources {
        overlay(source, tmp.path())?;
    }
    let kept = tmp.keep();
    fs::rename(&kept, dest).inspect_err(|_| {
        let _ = fs::remove_dir_all(&kept);
    })
}

/// Lays the tree at `source` over the tree at `dest`.
fn overlay(source: &Path, dest: &Path) -> io::Result<()> {
    // Relative directories still to walk; explicit, so a deep tree cannot exhaust the stack.
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(source.join(&dir))? {
            let entry = entry?;
            let rel = dir.join(entry.file_name());
            let from = entry.path();
            let to = dest.join(&rel);
            // Neither call follows a symlink.
            let kind = entry.file_type()?;
            let existing = fs::symlink_metadata(&to).ok();
            if kind.is_dir() {
                match existing {
                    Some(m) if m.is_dir() => {}
                    Some(_) => {
                        fs::remove_file(&to)?;
                        make_dir(&to)?;
                    }
                    None => make_dir(&to)?,
                }
                pending.push(rel);
                continue;
            }
            match existing {
                Some(m) if m.is_dir() => fs::remove_dir_all(&to)?,
                Some(_) => fs::remove_file(&to)?,
                None => {}
            }
            if kind.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
            } else if kind.is_file() && fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to)?;
            }
            // Anything else (a fifo, a socket) cannot come from a package and is left out.
        }
    }
    Ok(())
}

fn make_dir(p: &Path) -> io::Result<()> {
    fs::create_dir(p)?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn later_layers_win_and_directories_merge() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        write(&one.join("python/a.py"), "a1");
        write(&one.join("python/shared.py"), "one");
        write(&one.join("bin/tool"), "t");
        std::os::unix::fs::symlink("python/a.py", one.join("link")).unwrap();
        write(&two.join("python/b.py"), "b2");
        write(&two.join("python/shared.py"), "two");
        // A directory where layer one had a file, and a file where it had a directory.
        write(&two.join("link/inside"), "dir now");
        write(&two.join("bin"), "file now");
        let dest = dir.path().join("opt");
        merge(&[one.clone(), two], &dest).unwrap();
        let read = |p: &str| fs::read_to_string(dest.join(p)).unwrap();
        assert_eq!(
            (read("python/a.py"), read("python/b.py"), read("python/shared.py")),
            ("a1".into(), "b2".into(), "two".into())
        );
        assert_eq!(read("link/inside"), "dir now");
        assert!(fs::symlink_metadata(dest.join("link")).unwrap().is_dir());
        assert_eq!(read("bin"), "file now");
        // The sources are untouched.
        assert_eq!(fs::read_to_string(one.join("python/shared.py")).unwrap(), "one");
        assert!(fs::symlink_metadata(one.join("link")).unwrap().file_type().is_symlink());
    }

    #[test]
    fn symlinks_are_kept_and_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        fs::create_dir_all(&one).unwrap();
        // Layer one points `lib` somewhere (here, outside); layer two puts a file under `lib`.
        std::os::unix::fs::symlink(&outside, one.join("lib")).unwrap();
        std::os::unix::fs::symlink("target", one.join("rel")).unwrap();
        write(&two.join("lib/evil.so"), "x");
        let dest = dir.path().join("opt");
        merge(&[one, two], &dest).unwrap();
        assert!(fs::read_dir(&outside).unwrap().next().is_none(), "nothing was written through the symlink");
        assert_eq!(fs::read_to_string(dest.join("lib/evil.so")).unwrap(), "x");
        assert_eq!(fs::read_link(dest.join("rel")).unwrap(), Path::new("target"));
    }

    #[test]
    fn no_layers_is_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("opt");
        merge(&[], &dest).unwrap();
        assert!(fs::read_dir(&dest).unwrap().next().is_none());
        assert_eq!(fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o755);
    }
}
