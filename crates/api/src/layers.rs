//! Handlers of the layer operations (`/2018-10-31/layers…`).

use axum::body::Body;
use axum::http::StatusCode;
use control::{LayerPermissionInput, LayerVersionView, PublishLayer};
use model::limits;
use model::scope::Scope;
use wire::layer::{
    AddLayerVersionPermissionRequest, AddLayerVersionPermissionResponse, GetLayerVersionPolicyResponse,
    LayerVersionContentOutput, LayerVersionResponse, LayerVersionsListItem, LayersListItem, ListLayerVersionsResponse,
    ListLayersResponse, PublishLayerVersionRequest,
};

use crate::ApiState;
use crate::error::ApiError;
use crate::handlers::{CONTROL_REQUEST_BYTES_MAX, Reply, code_location, decode_zip, empty, int_param, json, read_json};
use crate::routes::Endpoint;

pub(crate) async fn dispatch(
    state: &ApiState,
    scope: &Scope,
    endpoint: Endpoint,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Reply {
    let headers = &parts.headers;
    let c = &state.control;
    let op = endpoint.name();
    match endpoint {
        Endpoint::PublishLayerVersion { layer } => {
            let r: PublishLayerVersionRequest =
                read_json(body, headers, limits::CREATE_FUNCTION_REQUEST_BYTES_MAX, op).await?;
            let content = match r.content {
                None => None,
                Some(c) => Some(control::CodeInput {
                    zip_file: c.zip_file.as_deref().map(decode_zip).transpose()?,
                    s3_bucket: c.s3_bucket,
                    s3_key: c.s3_key,
                    s3_object_version: c.s3_object_version,
                    image_uri: None,
                    source_kms_key_arn: None,
                }),
            };
            let input = PublishLayer {
                content,
                description: r.description,
                compatible_runtimes: r.compatible_runtimes,
                compatible_architectures: r.compatible_architectures,
                license_info: r.license_info,
            };
            let v = c.publish_layer_version(scope, &layer, input).await?;
            json(StatusCode::CREATED, &version_response(state, parts, &v))
        }
        Endpoint::GetLayerVersion { layer, version } => {
            let v = c.get_layer_version(scope, &layer, version_number(&version)?).await?;
            json(StatusCode::OK, &version_response(state, parts, &v))
        }
        Endpoint::GetLayerVersionByArn { query } => {
            let v = c.get_layer_version_by_arn(scope, query.get("Arn")).await?;
            json(StatusCode::OK, &version_response(state, parts, &v))
        }
        Endpoint::ListLayers { query } => {
            let max_items = int_param(&query, "MaxItems")?;
            let page = c
                .list_layers(
                    scope,
                    query.get("CompatibleRuntime"),
                    query.get("CompatibleArchitecture"),
                    query.get("Marker"),
                    max_items,
                )
                .await?;
            let resp = ListLayersResponse {
                next_marker: page.next_marker,
                layers: page
                    .layers
                    .iter()
                    .map(|l| LayersListItem {
                        layer_name: l.layer_name.clone(),
                        layer_arn: l.layer_arn.clone(),
                        latest_matching_version: list_item(&l.latest_matching),
                    })
                    .collect(),
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::ListLayerVersions { layer, query } => {
            let max_items = int_param(&query, "MaxItems")?;
            let page = c
                .list_layer_versions(
                    scope,
                    &layer,
                    query.get("CompatibleRuntime"),
                    query.get("CompatibleArchitecture"),
                    query.get("Marker"),
                    max_items,
                )
                .await?;
            let resp = ListLayerVersionsResponse {
                next_marker: page.next_marker,
                layer_versions: page.versions.iter().map(list_item).collect(),
            };
            json(StatusCode::OK, &resp)
        }
        Endpoint::DeleteLayerVersion { layer, version } => {
            c.delete_layer_version(scope, &layer, version_number(&version)?).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::AddLayerVersionPermission { layer, version, query } => {
            let number = version_number(&version)?;
            let r: AddLayerVersionPermissionRequest = read_json(body, headers, CONTROL_REQUEST_BYTES_MAX, op).await?;
            let input = LayerPermissionInput {
                statement_id: r.statement_id,
                action: r.action,
                principal: r.principal,
                organization_id: r.organization_id,
                revision_id: query.get("RevisionId").map(str::to_owned),
            };
            let p = c.add_layer_version_permission(scope, &layer, number, input).await?;
            json(
                StatusCode::CREATED,
                &AddLayerVersionPermissionResponse { statement: p.text, revision_id: p.revision_id },
            )
        }
        Endpoint::GetLayerVersionPolicy { layer, version } => {
            let p = c.get_layer_version_policy(scope, &layer, version_number(&version)?).await?;
            json(StatusCode::OK, &GetLayerVersionPolicyResponse { policy: p.text, revision_id: p.revision_id })
        }
        Endpoint::RemoveLayerVersionPermission { layer, version, statement_id, query } => {
            let number = version_number(&version)?;
            let revision = query.get("RevisionId").map(str::to_owned);
            c.remove_layer_version_permission(scope, &layer, number, &statement_id, revision).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        // `handlers::dispatch` sends only the layer operations here.
        other => {
            Err(ApiError::Control(control::ControlError::Service(format!("{} is not a layer operation", other.name()))))
        }
    }
}

/// The `VersionNumber` path label (a long).
pub(crate) fn version_number(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>().map_err(|_| {
        ApiError::InvalidRequestContent(format!("Could not parse request: VersionNumber must be an integer, got '{s}'"))
    })
}

fn non_empty(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn version_response(
    state: &ApiState,
    parts: &axum::http::request::Parts,
    v: &LayerVersionView,
) -> LayerVersionResponse {
    let lv = &v.version;
    LayerVersionResponse {
        content: LayerVersionContentOutput {
            location: code_location(state, &parts.extensions, &parts.headers, &v.account, &lv.code.sha256),
            code_sha256: control::base64_sha(&lv.code.sha256),
            code_size: lv.code.size,
        },
        layer_arn: v.layer_arn.clone(),
        layer_version_arn: v.layer_version_arn.clone(),
        description: lv.description.clone(),
        created_date: stdx::time::format_lambda_ms(lv.created_ms),
        version: u64::from(lv.version),
        compatible_runtimes: non_empty(&lv.compatible_runtimes),
        license_info: lv.license_info.clone(),
        compatible_architectures: non_empty(&lv.compatible_architectures),
    }
}

fn list_item(v: &LayerVersionView) -> LayerVersionsListItem {
    let lv = &v.version;
    LayerVersionsListItem {
        layer_version_arn: v.layer_version_arn.clone(),
        version: u64::from(lv.version),
        description: lv.description.clone(),
        created_date: stdx::time::format_lambda_ms(lv.created_ms),
        compatible_runtimes: non_empty(&lv.compatible_runtimes),
        license_info: lv.license_info.clone(),
        compatible_architectures: non_empty(&lv.compatible_architectures),
    }
}
