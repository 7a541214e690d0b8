//! Serving API Gateway APIs (reference §4): `http://<api-id>.execute-api.<anything>[:port]/…`
//! by Host, or `/_aws/execute-api/<api-id>/…` (LocalStack's path form; also
//! `/_versa/execute-api/<api-id>/…`) for clients that cannot resolve `*.localhost`.
//!
//! A request flows: find the API by its id; `apigateway::exec::select` picks the stage, the
//! route and the integration (REST: 403 `Missing Authentication Token`; HTTP: 404); the
//! integration URI is rendered with the stage's variables **now**; the qualifier it names must
//! let `apigateway.amazonaws.com` invoke with this request's SourceArn (or the integration
//! carries a credentials role); then the same resolution as Invoke (`Control::resolve_invoke`,
//! the weighted alias draw) and the engine, under the integration's timeout. Nothing stores a
//! version: a promotion (UpdateAlias) is seen by the next request. Kept in `api`, like
//! `function_urls`, because it needs the invocation path (`invocations::run`) and HTTP; the
//! pure parts (matching, events, answers) live in the `apigateway` crate.

use apigateway::exec::{self, Answer, HttpRequest, Kind, Miss};
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use model::policy::{ACTION_INVOKE, Caller, CallerPrincipal};
use model::scope::{AccountId, Region, Scope};

use crate::ApiState;
use crate::error::ApiError;
use crate::verify::AuthMode;

const PATH_PREFIXES: [&str; 2] = ["/_aws/execute-api/", "/_versa/execute-api/"];
/// Most throttling buckets kept (one per API, stage and resource with limits set); beyond it
/// they all start again full.
pub(crate) const THROTTLE_BUCKETS_MAX: usize = 10_000;

/// Token buckets of the stages (and routes) that set throttling limits.
#[derive(Debug, Default)]
pub struct Throttles(std::sync::Mutex<std::collections::HashMap<BucketKey, Bucket>>);

/// (api id, stage, `resource-or-route METHOD`).
type BucketKey = (String, String, String);
/// (tokens, last refill).
type Bucket = (f64, std::time::Instant);

impl Throttles {
    /// Takes one token of the bucket `key` (rate per second, burst); false when empty.
    fn take(&self, key: BucketKey, rate: f64, burst: u64) -> bool {
        let now = std::time::Instant::now();
        let mut buckets = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= THROTTLE_BUCKETS_MAX && !buckets.contains_key(&key) {
            buckets.clear();
        }
        let burst = burst as f64;
        let (tokens, last) = buckets.entry(key).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate.max(0.0)).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
/// The principal API Gateway invokes as.
const PRINCIPAL: &str = "apigateway.amazonaws.com";

fn is_api_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `<api-id>.execute-api.<anything>[:port]` → api id (lower-cased).
pub(crate) fn from_host(host: &str) -> Option<String> {
    let (id, rest) = host.split_once(".execute-api.")?;
    (is_api_id(id) && !rest.is_empty()).then(|| id.to_ascii_lowercase())
}

/// `/_aws/execute-api/<api-id>[/rest]` → (api id, `/rest`).
pub(crate) fn from_path(path: &str) -> Option<(String, String)> {
    let rest = PATH_PREFIXES.iter().find_map(|p| path.strip_prefix(p))?;
    let (id, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    is_api_id(id).then(|| (id.to_ascii_lowercase(), tail))
}

/// `corsConfiguration` (lowerCamel members) as the function URLs' CORS settings.
fn cors_of(v: serde_json::Value) -> model::policy::Cors {
    let list = |name: &str| {
        v.get(name).and_then(|l| l.as_array()).map(|l| l.iter().filter_map(|x| x.as_str()).map(str::to_owned).collect())
    };
    model::policy::Cors {
        allow_credentials: v.get("allowCredentials").and_then(serde_json::Value::as_bool),
        allow_headers: list("allowHeaders"),
        allow_methods: list("allowMethods"),
        allow_origins: list("allowOrigins"),
        expose_headers: list("exposeHeaders"),
        max_age: v.get("maxAge").and_then(serde_json::Value::as_i64),
    }
}

/// A uniform draw in [0, 1) from the system's randomness (as the request id's).
fn canary_draw() -> f64 {
    let b = uuid::Uuid::new_v4().into_bytes();
    // Bytes 6 and 8 carry the version and variant bits; the others are random.
    let n = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[9], b[10]]) >> 11;
    n as f64 / (1u64 << 53) as f64
}

