//! A minimal signed HTTP/1.1 client over `std::net::TcpStream` for the CLI subcommands that
//! talk to a running server (`versa keys`, `versa metrics`, `versa deploy`): one request per connection,
//! `http://` endpoints only, answers bounded by [`ANSWER_BYTES_MAX`].

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::Context;

/// How long a subcommand waits for a server's answer.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from the server.
const ANSWER_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// Who signs, for which service and region.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signer<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) session_token: Option<&'a str>,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
}

/// One signed request to `endpoint` (`http://host:port`), with `headers` (signed too) besides
/// `host`, the signature's and `content-length`; returns the status and the body.
pub(crate) fn send(
    endpoint: &str,
    method: &http::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    signer: &Signer<'_>,
) -> anyhow::Result<(u16, String)> {
    send_with_headers(endpoint, method, path, headers, body, signer).map(|a| (a.status, a.body))
}

/// A server's answer: status, header lines (names lower-cased) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    /// The first value of header `name` (lower-case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// [`send`], keeping the answer's headers.
pub(crate) fn send_with_headers(
    endpoint: &str,
    method: &http::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    signer: &Signer<'_>,
) -> anyhow::Result<Answer> {
    let authority = endpoint
        .strip_prefix("http://")
        .map(|a| a.trim_end_matches('/'))
        .with_context(|| format!("the endpoint {endpoint} is not an http:// address"))?;
    let mut map = http::HeaderMap::new();
    map.insert(http::header::HOST, http::HeaderValue::from_str(authority)?);
    for (name, value) in headers {
        map.insert(http::HeaderName::from_bytes(name.as_bytes())?, http::HeaderValue::from_str(value)?);
    }
    let params = sigv4::SigningParams {
        credentials: sigv4::Credentials {
            access_key_id: signer.access_key_id,
            secret: signer.secret,
            session_token: signer.session_token,
        },
        region: signer.region,
        service: signer.service,
        time: stdx::time::now_ms() / 1000,
        mode: sigv4::UriMode::Normalized,
    };
    // A query (already encoded) is signed as the request's canonical query.
    let (raw_path, raw_query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let signed = sigv4::sign(method, raw_path, raw_query, &map, &params, sigv4::SignPayload::Body(body));
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    for (name, value) in &signed.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let mut stream = std::net::TcpStream::connect(authority).with_context(|| format!("cannot reach {endpoint}"))?;
    stream.set_read_timeout(Some(SERVER_TIMEOUT))?;
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.take(ANSWER_BYTES_MAX).read_to_end(&mut raw)?;
    parse_answer_full(&raw)
}

/// Status and body of a raw HTTP/1.1 answer (a `chunked` body is decoded).
#[cfg(test)]
fn parse_answer(raw: &[u8]) -> anyhow::Result<(u16, String)> {
    parse_answer_full(raw).map(|a| (a.status, a.body))
}

/// Status, headers and body of a raw HTTP/1.1 answer (a `chunked` body is decoded).
fn parse_answer_full(raw: &[u8]) -> anyhow::Result<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").context("the server's answer has no header end")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("the server's answer has no status")?;
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked { dechunk(body).context("the server's chunked answer is malformed")? } else { body.to_vec() };
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Answer { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_answer(plain).unwrap(), (200, "{}".to_owned()));
        let chunked =
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked).unwrap(), (400, "abcde".to_owned()));
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(parse_answer(b"HTTP/1.1 200 OK").is_err());
        let full = parse_answer_full(b"HTTP/1.1 200 OK\r\nX-Amz-Function-Error: Unhandled\r\n\r\n{}").unwrap();
        assert_eq!(full.header("x-amz-function-error"), Some("Unhandled"));
        assert_eq!(full.header("x-other"), None);
    }
}
