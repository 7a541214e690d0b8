//! REST API (v1) control plane, Lambda-proxy subset (reference §3.1).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::doc::{Canary, Integration, Method, Resource, RestApi, RestDeployment, RestStage};
use crate::{ApiGateway, Context, Error, Response, Result, s};

const KIND: &str = "rest";
const METHODS: [&str; 8] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"];
const INTEGRATION_TYPES: &str = "[HTTP, MOCK, AWS_PROXY, HTTP_PROXY, AWS]";
const AUTHORIZATION_TYPES: [&str; 4] = ["NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS"];

fn api_missing(ctx: &Context, id: &str) -> Error {
    Error::not_found(format!("Invalid API identifier specified {}:{id}", ctx.account))
}
fn resource_missing() -> Error {
    Error::not_found("Invalid Resource identifier specified")
}
fn method_missing() -> Error {
    Error::not_found("Invalid Method identifier specified")
}
fn integration_missing() -> Error {
    Error::not_found("Invalid Integration identifier specified")
}
fn stage_missing() -> Error {
    Error::not_found("Invalid Stage identifier specified")
}
fn deployment_missing() -> Error {
    Error::not_found("Invalid Deployment identifier specified")
}
/// A REST list answer: `item` and, when more follow, `position`.
fn rest_page(items: Vec<Value>, query: &[(String, String)]) -> Result<Value> {
    let (items, next) = crate::page(items, query, ("limit", "position"), crate::REST_PAGE_DEFAULT)?;
    let mut out = json!({ "item": items });
    if let Some(p) = next {
        out["position"] = json!(p);
    }
    Ok(out)
}
fn unknown_operation() -> Error {
    Error::new(404, "NotFoundException", "Unknown operation")
}

pub(crate) async fn dispatch(
    gw: &ApiGateway,
    ctx: &Context,
    method: &str,
    seg: &[String],
    query: &[(String, String)],
    input: &Value,
) -> Result<Response> {
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    match (method, seg.as_slice()) {
        ("GET", ["restapis"]) => {
            let rows = gw.list(ctx, KIND).await?;
            let items = rows
                .iter()
                .map(|r| crate::decode::<RestApi>(&r.doc).map(|a| api_view(&a)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Response::ok(200, &rest_page(items, query)?))
        }
        ("POST", ["restapis"]) if mode(query) == Some("import") => import_api(gw, ctx, input).await,
        ("POST", ["restapis"]) => create_api(gw, ctx, input).await,
        ("PUT", ["restapis", id]) => {
            let overwrite = mode(query) != Some("merge");
            let spec = input.clone();
            let api = gw
                .update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| {
                    apply_openapi(api, &spec, overwrite)?;
                    Ok(api.clone())
                })
                .await?;
            Ok(Response::ok(200, &api_view(&api)))
        }
        ("GET", ["restapis", id]) => Ok(Response::ok(200, &api_view(&read(gw, ctx, id).await?))),
        ("PATCH", ["restapis", id]) => {
            let ops = patch_ops(input, "updateRestApiInput")?;
            let api = gw
                .update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| {
                    patch_api(api, &ops).map(|()| api.clone())
                })
                .await?;
            Ok(Response::ok(200, &api_view(&api)))
        }
        ("DELETE", ["restapis", id]) => {
            gw.remove(ctx, KIND, id, api_missing(ctx, id)).await?;
            Ok(Response::empty(202))
        }
        ("GET", ["restapis", id, "resources"]) => {
            let api = read(gw, ctx, id).await?;
            let embed = query.iter().any(|(k, v)| k == "embed" && v.split(',').any(|e| e == "methods"));
            let items: Vec<Value> = api.resources.iter().map(|r| resource_view(r, embed)).collect();
            Ok(Response::ok(200, &rest_page(items, query)?))
        }
        ("GET", ["restapis", id, "resources", rid]) => {
            let api = read(gw, ctx, id).await?;
            let embed = query.iter().any(|(k, v)| k == "embed" && v.split(',').any(|e| e == "methods"));
            let r = api.resources.iter().find(|r| r.id == *rid).ok_or_else(resource_missing)?;
            Ok(Response::ok(200, &resource_view(r, embed)))
        }
        ("POST", ["restapis", id, "resources", parent]) => {
            let part = s(input, "pathPart").map(str::to_owned);
            let parent = (*parent).to_owned();
            let r = gw
                .update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| {
                    create_resource(api, &parent, part)
                })
                .await?;
            Ok(Response::ok(201, &resource_view(&r, false)))
        }
        ("PATCH", ["restapis", id, "resources", rid]) => {
            let ops = patch_ops(input, "updateResourceInput")?;
            let rid = (*rid).to_owned();
            let r = gw
                .update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| patch_resource(api, &rid, &ops))
                .await?;
            Ok(Response::ok(200, &resource_view(&r, false)))
        }
        ("DELETE", ["restapis", id, "resources", rid]) => {
            let rid = (*rid).to_owned();
            gw.update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| delete_resource(api, &rid)).await?;
            Ok(Response::empty(202))
        }
        (_, ["restapis", id, "resources", rid, "methods", http_method, rest @ ..]) => {
            method_ops(gw, ctx, method, id, rid, http_method, rest, input).await
        }
        ("GET", ["restapis", id, "deployments"]) => {
            let api = read(gw, ctx, id).await?;
            let items: Vec<Value> = api.deployments.iter().map(deployment_view).collect();
            Ok(Response::ok(200, &rest_page(items, query)?))
        }
        ("POST", ["restapis", id, "deployments"]) => {
            let input = input.clone();
            let d = gw
                .update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| create_deployment(api, &input))
                .await?;
            Ok(Response::ok(201, &d))
        }
        ("GET", ["restapis", id, "deployments", did]) => {
            let api = read(gw, ctx, id).await?;
            let d = api.deployments.iter().find(|d| d.id == *did).ok_or_else(deployment_missing)?;
            Ok(Response::ok(200, &deployment_view(d)))
        }
        ("PATCH", ["restapis", id, "deployments", did]) => {
            let ops = patch_ops(input, "updateDeploymentInput")?;
            let did = (*did).to_owned();
            let d = gw
                .update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| {
                    let d = api.deployments.iter_mut().find(|d| d.id == did).ok_or_else(deployment_missing)?;
                    for (op, path, value) in &ops {
                        match (op.as_str(), path.as_str()) {
                            ("replace", "/description") => d.description = value.clone(),
                            _ => return Err(invalid_patch(op, path)),
                        }
                    }
                    Ok(deployment_view(d))
                })
                .await?;
            Ok(Response::ok(200, &d))
        }
        ("DELETE", ["restapis", id, "deployments", did]) => {
            let did = (*did).to_owned();
            gw.update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| {
                if !api.deployments.iter().any(|d| d.id == did) {
                    return Err(deployment_missing());
                }
                if api.stages.iter().any(|s| s.deployment_id == did) {
                    return Err(Error::bad("Active stages pointing to this deployment must be moved or deleted"));
                }
                api.deployments.retain(|d| d.id != did);
                Ok(())
            })
            .await?;
            Ok(Response::empty(202))
        }
        ("GET", ["restapis", id, "stages"]) => {
            let api = read(gw, ctx, id).await?;
            let filter = query.iter().find(|(k, _)| k == "deploymentId").map(|(_, v)| v.clone());
            let items: Vec<Value> = api
                .stages
                .iter()
                .filter(|s| filter.as_ref().is_none_or(|d| *d == s.deployment_id))
                .map(stage_view)
                .collect();
            Ok(Response::ok(200, &json!({ "item": items })))
        }
        ("POST", ["restapis", id, "stages"]) => {
            let input = input.clone();
            let st = gw
                .update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| create_stage(api, &input))
                .await?;
            Ok(Response::ok(201, &stage_view(&st)))
        }
        ("GET", ["restapis", id, "stages", name]) => {
            let api = read(gw, ctx, id).await?;
            let st = api.stages.iter().find(|s| s.name == *name).ok_or_else(stage_missing)?;
            Ok(Response::ok(200, &stage_view(st)))
        }
        ("PATCH", ["restapis", id, "stages", name]) => {
            let ops = patch_ops(input, "updateStageInput")?;
            let name = (*name).to_owned();
            let st = gw
                .update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| patch_stage(api, &name, &ops))
                .await?;
            Ok(Response::ok(200, &stage_view(&st)))
        }
        ("DELETE", ["restapis", id, "stages", name]) => {
            let name = (*name).to_owned();
            gw.update(ctx, KIND, id, api_missing(ctx, id), move |api: &mut RestApi| {
                let before = api.stages.len();
                api.stages.retain(|s| s.name != name);
                if api.stages.len() == before { Err(stage_missing()) } else { Ok(()) }
            })
            .await?;
            Ok(Response::empty(202))
        }
        (_, ["tags", arn]) => tags(gw, ctx, method, arn, query, input).await,
        _ => Err(unknown_operation()),
    }
}