/// The request's trace header: the client's, else a new one (API Gateway adds one to a
/// request that has none, and keeps the client's).
fn trace_id_of(headers: &axum::http::HeaderMap) -> String {
    let sent = headers.get("x-amzn-trace-id").and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty());
    if let Some(sent) = sent {
        return sent.to_owned();
    }
    let b = uuid::Uuid::new_v4().into_bytes();
    // Bytes 6 and 8 carry the version and variant bits; the other 14 are random.
    let random = [b[0], b[1], b[2], b[3], b[4], b[5], b[7], b[9], b[10], b[11], b[12], b[13]];
    exec::trace_id(stdx::time::now_ms().max(0) as u64 / 1000, random)
}

fn into_http(a: Answer) -> Response<Body> {
    let mut r = Response::new(Body::from(a.body));
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in a.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(&v)) {
            r.headers_mut().append(name, value);
        }
    }
    r
}

/// Serves one execute-api request.
pub(crate) async fn serve(
    state: &ApiState,
    req: Request<Body>,
    api_id: &str,
    path: String,
    request_id: &str,
) -> Response<Body> {
    // An HTTP API with CORS settings answers preflights itself and adds the headers to answers.
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let cors = match (&origin, state.apigateway.as_ref()) {
        (Some(_), Some(gw)) => {
            gw.lookup(api_id).await.ok().flatten().and_then(|row| exec::http_cors(&row)).map(cors_of)
        }
        _ => None,
    };
    if let (Some(cors), Some(origin)) = (&cors, &origin)
        && req.method() == axum::http::Method::OPTIONS
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut r = crate::function_urls::preflight(cors, origin, req.headers());
        *r.status_mut() = StatusCode::NO_CONTENT;
        return r;
    }
    let (kind, answer) = serve_inner(state, req, api_id, path, request_id).await;
    let mut response = into_http(answer);
    if let (Some(cors), Some(origin)) = (&cors, &origin) {
        crate::function_urls::add_cors(response.headers_mut(), cors, origin);
    }
    if let (Some(Kind::Http), Ok(v)) = (kind, HeaderValue::from_str(request_id)) {
        response.headers_mut().insert("apigw-requestid", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amz-apigw-id", v);
    }
    response
}

