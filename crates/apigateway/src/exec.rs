//! The execute-api core, pure (reference §4): which stage and route a request reaches, the
//! integration's Lambda target after `${stageVariables.x}` rendering, the payload 1.0/2.0
//! events, and the function's answer as HTTP. The caller (`api::execute_api`) does the IO:
//! permission, alias resolution, invocation, timeout.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use store::ApigwRow;

use crate::doc::{HttpApi, Resource, RestApi};

/// REST or HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rest,
    Http,
}

/// A request as API Gateway sees it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// The path after the API (host form: the whole path; path form: after `/_aws/execute-api/<id>`).
    pub path: String,
    pub raw_query: String,
    /// In arrival order; names lower-cased (the HTTP server does not keep the client's casing).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
    pub host: String,
    pub request_id: String,
    /// The request's `X-Amzn-Trace-Id`: the client's, or one API Gateway made (`trace_id`).
    pub trace_id: String,
    /// A uniform draw in [0, 1): whether this request is a REST stage's canary request.
    pub canary_draw: f64,
    /// The verified caller of an `AWS_IAM` method or route (`--auth sigv4`).
    pub iam: Option<IamCaller>,
}

/// Who signed an `AWS_IAM` request, as the events report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamCaller {
    pub access_key_id: String,
    pub account: String,
    /// A root key: `userArn` `arn:aws:iam::{account}:root`, caller and user the account id
    /// (as AWS reports a root caller); Versa's other keys name no IAM user.
    pub root: bool,
}

impl IamCaller {
    /// (caller/user id, user ARN).
    fn user(&self) -> (Value, Value) {
        if self.root {
            (json!(self.account), json!(format!("arn:aws:iam::{}:root", self.account)))
        } else {
            (Value::Null, Value::Null)
        }
    }
}

/// What a request reached.
#[derive(Debug, Clone)]
pub struct Matched {
    pub kind: Kind,
    pub api_id: String,
    pub account: String,
    pub region: String,
    pub stage: String,
    pub deployment_id: String,
    pub variables: BTreeMap<String, String>,
    /// REST: resource template path (`/{proxy+}`); HTTP: the route key (`ANY /{proxy+}`, `$default`).
    pub resource_path: String,
    pub resource_id: String,
    pub route_key: String,
    pub path_parameters: BTreeMap<String, String>,
    /// The path after the stage (REST `path`).
    pub path: String,
    pub integration_type: String,
    pub integration_method: Option<String>,
    pub uri: Option<String>,
    pub credentials: Option<String>,
    pub timeout_ms: u64,
    /// `1.0` or `2.0`.
    pub payload_format: String,
    pub binary_media_types: Vec<String>,
    /// The method's authorization type (REST).
    pub authorization_type: String,
    /// The stage's (or route's) throttling: (steady requests per second, burst), when set.
    pub throttle: Option<(f64, u64)>,
}

/// Why nothing matched (each has its own recorded answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// REST: no resource or method (403 `Missing Authentication Token`).
    RestNoRoute,
    /// REST: no such stage (403 `Forbidden`).
    RestNoStage,
    /// HTTP: no stage or route (404 `Not Found`).
    HttpNotFound,
    /// The API's default endpoint is disabled (`disableExecuteApiEndpoint`).
    Disabled,
    /// The stored document could not be read.
    Corrupt,
}

/// An HTTP API's `corsConfiguration`, if it has one (API Gateway answers preflights itself).
pub fn http_cors(row: &ApigwRow) -> Option<Value> {
    if row.kind != "http" {
        return None;
    }
    let api = serde_json::from_str::<HttpApi>(&row.doc).ok()?;
    // A disabled endpoint answers nothing, preflights included.
    api.cors.filter(|c| c.is_object() && !api.disable_execute_api_endpoint)
}

/// Selects stage, route and integration.
pub fn select(row: &ApigwRow, req: &HttpRequest) -> Result<Matched, Miss> {
    match row.kind.as_str() {
        "rest" => {
            let api: RestApi = serde_json::from_str(&row.doc).map_err(|_| Miss::Corrupt)?;
            select_rest(row, &api, req)
        }
        _ => {
            let api: HttpApi = serde_json::from_str(&row.doc).map_err(|_| Miss::Corrupt)?;
            select_http(row, &api, req)
        }
    }
}

