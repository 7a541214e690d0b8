//! One handler per operation: bound and decode the body, convert to `control` inputs, call
//! `control`, convert the answer.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use base64::Engine;
use control::{
    AliasInput, AliasUpdate, CodeInput, ConfigPatch, CreateFunction, LoggingPatch, PublishVersion, RoutingInput,
    UpdateCode, VpcPatch,
};
use model::limits;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wire::alias::{AliasRoutingConfiguration, CreateAliasRequest, ListAliasesResponse, UpdateAliasRequest};
use wire::events::EventInvokeConfigRequest;
use wire::function::{
    AccountLimit, AccountUsage, CreateFunctionRequest, FunctionCodeLocation, GetAccountSettingsResponse,
    GetFunctionResponse, ListFunctionsResponse, ListTagsResponse, ListVersionsByFunctionResponse,
    PublishVersionRequest, TagResourceRequest, UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use wire::function::{Concurrency, PutFunctionConcurrencyRequest};

use crate::code_url::CODE_URL_TTL_MS;
use crate::convert::{self, Detail};
use crate::error::ApiError;
use crate::query::Query;
use crate::routes::Endpoint;
use crate::{ApiState, auth};

/// Largest body of operations that carry no code.
pub(crate) const CONTROL_REQUEST_BYTES_MAX: usize = 1024 * 1024;

pub(crate) type Reply = Result<Response<Body>, ApiError>;

pub(crate) async fn dispatch(state: &ApiState, endpoint: Endpoint, req: Request<Body>, request_id: &str) -> Reply {
    let (parts, body) = req.into_parts();
    let caller =
        auth::scope(&parts.extensions, &parts.headers, &Query::parse(parts.uri.query()), &state.default_region);
    let c = &state.control;
    // Another account's function: acts in that account if its resource policy allows it.
    let scope = match endpoint.resource_policy() {
        Some((action, target)) => c.acting_scope(caller, target, action).await?,
        None => caller,
    };
    let op = endpoint.name();
    match endpoint {
        Endpoint::CreateFunction => {
            let r: CreateFunctionRequest =
                read_json(body, &parts.headers, limits::CREATE_FUNCTION_REQUEST_BYTES_MAX, op).await?;
            let view = c.create_function(&scope, create_input(r)?).await?;
            json(StatusCode::CREATED, &convert::configuration(&scope, &view, Detail::Full))
        }
        Endpoint::GetFunction { function, query } => {
            let d = c.get_function(&scope, &function, query.get("Qualifier")).await?;
            let location =
                code_location(state, &parts.extensions, &parts.headers, scope.account.as_str(), &d.code_sha256);
            let resp = GetFunctionResponse {
                configuration: convert::configuration(&scope, &d.view, Detail::Full),
                code: FunctionCodeLocation { repository_type: "S3".to_owned(), location },
                tags: (!d.tags.is_empty()).then_some(d.tags),
                concurrency: d.reserved_concurrency.map(|r| Concurrency { reserved_concurrent_executions: Some(r) }),
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::GetFunctionConfiguration { function, query } => {
            let d = c.get_function(&scope, &function, query.get("Qualifier")).await?;
            json(StatusCode::OK, &convert::configuration(&scope, &d.view, Detail::Full))
        }
        Endpoint::UpdateFunctionConfiguration { function } => {
            let r: UpdateFunctionConfigurationRequest =
                read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let revision = r.revision_id.clone();
            let view = c.update_function_configuration(&scope, &function, update_patch(r), revision).await?;
            retire(state, &scope, &function).await;
            json(StatusCode::OK, &convert::configuration(&scope, &view, Detail::Full))
        }
        Endpoint::UpdateFunctionCode { function } => {
            let r: UpdateFunctionCodeRequest =
                read_json(body, &parts.headers, limits::CREATE_FUNCTION_REQUEST_BYTES_MAX, op).await?;
            let input = UpdateCode {
                code: CodeInput {
                    zip_file: r.zip_file.as_deref().map(decode_zip).transpose()?,
                    s3_bucket: r.s3_bucket,
                    s3_key: r.s3_key,
                    s3_object_version: r.s3_object_version,
                    image_uri: r.image_uri,
                    source_kms_key_arn: r.source_kms_key_arn,
                },
                architectures: r.architectures,
                publish: r.publish.unwrap_or(false),
                dry_run: r.dry_run.unwrap_or(false),
                revision_id: r.revision_id,
            };
            let view = c.update_function_code(&scope, &function, input).await?;
            retire(state, &scope, &function).await;
            json(StatusCode::OK, &convert::configuration(&scope, &view, Detail::Full))
        }
        Endpoint::DeleteFunction { function, query } => {
            let id = c.resolve_invoke(&scope, &function, None).await.ok().map(|t| t.function_id);
            c.delete_function(&scope, &function, query.get("Qualifier")).await?;
            if let Some(id) = id {
                state.engine.retire(id);
            }
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::ListFunctions { query } => {
            let max_items = int_param(&query, "MaxItems")?;
            let list = c
                .list_functions(
                    &scope,
                    query.get("MasterRegion"),
                    query.get("FunctionVersion"),
                    query.get("Marker"),
                    max_items,
                )
                .await?;
            let resp = ListFunctionsResponse {
                functions: list.functions.iter().map(|v| convert::configuration(&scope, v, Detail::Listed)).collect(),
                next_marker: list.next_marker,
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::PublishVersion { function } => {
            let r: PublishVersionRequest = read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let input =
                PublishVersion { code_sha256: r.code_sha256, description: r.description, revision_id: r.revision_id };
            let view = c.publish_version(&scope, &function, input).await?;
            json(StatusCode::CREATED, &convert::configuration(&scope, &view, Detail::Full))
        }
        Endpoint::ListVersionsByFunction { function, query } => {
            let max_items = int_param(&query, "MaxItems")?;
            let page = c.list_versions(&scope, &function, query.get("Marker"), max_items).await?;
            let resp = ListVersionsByFunctionResponse {
                versions: page.versions.iter().map(|v| convert::configuration(&scope, v, Detail::Listed)).collect(),
                next_marker: page.next_marker,
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::CreateAlias { function } => {
            let r: CreateAliasRequest = read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let input = AliasInput {
                name: r.name,
                function_version: r.function_version,
                description: r.description,
                routing: r.routing_config.map(routing_input),
            };
            let view = c.create_alias_as(&scope, &function, input, auth::actor(&parts.extensions)).await?;
            json(StatusCode::CREATED, &convert::alias(&view))
        }
        Endpoint::GetAlias { function, alias } => {
            let view = c.get_alias(&scope, &function, &alias).await?;
            json(StatusCode::OK, &convert::alias(&view))
        }
        Endpoint::UpdateAlias { function, alias } => {
            let r: UpdateAliasRequest = read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let input = AliasUpdate {
                function_version: r.function_version,
                description: r.description,
                routing: r.routing_config.map(routing_input),
                revision_id: r.revision_id,
            };
            let view = c.update_alias_as(&scope, &function, &alias, input, auth::actor(&parts.extensions)).await?;
            json(StatusCode::OK, &convert::alias(&view))
        }
        Endpoint::DeleteAlias { function, alias } => {
            c.delete_alias_as(&scope, &function, &alias, auth::actor(&parts.extensions)).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::ListAliases { function, query } => {
            let max_items = int_param(&query, "MaxItems")?;
            let page =
                c.list_aliases(&scope, &function, query.get("FunctionVersion"), query.get("Marker"), max_items).await?;
            let resp = ListAliasesResponse {
                aliases: page.aliases.iter().map(convert::alias).collect(),
                next_marker: page.next_marker,
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::TagResource { resource } => {
            let r: TagResourceRequest = read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            c.tag_resource(&scope, &resource, r.tags).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::UntagResource { resource, query } => {
            c.untag_resource(&scope, &resource, query.all("tagKeys")).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::ListTags { resource } => {
            let tags = c.list_tags(&scope, &resource).await?;
            json(StatusCode::OK, &ListTagsResponse { tags })
        }
        Endpoint::GetAccountSettings => {
            let usage = c.account_usage(&scope).await?;
            let limit = c.settings().account_concurrency;
            let resp = GetAccountSettingsResponse {
                account_limit: AccountLimit {
                    total_code_size: limits::TOTAL_CODE_SIZE_MAX,
                    code_size_unzipped: limits::CODE_SIZE_UNZIPPED_MAX,
                    code_size_zipped: limits::CODE_SIZE_ZIPPED_MAX,
                    concurrent_executions: limit,
                    unreserved_concurrent_executions: c.unreserved_concurrency(&scope).await?,
                },
                account_usage: AccountUsage {
                    total_code_size: usage.total_code_size,
                    function_count: usage.function_count,
                },
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::InvokeAsync { function } => {
            crate::invocations::invoke_async(state, &scope, &function, &parts.headers, body, request_id).await
        }
        Endpoint::PutFunctionEventInvokeConfig { function, query } => {
            let r: EventInvokeConfigRequest = read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let v = c.put_event_config(&scope, &function, query.get("Qualifier"), event_config_input(r), true).await?;
            json(StatusCode::OK, &convert::event_config(&v))
        }
        Endpoint::UpdateFunctionEventInvokeConfig { function, query } => {
            let r: EventInvokeConfigRequest = read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let v = c.put_event_config(&scope, &function, query.get("Qualifier"), event_config_input(r), false).await?;
            json(StatusCode::OK, &convert::event_config(&v))
        }
        Endpoint::GetFunctionEventInvokeConfig { function, query } => {
            let v = c.get_event_config(&scope, &function, query.get("Qualifier")).await?;
            json(StatusCode::OK, &convert::event_config(&v))
        }
        Endpoint::DeleteFunctionEventInvokeConfig { function, query } => {
            c.delete_event_config(&scope, &function, query.get("Qualifier")).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::ListFunctionEventInvokeConfigs { function, query } => {
            let max_items = int_param(&query, "MaxItems")?;
            let page = c.list_event_configs(&scope, &function, query.get("Marker"), max_items).await?;
            let resp = wire::events::ListFunctionEventInvokeConfigsResponse {
                function_event_invoke_configs: page.configs.iter().map(convert::event_config).collect(),
                next_marker: page.next_marker,
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::PutFunctionConcurrency { function } => {
            let r: PutFunctionConcurrencyRequest =
                read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let n = c.put_concurrency(&scope, &function, r.reserved_concurrent_executions).await?;
            json(StatusCode::OK, &Concurrency { reserved_concurrent_executions: Some(n) })
        }
        Endpoint::GetFunctionConcurrency { function } => {
            let n = c.get_concurrency(&scope, &function).await?;
            json(StatusCode::OK, &Concurrency { reserved_concurrent_executions: n })
        }
        Endpoint::DeleteFunctionConcurrency { function } => {
            c.delete_concurrency(&scope, &function).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::PutProvisionedConcurrencyConfig { function, query } => {
            let r: wire::events::PutProvisionedConcurrencyConfigRequest =
                read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let v = c
                .put_provisioned(&scope, &function, query.get("Qualifier"), r.provisioned_concurrent_executions)
                .await?;
            // The answer reflects the request just accepted: nothing allocated yet.
            let resp = convert::provisioned(&v, None, false);
            json(StatusCode::ACCEPTED, &resp)
        }
        Endpoint::GetProvisionedConcurrencyConfig { function, query } => {
            let v = c.get_provisioned(&scope, &function, query.get("Qualifier")).await?;
            let status = provisioned_status(state, &v).await;
            json(StatusCode::OK, &convert::provisioned(&v, status, false))
        }
        Endpoint::DeleteProvisionedConcurrencyConfig { function, query } => {
            c.delete_provisioned(&scope, &function, query.get("Qualifier")).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::ListProvisionedConcurrencyConfigs { function, query } => {
            let max_items = int_param(&query, "MaxItems")?;
            let (views, next_marker) = c.list_provisioned(&scope, &function, query.get("Marker"), max_items).await?;
            let mut configs = Vec::with_capacity(views.len());
            for v in &views {
                configs.push(convert::provisioned(v, provisioned_status(state, v).await, true));
            }
            let resp = wire::events::ListProvisionedConcurrencyConfigsResponse {
                provisioned_concurrency_configs: configs,
                next_marker,
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::AddPermission { function, query } => {
            let r: wire::policy::AddPermissionRequest =
                read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let input = control::PermissionInput {
                statement_id: r.statement_id,
                action: r.action,
                principal: r.principal,
                source_arn: r.source_arn,
                source_account: r.source_account,
                event_source_token: r.event_source_token,
                revision_id: r.revision_id,
                principal_org_id: r.principal_org_id,
                function_url_auth_type: r.function_url_auth_type,
                invoked_via_function_url: r.invoked_via_function_url,
            };
            let statement = c.add_permission(&scope, &function, query.get("Qualifier"), input).await?;
            json(StatusCode::CREATED, &wire::policy::AddPermissionResponse { statement })
        }
        Endpoint::RemovePermission { function, statement_id, query } => {
            let revision = query.get("RevisionId").map(str::to_owned);
            c.remove_permission(&scope, &function, query.get("Qualifier"), &statement_id, revision).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::GetPolicy { function, query } => {
            let p = c.get_policy(&scope, &function, query.get("Qualifier")).await?;
            json(StatusCode::OK, &wire::policy::GetPolicyResponse { policy: p.policy, revision_id: p.revision_id })
        }
        Endpoint::CreateFunctionUrlConfig { function, query } => {
            let r: wire::policy::FunctionUrlConfigRequest =
                read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let sent_mode = r.invoke_mode.is_some();
            let v = c.create_function_url(&scope, &function, query.get("Qualifier"), url_input(r)).await?;
            let mut out =
                convert::function_url(&v, &scope, &host(&parts.headers, state), crate::scheme(&parts.extensions));
            // Create answers without LastModifiedTime, and with InvokeMode only when it was sent.
            out.last_modified_time = None;
            if !sent_mode {
                out.invoke_mode = None;
            }
            json(StatusCode::CREATED, &out)
        }
        Endpoint::GetFunctionUrlConfig { function, query } => {
            let v = c.get_function_url(&scope, &function, query.get("Qualifier")).await?;
            json(
                StatusCode::OK,
                &convert::function_url(&v, &scope, &host(&parts.headers, state), crate::scheme(&parts.extensions)),
            )
        }
        Endpoint::UpdateFunctionUrlConfig { function, query } => {
            let r: wire::policy::FunctionUrlConfigRequest =
                read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let v = c.update_function_url(&scope, &function, query.get("Qualifier"), url_input(r)).await?;
            json(
                StatusCode::OK,
                &convert::function_url(&v, &scope, &host(&parts.headers, state), crate::scheme(&parts.extensions)),
            )
        }
        Endpoint::DeleteFunctionUrlConfig { function, query } => {
            c.delete_function_url(&scope, &function, query.get("Qualifier")).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::ListFunctionUrlConfigs { function, query } => {
            let max_items = int_param(&query, "MaxItems")?;
            let (views, next_marker) = c.list_function_urls(&scope, &function, query.get("Marker"), max_items).await?;
            let host = host(&parts.headers, state);
            let resp = wire::policy::ListFunctionUrlConfigsResponse {
                function_url_configs: views
                    .iter()
                    .map(|v| convert::function_url(v, &scope, &host, crate::scheme(&parts.extensions)))
                    .collect(),
                next_marker,
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::GetFunctionCodeSigningConfig { function } => {
            let name = c.get_function_code_signing_config(&scope, &function).await?;
            let resp = wire::function::GetFunctionCodeSigningConfigResponse {
                code_signing_config_arn: String::new(),
                function_name: name,
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::ListCodeSigningConfigs { query } => {
            // Versa has no code signing configs; MaxItems is still checked as an integer.
            int_param(&query, "MaxItems")?;
            json(StatusCode::OK, &wire::function::ListCodeSigningConfigsResponse { code_signing_configs: Vec::new() })
        }
        Endpoint::GetCodeSigningConfig { arn } | Endpoint::ListFunctionsByCodeSigningConfig { arn, .. } => {
            match c.find_code_signing_config(&arn)? {}
        }
        Endpoint::DownloadCode { account, sha256, query } => download_code(state, &account, &sha256, &query).await,
        Endpoint::CreateEventSourceMapping => {
            let r: crate::esm::EsmRequest = read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            json(StatusCode::ACCEPTED, &c.create_event_source_mapping(&scope, r.into_input()).await?)
        }
        Endpoint::GetEventSourceMapping { uuid } => {
            json(StatusCode::OK, &c.get_event_source_mapping(&scope, &uuid).await?)
        }
        Endpoint::UpdateEventSourceMapping { uuid } => {
            let r: crate::esm::EsmRequest = read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            json(StatusCode::ACCEPTED, &c.update_event_source_mapping(&scope, &uuid, r.into_input()).await?)
        }
        Endpoint::DeleteEventSourceMapping { uuid } => {
            json(StatusCode::ACCEPTED, &c.delete_event_source_mapping(&scope, &uuid).await?)
        }
        Endpoint::ListEventSourceMappings { query } => {
            let max_items = int_param(&query, "MaxItems")?;
            let page = c
                .list_event_source_mappings(
                    &scope,
                    query.get("EventSourceArn"),
                    query.get("FunctionName"),
                    query.get("Marker"),
                    max_items,
                )
                .await?;
            let mut out = serde_json::json!({ "EventSourceMappings": page.mappings });
            if let Some(m) = page.next_marker {
                out["NextMarker"] = serde_json::json!(m);
            }
            json(StatusCode::OK, &out)
        }
        e @ (Endpoint::PublishLayerVersion { .. }
        | Endpoint::ListLayerVersions { .. }
        | Endpoint::GetLayerVersion { .. }
        | Endpoint::DeleteLayerVersion { .. }
        | Endpoint::ListLayers { .. }
        | Endpoint::GetLayerVersionByArn { .. }
        | Endpoint::AddLayerVersionPermission { .. }
        | Endpoint::GetLayerVersionPolicy { .. }
        | Endpoint::RemoveLayerVersionPermission { .. }) => {
            crate::layers::dispatch(state, &scope, e, &parts, body).await
        }
        Endpoint::Invoke { function, query } => {
            crate::invocations::invoke(
                state,
                &scope,
                &function,
                query.get("Qualifier"),
                &parts.headers,
                body,
                request_id,
            )
            .await
        }
        Endpoint::AliasHistory { function, alias, query } => {
            let limit = int_param(&query, "limit")?;
            let page = c.alias_history(&scope, &function, &alias, limit, query.get("before")).await?;
            json(StatusCode::OK, &alias_history(&page))
        }
        Endpoint::CreateKey | Endpoint::ListKeys | Endpoint::DeleteKey { .. } | Endpoint::SetKeyDisabled { .. } => {
            crate::keys::handle(state, &parts, endpoint, body).await
        }
        Endpoint::Health => {
            let caps = state.engine.capabilities();
            let sdk = state.engine.sdk_status();
            let body = serde_json::json!({
                "status": "ok",
                "sandbox": caps.summary(),
                "protectionsOff": caps.off,
                "runtimes": state.engine.runtimes().summary(),
                "sdk": {
                    "dir": state.engine.runtimes_dir().display().to_string(),
                    "python": sdk.python_summary(),
                    "nodejs": sdk.node_summary(),
                    "missing": sdk.missing(),
                },
                "environments": state.engine.live_environments(),
                "auth": state.auth.as_str(),
                "authWarned": (state.auth == crate::verify::AuthMode::Warn).then(|| state.warned.count()),
                "tls": state.tls,
                "node": node_summary(state),
                "nodes": nodes_summary(state),
            });
            json(StatusCode::OK, &body)
        }
    }
}

/// A provisioned config's status: this engine's alone, or every node's share with a cluster.
async fn provisioned_status(
    state: &ApiState,
    view: &control::ProvisionedView,
) -> Option<invoke::provisioned::SetStatus> {
    match &state.cluster {
        None => state.engine.provisioned_status(view),
        Some(c) => c.provisioned_status(&state.engine, view).await,
    }
}

/// This node in health: its name and id (a new id per start), whether it is fenced, what it
/// forwarded and served for others, which node is the DynamoDB home, and its ready
/// provisioned environments.
fn node_summary(state: &ApiState) -> serde_json::Value {
    match &state.cluster {
        None => serde_json::json!({"name": "local", "clustered": false}),
        Some(c) => {
            let n = c.counters();
            serde_json::json!({
                "name": c.name(),
                "id": c.id(),
                "clustered": true,
                "fenced": c.fenced(),
                "forwarded": n.forwarded,
                "servedForOthers": n.served,
                "busyRefusals": n.busy,
                "unreachable": n.unreachable,
                "dynamodbHome": c.dynamodb_home(),
                "provisionedReady": state.engine.provisioned_held().iter().map(|h| h.ready).sum::<u32>(),
            })
        }
    }
}

/// Every node sharing the store as this node last saw it (id, name, addr, live, busy).
fn nodes_summary(state: &ApiState) -> serde_json::Value {
    match &state.cluster {
        None => serde_json::json!([{
            "name": "local",
            "addr": state.listen.to_string(),
            "live": true,
            "busy": state.engine.running_invocations(),
        }]),
        Some(c) => c
            .nodes()
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id, "name": p.name, "addr": p.addr, "live": p.live, "busy": p.busy,
                    "capacity": p.capacity, "self": p.id == c.id(),
                })
            })
            .collect(),
    }
}

/// Stops a function's idle environments after it changed (they run the old configuration).
async fn retire(state: &ApiState, scope: &model::scope::Scope, function: &str) {
    if let Ok(t) = state.control.resolve_invoke(scope, function, Some(model::name::Version::LATEST)).await {
        state.engine.retire(t.function_id);
    }
}

async fn download_code(state: &ApiState, account: &str, sha_hex: &str, query: &Query) -> Reply {
    let expires = query.get("X-Versa-Expires").and_then(|e| e.parse::<i64>().ok());
    let signature = query.get("X-Versa-Signature");
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Err(ApiError::Forbidden("The code URL is not signed.".to_owned()));
    };
    if !state.code_urls.verify(account, sha_hex, expires, signature, stdx::time::now_ms()) {
        return Err(ApiError::Forbidden("The code URL is invalid or has expired.".to_owned()));
    }
    let Some(sha) = model::function::Sha256::from_hex(sha_hex) else {
        return Err(ApiError::NotFound("The code package does not exist.".to_owned()));
    };
    match state.control.code_package(sha).await? {
        Some(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
            Ok(r)
        }
        None => Err(ApiError::NotFound("The code package does not exist.".to_owned())),
    }
}

/// A signed, expiring download URL of a stored package (`Code.Location`, `Content.Location`).
pub(crate) fn code_location(
    state: &ApiState,
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
    account: &str,
    sha: &model::function::Sha256,
) -> String {
    let sha = sha.to_hex();
    let expires = stdx::time::now_ms() + CODE_URL_TTL_MS;
    let sig = state.code_urls.sign(account, &sha, expires);
    format!(
        "{}://{}/_versa/code/{account}/{sha}?X-Versa-Expires={expires}&X-Versa-Signature={sig}",
        crate::scheme(extensions),
        host(headers, state)
    )
}

/// The `Host` the client used, if it is a plausible authority; otherwise the listen address.
pub(crate) fn host(headers: &HeaderMap, state: &ApiState) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)))
        .map_or_else(|| state.listen.to_string(), str::to_owned)
}

/// Reads at most `limit` bytes of body and decodes it as `T`. An empty body is `{}`.
pub(crate) async fn read_json<T: DeserializeOwned>(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    op: &str,
) -> Result<T, ApiError> {
    let too_large = || {
        ApiError::Control(control::ControlError::RequestTooLarge(format!(
            "Request must be smaller than {limit} bytes for the {op} operation"
        )))
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    decode_json(&bytes)
}

/// Decodes a whole request body as `T`; an empty (or all-whitespace) body is `{}`.
pub(crate) fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::InvalidRequestContent(format!(
            "Could not parse request body into json: Could not parse payload into json: {e}"
        ))
    })
}

/// Versa's alias history answer: `{"History": [...], "NextMarker": ...}`, newest first.
fn alias_history(page: &control::AliasHistoryPage) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let target = |t: &Option<control::AliasTarget>| match t {
        Some(t) => {
            let weights: Map<String, Value> = t.weights.iter().map(|(v, w)| (v.clone(), json!(w))).collect();
            json!({"FunctionVersion": t.function_version, "AdditionalVersionWeights": weights})
        }
        None => Value::Null,
    };
    let history: Vec<Value> = page
        .changes
        .iter()
        .map(|c| {
            json!({
                "Time": stdx::time::format_iso8601_ms(c.time_ms),
                "Actor": {"Kind": c.actor_kind, "Id": c.actor_id},
                "Operation": c.operation,
                "Before": target(&c.before),
                "After": target(&c.after),
                "RevisionId": c.revision_id,
            })
        })
        .collect();
    json!({"History": history, "NextMarker": page.next_marker})
}

pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Reply {
    let text =
        serde_json::to_vec(body).map_err(|e| ApiError::Control(control::ControlError::Service(e.to_string())))?;
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

pub(crate) fn int_param(query: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    match query.get(key) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            ApiError::InvalidRequestContent(format!("Could not parse request: {key} must be an integer, got '{v}'"))
        }),
    }
}

pub(crate) fn decode_zip(b64: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| {
        ApiError::InvalidRequestContent(format!(
            "Could not parse request body into json: Could not parse payload into json: ZipFile is not valid base64: {e}"
        ))
    })
}

pub(crate) fn event_config_input(r: EventInvokeConfigRequest) -> control::EventConfigInput {
    let dest = |d: Option<wire::events::Destination>| d.map(|d| d.destination);
    let (on_success, on_failure) = match r.destination_config {
        Some(d) => (dest(d.on_success), dest(d.on_failure)),
        None => (None, None),
    };
    control::EventConfigInput {
        maximum_retry_attempts: r.maximum_retry_attempts,
        maximum_event_age_s: r.maximum_event_age_in_seconds,
        on_success,
        on_failure,
    }
}

pub(crate) fn url_input(r: wire::policy::FunctionUrlConfigRequest) -> control::UrlInput {
    control::UrlInput {
        auth_type: r.auth_type,
        cors: r.cors.map(|c| model::policy::Cors {
            allow_credentials: c.allow_credentials,
            allow_headers: c.allow_headers,
            allow_methods: c.allow_methods,
            allow_origins: c.allow_origins,
            expose_headers: c.expose_headers,
            max_age: c.max_age,
        }),
        invoke_mode: r.invoke_mode,
    }
}

pub(crate) fn routing_input(r: AliasRoutingConfiguration) -> RoutingInput {
    RoutingInput { additional_version_weights: r.additional_version_weights }
}

pub(crate) fn create_input(r: CreateFunctionRequest) -> Result<CreateFunction, ApiError> {
    let code = match r.code {
        None => None,
        Some(c) => Some(CodeInput {
            zip_file: c.zip_file.as_deref().map(decode_zip).transpose()?,
            s3_bucket: c.s3_bucket,
            s3_key: c.s3_key,
            s3_object_version: c.s3_object_version,
            image_uri: c.image_uri,
            source_kms_key_arn: c.source_kms_key_arn,
        }),
    };
    let config = ConfigPatch {
        runtime: r.runtime,
        handler: r.handler,
        role: r.role,
        description: r.description,
        timeout: r.timeout,
        memory_size: r.memory_size,
        environment: r.environment.map(|e| e.variables),
        architectures: r.architectures,
        ephemeral_storage_size: r.ephemeral_storage.map(|e| e.size),
        tracing_mode: r.tracing_config.map(|t| t.mode),
        dead_letter_target_arn: r.dead_letter_config.map(|d| d.target_arn),
        kms_key_arn: r.kms_key_arn,
        layers: r.layers,
        logging: r.logging_config.map(logging_patch),
        vpc: r.vpc_config.map(vpc_patch),
        snap_start_apply_on: r.snap_start.map(|s| s.apply_on),
        file_system_configs: r.file_system_configs.map(|f| f.len()),
        image_config: r.image_config.is_some(),
    };
    Ok(CreateFunction {
        function_name: r.function_name,
        code,
        config,
        package_type: r.package_type,
        publish: r.publish.unwrap_or(false),
        tags: r.tags,
        code_signing_config_arn: r.code_signing_config_arn,
    })
}

pub(crate) fn update_patch(r: UpdateFunctionConfigurationRequest) -> ConfigPatch {
    ConfigPatch {
        runtime: r.runtime,
        handler: r.handler,
        role: r.role,
        description: r.description,
        timeout: r.timeout,
        memory_size: r.memory_size,
        environment: r.environment.map(|e| e.variables),
        architectures: None,
        ephemeral_storage_size: r.ephemeral_storage.map(|e| e.size),
        tracing_mode: r.tracing_config.map(|t| t.mode),
        dead_letter_target_arn: r.dead_letter_config.map(|d| d.target_arn),
        kms_key_arn: r.kms_key_arn,
        layers: r.layers,
        logging: r.logging_config.map(logging_patch),
        vpc: r.vpc_config.map(vpc_patch),
        snap_start_apply_on: r.snap_start.map(|s| s.apply_on),
        file_system_configs: r.file_system_configs.map(|f| f.len()),
        image_config: r.image_config.is_some(),
    }
}

fn logging_patch(l: wire::function::LoggingConfig) -> LoggingPatch {
    LoggingPatch {
        log_format: l.log_format,
        application_log_level: l.application_log_level,
        system_log_level: l.system_log_level,
        log_group: l.log_group,
    }
}

fn vpc_patch(v: wire::function::VpcConfig) -> VpcPatch {
    VpcPatch {
        subnet_ids: v.subnet_ids,
        security_group_ids: v.security_group_ids,
        ipv6_allowed_for_dual_stack: v.ipv6_allowed_for_dual_stack,
    }
}