async fn serve_inner(
    state: &ApiState,
    req: Request<Body>,
    api_id: &str,
    path: String,
    request_id: &str,
) -> (Option<Kind>, Answer) {
    let Some(gw) = state.apigateway.as_ref() else { return (None, Answer::rest_forbidden()) };
    let row = match gw.lookup(api_id).await {
        Ok(Some(row)) => row,
        // An unknown API: AWS has no such host (LocalStack answers 404 JSON).
        Ok(None) => return (None, Answer::rest_forbidden()),
        Err(e) => {
            tracing::warn!(api_id, error = %e, "execute-api lookup failed");
            return (None, Answer::rest_internal());
        }
    };
    let kind = if row.kind == "rest" { Kind::Rest } else { Kind::Http };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let source_ip = crate::source_ip(&req);
    let trace_id = trace_id_of(req.headers());
    // What the signature covers, as received (the path form's prefix included).
    let raw_path = req.uri().path().to_owned();
    let http_method = req.method().clone();
    let raw_headers = req.headers().clone();
    let method = req.method().as_str().to_owned();
    let raw_query = req.uri().query().unwrap_or_default().to_owned();
    let body = match axum::body::to_bytes(req.into_body(), apigateway::INVOKE_BODY_BYTES_MAX).await {
        Ok(b) => b.to_vec(),
        Err(_) => return (Some(kind), Answer::too_large(kind)),
    };
    let mut request = HttpRequest {
        method: method.clone(),
        path,
        raw_query,
        headers,
        body,
        source_ip,
        host,
        request_id: request_id.to_owned(),
        trace_id,
        canary_draw: canary_draw(),
        iam: None,
    };
    let m = match exec::select(&row, &request) {
        Ok(m) => m,
        Err(Miss::RestNoRoute) => return (Some(kind), Answer::rest_missing_token()),
        Err(Miss::RestNoStage) => return (Some(kind), Answer::rest_forbidden()),
        Err(Miss::HttpNotFound) => return (Some(kind), Answer::http_not_found()),
        Err(Miss::Disabled) => return (Some(kind), Answer::forbidden(kind)),
        Err(Miss::Corrupt) => return (Some(kind), Answer::internal(kind)),
    };
    // AWS_IAM: authenticated before the request counts against any throttle.
    if m.authorization_type == "AWS_IAM" {
        let signed = request.headers.iter().any(|(k, v)| k == "authorization" && v.starts_with("AWS4-HMAC-SHA256"));
        match state.auth {
            // `--auth off` (and `warn`, which logs at the service endpoints): a signature must be
            // present; it is not verified.
            AuthMode::Off | AuthMode::Warn if !signed => return (Some(kind), Answer::rest_missing_token()),
            AuthMode::Off | AuthMode::Warn => {}
            AuthMode::Sigv4 => {
                let parts = sigv4::RequestParts {
                    method: &http_method,
                    raw_path: &raw_path,
                    raw_query: (!request.raw_query.is_empty()).then_some(request.raw_query.as_str()),
                    headers: &raw_headers,
                };
                crate::verify::prefetch(state, &parts).await;
                match crate::verify::execute_api(state, &parts, &request.body) {
                    Ok(caller) => {
                        request.iam = Some(exec::IamCaller {
                            access_key_id: caller.access_key_id,
                            account: caller.account.to_string(),
                            root: caller.root,
                        });
                    }
                    Err(refusal) => {
                        tracing::info!(api = %m.api_id, stage = %m.stage, refusal = %refusal.summary(), "execute-api: AWS_IAM refused");
                        return (Some(kind), refused(&refusal));
                    }
                }
            }
        }
    }
    if let Some((rate, burst)) = m.throttle {
        let key = (m.api_id.clone(), m.stage.clone(), format!("{} {}", m.resource_path, method));
        if !state.apigw_throttles.take(key, rate, burst) {
            return (Some(kind), Answer::too_many_requests());
        }
    }
    (Some(kind), invoke(state, &m, &request, accept.as_deref()).await)
}

/// An `AWS_IAM` refusal as API Gateway answers it: 403 `{"message": …}` and `x-amzn-ErrorType`.
fn refused(refusal: &crate::verify::Refusal) -> Answer {
    if matches!(refusal, crate::verify::Refusal::Missing) {
        return Answer::rest_missing_token();
    }
    let (status, code, message) = refusal.execute_api();
    Answer {
        status,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-amzn-ErrorType".to_owned(), code.to_owned()),
        ],
        body: serde_json::json!({ "message": message }).to_string().into_bytes(),
    }
}

