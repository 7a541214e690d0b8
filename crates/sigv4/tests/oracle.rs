//! Property tests. (b) Random requests signed by the `aws-sigv4` crate (the Rust SDK's signer), with
//! S3's settings (single encoding, no normalization, `x-amz-content-sha256`) or everyone else's
//! (double encoding, normalization, body hash), in the header and the presigned form, must verify;
//! a one-byte change in the secret, the path or a signed header must not. (c) Garbage
//! `Authorization` headers and query strings never panic and always end in an error.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use sha2::{Digest, Sha256};
use sigv4::{Error, Form, Payload, RequestParts, UriMode};

const AKID: &str = "AKIDVERSA0000EXAMPLE";
const SECRET: &str = "versa/Secret+Key0123456789abcdefEXAMPLE";

fn config() -> Config {
    Config { cases: 256, failure_persistence: None, rng_seed: RngSeed::Fixed(0x5167_0004), ..Config::default() }
}

#[derive(Debug, Clone)]
struct Case {
    s3: bool,
    presigned: bool,
    method: Method,
    segments: Vec<String>,
    query: Vec<(String, Option<String>)>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// S3 header form: 0 digest, 1 UNSIGNED-PAYLOAD, 2 streaming signed, 3 streaming unsigned trailer, 4 streaming signed trailer.
    payload: u8,
    token: Option<String>,
    time: u64,
    expires: u64,
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 %+._~!*'()@:=$&,;/é-]{0,10}",
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(String::new()),
        1 => Just("arn:aws:lambda:us-east-1:123456789012:function:my-fn:prod".to_owned()),
        1 => "[\u{80}-\u{10FFFF}]{1,3}",
    ]
}

fn query_pair() -> impl Strategy<Value = (String, Option<String>)> {
    (
        prop_oneof![2 => "[a-zA-Z0-9 %+=&._~/-]{1,8}", 1 => Just("dup".to_owned())],
        proptest::option::of("[a-zA-Z0-9 %+=&/é._~$-]{0,8}"),
    )
}

fn header() -> impl Strategy<Value = (&'static str, String)> {
    (
        prop_oneof![Just("x-amz-meta-a"), Just("x-custom"), Just("content-type"), Just("x-amz-meta-b")],
        "[ a-zA-Z0-9,;=/]{0,16}",
    )
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            any::<bool>(),
            any::<bool>(),
            prop_oneof![
                Just(Method::GET),
                Just(Method::PUT),
                Just(Method::POST),
                Just(Method::DELETE),
                Just(Method::HEAD)
            ],
        ),
        proptest::collection::vec(segment(), 0..5),
        proptest::collection::vec(query_pair(), 0..5),
        proptest::collection::vec(header(), 0..4),
        proptest::collection::vec(any::<u8>(), 0..64),
        (0u8..5, proptest::option::of("[A-Za-z0-9+/=]{10,40}"), 946_684_800u64..4_102_444_800, 1u64..=604_800),
    )
        .prop_map(|((s3, presigned, method), segments, query, headers, body, (payload, token, time, expires))| {
            Case { s3, presigned, method, segments, query, headers, body, payload, token, time, expires }
        })
}

struct Wire {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

impl Wire {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            headers: &self.headers,
        }
    }
}

const HOST: &str = "localhost:4566";

/// The request as an SDK puts it on the wire before signing: path, query, headers.
fn unsigned_parts(c: &Case) -> (String, Option<String>, HeaderMap) {
    // S3 object keys keep `/` (greedy label); other services encode every label byte.
    let path: String = c.segments.iter().map(|s| format!("/{}", sigv4::encode(s, c.s3))).collect();
    let path = if path.is_empty() { "/".to_owned() } else { path };
    let query: Vec<String> = c
        .query
        .iter()
        .map(|(n, v)| match v {
            Some(v) => format!("{}={}", sigv4::encode(n, false), sigv4::encode(v, false)),
            None => sigv4::encode(n, false),
        })
        .collect();
    let query = (!query.is_empty()).then(|| query.join("&"));
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static(HOST));
    for (name, value) in &c.headers {
        headers.append(*name, HeaderValue::from_str(value).unwrap());
    }
    (path, query, headers)
}

