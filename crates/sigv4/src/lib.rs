//! AWS Signature Version 4 verification, written once for every Versa service (reference
//! `auth-and-console.md` §A1).
//!
//! Pure: no IO, no clock (callers pass `now` as unix seconds). The flow is
//! [`parse`] (cheap, no secret, before the body) → [`Auth::check_time`] → look the key up →
//! [`Auth::verify`] (after the body when its hash is signed) → for aws-chunked uploads,
//! [`Verified::chunks`] checks each chunk and the trailer.
//!
//! The signing side ([`sign()`], [`presign`], [`ChunkSigner`]) is for tests, the test kit and the
//! benchmark; it produces what the AWS SDKs produce.

mod canonical;
mod error;
mod sign;
mod time;

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

pub use canonical::encode;
pub use error::{Error, S3_SIGNATURE_MISMATCH};
pub use sign::{ChunkSigner, Credentials, SignPayload, Signed, SigningParams, aws_chunked_body, presign, sign};
pub use time::{format_amz_date, format_iso8601, parse_amz_date};

/// The largest clock difference accepted for header-signed requests (S3's `MaxAllowedSkewMilliseconds`).
pub const SKEW_MAX_SECS: i64 = 15 * 60;
/// The largest `X-Amz-Expires` of a presigned URL: one week.
pub const PRESIGN_EXPIRES_MAX_SECS: u64 = 604_800;
/// The longest `Authorization` header parsed; longer ones are refused before any work.
pub const AUTHORIZATION_MAX_LEN: usize = 4096;
/// The most names `SignedHeaders` may list.
pub const SIGNED_HEADERS_MAX: usize = 64;
/// The most query parameters a signed request may carry.
pub const QUERY_PAIRS_MAX: usize = 512;
/// The longest credential (`AKID/YYYYMMDD/region/service/aws4_request`).
pub const CREDENTIAL_MAX_LEN: usize = 256;

/// The algorithm name of SigV4 (HMAC-SHA256).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-content-sha256` literals (reference §A1.5).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
const STREAMING_V4A_PREFIX: &str = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD";
/// `hex(sha256(""))`.
pub const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

type HmacSha256 = Hmac<Sha256>;

/// What the verifier reads of a request (the path and query exactly as received on the wire).
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a http::Method,
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// Canonical URI rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriMode {
    /// Every service but S3: dot segments and `//` removed, then encoded again (`%` -> `%25`).
    Normalized,
    /// S3: no normalisation; percent-decoded, then strictly encoded once (`%2F` stays `%2F`).
    S3,
}

/// Where the signature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    Header,
    /// `X-Amz-Algorithm`, `X-Amz-Credential`, … in the query string.
    Presigned,
}

/// The payload hash mode, from `x-amz-content-sha256` (or its absence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// No header: the canonical request holds `hex(sha256(body))` (every non-S3 service).
    BodyHash,
    /// A literal digest: signed as sent, then compared with the body's real hash by the caller.
    Digest([u8; 32]),
    /// `UNSIGNED-PAYLOAD` (also an S3 presigned URL without the header).
    Unsigned,
    /// aws-chunked: `signed` means chunk signatures (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`),
    /// `trailer` means a trailer follows the last chunk (signed when `signed`).
    Streaming { signed: bool, trailer: bool },
}

/// A request's authentication, parsed without any secret (cheap; before the body is read).
#[derive(Debug, Clone)]
pub struct Auth {
    pub form: Form,
    pub access_key_id: String,
    /// The credential scope's date, `YYYYMMDD` (equal to the request date).
    pub date: String,
    pub region: String,
    pub service: String,
    /// The request time in unix seconds.
    pub time: i64,
    /// The request time as sent (`x-amz-date`, `Date` or `X-Amz-Date`).
    pub time_text: String,
    pub signed_headers: Vec<String>,
    pub security_token: Option<String>,
    /// Presigned only: `X-Amz-Expires` in seconds.
    pub expires: Option<u64>,
    pub payload: Payload,
    /// The request time as `YYYYMMDDTHHMMSSZ` (what the string to sign holds).
    amz_date: String,
    /// The payload hash line of the canonical request when it is a literal.
    payload_text: Option<String>,
    signature: String,
    /// `<date>/<region>/<service>/aws4_request`, built once.
    scope: String,
}

