//! The canonical request's parts (reference §A1.2–A1.4): URI, query string and headers.

use http::HeaderMap;
use percent_encoding::percent_decode;

use crate::{Error, QUERY_PAIRS_MAX, UriMode};

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Bytes kept as they are by the strict SigV4 encoding: `A–Z a–z 0–9 - _ . ~`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Appends `bytes` strictly percent-encoded (upper-case hex); `/` is kept when `keep_slash`.
pub(crate) fn encode_into(out: &mut Vec<u8>, bytes: &[u8], keep_slash: bool) {
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX_UPPER[usize::from(b >> 4)], HEX_UPPER[usize::from(b & 15)]]);
        }
    }
}

/// The strict encoding of `s` as a `String` (for the signing side and tests).
pub fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = Vec::with_capacity(s.len());
    encode_into(&mut out, s.as_bytes(), keep_slash);
    // Only ASCII is written.
    String::from_utf8(out).unwrap_or_default()
}

/// RFC 3986 §5.2.4 dot-segment removal plus the `//` collapse, keeping a trailing slash (what botocore
/// and aws-sigv4 do before they encode the path a second time).
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    let trailing = ["/", "/.", "/./", "/..", "/../"].iter().any(|t| path.ends_with(t));
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

/// The canonical URI.
pub(crate) fn uri(out: &mut Vec<u8>, raw_path: &str, mode: UriMode) {
    if raw_path.is_empty() {
        out.push(b'/');
        return;
    }
    match mode {
        UriMode::Normalized => {
            let path = if raw_path.starts_with('/') {
                normalize_path(raw_path)
            } else {
                normalize_path(&format!("/{raw_path}"))
            };
            // The path is already encoded once on the wire: encoding it again turns `%` into `%25`.
            encode_into(out, path.as_bytes(), true);
        }
        UriMode::S3 => {
            if !raw_path.starts_with('/') {
                out.push(b'/');
            }
            // Decode, then encode strictly once. An encoded slash stays encoded: decoding it would
            // change the path's segments, and every client that sends `%2F` signed it that way.
            for (i, part) in raw_path.split("%2F").flat_map(|p| p.split("%2f")).enumerate() {
                if i > 0 {
                    out.extend_from_slice(b"%2F");
                }
                let decoded: Vec<u8> = percent_decode(part.as_bytes()).collect();
                encode_into(out, &decoded, true);
            }
        }
    }
}

/// The canonical query string: decode (never form-decode `+`), encode strictly, sort by (name, value),
/// keep duplicates, `k` -> `k=`. `skip_signature` drops `X-Amz-Signature` (presigned form).
pub(crate) fn query(out: &mut Vec<u8>, raw_query: Option<&str>, skip_signature: bool) -> Result<(), Error> {
    let Some(raw) = raw_query else { return Ok(()) };
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for part in raw.split('&') {
        if part.is_empty() {
            continue;
        }
        if pairs.len() == QUERY_PAIRS_MAX {
            return Err(Error::Malformed(format!("The query string has more than {QUERY_PAIRS_MAX} parameters.")));
        }
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name: Vec<u8> = percent_decode(name.as_bytes()).collect();
        if skip_signature && name == b"X-Amz-Signature" {
            continue;
        }
        let value: Vec<u8> = percent_decode(value.as_bytes()).collect();
        let mut n = Vec::with_capacity(name.len());
        encode_into(&mut n, &name, false);
        let mut v = Vec::with_capacity(value.len());
        encode_into(&mut v, &value, false);
        pairs.push((n, v));
    }
    pairs.sort_unstable();
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(n);
        out.push(b'=');
        out.extend_from_slice(v);
    }
    Ok(())
}

/// The decoded query pairs (for the presigned parameters); `None` values never occur, `k` gives `""`.
pub(crate) fn decoded_pairs(raw_query: Option<&str>) -> impl Iterator<Item = (String, String)> + '_ {
    raw_query.unwrap_or("").split('&').filter(|p| !p.is_empty()).take(QUERY_PAIRS_MAX).map(|part| {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        (
            percent_decode(name.as_bytes()).decode_utf8_lossy().into_owned(),
            percent_decode(value.as_bytes()).decode_utf8_lossy().into_owned(),
        )
    })
}

/// Whitespace for trimall: space and horizontal tab (the only ones a header value can hold).
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Appends `value` trimmed at both ends, with inner whitespace runs collapsed to one space.
fn trimall_into(out: &mut Vec<u8>, value: &[u8]) {
    let mut in_ws = false;
    let start = out.len();
    for &b in value {
        if is_ws(b) {
            in_ws = true;
        } else {
            if in_ws && out.len() > start {
                out.push(b' ');
            }
            in_ws = false;
            out.push(b);
        }
    }
}

/// The canonical header lines for `signed` (each `name:v1,v2\n`, values in arrival order).
pub(crate) fn headers(out: &mut Vec<u8>, headers: &HeaderMap, signed: &[String]) {
    for name in signed {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            trimall_into(out, value.as_bytes());
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri_of(p: &str, mode: UriMode) -> String {
        let mut out = Vec::new();
        uri(&mut out, p, mode);
        String::from_utf8(out).unwrap()
    }

    fn query_of(q: &str) -> String {
        let mut out = Vec::new();
        query(&mut out, Some(q), true).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn uris_per_reference() {
        assert_eq!(
            uri_of(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/aliases/a%2Bb",
                UriMode::Normalized
            ),
            "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A1%253Afunction%253Af/aliases/a%252Bb"
        );
        assert_eq!(uri_of("/bkt/a%20b%2Bc//./d", UriMode::S3), "/bkt/a%20b%2Bc//./d");
        assert_eq!(uri_of("/functions/./f/../g//versions/", UriMode::Normalized), "/functions/g/versions/");
        assert_eq!(uri_of("", UriMode::Normalized), "/");
        assert_eq!(uri_of("", UriMode::S3), "/");
        assert_eq!(uri_of("/..", UriMode::Normalized), "/");
        assert_eq!(uri_of("/a/b/..", UriMode::Normalized), "/a/");
        assert_eq!(uri_of("/a%2fb%2Fc%zz%", UriMode::S3), "/a%2Fb%2Fc%25zz%25");
        assert_eq!(uri_of("/k%C3%A9y!", UriMode::S3), "/k%C3%A9y%21");
    }

    #[test]
    fn queries_per_reference() {
        assert_eq!(query_of("uploads"), "uploads=");
        assert_eq!(query_of("Marker=&FunctionVersion=%24LATEST"), "FunctionVersion=%24LATEST&Marker=");
        assert_eq!(query_of("a=2&a=1&b=+&c=%2b"), "a=1&a=2&b=%2B&c=%2B");
        assert_eq!(query_of("x=!*&X-Amz-Signature=ab&&y"), "x=%21%2A&y=");
    }

    #[test]
    fn trimall_collapses_runs() {
        let mut out = Vec::new();
        trimall_into(&mut out, b"  a   b \t c  ");
        assert_eq!(out, b"a b c");
    }
}
