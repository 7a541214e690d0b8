//! Property test through the real server: hostile JSON bodies, names and headers, sent over raw
//! HTTP/1.1 to every Lambda write operation. Each answer is a 4xx with a JSON error body, the
//! server stays up, and nothing is created.

use propkit::proptest;
use propkit::proptest::prelude::*;
use propkit::proptest::strategy::ValueTree;
use propkit::proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use testkit::TestServer;
use testkit::http::Client;

use crate::support::*;

/// Hostile requests sent (each one is a real HTTP exchange with the server).
const REQUESTS: usize = 64;

/// Names that no function has: absent ones, and ones no function can have.
const GHOSTS: &[&str] =
    &["ghost", "a%20b", "x%3Ay%3Az%3Aw", "%24LATEST", "arn%3Aaws%3Alambda%3Aus-east-1%3A999999999999%3Afunction%3Af"];
/// `FunctionName`s that CreateFunction must refuse (so a mutated body can never create one).
const INVALID_NAMES: &[&str] = &["", "a b", "a/b", "f:1:2", "$LATEST", "arn:aws:s3:::b"];

const MEMBERS: &[&str] = &[
    "FunctionName",
    "Runtime",
    "Role",
    "Handler",
    "Code",
    "ZipFile",
    "Timeout",
    "MemorySize",
    "Environment",
    "Variables",
    "Layers",
    "EphemeralStorage",
    "Size",
    "Name",
    "FunctionVersion",
    "RoutingConfig",
    "AdditionalVersionWeights",
    "MaximumRetryAttempts",
    "DestinationConfig",
    "ReservedConcurrentExecutions",
    "ProvisionedConcurrentExecutions",
    "StatementId",
    "Action",
    "Principal",
    "AuthType",
    "Cors",
    "Content",
    "Tags",
];

/// An operation: method, path (`{f}` is the function), a valid body.
fn operations() -> Vec<(&'static str, &'static str, Value)> {
    let zip = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==";
    let config = json!({"Runtime": "python3.12", "Role": ROLE, "Handler": "index.handler", "Timeout": 3,
        "MemorySize": 128, "Environment": {"Variables": {"A": "b"}}, "EphemeralStorage": {"Size": 512}});
    let mut create = config.clone();
    create["FunctionName"] = json!("f");
    create["Code"] = json!({"ZipFile": zip});
    vec![
        ("POST", "/2015-03-31/functions", create),
        ("PUT", "/2015-03-31/functions/{f}/configuration", config),
        ("PUT", "/2015-03-31/functions/{f}/code", json!({"ZipFile": zip, "Publish": true})),
        ("POST", "/2015-03-31/functions/{f}/versions", json!({"Description": "d"})),
        (
            "POST",
            "/2015-03-31/functions/{f}/aliases",
            json!({"Name": "live", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.5}}}),
        ),
        ("PUT", "/2015-03-31/functions/{f}/aliases/live", json!({"FunctionVersion": "$LATEST"})),
        (
            "POST",
            "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3A{f}",
            json!({"Tags": {"a": "b"}}),
        ),
        (
            "PUT",
            "/2019-09-25/functions/{f}/event-invoke-config",
            json!({"MaximumRetryAttempts": 1, "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}}}),
        ),
        ("PUT", "/2017-10-31/functions/{f}/concurrency", json!({"ReservedConcurrentExecutions": 5})),
        (
            "PUT",
            "/2019-09-30/functions/{f}/provisioned-concurrency?Qualifier=1",
            json!({"ProvisionedConcurrentExecutions": 1}),
        ),
        (
            "POST",
            "/2015-03-31/functions/{f}/policy",
            json!({"StatementId": "s", "Action": "lambda:InvokeFunction", "Principal": "*"}),
        ),
        ("POST", "/2021-10-31/functions/{f}/url", json!({"AuthType": "NONE", "Cors": {"AllowOrigins": ["*"]}})),
        (
            "POST",
            "/2018-10-31/layers/bad%20name/versions",
            json!({"Content": {"ZipFile": zip}, "CompatibleRuntimes": ["python3.12"]}),
        ),
        (
            "POST",
            "/2018-10-31/layers/{f}/versions/1/policy",
            json!({"StatementId": "s", "Action": "lambda:GetLayerVersion", "Principal": "*"}),
        ),
        ("POST", "/2015-03-31/functions/{f}/invocations", json!({"key": "value"})),
    ]
}

#[derive(Debug, Clone)]
struct Hostile {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Headers a client may send with any value (not the ones that pick another service).
const HEADERS: &[&str] = &[
    "content-type",
    "x-amz-invocation-type",
    "x-amz-log-type",
    "x-amz-client-context",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "accept",
    "x-forwarded-for",
];

fn hostile() -> impl Strategy<Value = Hostile> {
    let headers = proptest::collection::vec((proptest::sample::select(HEADERS), "[ -~]{0,40}"), 0..4);
    (proptest::sample::select(operations()), proptest::sample::select(GHOSTS), headers).prop_flat_map(
        |((method, path, valid), ghost, headers)| {
            (propkit::json_body(valid, MEMBERS), proptest::sample::select(INVALID_NAMES)).prop_map(
                move |(body, invalid_name)| {
                    // CreateFunction always gets a name it must refuse, whatever else the body says.
                    let body = match serde_json::from_slice::<Value>(&body) {
                        Ok(Value::Object(mut o)) if path == "/2015-03-31/functions" => {
                            o.insert("FunctionName".into(), json!(invalid_name));
                            serde_json::to_vec(&o).unwrap()
                        }
                        _ => body,
                    };
                    let headers = headers.iter().map(|(k, v)| ((*k).to_owned(), v.trim().to_owned())).collect();
                    Hostile { method, path: path.replace("{f}", ghost), headers, body }
                },
            )
        },
    )
}

#[tokio::test]
async fn hostile_requests_get_json_client_errors_and_change_nothing() {
    let server = TestServer::start().await;
    let mut http = Client::new(server.addr);
    let mut runner = TestRunner::new(propkit::config(REQUESTS as u32));
    let strategy = hostile();
    for _ in 0..REQUESTS {
        let req = strategy.new_tree(&mut runner).unwrap().current();
        let headers: Vec<(&str, &str)> = req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = http.send(req.method, &req.path, &headers, &req.body).await.unwrap();
        let shown = || {
            format!(
                "{} {} {:?} {:?} -> {} {}",
                req.method,
                req.path,
                req.headers,
                String::from_utf8_lossy(&req.body),
                r.status,
                r.text()
            )
        };
        assert!((400..500).contains(&r.status), "{}", shown());
        let code = r.header("x-amzn-ErrorType").unwrap_or_else(|| panic!("no error type: {}", shown()));
        let body: Value = serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", shown()));
        let message = body.get("message").or_else(|| body.get("Message"));
        // Another account's function is refused without a message, as on AWS.
        if code == "AccessDeniedException" && message.is_none() {
            assert_eq!(body, json!({"Type": "User"}), "{}", shown());
        } else {
            assert!(message.is_some_and(Value::is_string), "{}", shown());
        }
    }
    // Still up, and nothing was created.
    let health = http.send("GET", "/_versa/health", &[], b"").await.unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
    let c = server.lambda();
    assert!(c.list_functions().send().await.unwrap().functions().is_empty());
    assert!(c.list_layers().send().await.unwrap().layers().is_empty());
    let blobs = server.data_dir().join("blobs/sha256");
    let stored = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(stored, 0, "no code package may be stored");
}