fn select_rest(row: &ApigwRow, api: &RestApi, req: &HttpRequest) -> Result<Matched, Miss> {
    if api.disable_execute_api_endpoint {
        return Err(Miss::Disabled);
    }
    // `//stage/x` ≡ `/stage/x`.
    let trimmed = req.path.trim_start_matches('/');
    let (stage_name, rest) = match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, "/"),
    };
    let stage = api.stages.iter().find(|s| s.name == stage_name).ok_or(Miss::RestNoStage)?;
    // A canary request runs the canary's deployment with the overridden variables (unset
    // overrides fall back to the stage's).
    let mut variables = stage.variables.clone();
    let mut deployment_id = &stage.deployment_id;
    if let Some(c) = &stage.canary
        && req.canary_draw * 100.0 < c.percent_traffic
    {
        deployment_id = &c.deployment_id;
        variables.extend(c.overrides.clone());
    }
    let deployment = api.deployments.iter().find(|d| d.id == *deployment_id).ok_or(Miss::RestNoStage)?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let root = deployment.resources.iter().find(|r| r.parent_id.is_none()).ok_or(Miss::RestNoRoute)?;
    let mut params = BTreeMap::new();
    let resource = walk(&deployment.resources, root, &segments, &mut params).ok_or(Miss::RestNoRoute)?;
    let method = resource
        .methods
        .get(&req.method.to_ascii_uppercase())
        .or_else(|| resource.methods.get("ANY"))
        .ok_or(Miss::RestNoRoute)?;
    let integration = method.integration.as_ref().ok_or(Miss::RestNoRoute)?;
    let specific = format!("{}/{}", resource.path.trim_start_matches('/'), method.http_method);
    let settings = stage.method_settings.get(&specific).or_else(|| stage.method_settings.get("*/*"));
    let throttle = settings
        .and_then(|m| Some((m.get("throttlingRateLimit")?.as_f64()?, m.get("throttlingBurstLimit")?.as_f64()? as u64)));
    Ok(Matched {
        throttle,
        kind: Kind::Rest,
        api_id: api.id.clone(),
        account: row.account.clone(),
        region: row.region.clone(),
        stage: stage.name.clone(),
        deployment_id: deployment.id.clone(),
        variables,
        resource_path: resource.path.clone(),
        resource_id: resource.id.clone(),
        route_key: String::new(),
        path_parameters: params,
        path: rest.to_owned(),
        integration_type: integration.kind.clone(),
        integration_method: integration.http_method.clone(),
        uri: integration.uri.clone(),
        credentials: integration.credentials.clone(),
        timeout_ms: integration.timeout_ms,
        payload_format: "1.0".into(),
        binary_media_types: api.binary_media_types.clone(),
        authorization_type: method.authorization_type.clone(),
    })
}

/// The resource tree walk: a literal child first, then the variable child, then a greedy one
/// (which takes the rest, at least one segment).
fn walk<'a>(
    all: &'a [Resource],
    at: &'a Resource,
    segments: &[&str],
    params: &mut BTreeMap<String, String>,
) -> Option<&'a Resource> {
    let Some((first, rest)) = segments.split_first() else { return Some(at) };
    let children: Vec<&Resource> = all.iter().filter(|r| r.parent_id.as_deref() == Some(at.id.as_str())).collect();
    if let Some(c) = children.iter().find(|c| c.path_part.as_deref() == Some(*first))
        && let Some(found) = walk(all, c, rest, params)
    {
        return Some(found);
    }
    for c in &children {
        let part = c.path_part.as_deref().unwrap_or_default();
        if part.starts_with('{') && part.ends_with('}') && !part.ends_with("+}") {
            let name = &part[1..part.len() - 1];
            let mut p = params.clone();
            p.insert(name.to_owned(), (*first).to_owned());
            if let Some(found) = walk(all, c, rest, &mut p) {
                *params = p;
                return Some(found);
            }
        }
    }
    for c in &children {
        let part = c.path_part.as_deref().unwrap_or_default();
        if part.starts_with('{') && part.ends_with("+}") {
            params.insert(part[1..part.len() - 2].to_owned(), segments.join("/"));
            return Some(c);
        }
    }
    None
}

