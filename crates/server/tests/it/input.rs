//! Bad input gets AWS's error and changes nothing; the server never falls over.

use base64::Engine;
use testkit::TestServer;
use testkit::http::{Client, Response};
use testkit::zip::Entry;

use crate::support::*;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn create_body(name: &str, zip_b64: &str) -> Vec<u8> {
    serde_json::json!({
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "index.handler",
        "Code": {"ZipFile": zip_b64},
    })
    .to_string()
    .into_bytes()
}

async fn post_create(http: &mut Client, body: &[u8]) -> Response {
    http.send("POST", "/2015-03-31/functions", &[("content-type", "application/json")], body).await.unwrap()
}

#[track_caller]
fn assert_error(r: &Response, status: u16, code: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("x-amzn-ErrorType"), Some(code), "{}", r.text());
    let body = r.json();
    let got = body.get("message").or_else(|| body.get("Message")).and_then(|m| m.as_str()).unwrap_or_default();
    assert_eq!(got, message);
}

#[track_caller]
fn assert_error_prefix(r: &Response, status: u16, code: &str, prefix: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("x-amzn-ErrorType"), Some(code), "{}", r.text());
    let body = r.json();
    let got = body.get("message").and_then(|m| m.as_str()).unwrap_or_default();
    assert!(got.starts_with(prefix), "{got:?} should start with {prefix:?}");
}

/// Nothing was stored: no function and no code package.
async fn assert_nothing_stored(server: &TestServer) {
    let listed = server.lambda().list_functions().send().await.unwrap();
    assert!(listed.functions().is_empty(), "{:?}", listed.functions());
    let dir = server.data_dir().join("blobs/sha256");
    let blobs = std::fs::read_dir(&dir).map(|d| d.flat_map(|s| std::fs::read_dir(s.unwrap().path()).unwrap()).count());
    assert_eq!(blobs.unwrap_or(0), 0, "no code package may be stored");
}

const NOT_A_ZIP: &str = "Could not unzip uploaded file. Please check your file, then try to upload again.";

#[tokio::test]
async fn malformed_bodies_are_refused() {
    let server = TestServer::start().await;
    let mut http = Client::new(server.addr);
    let prefix = "Could not parse request body into json: Could not parse payload into json:";

    let r = post_create(&mut http, b"{\"FunctionName\": ").await;
    assert_error_prefix(&r, 400, "InvalidRequestContentException", prefix);
    assert_eq!(r.json()["Type"], "User");
    let r = post_create(&mut http, b"zzz").await;
    assert_error_prefix(&r, 400, "InvalidRequestContentException", prefix);
    let r = post_create(&mut http, b"[1, 2]").await;
    assert_error_prefix(&r, 400, "InvalidRequestContentException", prefix);
    // Wrong types.
    let mut body: serde_json::Value =
        serde_json::from_slice(&create_body("typed", &b64(&testkit::zip::hello()))).unwrap();
    body["Timeout"] = serde_json::json!("abc");
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_error_prefix(&r, 400, "InvalidRequestContentException", prefix);
    body["Timeout"] = serde_json::json!(3.5);
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_error_prefix(&r, 400, "InvalidRequestContentException", prefix);
    body["Timeout"] = serde_json::json!(3);
    body["Publish"] = serde_json::json!("yes");
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_error_prefix(&r, 400, "InvalidRequestContentException", prefix);
    // Invalid base64.
    let r = post_create(&mut http, &create_body("b64", "not base64 at all!")).await;
    assert_error_prefix(&r, 400, "InvalidRequestContentException", prefix);
    // Missing required members: every violation reported at once.
    let r = post_create(&mut http, b"{}").await;
    assert_error(
        &r,
        400,
        "ValidationException",
        "3 validation errors detected: Value null at 'functionName' failed to satisfy constraint: Member must not be \
         null; Value null at 'role' failed to satisfy constraint: Member must not be null; Value null at 'code' failed \
         to satisfy constraint: Member must not be null",
    );
    assert!(r.json().get("Type").is_none(), "ValidationException has no Type member");
    // A body on a route that does not exist.
    let r = http.send("POST", "/2015-03-31/nothing-here", &[], b"{}").await.unwrap();
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (404, Some("UnknownOperationException")));
    assert_nothing_stored(&server).await;
}

