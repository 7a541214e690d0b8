//! Property tests of package inspection and unpacking on hostile zips: whatever the bytes,
//! `inspect` answers (a clear error or the package's size) without panicking, and a package it
//! accepts unpacks without writing anything outside the destination.

use std::io::{Cursor, Write as _};
use std::path::Path;

use propkit::proptest;
use propkit::proptest::prelude::*;
use propkit::proptest::sample::Index;

use crate::package::hostile::{DIR, FILE, LINK, raw_zip};
use crate::package::{PackageError, inspect, inspect_with_limit, unpack};

/// Cases of each property (each case writes a package to a temporary directory).
const CASES: u32 = 192;
/// The unzipped limit the properties run with, small so that limits are reached.
const LIMIT: u64 = 4096;

/// One path component, often a hostile one.
fn component() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => "[a-z]{1,6}".prop_map(String::into_bytes),
        1 => Just(b"..".to_vec()),
        1 => Just(b".".to_vec()),
        1 => Just(Vec::new()),
        1 => Just(b"C:".to_vec()),
        1 => (250usize..=260).prop_map(|n| vec![b'n'; n]),
        1 => prop_oneof![Just(b"l\xff".to_vec()), Just(b"l\xfe".to_vec()), Just(b"l".to_vec())],
        1 => propkit::bytes(4),
    ]
}

/// A path of 1–4 components joined by `/` or `\`, sometimes absolute or with a trailing `/`.
fn path() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(component(), 1..=4),
        prop_oneof![Just(b'/'), Just(b'\\')],
        prop_oneof![4 => Just(""), 1 => Just("/"), 1 => Just("./")],
        any::<bool>(),
    )
        .prop_map(|(parts, sep, lead, trail)| {
            let mut p = lead.as_bytes().to_vec();
            p.extend(parts.join(&sep));
            if trail {
                p.push(b'/');
            }
            p
        })
}

#[derive(Debug, Clone)]
struct Entry {
    name: Vec<u8>,
    data: Vec<u8>,
    mode: u32,
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        3 => (path(), propkit::bytes(64)).prop_map(|(name, data)| Entry { name, data, mode: FILE }),
        1 => path().prop_map(|mut name| {
            name.push(b'/');
            Entry { name, data: Vec::new(), mode: DIR }
        }),
        2 => (path(), path()).prop_map(|(name, data)| Entry { name, data, mode: LINK }),
        1 => (path(), propkit::bytes(16), any::<u32>()).prop_map(|(name, data, mode)| Entry { name, data, mode: mode & 0xffff }),
    ]
}

/// A component of a small alphabet, so that names collide, nest and chain: links under links,
/// names differing only in an invalid byte.
fn tangled_component() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::sample::select(vec![b"a".to_vec(), b"b".to_vec(), b"l".to_vec()]),
        2 => Just(b"..".to_vec()),
        1 => Just(b".".to_vec()),
        1 => Just(b"l\xff".to_vec()),
        1 => Just(b"l\xfe".to_vec()),
        1 => Just(b"L".to_vec()),
    ]
}

fn tangled_path() -> impl Strategy<Value = Vec<u8>> {
    (proptest::collection::vec(tangled_component(), 1..=3), prop_oneof![4 => Just(b'/'), 1 => Just(b'\\')])
        .prop_map(|(parts, sep)| parts.join(&sep))
}

fn tangled_entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        5 => (tangled_path(), tangled_path()).prop_map(|(name, data)| Entry { name, data, mode: LINK }),
        4 => tangled_path().prop_map(|name| Entry { name, data: b"x".to_vec(), mode: FILE }),
        1 => tangled_path().prop_map(|mut name| {
            name.push(b'/');
            Entry { name, data: Vec::new(), mode: DIR }
        }),
    ]
}

fn build(entries: &[Entry]) -> Vec<u8> {
    let raw: Vec<(&[u8], &[u8], u32)> = entries.iter().map(|e| (&e.name[..], &e.data[..], e.mode)).collect();
    raw_zip(&raw)
}

/// Valid packages written by the `zip` crate (deflated and stored entries, directories, links),
/// the seeds of the mutations.
fn seeds() -> Vec<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut out = Vec::new();
    for method in [zip::CompressionMethod::Deflated, zip::CompressionMethod::Stored] {
        let opts = SimpleFileOptions::default().compression_method(method);
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.add_directory("lib/", opts).unwrap();
        w.start_file("lib/real.so", opts.unix_permissions(0o755)).unwrap();
        w.write_all(&[7u8; 300]).unwrap();
        w.add_symlink("lib/alias.so", "real.so", opts).unwrap();
        w.add_symlink("b/c", "..", opts).unwrap();
        w.start_file("index.py", opts).unwrap();
        w.write_all(b"def handler(event, context):\n    return event\n").unwrap();
        out.push(w.finish().unwrap().into_inner());
    }
    out.push(raw_zip(&[(b"bootstrap", b"#!/bin/sh\n", 0o100755), (b"l", b"bootstrap", LINK), (b"d/", b"", DIR)]));
    out
}