/// Encodes the case as an SDK would put it on the wire, signs it with aws-sigv4, and returns what
/// the server receives.
fn oracle_sign(c: &Case) -> Wire {
    let (path, query, headers) = unsigned_parts(c);
    let uri = match &query {
        Some(q) => format!("http://{HOST}{path}?{q}"),
        None => format!("http://{HOST}{path}"),
    };
    let mut request = http::Request::builder().method(c.method.clone()).uri(&uri).body(()).unwrap();
    *request.headers_mut() = headers;

    let mut settings = SigningSettings::default();
    if c.s3 {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    if c.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(c.expires));
    }
    let body = match (c.s3, c.presigned, c.payload) {
        (true, true, _) => SignableBody::UnsignedPayload,
        (true, false, 1) => SignableBody::UnsignedPayload,
        (true, false, 2) => SignableBody::Precomputed(sigv4::STREAMING_PAYLOAD.to_owned()),
        (true, false, 3) => SignableBody::StreamingUnsignedPayloadTrailer,
        (true, false, 4) => SignableBody::StreamingSignedPayloadTrailer,
        _ => SignableBody::Bytes(&c.body),
    };
    let identity: Identity = AwsCredentials::new(AKID, SECRET, c.token.clone(), None, "oracle").into();
    let service = if c.s3 { "s3" } else { "lambda" };
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-3")
        .name(service)
        .time(UNIX_EPOCH + Duration::from_secs(c.time))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        c.method.as_str(),
        uri.clone(),
        request.headers().iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
        body,
    )
    .unwrap();
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut request);
    Wire {
        method: c.method.clone(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        headers: request.headers().clone(),
    }
}

