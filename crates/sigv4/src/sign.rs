//! The signing side, for tests, the test kit and the benchmark (never on the server's path). It
//! produces what the AWS SDKs produce: the same headers, the same presigned parameters.

use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

use crate::{
    ALGORITHM, ChunkState, EMPTY_SHA256_HEX, SigningKey, UNSIGNED_PAYLOAD, UriMode, canonical, canonical_request,
    format_amz_date, scope, string_to_sign,
};

/// An access key.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
}

/// Who signs, for which scope and when.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub credentials: Credentials<'a>,
    pub region: &'a str,
    pub service: &'a str,
    /// Unix seconds.
    pub time: i64,
    pub mode: UriMode,
}

/// What the canonical request's payload line holds.
#[derive(Debug, Clone, Copy)]
pub enum SignPayload<'a> {
    /// `hex(sha256(body))`, no header (what the SDKs do for every service but S3).
    Body(&'a [u8]),
    /// A literal sent as `x-amz-content-sha256` and signed: a hex digest, `UNSIGNED-PAYLOAD`, or a
    /// `STREAMING-…` mode.
    Header(&'a str),
}

/// Headers never signed (botocore's list, with aws-sigv4's `user-agent` and trace id).
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// The result of [`sign()`]: the headers to add, and the signature (the seed of chunk signatures).
#[derive(Debug, Clone)]
pub struct Signed {
    /// `x-amz-date`, then `x-amz-security-token` and `x-amz-content-sha256` when used, then `authorization`.
    pub headers: Vec<(&'static str, String)>,
    pub signature: String,
    chunks: ChunkState,
}

impl Signed {
    /// Signs the aws-chunked chunks and trailer that follow this request.
    pub fn chunk_signer(&self) -> ChunkSigner {
        ChunkSigner(self.chunks.clone())
    }

    /// Adds the headers to `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(*name, v);
            }
        }
    }
}

/// Signs aws-chunked chunks in order, then the trailer (reference §A1.6).
#[derive(Debug, Clone)]
pub struct ChunkSigner(ChunkState);

impl ChunkSigner {
    /// The signature of the next chunk (the final empty one included).
    pub fn sign_chunk(&mut self, data: &[u8]) -> String {
        self.0.sign_chunk(&Sha256::digest(data).into())
    }

    /// The trailer signature; `trailer_lines` is `name:value\n` per trailer.
    pub fn sign_trailer(&mut self, trailer_lines: &[u8]) -> String {
        self.0.sign_trailer(trailer_lines)
    }
}

fn signed_header_names(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> =
        headers.keys().map(HeaderName::as_str).filter(|n| !UNSIGNED_HEADERS.contains(n)).map(str::to_owned).collect();
    names.sort();
    names.dedup();
    names
}

/// Signs a request in the header form. `headers` must hold `host`; the returned headers are added
/// to them (see [`Signed::apply`]). Every header present is signed, except the hop-by-hop ones,
/// `user-agent` and `authorization`.
pub fn sign(
    method: &http::Method,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    params: &SigningParams,
    payload: SignPayload,
) -> Signed {
    let amz_date = format_amz_date(params.time);
    let mut all = headers.clone();
    let mut added: Vec<(&'static str, String)> = vec![("x-amz-date", amz_date.clone())];
    if let Some(token) = params.credentials.session_token {
        added.push(("x-amz-security-token", token.to_owned()));
    }
    let payload_hash = match payload {
        SignPayload::Body(body) => stdx::hex::encode(&Sha256::digest(body)),
        SignPayload::Header(literal) => {
            added.push(("x-amz-content-sha256", literal.to_owned()));
            literal.to_owned()
        }
    };
    for (name, value) in &added {
        if let Ok(v) = HeaderValue::from_str(value) {
            all.insert(*name, v);
        }
    }
    let signed_headers = signed_header_names(&all);
    let req = crate::RequestParts { method, raw_path, raw_query, headers: &all };
    // Signing a request we built ourselves: the query bound is the only failure, and then the
    // signature is simply one the verifier refuses.
    let creq = canonical_request(&req, params.mode, false, &signed_headers, &payload_hash).unwrap_or_default();
    let date = &amz_date[..8];
    let scope = scope(date, params.region, params.service);
    let key = SigningKey::new(params.credentials.secret, date, params.region, params.service);
    let signature = key.sign_hex(string_to_sign(&amz_date, &scope, &creq).as_bytes());
    added.push((
        "authorization",
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            params.credentials.access_key_id,
            signed_headers.join(";")
        ),
    ));
    Signed { headers: added, signature: signature.clone(), chunks: ChunkState::new(key, amz_date, scope, signature) }
}

