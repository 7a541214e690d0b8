//! Bucket names (S3's naming rules for general purpose buckets) and virtual-hosted-style hosts.

use crate::limits::{BUCKET_NAME_LEN_MAX, BUCKET_NAME_LEN_MIN};

/// Prefixes S3 reserves (`xn--` is punycode; the others are AWS-internal).
const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
/// Suffixes S3 reserves (access point aliases, Object Lambda, multi-region access points,
/// directory buckets, table buckets).
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// Whether `name` follows S3's bucket naming rules: 3–63 characters of lowercase letters,
/// digits, dots and hyphens; starting and ending with a letter or digit; no two adjacent dots;
/// not an IPv4 address; none of the reserved prefixes and suffixes.
pub fn is_valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(BUCKET_NAME_LEN_MIN..=BUCKET_NAME_LEN_MAX).contains(&b.len()) {
        return false;
    }
    if !b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-') {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    if name.contains("..") || looks_like_ipv4(name) {
        return false;
    }
    !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) && !RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// `192.168.5.4`-shaped: four dot-separated groups of 1–3 digits.
fn looks_like_ipv4(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
}

/// The bucket named by a virtual-hosted-style `Host` header, if any.
///
/// `bucket.s3.localhost[:port]`, `bucket.s3.<region>.localhost[:port]` and
/// `bucket.localhost[:port]` name `bucket` (which may itself contain dots). Plain `localhost`,
/// IP addresses, the service hosts `s3.localhost` / `s3.<region>.localhost`, and function URL
/// hosts (`*.lambda-url.<region>.localhost`) name no bucket.
pub fn bucket_from_host(host: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    let host = strip_port(&host);
    let rest = host.strip_suffix(".localhost")?;
    if rest.is_empty() || rest.contains(".lambda-url.") || rest.starts_with("lambda-url.") {
        return None;
    }
    // The service endpoints themselves: `s3.localhost`, `s3.<region>.localhost`.
    if rest == "s3" || rest.strip_prefix("s3.").is_some_and(is_region_label) {
        return None;
    }
    let bucket = if let Some(b) = rest.strip_suffix(".s3") {
        b
    } else if let Some((b, region)) = rest.rsplit_once(".s3.") {
        if is_region_label(region) { b } else { rest }
    } else {
        rest
    };
    (!bucket.is_empty()).then(|| bucket.to_owned())
}

/// `host[:port]` → `host`; IPv6 literals (`[::1]:4566`) come back unchanged and match nothing.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host;
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// A region name: one DNS label such as `us-east-1`.
fn is_region_label(s: &str) -> bool {
    !s.is_empty() && !s.contains('.') && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket", "my.bucket.name", "a1b", "123", &"a".repeat(63), "xn-abc", "abc-s3", "1.2.3"] {
            assert!(is_valid_bucket_name(ok), "{ok} should be valid");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "my_bucket",
            "-abc",
            "abc-",
            ".abc",
            "abc.",
            "a..b",
            "192.168.5.4",
            "xn--abc",
            "sthree-abc",
            "amzn-s3-demo-bucket",
            "abc-s3alias",
            "abc--ol-s3",
            "abc.mrap",
            "abc--x-s3",
            "abc--table-s3",
            "ab c",
            "",
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad} should be invalid");
        }
    }

    #[test]
    fn hosts_map_to_buckets() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(bucket_from_host("photos.s3.localhost"), some("photos"));
        assert_eq!(bucket_from_host("photos.s3.localhost:4566"), some("photos"));
        assert_eq!(bucket_from_host("photos.s3.us-west-2.localhost:4566"), some("photos"));
        assert_eq!(bucket_from_host("photos.localhost:4566"), some("photos"));
        assert_eq!(bucket_from_host("my.dotted.bucket.localhost"), some("my.dotted.bucket"));
        assert_eq!(bucket_from_host("my.dotted.bucket.s3.eu-west-1.localhost"), some("my.dotted.bucket"));
        assert_eq!(bucket_from_host("Photos.S3.LOCALHOST"), some("photos"));
        for none in [
            "localhost",
            "localhost:4566",
            "127.0.0.1:4566",
            "127.0.0.1",
            "[::1]:4566",
            "s3.localhost",
            "s3.us-east-1.localhost:4566",
            "abcdef.lambda-url.us-east-1.localhost",
            "abcdef.lambda-url.us-east-1.localhost:4566",
            "example.com",
            ".localhost",
        ] {
            assert_eq!(bucket_from_host(none), None, "{none}");
        }
    }
}