fn select_http(row: &ApigwRow, api: &HttpApi, req: &HttpRequest) -> Result<Matched, Miss> {
    if api.disable_execute_api_endpoint {
        return Err(Miss::Disabled);
    }
    let trimmed = req.path.trim_start_matches('/');
    let first = trimmed.split('/').next().unwrap_or_default();
    let named = api.stages.iter().find(|s| s.name == first && s.name != "$default");
    let (stage, path) = match named {
        Some(s) => (s, format!("/{}", trimmed[first.len()..].trim_start_matches('/'))),
        None => (api.stages.iter().find(|s| s.name == "$default").ok_or(Miss::HttpNotFound)?, req.path.clone()),
    };
    let deployment = stage
        .deployment_id
        .as_ref()
        .and_then(|d| api.deployments.iter().find(|x| x.id == *d))
        .ok_or(Miss::HttpNotFound)?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method.to_ascii_uppercase();
    // (score, route, params): non-greedy before greedy, more literal segments first, exact method before ANY.
    let mut best: Option<Candidate<'_>> = None;
    for r in &deployment.routes {
        let Some((m, p)) = r.route_key.split_once(' ') else { continue };
        if m != "ANY" && m != method {
            continue;
        }
        if let Some((params, literal, greedy)) = match_template(p, &segments) {
            let score = (u8::from(!greedy), literal, u8::from(m != "ANY"));
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, r, params));
            }
        }
    }
    let (route, params) = match best {
        Some((_, r, p)) => (r, p),
        None => {
            (deployment.routes.iter().find(|r| r.route_key == "$default").ok_or(Miss::HttpNotFound)?, BTreeMap::new())
        }
    };
    let integration_id =
        route.target.as_deref().and_then(|t| t.strip_prefix("integrations/")).ok_or(Miss::HttpNotFound)?;
    let integration = deployment.integrations.iter().find(|i| i.id == integration_id).ok_or(Miss::HttpNotFound)?;
    let route_path = route.route_key.split_once(' ').map_or("$default", |(_, p)| p).to_owned();
    let throttle = stage
        .default_route_settings
        .as_ref()
        .and_then(|r| Some((r.get("throttlingRateLimit")?.as_f64()?, r.get("throttlingBurstLimit")?.as_f64()? as u64)));
    Ok(Matched {
        throttle,
        kind: Kind::Http,
        api_id: api.id.clone(),
        account: row.account.clone(),
        region: row.region.clone(),
        stage: stage.name.clone(),
        deployment_id: deployment.id.clone(),
        variables: stage.variables.clone(),
        resource_path: route_path,
        resource_id: route.id.clone(),
        route_key: route.route_key.clone(),
        path_parameters: params,
        path,
        integration_type: integration.kind.clone(),
        integration_method: integration.method.clone(),
        uri: integration.uri.clone(),
        credentials: integration.credentials_arn.clone(),
        timeout_ms: integration.timeout_ms,
        payload_format: integration.payload_format_version.clone().unwrap_or_else(|| "2.0".into()),
        binary_media_types: Vec::new(),
        authorization_type: route.authorization_type.clone(),
    })
}

/// A matching route: its score, the route, its path parameters.
type Candidate<'a> = ((u8, usize, u8), &'a crate::doc::Route, BTreeMap<String, String>);

/// Matches `/items/{id}` or `/{proxy+}` → (params, literal segments, greedy).
fn match_template(template: &str, segments: &[&str]) -> Option<(BTreeMap<String, String>, usize, bool)> {
    let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let mut params = BTreeMap::new();
    let mut literal = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.starts_with('{') && part.ends_with("+}") {
            if i >= segments.len() {
                return None;
            }
            params.insert(part[1..part.len() - 2].to_owned(), segments[i..].join("/"));
            return Some((params, literal, true));
        }
        let seg = segments.get(i)?;
        if part.starts_with('{') && part.ends_with('}') {
            params.insert(part[1..part.len() - 1].to_owned(), (*seg).to_owned());
        } else if part == seg {
            literal += 1;
        } else {
            return None;
        }
    }
    (parts.len() == segments.len()).then_some((params, literal, false))
}