async fn read(gw: &ApiGateway, ctx: &Context, id: &str) -> Result<RestApi> {
    let row = gw.get(ctx, KIND, id).await?.ok_or_else(|| api_missing(ctx, id))?;
    crate::decode(&row.doc)
}

fn mode(query: &[(String, String)]) -> Option<&str> {
    query.iter().find(|(k, _)| k == "mode").map(|(_, v)| v.as_str())
}

/// ImportRestApi (`POST /restapis?mode=import`): an OpenAPI 2.0/3.0 document in JSON with
/// `x-amazon-apigateway-integration` (and `x-amazon-apigateway-any-method`), as SAM, CDK and
/// Terraform's `body` produce.
async fn import_api(gw: &ApiGateway, ctx: &Context, spec: &Value) -> Result<Response> {
    let Some(title) = spec.pointer("/info/title").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
        return Err(Error::bad("Invalid OpenAPI input: info.title is required"));
    };
    let mut api = RestApi::new(
        crate::new_id(10),
        title.to_owned(),
        spec.pointer("/info/description").and_then(Value::as_str).map(str::to_owned),
    );
    apply_openapi(&mut api, spec, true)?;
    gw.insert(ctx, KIND, api.id.clone(), crate::encode(&api)?).await?;
    Ok(Response::ok(201, &api_view(&api)))
}

/// Lays an OpenAPI document's paths over `api` (`overwrite`: the old tree goes first).
fn apply_openapi(api: &mut RestApi, spec: &Value, overwrite: bool) -> Result<()> {
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return Err(Error::bad("Invalid OpenAPI input: no paths"));
    };
    if overwrite {
        api.resources.retain(|r| r.parent_id.is_none());
        if let Some(root) = api.resources.first_mut() {
            root.methods.clear();
        }
    }
    if let Some(types) = spec.get("x-amazon-apigateway-binary-media-types").and_then(Value::as_array) {
        api.binary_media_types = types.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    }
    for (path, ops) in paths {
        if !path.starts_with('/') {
            return Err(Error::bad(format!("Invalid OpenAPI input: path {path} must start with /")));
        }
        // The resource, creating each missing segment.
        let mut at = api.root_id.clone();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let existing = api
                .resources
                .iter()
                .find(|r| r.parent_id.as_deref() == Some(at.as_str()) && r.path_part.as_deref() == Some(part));
            at = match existing {
                Some(r) => r.id.clone(),
                None => create_resource(api, &at, Some(part.to_owned()))?.id,
            };
        }
        let Some(ops) = ops.as_object() else { continue };
        for (verb, op) in ops {
            let http_method = match verb.as_str() {
                "x-amazon-apigateway-any-method" => "ANY".to_owned(),
                v if METHODS.contains(&v.to_ascii_uppercase().as_str()) => v.to_ascii_uppercase(),
                _ => continue,
            };
            let integration = match op.get("x-amazon-apigateway-integration") {
                None => None,
                Some(i) => {
                    let kind = s(i, "type").unwrap_or_default().to_ascii_uppercase();
                    if !matches!(kind.as_str(), "HTTP" | "MOCK" | "AWS_PROXY" | "HTTP_PROXY" | "AWS") {
                        return Err(Error::bad(format!("Invalid integration type {kind} at {path} {verb}")));
                    }
                    let uri = s(i, "uri").map(str::to_owned);
                    check_uri(&kind, uri.as_deref())?;
                    Some(Integration {
                        kind,
                        http_method: s(i, "httpMethod").map(str::to_ascii_uppercase),
                        uri,
                        credentials: s(i, "credentials").map(str::to_owned),
                        timeout_ms: i.get("timeoutInMillis").and_then(Value::as_u64).unwrap_or(crate::REST_TIMEOUT_MS),
                        passthrough_behavior: s(i, "passthroughBehavior")
                            .unwrap_or("WHEN_NO_MATCH")
                            .to_ascii_uppercase(),
                        cache_namespace: at.clone(),
                        content_handling: s(i, "contentHandling").map(str::to_owned),
                        request_parameters: None,
                        request_templates: None,
                        responses: BTreeMap::new(),
                    })
                }
            };
            let authorization_type = if op.get("x-amazon-apigateway-auth").and_then(|a| s(a, "type")) == Some("AWS_IAM")
                || op
                    .get("security")
                    .and_then(Value::as_array)
                    .is_some_and(|sec| sec.iter().any(|x| x.get("sigv4").is_some()))
            {
                "AWS_IAM"
            } else {
                "NONE"
            };
            let resource = api.resources.iter_mut().find(|r| r.id == at).ok_or_else(resource_missing)?;
            resource.methods.insert(
                http_method.clone(),
                Method {
                    http_method,
                    authorization_type: authorization_type.to_owned(),
                    api_key_required: false,
                    request_parameters: None,
                    operation_name: s(op, "operationId").map(str::to_owned),
                    integration,
                    responses: BTreeMap::new(),
                },
            );
        }
    }
    Ok(())
}

async fn create_api(gw: &ApiGateway, ctx: &Context, input: &Value) -> Result<Response> {
    let Some(name) = s(input, "name").filter(|n| !n.is_empty()) else {
        return Err(Error::bad("Invalid API name specified"));
    };
    let tags = crate::string_map(input, "tags")?.unwrap_or_default();
    crate::check_tags(&tags)?;
    let binary_media_types = match input.get("binaryMediaTypes") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let endpoint_types = input
        .pointer("/endpointConfiguration/types")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| vec!["EDGE".to_owned()]);
    let api_key_source = match s(input, "apiKeySource") {
        None => "HEADER".to_owned(),
        Some(k) => check_api_key_source(k, "createRestApiInput")?,
    };
    let minimum_compression_size = match input.get("minimumCompressionSize") {
        None | Some(Value::Null) => None,
        Some(v) => Some(check_compression_size(v.as_i64())?),
    };
    let id = crate::custom_id(input.get("tags")).unwrap_or_else(|| crate::new_id(10));
    let api = RestApi {
        binary_media_types,
        endpoint_types,
        tags,
        policy: s(input, "policy").filter(|p| !p.is_empty()).map(str::to_owned),
        api_key_source,
        minimum_compression_size,
        version: s(input, "version").map(str::to_owned),
        disable_execute_api_endpoint: input.get("disableExecuteApiEndpoint").and_then(Value::as_bool).unwrap_or(false),
        ..RestApi::new(id.clone(), name.to_owned(), s(input, "description").map(str::to_owned))
    };
    gw.insert(ctx, KIND, id, crate::encode(&api)?).await?;
    Ok(Response::ok(201, &api_view(&api)))
}

