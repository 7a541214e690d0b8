//! Function URLs: configuration operations (§2.4, §10.1) and serving (§10.2, §10.3), for the
//! function and per alias, with AuthType NONE (which still needs its policy) and AWS_IAM.

use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType, InvokeMode};
use testkit::TestServer;
use testkit::http::{Client, Response};

use crate::invoke::create_py;
use crate::support::*;

const WEB: &str = r#"
import json
def handler(event, context):
    if event.get("rawPath") == "/fail":
        raise RuntimeError("asked to fail")
    if event.get("rawPath") == "/plain":
        return {"hello": "world"}
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-version": context.function_version},
        "cookies": ["a=1", "b=2"],
        "body": json.dumps({"version": context.function_version, "event": event}),
    }
"#;

const FORBIDDEN: &str = r#"{"Message":"Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}"#;

/// `web` with versions 1 and 2 and alias `prod` → 1.
async fn setup(c: &aws_sdk_lambda::Client) {
    create_py(c, "web", WEB).await;
    c.publish_version().function_name("web").send().await.unwrap();
    c.update_function_configuration().function_name("web").description("v2").send().await.unwrap();
    c.publish_version().function_name("web").send().await.unwrap();
    c.create_alias().function_name("web").name("prod").function_version("1").send().await.unwrap();
}

async fn allow_public(c: &aws_sdk_lambda::Client, qualifier: Option<&str>) {
    c.add_permission()
        .function_name("web")
        .set_qualifier(qualifier.map(str::to_owned))
        .statement_id("public-url")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
}

/// Sends a request to a function URL by its Host header.
async fn call(
    server: &TestServer,
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let host = url.strip_prefix("http://").unwrap().trim_end_matches('/');
    let mut all = vec![("host", host)];
    all.extend_from_slice(headers);
    Client::new(server.addr).send(method, path, &all, body).await.unwrap()
}

