//! The stored documents: one per API (store row `apigw_apis.doc`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A REST API (v1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestApi {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Epoch seconds.
    pub created: i64,
    #[serde(default)]
    pub binary_media_types: Vec<String>,
    pub endpoint_types: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub root_id: String,
    /// The resource policy as sent (a JSON document; stored and echoed, not enforced).
    #[serde(default)]
    pub policy: Option<String>,
    /// `HEADER` or `AUTHORIZER`.
    #[serde(default = "api_key_source_default")]
    pub api_key_source: String,
    /// Bytes, 0–10485760 (stored and echoed; answers are not compressed).
    #[serde(default)]
    pub minimum_compression_size: Option<i64>,
    #[serde(default)]
    pub version: Option<String>,
    /// The default `execute-api` endpoint is off: it answers 403 `Forbidden`.
    #[serde(default)]
    pub disable_execute_api_endpoint: bool,
    /// The current (undeployed) tree.
    pub resources: Vec<Resource>,
    pub deployments: Vec<RestDeployment>,
    pub stages: Vec<RestStage>,
}

fn api_key_source_default() -> String {
    "HEADER".to_owned()
}

impl RestApi {
    /// A new API created now: an EDGE endpoint, no tags, and only its root resource `/`.
    pub fn new(id: String, name: String, description: Option<String>) -> RestApi {
        let root_id = crate::new_id(10);
        RestApi {
            id,
            name,
            description,
            created: crate::now_secs(),
            binary_media_types: Vec::new(),
            endpoint_types: vec!["EDGE".to_owned()],
            tags: BTreeMap::new(),
            root_id: root_id.clone(),
            policy: None,
            api_key_source: api_key_source_default(),
            minimum_compression_size: None,
            version: None,
            disable_execute_api_endpoint: false,
            resources: vec![Resource {
                id: root_id,
                parent_id: None,
                path_part: None,
                path: "/".into(),
                methods: BTreeMap::new(),
            }],
            deployments: Vec::new(),
            stages: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub path_part: Option<String>,
    pub path: String,
    /// By HTTP method (`GET`, `ANY`, ...).
    #[serde(default)]
    pub methods: BTreeMap<String, Method>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Method {
    pub http_method: String,
    pub authorization_type: String,
    #[serde(default)]
    pub api_key_required: bool,
    #[serde(default)]
    pub request_parameters: Option<Value>,
    #[serde(default)]
    pub operation_name: Option<String>,
    #[serde(default)]
    pub integration: Option<Integration>,
    /// `PutMethodResponse` bodies as sent (with `statusCode`), by status code.
    #[serde(default)]
    pub responses: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Integration {
    pub kind: String,
    #[serde(default)]
    pub http_method: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub credentials: Option<String>,
    pub timeout_ms: u64,
    pub passthrough_behavior: String,
    #[serde(default)]
    pub cache_namespace: String,
    #[serde(default)]
    pub content_handling: Option<String>,
    #[serde(default)]
    pub request_parameters: Option<Value>,
    #[serde(default)]
    pub request_templates: Option<Value>,
    /// `PutIntegrationResponse` bodies as sent, by status code.
    #[serde(default)]
    pub responses: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestDeployment {
    pub id: String,
    pub created: i64,
    #[serde(default)]
    pub description: Option<String>,
    /// The tree as it was at CreateDeployment.
    pub resources: Vec<Resource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestStage {
    pub name: String,
    pub deployment_id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub tracing_enabled: bool,
    pub created: i64,
    pub updated: i64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// A canary: a share of the stage's requests runs another deployment with overridden variables.
    #[serde(default)]
    pub canary: Option<Canary>,
    /// `methodSettings` by `{resource path without /}/{METHOD}` (`*/*` for all): the members
    /// UpdateStage set (`metricsEnabled`, `throttlingRateLimit`, ...), echoed by GetStage.
    #[serde(default)]
    pub method_settings: BTreeMap<String, serde_json::Map<String, Value>>,
}

/// A REST stage's canary (`canarySettings`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Canary {
    pub deployment_id: String,
    /// 0.0–100.0.
    pub percent_traffic: f64,
    #[serde(default)]
    pub overrides: BTreeMap<String, String>,
    #[serde(default)]
    pub use_stage_cache: bool,
}

/// An HTTP API (v2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpApi {
    pub id: String,
    pub name: String,
    pub protocol_type: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Epoch milliseconds.
    pub created_ms: i64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub cors: Option<Value>,
    #[serde(default)]
    pub version: Option<String>,
    /// The default `execute-api` endpoint is off: it answers 403 `Forbidden`.
    #[serde(default)]
    pub disable_execute_api_endpoint: bool,
    pub integrations: Vec<HttpIntegration>,
    pub routes: Vec<Route>,
    pub deployments: Vec<HttpDeployment>,
    pub stages: Vec<HttpStage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpIntegration {
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub payload_format_version: Option<String>,
    pub timeout_ms: u64,
    #[serde(default)]
    pub credentials_arn: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub api_gateway_managed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Route {
    pub id: String,
    pub route_key: String,
    #[serde(default)]
    pub target: Option<String>,
    pub authorization_type: String,
    #[serde(default)]
    pub api_gateway_managed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpDeployment {
    pub id: String,
    pub created_ms: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub auto_deployed: bool,
    pub routes: Vec<Route>,
    pub integrations: Vec<HttpIntegration>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpStage {
    pub name: String,
    #[serde(default)]
    pub auto_deploy: bool,
    #[serde(default)]
    pub deployment_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    #[serde(default)]
    pub api_gateway_managed: bool,
    #[serde(default)]
    pub default_route_settings: Option<Value>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}