/// `HEADER` or `AUTHORIZER` (the model's enum).
fn check_api_key_source(k: &str, shape: &str) -> Result<String> {
    if k == "HEADER" || k == "AUTHORIZER" {
        return Ok(k.to_owned());
    }
    Err(Error::new(
        400,
        "ValidationException",
        format!(
            "1 validation error detected: Value '{k}' at '{shape}.apiKeySource' failed to satisfy constraint: Member must satisfy enum value set: [HEADER, AUTHORIZER]"
        ),
    ))
}

/// `minimumCompressionSize`: 0–10485760 bytes.
fn check_compression_size(n: Option<i64>) -> Result<i64> {
    n.filter(|n| (0..=10_485_760).contains(n))
        .ok_or_else(|| Error::bad("Invalid minimumCompressionSize specified: it must be between 0 and 10485760 bytes"))
}

/// The policy as GetRestApi returns it: JSON-escaped, without the outer quotes
/// (`{\"Version\":…}`), which is what Terraform's reader unescapes.
fn policy_view(policy: &str) -> String {
    let quoted = Value::String(policy.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

fn api_view(api: &RestApi) -> Value {
    let mut v = json!({
        "id": api.id,
        "name": api.name,
        "createdDate": api.created,
        "apiKeySource": api.api_key_source,
        "endpointConfiguration": {
            "types": api.endpoint_types,
            "ipAddressType": if api.endpoint_types.iter().any(|t| t == "PRIVATE") { "dualstack" } else { "ipv4" },
        },
        "disableExecuteApiEndpoint": api.disable_execute_api_endpoint,
        "rootResourceId": api.root_id,
    });
    if let Some(p) = &api.policy {
        v["policy"] = json!(policy_view(p));
    }
    if let Some(n) = api.minimum_compression_size {
        v["minimumCompressionSize"] = json!(n);
    }
    if let Some(ver) = &api.version {
        v["version"] = json!(ver);
    }
    if let Some(d) = &api.description {
        v["description"] = json!(d);
    }
    if !api.binary_media_types.is_empty() {
        v["binaryMediaTypes"] = json!(api.binary_media_types);
    }
    if !api.tags.is_empty() {
        v["tags"] = json!(api.tags);
    }
    v
}

/// `{"patchOperations":[{"op","path","value"}]}` → (op, path, value); `shape` is the
/// operation's input shape the validation message names (`updateStageInput`, …).
fn patch_ops(input: &Value, shape: &str) -> Result<Vec<(String, String, Option<String>)>> {
    let Some(ops) = input.get("patchOperations") else { return Ok(Vec::new()) };
    let Some(ops) = ops.as_array() else { return Err(Error::bad("Invalid patch operations specified")) };
    ops.iter()
        .enumerate()
        .map(|(n, o)| {
            let op = s(o, "op").unwrap_or_default().to_owned();
            if !matches!(op.as_str(), "add" | "remove" | "replace" | "move" | "copy" | "test") {
                return Err(Error::new(
                    400,
                    "ValidationException",
                    format!("1 validation error detected: Value '{op}' at '{shape}.patchOperations.{}.member.op' failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]", n + 1),
                ));
            }
            Ok((op, s(o, "path").unwrap_or_default().to_owned(), s(o, "value").map(str::to_owned)))
        })
        .collect()
}

/// `~1` is `/` and `~0` is `~` in a patch path segment.
fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

fn patch_api(api: &mut RestApi, ops: &[(String, String, Option<String>)]) -> Result<()> {
    for (op, path, value) in ops {
        match (op.as_str(), path.as_str()) {
            ("replace", "/name") => api.name = value.clone().unwrap_or_default(),
            ("replace", "/description") => api.description = value.clone(),
            ("add", p) if p.starts_with("/binaryMediaTypes/") => {
                let t = unescape(&p["/binaryMediaTypes/".len()..]);
                if !api.binary_media_types.contains(&t) {
                    api.binary_media_types.push(t);
                }
            }
            ("remove", p) if p.starts_with("/binaryMediaTypes/") => {
                let t = unescape(&p["/binaryMediaTypes/".len()..]);
                api.binary_media_types.retain(|x| *x != t);
            }
            ("replace", "/policy") => api.policy = value.clone().filter(|p| !p.is_empty()),
            ("replace", "/apiKeySource") => {
                api.api_key_source = check_api_key_source(value.as_deref().unwrap_or_default(), "updateRestApiInput")?;
            }
            ("replace", "/minimumCompressionSize") => {
                api.minimum_compression_size = match value.as_deref() {
                    None | Some("") => None,
                    Some(n) => Some(check_compression_size(n.parse().ok())?),
                };
            }
            ("replace", "/disableExecuteApiEndpoint") => {
                api.disable_execute_api_endpoint = value.as_deref() == Some("true");
            }
            // What Terraform and the console also patch: accepted, not modelled.
            (_, p) if p.starts_with("/endpointConfiguration") => {}
            _ => return Err(Error::bad(format!("Invalid patch path {path}"))),
        }
    }
    Ok(())
}

fn resource_view(r: &Resource, embed: bool) -> Value {
    let mut v = json!({ "id": r.id, "path": r.path });
    if let Some(p) = &r.parent_id {
        v["parentId"] = json!(p);
    }
    if let Some(p) = &r.path_part {
        v["pathPart"] = json!(p);
    }
    if !r.methods.is_empty() {
        let methods: Map<String, Value> =
            r.methods.iter().map(|(k, m)| (k.clone(), if embed { method_view(m) } else { json!({}) })).collect();
        v["resourceMethods"] = Value::Object(methods);
    }
    v
}

fn is_variable(part: &str) -> bool {
    part.starts_with('{') && part.ends_with('}')
}

fn create_resource(api: &mut RestApi, parent_id: &str, part: Option<String>) -> Result<Resource> {
    let parent = api.resources.iter().find(|r| r.id == parent_id).ok_or_else(resource_missing)?.clone();
    let Some(part) = part.filter(|p| !p.is_empty()) else {
        return Err(Error::bad("Resource's path part must be specified"));
    };
    let greedy = |p: &str| p.starts_with('{') && p.ends_with("+}");
    let valid = if is_variable(&part) {
        let inner = part.trim_start_matches('{').trim_end_matches('}').trim_end_matches('+');
        !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    } else {
        part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:~".contains(&b))
    };
    if !valid {
        return Err(Error::bad(format!(
            "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace. Got: {part}"
        )));
    }
    if parent.path_part.as_deref().is_some_and(greedy) {
        return Err(Error::bad(format!(
            "Cannot create a child of a resource with a greedy path variable: {}",
            parent.path_part.as_deref().unwrap_or_default()
        )));
    }
    let siblings: Vec<&Resource> = api.resources.iter().filter(|r| r.parent_id.as_deref() == Some(parent_id)).collect();
    if siblings.iter().any(|r| r.path_part.as_deref() == Some(part.as_str())) {
        return Err(Error::conflict(format!("Another resource with the same parent already has this name: {part}")));
    }
    if is_variable(&part)
        && let Some(other) = siblings.iter().find(|r| r.path_part.as_deref().is_some_and(is_variable))
    {
        return Err(Error::bad(format!(
            "A sibling ({}) of this resource already has a variable path part -- only one is allowed",
            other.path_part.as_deref().unwrap_or_default()
        )));
    }
    if api.resources.len() >= crate::RESOURCES_MAX {
        return Err(Error::limit(format!("Too many resources: at most {} per API", crate::RESOURCES_MAX)));
    }
    let path = if parent.path == "/" { format!("/{part}") } else { format!("{}/{part}", parent.path) };
    let r = Resource {
        id: crate::new_id(10),
        parent_id: Some(parent_id.to_owned()),
        path_part: Some(part),
        path,
        methods: BTreeMap::new(),
    };
    api.resources.push(r.clone());
    Ok(r)
}

fn delete_resource(api: &mut RestApi, rid: &str) -> Result<()> {
    if !api.resources.iter().any(|r| r.id == rid) {
        return Err(resource_missing());
    }
    if rid == api.root_id {
        return Err(Error::bad("Cannot delete root resource"));
    }
    // The resource and its descendants.
    let mut gone = vec![rid.to_owned()];
    let mut i = 0;
    while i < gone.len() {
        let children: Vec<String> = api
            .resources
            .iter()
            .filter(|r| r.parent_id.as_deref() == Some(gone[i].as_str()))
            .map(|r| r.id.clone())
            .collect();
        gone.extend(children);
        i += 1;
    }
    api.resources.retain(|r| !gone.contains(&r.id));
    Ok(())
}

fn method_view(m: &Method) -> Value {
    let mut v = json!({
        "httpMethod": m.http_method,
        "authorizationType": m.authorization_type,
        "apiKeyRequired": m.api_key_required,
    });
    if let Some(p) = &m.request_parameters {
        v["requestParameters"] = p.clone();
    }
    if let Some(o) = &m.operation_name {
        v["operationName"] = json!(o);
    }
    if !m.responses.is_empty() {
        v["methodResponses"] = Value::Object(m.responses.iter().map(|(k, r)| (k.clone(), r.clone())).collect());
    }
    if let Some(i) = &m.integration {
        v["methodIntegration"] = integration_view(i);
    }
    v
}

fn integration_view(i: &Integration) -> Value {
    let mut v = json!({
        "type": i.kind,
        "passthroughBehavior": i.passthrough_behavior,
        "timeoutInMillis": i.timeout_ms,
        "cacheNamespace": i.cache_namespace,
        "cacheKeyParameters": [],
    });
    if let Some(m) = &i.http_method {
        v["httpMethod"] = json!(m);
    }
    if let Some(u) = &i.uri {
        v["uri"] = json!(u);
    }
    if let Some(c) = &i.credentials {
        v["credentials"] = json!(c);
    }
    if let Some(c) = &i.content_handling {
        v["contentHandling"] = json!(c);
    }
    if let Some(p) = &i.request_parameters {
        v["requestParameters"] = p.clone();
    }
    if let Some(p) = &i.request_templates {
        v["requestTemplates"] = p.clone();
    }
    if !i.responses.is_empty() {
        v["integrationResponses"] = Value::Object(i.responses.iter().map(|(k, r)| (k.clone(), r.clone())).collect());
    }
    v
}

/// Checks an `AWS`/`AWS_PROXY` integration URI (reference §3.1 PutIntegration).
fn check_uri(kind: &str, uri: Option<&str>) -> Result<()> {
    if !matches!(kind, "AWS" | "AWS_PROXY") {
        return Ok(());
    }
    let Some(uri) = uri.filter(|u| !u.is_empty()) else {
        return Err(Error::bad("Invalid ARN specified in the request"));
    };
    let parts: Vec<&str> = uri.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" {
        return Err(Error::bad("Invalid ARN specified in the request"));
    }
    if parts[2] != "apigateway" {
        return Err(Error::bad("AWS ARN for integration must contain path or action"));
    }
    let resource = parts[5];
    let lambda_path = parts[4] == "lambda" && resource.starts_with("path/2015-03-31/functions/");
    if kind == "AWS_PROXY" && !lambda_path && parts[4] != "firehose" {
        return Err(Error::bad(
            "Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations.",
        ));
    }
    if kind == "AWS_PROXY" && parts[4] == "firehose" {
        return Err(Error::bad(
            "Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations.",
        ));
    }
    if !resource.starts_with("path/") && !resource.starts_with("action/") {
        return Err(Error::bad("AWS ARN for integration must contain path or action"));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn method_ops(
    gw: &ApiGateway,
    ctx: &Context,
    verb: &str,
    id: &str,
    rid: &str,
    http_method: &str,
    rest: &[&str],
    input: &Value,
) -> Result<Response> {
    let http_method = http_method.to_ascii_uppercase();
    let (rid_s, input_c) = (rid.to_owned(), input.clone());
    let missing = api_missing(ctx, id);
    match (verb, rest) {
        ("PUT", []) => {
            if !METHODS.contains(&http_method.as_str()) {
                return Err(Error::bad(
                    "Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY",
                ));
            }
            let auth = s(input, "authorizationType").unwrap_or_default().to_owned();
            if !AUTHORIZATION_TYPES.contains(&auth.as_str()) {
                return Err(Error::bad(format!(
                    "Invalid authorization type specified. Valid options are {}",
                    AUTHORIZATION_TYPES.join(",")
                )));
            }
            let m = gw
                .update(ctx, KIND, id, missing, move |api: &mut RestApi| {
                    let r = api.resources.iter_mut().find(|r| r.id == rid_s).ok_or_else(resource_missing)?;
                    if r.methods.contains_key(&http_method) {
                        return Err(Error::conflict("Method already exists for this resource"));
                    }
                    let m = Method {
                        http_method: http_method.clone(),
                        authorization_type: auth,
                        api_key_required: input_c.get("apiKeyRequired").and_then(Value::as_bool).unwrap_or(false),
                        request_parameters: input_c.get("requestParameters").cloned(),
                        operation_name: s(&input_c, "operationName").map(str::to_owned),
                        integration: None,
                        responses: BTreeMap::new(),
                    };
                    r.methods.insert(http_method, m.clone());
                    Ok(m)
                })
                .await?;
            Ok(Response::ok(201, &method_view(&m)))
        }
        ("GET", []) => {
            let api = read(gw, ctx, id).await?;
            let r = api.resources.iter().find(|r| r.id == rid).ok_or_else(resource_missing)?;
            let m = r.methods.get(&http_method).ok_or_else(method_missing)?;
            Ok(Response::ok(200, &method_view(m)))
        }
        ("PATCH", []) => {
            let ops = patch_ops(input, "updateMethodInput")?;
            let m = gw
                .update(ctx, KIND, id, missing, move |api: &mut RestApi| {
                    let r = api.resources.iter_mut().find(|r| r.id == rid_s).ok_or_else(resource_missing)?;
                    let m = r.methods.get_mut(&http_method).ok_or_else(method_missing)?;
                    patch_method(m, &ops)?;
                    Ok(m.clone())
                })
                .await?;
            Ok(Response::ok(200, &method_view(&m)))
        }
        ("PATCH", ["integration"]) => {
            let ops = patch_ops(input, "updateIntegrationInput")?;
            let i = gw
                .update(ctx, KIND, id, missing, move |api: &mut RestApi| {
                    let r = api.resources.iter_mut().find(|r| r.id == rid_s).ok_or_else(resource_missing)?;
                    let m = r.methods.get_mut(&http_method).ok_or_else(method_missing)?;
                    let i = m.integration.as_mut().ok_or_else(integration_missing)?;
                    patch_integration(i, &ops)?;
                    Ok(i.clone())
                })
                .await?;
            Ok(Response::ok(200, &integration_view(&i)))
        }
        ("DELETE", []) => {
            gw.update(ctx, KIND, id, missing, move |api: &mut RestApi| {
                let r = api.resources.iter_mut().find(|r| r.id == rid_s).ok_or_else(resource_missing)?;
                r.methods.remove(&http_method).map(|_| ()).ok_or_else(method_missing)
            })
            .await?;
            Ok(Response::empty(204))
        }
        ("PUT", ["integration"]) => {
            let kind = s(input, "type").unwrap_or_default().to_owned();
            if !matches!(kind.as_str(), "HTTP" | "MOCK" | "AWS_PROXY" | "HTTP_PROXY" | "AWS") {
                return Err(Error::new(
                    400,
                    "ValidationException",
                    format!(
                        "1 validation error detected: Value '{kind}' at 'putIntegrationInput.type' failed to satisfy constraint: Member must satisfy enum value set: {INTEGRATION_TYPES}"
                    ),
                ));
            }
            let integration_method =
                s(input, "httpMethod").or_else(|| s(input, "integrationHttpMethod")).map(str::to_owned);
            if kind != "MOCK" && integration_method.as_deref().is_none_or(str::is_empty) {
                return Err(Error::bad("Enumeration value for HttpMethod must be non-empty"));
            }
            check_uri(&kind, s(input, "uri"))?;
            let timeout_ms = match input.get("timeoutInMillis").and_then(Value::as_u64) {
                None => crate::REST_TIMEOUT_MS,
                Some(t) if (crate::TIMEOUT_MIN_MS..=crate::REST_TIMEOUT_MS).contains(&t) => t,
                Some(_) => {
                    return Err(Error::bad(format!(
                        "Timeout should be between {} ms and {} ms",
                        crate::TIMEOUT_MIN_MS,
                        crate::REST_TIMEOUT_MS
                    )));
                }
            };
            let i = gw
                .update(ctx, KIND, id, missing, move |api: &mut RestApi| {
                    let r = api.resources.iter_mut().find(|r| r.id == rid_s).ok_or_else(resource_missing)?;
                    let m = r.methods.get_mut(&http_method).ok_or_else(method_missing)?;
                    let i = Integration {
                        kind,
                        http_method: integration_method,
                        uri: s(&input_c, "uri").map(str::to_owned),
                        credentials: s(&input_c, "credentials").map(str::to_owned),
                        timeout_ms,
                        passthrough_behavior: s(&input_c, "passthroughBehavior").unwrap_or("WHEN_NO_MATCH").to_owned(),
                        cache_namespace: s(&input_c, "cacheNamespace").map_or_else(|| rid_s.clone(), str::to_owned),
                        content_handling: s(&input_c, "contentHandling").map(str::to_owned),
                        request_parameters: input_c.get("requestParameters").cloned(),
                        request_templates: input_c.get("requestTemplates").cloned(),
                        responses: BTreeMap::new(),
                    };
                    m.integration = Some(i.clone());
                    Ok(i)
                })
                .await?;
            Ok(Response::ok(201, &integration_view(&i)))
        }
        ("GET", ["integration"]) => {
            let api = read(gw, ctx, id).await?;
            let r = api.resources.iter().find(|r| r.id == rid).ok_or_else(resource_missing)?;
            let m = r.methods.get(&http_method).ok_or_else(method_missing)?;
            let i = m.integration.as_ref().ok_or_else(integration_missing)?;
            Ok(Response::ok(200, &integration_view(i)))
        }
        ("DELETE", ["integration"]) => {
            gw.update(ctx, KIND, id, missing, move |api: &mut RestApi| {
                let r = api.resources.iter_mut().find(|r| r.id == rid_s).ok_or_else(resource_missing)?;
                let m = r.methods.get_mut(&http_method).ok_or_else(method_missing)?;
                m.integration.take().map(|_| ()).ok_or_else(integration_missing)
            })
            .await?;
            Ok(Response::empty(204))
        }
        (_, ["responses", code]) | (_, ["integration", "responses", code]) => {
            let on_integration = rest.len() == 3;
            let code = (*code).to_owned();
            let verb = verb.to_owned();
            let out = gw
                .update(ctx, KIND, id, missing, move |api: &mut RestApi| {
                    let r = api.resources.iter_mut().find(|r| r.id == rid_s).ok_or_else(resource_missing)?;
                    let m = r.methods.get_mut(&http_method).ok_or_else(method_missing)?;
                    let map = if on_integration {
                        &mut m.integration.as_mut().ok_or_else(integration_missing)?.responses
                    } else {
                        &mut m.responses
                    };
                    let missing = || Error::not_found("Invalid Response status code specified");
                    match verb.as_str() {
                        "PUT" => {
                            let mut v = input_c.clone();
                            v["statusCode"] = json!(code);
                            map.insert(code, v.clone());
                            Ok((201, v))
                        }
                        "GET" => map.get(&code).cloned().map(|v| (200, v)).ok_or_else(missing),
                        "DELETE" => map.remove(&code).map(|_| (204, Value::Null)).ok_or_else(missing),
                        _ => Err(unknown_operation()),
                    }
                })
                .await?;
            Ok(if out.0 == 204 { Response::empty(204) } else { Response::ok(out.0, &out.1) })
        }
        _ => Err(unknown_operation()),
    }
}

/// A patch operation this resource does not take.
fn invalid_patch(op: &str, path: &str) -> Error {
    Error::bad(format!("Invalid patch path '{path}' specified for op '{op}'"))
}

/// `add`/`replace`/`remove` of one member of a JSON object kept as a `Value` (`requestParameters`,
/// `requestTemplates`).
fn patch_member(map: &mut Option<Value>, op: &str, path: &str, key: &str, value: Option<Value>) -> Result<()> {
    let key = unescape(key);
    match op {
        "add" | "replace" => {
            let obj = map.get_or_insert_with(|| json!({}));
            let Some(obj) = obj.as_object_mut() else { return Err(invalid_patch(op, path)) };
            obj.insert(key, value.unwrap_or(Value::Null));
        }
        "remove" => {
            if let Some(obj) = map.as_mut().and_then(Value::as_object_mut) {
                obj.remove(&key);
                if obj.is_empty() {
                    *map = None;
                }
            }
        }
        _ => return Err(invalid_patch(op, path)),
    }
    Ok(())
}

/// UpdateMethod.
fn patch_method(m: &mut Method, ops: &[(String, String, Option<String>)]) -> Result<()> {
    for (op, path, value) in ops {
        match (op.as_str(), path.as_str()) {
            ("replace", "/authorizationType") => {
                let auth = value.as_deref().unwrap_or_default();
                if !AUTHORIZATION_TYPES.contains(&auth) {
                    return Err(Error::bad(format!(
                        "Invalid authorization type specified. Valid options are {}",
                        AUTHORIZATION_TYPES.join(",")
                    )));
                }
                m.authorization_type = auth.to_owned();
            }
            ("replace", "/apiKeyRequired") => m.api_key_required = value.as_deref() == Some("true"),
            ("replace", "/operationName") => m.operation_name = value.clone().filter(|v| !v.is_empty()),
            (_, p) if p.starts_with("/requestParameters/") => {
                let required = json!(value.as_deref() == Some("true"));
                patch_member(&mut m.request_parameters, op, path, &p["/requestParameters/".len()..], Some(required))?;
            }
            // What Terraform also patches: accepted, not modelled (no authorizers, validators, models).
            (_, p)
                if ["/authorizerId", "/authorizationScopes", "/requestValidatorId", "/requestModels"]
                    .iter()
                    .any(|prefix| p.starts_with(prefix)) => {}
            _ => return Err(invalid_patch(op, path)),
        }
    }
    Ok(())
}

/// UpdateIntegration (how Terraform changes an integration's URI or timeout in place).
fn patch_integration(i: &mut Integration, ops: &[(String, String, Option<String>)]) -> Result<()> {
    for (op, path, value) in ops {
        let text = value.clone().filter(|v| !v.is_empty());
        match (op.as_str(), path.as_str()) {
            ("replace", "/uri") => {
                check_uri(&i.kind, text.as_deref())?;
                i.uri = text;
            }
            ("replace", "/httpMethod") => {
                let Some(m) = text else {
                    return Err(Error::bad("Enumeration value for HttpMethod must be non-empty"));
                };
                i.http_method = Some(m.to_ascii_uppercase());
            }
            ("replace", "/timeoutInMillis") => {
                let range = crate::TIMEOUT_MIN_MS..=crate::REST_TIMEOUT_MS;
                match text.as_deref().and_then(|t| t.parse::<u64>().ok()) {
                    Some(t) if range.contains(&t) => i.timeout_ms = t,
                    _ => {
                        return Err(Error::bad(format!(
                            "Timeout should be between {} ms and {} ms",
                            crate::TIMEOUT_MIN_MS,
                            crate::REST_TIMEOUT_MS
                        )));
                    }
                }
            }
            ("replace", "/credentials") => i.credentials = text,
            ("replace", "/passthroughBehavior") => {
                i.passthrough_behavior = text.unwrap_or_else(|| "WHEN_NO_MATCH".to_owned()).to_ascii_uppercase();
            }
            ("replace", "/contentHandling") => i.content_handling = text,
            ("replace", "/cacheNamespace") => {
                if let Some(ns) = text {
                    i.cache_namespace = ns;
                }
            }
            (_, p) if p.starts_with("/requestParameters/") => {
                patch_member(
                    &mut i.request_parameters,
                    op,
                    path,
                    &p["/requestParameters/".len()..],
                    value.clone().map(Value::String),
                )?;
            }
            (_, p) if p.starts_with("/requestTemplates/") => {
                patch_member(
                    &mut i.request_templates,
                    op,
                    path,
                    &p["/requestTemplates/".len()..],
                    value.clone().map(Value::String),
                )?;
            }
            // What Terraform also patches: accepted, not modelled (no VPC links, no caching).
            (_, p)
                if ["/cacheKeyParameters", "/connectionType", "/connectionId", "/tlsConfig"]
                    .iter()
                    .any(|prefix| p.starts_with(prefix)) => {}
            _ => return Err(invalid_patch(op, path)),
        }
    }
    Ok(())
}

/// UpdateResource: `/pathPart` renames, `/parentId` moves; the subtree's paths follow. The
/// same rules as CreateResource apply to the result.
fn patch_resource(api: &mut RestApi, rid: &str, ops: &[(String, String, Option<String>)]) -> Result<Resource> {
    let at = api.resources.iter().position(|r| r.id == rid).ok_or_else(resource_missing)?;
    let (mut part, mut parent) = (api.resources[at].path_part.clone(), api.resources[at].parent_id.clone());
    for (op, path, value) in ops {
        match (op.as_str(), path.as_str()) {
            ("replace", "/pathPart") => part = value.clone(),
            ("replace", "/parentId") => parent = value.clone(),
            _ => return Err(invalid_patch(op, path)),
        }
    }
    let Some(parent) = parent else { return Err(Error::bad("Cannot update the root resource")) };
    // A resource cannot move under itself or its subtree.
    let mut up = Some(parent.clone());
    while let Some(p) = up {
        if p == rid {
            return Err(Error::bad("Cannot move a resource under itself"));
        }
        up = api.resources.iter().find(|r| r.id == p).and_then(|r| r.parent_id.clone());
    }
    let has_children = api.resources.iter().any(|r| r.parent_id.as_deref() == Some(rid));
    if has_children && part.as_deref().is_some_and(|p| p.starts_with('{') && p.ends_with("+}")) {
        return Err(Error::bad(format!(
            "Cannot create a child of a resource with a greedy path variable: {}",
            part.as_deref().unwrap_or_default()
        )));
    }
    // Checked as CreateResource would, without the resource itself; then it takes its own id back.
    let old = api.resources.remove(at);
    let mut moved = create_resource(api, &parent, part)?;
    api.resources.retain(|r| r.id != moved.id);
    moved.id = old.id;
    moved.methods = old.methods;
    api.resources.insert(at, moved.clone());
    // The subtree's paths, parents first.
    let mut queue = vec![moved.clone()];
    while let Some(p) = queue.pop() {
        for r in api.resources.iter_mut().filter(|r| r.parent_id.as_deref() == Some(p.id.as_str())) {
            r.path = format!("{}/{}", p.path.trim_end_matches('/'), r.path_part.as_deref().unwrap_or_default());
            queue.push(r.clone());
        }
    }
    Ok(moved)
}

fn deployment_view(d: &RestDeployment) -> Value {
    let mut v = json!({ "id": d.id, "createdDate": d.created });
    if let Some(desc) = &d.description {
        v["description"] = json!(desc);
    }
    v
}

fn has_methods(resources: &[Resource]) -> bool {
    resources.iter().any(|r| !r.methods.is_empty())
}

fn check_stage_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::bad("Stage name only allows a-zA-Z0-9_"));
    }
    Ok(())
}