/// Overwrites one 2- or 4-byte field of a header (a size, a name length, an offset, a count)
/// with an extreme or arbitrary value: lying headers.
fn lie(mut zip: Vec<u8>, field: Index, value: u32) -> Vec<u8> {
    // (signature, offsets of 4-byte fields, offsets of 2-byte fields)
    const HEADERS: [([u8; 4], &[usize], &[usize]); 3] = [
        ([0x50, 0x4b, 0x03, 0x04], &[14, 18, 22], &[8, 26, 28]),
        ([0x50, 0x4b, 0x01, 0x02], &[16, 20, 24, 38, 42], &[10, 28, 30, 32]),
        ([0x50, 0x4b, 0x05, 0x06], &[12, 16], &[8, 10, 20]),
    ];
    let mut spots = Vec::new();
    for i in 0..zip.len().saturating_sub(4) {
        for (sig, wide, narrow) in HEADERS {
            if zip[i..i + 4] == sig {
                spots.extend(wide.iter().map(|o| (i + o, 4)));
                spots.extend(narrow.iter().map(|o| (i + o, 2)));
            }
        }
    }
    spots.retain(|(at, n)| at + n <= zip.len());
    if spots.is_empty() {
        return zip;
    }
    let (at, n) = spots[field.index(spots.len())];
    zip[at..at + n].copy_from_slice(&value.to_le_bytes()[..n]);
    zip
}

fn extreme() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(1), Just(0xffff), Just(0xffff_ffff), Just(0x7fff_ffff), any::<u32>()]
}

/// Inspects `zip`; when accepted, unpacks it three directories deep in a scratch tree and
/// checks that nothing appeared anywhere but in the destination.
fn check(zip: &[u8]) -> Result<(), TestCaseError> {
    let verdict = inspect_with_limit(zip, LIMIT);
    if let Err(e) = &verdict {
        prop_assert!(!e.to_string().is_empty());
        if let PackageError::UnzippedTooLarge { limit } = e {
            prop_assert_eq!(*limit, LIMIT);
        }
        return Ok(());
    }
    let info = verdict.unwrap();
    prop_assert!(info.unzipped_size <= LIMIT);
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().join("a/b/work");
    std::fs::create_dir_all(&work).unwrap();
    let dest = work.join("pkg");
    // Unpacking may still fail (a file where a later entry needs a directory); it must not
    // write outside `dest` either way.
    let unpacked = unpack(zip, &dest);
    let mut outside = Vec::new();
    walk(scratch.path(), scratch.path(), &dest, &mut outside);
    prop_assert!(outside.is_empty(), "written outside the package: {:?}", outside);
    // What inspect accepts unpacks.
    prop_assert!(unpacked.is_ok(), "accepted but not unpacked: {:?}", unpacked);
    let names = entry_names(zip);
    if unpacked.is_ok() {
        // Every path unpacked is an entry's name (or a directory on the way to one), byte for
        // byte: names are never rewritten into other names.
        let mut found = Vec::new();
        tree(&dest, &dest, &mut found);
        // No link leads out of the package, followed through any other links.
        let real_dest = dest.canonicalize().unwrap();
        for path in &found {
            use std::os::unix::ffi::OsStrExt;
            if let Ok(real) = dest.join(std::ffi::OsStr::from_bytes(path)).canonicalize() {
                prop_assert!(
                    real.starts_with(&real_dest),
                    "{:?} resolves to {:?}",
                    String::from_utf8_lossy(path),
                    real
                );
            }
        }
        for path in found {
            prop_assert!(
                names.iter().any(|n| n == &path || n.starts_with(&[&path[..], b"/"].concat())),
                "unpacked {:?}, not an entry name ({:?})",
                String::from_utf8_lossy(&path),
                names.iter().map(|n| String::from_utf8_lossy(n)).collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

/// The entry names of `zip` as unpacking should lay them out: components without empty and `.`
/// ones, `\\` read as `/`.
fn entry_names(zip: &[u8]) -> Vec<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..archive.len())
        .map(|i| {
            let e = archive.by_index_raw(i).unwrap();
            let parts: Vec<&[u8]> =
                e.name_raw().split(|b| *b == b'/' || *b == b'\\').filter(|c| !c.is_empty() && *c != b".").collect();
            parts.join(&b'/')
        })
        .collect()
}

/// Every path under `dir` relative to `root`, as bytes.
fn tree(root: &Path, dir: &Path, out: &mut Vec<Vec<u8>>) {
    use std::os::unix::ffi::OsStrExt;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.strip_prefix(root).unwrap().as_os_str().as_bytes().to_vec());
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            tree(root, &p, out);
        }
    }
}

