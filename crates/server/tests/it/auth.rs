//! `--auth sigv4`: every service verifies SigV4 signatures made by the official SDK, the aws
//! CLI and raw signed requests; each refusal has the service's exact error and changes nothing;
//! keys per account through `versa keys`; functions get their own temporary credentials.

// JUSTIFICATION: `versa keys` and `versa server` are the programs under test here.
#![allow(clippy::disallowed_methods)]

use std::process::Command;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use aws_sdk_s3::primitives::ByteStream;
use testkit::{Key, ServerProcess, TestServer, lambda_client_with, logs_client_with};

use crate::support::*;

pub(crate) fn s3_with(endpoint: &str, key: &Key) -> aws_sdk_s3::Client {
    s3_client_with(endpoint, key)
}

async fn create_fn(c: &aws_sdk_lambda::Client, name: &str) -> Result<(), AwsError> {
    c.create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("bootstrap")
        .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::hello())).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err::<(), _, _>(Err(e)))
}

async fn function_names(c: &aws_sdk_lambda::Client) -> Vec<String> {
    let r = c.list_functions().send().await.expect("list functions");
    r.functions().iter().filter_map(|f| f.function_name().map(str::to_owned)).collect()
}

/// A request signed by hand (`sigv4::sign`), `skew` seconds away from now, sent raw.
pub(crate) struct Raw<'a> {
    pub(crate) server: &'a TestServer,
    pub(crate) key: Key,
    pub(crate) service: &'static str,
    pub(crate) skew: i64,
}

