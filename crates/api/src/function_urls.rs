//! Serving function URLs (reference §10): `http://<url-id>.lambda-url.<region>.localhost:<port>/…`,
//! or `/_versa/url/<url-id>/…` for clients that cannot set the Host header.
//!
//! A request flows: find the URL by its id; answer a CORS preflight if the URL has CORS
//! settings; authorize (AuthType `NONE`: the URL's policy must let anyone invoke through it;
//! `AWS_IAM`: a signed request of the function's account, or one the policy admits); build the
//! payload-format-2.0 event; invoke the version the URL's alias points to now; map the answer
//! back to HTTP (§10.3).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use base64::Engine as _;
use model::policy::{ACTION_INVOKE_URL, Caller, CallerPrincipal, Cors, UrlAuthType};
use model::scope::Scope;
use serde_json::{Map, Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::invocations::INVOKE_REQUEST_BYTES_MAX;
use crate::query::{Query, percent_decode};

/// The path prefix of the path form.
pub(crate) const PATH_PREFIX: &str = "/_versa/url/";
const FORBIDDEN: &str = "Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html";

/// `<url-id>.lambda-url.<region>.localhost[:port]` → (url id, region).
pub(crate) fn from_host(host: &str) -> Option<(String, String)> {
    let host = host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
    let (id, rest) = host.split_once(".lambda-url.")?;
    let region = rest.strip_suffix(".localhost")?;
    (is_url_id(id) && !region.is_empty()).then(|| (id.to_owned(), region.to_owned()))
}

/// `/_versa/url/<url-id>[/rest]` → (url id, `/rest`).
pub(crate) fn from_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix(PATH_PREFIX)?;
    let (id, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    is_url_id(id).then(|| (id.to_owned(), tail))
}

fn is_url_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn error(status: StatusCode, code: &'static str, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(json!({ "Message": message }).to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    r
}

pub(crate) fn forbidden() -> Response<Body> {
    error(StatusCode::FORBIDDEN, "AccessDeniedException", FORBIDDEN)
}

/// Serves one request to a function URL.
pub(crate) async fn serve(
    state: &ApiState,
    req: Request<Body>,
    url_id: &str,
    host_region: Option<&str>,
    raw_path: String,
    request_id: &str,
) -> Response<Body> {
    let target = match state.control.url_target(url_id).await {
        Ok(Some(t)) if host_region.is_none_or(|r| r == t.scope.region.as_str()) => t,
        Ok(_) => return error(StatusCode::NOT_FOUND, "ResourceNotFoundException", "The function URL does not exist."),
        Err(e) => return ApiError::Control(e).into_response(),
    };
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(cors) = &target.url.cors
        && req.method() == Method::OPTIONS
        && origin.is_some()
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(cors, origin.as_deref().unwrap_or_default(), req.headers());
    }

    let query = Query::parse(req.uri().query());
    let auth_type = target.url.auth_type;
    let credential = crate::auth::credential(req.headers(), &query);
    let caller_account = crate::auth::caller(&req).map(|c| c.account);
    let qualifier = (target.qualifier != model::name::Version::LATEST).then_some(target.qualifier.as_str());
    let allowed = match (auth_type, &caller_account) {
        (UrlAuthType::AwsIam, None) => false,
        // The function's own account: its identity policies are not modelled; signed is enough.
        (UrlAuthType::AwsIam, Some(a)) if *a == target.scope.account => true,
        (UrlAuthType::AwsIam, Some(a)) => {
            authorized(state, &target, qualifier, CallerPrincipal::Account(a.as_str().to_owned()), "AWS_IAM").await
        }
        (UrlAuthType::None, _) => authorized(state, &target, qualifier, CallerPrincipal::Anonymous, "NONE").await,
    };
    if !allowed {
        return forbidden();
    }

    let method = req.method().clone();
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let source_ip = crate::source_ip(&req);
    let scheme = crate::scheme(req.extensions());
    let raw_query = req.uri().query().unwrap_or_default().to_owned();
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), INVOKE_REQUEST_BYTES_MAX).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                &format!(
                    "Request must be smaller than {INVOKE_REQUEST_BYTES_MAX} bytes for the InvokeFunction operation"
                ),
            );
        }
    };
    let event = Event {
        url_id,
        region: target.scope.region.as_str(),
        host: &host,
        method: &method,
        raw_path: &raw_path,
        raw_query: &raw_query,
        headers: &headers,
        body: &body,
        source_ip: &source_ip,
        scheme,
        request_id,
        caller_account: match auth_type {
            UrlAuthType::AwsIam => caller_account.as_ref().map(|a| a.as_str().to_owned()),
            UrlAuthType::None => None,
        },
        access_key: credential.as_ref().map(|c| c.access_key_id.clone()),
    }
    .to_json();

    let scope: Scope = target.scope.clone();
    let resolved = match state.control.resolve_invoke(&scope, &target.function_name, qualifier).await {
        Ok(t) => t,
        // The function or alias went away after the URL was found.
        Err(_) => return error(StatusCode::NOT_FOUND, "ResourceNotFoundException", "The function URL does not exist."),
    };
    let request = invoke::Request {
        request_id: request_id.to_owned(),
        payload: bytes::Bytes::from(event.to_string()),
        client_context: None,
        log_tail: false,
    };
    let mut response = match crate::invocations::run(state, &scope, resolved, request).await {
        Ok(r) if r.function_error => internal_error(),
        Ok(r) => map_response(&r.payload),
        Err(ApiError::TooManyRequests { .. }) => {
            error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded.")
        }
        Err(e) => {
            tracing::warn!(url_id, error = ?e, "function URL invocation failed");
            internal_error()
        }
    };
    if let (Some(cors), Some(origin)) = (&target.url.cors, origin) {
        add_cors(response.headers_mut(), cors, &origin);
    }
    response
}

