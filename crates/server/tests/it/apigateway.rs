//! API Gateway in front of aliases (api-gateway.md §7): boto3 drives the REST (v1) and HTTP
//! (v2) control planes against a real server with real functions, and calls the APIs over
//! plain HTTP (path form `/_aws/execute-api/<api>/<stage>/…`); raw HTTP checks the host form.

use testkit::TestServer;
use testkit::http::Client;

use crate::support::boto3_available;

async fn script(server: &TestServer, mode: &str) -> serde_json::Value {
    crate::support::boto3_script("apigw_boto3.py", &[&server.endpoint(), mode]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_stages_name_aliases_per_request() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = script(&server, "rest").await;
    let counts = &v["weighted_counts"];
    assert!(counts["1"].as_u64().unwrap() > 0 && counts["2"].as_u64().unwrap() > 0, "{counts}");
    let event = &v["rest_event"];
    assert_eq!(event["stageVariables"]["alias"], "prod");
    assert_eq!(event["pathParameters"]["proxy"], "x");
    assert!(event.get("version").is_none(), "REST events have no version key: {event}");
    // The client's (urllib's) Title-Case names, as on AWS; never the server's lower case.
    assert!(event["headers"]["User-Agent"].is_string() && event["headers"]["Host"].is_string(), "{event}");
    assert!(event["headers"].get("user-agent").is_none(), "{event}");
    // API Gateway's trace header (reference §4.3), in the event as in the answer.
    let trace = event["headers"]["X-Amzn-Trace-Id"].as_str().unwrap_or_default();
    assert!(trace.starts_with("Root=1-") && trace.len() == "Root=1-".len() + 8 + 1 + 24, "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_stages_name_aliases_per_request() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = script(&server, "http").await;
    assert_eq!(v["http_event"]["rawPath"], "/dev/x");
    assert!(v["http_event"]["headers"]["x-amzn-trace-id"].as_str().is_some_and(|t| t.starts_with("Root=1-")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_api_hosts_answer_unsigned_before_any_service() {
    let server = TestServer::start().await;
    let mut http = Client::new(server.addr);
    // An unknown API by host: REST's Forbidden, not S3's NoSuchBucket.
    let host = format!("abc123.execute-api.localhost:{}", server.addr.port());
    let r = http.send("GET", "/prod/x", &[("host", &host)], b"").await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (403, &br#"{"message":"Forbidden"}"#[..]));
    // The control plane unsigned: CreateRestApi, then the host form reaches its stage rules.
    let r = http
        .send(
            "POST",
            "/restapis",
            &[("content-type", "application/json")],
            br#"{"name":"raw","tags":{"_custom_id_":"rawapi"}}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let api: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(api["id"], "rawapi");
    assert!(api["createdDate"].is_i64(), "v1 timestamps are epoch seconds: {api}");
    let host = format!("rawapi.execute-api.us-east-1.localhost:{}", server.addr.port());
    let r = http.send("GET", "/dev/x", &[("host", &host)], b"").await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), Some("ForbiddenException"));
    // The path form is served on Versa's own origin (the console's): sandboxed, as function URLs'.
    let r = http.send("GET", "/_aws/execute-api/rawapi/dev/x", &[], b"").await.unwrap();
    assert_eq!(r.status, 403);
    assert!(r.header("content-security-policy").is_some_and(|v| v.contains("sandbox")), "{:?}", r.headers);
    let r = http.send("GET", "/dev/x", &[("host", &host)], b"").await.unwrap();
    assert!(r.header("content-security-policy").is_none());
    let r = http.send("GET", "/restapis/nope", &[], b"").await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-amzn-errortype"), Some("NotFoundException"));
}

const VERSION_ECHO: &str = r#"import json
def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"version": context.function_version, "stage": event["requestContext"]["stage"]})}
"#;

/// The aws CLI's REST sequence of api-gateway.md §3.3, then an HTTP API quick create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_rest_and_http_api_sequences() {
    if !crate::cli::aws_available() {
        return;
    }
    let server = TestServer::start().await;
    let aws = crate::cli::Aws { endpoint: server.endpoint(), home: tempfile::tempdir().unwrap() };
    let zip_path = aws.home.path().join("fn.zip");
    std::fs::write(&zip_path, testkit::zip::files(&[("index.py", VERSION_ECHO.as_bytes())])).unwrap();
    let zip_arg = format!("fileb://{}", zip_path.display());
    let lambda = |args: &[&str]| [&["lambda"], args].concat().iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    for args in [
        lambda(&["create-function", "--function-name", "fn", "--runtime", "python3.12", "--handler", "index.handler"]),
        lambda(&["publish-version", "--function-name", "fn"]),
        lambda(&["update-function-configuration", "--function-name", "fn", "--description", "two"]),
        lambda(&["publish-version", "--function-name", "fn"]),
        lambda(&["create-alias", "--function-name", "fn", "--name", "prod", "--function-version", "1"]),
        lambda(&["create-alias", "--function-name", "fn", "--name", "dev", "--function-version", "2"]),
    ] {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        if args[1] == "create-function" {
            args.extend(["--role", crate::support::ROLE, "--zip-file", &zip_arg]);
        }
        aws.json(&args).await;
    }
    let api = aws.json(&["apigateway", "create-rest-api", "--name", "cli"]).await;
    let (id, root) = (api["id"].as_str().unwrap().to_owned(), api["rootResourceId"].as_str().unwrap().to_owned());
    let proxy = aws
        .json(&["apigateway", "create-resource", "--rest-api-id", &id, "--parent-id", &root, "--path-part", "{proxy+}"])
        .await;
    let rid = proxy["id"].as_str().unwrap().to_owned();
    let method = ["--rest-api-id", id.as_str(), "--resource-id", rid.as_str(), "--http-method", "ANY"];
    aws.json(&[&["apigateway", "put-method"], &method[..], &["--authorization-type", "NONE"]].concat()).await;
    let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:fn:${stageVariables.alias}/invocations";
    let put = [
        &["apigateway", "put-integration"],
        &method[..],
        &["--type", "AWS_PROXY", "--integration-http-method", "POST", "--uri", uri],
    ]
    .concat();
    let integration = aws.json(&put).await;
    assert_eq!(integration["uri"], uri);
    let dep = aws
        .json(&[
            "apigateway",
            "create-deployment",
            "--rest-api-id",
            &id,
            "--stage-name",
            "dev",
            "--variables",
            "alias=dev",
        ])
        .await;
    let dep_id = dep["id"].as_str().unwrap();
    aws.json(&[
        "apigateway",
        "create-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "prod",
        "--deployment-id",
        dep_id,
        "--variables",
        "alias=prod",
    ])
    .await;
    let source = format!("arn:aws:execute-api:us-east-1:000000000000:{id}/*/*/*");
    for alias in ["dev", "prod"] {
        aws.json(&[
            "lambda",
            "add-permission",
            "--function-name",
            "fn",
            "--qualifier",
            alias,
            "--statement-id",
            "apigw",
            "--action",
            "lambda:InvokeFunction",
            "--principal",
            "apigateway.amazonaws.com",
            "--source-arn",
            &source,
        ])
        .await;
    }
    let mut http = Client::new(server.addr);
    let host = format!("{id}.execute-api.us-east-1.localhost:{}", server.addr.port());
    let get = |stage: &'static str| {
        let host = host.clone();
        async move {
            let mut http = Client::new(server.addr);
            let r = http.send("GET", &format!("/{stage}/hello"), &[("host", &host)], b"").await.unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()
        }
    };
    assert_eq!(get("dev").await, serde_json::json!({"version": "2", "stage": "dev"}));
    assert_eq!(get("prod").await, serde_json::json!({"version": "1", "stage": "prod"}));
    aws.json(&["lambda", "update-alias", "--function-name", "fn", "--name", "prod", "--function-version", "2"]).await;
    assert_eq!(get("prod").await, serde_json::json!({"version": "2", "stage": "prod"}));
    let stage = aws
        .json(&[
            "apigateway",
            "update-stage",
            "--rest-api-id",
            &id,
            "--stage-name",
            "prod",
            "--patch-operations",
            "op=replace,path=/variables/alias,value=dev",
        ])
        .await;
    assert_eq!(stage["variables"]["alias"], "dev");
    let stages = aws.json(&["apigateway", "get-stages", "--rest-api-id", &id]).await;
    assert_eq!(stages["item"].as_array().unwrap().len(), 2, "{stages}");
    let out = aws.run(&["apigateway", "get-rest-api", "--rest-api-id", "nope"]).await;
    assert!(!out.ok && out.stderr.contains("NotFoundException"), "{}", out.stderr);

    // HTTP API quick create on prod: the $default stage answers at the root.
    let target = "arn:aws:lambda:us-east-1:000000000000:function:fn:prod";
    let quick =
        aws.json(&["apigatewayv2", "create-api", "--name", "q", "--protocol-type", "HTTP", "--target", target]).await;
    let qid = quick["ApiId"].as_str().unwrap();
    aws.json(&[
        "lambda",
        "add-permission",
        "--function-name",
        "fn",
        "--qualifier",
        "prod",
        "--statement-id",
        "quick",
        "--action",
        "lambda:InvokeFunction",
        "--principal",
        "apigateway.amazonaws.com",
        "--source-arn",
        &format!("arn:aws:execute-api:us-east-1:000000000000:{qid}/*"),
    ])
    .await;
    let r = http.send("GET", &format!("/_aws/execute-api/{qid}/anything"), &[], b"").await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body, serde_json::json!({"version": "2", "stage": "$default"}));
    assert!(r.header("apigw-requestid").is_some());
}

