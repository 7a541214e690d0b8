//! Aliases: CreateAlias, GetAlias, UpdateAlias, ListAliases.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAliasRequest {
    pub name: Option<String>,
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<AliasRoutingConfiguration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAliasRequest {
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<AliasRoutingConfiguration>,
    pub revision_id: Option<String>,
}

/// Weights are kept as raw JSON numbers so that out-of-range values can be echoed back in the
/// validation message exactly as sent.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasRoutingConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_version_weights: Option<BTreeMap<String, Option<f64>>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasConfiguration {
    pub alias_arn: String,
    pub name: String,
    pub function_version: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_config: Option<AliasRoutingConfiguration>,
    pub revision_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    pub aliases: Vec<AliasConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}
