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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_stages_name_aliases_per_request() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = script(&server, "http").await;
    assert_eq!(v["http_event"]["rawPath"], "/dev/x");
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
        .send("POST", "/restapis", &[("content-type", "application/json")], br#"{"name":"raw","tags":{"_custom_id_":"rawapi"}}"#)
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
    let r = http.send("GET", "/restapis/nope", &[], b"").await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-amzn-errortype"), Some("NotFoundException"));
}