/// Renders `${stageVariables.x}` (an undefined variable renders `""`).
pub fn render(template: &str, variables: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("${stageVariables.") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "${stageVariables.".len()..];
        match after.find('}') {
            Some(end) => {
                out.push_str(variables.get(&after[..end]).map_or("", String::as_str));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The Lambda function ARN an integration URI names: the `arn:aws:apigateway:{r}:lambda:path/2015-03-31/functions/{arn}/invocations`
/// form, or a bare Lambda ARN (HTTP APIs).
pub fn lambda_arn_of(uri: &str) -> Option<&str> {
    if uri.starts_with("arn:aws:lambda:") || uri.starts_with("arn:aws-") && uri.contains(":lambda:") {
        return Some(uri);
    }
    let (_, after) = uri.split_once(":lambda:path/2015-03-31/functions/")?;
    after.strip_suffix("/invocations")
}

/// A Lambda function ARN split: (account, region, function name, qualifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaTarget {
    pub account: String,
    pub region: String,
    pub function: String,
    pub qualifier: Option<String>,
}

/// `arn:aws:lambda:{region}:{account}:function:{name}[:{qualifier}]`; an empty qualifier
/// (an undefined stage variable) is invalid.
pub fn lambda_target(arn: &str) -> Option<LambdaTarget> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts.len() > 8 || parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "function" {
        return None;
    }
    if parts[3].is_empty() || parts[4].len() != 12 || parts[6].is_empty() {
        return None;
    }
    let qualifier = match parts.get(7) {
        None => None,
        Some(&"") => return None,
        Some(q) => Some((*q).to_owned()),
    };
    Some(LambdaTarget {
        account: parts[4].to_owned(),
        region: parts[3].to_owned(),
        function: parts[6].to_owned(),
        qualifier,
    })
}

/// The SourceArn API Gateway presents: `arn:aws:execute-api:{r}:{acct}:{api}/{stage}/{METHOD}{path}`
/// (Versa: the request's verb and the matched template path; `$default` route: no method).
pub fn source_arn(m: &Matched, method: &str) -> String {
    let prefix = format!("arn:aws:execute-api:{}:{}:{}/{}", m.region, m.account, m.api_id, m.stage);
    if m.kind == Kind::Http && m.route_key == "$default" {
        return format!("{prefix}/$default");
    }
    format!("{prefix}/{}{}", method.to_ascii_uppercase(), m.resource_path)
}