fn stdx_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_mismatch<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Mismatch { .. }))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sdk_signed_requests_verify(c in case()) {
        let wire = oracle_sign(&c);
        let mode = if c.s3 { UriMode::S3 } else { UriMode::Normalized };
        let body_hash: [u8; 32] = Sha256::digest(&c.body).into();
        let auth = sigv4::parse(&wire.parts()).unwrap().unwrap();
        prop_assert_eq!(auth.form, if c.presigned { Form::Presigned } else { Form::Header });
        prop_assert_eq!(&auth.access_key_id, AKID);
        prop_assert_eq!(auth.time, c.time as i64);
        prop_assert_eq!(auth.security_token.as_deref(), c.token.as_deref());
        let expected_payload = match (c.s3, c.presigned, c.payload) {
            (false, _, _) => Payload::BodyHash,
            (true, true, _) | (true, false, 1) => Payload::Unsigned,
            (true, false, 0) => Payload::Digest(body_hash),
            (true, false, 2) => Payload::Streaming { signed: true, trailer: false },
            (true, false, 3) => Payload::Streaming { signed: false, trailer: true },
            _ => Payload::Streaming { signed: true, trailer: true },
        };
        prop_assert_eq!(auth.payload, expected_payload);
        auth.check_time(c.time as i64, sigv4::SKEW_MAX_SECS).unwrap();
        if let Err(e) = auth.verify(&wire.parts(), mode, SECRET, Some(body_hash)) {
            return Err(TestCaseError::fail(format!("{c:?}\n{}\n{:?}\n{e}", wire.path, wire.query)));
        }

        // One byte changed in the secret, the path, a signed header (and the body when it is hashed).
        let mut secret = SECRET.to_owned().into_bytes();
        secret[7] ^= 1;
        prop_assert!(is_mismatch(auth.verify(&wire.parts(), mode, std::str::from_utf8(&secret).unwrap(), Some(body_hash))));
        let longer = Wire { path: format!("{}a", wire.path), query: wire.query.clone(), headers: wire.headers.clone(), method: wire.method.clone() };
        prop_assert!(is_mismatch(auth.verify(&longer.parts(), mode, SECRET, Some(body_hash))));
        let mut headers = wire.headers.clone();
        headers.insert("host", HeaderValue::from_static("localhost:4567"));
        let changed = Wire { headers, query: wire.query.clone(), path: wire.path.clone(), method: wire.method.clone() };
        prop_assert!(is_mismatch(auth.verify(&changed.parts(), mode, SECRET, Some(body_hash))));
        if auth.payload == Payload::BodyHash {
            let mut other = body_hash;
            other[0] ^= 1;
            prop_assert!(is_mismatch(auth.verify(&wire.parts(), mode, SECRET, Some(other))));
        }
    }

    #[test]
    fn our_signer_matches_aws_sigv4(c in case()) {
        let wire = oracle_sign(&c);
        let (path, query, headers) = unsigned_parts(&c);
        let params = sigv4::SigningParams {
            credentials: sigv4::Credentials { access_key_id: AKID, secret: SECRET, session_token: c.token.as_deref() },
            region: "eu-west-3",
            service: if c.s3 { "s3" } else { "lambda" },
            time: c.time as i64,
            mode: if c.s3 { UriMode::S3 } else { UriMode::Normalized },
        };
        let literal = match c.payload {
            1 => sigv4::UNSIGNED_PAYLOAD.to_owned(),
            2 => sigv4::STREAMING_PAYLOAD.to_owned(),
            3 => sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER.to_owned(),
            4 => sigv4::STREAMING_PAYLOAD_TRAILER.to_owned(),
            _ => stdx_hex(&Sha256::digest(&c.body)),
        };
        if c.presigned {
            let ours = sigv4::presign(&c.method, &path, query.as_deref(), &headers, &params, c.expires, &c.body);
            let signature = |q: &str| q.split('&').find_map(|p| p.strip_prefix("X-Amz-Signature=")).map(str::to_owned);
            prop_assert_eq!(signature(&ours), signature(wire.query.as_deref().unwrap()));
        } else {
            let payload = if c.s3 { sigv4::SignPayload::Header(&literal) } else { sigv4::SignPayload::Body(&c.body) };
            let ours = sigv4::sign(&c.method, &path, query.as_deref(), &headers, &params, payload);
            for (name, value) in &ours.headers {
                prop_assert_eq!(Some(value.as_str()), wire.headers.get(*name).map(|v| v.to_str().unwrap()), "{}", name);
            }
        }
    }

    #[test]
    fn garbage_authorization_never_panics(
        value in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            (
                prop_oneof![Just("AWS4-HMAC-SHA256 "), Just("AWS4-HMAC-SHA256"), Just("AWS "), Just("AWS4-ECDSA-P256-SHA256 "), Just("")],
                proptest::collection::vec(
                    prop_oneof![
                        "Credential=[A-Za-z0-9/_-]{0,60}",
                        Just("Credential=AKID/20240101/us-east-1/s3/aws4_request".to_owned()),
                        "SignedHeaders=[a-z;-]{0,40}",
                        Just("SignedHeaders=host;x-amz-date".to_owned()),
                        "Signature=[0-9a-fA-F]{0,70}",
                        "[ ,=;/a-zA-Z0-9]{0,20}",
                    ],
                    0..6,
                ),
            )
                .prop_map(|(alg, parts)| format!("{alg}{}", parts.join(", ")).into_bytes()),
        ],
        date in prop_oneof![Just(None), Just(Some("20240101T000000Z")), Just(Some("Mon, 01 Jan 2024 00:00:00 GMT")), Just(Some("garbage"))],
        content in prop_oneof![Just(None), Just(Some("UNSIGNED-PAYLOAD")), Just(Some("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")), Just(Some("nope"))],
        path in "[/a-z%.é]{0,20}",
    ) {
        let Ok(value) = HeaderValue::from_bytes(&value) else { return Ok(()) };
        let mut headers = HeaderMap::new();
        headers.insert("authorization", value);
        headers.insert("host", HeaderValue::from_static(HOST));
        if let Some(d) = date {
            headers.insert(if d.contains(',') { "date" } else { "x-amz-date" }, HeaderValue::from_static(d));
        }
        if let Some(v) = content {
            headers.insert("x-amz-content-sha256", HeaderValue::from_static(v));
        }
        let req = RequestParts { method: &Method::GET, raw_path: &path, raw_query: None, headers: &headers };
        match sigv4::parse(&req) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(None) => prop_assert!(false, "an Authorization header is always found"),
            Ok(Some(auth)) => {
                let _ = auth.check_time(1_704_067_200, sigv4::SKEW_MAX_SECS);
                for mode in [UriMode::S3, UriMode::Normalized] {
                    prop_assert!(auth.verify(&req, mode, SECRET, None).is_err());
                }
            }
        }
    }

    #[test]
    fn garbage_presigned_queries_never_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("X-Amz-Algorithm=AWS4-HMAC-SHA256".to_owned()),
                Just("X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256".to_owned()),
                "X-Amz-Credential=[A-Za-z0-9%/_-]{0,60}",
                Just("X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fs3%2Faws4_request".to_owned()),
                "X-Amz-Date=[0-9TZ]{0,18}",
                Just("X-Amz-Date=20240101T000000Z".to_owned()),
                "X-Amz-Expires=[0-9-]{0,8}",
                "X-Amz-SignedHeaders=[a-z%;-]{0,30}",
                Just("X-Amz-SignedHeaders=host".to_owned()),
                "X-Amz-Signature=[0-9a-f]{0,66}",
                "[a-zA-Z0-9%+=&é]{0,12}",
            ],
            0..9,
        ),
    ) {
        let query = parts.join("&");
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("host"), HeaderValue::from_static(HOST));
        headers.insert("x-amz-meta-x", HeaderValue::from_static("unsigned"));
        let req = RequestParts { method: &Method::PUT, raw_path: "/b/k", raw_query: Some(&query), headers: &headers };
        match sigv4::parse(&req) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(None) => prop_assert!(!query.contains("X-Amz-Algorithm=")),
            Ok(Some(auth)) => {
                let _ = auth.check_time(1_704_067_200, sigv4::SKEW_MAX_SECS);
                for mode in [UriMode::S3, UriMode::Normalized] {
                    prop_assert!(auth.verify(&req, mode, SECRET, None).is_err());
                }
            }
        }
    }
}
