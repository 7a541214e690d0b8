//! One endpoint, several services: which AWS service a request is for, and the services that
//! are not Lambda's REST API.
//!
//! A signed request names its service in the SigV4 credential scope (`.../<region>/logs/aws4_request`).
//! An unsigned one is recognised by its shape: a JSON 1.1 `X-Amz-Target` names the service's
//! target prefix; anything else is Lambda's REST API.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::json;

use crate::ApiState;
use crate::query::Query;

/// The services Versa answers on its one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Service {
    Lambda,
    Logs,
    /// CloudWatch (`monitoring`).
    CloudWatch,
    /// CodeDeploy (`codedeploy`, JSON 1.1).
    CodeDeploy,
    /// DynamoDB and DynamoDB Streams (`dynamodb`, JSON 1.0; split by target in the crate).
    DynamoDb,
    /// EventBridge (`events`, JSON 1.1).
    EventBridge,
    /// EventBridge Scheduler (`scheduler`, rest-json; signed only: its paths would be S3's).
    Scheduler,
    /// SQS (`sqs`, JSON 1.0 query-compatible).
    Sqs,
    /// S3; the bucket when the Host header names it (virtual-hosted style).
    S3 {
        bucket_from_host: Option<String>,
    },
    /// A function URL: its id, the region its host names (none for the path form), and the
    /// path the function sees.
    FunctionUrl {
        url_id: String,
        region: Option<String>,
        path: String,
    },
    /// API Gateway's control planes (v1 `/restapis…`, v2 `/v2/…`).
    ApiGateway,
    /// An execute-api request: the API id (from the host or the path form) and the path after it.
    ExecuteApi {
        api_id: String,
        path: String,
        /// Reached through `/_aws/execute-api/…` on Versa's own origin (not by host).
        path_form: bool,
    },
    /// A service Versa does not serve, by its SigV4 name.
    Unknown(String),
}

impl Service {
    /// Function URL hosts and paths come first (an `AWS_IAM` URL request is signed for
    /// `lambda`); then the credential scope's service; then the request's shape.
    pub(crate) fn of(headers: &HeaderMap, path: &str, query: &Query) -> Service {
        let host = headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        if let Some((url_id, region)) = crate::function_urls::from_host(host) {
            return Service::FunctionUrl { url_id, region: Some(region), path: path.to_owned() };
        }
        if let Some((url_id, path)) = crate::function_urls::from_path(path) {
            return Service::FunctionUrl { url_id, region: None, path };
        }
        if let Some(api_id) = crate::execute_api::from_host(host) {
            return Service::ExecuteApi { api_id, path: path.to_owned(), path_form: false };
        }
        if let Some((api_id, path)) = crate::execute_api::from_path(path) {
            return Service::ExecuteApi { api_id, path, path_form: true };
        }
        if let Some(c) = crate::auth::credential(headers, query) {
            return match c.service.as_str() {
                "lambda" => Service::Lambda,
                "logs" => Service::Logs,
                cloudwatch::SERVICE => Service::CloudWatch,
                codedeploy::SERVICE => Service::CodeDeploy,
                dynamodb::SERVICE => Service::DynamoDb,
                eventbridge::SERVICE => Service::EventBridge,
                scheduler::SERVICE => Service::Scheduler,
                sqs::SERVICE => Service::Sqs,
                apigateway::SERVICE => Service::ApiGateway,
                "s3" => Service::S3 { bucket_from_host: s3::bucket_from_host(host) },
                other => Service::Unknown(other.to_owned()),
            };
        }
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
        if target.starts_with(logs::TARGET_PREFIX) {
            return Service::Logs;
        }
        if target.starts_with(codedeploy::TARGET_PREFIX) {
            return Service::CodeDeploy;
        }
        if target.starts_with(dynamodb::TARGET_PREFIX) || target.starts_with(dynamodb::STREAMS_TARGET_PREFIX) {
            return Service::DynamoDb;
        }
        if target.starts_with(eventbridge::TARGET_PREFIX) {
            return Service::EventBridge;
        }
        if target.starts_with(sqs::TARGET_PREFIX) {
            return Service::Sqs;
        }
        // CloudWatch's CBOR path would otherwise be S3 path-style (bucket `service`).
        let smithy_cbor = headers.get("smithy-protocol").is_some_and(|v| v.as_bytes() == b"rpc-v2-cbor");
        if (smithy_cbor && path.starts_with(cloudwatch::CBOR_PATH_PREFIX))
            || target.starts_with(cloudwatch::TARGET_PREFIX)
        {
            return Service::CloudWatch;
        }
        if is_apigateway_path(path) {
            return Service::ApiGateway;
        }
        let bucket_from_host = s3::bucket_from_host(host);
        if bucket_from_host.is_some() {
            return Service::S3 { bucket_from_host };
        }
        if is_lambda_path(path) { Service::Lambda } else { Service::S3 { bucket_from_host: None } }
    }
}

