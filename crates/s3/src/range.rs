//! The `Range` request header of GetObject/HeadObject (one byte range, as S3 supports) and
//! `x-amz-copy-source-range` of UploadPartCopy.

/// One parsed byte range, before it meets the object's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b`, both inclusive (`b >= a`).
    FromTo(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

/// Parses a `Range` header. `None` means S3 ignores the header and serves the whole object:
/// anything that is not one syntactically valid byte range (other units, several ranges,
/// `b < a`, garbage).
pub fn parse(header: &str) -> Option<ByteRange> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let num =
        |s: &str| if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => None,
        (true, false) => Some(ByteRange::Suffix(num(b)?)),
        (false, true) => Some(ByteRange::From(num(a)?)),
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            (b >= a).then_some(ByteRange::FromTo(a, b))
        }
    }
}

/// The inclusive `(first, last)` byte positions of `range` in an object of `size` bytes, or
/// `None` when the range is not satisfiable (→ 416 `InvalidRange`).
pub fn resolve(range: ByteRange, size: u64) -> Option<(u64, u64)> {
    match range {
        ByteRange::FromTo(a, b) => (a < size).then(|| (a, b.min(size - 1))),
        ByteRange::From(a) => (a < size).then(|| (a, size - 1)),
        ByteRange::Suffix(n) => (n > 0 && size > 0).then(|| (size.saturating_sub(n), size - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange::*;
    use super::*;

    #[test]
    fn parses_the_three_forms_and_ignores_the_rest() {
        assert_eq!(parse("bytes=0-9"), Some(FromTo(0, 9)));
        assert_eq!(parse("bytes=5-"), Some(From(5)));
        assert_eq!(parse("bytes=-3"), Some(Suffix(3)));
        assert_eq!(parse(" bytes=1-1 "), Some(FromTo(1, 1)));
        for ignored in ["bytes=9-5", "bytes=0-1,3-4", "items=0-1", "bytes=-", "bytes=a-b", "bytes=1", "", "bytes=+1-2"]
        {
            assert_eq!(parse(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn resolves_against_the_object_size() {
        assert_eq!(resolve(FromTo(0, 9), 100), Some((0, 9)));
        assert_eq!(resolve(FromTo(90, 200), 100), Some((90, 99)));
        assert_eq!(resolve(FromTo(100, 200), 100), None);
        assert_eq!(resolve(From(99), 100), Some((99, 99)));
        assert_eq!(resolve(From(100), 100), None);
        assert_eq!(resolve(Suffix(10), 100), Some((90, 99)));
        assert_eq!(resolve(Suffix(500), 100), Some((0, 99)));
        assert_eq!(resolve(Suffix(0), 100), None);
        assert_eq!(resolve(From(0), 0), None);
        assert_eq!(resolve(Suffix(5), 0), None);
    }
}
