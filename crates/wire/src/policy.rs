//! Resource policies (AddPermission, GetPolicy) and function URL configurations.

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddPermissionRequest {
    pub statement_id: Option<String>,
    pub action: Option<String>,
    pub principal: Option<String>,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub event_source_token: Option<String>,
    pub revision_id: Option<String>,
    #[serde(rename = "PrincipalOrgID")]
    pub principal_org_id: Option<String>,
    pub function_url_auth_type: Option<String>,
    pub invoked_via_function_url: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddPermissionResponse {
    /// The statement as a JSON string.
    pub statement: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPolicyResponse {
    /// The policy document as a JSON string.
    pub policy: String,
    pub revision_id: String,
}

/// CreateFunctionUrlConfig and UpdateFunctionUrlConfig.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionUrlConfigRequest {
    pub auth_type: Option<String>,
    pub cors: Option<Cors>,
    pub invoke_mode: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cors {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

/// A function URL configuration as every operation answers it; absent members are omitted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionUrlConfig {
    pub function_url: String,
    pub function_arn: String,
    pub auth_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    pub creation_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoke_mode: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionUrlConfigsResponse {
    pub function_url_configs: Vec<FunctionUrlConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}
