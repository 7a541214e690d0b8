//! HTTP API (v2) control plane, Lambda-proxy subset (reference §3.2).

use serde_json::{Value, json};

use crate::doc::{HttpApi, HttpDeployment, HttpIntegration, HttpStage, Route};
use crate::{ApiGateway, Context, Error, Response, Result, s};

const KIND: &str = "http";
const ROUTE_METHODS: [&str; 8] = ["ANY", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

fn api_missing(id: &str) -> Error {
    Error::not_found(format!("Invalid API identifier specified {id}")).typed("Api")
}
fn integration_missing(id: &str) -> Error {
    Error::not_found(format!("Invalid Integration identifier specified {id}")).typed("Integration")
}
fn route_missing(id: &str) -> Error {
    Error::not_found(format!("Invalid Route identifier specified {id}")).typed("Route")
}
fn stage_missing(name: &str) -> Error {
    Error::not_found(format!("Invalid stage identifier specified {name}")).typed("Stage")
}
fn deployment_missing(id: &str) -> Error {
    Error::not_found(format!("Invalid Deployment identifier specified {id}")).typed("Deployment")
}

/// An HTTP API list answer: `items` and, when more follow, `nextToken`.
fn http_page(items: Vec<Value>, query: &[(String, String)]) -> Result<Value> {
    let (items, next) = crate::page(items, query, ("maxResults", "nextToken"), usize::MAX)?;
    let mut out = json!({ "items": items });
    if let Some(t) = next {
        out["nextToken"] = json!(t);
    }
    Ok(out)
}

fn iso(ms: i64) -> String {
    let c = stdx::time::Civil::from_epoch_ms(ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
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
    let input_c = input.clone();
    match (method, seg.as_slice()) {
        ("GET", ["apis"]) => {
            let rows = gw.list(ctx, KIND).await?;
            let items = rows
                .iter()
                .map(|r| crate::decode::<HttpApi>(&r.doc).map(|a| api_view(&a, ctx)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Response::ok(200, &http_page(items, query)?))
        }
        ("POST", ["apis"]) => create_api(gw, ctx, input).await,
        ("PUT", ["apis"]) => {
            let spec = openapi_body(input)?;
            let title = spec.pointer("/info/title").and_then(Value::as_str).filter(|t| !t.is_empty());
            let Some(title) = title else { return Err(Error::bad("Invalid OpenAPI input: info.title is required")) };
            let now = stdx::time::now_ms();
            let mut api = HttpApi {
                id: crate::new_id(10),
                name: title.to_owned(),
                protocol_type: "HTTP".into(),
                description: spec.pointer("/info/description").and_then(Value::as_str).map(str::to_owned),
                created_ms: now,
                tags: Default::default(),
                cors: None,
                version: spec.pointer("/info/version").and_then(Value::as_str).map(str::to_owned),
                disable_execute_api_endpoint: false,
                integrations: Vec::new(),
                routes: Vec::new(),
                deployments: Vec::new(),
                stages: Vec::new(),
            };
            apply_openapi(&mut api, &spec)?;
            gw.insert(ctx, KIND, api.id.clone(), crate::encode(&api)?).await?;
            Ok(Response::ok(201, &api_view(&api, ctx)))
        }
        ("PUT", ["apis", id]) => {
            let spec = openapi_body(input)?;
            let api = gw
                .update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                    apply_openapi(api, &spec)?;
                    auto_deploy(api);
                    Ok(api.clone())
                })
                .await?;
            Ok(Response::ok(201, &api_view(&api, ctx)))
        }
        ("GET", ["apis", id]) => Ok(Response::ok(200, &api_view(&read(gw, ctx, id).await?, ctx))),
        ("PATCH", ["apis", id]) => {
            let api = gw
                .update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                    if let Some(n) = s(&input_c, "name") {
                        api.name = n.to_owned();
                    }
                    if let Some(d) = s(&input_c, "description") {
                        api.description = Some(d.to_owned());
                    }
                    if let Some(c) = input_c.get("corsConfiguration") {
                        api.cors = Some(c.clone());
                    }
                    if let Some(d) = input_c.get("disableExecuteApiEndpoint").and_then(Value::as_bool) {
                        api.disable_execute_api_endpoint = d;
                    }
                    auto_deploy(api);
                    Ok(api.clone())
                })
                .await?;
            Ok(Response::ok(200, &api_view(&api, ctx)))
        }
        ("DELETE", ["apis", id]) => {
            gw.remove(ctx, KIND, id, api_missing(id)).await?;
            Ok(Response::empty(204))
        }
        ("GET", ["apis", id, "integrations"]) => {
            let api = read(gw, ctx, id).await?;
            Ok(Response::ok(200, &http_page(api.integrations.iter().map(integration_view).collect(), query)?))
        }
        ("POST", ["apis", id, "integrations"]) => {
            let i = integration_from(input, None)?;
            let out = gw
                .update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                    if api.integrations.len() >= crate::ROUTES_MAX {
                        return Err(Error::limit(format!("Too many integrations: at most {}", crate::ROUTES_MAX)));
                    }
                    api.integrations.push(i.clone());
                    auto_deploy(api);
                    Ok(i)
                })
                .await?;
            Ok(Response::ok(201, &integration_view(&out)))
        }
        ("GET", ["apis", id, "integrations", iid]) => {
            let api = read(gw, ctx, id).await?;
            let i = api.integrations.iter().find(|i| i.id == *iid).ok_or_else(|| integration_missing(iid))?;
            Ok(Response::ok(200, &integration_view(i)))
        }
        ("PATCH", ["apis", id, "integrations", iid]) => {
            let iid = (*iid).to_owned();
            let out = gw
                .update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                    let i =
                        api.integrations.iter_mut().find(|i| i.id == iid).ok_or_else(|| integration_missing(&iid))?;
                    let mut merged = integration_view(i);
                    if let (Value::Object(m), Value::Object(patch)) = (&mut merged, &input_c) {
                        for (k, v) in patch {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                    *i = integration_from(&merged, Some(iid.clone()))?;
                    let out = i.clone();
                    auto_deploy(api);
                    Ok(out)
                })
                .await?;
            Ok(Response::ok(200, &integration_view(&out)))
        }
        ("DELETE", ["apis", id, "integrations", iid]) => {
            let iid = (*iid).to_owned();
            gw.update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                if !api.integrations.iter().any(|i| i.id == iid) {
                    return Err(integration_missing(&iid));
                }
                let target = format!("integrations/{iid}");
                if api.routes.iter().any(|r| r.target.as_deref() == Some(target.as_str())) {
                    return Err(Error::conflict(format!(
                        "Cannot delete an integration that is targeted by one or more routes: {iid}"
                    )));
                }
                api.integrations.retain(|i| i.id != iid);
                auto_deploy(api);
                Ok(())
            })
            .await?;
            Ok(Response::empty(204))
        }
        ("GET", ["apis", id, "routes"]) => {
            let api = read(gw, ctx, id).await?;
            Ok(Response::ok(200, &http_page(api.routes.iter().map(route_view).collect(), query)?))
        }
        ("POST", ["apis", id, "routes"]) => {
            let key = s(input, "routeKey").unwrap_or_default().to_owned();
            check_route_key(&key)?;
            let target = s(input, "target").map(str::to_owned);
            let auth = s(input, "authorizationType").unwrap_or("NONE").to_owned();
            let out = gw
                .update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                    check_target(api, target.as_deref())?;
                    if api.routes.iter().any(|r| r.route_key == key) {
                        return Err(Error::conflict(format!("Route with key {key} already exists for this API")));
                    }
                    if api.routes.len() >= crate::ROUTES_MAX {
                        return Err(Error::limit(format!("Too many routes: at most {}", crate::ROUTES_MAX)));
                    }
                    let r = Route {
                        id: crate::new_id(7),
                        route_key: key,
                        target,
                        authorization_type: auth,
                        api_gateway_managed: false,
                    };
                    api.routes.push(r.clone());
                    auto_deploy(api);
                    Ok(r)
                })
                .await?;
            Ok(Response::ok(201, &route_view(&out)))
        }
        ("GET", ["apis", id, "routes", rid]) => {
            let api = read(gw, ctx, id).await?;
            let r = api.routes.iter().find(|r| r.id == *rid).ok_or_else(|| route_missing(rid))?;
            Ok(Response::ok(200, &route_view(r)))
        }
        ("PATCH", ["apis", id, "routes", rid]) => {
            let rid = (*rid).to_owned();
            if let Some(k) = s(input, "routeKey") {
                check_route_key(k)?;
            }
            let out = gw
                .update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                    if let Some(t) = s(&input_c, "target") {
                        check_target(api, Some(t))?;
                    }
                    let r = api.routes.iter_mut().find(|r| r.id == rid).ok_or_else(|| route_missing(&rid))?;
                    if let Some(k) = s(&input_c, "routeKey") {
                        r.route_key = k.to_owned();
                    }
                    if let Some(t) = s(&input_c, "target") {
                        r.target = Some(t.to_owned());
                    }
                    let out = r.clone();
                    auto_deploy(api);
                    Ok(out)
                })
                .await?;
            Ok(Response::ok(200, &route_view(&out)))
        }
        ("DELETE", ["apis", id, "routes", rid]) => {
            let rid = (*rid).to_owned();
            gw.update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                let before = api.routes.len();
                api.routes.retain(|r| r.id != rid);
                if api.routes.len() == before {
                    return Err(route_missing(&rid));
                }
                auto_deploy(api);
                Ok(())
            })
            .await?;
            Ok(Response::empty(204))
        }
        ("GET", ["apis", id, "stages"]) => {
            let api = read(gw, ctx, id).await?;
            Ok(Response::ok(200, &http_page(api.stages.iter().map(stage_view).collect(), query)?))
        }
        ("POST", ["apis", id, "stages"]) => {
            let st = gw
                .update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| create_stage(api, &input_c, false))
                .await?;
            Ok(Response::ok(201, &stage_view(&st)))
        }
        ("GET", ["apis", id, "stages", name]) => {
            let api = read(gw, ctx, id).await?;
            let st = api.stages.iter().find(|s| s.name == *name).ok_or_else(|| stage_missing(name))?;
            Ok(Response::ok(200, &stage_view(st)))
        }
        ("PATCH", ["apis", id, "stages", name]) => {
            let name = (*name).to_owned();
            let st = gw
                .update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| update_stage(api, &name, &input_c))
                .await?;
            Ok(Response::ok(200, &stage_view(&st)))
        }
        ("DELETE", ["apis", id, "stages", name]) => {
            let name = (*name).to_owned();
            gw.update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                let before = api.stages.len();
                api.stages.retain(|s| s.name != name);
                if api.stages.len() == before { Err(stage_missing(&name)) } else { Ok(()) }
            })
            .await?;
            Ok(Response::empty(204))
        }
        ("GET", ["apis", id, "deployments"]) => {
            let api = read(gw, ctx, id).await?;
            Ok(Response::ok(200, &http_page(api.deployments.iter().map(deployment_view).collect(), query)?))
        }
        ("POST", ["apis", id, "deployments"]) => {
            let d = gw
                .update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                    let stage = s(&input_c, "stageName").map(str::to_owned);
                    if let Some(n) = &stage
                        && !api.stages.iter().any(|s| s.name == *n)
                    {
                        return Err(stage_missing(n));
                    }
                    let d = deploy(api, s(&input_c, "description").map(str::to_owned), false)?;
                    if let Some(n) = stage
                        && let Some(st) = api.stages.iter_mut().find(|s| s.name == n)
                    {
                        st.deployment_id = Some(d.id.clone());
                        st.updated_ms = stdx::time::now_ms();
                    }
                    Ok(d)
                })
                .await?;
            Ok(Response::ok(201, &deployment_view(&d)))
        }
        ("GET", ["apis", id, "deployments", did]) => {
            let api = read(gw, ctx, id).await?;
            let d = api.deployments.iter().find(|d| d.id == *did).ok_or_else(|| deployment_missing(did))?;
            Ok(Response::ok(200, &deployment_view(d)))
        }
        ("DELETE", ["apis", id, "deployments", did]) => {
            let did = (*did).to_owned();
            gw.update(ctx, KIND, id, api_missing(id), move |api: &mut HttpApi| {
                if !api.deployments.iter().any(|d| d.id == did) {
                    return Err(deployment_missing(&did));
                }
                if api.stages.iter().any(|s| s.deployment_id.as_deref() == Some(did.as_str())) {
                    return Err(Error::bad("Active stages pointing to this deployment must be moved or deleted"));
                }
                api.deployments.retain(|d| d.id != did);
                Ok(())
            })
            .await?;
            Ok(Response::empty(204))
        }
        (_, ["tags", arn]) => {
            let (id, stage) = crate::rest::parse_tag_arn(arn, "apis")
                .ok_or_else(|| Error::not_found(format!("Invalid resource ARN {arn}")))?;
            let keys: Vec<String> = query.iter().filter(|(k, _)| k == "tagKeys").map(|(_, v)| v.clone()).collect();
            let add = crate::string_map(input, "tags")?.unwrap_or_default();
            let verb = method.to_owned();
            let tags = gw
                .update(ctx, KIND, &id, api_missing(&id), move |api: &mut HttpApi| {
                    let tags = match &stage {
                        None => &mut api.tags,
                        Some(n) => {
                            &mut api.stages.iter_mut().find(|s| s.name == *n).ok_or_else(|| stage_missing(n))?.tags
                        }
                    };
                    crate::edit_tags(tags, (verb == "POST").then_some(add), (verb == "DELETE").then_some(&keys[..]))
                })
                .await?;
            match method {
                "GET" => Ok(Response::ok(200, &json!({ "tags": tags }))),
                "POST" => Ok(Response::ok(201, &json!({}))),
                _ => Ok(Response::empty(204)),
            }
        }
        _ => Err(Error::not_found("Unknown operation")),
    }
}

