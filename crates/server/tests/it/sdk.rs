//! The runtimes carry the AWS SDK, as Lambda's do: boto3 for Python and the AWS SDK for
//! JavaScript v3 for Node.js, installed by `versa runtimes install`, on the module path after the
//! function's own code and layers, reaching Versa through `AWS_ENDPOINT_URL` unchanged.
//!
//! These tests need the SDK installed (`scripts/test` and `.ci/run` install it). When it is
//! missing they fail and say how to install it, unless `VERSA_SKIP_SDK_TESTS=1`.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use aws_sdk_s3::primitives::ByteStream;
use testkit::TestServer;

use crate::support::*;

/// Whether the SDK is installed where the test servers look; panics with the fix otherwise.
pub(crate) fn sdk_installed() -> bool {
    let dir = invoke::sdk::RuntimesDir::new(server::default_runtimes_dir());
    let missing = dir.status().missing();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "the AWS SDK for {} is not installed in {}: run `versa runtimes install` (scripts/test does)",
        missing.join(" and "),
        dir.root.display()
    );
    assert_eq!(std::env::var("VERSA_SKIP_SDK_TESTS").as_deref(), Ok("1"), "{why}, or set VERSA_SKIP_SDK_TESTS=1");
    eprintln!("skipped: {why}");
    false
}

async fn create(c: &aws_sdk_lambda::Client, name: &str, runtime: Runtime, handler: &str, files: &[(&str, &str)]) {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_bytes())).collect();
    c.create_function()
        .function_name(name)
        .runtime(runtime)
        .role(ROLE)
        .handler(handler)
        .timeout(30)
        .memory_size(512)
        .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::files(&files))).build())
        .send()
        .await
        .expect("create");
}