/// Whether an unsigned path-style request is Lambda's: its API paths start with a dated
/// version (`/2015-03-31/`, `/2021-10-31/`, ...), Versa's own with `/_versa/`. Everything else
/// is S3 path-style (`/bucket/key`, and `GET /` is ListBuckets).
fn is_lambda_path(path: &str) -> bool {
    if path.starts_with("/_versa/") {
        return true;
    }
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let b = first.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// Whether an unsigned request is for API Gateway's control planes: `/restapis…`, `/v2/apis…`,
/// `/v2/tags/…`, or `/tags/arn:aws:apigateway…` (encoded or not).
fn is_apigateway_path(path: &str) -> bool {
    path == "/restapis"
        || path.starts_with("/restapis/")
        || path == "/v2/apis"
        || path.starts_with("/v2/apis/")
        || path.starts_with("/v2/tags/")
        || path.starts_with("/tags/arn:aws:apigateway")
        || path.starts_with("/tags/arn%3Aaws%3Aapigateway")
}

/// Serves one API Gateway control-plane request (`apigateway::ApiGateway::handle`).
pub(crate) async fn apigateway(state: &ApiState, req: Request<Body>) -> Response<Body> {
    let reply = |r: apigateway::Response| {
        let mut out = Response::new(Body::from(r.body));
        *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(apigateway::Response::CONTENT_TYPE));
        if let Some(t) = r.error_type {
            out.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(t));
        }
        out
    };
    let Some(service) = state.apigateway.clone() else {
        let e = apigateway::Error::new(500, "InternalFailure", "API Gateway is not available on this server.");
        return reply(apigateway::Response::error(&e));
    };
    let query = Query::parse(req.uri().query());
    let scope = crate::auth::scope(req.extensions(), req.headers(), &query, &state.default_region);
    let ctx = apigateway::Context {
        account: scope.account.as_str().to_owned(),
        region: scope.region.as_str().to_owned(),
        host: req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let raw_query = req.uri().query().map(str::to_owned);
    let body = match axum::body::to_bytes(req.into_body(), apigateway::REQUEST_BYTES_MAX).await {
        Ok(b) => b,
        Err(_) => {
            let e = apigateway::Error::new(413, "RequestTooLongException", "The request body is too large.");
            return reply(apigateway::Response::error(&e));
        }
    };
    let request = apigateway::Request { method: &method, path: &path, query: raw_query.as_deref(), body: &body };
    reply(service.handle(&ctx, &request).await)
}

