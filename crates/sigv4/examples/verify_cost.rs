//! The cost of one SigV4 verification (header form): parse + time check + canonical request +
//! signing key + HMAC compare, for a Lambda GetAlias request and an S3 PutObject with a literal
//! digest. Run: `cargo run --release -p sigv4 --example verify_cost`.

use std::hint::black_box;
use std::time::Instant;

use http::{HeaderMap, HeaderValue, Method};
use sigv4::{Credentials, RequestParts, SignPayload, SigningParams, UriMode};

const ITERATIONS: u32 = 200_000;
const NOW: i64 = 1_764_892_800;

struct Case {
    name: &'static str,
    method: Method,
    path: &'static str,
    query: Option<&'static str>,
    headers: HeaderMap,
    mode: UriMode,
    body_sha256: Option<[u8; 32]>,
}

fn case(
    name: &'static str,
    method: Method,
    path: &'static str,
    query: Option<&'static str>,
    extra: &[(&'static str, &'static str)],
    service: &'static str,
    payload: SignPayload,
) -> Case {
    let mode = if service == "s3" { UriMode::S3 } else { UriMode::Normalized };
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("localhost:4566"));
    headers.insert("user-agent", HeaderValue::from_static("aws-sdk-rust/1.3 os/linux lang/rust/1.95.0"));
    for (n, v) in extra {
        headers.insert(*n, HeaderValue::from_static(v));
    }
    let params = SigningParams {
        credentials: Credentials {
            access_key_id: "AKIAVERSAEXAMPLE0001",
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: None,
        },
        region: "us-east-1",
        service,
        time: NOW,
        mode,
    };
    let body_sha256 = match payload {
        SignPayload::Body(b) => Some(sha2_digest(b)),
        SignPayload::Header(_) => None,
    };
    sigv4::sign(&method, path, query, &headers, &params, payload).apply(&mut headers);
    Case { name, method, path, query, headers, mode, body_sha256 }
}

fn sha2_digest(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

fn main() {
    let put_digest = stdx::hex::encode(&sha2_digest(b"hello world"));
    let put_digest: &'static str = Box::leak(put_digest.into_boxed_str());
    let cases = [
        case(
            "lambda GetAlias",
            Method::GET,
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-function/aliases/prod",
            None,
            &[
                ("amz-sdk-invocation-id", "0f6d3c5e-1c54-4a0e-9d51-2b0b0a2f3c11"),
                ("amz-sdk-request", "attempt=1; max=3"),
            ],
            "lambda",
            SignPayload::Body(b""),
        ),
        case(
            "s3 PutObject (digest)",
            Method::PUT,
            "/my-bucket/photos/2025/12/05/cat%20picture.jpg",
            Some("x-id=PutObject"),
            &[
                ("content-type", "image/jpeg"),
                ("content-length", "11"),
                ("content-md5", "XrY7u+Ae7tCTyyK7j1rNww=="),
                ("x-amz-meta-owner", "versa"),
                ("amz-sdk-invocation-id", "0f6d3c5e-1c54-4a0e-9d51-2b0b0a2f3c11"),
            ],
            "s3",
            SignPayload::Header(put_digest),
        ),
    ];
    println!("SigV4 header-form verification, {ITERATIONS} iterations each (parse + check_time + verify):");
    for c in &cases {
        let req = RequestParts { method: &c.method, raw_path: c.path, raw_query: c.query, headers: &c.headers };
        let run = |cached_key: Option<&sigv4::SigningKey>| {
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                let auth = sigv4::parse(black_box(&req)).unwrap().unwrap();
                auth.check_time(NOW, sigv4::SKEW_MAX_SECS).unwrap();
                let verified = match cached_key {
                    Some(k) => auth.verify_with_key(&req, c.mode, k, c.body_sha256),
                    None => auth.verify(&req, c.mode, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", c.body_sha256),
                };
                black_box(verified.unwrap());
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(ITERATIONS)
        };
        let key = sigv4::parse(&req).unwrap().unwrap().signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let full = run(None);
        let cached = run(Some(&key));
        println!("  {:<24} {full:6.2} µs/verification   ({cached:5.2} µs with a cached signing key)", c.name);
    }
}