async fn read(gw: &ApiGateway, ctx: &Context, id: &str) -> Result<HttpApi> {
    let row = gw.get(ctx, KIND, id).await?.ok_or_else(|| api_missing(id))?;
    crate::decode(&row.doc)
}

fn endpoint(api_id: &str, ctx: &Context) -> String {
    let port = ctx
        .host
        .as_deref()
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p)
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()));
    match port {
        Some(p) => format!("http://{api_id}.execute-api.{}.localhost:{p}", ctx.region),
        None => format!("http://{api_id}.execute-api.{}.localhost", ctx.region),
    }
}

fn api_view(api: &HttpApi, ctx: &Context) -> Value {
    let mut v = json!({
        "apiId": api.id,
        "name": api.name,
        "protocolType": api.protocol_type,
        "apiEndpoint": endpoint(&api.id, ctx),
        "apiKeySelectionExpression": "$request.header.x-api-key",
        "createdDate": iso(api.created_ms),
        "disableExecuteApiEndpoint": api.disable_execute_api_endpoint,
        "routeSelectionExpression": "$request.method $request.path",
        "tags": api.tags,
    });
    if let Some(d) = &api.description {
        v["description"] = json!(d);
    }
    if let Some(c) = &api.cors {
        v["corsConfiguration"] = c.clone();
    }
    if let Some(ver) = &api.version {
        v["version"] = json!(ver);
    }
    v
}