/// An API and its stage variables are durable: after `kill -9` the same URL runs the same
/// alias, and a promotion is still seen by the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apis_survive_kill_9() {
    if !boto3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_versa"));
    let first = testkit::ServerProcess::spawn(bin, dir.path());
    let started = crate::support::boto3_script("apigw_boto3.py", &[&first.endpoint(), "durable-start"]).await;
    let id = started["api_id"].as_str().unwrap().to_owned();
    first.kill_9();
    let second = testkit::ServerProcess::spawn(bin, dir.path());
    crate::support::boto3_script("apigw_boto3.py", &[&second.endpoint(), "durable-finish", &id]).await;
    second.terminate();
}

/// Under `--auth sigv4` the control planes need a signature (for `apigateway`); execute-api
/// requests stay unsigned, like on AWS with authorization NONE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_planes_are_signed_and_execute_api_is_not() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start_sigv4().await;
    let key = server.root_key().await;
    let v = crate::support::boto3_script("apigw_boto3.py", &[&server.endpoint(), "signed", &key.id, &key.secret]).await;
    assert!(v["api_id"].is_string(), "{v}");
}

/// The list operations page as their models say: REST `limit`/`position` (25 by default),
/// HTTP API `maxResults`/`nextToken`; the last page carries no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_operations_page_by_limit_and_max_results() {
    let server = TestServer::start().await;
    let mut http = Client::new(server.addr);
    let json = [("content-type", "application/json")];
    for n in 0..3 {
        let r = http.send("POST", "/restapis", &json, format!(r#"{{"name":"r{n}"}}"#).as_bytes()).await.unwrap();
        assert_eq!(r.status, 201);
        let body = format!(r#"{{"name":"h{n}","protocolType":"HTTP"}}"#);
        let r = http.send("POST", "/v2/apis", &json, body.as_bytes()).await.unwrap();
        assert_eq!(r.status, 201);
    }
    let mut get = async |path: &str| -> serde_json::Value {
        let r = http.send("GET", path, &[], b"").await.unwrap();
        assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.body));
        serde_json::from_slice(&r.body).unwrap()
    };
    let first = get("/restapis?limit=2").await;
    assert_eq!(first["item"].as_array().unwrap().len(), 2, "{first}");
    let position = first["position"].as_str().expect("a position while more follow").to_owned();
    let last = get(&format!("/restapis?limit=2&position={position}")).await;
    assert_eq!(last["item"].as_array().unwrap().len(), 1, "{last}");
    assert!(last.get("position").is_none(), "{last}");
    assert!(get("/restapis").await.get("position").is_none());

    let first = get("/v2/apis?maxResults=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2, "{first}");
    let token = first["nextToken"].as_str().expect("a nextToken while more follow").to_owned();
    let last = get(&format!("/v2/apis?maxResults=2&nextToken={token}")).await;
    assert_eq!(last["items"].as_array().unwrap().len(), 1, "{last}");
    assert!(last.get("nextToken").is_none(), "{last}");
    assert_eq!(get("/v2/apis").await["items"].as_array().unwrap().len(), 3);
}

/// Under `--auth sigv4` an `AWS_IAM` method verifies the request's signature (scope service
/// `execute-api`) as every service does: botocore's `SigV4Auth` and `sigv4::sign` are accepted;
/// unsigned, a wrong secret, an unknown key and an expired date get API Gateway's 403s, and the
/// function does not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_iam_methods_verify_the_signature() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start_sigv4().await;
    let key = server.root_key().await;
    let v = crate::support::boto3_script("apigw_boto3.py", &[&server.endpoint(), "iam", &key.id, &key.secret]).await;
    let api = v["api_id"].as_str().unwrap().to_owned();
    assert!(v["signed_path"].as_str().is_some_and(|p| p.ends_with("/c:d")), "{v}");
    // The event names the verified caller (the root key: AWS's root identity).
    let identity = &v["identity"];
    assert_eq!(identity["accessKey"], key.id.as_str(), "{v}");
    assert_eq!(identity["userArn"], format!("arn:aws:iam::{}:root", identity["accountId"].as_str().unwrap()), "{v}");
    assert_eq!(v["unsigned"]["status"], 403, "{v}");
    assert_eq!(v["unsigned"]["type"], "MissingAuthenticationTokenException", "{v}");
    assert_eq!(v["unsigned"]["body"], serde_json::json!({"message": "Missing Authentication Token"}));
    assert_eq!(v["wrong_secret"]["status"], 403, "{v}");
    assert_eq!(v["wrong_secret"]["type"], "InvalidSignatureException", "{v}");
    let message = v["wrong_secret"]["body"]["message"].as_str().unwrap();
    assert!(message.starts_with("The request signature we calculated does not match the signature you provided."));
    assert_eq!(v["unknown_key"]["status"], 403, "{v}");
    assert_eq!(v["unknown_key"]["type"], "UnrecognizedClientException", "{v}");
    assert_eq!(v["unknown_key"]["body"]["message"], "The security token included in the request is invalid.", "{v}");
    assert_eq!(v["count_after_refusals"], 2, "a refused request ran the function: {v}");
    assert_eq!(v["http_unsigned"], 403, "{v}");
    assert_eq!(v["http_authorizer"]["iam"]["accessKey"], key.id.as_str(), "{v}");
    assert_eq!(v["http_authorizer"]["iam"]["accountId"], identity["accountId"], "{v}");
    let final_count = v["final_count"].as_i64().unwrap();

    // `sigv4::sign`: an expired date is refused, a current one runs the function.
    let path = format!("/_aws/execute-api/{api}/prod/x");
    let raw = |skew| crate::auth::Raw { server: &server, key: key.clone(), service: "execute-api", skew };
    let r = raw(-3600).send("GET", &path, b"", b"").await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-amzn-errortype"), Some("InvalidSignatureException"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(body["message"].as_str().unwrap().starts_with("Signature expired: "), "{body}");
    let r = raw(0).send("GET", &path, b"", b"").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["count"], final_count + 1, "the expired request ran the function: {body}");
    // Signed for another service: refused like Lambda's function URLs.
    let r = crate::auth::Raw { service: "lambda", ..raw(0) }.send("GET", &path, b"", b"").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), Some("InvalidSignatureException"));
}