async fn authorized(
    state: &ApiState,
    target: &control::UrlTarget,
    qualifier: Option<&str>,
    principal: CallerPrincipal,
    auth_type: &'static str,
) -> bool {
    let caller = Caller {
        principal,
        action: ACTION_INVOKE_URL,
        source_account: None,
        source_arn: None,
        function_url_auth_type: Some(auth_type),
    };
    state.control.authorize(&target.scope, &target.function_name, qualifier, &caller).await.unwrap_or(false)
}

/// A function error through a URL: 502 with a plain body, as Lambda answers.
fn internal_error() -> Response<Body> {
    let mut r = Response::new(Body::from("Internal Server Error"));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Whether `origin` is allowed; the value of `Access-Control-Allow-Origin` if so.
fn allowed_origin(cors: &Cors, origin: &str) -> Option<String> {
    let origins = cors.allow_origins.as_deref().unwrap_or_default();
    if origins.iter().any(|o| o == origin) {
        Some(origin.to_owned())
    } else if origins.iter().any(|o| o == "*") {
        Some(if cors.allow_credentials == Some(true) { origin.to_owned() } else { "*".to_owned() })
    } else {
        None
    }
}

/// Lambda answers a CORS preflight itself when the URL has CORS settings.
pub(crate) fn preflight(cors: &Cors, origin: &str, headers: &HeaderMap) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::OK;
    let Some(allow) = allowed_origin(cors, origin) else { return r };
    let requested = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD).and_then(|v| v.to_str().ok()).unwrap_or("");
    let methods = cors.allow_methods.as_deref().unwrap_or_default();
    if !methods.iter().any(|m| m == "*" || m.eq_ignore_ascii_case(requested)) {
        return r;
    }
    let h = r.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    set(header::ACCESS_CONTROL_ALLOW_METHODS, methods.join(","));
    if let Some(allow_headers) = &cors.allow_headers {
        set(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers.join(","));
    }
    if cors.allow_credentials == Some(true) {
        set(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".to_owned());
    }
    if let Some(age) = cors.max_age {
        set(header::ACCESS_CONTROL_MAX_AGE, age.to_string());
    }
    set(header::VARY, "Origin".to_owned());
    r
}