fn sign(account_key: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={account_key}/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_configuration_operations() {
    let server = TestServer::start().await;
    let c = server.lambda();
    setup(&c).await;
    let (sc, statuses) = with_statuses(&c);

    let created = sc
        .create_function_url_config()
        .function_name("web")
        .qualifier("prod")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    assert_eq!(statuses.last(), 201);
    let url = created.function_url().to_owned();
    let port = server.addr.port();
    let id = url.strip_prefix("http://").unwrap().split('.').next().unwrap().to_owned();
    assert_eq!(url, format!("http://{id}.lambda-url.us-east-1.localhost:{port}/"));
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert_eq!(created.function_arn(), format!("{}:prod", arn("web")));
    assert_eq!(created.auth_type(), &FunctionUrlAuthType::None);
    assert!(created.invoke_mode().is_none(), "InvokeMode is echoed only when sent");
    assert!(!created.creation_time().is_empty());

    let got = c.get_function_url_config().function_name("web").qualifier("prod").send().await.unwrap();
    assert_eq!(got.function_url(), url);
    assert_eq!(got.invoke_mode(), Some(&InvokeMode::Buffered));
    assert!(!got.last_modified_time().is_empty());

    // The unqualified function has a URL of its own; both are listed.
    let cors = Cors::builder()
        .allow_origins("https://example.com")
        .allow_methods("GET")
        .allow_headers("x-custom")
        .max_age(300)
        .build();
    let own = c
        .create_function_url_config()
        .function_name("web")
        .auth_type(FunctionUrlAuthType::AwsIam)
        .cors(cors)
        .invoke_mode(InvokeMode::Buffered)
        .send()
        .await
        .unwrap();
    assert_ne!(own.function_url(), url);
    assert_eq!(own.function_arn(), arn("web"));
    assert_eq!(own.invoke_mode(), Some(&InvokeMode::Buffered));
    assert_eq!(own.cors().unwrap().max_age(), Some(300));
    let list = c.list_function_url_configs().function_name("web").send().await.unwrap();
    let arns: Vec<&str> = list.function_url_configs().iter().map(|u| u.function_arn()).collect();
    assert_eq!(arns.len(), 2);
    assert!(arns.contains(&arn("web").as_str()) && arns.contains(&format!("{}:prod", arn("web")).as_str()));

    // Update keeps the URL.
    let updated = c
        .update_function_url_config()
        .function_name("web")
        .qualifier("prod")
        .auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.function_url(), url);
    assert_eq!(updated.auth_type(), &FunctionUrlAuthType::AwsIam);

    // Errors, with AWS's texts.
    let e = err(c
        .create_function_url_config()
        .function_name("web")
        .qualifier("prod")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await);
    assert_err(
        e,
        409,
        "ResourceConflictException",
        &format!(
            "Failed to create function url config for [functionArn = {}:prod]. Error message:  FunctionUrlConfig exists for this Lambda function",
            arn("web")
        ),
    );
    let e = err(c.create_function_url_config().function_name("nope").auth_type(FunctionUrlAuthType::None).send().await);
    assert_err(e, 404, "ResourceNotFoundException", "Function does not exist");
    let e = err(c
        .create_function_url_config()
        .function_name("web")
        .qualifier("staging")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await);
    assert_err(e, 404, "ResourceNotFoundException", "Function does not exist");
    let e = err(c
        .create_function_url_config()
        .function_name("web")
        .qualifier("1")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await);
    assert_eq!((e.status, e.code.as_str()), (400, "ValidationException"));
    let e = err(c.get_function_url_config().function_name("nope").send().await);
    assert_err(e, 404, "ResourceNotFoundException", "The resource you requested does not exist.");
    let e = err(c.list_function_url_configs().function_name("nope").send().await);
    assert_err(e, 404, "ResourceNotFoundException", "Function does not exist");
    let e = err(c
        .create_function_url_config()
        .function_name("web")
        .qualifier("prod")
        .auth_type(FunctionUrlAuthType::from("BASIC"))
        .send()
        .await);
    assert_eq!((e.status, e.code.as_str()), (400, "ValidationException"));

    let (sc, statuses) = with_statuses(&c);
    sc.delete_function_url_config().function_name("web").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    let e = err(c.get_function_url_config().function_name("web").send().await);
    assert_err(e, 404, "ResourceNotFoundException", "The resource you requested does not exist.");
    let e = err(c.delete_function_url_config().function_name("web").send().await);
    assert_err(e, 404, "ResourceNotFoundException", "The resource you requested does not exist.");
    // Deleting the unqualified URL leaves the alias's.
    assert!(c.get_function_url_config().function_name("web").qualifier("prod").send().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_on_prod_serves_whatever_prod_points_to() {
    let server = TestServer::start().await;
    let c = server.lambda();
    setup(&c).await;
    let url = c
        .create_function_url_config()
        .function_name("web")
        .qualifier("prod")
        .auth_type(FunctionUrlAuthType::None)
        .cors(
            Cors::builder()
                .allow_origins("https://example.com")
                .allow_methods("POST")
                .allow_headers("x-custom")
                .max_age(600)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .function_url()
        .to_owned();

    // NONE still needs its policy: without it, 403 with Lambda's body.
    let r = call(&server, &url, "GET", "/", &[], b"").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), Some("AccessDeniedException"));
    assert_eq!(r.text(), FORBIDDEN);
    // A permission on the function does not cover the alias's URL.
    allow_public(&c, None).await;
    assert_eq!(call(&server, &url, "GET", "/", &[], b"").await.status, 403);
    allow_public(&c, Some("prod")).await;

    let r = call(
        &server,
        &url,
        "POST",
        "/orders/7?a=1&a=2&b=x",
        &[
            ("content-type", "application/json"),
            ("cookie", "c1=v1; c2=v2"),
            ("x-custom", "yes"),
            ("origin", "https://example.com"),
        ],
        br#"{"item": 1}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("x-version"), Some("1"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let cookies: Vec<&str> =
        r.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str()).collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://example.com"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["version"], "1");
    let e = &body["event"];
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "$default");
    assert_eq!(e["rawPath"], "/orders/7");
    assert_eq!(e["rawQueryString"], "a=1&a=2&b=x");
    assert_eq!(e["queryStringParameters"], serde_json::json!({"a": "1,2", "b": "x"}));
    assert_eq!(e["cookies"], serde_json::json!(["c1=v1", "c2=v2"]));
    assert_eq!(e["headers"]["x-custom"], "yes");
    assert_eq!(e["body"], r#"{"item": 1}"#);
    assert_eq!(e["isBase64Encoded"], false);
    let id = url.strip_prefix("http://").unwrap().split('.').next().unwrap();
    assert_eq!(e["requestContext"]["apiId"], id);
    assert_eq!(e["requestContext"]["accountId"], "anonymous");
    assert_eq!(e["requestContext"]["http"]["method"], "POST");
    assert_eq!(e["requestContext"]["http"]["path"], "/orders/7");
    assert_eq!(e["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(e["requestContext"]["domainName"], format!("{id}.lambda-url.us-east-1.localhost"));

    // Binary bodies arrive base64-encoded.
    let r =
        call(&server, &url, "PUT", "/bin", &[("content-type", "application/octet-stream")], &[0, 159, 146, 150]).await;
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["event"]["isBase64Encoded"], true);
    assert_eq!(body["event"]["body"], "AJ+Slg==");

    // An answer without statusCode is 200 JSON; a function error is a 502.
    let r = call(&server, &url, "GET", "/plain", &[], b"").await;
    assert_eq!((r.status, r.text().as_str()), (200, r#"{"hello":"world"}"#));
    let r = call(&server, &url, "GET", "/fail", &[], b"").await;
    assert_eq!((r.status, r.text().as_str()), (502, "Internal Server Error"));

    // CORS preflight is answered by Lambda itself.
    let r = call(
        &server,
        &url,
        "OPTIONS",
        "/orders",
        &[
            ("origin", "https://example.com"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "x-custom"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://example.com"));
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(r.header("access-control-allow-headers"), Some("x-custom"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    let r = call(
        &server,
        &url,
        "OPTIONS",
        "/",
        &[("origin", "https://evil.example"), ("access-control-request-method", "POST")],
        b"",
    )
    .await;
    assert!(r.header("access-control-allow-origin").is_none());

    // Promote: one alias update, and the same URL serves version 2; roll back, version 1.
    c.update_alias().function_name("web").name("prod").function_version("2").send().await.unwrap();
    assert_eq!(call(&server, &url, "GET", "/", &[], b"").await.header("x-version"), Some("2"));
    // The path form reaches the same URL.
    let r = Client::new(server.addr).send("GET", &format!("/_versa/url/{id}/"), &[], b"").await.unwrap();
    assert_eq!(r.header("x-version"), Some("2"));
    c.update_alias().function_name("web").name("prod").function_version("1").send().await.unwrap();
    assert_eq!(call(&server, &url, "GET", "/", &[], b"").await.header("x-version"), Some("1"));

    // A deleted alias takes its URL with it.
    c.delete_alias().function_name("web").name("prod").send().await.unwrap();
    let r = call(&server, &url, "GET", "/", &[], b"").await;
    assert_eq!(r.status, 404);
    assert!(c.get_function_url_config().function_name("web").qualifier("prod").send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_iam_urls_need_a_signed_request() {
    let server = TestServer::start().await;
    let c = server.lambda();
    setup(&c).await;
    let url = c
        .create_function_url_config()
        .function_name("web")
        .auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap()
        .function_url()
        .to_owned();
    // Unsigned: 403, even with a public NONE permission (it names another auth type).
    allow_public(&c, None).await;
    let r = call(&server, &url, "GET", "/", &[], b"").await;
    assert_eq!((r.status, r.text().as_str()), (403, FORBIDDEN));
    // Signed by the function's own account: allowed, and the event names the caller.
    let auth = sign("test");
    let r = call(&server, &url, "GET", "/", &[("authorization", &auth)], b"").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["version"], "$LATEST");
    assert_eq!(body["event"]["requestContext"]["accountId"], ACCOUNT);
    assert_eq!(body["event"]["requestContext"]["authorizer"]["iam"]["accountId"], ACCOUNT);
    // Another account needs a statement for it.
    let other = sign("111122223333");
    assert_eq!(call(&server, &url, "GET", "/", &[("authorization", &other)], b"").await.status, 403);
    c.add_permission()
        .function_name("web")
        .statement_id("partner")
        .action("lambda:InvokeFunctionUrl")
        .principal("111122223333")
        .function_url_auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    assert_eq!(call(&server, &url, "GET", "/", &[("authorization", &other)], b"").await.status, 201);
}