async fn create_api(gw: &ApiGateway, ctx: &Context, input: &Value) -> Result<Response> {
    let Some(name) = s(input, "name").filter(|n| !n.is_empty()) else {
        return Err(Error::bad("Invalid API name specified"));
    };
    let protocol = s(input, "protocolType").unwrap_or_default();
    if protocol != "HTTP" {
        return Err(Error::bad(format!(
            "Unsupported protocol type {protocol}: Versa serves HTTP APIs (WebSocket APIs are not supported)"
        )));
    }
    let tags = crate::string_map(input, "tags")?.unwrap_or_default();
    crate::check_tags(&tags)?;
    let id = crate::custom_id(input.get("tags")).unwrap_or_else(|| crate::new_id(10));
    let now = stdx::time::now_ms();
    let mut api = HttpApi {
        id: id.clone(),
        name: name.to_owned(),
        protocol_type: protocol.to_owned(),
        description: s(input, "description").map(str::to_owned),
        created_ms: now,
        tags,
        cors: input.get("corsConfiguration").cloned(),
        version: s(input, "version").map(str::to_owned),
        disable_execute_api_endpoint: input.get("disableExecuteApiEndpoint").and_then(Value::as_bool).unwrap_or(false),
        integrations: Vec::new(),
        routes: Vec::new(),
        deployments: Vec::new(),
        stages: Vec::new(),
    };
    // Quick create: an integration on the target, a route (`$default` unless given) and the
    // `$default` stage with AutoDeploy, all managed by API Gateway.
    if let Some(target) = s(input, "target") {
        let mut i = integration_from(
            &json!({
                "integrationType": "AWS_PROXY",
                "integrationUri": target,
                "payloadFormatVersion": "2.0",
                "credentialsArn": input.get("credentialsArn"),
            }),
            None,
        )?;
        i.api_gateway_managed = true;
        let key = s(input, "routeKey").unwrap_or("$default").to_owned();
        check_route_key(&key)?;
        api.routes.push(Route {
            id: crate::new_id(7),
            route_key: key,
            target: Some(format!("integrations/{}", i.id)),
            authorization_type: "NONE".into(),
            api_gateway_managed: true,
        });
        api.integrations.push(i);
        let mut st = create_stage(&mut api, &json!({ "stageName": "$default", "autoDeploy": true }), true)?;
        st.api_gateway_managed = true;
        if let Some(s) = api.stages.iter_mut().find(|s| s.name == "$default") {
            s.api_gateway_managed = true;
        }
    } else if input.get("routeKey").is_some() || input.get("credentialsArn").is_some() {
        return Err(Error::bad("RouteKey and CredentialsArn are only allowed with Target (quick create)"));
    }
    gw.insert(ctx, KIND, id, crate::encode(&api)?).await?;
    Ok(Response::ok(201, &api_view(&api, ctx)))
}