pub(crate) fn add_cors(h: &mut HeaderMap, cors: &Cors, origin: &str) {
    let Some(allow) = allowed_origin(cors, origin) else { return };
    if let Ok(v) = HeaderValue::from_str(&allow) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if cors.allow_credentials == Some(true) {
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    if let Some(expose) = &cors.expose_headers
        && let Ok(v) = HeaderValue::from_str(&expose.join(","))
    {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
}

/// What the payload-2.0 event is built from.
struct Event<'a> {
    url_id: &'a str,
    region: &'a str,
    host: &'a str,
    method: &'a Method,
    raw_path: &'a str,
    raw_query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
    source_ip: &'a str,
    /// `http` or `https`: `x-forwarded-proto`.
    scheme: &'static str,
    request_id: &'a str,
    /// The signing account (AWS_IAM only).
    caller_account: Option<String>,
    access_key: Option<String>,
}

/// Content types whose bodies are passed as text; others are base64-encoded.
fn is_textual(content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || matches!(
            ct.as_str(),
            "application/json" | "application/xml" | "application/javascript" | "application/x-www-form-urlencoded"
        )
}

impl Event<'_> {
    fn to_json(&self) -> Value {
        let now = stdx::time::now_ms();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        let mut cookies: Vec<String> = Vec::new();
        for (name, value) in self.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if name == header::COOKIE {
                cookies.extend(value.split(';').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()));
                continue;
            }
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        headers.entry("x-forwarded-for".to_owned()).or_insert_with(|| self.source_ip.to_owned());
        headers.entry("x-forwarded-proto".to_owned()).or_insert_with(|| self.scheme.to_owned());
        let default_port = if self.scheme == "https" { "443" } else { "80" };
        let port = self.host.rsplit_once(':').map_or(default_port, |(_, p)| p);
        headers.entry("x-forwarded-port".to_owned()).or_insert_with(|| port.to_owned());
        let mut query: BTreeMap<String, String> = BTreeMap::new();
        for pair in self.raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(k, true).unwrap_or_else(|| k.to_owned());
            let v = percent_decode(v, true).unwrap_or_else(|| v.to_owned());
            query
                .entry(k)
                .and_modify(|existing| {
                    existing.push(',');
                    existing.push_str(&v);
                })
                .or_insert(v);
        }
        let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
        let domain = match self.host.rsplit_once(':') {
            Some((h, _)) if h.contains(".lambda-url.") => h.to_owned(),
            _ => format!("{}.lambda-url.{}.localhost", self.url_id, self.region),
        };
        let authorizer = self.caller_account.as_ref().map(|account| {
            json!({ "iam": {
                "accessKey": self.access_key.clone().unwrap_or_default(),
                "accountId": account,
                "callerId": account,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": format!("arn:aws:iam::{account}:root"),
                "userId": account,
            }})
        });
        let mut context = Map::new();
        context.insert("accountId".into(), json!(self.caller_account.clone().unwrap_or_else(|| "anonymous".into())));
        context.insert("apiId".into(), json!(self.url_id));
        if let Some(a) = authorizer {
            context.insert("authorizer".into(), a);
        }
        context.insert("domainName".into(), json!(domain));
        context.insert("domainPrefix".into(), json!(self.url_id));
        context.insert(
            "http".into(),
            json!({
                "method": self.method.as_str(),
                "path": self.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": self.source_ip,
                "userAgent": user_agent,
            }),
        );
        context.insert("requestId".into(), json!(self.request_id));
        context.insert("routeKey".into(), json!("$default"));
        context.insert("stage".into(), json!("$default"));
        context.insert("time".into(), json!(stdx::time::clf(now)));
        context.insert("timeEpoch".into(), json!(now));

        let mut event = Map::new();
        event.insert("version".into(), json!("2.0"));
        event.insert("routeKey".into(), json!("$default"));
        event.insert("rawPath".into(), json!(self.raw_path));
        event.insert("rawQueryString".into(), json!(self.raw_query));
        if !cookies.is_empty() {
            event.insert("cookies".into(), json!(cookies));
        }
        event.insert("headers".into(), json!(headers));
        if !query.is_empty() {
            event.insert("queryStringParameters".into(), json!(query));
        }
        event.insert("requestContext".into(), Value::Object(context));
        let textual = headers.get("content-type").is_some_and(|ct| is_textual(ct));
        let (body, base64) = match std::str::from_utf8(self.body) {
            Ok(text) if textual || !headers.contains_key("content-type") => (text.to_owned(), false),
            _ => (base64::engine::general_purpose::STANDARD.encode(self.body), true),
        };
        if !self.body.is_empty() {
            event.insert("body".into(), json!(body));
        }
        event.insert("isBase64Encoded".into(), json!(base64 && !self.body.is_empty()));
        Value::Object(event)
    }
}