#[tokio::test]
async fn unsafe_and_broken_packages_are_refused() {
    let server = TestServer::start().await;
    let mut http = Client::new(server.addr);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text", b"this is not a zip file".to_vec()),
        ("empty", Vec::new()),
        ("truncated", testkit::zip::hello()[..40].to_vec()),
        ("dotdot", testkit::zip::files(&[("../evil.py", b"x")])),
        ("nested-dotdot", testkit::zip::files(&[("lib/../../evil.py", b"x")])),
        ("absolute", testkit::zip::files(&[("/etc/cron.d/evil", b"x")])),
        (
            "symlink-out",
            testkit::zip::build(&[
                Entry::File { name: "index.py", data: b"x", mode: 0o644 },
                Entry::Symlink { name: "lib/passwd", target: "../../etc/passwd" },
            ]),
        ),
        ("symlink-abs", testkit::zip::build(&[Entry::Symlink { name: "passwd", target: "/etc/passwd" }])),
    ];
    for (name, zip) in cases {
        let r = post_create(&mut http, &create_body(name, &b64(&zip))).await;
        assert_error(&r, 400, "InvalidParameterValueException", NOT_A_ZIP);
        assert_eq!(r.json()["Type"], "User", "{name}");
    }
    assert_nothing_stored(&server).await;

    // Symlinks that stay inside the package are fine.
    let ok = testkit::zip::build(&[
        Entry::Dir { name: "lib/" },
        Entry::File { name: "lib/real.py", data: b"x", mode: 0o644 },
        Entry::Symlink { name: "lib/alias.py", target: "real.py" },
        Entry::Symlink { name: "top.py", target: "lib/real.py" },
    ]);
    let r = post_create(&mut http, &create_body("symlink-in", &b64(&ok))).await;
    assert_eq!(r.status, 201, "{}", r.text());
}

#[tokio::test]
async fn size_limits_are_enforced() {
    let server = TestServer::start().await;
    let mut http = Client::new(server.addr);
    // Unzipped size over 262144000 bytes, in a package of a few hundred kilobytes.
    let bomb = testkit::zip::bomb(262_144_001);
    assert!(bomb.len() < 1_000_000);
    let r = post_create(&mut http, &create_body("bomb", &b64(&bomb))).await;
    assert_error(&r, 400, "InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes");

    // A zipped package over 50 MB inside a request under the request limit.
    let big: Vec<u8> = (0..52_428_801u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let r = post_create(&mut http, &create_body("zipped", &b64(&big))).await;
    assert_error(&r, 413, "RequestEntityTooLargeException", "Zipped size must be smaller than 52428800 bytes");

    // A request over the CreateFunction limit is refused without being read.
    let huge = vec![b' '; 70_167_212];
    let mut http = Client::new(server.addr);
    let r = post_create(&mut http, &huge).await;
    assert_error(
        &r,
        413,
        "RequestEntityTooLargeException",
        "Request must be smaller than 70167211 bytes for the CreateFunction operation",
    );
    let mut http = Client::new(server.addr);
    let big_update = vec![b' '; 2 * 1024 * 1024];
    let r = http.send("PUT", "/2015-03-31/functions/x/configuration", &[], &big_update).await.unwrap();
    assert_error(
        &r,
        413,
        "RequestEntityTooLargeException",
        "Request must be smaller than 1048576 bytes for the UpdateFunctionConfiguration operation",
    );
    assert_nothing_stored(&server).await;
}

#[tokio::test]
async fn invalid_configuration_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let created = create(&c, "config", testkit::zip::hello()).await;
    let before = c.get_function_configuration().function_name("config").send().await.unwrap();

    let e = err(c.update_function_configuration().function_name("config").timeout(0).memory_size(99_999).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "2 validation errors detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value \
         greater than or equal to 1; Value '99999' at 'memorySize' failed to satisfy constraint: Member must have value \
         less than or equal to 10240",
    );
    let e = err(c.update_function_configuration().function_name("config").timeout(901).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900",
    );
    let e = err(c.update_function_configuration().function_name("config").role("r1").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        r"1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+",
    );
    let e = err(c
        .update_function_configuration()
        .function_name("config")
        .runtime(aws_sdk_lambda::types::Runtime::from("non-existent-runtime"))
        .send()
        .await);
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidParameterValueException"));
    assert!(
        e.message.as_deref().unwrap().starts_with(
            "Value non-existent-runtime at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, "
        ),
        "{e:?}"
    );
    assert!(e.message.as_deref().unwrap().ends_with("] or be a valid ARN"));
    let e = err(c
        .update_function_configuration()
        .function_name("config")
        .runtime(aws_sdk_lambda::types::Runtime::Python37)
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions. We \
         recommend you use a supported runtime while creating or updating functions.",
    );
    let env = |k: &str, v: &str| aws_sdk_lambda::types::Environment::builder().variables(k, v).build();
    let e =
        err(c.update_function_configuration().function_name("config").environment(env("AWS_REGION", "x")).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Lambda was unable to configure your environment variables because the environment variables you have \
         provided contains reserved keys that are currently not supported for modification. Reserved keys used in \
         this request: AWS_REGION",
    );
    let big = "x".repeat(4090);
    let e =
        err(c.update_function_configuration().function_name("config").environment(env("LARGE_VAR", &big)).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        &format!(
            "Lambda was unable to configure your environment variables because the environment variables you have \
             provided exceeded the 4KB limit. String measured: {{\"LARGE_VAR\":\"{big}\"}}"
        ),
    );
    let e = err(c.update_function_configuration().function_name("config").environment(env("1BAD", "x")).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must \
         satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
    );
    let e = err(c.update_function_configuration().function_name("config").description("d".repeat(257)).send().await);
    assert_eq!(e.code, "ValidationException");

    // A bad package does not replace the code.
    let e = err(c
        .update_function_code()
        .function_name("config")
        .zip_file(aws_sdk_lambda::primitives::Blob::new(b"nope".to_vec()))
        .send()
        .await);
    assert_err(e, 400, "InvalidParameterValueException", NOT_A_ZIP);

    let after = c.get_function_configuration().function_name("config").send().await.unwrap();
    assert_eq!(after.revision_id(), before.revision_id(), "no failed update may change the function");
    assert_eq!(after.code_sha256(), created.code_sha256());
    assert_eq!(after.timeout(), Some(3));
    assert_eq!(after.runtime(), Some(&aws_sdk_lambda::types::Runtime::Python312));
    assert!(after.environment().is_none());
}