fn decode_query(s: &str) -> String {
    let plus = s.replace('+', " ");
    crate::percent_decode(&plus).unwrap_or(plus)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Content types whose bodies are passed as text in payload 2.0.
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

/// Whether `content_type` matches one of `binary` (`type/*` allowed).
fn media_matches(binary: &[String], content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    binary.iter().any(|b| {
        let b = b.to_ascii_lowercase();
        b == ct || (b.ends_with("/*") && !b.starts_with("*/") && ct.starts_with(&b[..b.len() - 1]))
    })
}

fn domain(m: &Matched, req: &HttpRequest) -> String {
    let host = req
        .host
        .rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(req.host.as_str(), |(h, _)| h);
    if host.contains(".execute-api.") {
        host.to_owned()
    } else {
        format!("{}.execute-api.{}.localhost", m.api_id, m.region)
    }
}

/// The trace header's name (REST answers carry it too).
const TRACE_HEADER: &str = "X-Amzn-Trace-Id";

/// A new X-Ray trace header value as API Gateway adds it to a request that has none:
/// `Root=1-{epoch seconds, 8 hex}-{96 random bits, 24 hex}`.
pub fn trace_id(epoch_secs: u64, random: [u8; 12]) -> String {
    let mut out = format!("Root=1-{:08x}-", epoch_secs & 0xffff_ffff);
    for b in random {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `content-type` → `Content-Type`.
fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut start = true;
    for c in name.chars() {
        out.push(if start { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() });
        start = c == '-';
    }
    out
}

/// The payload 1.0 event (REST, or an HTTP API integration with format 1.0).
pub fn event_v1(m: &Matched, req: &HttpRequest, now_ms: i64) -> Value {
    let mut headers = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (k, v) in &req.headers {
        // REST keeps the client's casing, which HTTP/1.1 clients send as `Title-Case` (and API
        // Gateway forces for `Authorization` and `User-Agent`); the server lost it, so rebuild it.
        let title;
        let k = if m.kind == Kind::Rest {
            title = title_case(k);
            &title
        } else {
            k
        };
        headers.insert(k.clone(), json!(v));
        match multi.get_mut(k) {
            Some(Value::Array(a)) => a.push(json!(v)),
            _ => {
                multi.insert(k.clone(), json!([v]));
            }
        }
    }
    // What API Gateway adds in front of the function (the trace header, `X-Forwarded-*`),
    // unless the client sent it.
    let port = req.host.rsplit_once(':').map_or("80", |(_, p)| p).to_owned();
    for (name, value) in [
        (TRACE_HEADER, req.trace_id.clone()),
        ("X-Forwarded-For", req.source_ip.clone()),
        ("X-Forwarded-Port", port),
        ("X-Forwarded-Proto", "http".to_owned()),
    ] {
        if !headers.keys().any(|k| k.eq_ignore_ascii_case(name)) {
            // An HTTP API lower-cases every header name, these too.
            let name = if m.kind == Kind::Rest { name.to_owned() } else { name.to_ascii_lowercase() };
            headers.insert(name.clone(), json!(value));
            multi.insert(name, json!([value]));
        }
    }
    let mut query = Map::new();
    let mut mquery: Map<String, Value> = Map::new();
    for pair in req.raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode_query(k), decode_query(v));
        query.insert(k.clone(), json!(v));
        match mquery.get_mut(&k) {
            Some(Value::Array(a)) => a.push(json!(v)),
            _ => {
                mquery.insert(k, json!([v]));
            }
        }
    }
    let nullable = |m: Map<String, Value>| if m.is_empty() { Value::Null } else { Value::Object(m) };
    let user_agent = header(req, "user-agent").unwrap_or_default();
    let content_type = header(req, "content-type").unwrap_or_default();
    let binary = match m.kind {
        Kind::Rest => media_matches(&m.binary_media_types, content_type),
        Kind::Http => !req.body.is_empty() && !content_type.is_empty() && !is_textual(content_type),
    } || std::str::from_utf8(&req.body).is_err();
    let body = if req.body.is_empty() {
        Value::Null
    } else if binary {
        json!(base64::engine::general_purpose::STANDARD.encode(&req.body))
    } else {
        json!(String::from_utf8_lossy(&req.body))
    };
    let context_path = match m.kind {
        Kind::Rest => format!("/{}{}", m.stage, m.path),
        Kind::Http if m.stage == "$default" => m.path.clone(),
        Kind::Http => format!("/{}{}", m.stage, m.path),
    };
    let mut context = json!({
        "accountId": m.account,
        "apiId": m.api_id,
        "deploymentId": m.deployment_id,
        "domainName": domain(m, req),
        "domainPrefix": m.api_id,
        "extendedRequestId": req.request_id,
        "httpMethod": req.method,
        "identity": {
            "accessKey": null, "accountId": null, "caller": null, "cognitoAuthenticationProvider": null,
            "cognitoAuthenticationType": null, "cognitoIdentityId": null, "cognitoIdentityPoolId": null,
            "principalOrgId": null, "sourceIp": req.source_ip, "user": null, "userAgent": user_agent, "userArn": null,
        },
        "path": context_path,
        "protocol": "HTTP/1.1",
        "requestId": req.request_id,
        "requestTime": stdx::time::clf(now_ms),
        "requestTimeEpoch": now_ms,
        "resourceId": m.resource_id,
        "resourcePath": m.resource_path,
        "stage": m.stage,
    });
    let mut event = json!({
        "resource": m.resource_path,
        "path": m.path,
        "httpMethod": req.method,
        "headers": nullable(headers),
        "multiValueHeaders": nullable(multi),
        "queryStringParameters": nullable(query),
        "multiValueQueryStringParameters": nullable(mquery),
        "pathParameters": if m.path_parameters.is_empty() { Value::Null } else { json!(m.path_parameters) },
        "stageVariables": if m.variables.is_empty() { Value::Null } else { json!(m.variables) },
        "requestContext": Value::Null,
        "body": body,
        "isBase64Encoded": binary && !req.body.is_empty(),
    });
    if let Some(iam) = &req.iam {
        let (user, arn) = iam.user();
        let identity = &mut context["identity"];
        identity["accessKey"] = json!(iam.access_key_id);
        identity["accountId"] = json!(iam.account);
        identity["caller"] = user.clone();
        identity["user"] = user;
        identity["userArn"] = arn;
    }
    if m.kind == Kind::Http {
        // Format 1.0 on an HTTP API: `version`, the path with the named stage, an authorizer.
        event["version"] = json!("1.0");
        event["path"] = json!(context_path);
        event["resource"] = json!(m.route_key.split_once(' ').map_or("$default", |(_, p)| p));
        context["authorizer"] = json!({ "claims": null, "scopes": null });
        context["resourceId"] = Value::Null;
        context["resourcePath"] = json!(m.resource_path);
    }
    event["requestContext"] = context;
    event
}