/// Serves one S3 request.
pub(crate) async fn s3(
    state: &ApiState,
    mut req: Request<Body>,
    bucket_from_host: Option<String>,
    request_id: &str,
) -> Response<Body> {
    // Taken, not copied: the check (a chunk verifier) belongs to this one body.
    let payload_check = req.extensions_mut().remove::<s3::PayloadCheck>();
    let query = Query::parse(req.uri().query());
    let scope = crate::auth::scope(req.extensions(), req.headers(), &query, &state.default_region);
    let ctx = s3::RequestContext {
        account: scope.account.as_str().to_owned(),
        region: scope.region.as_str().to_owned(),
        bucket_from_host,
        request_id: s3_request_id(request_id),
        source_ip: crate::source_ip(&req),
        payload_check,
        secure: req.extensions().get::<crate::Secure>().is_some(),
    };
    state.s3.handle(ctx, req).await
}

/// S3's request ids are 16 uppercase hex digits.
pub(crate) fn s3_request_id(request_id: &str) -> String {
    request_id.chars().filter(char::is_ascii_hexdigit).take(16).collect::<String>().to_uppercase()
}

/// The answer to a request for a service Versa does not serve: a JSON error that the SDKs of
/// JSON and REST-JSON services read through `x-amzn-ErrorType`.
pub(crate) fn unknown_service(name: &str) -> Response<Body> {
    let message = format!(
        "Versa does not serve the service '{name}'; it serves lambda, logs, monitoring (CloudWatch), codedeploy, apigateway, sqs, dynamodb, events, scheduler and s3."
    );
    let body = json!({ "__type": "UnknownServiceException", "message": message }).to_string();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
    r.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static("UnknownServiceException"));
    r
}

/// Serves one CloudWatch Logs request (JSON 1.1: `POST /` with `X-Amz-Target`).
pub(crate) async fn logs(state: &ApiState, req: Request<Body>) -> Response<Body> {
    let query = Query::parse(req.uri().query());
    let scope = crate::auth::scope(req.extensions(), req.headers(), &query, &state.default_region);
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let answer = if req.method() != Method::POST {
        logs_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "CloudWatch Logs requests are POSTs to /.",
        )
    } else {
        match axum::body::to_bytes(req.into_body(), logs::REQUEST_BYTES_MAX).await {
            Ok(body) => {
                let r = state.engine.logs().handle(scope.account.as_str(), scope.region.as_str(), &target, &body).await;
                let mut out = Response::new(Body::from(r.body));
                *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if let Some(t) = r.error_type.and_then(|t| HeaderValue::from_str(&t).ok()) {
                    out.headers_mut().insert("x-amzn-ErrorType", t);
                }
                out
            }
            Err(_) => logs_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "InvalidParameterException",
                &format!("The request body is larger than {} bytes.", logs::REQUEST_BYTES_MAX),
            ),
        }
    };
    let mut answer = answer;
    answer.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(logs::Response::CONTENT_TYPE));
    answer
}

/// The protocol of a CloudWatch request and whether it is in query mode (`x-amzn-query-mode`),
/// known before its body is read (authentication refusals take its shape).
pub(crate) fn cloudwatch_protocol(req: &Request<Body>) -> (cloudwatch::Protocol, bool) {
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok());
    let query_mode = req.headers().get("x-amzn-query-mode").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    (cloudwatch::Protocol::of(req.uri().path(), target), query_mode)
}

/// Serves one CloudWatch request (`cloudwatch::CloudWatch::handle`).
pub(crate) async fn cloudwatch(state: &ApiState, req: Request<Body>, request_id: &str) -> Response<Body> {
    let (protocol, query_mode) = cloudwatch_protocol(&req);
    let Some(service) = state.cloudwatch.clone() else {
        let e = cloudwatch::Error::new("InternalServiceError", "CloudWatch is not available on this server.");
        return into_http(cloudwatch::error_response(protocol, query_mode, &e, request_id));
    };
    let query = Query::parse(req.uri().query());
    let scope = crate::auth::scope(req.extensions(), req.headers(), &query, &state.default_region);
    let (gzip, method, path, target) = {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let gzip =
            header("content-encoding").is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("gzip")));
        (gzip, req.method().as_str().to_owned(), req.uri().path().to_owned(), header("x-amz-target"))
    };
    let body = match axum::body::to_bytes(req.into_body(), cloudwatch::REQUEST_BYTES_MAX).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            let e = cloudwatch::wire::too_large();
            return into_http(cloudwatch::error_response(protocol, query_mode, &e, request_id));
        }
    };
    let ctx = cloudwatch::Context {
        account: scope.account.as_str().to_owned(),
        region: scope.region.as_str().to_owned(),
        request_id: request_id.to_owned(),
    };
    let request = cloudwatch::Request { method, path, target, query_mode, gzip, body };
    into_http(service.handle(&ctx, request).await)
}

