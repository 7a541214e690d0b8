//! The AWS SigV4 signing test suite (vendored from the `aws-sigv4` crate, see `vectors/NOTICE`):
//! every v4 case's signed request, header form and presigned form, must verify; its canonical
//! request and string to sign must be the suite's; a tampered request or a wrong secret must not.

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use sha2::{Digest, Sha256};
use sigv4::{Error, Form, RequestParts, UriMode};

const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

struct Request {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Request {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            headers: &self.headers,
        }
    }
}

/// Parses the suite's raw HTTP/1.1 text; folded header lines (obs-fold) are unfolded with a space,
/// as an HTTP/1 server that accepts them does.
fn parse_request(text: &str) -> Request {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let mut it = request_line.splitn(3, ' ');
    let method = Method::from_bytes(it.next().unwrap().as_bytes()).unwrap();
    let rest = &request_line[method.as_str().len() + 1..];
    let target = rest.strip_suffix(" HTTP/1.1").unwrap_or(rest);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let mut raw: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = raw.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (name, value) = line.split_once(':').unwrap();
            raw.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
        }
    }
    let mut headers = HeaderMap::new();
    for (name, value) in raw {
        headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(&value).unwrap());
    }
    Request { method, path, query, headers, body: body.as_bytes().to_vec() }
}

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

fn cases() -> Vec<PathBuf> {
    // Read when the test runs (cargo and nextest set it), not compiled in: a binary built in
    // another checkout of the same target dir reads this checkout's vectors.
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("tests/vectors/v4");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

/// The suite's `normalize: false` cases, and `get-space-normalized` (which expects single encoding,
/// reference §A1.11), run with S3's rules; the others with the normalizing, double-encoding rules.
fn mode_for(dir: &Path) -> UriMode {
    let name = dir.file_name().unwrap().to_str().unwrap();
    let normalize = read(dir, "context.json")
        .map(|c| serde_json::from_str::<serde_json::Value>(&c).unwrap()["normalize"].as_bool().unwrap_or(true))
        .unwrap_or(true);
    if !normalize || name == "get-space-normalized" { UriMode::S3 } else { UriMode::Normalized }
}

fn secret_for(dir: &Path) -> String {
    read(dir, "context.json")
        .map(|c| {
            serde_json::from_str::<serde_json::Value>(&c).unwrap()["credentials"]["secret_access_key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .unwrap_or_else(|| SUITE_SECRET.to_owned())
}

#[test]
fn every_v4_case_verifies_and_tampering_fails() {
    let mut checked = 0;
    for dir in cases() {
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let mode = mode_for(&dir);
        let secret = secret_for(&dir);
        for (form, prefix) in [(Form::Header, "header"), (Form::Presigned, "query")] {
            let Some(text) = read(&dir, &format!("{prefix}-signed-request.txt")) else { continue };
            let req = parse_request(&text);
            let body_hash: [u8; 32] = Sha256::digest(&req.body).into();
            let auth = sigv4::parse(&req.parts()).unwrap_or_else(|e| panic!("{name}/{prefix}: {e}")).unwrap();
            assert_eq!(auth.form, form, "{name}");
            auth.check_time(auth.time, sigv4::SKEW_MAX_SECS).unwrap();
            if name == "post-sts-header-after" && form == Form::Presigned {
                // `X-Amz-Security-Token` was added to the query after signing (the suite's
                // `omit_session_token`, an IoT convention): every query parameter but the signature
                // is signed, so this URL must not verify.
                let got = auth.verify(&req.parts(), mode, &secret, Some(body_hash));
                assert!(matches!(got, Err(Error::Mismatch { .. })), "{got:?}");
                checked += 1;
                continue;
            }

            // The canonical request and string to sign the suite expects (when they belong to this
            // signed request: `double-encode-path` was signed at another time than its canonical file).
            let wrong = auth.verify(&req.parts(), mode, "not the secret", Some(body_hash)).unwrap_err();
            let Error::Mismatch { canonical_request, string_to_sign, .. } = wrong else { panic!("{name}: {wrong:?}") };
            if name != "double-encode-path" {
                if let Some(expected) = read(&dir, &format!("{prefix}-canonical-request.txt")) {
                    assert_eq!(canonical_request, expected, "{name}/{prefix} canonical request");
                }
                if let Some(expected) = read(&dir, &format!("{prefix}-string-to-sign.txt")) {
                    assert_eq!(string_to_sign, expected.trim_end(), "{name}/{prefix} string to sign");
                }
            }
            if name == "double-encode-path" {
                // Its signature was computed for a different date than the request says; the
                // canonical URI is what this case is about.
                assert!(
                    canonical_request.contains("\n/test/%40connections/JBDvjfGEIAMCERw%253D\n"),
                    "{canonical_request}"
                );
                checked += 1;
                continue;
            }

            auth.verify(&req.parts(), mode, &secret, Some(body_hash))
                .unwrap_or_else(|e| panic!("{name}/{prefix} must verify: {e:?}"));
            if let Some(sig) = read(&dir, &format!("{prefix}-signature.txt")) {
                assert_eq!(auth.signature(), sig.trim());
            }

            // Tampering: a path one byte longer, another method, another body, a changed signed header.
            let mut longer = Request { path: format!("{}x", req.path), ..parse_request(&text) };
            assert!(
                matches!(auth.verify(&longer.parts(), mode, &secret, Some(body_hash)), Err(Error::Mismatch { .. })),
                "{name}"
            );
            longer.path.clone_from(&req.path);
            longer.method = if req.method == Method::GET { Method::POST } else { Method::GET };
            assert!(
                matches!(auth.verify(&longer.parts(), mode, &secret, Some(body_hash)), Err(Error::Mismatch { .. })),
                "{name}"
            );
            let other_body: [u8; 32] = Sha256::digest(b"x").into();
            if auth.payload == sigv4::Payload::BodyHash {
                assert!(
                    matches!(auth.verify(&req.parts(), mode, &secret, Some(other_body)), Err(Error::Mismatch { .. })),
                    "{name}"
                );
            }
            let mut changed = parse_request(&text);
            changed.headers.insert("host", HeaderValue::from_static("example.amazonaws.com.evil"));
            assert!(
                matches!(auth.verify(&changed.parts(), mode, &secret, Some(body_hash)), Err(Error::Mismatch { .. })),
                "{name}"
            );
            checked += 1;
        }
    }
    // 38 cases with both forms, 2 (double-*) with the header form only.
    assert_eq!(checked, 78);
}