impl Raw<'_> {
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        signed_body: &[u8],
        sent_body: &[u8],
    ) -> testkit::http::Response {
        let host = self.server.addr.to_string();
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, host.parse().unwrap());
        let mode = if self.service == "s3" { sigv4::UriMode::S3 } else { sigv4::UriMode::Normalized };
        let (path_only, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        let params = sigv4::SigningParams {
            credentials: sigv4::Credentials {
                access_key_id: &self.key.id,
                secret: &self.key.secret,
                session_token: self.key.token.as_deref(),
            },
            region: REGION,
            service: self.service,
            time: now_s() + self.skew,
            mode,
        };
        let hash = stdx::hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(signed_body));
        let payload = if self.service == "s3" {
            sigv4::SignPayload::Header(&hash)
        } else {
            sigv4::SignPayload::Body(signed_body)
        };
        let method_v: http::Method = method.parse().unwrap();
        let signed = sigv4::sign(&method_v, path_only, query, &headers, &params, payload);
        let mut h: Vec<(&str, String)> = signed.headers.iter().map(|(k, v)| (*k, v.clone())).collect();
        if self.service == "logs" {
            h.push(("x-amz-target", "Logs_20140328.DescribeLogGroups".to_owned()));
            h.push(("content-type", "application/x-amz-json-1.1".to_owned()));
        }
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut client = testkit::http::Client::new(self.server.addr);
        client.send(method, path, &h, sent_body).await.expect("send")
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn xml_field(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(body[start..end].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_key_signs_every_service_and_the_credentials_file_holds_it() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    assert!(root.id.starts_with("VKIA") && root.id.len() == 20, "{}", root.id);
    assert_eq!(root.secret.len(), 40);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.data_dir().join("credentials")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the credentials file is private");

    // Lambda: create, list, invoke; the function lives in the root account.
    let lambda = lambda_client_with(&server.endpoint(), &root, REGION);
    create_fn(&lambda, "signed").await.unwrap();
    let got = lambda.get_function().function_name("signed").send().await.unwrap();
    let arn = got.configuration().unwrap().function_arn().unwrap().to_owned();
    assert_eq!(arn, format!("arn:aws:lambda:{REGION}:000000000000:function:signed"));
    let out = lambda.invoke().function_name("signed").payload(Blob::new(b"{}".to_vec())).send().await.unwrap();
    assert_eq!(out.status_code(), 200);

    // Logs.
    let logs = logs_client_with(&server.endpoint(), &root, REGION);
    logs.create_log_group().log_group_name("/signed/group").send().await.unwrap();
    let groups = logs.describe_log_groups().log_group_name_prefix("/signed").send().await.unwrap();
    assert_eq!(groups.log_groups().len(), 1);

    // S3: upload (signed payload), download, list.
    let s3 = s3_with(&server.endpoint(), &root);
    s3.create_bucket().bucket("signed").send().await.unwrap();
    s3.put_object().bucket("signed").key("a b+c/ü.txt").body(ByteStream::from_static(b"hello")).send().await.unwrap();
    let obj = s3.get_object().bucket("signed").key("a b+c/ü.txt").send().await.unwrap();
    assert_eq!(obj.body.collect().await.unwrap().into_bytes().as_ref(), b"hello");
    let listed = s3.list_objects_v2().bucket("signed").prefix("a b+c/").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);

    // Health says the mode.
    let mut raw = testkit::http::Client::new(server.addr);
    let health = raw.send("GET", "/_versa/health", &[], b"").await.unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["auth"], "sigv4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_unknown_keys_get_each_services_error_and_change_nothing() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let good = lambda_client_with(&server.endpoint(), &root, REGION);
    let forged = Key::new(&root.id, "not-the-secret-not-the-secret-not-the-se");
    let unknown = Key::new("VKIAUNKNOWNUNKNOWN00", "whatever-whatever-whatever-whatever-what");

    // Lambda: 403 InvalidSignatureException with the canonical strings; 403 UnrecognizedClient.
    let e = create_fn(&lambda_client_with(&server.endpoint(), &forged, REGION), "nope").await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "InvalidSignatureException"));
    let m = e.message.unwrap();
    assert!(m.starts_with("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'POST\n/2015-03-31/functions\n"), "{m}");
    assert!(m.contains("\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n"), "{m}");
    let e = create_fn(&lambda_client_with(&server.endpoint(), &unknown, REGION), "nope").await.unwrap_err();
    assert_err(e, 403, "UnrecognizedClientException", "The security token included in the request is invalid.");
    assert!(function_names(&good).await.is_empty(), "nothing was created");

    // Logs: 400 with __type.
    let r = logs_client_with(&server.endpoint(), &forged, REGION).create_log_group().log_group_name("g").send().await;
    let e = r.unwrap_err();
    let raw = e.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let body: serde_json::Value = serde_json::from_slice(raw.body().bytes().unwrap()).unwrap();
    assert_eq!(body["__type"], "InvalidSignatureException");
    let r = logs_client_with(&server.endpoint(), &unknown, REGION).create_log_group().log_group_name("g").send().await;
    let e = r.unwrap_err();
    let raw = e.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let body: serde_json::Value = serde_json::from_slice(raw.body().bytes().unwrap()).unwrap();
    assert_eq!(body["__type"], "UnrecognizedClientException");
    assert_eq!(body["message"], "The security token included in the request is invalid.");
    let logs = logs_client_with(&server.endpoint(), &root, REGION);
    assert!(logs.describe_log_groups().send().await.unwrap().log_groups().is_empty(), "no log group was created");

    // S3: XML SignatureDoesNotMatch / InvalidAccessKeyId.
    let e = s3_with(&server.endpoint(), &forged).create_bucket().bucket("nope").send().await.unwrap_err();
    let raw = e.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 403);
    let body = String::from_utf8_lossy(raw.body().bytes().unwrap()).into_owned();
    assert_eq!(xml_field(&body, "Code").as_deref(), Some("SignatureDoesNotMatch"), "{body}");
    assert_eq!(
        xml_field(&body, "Message").as_deref(),
        Some(
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        )
    );
    assert_eq!(xml_field(&body, "AWSAccessKeyId").as_deref(), Some(root.id.as_str()));
    assert!(xml_field(&body, "StringToSign").unwrap().starts_with("AWS4-HMAC-SHA256\n"), "{body}");
    assert!(xml_field(&body, "CanonicalRequest").unwrap().starts_with("PUT\n/nope/\n"), "{body}");
    let e = s3_with(&server.endpoint(), &unknown).create_bucket().bucket("nope").send().await.unwrap_err();
    let raw = e.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 403);
    let body = String::from_utf8_lossy(raw.body().bytes().unwrap()).into_owned();
    assert_eq!(xml_field(&body, "Code").as_deref(), Some("InvalidAccessKeyId"), "{body}");
    assert_eq!(
        xml_field(&body, "Message").as_deref(),
        Some("The AWS Access Key Id you provided does not exist in our records.")
    );
    let s3 = s3_with(&server.endpoint(), &root);
    assert!(s3.list_buckets().send().await.unwrap().buckets().is_empty(), "no bucket was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_skewed_and_tampered_requests_are_refused() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let mut raw = testkit::http::Client::new(server.addr);

    // No signature at all.
    let r = raw.send("GET", "/2015-03-31/functions/", &[], b"").await.unwrap();
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (403, Some("MissingAuthenticationTokenException")));
    assert_eq!(r.json()["message"], "Missing Authentication Token");
    let r = raw.send("PUT", "/unsigned-bucket", &[], b"").await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(xml_field(&r.text(), "Code").as_deref(), Some("AccessDenied"));
    let r = raw
        .send(
            "POST",
            "/",
            &[("x-amz-target", "Logs_20140328.DescribeLogGroups"), ("content-type", "application/x-amz-json-1.1")],
            b"{}",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "MissingAuthenticationTokenException");

    // A malformed Authorization header.
    let r = raw
        .send(
            "GET",
            "/2015-03-31/functions/",
            &[("authorization", "AWS4-HMAC-SHA256 Credential=VKIAX/20240101/us-east-1/lambda/aws4_request")],
            b"",
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (403, Some("IncompleteSignatureException")));
    let m = r.json()["message"].as_str().unwrap().to_owned();
    assert!(m.starts_with("Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."), "{m}");

    // Signed 20 minutes ago, or 20 minutes ahead.
    let body = br#"{"FunctionName":"skewed","Role":"arn:aws:iam::123456789012:role/r","Runtime":"provided.al2023","Handler":"h","Code":{"ZipFile":""}}"#;
    let past = Raw { server: &server, key: root.clone(), service: "lambda", skew: -20 * 60 };
    let r = past.send("POST", "/2015-03-31/functions", body, body).await;
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (403, Some("InvalidSignatureException")));
    let m = r.json()["message"].as_str().unwrap().to_owned();
    assert!(m.starts_with("Signature expired: ") && m.ends_with(" - 15 min.)"), "{m}");
    let future = Raw { server: &server, key: root.clone(), service: "lambda", skew: 20 * 60 };
    let r = future.send("POST", "/2015-03-31/functions", body, body).await;
    let m = r.json()["message"].as_str().unwrap().to_owned();
    assert!(m.starts_with("Signature not yet current: ") && m.ends_with(" + 15 min.)"), "{m}");
    let s3_past = Raw { server: &server, key: root.clone(), service: "s3", skew: -20 * 60 };
    let r = s3_past.send("PUT", "/skewed-bucket", b"", b"").await;
    assert_eq!(r.status, 403);
    let text = r.text();
    assert_eq!(xml_field(&text, "Code").as_deref(), Some("RequestTimeTooSkewed"), "{text}");
    assert_eq!(xml_field(&text, "MaxAllowedSkewMilliseconds").as_deref(), Some("900000"));
    assert!(xml_field(&text, "RequestTime").is_some() && xml_field(&text, "ServerTime").is_some(), "{text}");

    // A body that is not the one signed.
    let now = Raw { server: &server, key: root.clone(), service: "lambda", skew: 0 };
    let tampered = body.to_vec().iter().map(|b| if *b == b's' { b'S' } else { *b }).collect::<Vec<_>>();
    let r = now.send("POST", "/2015-03-31/functions", body, &tampered).await;
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (403, Some("InvalidSignatureException")));
    // An S3 body that is not the one its x-amz-content-sha256 declares.
    let s3_now = Raw { server: &server, key: root.clone(), service: "s3", skew: 0 };
    assert_eq!(s3_now.send("PUT", "/tampered", b"", b"").await.status, 200, "the bucket");
    let r = s3_now.send("PUT", "/tampered/object", b"the signed body", b"another body!!!").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(xml_field(&r.text(), "Code").as_deref(), Some("XAmzContentSHA256Mismatch"));
    // Also where the operation reads no body (a DELETE, a GET).
    for method in ["DELETE", "GET"] {
        let r = s3_now.send(method, "/tampered/object", b"signed", b"sent!!").await;
        assert_eq!(r.status, 400, "{method}: {}", r.text());
        assert_eq!(xml_field(&r.text(), "Code").as_deref(), Some("XAmzContentSHA256Mismatch"), "{method}");
    }

    // Nothing changed: no function, only the one good bucket, which holds no object.
    let lambda = lambda_client_with(&server.endpoint(), &root, REGION);
    assert!(function_names(&lambda).await.is_empty());
    let s3 = s3_with(&server.endpoint(), &root);
    let buckets: Vec<String> =
        s3.list_buckets().send().await.unwrap().buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect();
    assert_eq!(buckets, vec!["tampered".to_owned()]);
    assert!(s3.list_objects_v2().bucket("tampered").send().await.unwrap().contents().is_empty());
    // And the same signed request with the right body works.
    assert_eq!(now.send("POST", "/2015-03-31/functions", body, body).await.status, 400, "reaches the handler");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_work_until_they_expire() {
    use aws_sdk_s3::presigning::PresigningConfig;
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let s3 = s3_with(&server.endpoint(), &root);
    s3.create_bucket().bucket("shared").send().await.unwrap();
    s3.put_object().bucket("shared").key("doc.txt").body(ByteStream::from_static(b"presigned!")).send().await.unwrap();
    let mut raw = testkit::http::Client::new(server.addr);
    let path_of = |uri: &str| uri.split_once(&server.addr.to_string()).unwrap().1.to_owned();

    let p = s3
        .get_object()
        .bucket("shared")
        .key("doc.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let r = raw.send("GET", &path_of(p.uri()), &[], b"").await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "presigned!"));

    // Tampered: another key in the same URL.
    let other = path_of(p.uri()).replace("/doc.txt", "/doc2.txt");
    let r = raw.send("GET", &other, &[], b"").await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(xml_field(&r.text(), "Code").as_deref(), Some("SignatureDoesNotMatch"));

    // Expired: signed two minutes ago for one minute (no skew rule applies).
    let start = std::time::SystemTime::now() - Duration::from_secs(120);
    let cfg = PresigningConfig::builder().start_time(start).expires_in(Duration::from_secs(60)).build().unwrap();
    let p = s3.get_object().bucket("shared").key("doc.txt").presigned(cfg).await.unwrap();
    let r = raw.send("GET", &path_of(p.uri()), &[], b"").await.unwrap();
    assert_eq!(r.status, 403);
    let text = r.text();
    assert_eq!(xml_field(&text, "Code").as_deref(), Some("AccessDenied"), "{text}");
    assert_eq!(xml_field(&text, "Message").as_deref(), Some("Request has expired"));
    assert_eq!(xml_field(&text, "X-Amz-Expires").as_deref(), Some("60"));
    assert!(xml_field(&text, "Expires").is_some() && xml_field(&text, "ServerTime").is_some(), "{text}");

    // SigV2 query authentication is not supported.
    let r = raw
        .send(
            "GET",
            &format!("/shared/doc.txt?AWSAccessKeyId={}&Expires=4102444800&Signature=abc%3D", root.id),
            &[],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(xml_field(&r.text(), "Code").as_deref(), Some("InvalidRequest"));
    assert_eq!(
        xml_field(&r.text(), "Message").as_deref(),
        Some("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
    );

    // More than a week.
    let url = path_of(p.uri()).replace("X-Amz-Expires=60", "X-Amz-Expires=604801");
    let r = raw.send("GET", &url, &[], b"").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(xml_field(&r.text(), "Code").as_deref(), Some("AuthorizationQueryParametersError"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_get_their_own_temporary_credentials() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let lambda = lambda_client_with(&server.endpoint(), &root, REGION);
    // A key of another account runs a function there: its environment's key acts in that account.
    let k = server_create_key(&server, &root, "123456789012").await;
    let other = lambda_client_with(&server.endpoint(), &k, REGION);
    let env_report = "import os\ndef handler(e, c):\n    return {k: os.environ.get(k) for k in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN')}\n";
    other
        .create_function()
        .function_name("creds")
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(testkit::zip::files(&[("index.py", env_report.as_bytes())])))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = other.invoke().function_name("creds").send().await.unwrap();
    let creds: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    let id = creds["AWS_ACCESS_KEY_ID"].as_str().unwrap().to_owned();
    let temp = Key {
        id: id.clone(),
        secret: creds["AWS_SECRET_ACCESS_KEY"].as_str().unwrap().to_owned(),
        token: Some(creds["AWS_SESSION_TOKEN"].as_str().unwrap().to_owned()),
    };
    assert!(id.starts_with("VSIA"), "{id}");

    // While the environment lives, its key acts in the function's account.
    let as_function = lambda_client_with(&server.endpoint(), &temp, REGION);
    assert_eq!(function_names(&as_function).await, vec!["creds".to_owned()]);
    assert!(function_names(&lambda).await.is_empty(), "the root account has no function");
    // Without its session token (or with another), it is refused.
    let no_token = Key { token: None, ..temp.clone() };
    let e = create_fn(&lambda_client_with(&server.endpoint(), &no_token, REGION), "x").await.unwrap_err();
    assert_err(e, 403, "UnrecognizedClientException", "The security token included in the request is invalid.");
    let bad_token = Key { token: Some("forged".into()), ..temp.clone() };
    let e = create_fn(&lambda_client_with(&server.endpoint(), &bad_token, REGION), "x").await.unwrap_err();
    assert_eq!(e.code, "UnrecognizedClientException");
    // The time is checked before the token (reference §A1.10): an old request without its token
    // is an expired signature.
    let stale = Raw { server: &server, key: no_token.clone(), service: "lambda", skew: -20 * 60 };
    let r = stale.send("GET", "/2015-03-31/functions/", b"", b"").await;
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (403, Some("InvalidSignatureException")), "{}", r.text());
    assert!(r.json()["message"].as_str().unwrap().starts_with("Signature expired: "), "{}", r.text());

    // A configuration change retires the environment: its key expires with it.
    other.update_function_configuration().function_name("creds").description("v2").send().await.unwrap();
    let mut expired = false;
    for _ in 0..100 {
        match as_function.list_functions().send().await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => {
                let e = err::<(), _, _>(Err(e));
                assert_err(e, 403, "ExpiredTokenException", "The security token included in the request is expired.");
                expired = true;
                break;
            }
        }
    }
    assert!(expired, "the retired environment's key still works");
    // The next environment gets a fresh key.
    let out = other.invoke().function_name("creds").send().await.unwrap();
    let creds: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_ne!(creds["AWS_ACCESS_KEY_ID"].as_str().unwrap(), id);
}

/// Creates a key through the server's key API (signed with `root`), as `versa keys create`
/// does while a server holds the data dir.
pub(crate) async fn server_create_key(server: &TestServer, root: &Key, account: &str) -> Key {
    let body = format!(r#"{{"Account":"{account}","Name":"test"}}"#);
    let raw = Raw { server, key: root.clone(), service: "lambda", skew: 0 };
    let r = raw.send("POST", "/_versa/keys", body.as_bytes(), body.as_bytes()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(j["Account"], account);
    Key::new(j["AccessKeyId"].as_str().unwrap(), j["SecretAccessKey"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_root_keys_manage_keys() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let k = server_create_key(&server, &root, "123456789012").await;
    let as_other = Raw { server: &server, key: k.clone(), service: "lambda", skew: 0 };
    let body = br#"{"Account":"123456789012"}"#;
    let r = as_other.send("POST", "/_versa/keys", body, body).await;
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (403, Some("AccessDeniedException")));
    let r = as_other.send("GET", "/_versa/keys", b"", b"").await;
    assert_eq!(r.status, 403);
    let as_root = Raw { server: &server, key: root.clone(), service: "lambda", skew: 0 };
    let r = as_root.send("GET", "/_versa/keys", b"", b"").await;
    assert_eq!(r.status, 200);
    let ids: Vec<String> =
        r.json()["Keys"].as_array().unwrap().iter().map(|k| k["AccessKeyId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&k.id) && ids.contains(&root.id));
    assert!(!r.text().contains(&root.secret) && !r.text().contains(&k.secret), "secrets are never listed");
    // The root account's last key cannot go.
    let r = as_root.send("DELETE", &format!("/_versa/keys/{}", root.id), b"", b"").await;
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (409, Some("ResourceConflictException")));
    // Another key can; then it is unknown.
    let r = as_root.send("DELETE", &format!("/_versa/keys/{}", k.id), b"", b"").await;
    assert_eq!(r.status, 204);
    let e = create_fn(&lambda_client_with(&server.endpoint(), &k, REGION), "x").await.unwrap_err();
    assert_eq!(e.code, "UnrecognizedClientException");
}

fn versa(args: &[&str], data_dir: &std::path::Path, endpoint: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(testkit::versa_binary());
    cmd.arg("keys").args(args).arg("--data-dir").arg(data_dir);
    if let Some(e) = endpoint {
        cmd.args(["--endpoint", e]);
    }
    cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    let out = cmd.output().expect("run versa keys");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn created_key(stdout: &str) -> Key {
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{stdout}"))
    };
    Key::new(&field("access key id:"), &field("secret access key:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versa_keys_manages_keys_directly_and_through_a_server_and_they_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let bin = testkit::versa_binary();
    let server = ServerProcess::spawn_with(&bin, dir.path(), &["--auth", "sigv4"]);
    let (root_id, root_secret) = server::credentials::read_file(&dir.path().join("credentials")).unwrap();
    let root = Key::new(&root_id, &root_secret);

    // Through the running server (it holds the data dir).
    let (ok, out, errout) =
        versa(&["create", "--account", "123456789012", "--name", "ci"], dir.path(), Some(&server.endpoint()));
    assert!(ok, "{out}{errout}");
    let k = created_key(&out);
    let c = lambda_client_with(&server.endpoint(), &k, REGION);
    create_fn(&c, "mine").await.unwrap();
    let f = c.get_function().function_name("mine").send().await.unwrap();
    assert_eq!(
        f.configuration().unwrap().function_arn().unwrap(),
        format!("arn:aws:lambda:{REGION}:123456789012:function:mine"),
        "a key's account is the account of its requests"
    );
    let (ok, out, _) = versa(&["list"], dir.path(), Some(&server.endpoint()));
    assert!(ok && out.contains(&k.id) && out.contains("123456789012") && out.contains(&root.id), "{out}");
    assert!(!out.contains(&k.secret));

    // kill -9: the key, the function and the root key survive.
    server.kill_9();
    let db = std::fs::read(dir.path().join("versa.db")).unwrap();
    let wal = std::fs::read(dir.path().join("versa.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(k.secret.len()).any(|w| w == k.secret.as_bytes()), "a secret is stored in clear");
    }
    let server = ServerProcess::spawn_with(&bin, dir.path(), &["--auth", "sigv4"]);
    let c = lambda_client_with(&server.endpoint(), &k, REGION);
    assert_eq!(function_names(&c).await, vec!["mine".to_owned()]);
    assert_eq!(
        server::credentials::read_file(&dir.path().join("credentials")).unwrap().0,
        root.id,
        "the root key stays"
    );

    // Disabled through the server: refused at once, listed as disabled, and it survives a
    // restart that way; enabled again, it works. The root account keeps an enabled key.
    let (ok, _, errout) = versa(&["disable", &k.id], dir.path(), Some(&server.endpoint()));
    assert!(ok, "{errout}");
    let e = create_fn(&c, "refused").await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "UnrecognizedClientException"));
    let (ok, out, _) = versa(&["list"], dir.path(), Some(&server.endpoint()));
    let row = out.lines().find(|l| l.starts_with(&k.id)).unwrap_or_default().to_owned();
    assert!(ok && row.contains("\tdisabled\t"), "{out}");
    let (ok, _, errout) = versa(&["disable", &root.id], dir.path(), Some(&server.endpoint()));
    assert!(!ok && errout.contains("last enabled key of the root account"), "{errout}");
    server.kill_9();
    let server = ServerProcess::spawn_with(&bin, dir.path(), &["--auth", "sigv4"]);
    let c = lambda_client_with(&server.endpoint(), &k, REGION);
    assert_eq!(create_fn(&c, "refused").await.unwrap_err().code, "UnrecognizedClientException");
    let (ok, _, errout) = versa(&["enable", &k.id], dir.path(), Some(&server.endpoint()));
    assert!(ok, "{errout}");
    assert_eq!(function_names(&c).await, vec!["mine".to_owned()]);

    // Deleted through the server: refused at once.
    let (ok, _, errout) = versa(&["delete", &k.id], dir.path(), Some(&server.endpoint()));
    assert!(ok, "{errout}");
    let e = create_fn(&c, "again").await.unwrap_err();
    assert_eq!(e.code, "UnrecognizedClientException");
    assert!(server.terminate());

    // Directly on the data dir when no server runs.
    let (ok, out, errout) = versa(&["create", "--account", "210987654321"], dir.path(), None);
    assert!(ok, "{errout}");
    let direct = created_key(&out);
    let server = ServerProcess::spawn_with(&bin, dir.path(), &["--auth", "sigv4"]);
    let c = lambda_client_with(&server.endpoint(), &direct, REGION);
    create_fn(&c, "direct").await.unwrap();
    assert!(
        c.get_function()
            .function_name("direct")
            .send()
            .await
            .unwrap()
            .configuration()
            .unwrap()
            .function_arn()
            .unwrap()
            .contains(":210987654321:")
    );
    let (ok, _, errout) = versa(&["create", "--account", "12"], dir.path(), Some(&server.endpoint()));
    assert!(!ok && errout.contains("not a 12-digit account id"), "{errout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_mode_follows_the_address_and_off_needs_consent_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let bin = testkit::versa_binary();
    // --auth off on every address: refused without --allow-anonymous.
    let out = Command::new(&bin)
        .args(["server", "--listen", "0.0.0.0:0", "--auth", "off", "--data-dir"])
        .arg(dir.path())
        .env_remove("VERSA_AUTH")
        .env_remove("VERSA_ALLOW_ANONYMOUS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let errout = String::from_utf8_lossy(&out.stderr);
    assert!(errout.contains("refusing to listen on 0.0.0.0:0 with --auth off"), "{errout}");

    // Default on a public address: sigv4.
    let mut child = Command::new(&bin)
        .args(["server", "--listen", "0.0.0.0:0", "--log-level", "warn", "--data-dir"])
        .arg(dir.path())
        .env_remove("VERSA_AUTH")
        .env_remove("VERSA_ALLOW_ANONYMOUS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut addr, mut auth) = (String::new(), String::new());
    for _ in 0..10 {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            break;
        }
        if let Some(a) = line.strip_prefix("versa listening on http://") {
            addr = a.trim().replace("0.0.0.0", "127.0.0.1");
        }
        if line.starts_with("auth: ") {
            auth = line;
            break;
        }
    }
    assert!(auth.starts_with("auth: sigv4"), "{auth}");
    let mut raw = testkit::http::Client::new(addr.parse().unwrap());
    let r = raw.send("GET", "/_versa/health", &[], b"").await.unwrap();
    assert_eq!(r.json()["auth"], "sigv4");
    let r = raw.send("GET", "/2015-03-31/functions/", &[], b"").await.unwrap();
    assert_eq!(r.status, 403);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut errout = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut errout).unwrap();
    assert!(errout.contains("created the root access key of account 000000000000"), "printed once: {errout}");

    // With consent, off on a public address; loopback defaults to off.
    let p = ServerProcess::spawn_with(&bin, dir.path(), &[]);
    let mut raw = testkit::http::Client::new(p.addr);
    assert_eq!(raw.send("GET", "/_versa/health", &[], b"").await.unwrap().json()["auth"], "off");
    assert_eq!(raw.send("GET", "/2015-03-31/functions/", &[], b"").await.unwrap().status, 200, "anything goes");
    drop(p);
    let mut child = Command::new(&bin)
        .args([
            "server",
            "--listen",
            "0.0.0.0:0",
            "--auth",
            "off",
            "--allow-anonymous",
            "--log-level",
            "warn",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.starts_with("versa listening on"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_works_with_the_generated_profile() {
    if !crate::cli::aws_available() {
        return;
    }
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>, creds: std::path::PathBuf| {
        let mut cmd = Command::new("aws");
        cmd.args(["--endpoint-url", &server.endpoint(), "--region", REGION, "--profile", "versa", "--output", "json"])
            .args(&args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", home.path().join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", creds)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "");
        cmd.output().unwrap()
    };
    let creds = server.data_dir().join("credentials");
    // S3 presigned URLs need SigV4 (the CLI's v1 default for `s3 presign` is SigV2).
    std::fs::write(home.path().join("config"), "[profile versa]\ns3 =\n    signature_version = s3v4\n").unwrap();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let out = run(s(&["lambda", "list-functions"]), creds.clone());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(s(&["s3", "mb", "s3://cli-bucket"]), creds.clone());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = home.path().join("up.txt");
    std::fs::write(&file, b"from the cli").unwrap();
    let out =
        run(vec!["s3".into(), "cp".into(), file.display().to_string(), "s3://cli-bucket/up.txt".into()], creds.clone());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(s(&["s3", "presign", "s3://cli-bucket/up.txt"]), creds.clone());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let path = url.split_once(&server.addr.to_string()).unwrap().1.to_owned();
    let r = testkit::http::Client::new(server.addr).send("GET", &path, &[], b"").await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "from the cli"));
    let out = run(s(&["logs", "describe-log-groups"]), creds.clone());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A forged secret in the same profile.
    let forged = home.path().join("forged");
    std::fs::write(
        &forged,
        format!(
            "[versa]\naws_access_key_id = {}\naws_secret_access_key = forgedforgedforgedforgedforgedforged1234\n",
            root.id
        ),
    )
    .unwrap();
    let out = run(s(&["lambda", "list-functions"]), forged.clone());
    assert!(!out.status.success());
    let errout = String::from_utf8_lossy(&out.stderr);
    assert!(errout.contains("InvalidSignatureException"), "{errout}");
    let out = run(s(&["s3", "ls", "s3://cli-bucket"]), forged);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SignatureDoesNotMatch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A streaming upload signed chunk by chunk (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`).
async fn chunked_put(
    server: &TestServer,
    key: &Key,
    path: &str,
    data: &[u8],
    mode: &str,
    tamper: bool,
) -> testkit::http::Response {
    let trailer = mode != sigv4::STREAMING_PAYLOAD;
    let signed_chunks = mode != sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER;
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, server.addr.to_string().parse().unwrap());
    headers.insert("content-encoding", "aws-chunked".parse().unwrap());
    headers.insert("x-amz-decoded-content-length", data.len().to_string().parse().unwrap());
    if trailer {
        headers.insert("x-amz-trailer", "x-amz-checksum-crc32".parse().unwrap());
    }
    let params = sigv4::SigningParams {
        credentials: sigv4::Credentials { access_key_id: &key.id, secret: &key.secret, session_token: None },
        region: REGION,
        service: "s3",
        time: now_s(),
        mode: sigv4::UriMode::S3,
    };
    let signed = sigv4::sign(&http::Method::PUT, path, None, &headers, &params, sigv4::SignPayload::Header(mode));
    let mut signer = signed.chunk_signer();
    let crc = {
        use base64::Engine;
        let mut h = crc32fast::Hasher::new();
        h.update(data);
        base64::engine::general_purpose::STANDARD.encode(h.finalize().to_be_bytes())
    };
    let mut body = sigv4::aws_chunked_body(
        signed_chunks.then_some(&mut signer),
        data,
        8192,
        trailer.then_some(("x-amz-checksum-crc32", crc.as_str())),
    );
    if tamper {
        // One byte of the second chunk's data changes; its signature (or the trailer's checksum)
        // no longer matches.
        let at = body.windows(2).enumerate().filter(|(_, w)| w == b"\r\n").nth(3).map(|(i, _)| i + 2).unwrap();
        body[at + 10] ^= 1;
    }
    let mut h: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| *k != http::header::HOST)
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    h.extend(signed.headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    testkit::http::Client::new(server.addr).send("PUT", path, &h, &body).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_signatures_are_verified_before_anything_is_stored() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let s3 = s3_with(&server.endpoint(), &root);
    s3.create_bucket().bucket("chunks").send().await.unwrap();
    let data: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let modes = [
        ("signed", sigv4::STREAMING_PAYLOAD, 403, "SignatureDoesNotMatch"),
        ("trailer", sigv4::STREAMING_PAYLOAD_TRAILER, 403, "SignatureDoesNotMatch"),
        // Unsigned chunks: the signed header covers the mode; the trailer's checksum covers the data.
        ("unsigned", sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER, 400, "BadDigest"),
    ];
    for (name, mode, status, code) in modes {
        let r = chunked_put(&server, &root, &format!("/chunks/good-{name}"), &data, mode, false).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let o = s3.get_object().bucket("chunks").key(format!("good-{name}")).send().await.unwrap();
        assert_eq!(o.body.collect().await.unwrap().into_bytes().as_ref(), &data[..]);

        let r = chunked_put(&server, &root, &format!("/chunks/bad-{name}"), &data, mode, true).await;
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(xml_field(&r.text(), "Code").as_deref(), Some(code));
    }
    let keys: Vec<String> = s3
        .list_objects_v2()
        .bucket("chunks")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(keys, ["good-signed", "good-trailer", "good-unsigned"], "no tampered upload was stored");
}

/// botocore signs with the `Date` header (RFC 2822, `-0000`) when the caller sets one; S3
/// answers a request with no usable date in its own words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocores_date_header_verifies_and_s3_names_a_missing_date() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let script = r#"
import json, sys, urllib.error, urllib.request
from email.utils import formatdate
from botocore.auth import SigV4Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
endpoint, key, secret = sys.argv[1:4]
creds = Credentials(key, secret)
def send(req):
    try:
        r = urllib.request.urlopen(urllib.request.Request(req.url, data=req.body, headers=dict(req.headers), method=req.method))
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
out = {}
# The caller's Date: botocore drops X-Amz-Date and signs Date as `… -0000`.
req = AWSRequest(method="GET", url=endpoint + "/2015-03-31/functions/", headers={"Date": formatdate(usegmt=False)})
SigV4Auth(creds, "lambda", "us-east-1").add_auth(req)
assert "X-Amz-Date" not in req.headers and req.headers["Date"].endswith("-0000"), dict(req.headers)
out["date_header"] = send(req)
# S3 with X-Amz-Date removed after signing: no date at all.
req = AWSRequest(method="GET", url=endpoint + "/", headers={})
S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
del req.headers["X-Amz-Date"]
out["s3_no_date"] = send(req)
print(json.dumps(out))
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script, &server.endpoint(), &root.id, &root.secret]).env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["date_header"][0], 200, "{v}");
    assert_eq!(v["s3_no_date"][0], 403, "{v}");
    let body = v["s3_no_date"][1].as_str().unwrap();
    assert_eq!(xml_field(body, "Code").as_deref(), Some("AccessDenied"), "{body}");
    assert_eq!(
        xml_field(body, "Message").as_deref(),
        Some("AWS authentication requires a valid Date or x-amz-date header"),
        "{body}"
    );
}

/// `versa credentials` writes a profile (region, `endpoint_url`, the root key) beside the
/// profiles already there: the unchanged AWS CLI then reaches Versa with `--profile` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versa_credentials_writes_a_profile_the_aws_cli_uses_without_an_endpoint_flag() {
    if !crate::cli::aws_available() {
        return;
    }
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let home = tempfile::tempdir().unwrap();
    let (config, credentials) = (home.path().join("aws/config"), home.path().join("aws/credentials"));
    std::fs::create_dir_all(home.path().join("aws")).unwrap();
    std::fs::write(&config, "[default]\nregion = eu-west-1\n\n[profile versa]\nregion = stale\n").unwrap();
    std::fs::write(&credentials, "[default]\naws_access_key_id = A\naws_secret_access_key = B\n").unwrap();
    let write = Command::new(testkit::versa_binary())
        .arg("credentials")
        .arg("--data-dir")
        .arg(server.data_dir())
        .args(["--endpoint", &server.endpoint(), "--region", REGION])
        .arg("--config-file")
        .arg(&config)
        .arg("--credentials-file")
        .arg(&credentials)
        .output()
        .unwrap();
    assert!(write.status.success(), "{}", String::from_utf8_lossy(&write.stderr));
    let config_text = std::fs::read_to_string(&config).unwrap();
    assert!(config_text.starts_with("[default]\nregion = eu-west-1\n"), "{config_text}");
    assert!(!config_text.contains("stale"), "{config_text}");
    let creds_text = std::fs::read_to_string(&credentials).unwrap();
    assert!(creds_text.contains("[default]\naws_access_key_id = A\n"), "{creds_text}");
    assert!(creds_text.contains(&format!("[versa]\naws_access_key_id = {}\n", root.id)), "{creds_text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&credentials).unwrap().permissions().mode() & 0o777, 0o600);

    // No --endpoint-url, no --region: the profile carries both, and its key is accepted.
    let out = Command::new("aws")
        .args(["--profile", "versa", "--output", "json", "lambda", "list-functions"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_REGION")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Functions"], serde_json::json!([]), "{v}");
}

/// `--auth warn` verifies and serves either way: a forged request and an unsigned one are
/// served as under `off` (the account from the key), while the root key exists as under `sigv4`
/// and a correctly signed request acts in its key's account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_warn_serves_what_sigv4_would_refuse() {
    let server = TestServer::start_with(|c| c.auth = server::AuthMode::Warn).await;
    let root = server.root_key().await;
    let good = lambda_client_with(&server.endpoint(), &root, REGION);
    create_fn(&good, "signed").await.unwrap();
    // A wrong secret for the root key: served, in the root key's account.
    let forged = Key { secret: "wrong".into(), ..root.clone() };
    let as_forged = lambda_client_with(&server.endpoint(), &forged, REGION);
    create_fn(&as_forged, "forged").await.unwrap();
    assert_eq!(function_names(&good).await, vec!["forged".to_owned(), "signed".to_owned()]);
    // An unknown 12-digit key id: served in the account it spells, as under `off`.
    let spelled = Key { id: "123456789012".into(), secret: "x".into(), token: None };
    let other = lambda_client_with(&server.endpoint(), &spelled, REGION);
    create_fn(&other, "elsewhere").await.unwrap();
    assert_eq!(function_names(&other).await, vec!["elsewhere".to_owned()]);
    // Unsigned: served too.
    let r = testkit::http::Client::new(server.addr).send("GET", "/2015-03-31/functions/", &[], b"").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let health = testkit::http::Client::new(server.addr).send("GET", "/_versa/health", &[], b"").await.unwrap();
    assert_eq!(health.json()["auth"], "warn", "{}", health.text());
    // Exactly what sigv4 would refuse was counted (and logged): the forged create, the unknown
    // key's create and list, the unsigned list; not the signed calls, nor the health probe.
    assert_eq!(health.json()["authWarned"], 4, "{}", health.text());
    let again = testkit::http::Client::new(server.addr).send("GET", "/_versa/health", &[], b"").await.unwrap();
    assert_eq!(again.json()["authWarned"], 4, "{}", again.text());
}