/// Serves one CodeDeploy request (`codedeploy::CodeDeploy::handle`).
pub(crate) async fn codedeploy(state: &ApiState, req: Request<Body>) -> Response<Body> {
    let json = |r: codedeploy::Response| {
        let mut out = Response::new(Body::from(r.body));
        *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        out.headers_mut().insert("content-type", HeaderValue::from_static(codedeploy::Response::CONTENT_TYPE));
        out
    };
    let Some(service) = state.codedeploy.clone() else {
        let e = codedeploy::Error::new("InternalFailure", "CodeDeploy is not available on this server.");
        return json(codedeploy::Response::error(&e));
    };
    let query = Query::parse(req.uri().query());
    let scope = crate::auth::scope(req.extensions(), req.headers(), &query, &state.default_region);
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match axum::body::to_bytes(req.into_body(), codedeploy::REQUEST_BYTES_MAX).await {
        Ok(b) => b,
        Err(_) => {
            let e = codedeploy::Error::new("InvalidInputException", "The request body is too large.");
            return json(codedeploy::Response::error(&e));
        }
    };
    json(service.handle(&scope, target.as_deref(), &body).await)
}

/// Serves one DynamoDB or DynamoDB Streams request (JSON 1.0: `POST /` with `X-Amz-Target`).
pub(crate) async fn dynamodb(state: &ApiState, req: Request<Body>) -> Response<Body> {
    let json = dynamodb_answer;
    let Some(service) = state.dynamodb.clone() else {
        let type_ = "com.amazonaws.dynamodb.v20120810#InternalServerError";
        return json(dynamodb::Response::error(500, type_, "DynamoDB is not available on this server."));
    };
    let query = Query::parse(req.uri().query());
    let scope = crate::auth::scope(req.extensions(), req.headers(), &query, &state.default_region);
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match axum::body::to_bytes(req.into_body(), dynamodb::REQUEST_BYTES_MAX).await {
        Ok(b) => b,
        Err(_) => {
            let type_ = "com.amazon.coral.service#SerializationException";
            return json(dynamodb::Response::error(413, type_, "Request body too large."));
        }
    };
    json(service.handle(scope.account.as_str(), scope.region.as_str(), target.as_deref(), &body).await)
}