fn create_deployment(api: &mut RestApi, input: &Value) -> Result<Value> {
    if !has_methods(&api.resources) {
        return Err(Error::bad("The REST API doesn't contain any methods"));
    }
    if api.resources.iter().any(|r| r.methods.values().any(|m| m.integration.is_none())) {
        return Err(Error::bad("No integration defined for method"));
    }
    let variables = crate::string_map(input, "variables")?;
    if let Some(v) = &variables {
        crate::check_variables(v)?;
    }
    let stage_name = s(input, "stageName").filter(|n| !n.is_empty()).map(str::to_owned);
    if let Some(n) = &stage_name {
        check_stage_name(n)?;
        if !api.stages.iter().any(|s| s.name == *n) && api.stages.len() >= crate::STAGES_MAX {
            return Err(Error::limit(format!("Too many stages: at most {} per API", crate::STAGES_MAX)));
        }
    }
    // Keep a bounded history: drop the oldest deployments no stage uses.
    while api.deployments.len() >= crate::DEPLOYMENTS_MAX {
        let Some(i) = api.deployments.iter().position(|d| !api.stages.iter().any(|s| s.deployment_id == d.id)) else {
            return Err(Error::limit(format!("Too many deployments: at most {} per API", crate::DEPLOYMENTS_MAX)));
        };
        api.deployments.remove(i);
    }
    let d = RestDeployment {
        id: crate::new_id(6),
        created: crate::now_secs(),
        description: s(input, "description").map(str::to_owned),
        resources: api.resources.clone(),
    };
    // With `canarySettings` the deployment becomes the stage's canary; the stage keeps its own.
    if input.get("canarySettings").is_some_and(|c| !c.is_null()) {
        let Some(name) = stage_name else {
            return Err(Error::bad("A canary deployment needs the name of an existing stage"));
        };
        let mut ids: Vec<String> = api.deployments.iter().map(|d| d.id.clone()).collect();
        ids.push(d.id.clone());
        let canary = canary_from(input, Some(&d.id), &ids)?;
        let st = api
            .stages
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::bad("A canary deployment needs the name of an existing stage"))?;
        st.canary = canary;
        st.updated = crate::now_secs();
        let view = deployment_view(&d);
        api.deployments.push(d);
        return Ok(view);
    }
    if let Some(name) = stage_name {
        let now = crate::now_secs();
        match api.stages.iter_mut().find(|s| s.name == name) {
            Some(st) => {
                st.deployment_id = d.id.clone();
                st.updated = now;
                if let Some(v) = variables {
                    st.variables.extend(v);
                }
                if let Some(desc) = s(input, "stageDescription") {
                    st.description = Some(desc.to_owned());
                }
            }
            None => api.stages.push(RestStage {
                name,
                deployment_id: d.id.clone(),
                description: s(input, "stageDescription").map(str::to_owned),
                variables: variables.unwrap_or_default(),
                tracing_enabled: input.get("tracingEnabled").and_then(Value::as_bool).unwrap_or(false),
                created: now,
                updated: now,
                tags: BTreeMap::new(),
                canary: None,
                method_settings: BTreeMap::new(),
            }),
        }
    }
    let view = deployment_view(&d);
    api.deployments.push(d);
    Ok(view)
}