/// The payload 2.0 event (HTTP APIs).
pub fn event_v2(m: &Matched, req: &HttpRequest, now_ms: i64) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in &req.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()));
            continue;
        }
        headers
            .entry(name)
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    headers.entry("x-amzn-trace-id".into()).or_insert_with(|| req.trace_id.clone());
    headers.entry("x-forwarded-for".into()).or_insert_with(|| req.source_ip.clone());
    headers.entry("x-forwarded-proto".into()).or_insert_with(|| "http".into());
    let port = req.host.rsplit_once(':').map_or("80", |(_, p)| p).to_owned();
    headers.entry("x-forwarded-port".into()).or_insert(port);
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for pair in req.raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode_query(k), decode_query(v));
        query
            .entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let raw_path = if m.stage == "$default" { m.path.clone() } else { format!("/{}{}", m.stage, m.path) };
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(m.route_key));
    event.insert("rawPath".into(), json!(raw_path));
    event.insert("rawQueryString".into(), json!(req.raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), json!(headers));
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), json!(query));
    }
    if !m.path_parameters.is_empty() {
        event.insert("pathParameters".into(), json!(m.path_parameters));
    }
    if !m.variables.is_empty() {
        event.insert("stageVariables".into(), json!(m.variables));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": m.account,
            "apiId": m.api_id,
            "domainName": domain(m, req),
            "domainPrefix": m.api_id,
            "http": {
                "method": req.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": user_agent,
            },
            "requestId": req.request_id,
            "routeKey": m.route_key,
            "stage": m.stage,
            "time": stdx::time::clf(now_ms),
            "timeEpoch": now_ms,
        }),
    );
    if let (Some(iam), Some(Value::Object(context))) = (&req.iam, event.get_mut("requestContext")) {
        let (user, arn) = iam.user();
        context.insert(
            "authorizer".into(),
            json!({ "iam": {
                "accessKey": iam.access_key_id, "accountId": iam.account, "callerId": user,
                "cognitoIdentity": null, "principalOrgId": null, "userArn": arn, "userId": user,
            }}),
        );
    }
    let textual = headers.get("content-type").is_some_and(|ct| is_textual(ct));
    let (body, base64) = match std::str::from_utf8(&req.body) {
        Ok(text) if textual || !headers.contains_key("content-type") => (text.to_owned(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(&req.body), true),
    };
    if !req.body.is_empty() {
        event.insert("body".into(), json!(body));
    }
    event.insert("isBase64Encoded".into(), json!(base64 && !req.body.is_empty()));
    Value::Object(event)
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    fn json(status: u16, body: &str, error_type: Option<&str>) -> Answer {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(t) = error_type {
            headers.push(("x-amzn-ErrorType".to_owned(), t.to_owned()));
        }
        Answer { status, headers, body: body.as_bytes().to_vec() }
    }

    /// REST: a bad proxy answer or a function error (502, 36 bytes).
    pub fn rest_bad_gateway() -> Answer {
        Answer::json(502, r#"{"message": "Internal server error"}"#, Some("InternalServerErrorException"))
    }
    /// REST: a configuration error (permission, stage variable, alias): 500.
    pub fn rest_internal() -> Answer {
        Answer::json(500, r#"{"message": "Internal server error"}"#, Some("InternalServerErrorException"))
    }
    pub fn rest_missing_token() -> Answer {
        Answer::json(403, r#"{"message":"Missing Authentication Token"}"#, Some("MissingAuthenticationTokenException"))
    }
    pub fn rest_forbidden() -> Answer {
        Answer::json(403, r#"{"message":"Forbidden"}"#, Some("ForbiddenException"))
    }
    /// A disabled default endpoint (`disableExecuteApiEndpoint`), per API kind [U].
    pub fn forbidden(kind: Kind) -> Answer {
        match kind {
            Kind::Rest => Answer::rest_forbidden(),
            Kind::Http => Answer::json(403, r#"{"message":"Forbidden"}"#, None),
        }
    }
    pub fn rest_timeout() -> Answer {
        Answer::json(504, r#"{"message": "Endpoint request timed out"}"#, Some("IntegrationTimeoutException"))
    }
    pub fn http_internal() -> Answer {
        Answer::json(500, r#"{"message":"Internal Server Error"}"#, None)
    }
    pub fn http_not_found() -> Answer {
        Answer::json(404, r#"{"message":"Not Found"}"#, None)
    }
    /// Throttled by the stage's settings (both kinds).
    pub fn too_many_requests() -> Answer {
        Answer::json(429, r#"{"message":"Too Many Requests"}"#, Some("TooManyRequestsException"))
    }
    pub fn http_timeout() -> Answer {
        Answer::json(503, r#"{"message":"Service Unavailable"}"#, None)
    }
    pub fn too_large(kind: Kind) -> Answer {
        match kind {
            Kind::Rest => Answer::json(413, r#"{"message":"Request Too Long"}"#, Some("RequestTooLongException")),
            Kind::Http => Answer::json(413, r#"{"message":"Request Entity Too Large"}"#, None),
        }
    }
    /// A configuration error or a failed invocation, per API kind.
    pub fn internal(kind: Kind) -> Answer {
        match kind {
            Kind::Rest => Answer::rest_internal(),
            Kind::Http => Answer::http_internal(),
        }
    }
}

/// The function's answer → HTTP (reference §4.5). `accept`: the request's `Accept` (REST
/// binary rule); `trace_id`: the request's trace header, which a REST answer carries back
/// (unless the function set one).
pub fn map_answer(m: &Matched, payload: &[u8], accept: Option<&str>, trace_id: &str) -> Answer {
    match (m.kind, m.payload_format.as_str()) {
        (Kind::Rest, _) => match map_v1(payload, true, &m.binary_media_types, accept) {
            Ok(mut a) => {
                if !a.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(TRACE_HEADER)) {
                    a.headers.push((TRACE_HEADER.to_owned(), trace_id.to_owned()));
                }
                a
            }
            Err(Unmappable::Shape) => Answer::rest_bad_gateway(),
            Err(Unmappable::Base64) => Answer::rest_internal(),
        },
        (Kind::Http, "1.0") => map_v1(payload, false, &[], None).unwrap_or_else(|_| Answer::http_internal()),
        (Kind::Http, _) => map_v2(payload).unwrap_or_else(Answer::http_internal),
    }
}

const V1_KEYS: [&str; 5] = ["statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"];

fn status_of(v: Option<&Value>) -> Option<Option<u16>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => {
            n.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|n| (100..=599).contains(n)).map(Some)
        }
        Some(Value::String(s)) => s.parse::<u16>().ok().filter(|n| (100..=599).contains(n)).map(Some),
        _ => None,
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Why a payload 1.0 answer could not be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unmappable {
    /// Not the proxy answer's shape (REST: 502).
    Shape,
    /// `isBase64Encoded` with a body that is not base64, when it is decoded (REST: 500 [V]).
    Base64,
}

/// Payload 1.0 answers.
fn map_v1(payload: &[u8], rest: bool, binary: &[String], accept: Option<&str>) -> Result<Answer, Unmappable> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(payload) else { return Err(Unmappable::Shape) };
    if obj.keys().any(|k| !V1_KEYS.contains(&k.as_str())) {
        return Err(Unmappable::Shape);
    }
    let status = match status_of(obj.get("statusCode")).ok_or(Unmappable::Shape)? {
        Some(s) => s,
        None if rest => 200,
        None => return Err(Unmappable::Shape),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    match obj.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(mv)) => {
            for (k, vs) in mv {
                let Value::Array(vs) = vs else { return Err(Unmappable::Shape) };
                for v in vs {
                    headers.push((k.clone(), text_of(v)));
                }
            }
        }
        Some(_) => return Err(Unmappable::Shape),
    }
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                // The same key in both maps: joined, multiValueHeaders' casing wins.
                if let Some(existing) = headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(k)) {
                    existing.1 = format!("{}, {}", existing.1, text_of(v));
                } else {
                    headers.push((k.clone(), text_of(v)));
                }
            }
        }
        Some(_) => return Err(Unmappable::Shape),
    }
    let base64 = obj.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false);
    let text = obj.get("body").map(text_of).unwrap_or_default();
    let body = if base64 {
        let decode = if rest {
            // Decoded only when the first Accept value matches a binary media type exactly.
            let first = accept.and_then(|a| a.split(',').next()).map(str::trim).unwrap_or("");
            !first.is_empty() && first != "*/*" && media_matches(binary, first)
        } else {
            true
        };
        if decode {
            base64::engine::general_purpose::STANDARD.decode(&text).map_err(|_| Unmappable::Base64)?
        } else {
            text.into_bytes()
        }
    } else {
        text.into_bytes()
    };
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        let ct = if rest { "application/json" } else { "text/plain; charset=utf-8" };
        headers.push(("content-type".into(), ct.into()));
    }
    Ok(Answer { status, headers, body })
}

/// Payload 2.0 answers: without `statusCode` the output is the body (200, JSON).
fn map_v2(payload: &[u8]) -> Option<Answer> {
    let json_answer =
        |body: Vec<u8>| Answer { status: 200, headers: vec![("content-type".into(), "application/json".into())], body };
    let obj = match serde_json::from_slice::<Value>(payload) {
        Err(_) => return Some(json_answer(payload.to_vec())),
        Ok(Value::Object(o)) if o.contains_key("statusCode") => o,
        Ok(Value::String(s)) => return Some(json_answer(s.into_bytes())),
        Ok(other) => return Some(json_answer(other.to_string().into_bytes())),
    };
    let status = status_of(obj.get("statusCode"))??;
    let mut headers: Vec<(String, String)> = Vec::new();
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => headers.extend(h.iter().map(|(k, v)| (k.clone(), text_of(v)))),
        Some(_) => return None,
    }
    if let Some(Value::Array(c)) = obj.get("cookies") {
        headers.extend(c.iter().filter_map(Value::as_str).map(|c| ("set-cookie".to_owned(), c.to_owned())));
    }
    let text = obj.get("body").map(text_of).unwrap_or_default();
    let body = if obj.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
        base64::engine::general_purpose::STANDARD.decode(&text).ok()?
    } else {
        text.into_bytes()
    };
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        headers.push(("content-type".into(), "text/plain; charset=utf-8".into()));
    }
    Some(Answer { status, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_variables_render_and_name_the_alias() {
        let vars: BTreeMap<String, String> = [("alias".to_owned(), "prod".to_owned())].into();
        let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:fn:${stageVariables.alias}/invocations";
        let arn = render(uri, &vars);
        let t = lambda_target(lambda_arn_of(&arn).unwrap()).unwrap();
        assert_eq!(t.qualifier.as_deref(), Some("prod"));
        assert_eq!(t.function, "fn");
        assert_eq!(t.account, "000000000000");
        // An undefined variable renders "" and leaves an invalid ARN.
        let arn = render(uri, &BTreeMap::new());
        assert_eq!(lambda_target(lambda_arn_of(&arn).unwrap()), None);
        assert!(lambda_target("arn:aws:lambda:us-east-1:000000000000:function:fn").unwrap().qualifier.is_none());
    }

    #[test]
    fn v1_answers_map_as_recorded() {
        let a = map_v1(
            br#"{"statusCode": 201, "headers": {"k": "s1"}, "multiValueHeaders": {"k": ["m1"]}, "body": "x"}"#,
            true,
            &[],
            None,
        )
        .unwrap();
        assert_eq!(a.status, 201);
        assert!(a.headers.contains(&("k".to_owned(), "m1, s1".to_owned())));
        assert_eq!(map_v1(br#"{"headers": {}}"#, true, &[], None).unwrap().status, 200);
        assert_eq!(map_v1(br#"{"statusCode": 200, "wrongValue": 1}"#, true, &[], None), Err(Unmappable::Shape));
        assert_eq!(map_v1(br#""justAString""#, true, &[], None), Err(Unmappable::Shape));
        assert_eq!(map_v1(br#"{"statusCode": "test"}"#, true, &[], None), Err(Unmappable::Shape));
        // Bad base64 fails only when it is decoded (the first Accept is a binary media type).
        let bad = br#"{"statusCode": 200, "body": "!!!", "isBase64Encoded": true}"#;
        let png = ["image/png".to_owned()];
        assert_eq!(map_v1(bad, true, &png, Some("image/png")), Err(Unmappable::Base64));
        assert_eq!(map_v1(bad, true, &png, Some("*/*")).unwrap().body, b"!!!");
        assert_eq!(map_v1(br#"{"statusCode": "201"}"#, true, &[], None).unwrap().status, 201);
        assert_eq!(Answer::rest_bad_gateway().body.len(), 36);
    }

    #[test]
    fn trace_ids_are_xray_roots() {
        let t = trace_id(0x5759_e988, [0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93]);
        assert_eq!(t, "Root=1-5759e988-bd862e3fe1be46a994272793");
    }

    #[test]
    fn rest_events_title_case_header_names() {
        assert_eq!(title_case("user-agent"), "User-Agent");
        assert_eq!(title_case("x-amz-date"), "X-Amz-Date");
        assert_eq!(title_case("authorization"), "Authorization");
    }

    #[test]
    fn templates_match_literal_before_variable_before_greedy() {
        let segs = ["items", "7"];
        assert_eq!(match_template("/items/{id}", &segs).unwrap().1, 1);
        assert!(match_template("/{proxy+}", &segs).unwrap().2);
        assert!(match_template("/{proxy+}", &[]).is_none());
        assert!(match_template("/items", &segs).is_none());
    }
}