/// Renders a DynamoDB answer: one made here gets `content-type` and `x-amz-crc32` (CRC32 of
/// the body, as DynamoDB sends); the home node's answer (several nodes) keeps its own headers,
/// `x-amzn-RequestId` included (`serve` then adds none).
pub(crate) fn dynamodb_answer(r: dynamodb::Response) -> Response<Body> {
    let crc = (r.headers.is_empty()).then(|| crc32fast::hash(r.body.as_bytes()));
    let mut out = Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = out.headers_mut();
    match crc {
        Some(crc) => {
            h.insert("content-type", HeaderValue::from_static(dynamodb::Response::CONTENT_TYPE));
            h.insert("x-amz-crc32", HeaderValue::from(crc));
        }
        None => {
            for (name, value) in r.headers {
                if let (Ok(n), Ok(v)) =
                    (axum::http::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
                {
                    h.insert(n, v);
                }
            }
        }
    }
    out
}

/// Serves one EventBridge request (`eventbridge::EventBridge::handle`).
pub(crate) async fn eventbridge(state: &ApiState, req: Request<Body>) -> Response<Body> {
    let json = |r: eventbridge::Response| {
        let mut out = Response::new(Body::from(r.body));
        *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        out.headers_mut().insert("content-type", HeaderValue::from_static(eventbridge::Response::CONTENT_TYPE));
        out
    };
    let Some(service) = state.eventbridge.clone() else {
        let e = eventbridge::Error::new("InternalException", "EventBridge is not available on this server.");
        return json(eventbridge::Response::error(&e));
    };
    let query = Query::parse(req.uri().query());
    let scope = crate::auth::scope(req.extensions(), req.headers(), &query, &state.default_region);
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match axum::body::to_bytes(req.into_body(), eventbridge::REQUEST_BYTES_MAX).await {
        Ok(b) => b,
        Err(_) => {
            let e = eventbridge::Error::new(
                "ValidationException",
                "Total size of the entries in the request is over the limit.",
            );
            return json(eventbridge::Response::error(&e));
        }
    };
    json(service.handle(&scope, target.as_deref(), &body).await)
}

/// Serves one EventBridge Scheduler request (`scheduler::Scheduler::handle`).
pub(crate) async fn scheduler(state: &ApiState, req: Request<Body>) -> Response<Body> {
    let json = |r: scheduler::Response| {
        let mut out = Response::new(Body::from(r.body));
        *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        out.headers_mut().insert("content-type", HeaderValue::from_static(scheduler::Response::CONTENT_TYPE));
        if let Some(t) = r.error_type {
            out.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(t));
        }
        out
    };
    let Some(service) = state.scheduler.clone() else {
        let e = scheduler::Error {
            status: 500,
            code: "InternalServerException",
            message: "EventBridge Scheduler is not available on this server.".to_owned(),
        };
        return json(scheduler::Response::error(&e));
    };
    let query = Query::parse(req.uri().query());
    let scope = crate::auth::scope(req.extensions(), req.headers(), &query, &state.default_region);
    let (method, path, raw_query) =
        (req.method().as_str().to_owned(), req.uri().path().to_owned(), req.uri().query().map(str::to_owned));
    let body = match axum::body::to_bytes(req.into_body(), scheduler::REQUEST_BYTES_MAX).await {
        Ok(b) => b,
        Err(_) => {
            let e = scheduler::Error {
                status: 400,
                code: "ValidationException",
                message: "The request body is too large.".to_owned(),
            };
            return json(scheduler::Response::error(&e));
        }
    };
    json(service.handle(&scope, &method, &path, raw_query.as_deref(), &body).await)
}

/// Serves one SQS request (`sqs::Sqs::handle`).
/// An SQS answer as HTTP.
pub(crate) fn sqs_http(r: sqs::Response) -> Response<Body> {
    let mut out = Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    out.headers_mut().insert("content-type", HeaderValue::from_static(sqs::Response::CONTENT_TYPE));
    for (name, value) in r.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.headers_mut().insert(name, v);
        }
    }
    out
}

pub(crate) async fn sqs(state: &ApiState, req: Request<Body>) -> Response<Body> {
    let render = sqs_http;
    let Some(service) = state.sqs.clone() else {
        return render(sqs::Response::error(&sqs::Error::invalid_parameter("SQS is not available on this server.")));
    };
    let query = Query::parse(req.uri().query());
    let scope = crate::auth::scope(req.extensions(), req.headers(), &query, &state.default_region);
    let (target, host) = {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        (header("x-amz-target"), header("host").unwrap_or_else(|| state.listen.to_string()))
    };
    // SenderId: AWS reports the account id for the account's own (root) credentials, which is
    // what every Versa access key is (there are no IAM users or roles).
    let sender_id = scope.account.as_str().to_owned();
    let ctx = sqs::Context {
        account: scope.account.as_str().to_owned(),
        region: scope.region.as_str().to_owned(),
        host,
        scheme: crate::scheme(req.extensions()),
        sender_id,
    };
    let body = match axum::body::to_bytes(req.into_body(), sqs::REQUEST_BYTES_MAX).await {
        Ok(b) => b,
        Err(_) => {
            let e = sqs::Error::invalid_parameter(format!(
                "The request body is larger than {} bytes.",
                sqs::REQUEST_BYTES_MAX
            ));
            return render(sqs::Response::error(&e));
        }
    };
    render(service.handle(&ctx, target.as_deref(), &body).await)
}

