//! One test per error variant: what triggers it and its exact message.

use http::{HeaderMap, HeaderValue, Method};
use sigv4::{Credentials, Error, Form, RequestParts, SignPayload, SigningParams, UriMode};

const SECRET: &str = "secret";
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200;

fn params(service: &'static str, mode: UriMode) -> SigningParams<'static> {
    SigningParams {
        credentials: Credentials { access_key_id: "AKID", secret: SECRET, session_token: None },
        region: "us-east-1",
        service,
        time: T0,
        mode,
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("localhost:4566"));
    for (n, v) in pairs {
        h.append(*n, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn parse_with(headers: &HeaderMap, query: Option<&str>) -> Result<Option<sigv4::Auth>, Error> {
    sigv4::parse(&RequestParts { method: &Method::GET, raw_path: "/", raw_query: query, headers })
}

fn parse_err(headers: &HeaderMap, query: Option<&str>) -> Error {
    parse_with(headers, query).unwrap_err()
}

#[test]
fn no_authentication_at_all() {
    assert!(parse_with(&headers(&[]), Some("a=b&X-Amz-Date=1")).unwrap().is_none());
}

#[test]
fn incomplete() {
    let e = parse_err(&headers(&[("authorization", "AWS4-HMAC-SHA256 SignedHeaders=host")]), None);
    assert_eq!(
        e,
        Error::Incomplete {
            missing: vec!["Credential", "Signature", "X-Amz-Date"],
            authorization: "AWS4-HMAC-SHA256 SignedHeaders=host".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. \
         Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
         Authorization=AWS4-HMAC-SHA256 SignedHeaders=host"
    );
    let e = parse_err(&headers(&[("authorization", "AWS4-HMAC-SHA256")]), None);
    assert_eq!(
        e.to_string(),
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. \
         Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a \
         'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256"
    );
}

#[test]
fn not_key_value() {
    let auth =
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders host, Signature=ab";
    let e = parse_err(&headers(&[("authorization", auth), ("x-amz-date", "20240101T000000Z")]), None);
    assert_eq!(e, Error::NotKeyValue { pair: "SignedHeaders host".into(), authorization: auth.into() });
    assert_eq!(
        e.to_string(),
        format!(
            "'SignedHeaders host' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
        )
    );
}

#[test]
fn unsupported_algorithms() {
    let msg = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";
    let e = parse_err(&headers(&[("authorization", "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")]), None);
    assert_eq!(e, Error::UnsupportedAlgorithm("AWS".into()));
    assert_eq!(e.to_string(), msg);
    let v4a = "AWS4-ECDSA-P256-SHA256 Credential=AKID/20240101/s3/aws4_request, SignedHeaders=host, Signature=3045";
    assert_eq!(
        parse_err(&headers(&[("authorization", v4a)]), None),
        Error::UnsupportedAlgorithm("AWS4-ECDSA-P256-SHA256".into())
    );
    assert_eq!(
        parse_err(&headers(&[]), Some("X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=x")),
        Error::UnsupportedAlgorithm("AWS4-ECDSA-P256-SHA256".into())
    );
    // SigV4a streaming payloads, with an otherwise valid SigV4 header.
    let h = headers(&[("x-amz-content-sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")]);
    let signed = sigv4::sign(&Method::PUT, "/b/k", None, &h, &params("s3", UriMode::S3), SignPayload::Body(b""));
    let mut h2 = h.clone();
    signed.apply(&mut h2);
    assert_eq!(parse_err(&h2, None), Error::UnsupportedAlgorithm("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD".into()));
}

#[test]
fn credential_malformed() {
    let auth = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda, SignedHeaders=host, Signature=ab";
    let e = parse_err(&headers(&[("authorization", auth), ("x-amz-date", "20240101T000000Z")]), None);
    assert_eq!(e, Error::CredentialMalformed { credential: "AKID/20240101/us-east-1/lambda".into(), presigned: false });
    assert_eq!(
        e.to_string(),
        "The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
    );
    let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F2024%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=ab";
    let e = parse_err(&headers(&[]), Some(q));
    assert_eq!(
        e,
        Error::CredentialMalformed { credential: "AKID/2024/us-east-1/s3/aws4_request".into(), presigned: true }
    );
    assert_eq!(
        e.to_string(),
        "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
    );
}

#[test]
fn scope_date_mismatch() {
    let auth = "AWS4-HMAC-SHA256 Credential=AKID/20231231/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab";
    let e = parse_err(&headers(&[("authorization", auth), ("x-amz-date", "20240101T000000Z")]), None);
    assert_eq!(e, Error::ScopeDateMismatch { scope_date: "20231231".into(), request_time: "20240101T000000Z".into() });
    assert_eq!(
        e.to_string(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20231231' != '20240101', from '20240101T000000Z'."
    );
    // The same with a `Date` header: compared as its ISO-8601 form.
    let e = parse_err(&headers(&[("authorization", auth), ("date", "Mon, 01 Jan 2024 00:00:00 GMT")]), None);
    assert_eq!(e, Error::ScopeDateMismatch { scope_date: "20231231".into(), request_time: "20240101T000000Z".into() });
}

#[test]
fn host_not_signed() {
    let auth = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders=x-amz-date, Signature=ab";
    let e = parse_err(&headers(&[("authorization", auth), ("x-amz-date", "20240101T000000Z")]), None);
    assert_eq!(e, Error::HostNotSigned);
    assert_eq!(e.to_string(), "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
}

#[test]
fn malformed() {
    let auth =
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=ab";
    let e = parse_err(&headers(&[("authorization", auth), ("x-amz-date", "2024-01-01T00:00:00Z")]), None);
    assert_eq!(
        e.to_string(),
        "Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"
    );
    let long = format!("{auth}, X={}", "a".repeat(sigv4::AUTHORIZATION_MAX_LEN));
    let e = parse_err(&headers(&[("authorization", &long), ("x-amz-date", "20240101T000000Z")]), None);
    assert_eq!(e.to_string(), "The Authorization header is longer than 4096 bytes.");
    let many = format!(
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host;{}, Signature=ab",
        vec!["x"; sigv4::SIGNED_HEADERS_MAX].join(";")
    );
    let e = parse_err(&headers(&[("authorization", &many), ("x-amz-date", "20240101T000000Z")]), None);
    assert_eq!(e.to_string(), "SignedHeaders lists more than 64 headers.");
    let bad = auth.replace("SignedHeaders=host", "SignedHeaders=host;;a b");
    let e = parse_err(&headers(&[("authorization", &bad), ("x-amz-date", "20240101T000000Z")]), None);
    assert_eq!(e.to_string(), "SignedHeaders is malformed: 'host;;a b'.");
    // Too many query parameters: found while building the canonical request.
    let h = headers(&[]);
    let query = vec!["a=b"; sigv4::QUERY_PAIRS_MAX + 1].join("&");
    let signed = sigv4::sign(
        &Method::GET,
        "/",
        Some(&query),
        &h,
        &params("lambda", UriMode::Normalized),
        SignPayload::Body(b""),
    );
    let mut h2 = h.clone();
    signed.apply(&mut h2);
    let req = RequestParts { method: &Method::GET, raw_path: "/", raw_query: Some(&query), headers: &h2 };
    let auth = sigv4::parse(&req).unwrap().unwrap();
    let e = auth.verify(&req, UriMode::Normalized, SECRET, None).unwrap_err();
    assert_eq!(e.to_string(), "The query string has more than 512 parameters.");
}

#[test]
fn invalid_content_sha256() {
    let h = headers(&[("x-amz-content-sha256", "abc")]);
    let signed = sigv4::sign(&Method::PUT, "/b/k", None, &h, &params("s3", UriMode::S3), SignPayload::Body(b""));
    let mut h2 = h.clone();
    signed.apply(&mut h2);
    let e = parse_err(&h2, None);
    assert_eq!(e, Error::InvalidContentSha256("abc".into()));
    assert_eq!(
        e.to_string(),
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, \
         STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value."
    );
}

fn signed_auth(time: i64) -> sigv4::Auth {
    let h = headers(&[]);
    let p = SigningParams { time, ..params("lambda", UriMode::Normalized) };
    let signed = sigv4::sign(&Method::GET, "/", None, &h, &p, SignPayload::Body(b""));
    let mut h2 = h.clone();
    signed.apply(&mut h2);
    parse_with(&h2, None).unwrap().unwrap()
}

#[test]
fn skewed() {
    let auth = signed_auth(T0);
    auth.check_time(T0 + 900, sigv4::SKEW_MAX_SECS).unwrap();
    auth.check_time(T0 - 900, sigv4::SKEW_MAX_SECS).unwrap();
    let e = auth.check_time(T0 + 1800, sigv4::SKEW_MAX_SECS).unwrap_err();
    assert_eq!(
        e,
        Error::Skewed {
            request_time: "20240101T000000Z".into(),
            time: T0,
            server_time: T0 + 1800,
            skew_secs: 900,
            future: false
        }
    );
    assert_eq!(
        e.to_string(),
        "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)"
    );
    let e = auth.check_time(T0 - 1800, sigv4::SKEW_MAX_SECS).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Signature not yet current: 20240101T000000Z is still later than 20231231T234500Z (20231231T233000Z + 15 min.)"
    );
    // A `Date` header: the message shows the ISO-8601 form, `request_time` the text as sent.
    let h = headers(&[("date", "Mon, 01 Jan 2024 00:00:00 GMT")]);
    let sig = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders=date;host, Signature=ab";
    let mut h2 = h.clone();
    h2.insert("authorization", HeaderValue::from_static(sig));
    let e = parse_with(&h2, None).unwrap().unwrap().check_time(T0 + 301, 300).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Signature expired: 20240101T000000Z is now earlier than 20240101T000001Z (20240101T000501Z - 5 min.)"
    );
    assert!(matches!(e, Error::Skewed { request_time, .. } if request_time == "Mon, 01 Jan 2024 00:00:00 GMT"));
}

fn presigned_query(expires: &str) -> String {
    format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20240101T000000Z&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=ab"
    )
}

#[test]
fn presign_parameters() {
    let missing = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, \
                   X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";
    let q = presigned_query("60").replace("&X-Amz-Expires=60", "");
    let e = parse_err(&headers(&[]), Some(&q));
    assert_eq!(e, Error::PresignMissingParams);
    assert_eq!(e.to_string(), missing);
    let e = parse_err(&headers(&[]), Some(&presigned_query("604801")));
    assert_eq!(e, Error::PresignExpiresTooLarge);
    assert_eq!(
        e.to_string(),
        "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds"
    );
    for bad in ["0", "-1", "ten"] {
        let e = parse_err(&headers(&[]), Some(&presigned_query(bad)));
        assert_eq!(e, Error::PresignExpiresInvalid(bad.into()));
        assert_eq!(e.to_string(), "X-Amz-Expires should be a number greater than 0");
    }
    assert!(parse_with(&headers(&[]), Some(&presigned_query("604800"))).unwrap().is_some());
}

#[test]
fn presign_expired_and_never_skewed() {
    let auth = parse_with(&headers(&[]), Some(&presigned_query("3600"))).unwrap().unwrap();
    assert_eq!(auth.form, Form::Presigned);
    // A week-old date within its expiry is fine: no skew rule for presigned URLs.
    auth.check_time(T0 + 3600, sigv4::SKEW_MAX_SECS).unwrap();
    auth.check_time(T0 - 86_400, sigv4::SKEW_MAX_SECS).unwrap();
    let e = auth.check_time(T0 + 3601, sigv4::SKEW_MAX_SECS).unwrap_err();
    assert_eq!(e, Error::PresignExpired { expires_secs: 3600, expired_at: T0 + 3600, server_time: T0 + 3601 });
    assert_eq!(e.to_string(), "Request has expired");
    assert_eq!(sigv4::format_iso8601(T0 + 3600), "2024-01-01T01:00:00Z");
}

#[test]
fn headers_not_signed_on_s3_presigned() {
    let h = headers(&[]);
    let p = params("s3", UriMode::S3);
    let query = sigv4::presign(&Method::GET, "/b/k", None, &h, &p, 60, b"");
    let mut sent = h.clone();
    sent.insert("x-amz-meta-color", HeaderValue::from_static("red"));
    sent.insert("x-amz-user-agent", HeaderValue::from_static("sdk"));
    let req = RequestParts { method: &Method::GET, raw_path: "/b/k", raw_query: Some(&query), headers: &sent };
    let auth = sigv4::parse(&req).unwrap().unwrap();
    let e = auth.verify(&req, UriMode::S3, SECRET, None).unwrap_err();
    assert_eq!(e, Error::HeadersNotSigned(vec!["x-amz-meta-color".into()]));
    assert_eq!(e.to_string(), "There were headers present in the request which were not signed");
    // Without the extra header it verifies; an unsigned `x-amz-content-sha256` is ignored.
    let req = RequestParts { headers: &h, ..req };
    auth.verify(&req, UriMode::S3, SECRET, None).unwrap();
    let mut with_sha = h.clone();
    with_sha.insert("x-amz-content-sha256", HeaderValue::from_static(sigv4::EMPTY_SHA256_HEX));
    let req = RequestParts { headers: &with_sha, ..req };
    let auth = sigv4::parse(&req).unwrap().unwrap();
    assert_eq!(auth.payload, sigv4::Payload::Unsigned);
    auth.verify(&req, UriMode::S3, SECRET, None).unwrap();
}

#[test]
fn mismatch() {
    let h = headers(&[]);
    let signed = sigv4::sign(
        &Method::GET,
        "/",
        Some("b=2&a=1"),
        &h,
        &params("lambda", UriMode::Normalized),
        SignPayload::Body(b""),
    );
    let mut h2 = h.clone();
    signed.apply(&mut h2);
    let req = RequestParts { method: &Method::GET, raw_path: "/", raw_query: Some("b=2&a=1"), headers: &h2 };
    let auth = sigv4::parse(&req).unwrap().unwrap();
    auth.verify(&req, UriMode::Normalized, SECRET, None).unwrap();
    let e = auth.verify(&req, UriMode::Normalized, "other", None).unwrap_err();
    let creq = "GET\n/\na=1&b=2\nhost:localhost:4566\nx-amz-date:20240101T000000Z\n\nhost;x-amz-date\n\
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let Error::Mismatch { canonical_request, string_to_sign, signature_provided } = &e else { panic!("{e:?}") };
    assert_eq!(canonical_request, creq);
    assert!(string_to_sign.starts_with("AWS4-HMAC-SHA256\n20240101T000000Z\n20240101/us-east-1/lambda/aws4_request\n"));
    assert_eq!(signature_provided, &signed.signature);
    assert_eq!(
        e.to_string(),
        format!(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key \
             and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request \
             should have been\n'{creq}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
        )
    );
    // A signature that is not 64 hex digits is a mismatch too, not a panic.
    let bad = h2.get("authorization").unwrap().to_str().unwrap().replace(&signed.signature, "zz");
    let mut h3 = h2.clone();
    h3.insert("authorization", HeaderValue::from_str(&bad).unwrap());
    let req = RequestParts { headers: &h3, ..req };
    let auth = sigv4::parse(&req).unwrap().unwrap();
    assert!(matches!(auth.verify(&req, UriMode::Normalized, SECRET, None), Err(Error::Mismatch { .. })));
}

#[test]
fn chunk_mismatch() {
    let h = headers(&[]);
    let signed = sigv4::sign(
        &Method::PUT,
        "/b/k",
        None,
        &h,
        &params("s3", UriMode::S3),
        SignPayload::Header(sigv4::STREAMING_PAYLOAD),
    );
    let mut h2 = h.clone();
    signed.apply(&mut h2);
    let req = RequestParts { method: &Method::PUT, raw_path: "/b/k", raw_query: None, headers: &h2 };
    let verified = sigv4::parse(&req).unwrap().unwrap().verify(&req, UriMode::S3, SECRET, None).unwrap();
    let e = verified.chunks().verify_chunk([0; 32], b"00").unwrap_err();
    assert_eq!(e, Error::ChunkMismatch);
    assert_eq!(e.to_string(), sigv4::S3_SIGNATURE_MISMATCH);
    assert_eq!(
        e.to_string(),
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    );
}
