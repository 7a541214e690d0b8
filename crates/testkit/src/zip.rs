//! Deployment packages built in memory.

use std::io::{Cursor, Write};

use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// One entry of a package.
pub enum Entry<'a> {
    File { name: &'a str, data: &'a [u8], mode: u32 },
    Symlink { name: &'a str, target: &'a str },
    Dir { name: &'a str },
}

/// A zip of regular files (mode 0644).
pub fn files(files: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<Entry<'_>> = files.iter().map(|(name, data)| Entry::File { name, data, mode: 0o644 }).collect();
    build(&entries)
}

/// The smallest useful package: one Python handler.
pub fn hello() -> Vec<u8> {
    files(&[("index.py", b"def handler(event, context):\n    return event\n")])
}

/// A package whose content (and so CodeSha256) depends on `tag`.
pub fn tagged(tag: &str) -> Vec<u8> {
    files(&[("index.py", format!("# {tag}\ndef handler(event, context):\n    return {tag:?}\n").as_bytes())])
}

pub fn build(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for e in entries {
        match e {
            Entry::File { name, data, mode } => {
                let opts = SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Deflated)
                    .unix_permissions(*mode);
                w.start_file(*name, opts).expect("zip entry");
                w.write_all(data).expect("zip write");
            }
            Entry::Symlink { name, target } => {
                w.add_symlink(*name, *target, SimpleFileOptions::default()).expect("zip symlink");
            }
            Entry::Dir { name } => {
                w.add_directory(*name, SimpleFileOptions::default()).expect("zip dir");
            }
        }
    }
    w.finish().expect("zip finish").into_inner()
}

/// A zip bomb: `size` bytes of zeros that compress to almost nothing.
pub fn bomb(size: usize) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(size > u32::MAX as usize);
    w.start_file("zeros.bin", opts).expect("zip entry");
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        w.write_all(&chunk[..n]).expect("zip write");
        left -= n;
    }
    w.finish().expect("zip finish").into_inner()
}