/// A CloudWatch answer as an HTTP response.
pub(crate) fn into_http(r: cloudwatch::Response) -> Response<Body> {
    let mut out = Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in r.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.headers_mut().insert(name, v);
        }
    }
    out
}

fn logs_error(status: StatusCode, code: &'static str, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(json!({ "__type": code, "message": message }).to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(service: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!(
            "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=abc"
        );
        h.insert("authorization", v.parse().unwrap());
        h
    }

    #[test]
    fn the_credential_scope_names_the_service() {
        let q = Query::default();
        assert_eq!(Service::of(&signed("lambda"), "/", &q), Service::Lambda);
        assert_eq!(Service::of(&signed("logs"), "/", &q), Service::Logs);
        assert_eq!(Service::of(&signed("kinesis"), "/", &q), Service::Unknown("kinesis".into()));
        assert_eq!(Service::of(&signed("monitoring"), "/", &q), Service::CloudWatch);
        assert_eq!(Service::of(&signed("dynamodb"), "/", &q), Service::DynamoDb);
        assert_eq!(Service::of(&signed("codedeploy"), "/", &q), Service::CodeDeploy);
        assert_eq!(Service::of(&signed("events"), "/", &q), Service::EventBridge);
        assert_eq!(Service::of(&signed("scheduler"), "/schedules/s", &q), Service::Scheduler);
        assert_eq!(Service::of(&signed("sqs"), "/", &q), Service::Sqs);
        let cbor = "/service/GraniteServiceVersion20100801/operation/ListMetrics";
        assert_eq!(Service::of(&signed("monitoring"), cbor, &q), Service::CloudWatch);
        assert_eq!(Service::of(&signed("s3"), cbor, &q), Service::S3 { bucket_from_host: None });
        let q = Query::parse(Some("X-Amz-Credential=test%2F20240101%2Fus-east-1%2Flogs%2Faws4_request"));
        assert_eq!(Service::of(&HeaderMap::new(), "/", &q), Service::Logs);
    }

    #[test]
    fn unsigned_requests_are_recognised_by_shape() {
        let q = Query::default();
        assert_eq!(Service::of(&HeaderMap::new(), "/2015-03-31/functions", &q), Service::Lambda);
        assert_eq!(Service::of(&HeaderMap::new(), "/_versa/health", &q), Service::Lambda);
        assert_eq!(Service::of(&HeaderMap::new(), "/", &q), Service::S3 { bucket_from_host: None });
        assert_eq!(Service::of(&HeaderMap::new(), "/bucket/key", &q), Service::S3 { bucket_from_host: None });
        let mut h = HeaderMap::new();
        h.insert("host", "photos.s3.localhost:4566".parse().unwrap());
        assert_eq!(Service::of(&h, "/2015-03-31/x", &q), Service::S3 { bucket_from_host: Some("photos".into()) });
        assert_eq!(Service::of(&signed("s3"), "/b", &q), Service::S3 { bucket_from_host: None });
        let mut h = HeaderMap::new();
        h.insert("x-amz-target", "Logs_20140328.DescribeLogGroups".parse().unwrap());
        assert_eq!(Service::of(&h, "/", &q), Service::Logs);
        let mut h = HeaderMap::new();
        h.insert("x-amz-target", "CodeDeploy_20141006.ListApplications".parse().unwrap());
        assert_eq!(Service::of(&h, "/", &q), Service::CodeDeploy);
        for target in ["DynamoDB_20120810.ListTables", "DynamoDBStreams_20120810.ListStreams"] {
            let mut h = HeaderMap::new();
            h.insert("x-amz-target", target.parse().unwrap());
            assert_eq!(Service::of(&h, "/", &q), Service::DynamoDb, "{target}");
        }
        h.insert("x-amz-target", "AmazonSQS.ListQueues".parse().unwrap());
        assert_eq!(Service::of(&h, "/", &q), Service::Sqs);
        let mut h = HeaderMap::new();
        h.insert("x-amz-target", "AWSEvents.ListRules".parse().unwrap());
        assert_eq!(Service::of(&h, "/", &q), Service::EventBridge);
        // Scheduler is recognised only by its signature: unsigned, its paths are S3's.
        assert_eq!(Service::of(&HeaderMap::new(), "/schedules/s", &q), Service::S3 { bucket_from_host: None });
        let mut h = HeaderMap::new();
        h.insert("x-amz-target", "GraniteServiceVersion20100801.ListMetrics".parse().unwrap());
        assert_eq!(Service::of(&h, "/", &q), Service::CloudWatch);
        // The CBOR path is CloudWatch's with the Smithy header, S3 path-style without.
        let cbor = "/service/GraniteServiceVersion20100801/operation/ListMetrics";
        let mut h = HeaderMap::new();
        h.insert("smithy-protocol", "rpc-v2-cbor".parse().unwrap());
        assert_eq!(Service::of(&h, cbor, &q), Service::CloudWatch);
        assert_eq!(Service::of(&HeaderMap::new(), cbor, &q), Service::S3 { bucket_from_host: None });
        let id = "0123456789abcdef0123456789abcdef";
        let mut h = signed("lambda");
        h.insert("host", format!("{id}.lambda-url.us-east-1.localhost:4566").parse().unwrap());
        assert_eq!(
            Service::of(&h, "/x", &q),
            Service::FunctionUrl { url_id: id.into(), region: Some("us-east-1".into()), path: "/x".into() }
        );
        assert_eq!(
            Service::of(&HeaderMap::new(), &format!("/_versa/url/{id}/y"), &q),
            Service::FunctionUrl { url_id: id.into(), region: None, path: "/y".into() }
        );
    }

    #[test]
    fn api_gateway_is_split_from_execute_api() {
        let q = Query::default();
        // The control planes: signed `apigateway` (v1 and v2 alike), or unsigned by path.
        assert_eq!(Service::of(&signed("apigateway"), "/restapis", &q), Service::ApiGateway);
        assert_eq!(Service::of(&signed("apigateway"), "/v2/apis", &q), Service::ApiGateway);
        assert_eq!(Service::of(&HeaderMap::new(), "/restapis/abc/stages", &q), Service::ApiGateway);
        assert_eq!(Service::of(&HeaderMap::new(), "/v2/apis", &q), Service::ApiGateway);
        assert_eq!(Service::of(&HeaderMap::new(), "/restapisx", &q), Service::S3 { bucket_from_host: None });
        // Execute-api by host or path comes before any signature.
        let mut h = signed("lambda");
        h.insert("host", "a1b2c3.execute-api.us-east-1.localhost:4566".parse().unwrap());
        assert_eq!(
            Service::of(&h, "/dev/x", &q),
            Service::ExecuteApi { api_id: "a1b2c3".into(), path: "/dev/x".into(), path_form: false }
        );
        assert_eq!(
            Service::of(&HeaderMap::new(), "/_aws/execute-api/a1b2c3/prod/items/7", &q),
            Service::ExecuteApi { api_id: "a1b2c3".into(), path: "/prod/items/7".into(), path_form: true }
        );
    }
}