/// Under `--auth off` an `AWS_IAM` method needs a signature but does not verify it: unsigned is
/// 403 Missing Authentication Token, any signature runs the function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_iam_methods_under_auth_off_need_only_a_signature() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = crate::support::boto3_script("apigw_boto3.py", &[&server.endpoint(), "iam", "test", "test", "off"]).await;
    assert_eq!(v["unsigned"]["status"], 403, "{v}");
    assert_eq!(v["unsigned"]["type"], "MissingAuthenticationTokenException", "{v}");
    assert_eq!(v["wrong_secret"]["status"], 200, "{v}");
    assert_eq!(v["unknown_key"]["status"], 200, "{v}");
    assert_eq!(v["count_after_refusals"], 4, "{v}");
    assert_eq!(v["http_unsigned"], 403, "{v}");
    assert!(v["http_authorizer"].is_null(), "no verified caller under --auth off: {v}");
}

/// One unsigned JSON request (a null `body` sends none): the status, the answer as JSON (null
/// when it is not), and as text.
async fn json_call(
    http: &mut Client,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value, String) {
    let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
    let r = http.send(method, path, &[("content-type", "application/json")], &body).await.unwrap();
    let json = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, json, String::from_utf8_lossy(&r.body).into_owned())
}

/// CreateRestApi keeps what Terraform sets and reads back (`policy`, echoed JSON-escaped as AWS
/// does, `apiKeySource`, `minimumCompressionSize`, `version`, `disableExecuteApiEndpoint`), and
/// UpdateRestApi patches them; CreateApi/UpdateApi keep `disableExecuteApiEndpoint`. A disabled
/// default endpoint answers 403 `Forbidden` where the API would otherwise run or miss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_inputs_are_kept_and_a_disabled_endpoint_is_forbidden() {
    let server = TestServer::start().await;
    let mut http = Client::new(server.addr);
    let mut call =
        async |method: &str, path: &str, body: serde_json::Value| json_call(&mut http, method, path, body).await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*"}]}"#;
    let escaped = policy.replace('"', "\\\"");
    let (status, api, text) = call(
        "POST",
        "/restapis",
        serde_json::json!({"name": "kept", "version": "v9", "disableExecuteApiEndpoint": true, "policy": policy,
            "minimumCompressionSize": 10, "apiKeySource": "AUTHORIZER"}),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let id = api["id"].as_str().unwrap().to_owned();
    let (_, got, _) = call("GET", &format!("/restapis/{id}"), serde_json::Value::Null).await;
    for view in [&api, &got] {
        assert_eq!(view["policy"], escaped.as_str(), "{view}");
        assert_eq!(
            (&view["apiKeySource"], &view["minimumCompressionSize"], &view["version"]),
            (&serde_json::json!("AUTHORIZER"), &serde_json::json!(10), &serde_json::json!("v9")),
            "{view}"
        );
        assert_eq!(view["disableExecuteApiEndpoint"], true, "{view}");
    }
    let (status, _, text) =
        call("POST", "/restapis", serde_json::json!({"name": "bad", "apiKeySource": "COOKIE"})).await;
    assert!(status == 400 && text.contains("apiKeySource"), "{status} {text}");

    // GET / → a Lambda proxy whose function does not exist: 500 once the endpoint is on.
    let root = api["rootResourceId"].as_str().unwrap();
    let method = format!("/restapis/{id}/resources/{root}/methods/GET");
    assert_eq!(call("PUT", &method, serde_json::json!({"authorizationType": "NONE"})).await.0, 201);
    let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:none/invocations";
    let integration = serde_json::json!({"type": "AWS_PROXY", "httpMethod": "POST", "uri": uri});
    assert_eq!(call("PUT", &format!("{method}/integration"), integration).await.0, 201);
    let deployed = call("POST", &format!("/restapis/{id}/deployments"), serde_json::json!({"stageName": "dev"})).await;
    assert_eq!(deployed.0, 201, "{}", deployed.2);
    let invoke = format!("/_aws/execute-api/{id}/dev/");
    let (status, _, text) = call("GET", &invoke, serde_json::Value::Null).await;
    assert_eq!((status, text.as_str()), (403, r#"{"message":"Forbidden"}"#));
    let ops = serde_json::json!({"patchOperations": [
        {"op": "replace", "path": "/disableExecuteApiEndpoint", "value": "false"},
        {"op": "replace", "path": "/minimumCompressionSize", "value": ""},
        {"op": "replace", "path": "/policy", "value": "{}"},
    ]});
    let (status, patched, text) = call("PATCH", &format!("/restapis/{id}"), ops).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        (&patched["disableExecuteApiEndpoint"], &patched["policy"]),
        (&serde_json::json!(false), &serde_json::json!("{}"))
    );
    assert!(patched.get("minimumCompressionSize").is_none(), "{patched}");
    assert_eq!(call("GET", &invoke, serde_json::Value::Null).await.0, 500);

    // An HTTP API: its $default stage has no route yet (404), unless the endpoint is disabled.
    let body = serde_json::json!({"name": "h", "protocolType": "HTTP", "disableExecuteApiEndpoint": true});
    let (status, api, text) = call("POST", "/v2/apis", body).await;
    assert_eq!((status, &api["disableExecuteApiEndpoint"]), (201, &serde_json::json!(true)), "{text}");
    let id = api["apiId"].as_str().unwrap().to_owned();
    let stage = serde_json::json!({"stageName": "$default", "autoDeploy": true});
    assert_eq!(call("POST", &format!("/v2/apis/{id}/stages"), stage).await.0, 201);
    let invoke = format!("/_aws/execute-api/{id}/x");
    let (status, _, text) = call("GET", &invoke, serde_json::Value::Null).await;
    assert_eq!((status, text.as_str()), (403, r#"{"message":"Forbidden"}"#));
    let (_, api, _) =
        call("PATCH", &format!("/v2/apis/{id}"), serde_json::json!({"disableExecuteApiEndpoint": false})).await;
    assert_eq!(api["disableExecuteApiEndpoint"], false, "{api}");
    assert_eq!(call("GET", &invoke, serde_json::Value::Null).await.0, 404);
    let (_, api, _) =
        call("PATCH", &format!("/v2/apis/{id}"), serde_json::json!({"disableExecuteApiEndpoint": true})).await;
    assert_eq!(api["disableExecuteApiEndpoint"], true, "{api}");
    assert_eq!(
        call("GET", &format!("/v2/apis/{id}"), serde_json::Value::Null).await.1["disableExecuteApiEndpoint"],
        true
    );
}

/// The REST update operations Terraform uses in place (JSON Patch `patchOperations`):
/// UpdateIntegration (the URI, the timeout), UpdateMethod, UpdateResource (the subtree's paths
/// follow), UpdateDeployment; and CreateDeployment refuses a method without an integration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_updates_patch_in_place_and_deployments_need_integrations() {
    let server = TestServer::start().await;
    let mut http = Client::new(server.addr);
    let mut call =
        async |method: &str, path: &str, body: serde_json::Value| json_call(&mut http, method, path, body).await;
    let patch = |ops: &[(&str, &str, &str)]| {
        let ops: Vec<_> =
            ops.iter().map(|(op, path, value)| serde_json::json!({"op": op, "path": path, "value": value})).collect();
        serde_json::json!({ "patchOperations": ops })
    };
    let (_, api, _) = call("POST", "/restapis", serde_json::json!({"name": "upd"})).await;
    let (id, root) = (api["id"].as_str().unwrap().to_owned(), api["rootResourceId"].as_str().unwrap().to_owned());
    let (status, items, _) =
        call("POST", &format!("/restapis/{id}/resources/{root}"), serde_json::json!({"pathPart": "items"})).await;
    assert_eq!(status, 201);
    let items = items["id"].as_str().unwrap().to_owned();
    let (_, item, _) =
        call("POST", &format!("/restapis/{id}/resources/{items}"), serde_json::json!({"pathPart": "{id}"})).await;
    let item = item["id"].as_str().unwrap().to_owned();
    let method = format!("/restapis/{id}/resources/{item}/methods/GET");
    assert_eq!(call("PUT", &method, serde_json::json!({"authorizationType": "NONE"})).await.0, 201);

    // A method without an integration cannot be deployed.
    let (status, body, text) =
        call("POST", &format!("/restapis/{id}/deployments"), serde_json::json!({"stageName": "dev"})).await;
    assert_eq!((status, &body["message"]), (400, &serde_json::json!("No integration defined for method")), "{text}");

    let uri = |q: &str| {
        format!(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:fn:{q}/invocations"
        )
    };
    let integration = serde_json::json!({"type": "AWS_PROXY", "httpMethod": "POST", "uri": uri("dev")});
    assert_eq!(call("PUT", &format!("{method}/integration"), integration).await.0, 201);
    let ops = patch(&[("replace", "/uri", &uri("prod")), ("replace", "/timeoutInMillis", "1000")]);
    let (status, updated, text) = call("PATCH", &format!("{method}/integration"), ops).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        (&updated["uri"], &updated["timeoutInMillis"]),
        (&serde_json::json!(uri("prod")), &serde_json::json!(1000))
    );
    let (_, got, _) = call("GET", &format!("{method}/integration"), serde_json::Value::Null).await;
    assert_eq!(got["uri"], uri("prod"), "{got}");
    // Refused whole: a bad URI leaves the integration as it was.
    let ops = patch(&[("replace", "/timeoutInMillis", "2000"), ("replace", "/uri", "not-an-arn")]);
    let (status, _, text) = call("PATCH", &format!("{method}/integration"), ops).await;
    assert!(status == 400 && text.contains("Invalid ARN specified in the request"), "{status} {text}");
    assert_eq!(call("GET", &format!("{method}/integration"), serde_json::Value::Null).await.1["timeoutInMillis"], 1000);

    let ops = patch(&[
        ("replace", "/authorizationType", "AWS_IAM"),
        ("add", "/requestParameters/method.request.header.x-k", "true"),
    ]);
    let (status, m, text) = call("PATCH", &method, ops).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(m["authorizationType"], "AWS_IAM", "{m}");
    assert_eq!(m["requestParameters"], serde_json::json!({"method.request.header.x-k": true}), "{m}");
    assert_eq!(call("PATCH", &method, patch(&[("replace", "/nope", "x")])).await.0, 400);

    // Renaming /items renames /items/{id}.
    let (status, renamed, text) =
        call("PATCH", &format!("/restapis/{id}/resources/{items}"), patch(&[("replace", "/pathPart", "things")])).await;
    assert_eq!((status, &renamed["path"]), (200, &serde_json::json!("/things")), "{text}");
    let (_, child, _) = call("GET", &format!("/restapis/{id}/resources/{item}"), serde_json::Value::Null).await;
    assert_eq!(child["path"], "/things/{id}", "{child}");
    let under_itself = patch(&[("replace", "/parentId", &item)]);
    assert_eq!(call("PATCH", &format!("/restapis/{id}/resources/{items}"), under_itself).await.0, 400);

    let (status, dep, text) =
        call("POST", &format!("/restapis/{id}/deployments"), serde_json::json!({"stageName": "dev"})).await;
    assert_eq!(status, 201, "{text}");
    let did = dep["id"].as_str().unwrap();
    let ops = patch(&[("replace", "/description", "first")]);
    let (status, dep, text) = call("PATCH", &format!("/restapis/{id}/deployments/{did}"), ops).await;
    assert_eq!((status, &dep["description"]), (200, &serde_json::json!("first")), "{text}");

    // An op outside JSON Patch's is named at its place, in the operation's own input shape.
    let ops = patch(&[("replace", "/description", "x"), ("bogus", "/description", "y")]);
    let (status, err, text) = call("PATCH", &format!("/restapis/{id}/deployments/{did}"), ops).await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        err["message"],
        "1 validation error detected: Value 'bogus' at 'updateDeploymentInput.patchOperations.2.member.op' failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]",
        "{text}"
    );
    let ops = patch(&[("bogus", "/timeoutInMillis", "1")]);
    let (_, err, text) = call("PATCH", &format!("{method}/integration"), ops).await;
    assert!(
        err["message"].as_str().unwrap().contains("at 'updateIntegrationInput.patchOperations.1.member.op'"),
        "{text}"
    );
}