fn stage_view(st: &RestStage) -> Value {
    let mut v = json!({
        "stageName": st.name,
        "deploymentId": st.deployment_id,
        "cacheClusterEnabled": false,
        "cacheClusterStatus": "NOT_AVAILABLE",
        "methodSettings": st.method_settings,
        "tracingEnabled": st.tracing_enabled,
        "createdDate": st.created,
        "lastUpdatedDate": st.updated,
    });
    if let Some(d) = &st.description {
        v["description"] = json!(d);
    }
    if !st.variables.is_empty() {
        v["variables"] = json!(st.variables);
    }
    if !st.tags.is_empty() {
        v["tags"] = json!(st.tags);
    }
    if let Some(c) = &st.canary {
        let mut cv = json!({
            "deploymentId": c.deployment_id,
            "percentTraffic": c.percent_traffic,
            "useStageCache": c.use_stage_cache,
        });
        if !c.overrides.is_empty() {
            cv["stageVariableOverrides"] = json!(c.overrides);
        }
        v["canarySettings"] = cv;
    }
    v
}

/// `canarySettings` of CreateStage/CreateDeployment; `deployment_id` when the input has none.
fn canary_from(input: &Value, deployment_id: Option<&str>, deployments: &[String]) -> Result<Option<Canary>> {
    let Some(c) = input.get("canarySettings").filter(|c| !c.is_null()) else { return Ok(None) };
    let percent = c.get("percentTraffic").and_then(Value::as_f64).unwrap_or(0.0);
    check_percent(percent)?;
    let deployment_id = s(c, "deploymentId").or(deployment_id).unwrap_or_default().to_owned();
    if !deployments.contains(&deployment_id) {
        return Err(Error::bad("Deployment id does not exist"));
    }
    let overrides = crate::string_map(c, "stageVariableOverrides")?.unwrap_or_default();
    crate::check_variables(&overrides)?;
    Ok(Some(Canary {
        deployment_id,
        percent_traffic: percent,
        overrides,
        use_stage_cache: c.get("useStageCache").and_then(Value::as_bool).unwrap_or(false),
    }))
}

