//! API Gateway in front of aliases (reference `api-gateway.md`): the control planes of REST
//! APIs (v1, `/restapis…`) and HTTP APIs (v2, `/v2/apis…`) for Lambda-proxy integrations —
//! one [`ApiGateway::handle`] entry, split by the `/v2/` path prefix, both signed
//! `apigateway` — and the pure core of execute-api ([`exec`]): stage and route selection,
//! `${stageVariables.x}` rendering, the integration's Lambda target, the payload 1.0/2.0
//! events and the mapping of the function's answer.
//!
//! Each API is one row of the store (migration 13): its whole definition (resources or
//! routes, integrations, deployments as frozen snapshots, stages with their variables, tags)
//! as one JSON document, read and rewritten in one write transaction per operation. An
//! integration stores the URI as written — an alias ARN or `${stageVariables.alias}` — never a
//! version; the version is drawn per request by the caller (`api::execute_api`).

pub mod doc;
pub mod exec;
mod http;
#[cfg(test)]
mod proptests;
mod rest;

use serde_json::{Value, json};
use store::{ApigwRow, Store};

/// The SigV4 service name of both APIs.
pub const SERVICE: &str = "apigateway";
/// Largest control-plane request body read.
pub const REQUEST_BYTES_MAX: usize = 1024 * 1024;
/// Largest execute-api request body (API Gateway's payload quota, 10 MB).
pub const INVOKE_BODY_BYTES_MAX: usize = 10 * 1024 * 1024;
/// Most APIs of one kind per account and region (listed in one page).
pub const APIS_MAX: usize = 600;
/// Most resources per REST API (AWS's default quota).
pub const RESOURCES_MAX: usize = 300;
/// Most routes, and most integrations, per HTTP API (AWS's default quota).
pub const ROUTES_MAX: usize = 300;
/// Most stages per API (AWS's default quota).
pub const STAGES_MAX: usize = 10;
/// Most deployments kept per API: creating one more deletes the oldest that no stage uses.
pub const DEPLOYMENTS_MAX: usize = 100;
/// REST list pages (`limit`): AWS's default and largest page.
pub const REST_PAGE_DEFAULT: usize = 25;
pub const REST_PAGE_MAX: usize = 500;
/// Most tags per resource.
pub const TAGS_MAX: usize = 50;
/// Most stage variables per stage, and the longest value.
pub const VARIABLES_MAX: usize = 100;
pub const VARIABLE_VALUE_LEN_MAX: usize = 2048;
/// REST integration timeout bounds (ms): default and maximum 29 s, minimum 50 ms.
pub const REST_TIMEOUT_MS: u64 = 29_000;
/// HTTP API integration timeout bounds (ms): default and maximum 30 s.
pub const HTTP_TIMEOUT_MS: u64 = 30_000;
pub const TIMEOUT_MIN_MS: u64 = 50;

/// The account and region a control-plane request acts in, and the host it was sent to (the
/// port of `apiEndpoint`).
#[derive(Debug, Clone)]
pub struct Context {
    pub account: String,
    pub region: String,
    pub host: Option<String>,
}

/// One control-plane request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The raw (percent-encoded) path.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// An answer: status, JSON body, and `x-amzn-ErrorType` for errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub error_type: Option<&'static str>,
}

impl Response {
    pub const CONTENT_TYPE: &'static str = "application/json";

    fn ok(status: u16, v: &Value) -> Response {
        Response { status, body: v.to_string().into_bytes(), error_type: None }
    }

    fn empty(status: u16) -> Response {
        Response { status, body: Vec::new(), error_type: None }
    }

    pub fn error(e: &Error) -> Response {
        let mut body = json!({ "message": e.message });
        if let Some(t) = &e.resource_type {
            body["resourceType"] = json!(t);
        }
        Response { status: e.status, body: body.to_string().into_bytes(), error_type: Some(e.code) }
    }
}

/// A refusal: HTTP status, error code (`x-amzn-ErrorType`), message.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// v2 `NotFoundException`'s `resourceType`.
    pub resource_type: Option<&'static str>,
}

impl Error {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Error {
        Error { status, code, message: message.into(), resource_type: None }
    }
    pub fn bad(message: impl Into<String>) -> Error {
        Error::new(400, "BadRequestException", message)
    }
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(404, "NotFoundException", message)
    }
    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(409, "ConflictException", message)
    }
    pub fn limit(message: impl Into<String>) -> Error {
        Error::new(429, "LimitExceededException", message)
    }
    fn typed(mut self, t: &'static str) -> Error {
        self.resource_type = Some(t);
        self
    }
}