/// ImportApi/ReimportApi carry the OpenAPI document as a string member `body` (JSON only).
fn openapi_body(input: &Value) -> Result<Value> {
    let text = s(input, "body").ok_or_else(|| Error::bad("Invalid OpenAPI input: body is required"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Error::bad("Invalid OpenAPI input: Versa reads OpenAPI documents in JSON")),
    }
}

/// Replaces the routes and integrations with an OpenAPI 3 document's (`paths` with
/// `x-amazon-apigateway-integration`; `x-amazon-apigateway-any-method` is ANY; the path
/// `$default` is the default route).
fn apply_openapi(api: &mut HttpApi, spec: &Value) -> Result<()> {
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return Err(Error::bad("Invalid OpenAPI input: no paths"));
    };
    let mut routes = Vec::new();
    let mut integrations: Vec<HttpIntegration> = Vec::new();
    for (path, ops) in paths {
        let Some(ops) = ops.as_object() else { continue };
        for (verb, op) in ops {
            let method = match verb.as_str() {
                "x-amazon-apigateway-any-method" => "ANY".to_owned(),
                v if ROUTE_METHODS.contains(&v.to_ascii_uppercase().as_str()) => v.to_ascii_uppercase(),
                _ => continue,
            };
            let key = if path == "$default" { "$default".to_owned() } else { format!("{method} {path}") };
            check_route_key(&key)?;
            let target = match op.get("x-amazon-apigateway-integration") {
                None => None,
                Some(i) => {
                    let i = integration_from(
                        &json!({
                            "integrationType": s(i, "type").unwrap_or_default().to_ascii_uppercase(),
                            "integrationUri": i.get("uri"),
                            "payloadFormatVersion": i.get("payloadFormatVersion"),
                            "timeoutInMillis": i.get("timeoutInMillis"),
                            "credentialsArn": i.get("credentials"),
                            "integrationMethod": i.get("httpMethod"),
                        }),
                        None,
                    )?;
                    let same = integrations.iter().find(|x| {
                        (&x.kind, &x.uri, &x.payload_format_version, &x.credentials_arn)
                            == (&i.kind, &i.uri, &i.payload_format_version, &i.credentials_arn)
                    });
                    let id = match same {
                        Some(x) => x.id.clone(),
                        None => {
                            let id = i.id.clone();
                            integrations.push(i);
                            id
                        }
                    };
                    Some(format!("integrations/{id}"))
                }
            };
            if routes.len() >= crate::ROUTES_MAX {
                return Err(Error::limit(format!("Too many routes: at most {}", crate::ROUTES_MAX)));
            }
            routes.push(Route {
                id: crate::new_id(7),
                route_key: key,
                target,
                authorization_type: "NONE".into(),
                api_gateway_managed: false,
            });
        }
    }
    api.routes = routes;
    api.integrations = integrations;
    Ok(())
}