/// Finds and parses a request's SigV4 authentication (`X-Amz-Algorithm` before `Authorization`).
/// `Ok(None)`: the request carries none at all (no `Authorization` header, no `X-Amz-Algorithm`).
pub fn parse(req: &RequestParts) -> Result<Option<Auth>, Error> {
    if let Some(q) = req.raw_query {
        // Cheap pre-check before decoding the whole query.
        if q.contains("X-Amz-Algorithm") {
            let params: Vec<(String, String)> = canonical::decoded_pairs(Some(q)).collect();
            if params.iter().any(|(n, _)| n == "X-Amz-Algorithm") {
                return parse_presigned(req, &params).map(Some);
            }
        }
    }
    let Some(value) = req.headers.get(http::header::AUTHORIZATION) else { return Ok(None) };
    parse_header(req, value.as_bytes()).map(Some)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// `AKID/YYYYMMDD/region/service/aws4_request` → (akid, date, region, service).
fn parse_credential(credential: &str, presigned: bool) -> Result<(String, String, String, String), Error> {
    let bad =
        || Error::CredentialMalformed { credential: credential.chars().take(CREDENTIAL_MAX_LEN).collect(), presigned };
    if credential.len() > CREDENTIAL_MAX_LEN {
        return Err(bad());
    }
    let mut parts = credential.split('/');
    let (Some(akid), Some(date), Some(region), Some(service), Some(terminal), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let date_ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if akid.is_empty() || !date_ok || region.is_empty() || service.is_empty() || terminal != "aws4_request" {
        return Err(bad());
    }
    Ok((akid.to_string(), date.to_string(), region.to_string(), service.to_string()))
}

fn parse_signed_headers(list: &str) -> Result<Vec<String>, Error> {
    let names: Vec<String> = list.split(';').map(str::to_owned).collect();
    if names.len() > SIGNED_HEADERS_MAX {
        return Err(Error::Malformed(format!("SignedHeaders lists more than {SIGNED_HEADERS_MAX} headers.")));
    }
    if names.iter().any(|n| n.is_empty() || http::HeaderName::from_bytes(n.as_bytes()).is_err()) {
        return Err(Error::Malformed(format!("SignedHeaders is malformed: '{list}'.")));
    }
    if !names.iter().any(|n| n == "host") {
        return Err(Error::HostNotSigned);
    }
    Ok(names)
}

fn bad_date(text: &str) -> Error {
    Error::BadDate(text.to_owned())
}

/// The payload mode from `x-amz-content-sha256`; absent: S3 presigned URLs are `UNSIGNED-PAYLOAD`,
/// everything else hashes the body. A presigned URL ignores the header unless it signed it (the
/// SDKs presign S3 URLs with `UNSIGNED-PAYLOAD`, whatever headers the user sends).
fn parse_payload(
    headers: &HeaderMap,
    form: Form,
    service: &str,
    signed_headers: &[String],
) -> Result<(Payload, Option<String>), Error> {
    let value = headers
        .get("x-amz-content-sha256")
        .filter(|_| form == Form::Header || signed_headers.iter().any(|h| h == "x-amz-content-sha256"));
    let Some(value) = value else {
        return Ok(if form == Form::Presigned && service == "s3" {
            (Payload::Unsigned, Some(UNSIGNED_PAYLOAD.to_owned()))
        } else {
            (Payload::BodyHash, None)
        });
    };
    let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let payload = match text.as_str() {
        UNSIGNED_PAYLOAD => Payload::Unsigned,
        STREAMING_PAYLOAD => Payload::Streaming { signed: true, trailer: false },
        STREAMING_PAYLOAD_TRAILER => Payload::Streaming { signed: true, trailer: true },
        STREAMING_UNSIGNED_PAYLOAD_TRAILER => Payload::Streaming { signed: false, trailer: true },
        t if t.starts_with(STREAMING_V4A_PREFIX) => return Err(Error::UnsupportedAlgorithm(t.to_owned())),
        t => match stdx::hex::decode(t).and_then(|b| <[u8; 32]>::try_from(b).ok()) {
            Some(d) if t.len() == 64 => Payload::Digest(d),
            _ => return Err(Error::InvalidContentSha256(text.chars().take(128).collect())),
        },
    };
    Ok((payload, Some(text)))
}

fn parse_header(req: &RequestParts, value: &[u8]) -> Result<Auth, Error> {
    if value.len() > AUTHORIZATION_MAX_LEN {
        return Err(Error::Malformed(format!(
            "The Authorization header is longer than {AUTHORIZATION_MAX_LEN} bytes."
        )));
    }
    let Ok(authorization) = std::str::from_utf8(value) else {
        return Err(Error::Malformed("The Authorization header is not valid UTF-8.".to_owned()));
    };
    let trimmed = authorization.trim();
    let (algorithm, rest) = trimmed.split_once([' ', '\t']).unwrap_or((trimmed, ""));
    if algorithm != ALGORITHM {
        // SigV2 is `AWS AKID:signature`; SigV4a is `AWS4-ECDSA-P256-SHA256 …`.
        return Err(Error::UnsupportedAlgorithm(algorithm.chars().take(64).collect()));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for pair in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(Error::NotKeyValue { pair: pair.to_owned(), authorization: authorization.to_owned() });
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let date_header = header_str(req.headers, "x-amz-date")
        .map(|t| (t, true))
        .or_else(|| header_str(req.headers, "date").map(|t| (t, false)));
    let mut missing = Vec::new();
    for (present, name) in [
        (credential.is_some(), "Credential"),
        (signature.is_some(), "Signature"),
        (signed_headers.is_some(), "SignedHeaders"),
        (date_header.is_some(), "X-Amz-Date"),
    ] {
        if !present {
            missing.push(name);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some((time_text, amz))) =
        (credential, signed_headers, signature, date_header)
    else {
        return Err(Error::Incomplete { missing, authorization: authorization.to_owned() });
    };
    let (access_key_id, date, region, service) = parse_credential(credential, false)?;
    let signed_headers = parse_signed_headers(signed_headers)?;
    let time = if amz { time::parse_amz_date(time_text) } else { time::parse_http_date(time_text) };
    let time = time.ok_or_else(|| bad_date(time_text))?;
    // A parsed `x-amz-date` is the request time as the string to sign holds it (the parser
    // accepts only text that formats back to itself).
    let amz_date = if amz { time_text.to_owned() } else { format_amz_date(time) };
    if amz_date[..8] != date {
        return Err(Error::ScopeDateMismatch { scope_date: date, request_time: amz_date });
    }
    let (payload, payload_text) = parse_payload(req.headers, Form::Header, &service, &signed_headers)?;
    Ok(Auth {
        scope: scope(&date, &region, &service),
        form: Form::Header,
        access_key_id,
        date,
        region,
        service,
        time,
        time_text: time_text.to_owned(),
        signed_headers,
        security_token: header_str(req.headers, "x-amz-security-token").map(str::to_owned),
        expires: None,
        payload,
        amz_date,
        payload_text,
        signature: signature.to_owned(),
    })
}

fn parse_presigned(req: &RequestParts, params: &[(String, String)]) -> Result<Auth, Error> {
    let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let algorithm = get("X-Amz-Algorithm").unwrap_or_default();
    if algorithm != ALGORITHM {
        return Err(Error::UnsupportedAlgorithm(algorithm.chars().take(64).collect()));
    }
    let (Some(credential), Some(signature), Some(time_text), Some(signed_headers), Some(expires)) = (
        get("X-Amz-Credential"),
        get("X-Amz-Signature"),
        get("X-Amz-Date"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Expires"),
    ) else {
        return Err(Error::PresignMissingParams);
    };
    let expires = match expires.parse::<u64>() {
        Ok(e) if e > PRESIGN_EXPIRES_MAX_SECS => return Err(Error::PresignExpiresTooLarge),
        Ok(e) if e > 0 => e,
        _ => return Err(Error::PresignExpiresInvalid(expires.chars().take(64).collect())),
    };
    let (access_key_id, date, region, service) = parse_credential(credential, true)?;
    let time = time::parse_amz_date(time_text).ok_or_else(|| bad_date(time_text))?;
    if time_text[..8] != date {
        return Err(Error::ScopeDateMismatch { scope_date: date, request_time: time_text.to_owned() });
    }
    let signed_headers = parse_signed_headers(signed_headers)?;
    let (payload, payload_text) = parse_payload(req.headers, Form::Presigned, &service, &signed_headers)?;
    Ok(Auth {
        scope: scope(&date, &region, &service),
        form: Form::Presigned,
        access_key_id,
        date,
        region,
        service,
        time,
        time_text: time_text.to_owned(),
        signed_headers,
        security_token: get("X-Amz-Security-Token").map(str::to_owned),
        expires: Some(expires),
        payload,
        amz_date: time_text.to_owned(),
        payload_text,
        signature: signature.to_owned(),
    })
}

/// The signing key for one (secret, date, region, service); cacheable per key id for a day.
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl SigningKey {
    /// `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")`.
    pub fn new(secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
        let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k = hmac(&k, region.as_bytes());
        let k = hmac(&k, service.as_bytes());
        SigningKey(hmac(&k, b"aws4_request"))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    /// `hex(HMAC(key, string_to_sign))`.
    pub(crate) fn sign_hex(&self, string_to_sign: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(string_to_sign);
        stdx::hex::encode(&mac.finalize().into_bytes())
    }

    /// Constant-time comparison of `HMAC(key, string_to_sign)` with a hex signature.
    fn verify_hex(&self, string_to_sign: &[u8], signature_hex: &[u8]) -> bool {
        let Some(provided) =
            std::str::from_utf8(signature_hex).ok().filter(|s| s.len() == 64).and_then(stdx::hex::decode)
        else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(string_to_sign);
        mac.verify_slice(&provided).is_ok()
    }
}

fn sha256_hex(data: &[u8]) -> String {
    stdx::hex::encode(&Sha256::digest(data))
}

/// `<date>/<region>/<service>/aws4_request`.
fn scope(date: &str, region: &str, service: &str) -> String {
    let mut s = String::with_capacity(date.len() + region.len() + service.len() + 15);
    for part in [date, "/", region, "/", service, "/aws4_request"] {
        s.push_str(part);
    }
    s
}

/// The canonical request (reference §A1.2).
pub(crate) fn canonical_request(
    req: &RequestParts,
    mode: UriMode,
    presigned: bool,
    signed_headers: &[String],
    payload_hash: &str,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b'\n');
    canonical::uri(&mut out, req.raw_path, mode);
    out.push(b'\n');
    canonical::query(&mut out, req.raw_query, presigned)?;
    out.push(b'\n');
    canonical::headers(&mut out, req.headers, signed_headers);
    out.push(b'\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    Ok(out)
}

pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    let hash = sha256_hex(canonical_request);
    let mut s = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + hash.len() + 3);
    for part in [ALGORITHM, "\n", amz_date, "\n", scope, "\n", &hash] {
        s.push_str(part);
    }
    s
}

/// `x-amz-*` headers an S3 presigned request may carry unsigned: the SDKs never sign them in presigned URLs.
const PRESIGN_UNSIGNED_OK: &[&str] = &["x-amz-content-sha256", "x-amz-user-agent", "x-amz-checksum-mode"];

impl Auth {
    /// Header form: `|now - time| <= skew_secs` ([`Error::Skewed`]). Presigned: `now <= time + expires`
    /// ([`Error::PresignExpired`]); presigned URLs are never subject to the skew rule.
    pub fn check_time(&self, now: i64, skew_secs: i64) -> Result<(), Error> {
        match (self.form, self.expires) {
            (Form::Presigned, Some(expires)) => {
                let expired_at = self.time.saturating_add(i64::try_from(expires).unwrap_or(i64::MAX));
                if now > expired_at {
                    return Err(Error::PresignExpired { expires_secs: expires, expired_at, server_time: now });
                }
                Ok(())
            }
            _ => {
                let future = self.time.saturating_sub(now) > skew_secs;
                if future || now.saturating_sub(self.time) > skew_secs {
                    return Err(Error::Skewed {
                        request_time: self.time_text.clone(),
                        time: self.time,
                        server_time: now,
                        skew_secs,
                        future,
                    });
                }
                Ok(())
            }
        }
    }

    /// The signature as sent.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The credential scope, `<date>/<region>/<service>/aws4_request`.
    pub fn scope(&self) -> String {
        self.scope.clone()
    }

    /// [`Auth::scope`], borrowed.
    pub fn scope_str(&self) -> &str {
        &self.scope
    }

    /// The signing key for this request's scope (callers may cache it per key id and scope).
    pub fn signing_key(&self, secret: &str) -> SigningKey {
        SigningKey::new(secret, &self.date, &self.region, &self.service)
    }

    /// Builds the canonical request and string to sign, and compares signatures in constant time.
    /// `body_sha256` is the body's hash for [`Payload::BodyHash`] (non-S3 services read the body first);
    /// `None` there means an empty body.
    pub fn verify(
        &self,
        req: &RequestParts,
        mode: UriMode,
        secret: &str,
        body_sha256: Option<[u8; 32]>,
    ) -> Result<Verified, Error> {
        self.verify_with_key(req, mode, &self.signing_key(secret), body_sha256)
    }

    /// [`Auth::verify`] with a cached signing key.
    pub fn verify_with_key(
        &self,
        req: &RequestParts,
        mode: UriMode,
        key: &SigningKey,
        body_sha256: Option<[u8; 32]>,
    ) -> Result<Verified, Error> {
        let body_hash;
        let payload_hash = match (&self.payload_text, body_sha256) {
            (Some(text), _) => text.as_str(),
            (None, Some(h)) => {
                body_hash = stdx::hex::encode(&h);
                body_hash.as_str()
            }
            (None, None) => EMPTY_SHA256_HEX,
        };
        let presigned = self.form == Form::Presigned;
        let creq = canonical_request(req, mode, presigned, &self.signed_headers, payload_hash)?;
        let sts = string_to_sign(&self.amz_date, &self.scope, &creq);
        if !key.verify_hex(sts.as_bytes(), self.signature.as_bytes()) {
            return Err(Error::Mismatch {
                canonical_request: String::from_utf8_lossy(&creq).into_owned(),
                string_to_sign: sts,
                signature_provided: self.signature.chars().take(128).collect(),
            });
        }
        if presigned && mode == UriMode::S3 {
            let unsigned: Vec<String> = req
                .headers
                .keys()
                .map(http::HeaderName::as_str)
                .filter(|n| n.starts_with("x-amz-") && !PRESIGN_UNSIGNED_OK.contains(n))
                .filter(|n| !self.signed_headers.iter().any(|s| s == n))
                .map(str::to_owned)
                .collect();
            if !unsigned.is_empty() {
                return Err(Error::HeadersNotSigned(unsigned));
            }
        }
        Ok(Verified {
            chunks: ChunkState {
                key: key.clone(),
                amz_date: self.amz_date.clone(),
                scope: self.scope.clone(),
                prev: self.signature.clone(),
            },
            payload: self.payload,
        })
    }
}

/// A verified request; for streaming payloads, the seed of the chunk signatures.
#[derive(Debug, Clone)]
pub struct Verified {
    chunks: ChunkState,
    payload: Payload,
}

impl Verified {
    /// The payload mode the request was signed with.
    pub fn payload(&self) -> Payload {
        self.payload
    }

    /// The verifier of the aws-chunked chunk and trailer signatures (seeded with the request's signature).
    pub fn chunks(&self) -> ChunkVerifier {
        ChunkVerifier(self.chunks.clone())
    }
}

/// The rolling state shared by chunk signing and verification (reference §A1.6).
#[derive(Debug, Clone)]
pub(crate) struct ChunkState {
    key: SigningKey,
    amz_date: String,
    scope: String,
    /// The previous signature (hex), starting with the seed.
    prev: String,
}

impl ChunkState {
    pub(crate) fn new(key: SigningKey, amz_date: String, scope: String, seed: String) -> ChunkState {
        ChunkState { key, amz_date, scope, prev: seed }
    }

    fn chunk_sts(&self, chunk_sha256: &[u8; 32]) -> String {
        format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256_HEX}\n{}",
            self.amz_date,
            self.scope,
            self.prev,
            stdx::hex::encode(chunk_sha256)
        )
    }

    fn trailer_sts(&self, trailer_lines: &[u8]) -> String {
        format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.prev,
            sha256_hex(trailer_lines)
        )
    }

    pub(crate) fn sign_chunk(&mut self, chunk_sha256: &[u8; 32]) -> String {
        self.prev = self.key.sign_hex(self.chunk_sts(chunk_sha256).as_bytes());
        self.prev.clone()
    }

    pub(crate) fn sign_trailer(&mut self, trailer_lines: &[u8]) -> String {
        self.prev = self.key.sign_hex(self.trailer_sts(trailer_lines).as_bytes());
        self.prev.clone()
    }

    fn accept(&mut self, sts: &str, signature_hex: &[u8]) -> Result<(), Error> {
        if !self.key.verify_hex(sts.as_bytes(), signature_hex) {
            return Err(Error::ChunkMismatch);
        }
        // Equal to the computed signature, so 64 lower- or upper-case hex digits.
        self.prev = String::from_utf8_lossy(signature_hex).to_ascii_lowercase();
        Ok(())
    }
}

/// Verifies aws-chunked chunk signatures in order, then the trailer's (reference §A1.6).
#[derive(Debug, Clone)]
pub struct ChunkVerifier(ChunkState);

impl ChunkVerifier {
    /// Checks one chunk (the last, empty one included) given the SHA-256 of its data.
    pub fn verify_chunk(&mut self, chunk_sha256: [u8; 32], signature_hex: &[u8]) -> Result<(), Error> {
        let sts = self.0.chunk_sts(&chunk_sha256);
        self.0.accept(&sts, signature_hex)
    }

    /// Checks the trailer signature. `trailer_lines`: the canonical trailer text, `name:value\n` per
    /// trailer (e.g. `x-amz-checksum-crc32:<b64>\n`).
    pub fn verify_trailer(&mut self, trailer_lines: &[u8], signature_hex: &[u8]) -> Result<(), Error> {
        let sts = self.0.trailer_sts(trailer_lines);
        self.0.accept(&sts, signature_hex)
    }
}