impl From<store::StoreError> for Error {
    fn from(e: store::StoreError) -> Error {
        Error::new(500, "InternalFailure", format!("internal error: {e}"))
    }
}

type Result<T> = std::result::Result<T, Error>;

/// The API Gateway service over the store.
#[derive(Clone)]
pub struct ApiGateway {
    store: Store,
}

impl std::fmt::Debug for ApiGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiGateway").finish_non_exhaustive()
    }
}

impl ApiGateway {
    pub fn new(store: Store) -> ApiGateway {
        ApiGateway { store }
    }

    /// Serves one control-plane request.
    pub async fn handle(&self, ctx: &Context, req: &Request<'_>) -> Response {
        let segments: Vec<String> = req
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s).unwrap_or_else(|| s.to_owned()))
            .collect();
        let Some(input) = stdx::json::object_body(req.body) else {
            return Response::error(&Error::bad("Invalid JSON in request body"));
        };
        let query = parse_query(req.query);
        let result = if segments.first().map(String::as_str) == Some("v2") {
            http::dispatch(self, ctx, req.method, &segments[1..], &query, &input).await
        } else {
            rest::dispatch(self, ctx, req.method, &segments, &query, &input).await
        };
        match result {
            Ok(r) => r,
            Err(e) => Response::error(&e),
        }
    }

    /// The stored API of an execute-api request, whatever its account.
    pub async fn lookup(&self, id: &str) -> std::result::Result<Option<ApigwRow>, store::StoreError> {
        let id = id.to_owned();
        self.store.read(move |tx| tx.apigw_api(&id)).await
    }

    /// Every deployed Lambda integration of the account's REST and HTTP APIs in `region`, per
    /// stage, its URI rendered with that stage's variables (a REST canary with its overrides,
    /// as a separate entry): what the console's Event sources tab shows.
    pub async fn stage_targets(&self, account: &str, region: &str) -> Result<Vec<StageTarget>> {
        let (account, region) = (account.to_owned(), region.to_owned());
        let rows = self
            .store
            .read(move |tx| {
                let mut rows = tx.apigw_apis(&account, &region, "rest", APIS_MAX)?;
                rows.extend(tx.apigw_apis(&account, &region, "http", APIS_MAX)?);
                Ok::<_, store::StoreError>(rows)
            })
            .await?;
        let mut out = Vec::new();
        for row in rows {
            if row.kind == "rest" {
                let api: doc::RestApi = decode(&row.doc)?;
                for stage in &api.stages {
                    let mut runs = vec![(stage.deployment_id.clone(), stage.variables.clone(), None)];
                    if let Some(c) = &stage.canary {
                        let mut vars = stage.variables.clone();
                        vars.extend(c.overrides.clone());
                        runs.push((c.deployment_id.clone(), vars, Some(c.percent_traffic)));
                    }
                    for (deployment_id, vars, canary) in runs {
                        let Some(d) = api.deployments.iter().find(|d| d.id == deployment_id) else { continue };
                        for r in &d.resources {
                            for (method, m) in &r.methods {
                                let Some(uri) = m.integration.as_ref().and_then(|i| i.uri.as_deref()) else { continue };
                                out.push(StageTarget {
                                    kind: exec::Kind::Rest,
                                    api_id: api.id.clone(),
                                    api_name: api.name.clone(),
                                    stage: stage.name.clone(),
                                    canary_percent: canary,
                                    route: format!("{method} {}", r.path),
                                    uri: uri.to_owned(),
                                    target: target_of(uri, &vars),
                                });
                            }
                        }
                    }
                }
            } else {
                let api: doc::HttpApi = decode(&row.doc)?;
                for stage in &api.stages {
                    let Some(d) =
                        stage.deployment_id.as_ref().and_then(|id| api.deployments.iter().find(|d| d.id == *id))
                    else {
                        continue;
                    };
                    for route in &d.routes {
                        let Some(id) = route.target.as_deref().and_then(|t| t.strip_prefix("integrations/")) else {
                            continue;
                        };
                        let Some(uri) = d.integrations.iter().find(|i| i.id == id).and_then(|i| i.uri.as_deref())
                        else {
                            continue;
                        };
                        out.push(StageTarget {
                            kind: exec::Kind::Http,
                            api_id: api.id.clone(),
                            api_name: api.name.clone(),
                            stage: stage.name.clone(),
                            canary_percent: None,
                            route: route.route_key.clone(),
                            uri: uri.to_owned(),
                            target: target_of(uri, &stage.variables),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    async fn list(&self, ctx: &Context, kind: &'static str) -> Result<Vec<ApigwRow>> {
        let (account, region) = (ctx.account.clone(), ctx.region.clone());
        Ok(self.store.read(move |tx| tx.apigw_apis(&account, &region, kind, APIS_MAX)).await?)
    }

    /// Reads an API of `kind` in the caller's scope.
    async fn get(&self, ctx: &Context, kind: &'static str, id: &str) -> Result<Option<ApigwRow>> {
        let row = self.lookup(id).await?;
        Ok(row.filter(|r| r.kind == kind && r.account == ctx.account && r.region == ctx.region))
    }

    /// Applies `f` to the document of one API in one write transaction; `f` returns the
    /// answer, and the changed document is written only when it succeeds.
    async fn update<D, R>(
        &self,
        ctx: &Context,
        kind: &'static str,
        id: &str,
        missing: Error,
        f: impl FnOnce(&mut D) -> Result<R> + Send + 'static,
    ) -> Result<R>
    where
        D: serde::de::DeserializeOwned + serde::Serialize,
        R: Send + 'static,
    {
        let (account, region, id) = (ctx.account.clone(), ctx.region.clone(), id.to_owned());
        self.store
            .write(move |tx| {
                let row = tx.apigw_api(&id)?.filter(|r| r.kind == kind && r.account == account && r.region == region);
                let Some(mut row) = row else { return Err(missing) };
                let mut doc: D = decode(&row.doc)?;
                let out = f(&mut doc)?;
                row.doc = encode(&doc)?;
                tx.put_apigw_api(&row)?;
                Ok(out)
            })
            .await
    }

    async fn insert(&self, ctx: &Context, kind: &'static str, id: String, doc: String) -> Result<()> {
        let row = ApigwRow { id, account: ctx.account.clone(), region: ctx.region.clone(), kind: kind.to_owned(), doc };
        let (account, region) = (ctx.account.clone(), ctx.region.clone());
        self.store
            .write(move |tx| {
                if tx.apigw_apis(&account, &region, kind, APIS_MAX)?.len() >= APIS_MAX {
                    return Err(Error::limit(format!("Too many APIs; at most {APIS_MAX} per account and region")));
                }
                if tx.apigw_api(&row.id)?.is_some() {
                    return Err(Error::conflict(format!("An API with id {} already exists", row.id)));
                }
                tx.put_apigw_api(&row)?;
                Ok(())
            })
            .await
    }

    async fn remove(&self, ctx: &Context, kind: &'static str, id: &str, missing: Error) -> Result<()> {
        let (account, region, id) = (ctx.account.clone(), ctx.region.clone(), id.to_owned());
        self.store
            .write(move |tx| {
                let found =
                    tx.apigw_api(&id)?.is_some_and(|r| r.kind == kind && r.account == account && r.region == region);
                if !found {
                    return Err(missing);
                }
                tx.delete_apigw_api(&id)?;
                Ok(())
            })
            .await
    }
}

/// One route (REST: method and resource) of one stage whose integration has a URI.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTarget {
    pub kind: exec::Kind,
    pub api_id: String,
    pub api_name: String,
    pub stage: String,
    /// A REST stage's canary deployment, and its share of the stage's requests (percent).
    pub canary_percent: Option<f64>,
    /// REST: `ANY /{proxy+}` (method and resource path); HTTP: the route key (`$default`, `GET /x`).
    pub route: String,
    /// The integration URI as written (`${stageVariables.alias}` unrendered).
    pub uri: String,
    /// The function the rendered URI names, when it names one (an undefined variable does not).
    pub target: Option<exec::LambdaTarget>,
}

fn target_of(uri: &str, vars: &std::collections::BTreeMap<String, String>) -> Option<exec::LambdaTarget> {
    exec::lambda_arn_of(&exec::render(uri, vars)).and_then(exec::lambda_target)
}

pub(crate) fn decode<D: serde::de::DeserializeOwned>(doc: &str) -> Result<D> {
    serde_json::from_str(doc).map_err(|e| Error::new(500, "InternalFailure", format!("corrupt API document: {e}")))
}

pub(crate) fn encode<D: serde::Serialize>(doc: &D) -> Result<String> {
    serde_json::to_string(doc).map_err(|e| Error::new(500, "InternalFailure", format!("encoding: {e}")))
}

/// A new id of `len` characters `[a-z0-9]`.
pub(crate) fn new_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < len {
                out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// The custom id a `_custom_id_` tag asks for (LocalStack's and moto's convention).
pub(crate) fn custom_id(tags: Option<&Value>) -> Option<String> {
    let id = tags?.get("_custom_id_")?.as_str()?;
    ((1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        .then(|| id.to_owned())
}

/// Percent-decodes a path segment or query part (`+` stays `+`).
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Query pairs, decoded (`+` is a space).
pub(crate) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| {
                let s = s.replace('+', " ");
                percent_decode(&s).unwrap_or(s)
            };
            (d(k), d(v))
        })
        .collect()
}

/// One page of a list answer and the token of the next one: REST (`limit`, `position`;
/// default page [`REST_PAGE_DEFAULT`]) or HTTP API (`maxResults`, `nextToken`; everything
/// unless a page size is asked for). The token is the offset of the next item.
pub(crate) fn page(
    mut items: Vec<Value>,
    query: &[(String, String)],
    (size_key, token_key): (&str, &str),
    default: usize,
) -> Result<(Vec<Value>, Option<String>)> {
    let get = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let size = match get(size_key) {
        None | Some("") => default,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(REST_PAGE_MAX),
            _ => return Err(Error::bad(format!("Invalid {size_key} value: {v}"))),
        },
    };
    let start = match get(token_key) {
        None | Some("") => 0,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= items.len() => n,
            _ => return Err(Error::bad(format!("Invalid {token_key} value: {v}"))),
        },
    };
    let end = start.saturating_add(size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    items.truncate(end);
    items.drain(..start);
    Ok((items, next))
}

/// A string member of a JSON input.
pub(crate) fn s<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

/// A `{string: string}` member (tags, variables); non-string values are refused.
pub(crate) fn string_map(input: &Value, name: &str) -> Result<Option<std::collections::BTreeMap<String, String>>> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(Error::bad(format!("Invalid value for {name}.{k}: expected a string"))),
            })
            .collect::<Result<_>>()
            .map(Some),
        Some(_) => Err(Error::bad(format!("Invalid value for {name}: expected a map"))),
    }
}