/// Everything under `root` that is not `dest` (or under it) and not one of `a`, `a/b`,
/// `a/b/work`.
fn walk(root: &Path, dir: &Path, dest: &Path, out: &mut Vec<String>) {
    walk_except(root, dir, &[dest], out);
}

/// Everything under `root` that is not in one of `allowed` and not one of `a`, `a/b`,
/// `a/b/work`.
fn walk_except(root: &Path, dir: &Path, allowed: &[&Path], out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if allowed.contains(&p.as_path()) {
            continue;
        }
        let expected = matches!(p.strip_prefix(root).ok().and_then(Path::to_str), Some("a" | "a/b" | "a/b/work"));
        if !expected {
            out.push(p.display().to_string());
        }
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            walk_except(root, &p, allowed, out);
        }
    }
}

proptest! {
    #![proptest_config(propkit::config(CASES))]

    /// Packages of hostile entries (`..`, absolute and drive paths, backslashes, names of 255+
    /// bytes, invalid UTF-8, links out and chains of links, odd modes): never a panic, never a
    /// write outside the destination.
    #[test]
    fn hostile_entries(entries in proptest::collection::vec(entry(), 1..8)) {
        check(&build(&entries))?;
    }

    /// Packages of links, files and directories over a few names: links to links, entries
    /// under links, names that differ only in an invalid byte or in `\\` for `/`.
    #[test]
    fn tangled_links(entries in proptest::collection::vec(tangled_entry(), 2..8)) {
        check(&build(&entries))?;
    }

    /// Packages inspect accepts, unpacked and laid over each other as a function's layers are:
    /// the merge never writes outside its destination, whatever links the earlier layers left.
    #[test]
    fn merged_layers(layers in proptest::collection::vec(proptest::collection::vec(tangled_entry(), 1..6), 2..4)) {
        let scratch = tempfile::tempdir().unwrap();
        let work = scratch.path().join("a/b/work");
        std::fs::create_dir_all(&work).unwrap();
        let mut sources = Vec::new();
        for (i, entries) in layers.iter().enumerate() {
            let zip = build(entries);
            if inspect_with_limit(&zip, LIMIT).is_ok() {
                let dest = work.join(format!("layer{i}"));
                unpack(&zip, &dest).unwrap();
                sources.push(dest);
            }
        }
        let opt = work.join("opt");
        crate::merge::merge(&sources, &opt).unwrap();
        let mut allowed: Vec<&Path> = sources.iter().map(|p| p.as_path()).collect();
        allowed.push(&opt);
        let mut outside = Vec::new();
        walk_except(scratch.path(), scratch.path(), &allowed, &mut outside);
        prop_assert!(outside.is_empty(), "written outside the layers: {:?}", outside);
    }

    /// Valid packages with bytes flipped, cut, inserted and spliced.
    #[test]
    fn mutated_packages(zip in propkit::mutated_one_of(seeds())) {
        check(&zip)?;
    }

    /// Valid packages whose headers lie: sizes, name lengths, offsets and counts set to 0, to
    /// the maximum, or to anything.
    #[test]
    fn lying_headers(
        seed in proptest::sample::select(seeds()),
        lies in proptest::collection::vec((any::<Index>(), extreme()), 1..4),
    ) {
        let mut zip = seed;
        for (field, value) in lies {
            zip = lie(zip, field, value);
        }
        check(&zip)?;
    }

    /// Arbitrary bytes, and bytes behind a valid local header: refused cleanly.
    #[test]
    fn garbage(bytes in propkit::bytes(512)) {
        prop_assert!(inspect(&bytes).is_err());
        let mut z = b"PK\x03\x04".to_vec();
        z.extend_from_slice(&bytes);
        let _ = inspect(&z);
    }
}

/// The properties' packages can be accepted at all: the seeds pass `check` as they are.
#[test]
fn seeds_are_accepted() {
    for zip in seeds() {
        inspect_with_limit(&zip, LIMIT).unwrap();
        check(&zip).unwrap();
    }
}