async fn invoke(state: &ApiState, m: &exec::Matched, request: &HttpRequest, accept: Option<&str>) -> Answer {
    let fail = |why: &str| {
        tracing::info!(api = %m.api_id, stage = %m.stage, why, "execute-api: configuration error");
        Answer::internal(m.kind)
    };
    if m.integration_type != "AWS_PROXY" {
        return fail("only AWS_PROXY integrations are served");
    }
    if m.kind == Kind::Rest && m.integration_method.as_deref() != Some("POST") {
        return fail("a Lambda proxy integration's httpMethod must be POST");
    }
    let Some(uri) = m.uri.as_deref() else { return fail("integration without uri") };
    let rendered = exec::render(uri, &m.variables);
    let Some(target) = exec::lambda_arn_of(&rendered).and_then(exec::lambda_target) else {
        return fail("the integration URI does not name a Lambda function");
    };
    let (Some(account), Some(region)) = (AccountId::parse(&target.account), Region::parse(&target.region)) else {
        return fail("invalid account or region in the function ARN");
    };
    let scope = Scope { account, region };
    let qualifier = target.qualifier.as_deref();
    // A credentials role stands for IAM, which Versa does not model: present means allowed.
    let credentials = m.credentials.as_deref().map(|c| exec::render(c, &m.variables)).filter(|c| !c.is_empty());
    if credentials.is_none() {
        let caller = Caller {
            principal: CallerPrincipal::Service(PRINCIPAL.to_owned()),
            action: ACTION_INVOKE,
            source_account: Some(m.account.clone()),
            source_arn: Some(exec::source_arn(m, &request.method)),
            function_url_auth_type: None,
        };
        if !state.control.authorize(&scope, &target.function, qualifier, &caller).await.unwrap_or(false) {
            return fail("Invalid permissions on Lambda function");
        }
    }
    let resolved = match state.control.resolve_invoke(&scope, &target.function, qualifier).await {
        Ok(t) => t,
        Err(_) => return fail("the function or alias does not exist"),
    };
    let now = stdx::time::now_ms();
    let event =
        if m.payload_format == "2.0" { exec::event_v2(m, request, now) } else { exec::event_v1(m, request, now) };
    let payload = event.to_string();
    if payload.len() > crate::invocations::INVOKE_REQUEST_BYTES_MAX {
        // Lambda's own limit on the event (the body with the rest of the request, base64 for binary).
        return Answer::too_large(m.kind);
    }
    let invocation = invoke::Request {
        request_id: request.request_id.clone(),
        payload: bytes::Bytes::from(payload),
        client_context: None,
        log_tail: false,
    };
    let timeout = std::time::Duration::from_millis(m.timeout_ms);
    // The invocation runs in a task of its own: a timeout here stops waiting, not the function.
    match tokio::time::timeout(timeout, crate::invocations::run(state, &scope, resolved, invocation)).await {
        Err(_) => match m.kind {
            Kind::Rest => Answer::rest_timeout(),
            Kind::Http => Answer::http_timeout(),
        },
        Ok(Ok(r)) if r.function_error => match m.kind {
            Kind::Rest => Answer::rest_bad_gateway(),
            Kind::Http => Answer::http_internal(),
        },
        Ok(Ok(r)) => exec::map_answer(m, &r.payload, accept, &request.trace_id),
        Ok(Err(ApiError::TooManyRequests { .. })) => fail("throttled"),
        Ok(Err(e)) => {
            tracing::warn!(api = %m.api_id, error = ?e, "execute-api invocation failed");
            Answer::internal(m.kind)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_api_hosts_and_paths() {
        assert_eq!(from_host("abc123.execute-api.localhost:4566"), Some("abc123".into()));
        assert_eq!(from_host("ABC123.execute-api.us-east-1.localhost"), Some("abc123".into()));
        assert_eq!(from_host("abc.execute-api.localhost.localstack.cloud:4566"), Some("abc".into()));
        assert_eq!(from_host("localhost:4566"), None);
        assert_eq!(from_path("/_aws/execute-api/abc/dev/x"), Some(("abc".into(), "/dev/x".into())));
        assert_eq!(from_path("/_versa/execute-api/abc"), Some(("abc".into(), "/".into())));
        assert_eq!(from_path("/_aws/execute-api/a.b/x"), None);
    }
}