/// Presigns a request: returns the full query string to send (the original parameters, then
/// `X-Amz-Algorithm`, `-Credential`, `-Date`, `-Expires`, `-SignedHeaders`, `-Security-Token`,
/// `-Signature`). Signs `host` and the other headers given. The payload is `UNSIGNED-PAYLOAD` for
/// S3 and `hex(sha256(body))` otherwise, as the SDKs do.
pub fn presign(
    method: &http::Method,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    params: &SigningParams,
    expires_secs: u64,
    body: &[u8],
) -> String {
    let amz_date = format_amz_date(params.time);
    let date = &amz_date[..8];
    let scope = scope(date, params.region, params.service);
    let signed_headers = signed_header_names(headers);
    let mut query = raw_query.unwrap_or("").to_owned();
    let mut add = |name: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&canonical::encode(value, false));
    };
    add("X-Amz-Algorithm", ALGORITHM);
    add("X-Amz-Credential", &format!("{}/{scope}", params.credentials.access_key_id));
    add("X-Amz-Date", &amz_date);
    add("X-Amz-Expires", &expires_secs.to_string());
    add("X-Amz-SignedHeaders", &signed_headers.join(";"));
    if let Some(token) = params.credentials.session_token {
        add("X-Amz-Security-Token", token);
    }
    let payload_hash = if params.service == "s3" {
        UNSIGNED_PAYLOAD.to_owned()
    } else if body.is_empty() {
        EMPTY_SHA256_HEX.to_owned()
    } else {
        stdx::hex::encode(&Sha256::digest(body))
    };
    let req = crate::RequestParts { method, raw_path, raw_query: Some(&query), headers };
    let creq = canonical_request(&req, params.mode, true, &signed_headers, &payload_hash).unwrap_or_default();
    let key = SigningKey::new(params.credentials.secret, date, params.region, params.service);
    let signature = key.sign_hex(string_to_sign(&amz_date, &scope, &creq).as_bytes());
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    query
}

/// Frames `data` as an `aws-chunked` body of `chunk_size`-byte chunks. With a signer, each chunk
/// carries `;chunk-signature=` and the trailer `x-amz-trailer-signature`; `trailer` is one
/// `(name, value)` line, e.g. `("x-amz-checksum-crc32", "<b64>")`.
pub fn aws_chunked_body(
    mut signer: Option<&mut ChunkSigner>,
    data: &[u8],
    chunk_size: usize,
    trailer: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 256);
    let frame = |out: &mut Vec<u8>, chunk: &[u8], signer: &mut Option<&mut ChunkSigner>| {
        out.extend_from_slice(format!("{:x}", chunk.len()).as_bytes());
        if let Some(s) = signer.as_deref_mut() {
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(s.sign_chunk(chunk).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !chunk.is_empty() {
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
    };
    for chunk in data.chunks(chunk_size.max(1)) {
        frame(&mut out, chunk, &mut signer);
    }
    frame(&mut out, &[], &mut signer);
    if let Some((name, value)) = trailer {
        out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
        if let Some(s) = signer {
            let sig = s.sign_trailer(format!("{name}:{value}\n").as_bytes());
            out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}