fn check_percent(p: f64) -> Result<()> {
    if !(0.0..=100.0).contains(&p) {
        return Err(Error::bad("Canary traffic percentage must be between 0.0 and 100.0"));
    }
    Ok(())
}

fn create_stage(api: &mut RestApi, input: &Value) -> Result<RestStage> {
    let name = s(input, "stageName").unwrap_or_default().to_owned();
    check_stage_name(&name)?;
    let Some(deployment_id) = s(input, "deploymentId").filter(|d| !d.is_empty()) else {
        return Err(Error::bad("Deployment id must be specified"));
    };
    if !api.deployments.iter().any(|d| d.id == deployment_id) {
        return Err(Error::bad("Deployment id does not exist"));
    }
    if api.stages.iter().any(|s| s.name == name) {
        return Err(Error::conflict("Stage already exists"));
    }
    if api.stages.len() >= crate::STAGES_MAX {
        return Err(Error::limit(format!("Too many stages: at most {} per API", crate::STAGES_MAX)));
    }
    let variables = crate::string_map(input, "variables")?.unwrap_or_default();
    crate::check_variables(&variables)?;
    let tags = crate::string_map(input, "tags")?.unwrap_or_default();
    crate::check_tags(&tags)?;
    let ids: Vec<String> = api.deployments.iter().map(|d| d.id.clone()).collect();
    let canary = canary_from(input, None, &ids)?;
    let now = crate::now_secs();
    let st = RestStage {
        canary,
        method_settings: BTreeMap::new(),
        name,
        deployment_id: deployment_id.to_owned(),
        description: s(input, "description").map(str::to_owned),
        variables,
        tracing_enabled: input.get("tracingEnabled").and_then(Value::as_bool).unwrap_or(false),
        created: now,
        updated: now,
        tags,
    };
    api.stages.push(st.clone());
    Ok(st)
}