pub(crate) fn check_tags(tags: &std::collections::BTreeMap<String, String>) -> Result<()> {
    if tags.len() > TAGS_MAX {
        return Err(Error::bad(format!("Too many tags: at most {TAGS_MAX}")));
    }
    Ok(())
}

/// One tagging request on a resource's tags: `add` for TagResource, `remove` (the keys) for
/// UntagResource, neither for a read; answers the tags after it.
pub(crate) fn edit_tags(
    tags: &mut std::collections::BTreeMap<String, String>,
    add: Option<std::collections::BTreeMap<String, String>>,
    remove: Option<&[String]>,
) -> Result<std::collections::BTreeMap<String, String>> {
    if let Some(added) = add {
        tags.extend(added);
        check_tags(tags)?;
    }
    if let Some(keys) = remove {
        tags.retain(|k, _| !keys.contains(k));
    }
    Ok(tags.clone())
}

/// Stage variable names `[A-Za-z0-9_]+`, values `[A-Za-z0-9-._~:/?#&=,]+` (model docs).
pub(crate) fn check_variables(vars: &std::collections::BTreeMap<String, String>) -> Result<()> {
    if vars.len() > VARIABLES_MAX {
        return Err(Error::bad(format!("Too many stage variables: at most {VARIABLES_MAX}")));
    }
    for (k, v) in vars {
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::bad(format!(
                "Stage variable name {k} must be non-empty and contain only alphanumeric and underscore characters"
            )));
        }
        let value_ok = |v: &str| v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#&=,".contains(&b));
        if v.len() > VARIABLE_VALUE_LEN_MAX || !value_ok(v) {
            return Err(Error::bad(format!(
                "Stage variable value {v} must contain only alphanumeric and -._~:/?#&=, characters, at most {VARIABLE_VALUE_LEN_MAX}"
            )));
        }
    }
    Ok(())
}

pub(crate) fn now_secs() -> i64 {
    stdx::time::now_ms() / 1000
}
