//! Node.js functions with Versa's own runtime client: async and callback handlers, ES modules
//! and CommonJS, errors.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use testkit::TestServer;

use crate::support::*;

async fn create_node(c: &aws_sdk_lambda::Client, name: &str, runtime: Runtime, handler: &str, files: &[(&str, &str)]) {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_bytes())).collect();
    c.create_function()
        .function_name(name)
        .runtime(runtime)
        .role(ROLE)
        .handler(handler)
        .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::files(&files))).build())
        .send()
        .await
        .expect("create");
}

async fn call(c: &aws_sdk_lambda::Client, name: &str, payload: &str) -> (Option<String>, serde_json::Value) {
    let r = c.invoke().function_name(name).payload(Blob::new(payload.as_bytes().to_vec())).send().await.unwrap();
    (r.function_error().map(str::to_owned), serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_handlers_of_every_style() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_node(
        &c,
        "node-async",
        Runtime::Nodejs22x,
        "index.handler",
        &[(
            "index.mjs",
            "export const handler = async (event, context) => ({\n  echo: event,\n  version: context.functionVersion,\n  arn: context.invokedFunctionArn,\n  remaining: context.getRemainingTimeInMillis(),\n  id: context.awsRequestId,\n});\n",
        )],
    )
    .await;
    let (e, body) = call(&c, "node-async", r#"{"a": 1}"#).await;
    assert_eq!(e, None, "{body}");
    assert_eq!(body["echo"], serde_json::json!({"a": 1}));
    assert_eq!(body["version"], "$LATEST");
    assert_eq!(body["arn"], arn("node-async"));
    assert!(body["remaining"].as_i64().unwrap() > 0);

    create_node(
        &c,
        "node-callback",
        Runtime::Nodejs20x,
        "app.main",
        &[("app.js", "exports.main = function (event, context, callback) {\n  setTimeout(() => callback(null, { doubled: event.n * 2 }), 10);\n};\n")],
    )
    .await;
    let (e, body) = call(&c, "node-callback", r#"{"n": 21}"#).await;
    assert_eq!((e, body), (None, serde_json::json!({"doubled": 42})));

    create_node(
        &c,
        "node-cjs",
        Runtime::Nodejs18x,
        "lib/handler.go",
        &[("lib/handler.cjs", "module.exports.go = async () => 'from cjs';\n")],
    )
    .await;
    assert_eq!(call(&c, "node-cjs", "{}").await, (None, serde_json::json!("from cjs")));

    create_node(
        &c,
        "node-throws",
        Runtime::Nodejs22x,
        "index.handler",
        &[("index.mjs", "export const handler = async () => { throw new TypeError('bad input'); };\n")],
    )
    .await;
    let (e, body) = call(&c, "node-throws", "{}").await;
    assert_eq!(e.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "TypeError");
    assert_eq!(body["errorMessage"], "bad input");
    assert!(body["trace"][0].as_str().unwrap().starts_with("TypeError: bad input"), "{body}");

    create_node(
        &c,
        "node-missing",
        Runtime::Nodejs22x,
        "index.nothere",
        &[("index.mjs", "export const handler = 1;\n")],
    )
    .await;
    let (e, body) = call(&c, "node-missing", "{}").await;
    assert_eq!(e.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "Runtime.HandlerNotFound");
    assert_eq!(body["errorMessage"], "index.nothere is undefined or not exported");
}