const STAGE_PATHS: &str = "[/deploymentId, /description, /cacheClusterEnabled, /cacheClusterSize, /clientCertificateId, /accessLogSettings, /accessLogSettings/destinationArn, /accessLogSettings/format, /{resourcePath}/{httpMethod}/metrics/enabled, /{resourcePath}/{httpMethod}/logging/dataTrace, /{resourcePath}/{httpMethod}/logging/loglevel, /{resourcePath}/{httpMethod}/throttling/burstLimit, /{resourcePath}/{httpMethod}/throttling/rateLimit, /{resourcePath}/{httpMethod}/caching/ttlInSeconds, /{resourcePath}/{httpMethod}/caching/enabled, /{resourcePath}/{httpMethod}/caching/dataEncrypted, /{resourcePath}/{httpMethod}/caching/requireAuthorizationForCacheControl, /{resourcePath}/{httpMethod}/caching/unauthorizedCacheControlHeaderStrategy, /*/*/metrics/enabled, /*/*/logging/dataTrace, /*/*/logging/loglevel, /*/*/throttling/burstLimit /*/*/throttling/rateLimit /*/*/caching/ttlInSeconds, /*/*/caching/enabled, /*/*/caching/dataEncrypted, /*/*/caching/requireAuthorizationForCacheControl, /*/*/caching/unauthorizedCacheControlHeaderStrategy, /variables/{variable_name}, /tracingEnabled]";

fn patch_stage(api: &mut RestApi, name: &str, ops: &[(String, String, Option<String>)]) -> Result<RestStage> {
    let deployments: Vec<String> = api.deployments.iter().map(|d| d.id.clone()).collect();
    let st = api.stages.iter_mut().find(|s| s.name == name).ok_or_else(stage_missing)?;
    let mut next = st.clone();
    for (op, path, value) in ops {
        if let Some(var) = path.strip_prefix("/variables/") {
            let var = unescape(var);
            match op.as_str() {
                "remove" => {
                    next.variables.remove(&var);
                }
                _ => {
                    next.variables.insert(var, value.clone().unwrap_or_default());
                }
            }
            continue;
        }
        if let Some(rest) = path.strip_prefix("/canarySettings") {
            patch_canary(&mut next, op, rest, value.as_deref(), &deployments)?;
            continue;
        }
        match path.as_str() {
            "/deploymentId" => {
                let d = value.clone().unwrap_or_default();
                if !deployments.contains(&d) {
                    return Err(Error::bad("Deployment id does not exist"));
                }
                next.deployment_id = d;
            }
            "/description" => next.description = value.clone(),
            "/tracingEnabled" => next.tracing_enabled = value.as_deref() == Some("true"),
            p if p.starts_with("/cacheCluster")
                || p.starts_with("/clientCertificateId")
                || p.starts_with("/accessLogSettings") =>
            {
                // Accepted and not modelled (a cache cluster, client certificates, access logs).
            }
            p if p.matches('/').count() >= 4 => set_method_setting(&mut next, op, p, value.as_deref())?,
            _ => return Err(Error::bad(format!("Invalid method setting path: {path}. Must be one of: {STAGE_PATHS}"))),
        }
    }
    crate::check_variables(&next.variables)?;
    next.updated = crate::now_secs();
    *st = next.clone();
    Ok(next)
}