/// The function's answer as HTTP (§10.3).
pub(crate) fn map_response(payload: &[u8]) -> Response<Body> {
    let json_response = |body: Vec<u8>| {
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    };
    let Ok(value) = serde_json::from_slice::<Value>(payload) else {
        return json_response(payload.to_vec());
    };
    let obj = match value {
        Value::Object(o) if o.contains_key("statusCode") => o,
        Value::String(s) => return json_response(s.into_bytes()),
        other => return json_response(other.to_string().into_bytes()),
    };
    let status = obj
        .get("statusCode")
        .and_then(|s| s.as_u64().or_else(|| s.as_str().and_then(|t| t.parse().ok())))
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    let Some(status) = status else { return internal_error() };
    let base64 = obj.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false);
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if base64 => match base64::engine::general_purpose::STANDARD.decode(s) {
            Ok(b) => b,
            Err(_) => return internal_error(),
        },
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Some(Value::Object(headers)) = obj.get("headers") {
        for (k, v) in headers {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(name), Ok(value)) = (header::HeaderName::try_from(k.as_str()), HeaderValue::from_str(&text)) {
                h.append(name, value);
            }
        }
    }
    if let Some(Value::Array(cookies)) = obj.get("cookies") {
        for c in cookies.iter().filter_map(Value::as_str) {
            if let Ok(v) = HeaderValue::from_str(c) {
                h.append(header::SET_COOKIE, v);
            }
        }
    }
    if !h.contains_key(header::CONTENT_TYPE) {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_and_paths() {
        let id = "abcdefghijklmnopqrstuvwxyz012345";
        assert_eq!(
            from_host(&format!("{id}.lambda-url.us-east-1.localhost:4566")),
            Some((id.to_owned(), "us-east-1".to_owned()))
        );
        assert_eq!(
            from_host(&format!("{id}.lambda-url.eu-west-1.localhost")),
            Some((id.to_owned(), "eu-west-1".to_owned()))
        );
        assert_eq!(from_host("localhost:4566"), None);
        assert_eq!(from_host("bucket.s3.localhost"), None);
        assert_eq!(from_path(&format!("/_versa/url/{id}/a/b")), Some((id.to_owned(), "/a/b".to_owned())));
        assert_eq!(from_path(&format!("/_versa/url/{id}")), Some((id.to_owned(), "/".to_owned())));
        assert_eq!(from_path("/_versa/url/UPPER/x"), None);
    }

    async fn body_of(r: Response<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let (parts, body) = r.into_parts();
        (parts.status, parts.headers, axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn responses_map_as_lambda_maps_them() {
        let (s, h, b) = body_of(map_response(br#"{"hello": "world"}"#)).await;
        assert_eq!(
            (s, h["content-type"].to_str().unwrap(), b.as_slice()),
            (StatusCode::OK, "application/json", &br#"{"hello":"world"}"#[..])
        );
        let (_, _, b) = body_of(map_response(br#"["hello", 3, true]"#)).await;
        assert_eq!(b, br#"["hello",3,true]"#);
        let (_, _, b) = body_of(map_response(br#""hello""#)).await;
        assert_eq!(b, b"hello");
        let (s, h, b) = body_of(map_response(
            br#"{"statusCode": 201, "headers": {"content-type": "text/plain", "x-n": 1}, "cookies": ["a=1", "b=2"], "body": "{\"hello\": \"world\"}"}"#,
        ))
        .await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["x-n"], "1");
        assert_eq!(h.get_all("set-cookie").iter().collect::<Vec<_>>(), ["a=1", "b=2"]);
        assert_eq!(b, br#"{"hello": "world"}"#);
        let (_, h, b) = body_of(map_response(br#"{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}"#)).await;
        assert_eq!((h["content-type"].to_str().unwrap(), b.as_slice()), ("application/json", &b"hi"[..]));
    }

    #[test]
    fn events_follow_payload_format_2() {
        let mut headers = HeaderMap::new();
        headers.append("Cookie", "c1=v1; c2=v2".parse().unwrap());
        headers.append("X-Multi", "a".parse().unwrap());
        headers.append("X-Multi", "b".parse().unwrap());
        headers.append("content-type", "application/octet-stream".parse().unwrap());
        let e = Event {
            url_id: "abc",
            region: "us-east-1",
            host: "abc.lambda-url.us-east-1.localhost:4566",
            method: &Method::POST,
            raw_path: "/my/path",
            raw_query: "a=1&a=2&b=x%20y",
            headers: &headers,
            body: &[0, 159, 146, 150],
            source_ip: "127.0.0.1",
            scheme: "http",
            request_id: "r",
            caller_account: None,
            access_key: None,
        }
        .to_json();
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["rawPath"], "/my/path");
        assert_eq!(e["rawQueryString"], "a=1&a=2&b=x%20y");
        assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
        assert_eq!(e["requestContext"]["accountId"], "anonymous");
        assert!(e["requestContext"].get("authorizer").is_none());
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["requestContext"]["domainName"], "abc.lambda-url.us-east-1.localhost");
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "AJ+Slg==");
    }
}