async fn call(c: &aws_sdk_lambda::Client, name: &str) -> serde_json::Value {
    let r = c.invoke().function_name(name).send().await.unwrap();
    let body = String::from_utf8_lossy(r.payload().unwrap().as_ref()).into_owned();
    assert_eq!(r.function_error(), None, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// What a real S3-triggered function does: read the uploaded object with boto3, say what it
/// read, and write a result next to it. Nothing in it is Versa-specific.
const THUMBNAILER: &str = r#"
import urllib.parse
import boto3

s3 = boto3.client("s3")

def handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        print("boto3", boto3.__version__, "read", key, "->", body)
        s3.put_object(Bucket=bucket, Key="processed/" + key, Body=body.upper().encode())
    return "ok"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_triggered_python_function_reads_the_object_with_boto3() {
    if !sdk_installed() {
        return;
    }
    let server = TestServer::start().await;
    let c = server.lambda();
    let s3 = s3_client(&server);
    create(&c, "reader", Runtime::Python312, "index.handler", &[("index.py", THUMBNAILER)]).await;
    c.publish_version().function_name("reader").send().await.unwrap();
    c.create_alias().function_name("reader").name("live").function_version("1").send().await.unwrap();
    s3.create_bucket().bucket("inbox").send().await.unwrap();
    crate::s3::allow_s3(&c, "reader", Some("live"), "inbox").await;
    let to_live = crate::s3::lambda_config("put", &format!("{}:live", arn("reader")), &["s3:ObjectCreated:Put"]);
    crate::s3::put_notification(&s3, "inbox", vec![to_live]).await.unwrap();

    s3.put_object()
        .bucket("inbox")
        .key("notes/hello world.txt")
        .body(ByteStream::from_static(b"hello from s3"))
        .send()
        .await
        .unwrap();

    // The function read the object through Versa's S3 and said so in its log ...
    let pinned = invoke::sdk::PYTHON_PACKAGES[0].1;
    let hits = crate::logs::find(&server.logs(), "/aws/lambda/reader", "read notes/hello world.txt").await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].1.trim_end(), format!("boto3 {pinned} read notes/hello world.txt -> hello from s3"));
    assert_eq!(crate::logs::stream_version(&hits[0].0), "1");
    // ... and wrote its result with boto3 (only PUTs trigger it, so the result does not).
    let start = std::time::Instant::now();
    let processed = loop {
        match s3.get_object().bucket("inbox").key("processed/notes/hello world.txt").send().await {
            Ok(o) => break o.body.collect().await.unwrap().into_bytes(),
            Err(_) if start.elapsed() < Duration::from_secs(20) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("no processed object: {e:?}"),
        }
    };
    assert_eq!(&processed[..], b"HELLO FROM S3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_function_lists_buckets_with_the_aws_sdk_v3_from_an_es_module_and_commonjs() {
    if !sdk_installed() {
        return;
    }
    let server = TestServer::start().await;
    let c = server.lambda();
    let s3 = s3_client(&server);
    for bucket in ["alpha", "beta"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let esm = r#"import { S3Client, ListBucketsCommand } from "@aws-sdk/client-s3";
const s3 = new S3Client({});
export const handler = async () => {
  const out = await s3.send(new ListBucketsCommand({}));
  return out.Buckets.map((b) => b.Name);
};
"#;
    create(&c, "lister", Runtime::Nodejs20x, "index.handler", &[("index.mjs", esm)]).await;
    assert_eq!(call(&c, "lister").await, serde_json::json!(["alpha", "beta"]));

    let cjs = r#"const { S3Client, ListBucketsCommand } = require("@aws-sdk/client-s3");
exports.handler = async () => (await new S3Client({}).send(new ListBucketsCommand({}))).Buckets.map((b) => b.Name);
"#;
    create(&c, "lister-cjs", Runtime::Nodejs20x, "index.handler", &[("index.js", cjs)]).await;
    assert_eq!(call(&c, "lister-cjs").await, serde_json::json!(["alpha", "beta"]));

    // An ES module in a `.js` file, by its package.json.
    let module = [("index.js", esm), ("package.json", r#"{"type": "module"}"#)];
    create(&c, "lister-module-js", Runtime::Nodejs20x, "index.handler", &module).await;
    assert_eq!(call(&c, "lister-module-js").await, serde_json::json!(["alpha", "beta"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_own_modules_come_before_the_sdk() {
    if !sdk_installed() {
        return;
    }
    let server = TestServer::start().await;
    let c = server.lambda();
    let report = "import sys, boto3\ndef handler(e, c):\n    return {'boto3': boto3.__version__, 'file': boto3.__file__, 'path': sys.path}\n";
    create(&c, "py-path", Runtime::Python312, "index.handler", &[("index.py", report)]).await;
    let body = call(&c, "py-path").await;
    assert_eq!(body["boto3"], invoke::sdk::PYTHON_PACKAGES[0].1);
    assert_eq!(body["file"], "/var/runtime/sdk/boto3/__init__.py");
    let path: Vec<&str> = body["path"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let at = |p: &str| path.iter().position(|x| *x == p).unwrap_or_else(|| panic!("{p} not in {path:?}"));
    assert_eq!(&path[..3], ["/var/task", "/opt/python/lib/python3.12/site-packages", "/opt/python"], "{path:?}");
    assert!(at("/var/runtime") < at("/var/runtime/sdk"), "{path:?}");
    let first_site = path.iter().position(|p| p.ends_with("-packages") && !p.starts_with("/opt/")).unwrap();
    assert!(at("/var/runtime/sdk") < first_site, "the SDK comes before the interpreter's own packages: {path:?}");

    // A function that ships its own boto3 gets its own.
    let own = [("index.py", report), ("boto3/__init__.py", "__version__ = 'bundled'\n")];
    create(&c, "py-own", Runtime::Python312, "index.handler", &own).await;
    let body = call(&c, "py-own").await;
    assert_eq!((body["boto3"].as_str(), body["file"].as_str()), (Some("bundled"), Some("/var/task/boto3/__init__.py")));

    // The same for Node.js: its own node_modules first, for import and require alike.
    let fake = r#"{"name": "@aws-sdk/client-s3", "version": "0.0.0-bundled", "main": "index.js", "exports": {"import": "./index.mjs", "require": "./index.js"}}"#;
    let files = [
        ("index.mjs", "import { version } from \"@aws-sdk/client-s3\";\nexport const handler = async () => version;\n"),
        ("node_modules/@aws-sdk/client-s3/package.json", fake),
        ("node_modules/@aws-sdk/client-s3/index.mjs", "export const version = 'bundled';\n"),
        ("node_modules/@aws-sdk/client-s3/index.js", "exports.version = 'bundled';\n"),
    ];
    create(&c, "node-own", Runtime::Nodejs20x, "index.handler", &files).await;
    assert_eq!(call(&c, "node-own").await, "bundled");
    // NODE_PATH as Lambda sets it: layers, the SDK, the runtime, the code.
    let env = "export const handler = async () => process.env.NODE_PATH;\n";
    create(&c, "node-path", Runtime::Nodejs20x, "index.handler", &[("index.mjs", env)]).await;
    assert_eq!(
        call(&c, "node-path").await,
        "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_namespaces_the_sdk_is_used_in_place() {
    if !sdk_installed() {
        return;
    }
    let server = TestServer::start_with(|c| c.sandbox = false).await;
    let c = server.lambda();
    let report = "import boto3\ndef handler(e, c):\n    return boto3.__file__\n";
    create(&c, "plain-py", Runtime::Python312, "index.handler", &[("index.py", report)]).await;
    let dir = invoke::sdk::RuntimesDir::new(server::default_runtimes_dir());
    assert_eq!(call(&c, "plain-py").await, dir.python().join("boto3/__init__.py").display().to_string());
    let esm = "import { S3Client } from \"@aws-sdk/client-s3\";\nexport const handler = async () => typeof S3Client;\n";
    create(&c, "plain-node", Runtime::Nodejs20x, "index.handler", &[("index.mjs", esm)]).await;
    assert_eq!(call(&c, "plain-node").await, "function");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sdk_is_reported_and_functions_still_run() {
    let empty = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(|c| c.runtimes_dir = empty.path().to_owned()).await;
    let mut http = testkit::http::Client::new(server.addr);
    let health = http.send("GET", "/_versa/health", &[], b"").await.unwrap().json();
    assert_eq!(health["sdk"]["missing"], serde_json::json!(["python", "nodejs"]), "{health}");
    assert_eq!(health["sdk"]["python"], "not installed");
    assert_eq!(health["sdk"]["dir"], empty.path().display().to_string());
    let c = server.lambda();
    let code = "def handler(e, c):\n    try:\n        import boto3\n        return 'imported'\n    except ImportError as e:\n        return str(e)\n";
    create(&c, "no-sdk", Runtime::Python312, "index.handler", &[("index.py", code)]).await;
    assert_eq!(call(&c, "no-sdk").await, "No module named 'boto3'");

    if sdk_installed() {
        let server = TestServer::start().await;
        let mut http = testkit::http::Client::new(server.addr);
        let health = http.send("GET", "/_versa/health", &[], b"").await.unwrap().json();
        assert_eq!(health["sdk"]["missing"], serde_json::json!([]), "{health}");
        assert_eq!(health["sdk"]["python"], format!("boto3 {}", invoke::sdk::PYTHON_PACKAGES[0].1));
        assert_eq!(health["sdk"]["nodejs"], format!("@aws-sdk v3 {}", invoke::sdk::NODE_SDK_VERSION));
    }
}

// JUSTIFICATION: this test runs the real `versa runtimes install` command.
#[allow(clippy::disallowed_methods)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtimes_install_is_idempotent_and_quiet_when_the_sdk_is_there() {
    if !sdk_installed() {
        return;
    }
    let dir = invoke::sdk::RuntimesDir::new(server::default_runtimes_dir());
    let marker = dir.python().join(".versa-sdk");
    let before = std::fs::metadata(&marker).unwrap().modified().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(testkit::versa_binary())
            .args(["runtimes", "install"])
            .args(args)
            .env(server::RUNTIMES_DIR_ENV, &dir.root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (stdout, stderr) = run(&["--quiet"]);
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    let (stdout, _) = run(&[]);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.lines().all(|l| l.ends_with(&format!("already installed in {}", dir.root.display()))), "{stdout}");
    assert_eq!(std::fs::metadata(&marker).unwrap().modified().unwrap(), before, "nothing was reinstalled");
}

/// Under `--auth sigv4` a function calls Versa with its environment's own temporary key, signed
/// by boto3 and by the AWS SDK for JavaScript, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_sign_with_their_own_credentials_under_sigv4() {
    if !sdk_installed() {
        return;
    }
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let c = testkit::lambda_client_with(&server.endpoint(), &root, REGION);
    let py = r#"import boto3
def handler(e, c):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="from-python")
    s3.put_object(Bucket="from-python", Key="k.txt", Body=b"signed by boto3")
    names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    body = s3.get_object(Bucket="from-python", Key="k.txt")["Body"].read().decode()
    return {"functions": sorted(names), "body": body}
"#;
    create(&c, "py-signer", Runtime::Python312, "index.handler", &[("index.py", py)]).await;
    let out = call(&c, "py-signer").await;
    assert_eq!(out, serde_json::json!({"functions": ["py-signer"], "body": "signed by boto3"}));

    let node = r#"import { S3Client, ListBucketsCommand, PutObjectCommand } from "@aws-sdk/client-s3";
const s3 = new S3Client({ forcePathStyle: true });
export const handler = async () => {
  await s3.send(new PutObjectCommand({ Bucket: "from-python", Key: "node.txt", Body: "signed by node" }));
  return (await s3.send(new ListBucketsCommand({}))).Buckets.map((b) => b.Name);
};
"#;
    create(&c, "node-signer", Runtime::Nodejs20x, "index.handler", &[("index.mjs", node)]).await;
    assert_eq!(call(&c, "node-signer").await, serde_json::json!(["from-python"]));
    let s3 = crate::auth::s3_with(&server.endpoint(), &root);
    let o = s3.get_object().bucket("from-python").key("node.txt").send().await.unwrap();
    assert_eq!(&o.body.collect().await.unwrap().into_bytes()[..], b"signed by node");
}