/// `/{resourcePath}/{METHOD}/{group}/{setting}` → the `methodSettings` member, under the key
/// `{resource path without its leading /}/{METHOD}` (`*/*` for every method).
fn set_method_setting(st: &mut RestStage, op: &str, path: &str, value: Option<&str>) -> Result<()> {
    let invalid = || Error::bad(format!("Invalid method setting path: {path}. Must be one of: {STAGE_PATHS}"));
    let parts: Vec<&str> = path.trim_start_matches('/').rsplitn(3, '/').collect();
    let [setting, group, target] = parts[..] else { return Err(invalid()) };
    let (resource, method) = target.rsplit_once('/').ok_or_else(invalid)?;
    let key = format!("{}/{method}", unescape(resource).trim_start_matches('/'));
    let value = value.unwrap_or_default();
    let number = |v: &str| v.parse::<f64>().map_err(|_| Error::bad(format!("Invalid value {v} for {path}")));
    let boolean = |v: &str| v.eq_ignore_ascii_case("true");
    let (member, v) = match (group, setting) {
        ("metrics", "enabled") => ("metricsEnabled", json!(boolean(value))),
        ("logging", "loglevel") => ("loggingLevel", json!(value)),
        ("logging", "dataTrace") => ("dataTraceEnabled", json!(boolean(value))),
        ("throttling", "burstLimit") => ("throttlingBurstLimit", json!(number(value)? as i64)),
        ("throttling", "rateLimit") => ("throttlingRateLimit", json!(number(value)?)),
        ("caching", "enabled") => ("cachingEnabled", json!(boolean(value))),
        ("caching", "ttlInSeconds") => ("cacheTtlInSeconds", json!(number(value)? as i64)),
        ("caching", "dataEncrypted") => ("cacheDataEncrypted", json!(boolean(value))),
        ("caching", "requireAuthorizationForCacheControl") => {
            ("requireAuthorizationForCacheControl", json!(boolean(value)))
        }
        ("caching", "unauthorizedCacheControlHeaderStrategy") => {
            ("unauthorizedCacheControlHeaderStrategy", json!(value))
        }
        _ => return Err(invalid()),
    };
    let entry = st.method_settings.entry(key.clone()).or_insert_with(|| {
        // AWS's defaults for a new entry (recorded: throttling 10000/5000).
        let mut m = serde_json::Map::new();
        m.insert("metricsEnabled".into(), json!(false));
        m.insert("dataTraceEnabled".into(), json!(false));
        m.insert("throttlingBurstLimit".into(), json!(5000));
        m.insert("throttlingRateLimit".into(), json!(10000.0));
        m.insert("cachingEnabled".into(), json!(false));
        m.insert("cacheTtlInSeconds".into(), json!(300));
        m.insert("cacheDataEncrypted".into(), json!(false));
        m.insert("requireAuthorizationForCacheControl".into(), json!(true));
        m.insert("unauthorizedCacheControlHeaderStrategy".into(), json!("SUCCEED_WITH_RESPONSE_HEADER"));
        m
    });
    if op == "remove" {
        entry.remove(member);
        if entry.is_empty() {
            st.method_settings.remove(&key);
        }
    } else {
        entry.insert(member.to_owned(), v);
    }
    Ok(())
}

/// `/canarySettings[/…]` patch operations: `remove /canarySettings` ends the canary (after
/// `replace /deploymentId` it is how a canary is promoted); the members are replaced one by one.
fn patch_canary(st: &mut RestStage, op: &str, rest: &str, value: Option<&str>, deployments: &[String]) -> Result<()> {
    if rest.is_empty() {
        if op == "remove" {
            st.canary = None;
            return Ok(());
        }
        return Err(Error::bad(format!("Invalid patch operation {op} on /canarySettings")));
    }
    let canary = st.canary.get_or_insert_with(|| Canary {
        deployment_id: st.deployment_id.clone(),
        percent_traffic: 0.0,
        overrides: BTreeMap::new(),
        use_stage_cache: false,
    });
    let value = value.unwrap_or_default();
    if let Some(var) = rest.strip_prefix("/stageVariableOverrides/") {
        if op == "remove" {
            canary.overrides.remove(&unescape(var));
        } else {
            canary.overrides.insert(unescape(var), value.to_owned());
        }
        return crate::check_variables(&canary.overrides);
    }
    match rest {
        "/percentTraffic" => {
            let p: f64 = value.parse().map_err(|_| Error::bad(format!("Invalid percent traffic {value}")))?;
            check_percent(p)?;
            canary.percent_traffic = p;
        }
        "/deploymentId" => {
            if !deployments.iter().any(|d| d == value) {
                return Err(Error::bad("Deployment id does not exist"));
            }
            canary.deployment_id = value.to_owned();
        }
        "/useStageCache" => canary.use_stage_cache = value == "true",
        _ => {
            return Err(Error::bad(format!(
                "Invalid method setting path: /canarySettings{rest}. Must be one of: {STAGE_PATHS}"
            )));
        }
    }
    Ok(())
}

/// Tags by ARN: `arn:aws:apigateway:{region}::/restapis/{id}[/stages/{name}]`.
async fn tags(
    gw: &ApiGateway,
    ctx: &Context,
    method: &str,
    arn: &str,
    query: &[(String, String)],
    input: &Value,
) -> Result<Response> {
    let (id, stage) =
        parse_tag_arn(arn, "restapis").ok_or_else(|| Error::not_found(format!("Invalid resource ARN {arn}")))?;
    let missing = api_missing(ctx, &id);
    let keys: Vec<String> = query.iter().filter(|(k, _)| k == "tagKeys").map(|(_, v)| v.clone()).collect();
    let add = crate::string_map(input, "tags")?.unwrap_or_default();
    let verb = method.to_owned();
    let tags = gw
        .update(ctx, KIND, &id, missing, move |api: &mut RestApi| {
            let tags = match &stage {
                None => &mut api.tags,
                Some(n) => &mut api.stages.iter_mut().find(|s| s.name == *n).ok_or_else(stage_missing)?.tags,
            };
            crate::edit_tags(tags, (verb == "PUT").then_some(add), (verb == "DELETE").then_some(&keys[..]))
        })
        .await?;
    match method {
        "GET" => Ok(Response::ok(200, &json!({ "tags": tags }))),
        _ => Ok(Response::empty(204)),
    }
}

/// `arn:aws:apigateway:{region}::/{collection}/{id}[/stages/{name}]` → (id, stage).
pub(crate) fn parse_tag_arn(arn: &str, collection: &str) -> Option<(String, Option<String>)> {
    let path = arn.split_once("::")?.1;
    let rest = path.strip_prefix('/')?.strip_prefix(collection)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let id = parts.next()?.to_owned();
    match (parts.next(), parts.next()) {
        (None, _) => Some((id, None)),
        (Some("stages"), Some(name)) => Some((id, Some(name.to_owned()))),
        _ => None,
    }
}