/// An integration from its input (or its merged view, for UpdateIntegration).
fn integration_from(input: &Value, id: Option<String>) -> Result<HttpIntegration> {
    let kind = s(input, "integrationType").unwrap_or_default().to_owned();
    if !matches!(kind.as_str(), "AWS" | "HTTP" | "MOCK" | "HTTP_PROXY" | "AWS_PROXY") {
        return Err(Error::bad(format!("Invalid integration type specified: {kind}")));
    }
    let uri = s(input, "integrationUri").map(str::to_owned);
    let pfv = s(input, "payloadFormatVersion").map(str::to_owned);
    if kind == "AWS_PROXY" {
        let Some(u) = uri.as_deref() else {
            return Err(Error::bad("IntegrationUri is required for AWS_PROXY integrations"));
        };
        if crate::exec::lambda_arn_of(u).is_none() && !u.contains("${stageVariables.") {
            return Err(Error::bad(format!("Invalid integration URI specified: {u}")));
        }
        match pfv.as_deref() {
            Some("1.0" | "2.0") => {}
            Some(other) => {
                return Err(Error::bad(format!("Unsupported payload format version: {other}. Supported: 1.0, 2.0")));
            }
            None => return Err(Error::bad("PayloadFormatVersion is required for AWS_PROXY integrations of HTTP APIs")),
        }
    }
    let timeout_ms = match input.get("timeoutInMillis").and_then(Value::as_u64) {
        None => crate::HTTP_TIMEOUT_MS,
        Some(t) if (crate::TIMEOUT_MIN_MS..=crate::HTTP_TIMEOUT_MS).contains(&t) => t,
        Some(_) => {
            return Err(Error::bad(format!(
                "Timeout must be between {} and {} milliseconds",
                crate::TIMEOUT_MIN_MS,
                crate::HTTP_TIMEOUT_MS
            )));
        }
    };
    Ok(HttpIntegration {
        id: id.unwrap_or_else(|| crate::new_id(7)),
        kind,
        uri,
        method: Some(s(input, "integrationMethod").unwrap_or("POST").to_owned()),
        payload_format_version: pfv,
        timeout_ms,
        credentials_arn: s(input, "credentialsArn").map(str::to_owned),
        description: s(input, "description").map(str::to_owned),
        api_gateway_managed: input.get("apiGatewayManaged").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn integration_view(i: &HttpIntegration) -> Value {
    let mut v = json!({
        "integrationId": i.id,
        "integrationType": i.kind,
        "connectionType": "INTERNET",
        "timeoutInMillis": i.timeout_ms,
        "apiGatewayManaged": i.api_gateway_managed,
    });
    for (k, val) in [
        ("integrationUri", &i.uri),
        ("integrationMethod", &i.method),
        ("payloadFormatVersion", &i.payload_format_version),
        ("credentialsArn", &i.credentials_arn),
        ("description", &i.description),
    ] {
        if let Some(x) = val {
            v[k] = json!(x);
        }
    }
    v
}

/// `$default`, or `METHOD /path` with `{p}` segments and one final greedy `{p+}`.
fn check_route_key(key: &str) -> Result<()> {
    if key == "$default" {
        return Ok(());
    }
    let bad =
        || Error::bad(format!("Unable to create route with route key {key}: route keys are $default or METHOD /path"));
    let (method, path) = key.split_once(' ').ok_or_else(bad)?;
    if !ROUTE_METHODS.contains(&method) || !path.starts_with('/') {
        return Err(bad());
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        if seg.ends_with("+}") && i + 1 != segments.len() {
            return Err(bad());
        }
        if seg.starts_with('{') != seg.ends_with('}') {
            return Err(bad());
        }
    }
    Ok(())
}

fn check_target(api: &HttpApi, target: Option<&str>) -> Result<()> {
    let Some(t) = target else { return Ok(()) };
    let id = t.strip_prefix("integrations/").ok_or_else(|| Error::bad(format!("Invalid target {t}")))?;
    if !api.integrations.iter().any(|i| i.id == id) {
        return Err(integration_missing(id));
    }
    Ok(())
}

fn route_view(r: &Route) -> Value {
    let mut v = json!({
        "routeId": r.id,
        "routeKey": r.route_key,
        "authorizationType": r.authorization_type,
        "apiKeyRequired": false,
        "apiGatewayManaged": r.api_gateway_managed,
    });
    if let Some(t) = &r.target {
        v["target"] = json!(t);
    }
    v
}

fn stage_view(st: &HttpStage) -> Value {
    let mut v = json!({
        "stageName": st.name,
        "autoDeploy": st.auto_deploy,
        "createdDate": iso(st.created_ms),
        "lastUpdatedDate": iso(st.updated_ms),
        "defaultRouteSettings": st.default_route_settings.clone().unwrap_or_else(|| json!({"detailedMetricsEnabled": false})),
        "routeSettings": {},
        "stageVariables": st.variables,
        "tags": st.tags,
    });
    if st.api_gateway_managed {
        v["apiGatewayManaged"] = json!(true);
    }
    if let Some(d) = &st.deployment_id {
        v["deploymentId"] = json!(d);
        if st.auto_deploy {
            v["lastDeploymentStatusMessage"] = json!(format!("Successfully deployed stage with deployment ID '{d}'"));
        }
    }
    if let Some(d) = &st.description {
        v["description"] = json!(d);
    }
    v
}

fn check_stage_name(name: &str) -> Result<()> {
    if name == "$default" {
        return Ok(());
    }
    if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::bad(format!("Stage name {name} is invalid: only a-zA-Z0-9_- are allowed")));
    }
    Ok(())
}

fn create_stage(api: &mut HttpApi, input: &Value, managed: bool) -> Result<HttpStage> {
    let name = s(input, "stageName").unwrap_or_default().to_owned();
    check_stage_name(&name)?;
    if api.stages.iter().any(|s| s.name == name) {
        return Err(Error::conflict(format!("Stage {name} already exists")));
    }
    if api.stages.len() >= crate::STAGES_MAX {
        return Err(Error::limit(format!("Too many stages: at most {} per API", crate::STAGES_MAX)));
    }
    let variables = crate::string_map(input, "stageVariables")?.unwrap_or_default();
    crate::check_variables(&variables)?;
    let tags = crate::string_map(input, "tags")?.unwrap_or_default();
    crate::check_tags(&tags)?;
    let deployment_id = s(input, "deploymentId").map(str::to_owned);
    if let Some(d) = &deployment_id
        && !api.deployments.iter().any(|x| x.id == *d)
    {
        return Err(deployment_missing(d));
    }
    let now = stdx::time::now_ms();
    let mut st = HttpStage {
        name,
        auto_deploy: input.get("autoDeploy").and_then(Value::as_bool).unwrap_or(false),
        deployment_id,
        description: s(input, "description").map(str::to_owned),
        variables,
        created_ms: now,
        updated_ms: now,
        api_gateway_managed: managed,
        default_route_settings: input.get("defaultRouteSettings").cloned(),
        tags,
    };
    if st.auto_deploy {
        let d = deploy(api, None, true)?;
        st.deployment_id = Some(d.id);
    }
    api.stages.push(st.clone());
    Ok(st)
}

/// UpdateStage: a partial object; stage variables merge, and `""` deletes one (what Terraform
/// sends).
fn update_stage(api: &mut HttpApi, name: &str, input: &Value) -> Result<HttpStage> {
    let deployments: Vec<String> = api.deployments.iter().map(|d| d.id.clone()).collect();
    let idx = api.stages.iter().position(|s| s.name == name).ok_or_else(|| stage_missing(name))?;
    let mut next = api.stages[idx].clone();
    if let Some(vars) = crate::string_map(input, "stageVariables")? {
        for (k, v) in vars {
            if v.is_empty() {
                next.variables.remove(&k);
            } else {
                next.variables.insert(k, v);
            }
        }
    }
    crate::check_variables(&next.variables)?;
    if let Some(a) = input.get("autoDeploy").and_then(Value::as_bool) {
        next.auto_deploy = a;
    }
    if let Some(d) = s(input, "deploymentId") {
        if !deployments.iter().any(|x| x == d) {
            return Err(deployment_missing(d));
        }
        next.deployment_id = Some(d.to_owned());
    }
    if let Some(d) = s(input, "description") {
        next.description = Some(d.to_owned());
    }
    if let Some(r) = input.get("defaultRouteSettings") {
        next.default_route_settings = Some(r.clone());
    }
    next.updated_ms = stdx::time::now_ms();
    let became_auto = next.auto_deploy && !api.stages[idx].auto_deploy;
    api.stages[idx] = next;
    if became_auto {
        auto_deploy(api);
    }
    Ok(api.stages[idx].clone())
}

fn deployment_view(d: &HttpDeployment) -> Value {
    let mut v = json!({
        "deploymentId": d.id,
        "deploymentStatus": "DEPLOYED",
        "autoDeployed": d.auto_deployed,
        "createdDate": iso(d.created_ms),
    });
    if let Some(desc) = &d.description {
        v["description"] = json!(desc);
    }
    v
}

/// A deployment: a snapshot of the routes and integrations.
fn deploy(api: &mut HttpApi, description: Option<String>, auto: bool) -> Result<HttpDeployment> {
    while api.deployments.len() >= crate::DEPLOYMENTS_MAX {
        let used = |d: &HttpDeployment| api.stages.iter().any(|s| s.deployment_id.as_deref() == Some(d.id.as_str()));
        let Some(i) = api.deployments.iter().position(|d| !used(d)) else {
            return Err(Error::limit(format!("Too many deployments: at most {} per API", crate::DEPLOYMENTS_MAX)));
        };
        api.deployments.remove(i);
    }
    let d = HttpDeployment {
        id: crate::new_id(6),
        created_ms: stdx::time::now_ms(),
        description,
        auto_deployed: auto,
        routes: api.routes.clone(),
        integrations: api.integrations.clone(),
    };
    api.deployments.push(d.clone());
    Ok(d)
}

/// After a change of routes or integrations: each AutoDeploy stage gets a new deployment.
fn auto_deploy(api: &mut HttpApi) {
    if !api.stages.iter().any(|s| s.auto_deploy) {
        return;
    }
    let Ok(d) = deploy(api, None, true) else { return };
    let now = stdx::time::now_ms();
    for st in api.stages.iter_mut().filter(|s| s.auto_deploy) {
        st.deployment_id = Some(d.id.clone());
        st.updated_ms = now;
    }
}
