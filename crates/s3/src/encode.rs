//! The URL encodings S3 uses in its answers.

use std::fmt::Write as _;

/// A key as S3 writes it into event records (`s3.object.key`) and into list results with
/// `encoding-type=url`: form encoding (a space becomes `+`, so a literal `+` becomes `%2B`), with
/// `/` kept. Letters, digits and `-_.*` stay; every other byte of the UTF-8 is `%XX`
/// (upper-case hex). Readers decode it with `unquote_plus` (botocore does exactly that).
pub fn form_encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A key in a URL path (`CompleteMultipartUpload`'s `Location`): RFC 3986 unreserved
/// characters and `/` stay, everything else is `%XX`.
pub fn path_encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A value as one URI component (a query parameter, or a key as S3 writes it into a POST
/// upload's `Location`): RFC 3986 unreserved characters stay, everything else (`/` too) is
/// `%XX`.
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Percent-decodes a URL path or header value into UTF-8 (`+` stays a `+`); `None` if the
/// result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_form_encoded_keeping_slashes() {
        // `a@b` → `a%40b` and `/` kept are what AWS recorded; space → `+` is documented.
        assert_eq!(form_encode_key("a@b"), "a%40b");
        assert_eq!(form_encode_key("testupload/dir1/testfile.txt"), "testupload/dir1/testfile.txt");
        assert_eq!(form_encode_key("red flower.jpg"), "red+flower.jpg");
        assert_eq!(form_encode_key("a+b=c&d"), "a%2Bb%3Dc%26d");
        assert_eq!(form_encode_key("é~"), "%C3%A9%7E");
        assert_eq!(form_encode_key("x-_.*"), "x-_.*");
    }

    #[test]
    fn path_encoding_and_decoding_round_trip() {
        assert_eq!(path_encode_key("a b/c+d~"), "a%20b/c%2Bd~");
        assert_eq!(uri_encode("a b/c+d~\"é"), "a%20b%2Fc%2Bd~%22%C3%A9");
        assert_eq!(percent_decode("a%20b/c+d%7E").as_deref(), Some("a b/c+d~"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%FF"), None);
        for key in ["plain", "sp ace/und_er", "ünï/cödé", "100% + more?&="] {
            assert_eq!(percent_decode(&path_encode_key(key)).as_deref(), Some(key));
        }
    }
}