#[tokio::test]
async fn create_function_semantic_errors() {
    let server = TestServer::start().await;
    let mut http = Client::new(server.addr);
    let mut body: serde_json::Value =
        serde_json::from_slice(&create_body("sem", &b64(&testkit::zip::hello()))).unwrap();
    body.as_object_mut().unwrap().remove("Handler");
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_error(
        &r,
        400,
        "InvalidParameterValueException",
        "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
    );
    let mut body: serde_json::Value = serde_json::from_slice(&create_body("sem", "")).unwrap();
    body["Code"] = serde_json::json!({});
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_error(&r, 400, "InvalidParameterValueException", "Please provide a source for function code.");
    let mut body: serde_json::Value =
        serde_json::from_slice(&create_body("sem", &b64(&testkit::zip::hello()))).unwrap();
    body["Architectures"] = serde_json::json!(["x86_64", "arm64"]);
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_error(
        &r,
        400,
        "ValidationException",
        "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1",
    );
    body["Architectures"] = serde_json::json!(["X86_64"]);
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_error(
        &r,
        400,
        "ValidationException",
        "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
    );
    body["Architectures"] = serde_json::json!(["arm64"]);
    body["Layers"] = serde_json::json!(["arm:aws:lambda:us-east-1:000000000000:layer:x:1"]);
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_eq!(r.header("x-amzn-ErrorType"), Some("ValidationException"));
    let six: Vec<String> = (1..=6).map(|i| format!("arn:aws:lambda:us-east-1:000000000000:layer:x:{i}")).collect();
    body["Layers"] = serde_json::json!(six);
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_error(&r, 400, "InvalidParameterValueException", "Cannot reference more than 5 layers.");
    body["Layers"] = serde_json::json!(["arn:aws:lambda:us-east-1:000000000000:layer:x:1"]);
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_error(
        &r,
        400,
        "InvalidParameterValueException",
        "Layer version arn:aws:lambda:us-east-1:000000000000:layer:x:1 does not exist.",
    );
    assert_nothing_stored(&server).await;
    body.as_object_mut().unwrap().remove("Layers");
    let r = post_create(&mut http, body.to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["Architectures"], serde_json::json!(["arm64"]));
}
