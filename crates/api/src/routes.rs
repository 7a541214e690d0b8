//! Routing: method + path + query → [`Endpoint`], a closed enum named after AWS's operations.
//!
//! Parsing is pure and tested against the request lines AWS SDKs send.

use axum::http::Method;

use control::Foreign;

use crate::error::ApiError;
use crate::query::{Query, percent_decode};

/// Every operation Versa serves. Variants carry the decoded path labels and the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    CreateFunction,
    ListFunctions {
        query: Query,
    },
    GetFunction {
        function: String,
        query: Query,
    },
    DeleteFunction {
        function: String,
        query: Query,
    },
    GetFunctionConfiguration {
        function: String,
        query: Query,
    },
    UpdateFunctionConfiguration {
        function: String,
    },
    UpdateFunctionCode {
        function: String,
    },
    PublishVersion {
        function: String,
    },
    ListVersionsByFunction {
        function: String,
        query: Query,
    },
    CreateAlias {
        function: String,
    },
    ListAliases {
        function: String,
        query: Query,
    },
    GetAlias {
        function: String,
        alias: String,
    },
    UpdateAlias {
        function: String,
        alias: String,
    },
    DeleteAlias {
        function: String,
        alias: String,
    },
    TagResource {
        resource: String,
    },
    UntagResource {
        resource: String,
        query: Query,
    },
    ListTags {
        resource: String,
    },
    GetAccountSettings,
    Invoke {
        function: String,
        query: Query,
    },
    InvokeAsync {
        function: String,
    },
    PutFunctionEventInvokeConfig {
        function: String,
        query: Query,
    },
    UpdateFunctionEventInvokeConfig {
        function: String,
        query: Query,
    },
    GetFunctionEventInvokeConfig {
        function: String,
        query: Query,
    },
    DeleteFunctionEventInvokeConfig {
        function: String,
        query: Query,
    },
    ListFunctionEventInvokeConfigs {
        function: String,
        query: Query,
    },
    PutFunctionConcurrency {
        function: String,
    },
    GetFunctionConcurrency {
        function: String,
    },
    DeleteFunctionConcurrency {
        function: String,
    },
    PutProvisionedConcurrencyConfig {
        function: String,
        query: Query,
    },
    GetProvisionedConcurrencyConfig {
        function: String,
        query: Query,
    },
    DeleteProvisionedConcurrencyConfig {
        function: String,
        query: Query,
    },
    ListProvisionedConcurrencyConfigs {
        function: String,
        query: Query,
    },
    AddPermission {
        function: String,
        query: Query,
    },
    RemovePermission {
        function: String,
        statement_id: String,
        query: Query,
    },
    GetPolicy {
        function: String,
        query: Query,
    },
    CreateFunctionUrlConfig {
        function: String,
        query: Query,
    },
    GetFunctionUrlConfig {
        function: String,
        query: Query,
    },
    UpdateFunctionUrlConfig {
        function: String,
        query: Query,
    },
    DeleteFunctionUrlConfig {
        function: String,
        query: Query,
    },
    ListFunctionUrlConfigs {
        function: String,
        query: Query,
    },
    PublishLayerVersion {
        layer: String,
    },
    ListLayerVersions {
        layer: String,
        query: Query,
    },
    GetLayerVersion {
        layer: String,
        version: String,
    },
    DeleteLayerVersion {
        layer: String,
        version: String,
    },
    ListLayers {
        query: Query,
    },
    /// `GET /2018-10-31/layers?find=LayerVersion&Arn=…`.
    GetLayerVersionByArn {
        query: Query,
    },
    AddLayerVersionPermission {
        layer: String,
        version: String,
        query: Query,
    },
    GetLayerVersionPolicy {
        layer: String,
        version: String,
    },
    RemoveLayerVersionPermission {
        layer: String,
        version: String,
        statement_id: String,
        query: Query,
    },
    GetFunctionCodeSigningConfig {
        function: String,
    },
    ListCodeSigningConfigs {
        query: Query,
    },
    GetCodeSigningConfig {
        arn: String,
    },
    ListFunctionsByCodeSigningConfig {
        arn: String,
        query: Query,
    },
    /// Versa's own: the download behind `GetFunction`'s `Code.Location`.
    DownloadCode {
        account: String,
        sha256: String,
        query: Query,
    },
    CreateEventSourceMapping,
    ListEventSourceMappings {
        query: Query,
    },
    GetEventSourceMapping {
        uuid: String,
    },
    UpdateEventSourceMapping {
        uuid: String,
    },
    DeleteEventSourceMapping {
        uuid: String,
    },
    /// Versa's own: liveness.
    Health,
    /// Versa's own: `POST /_versa/keys` (root key only under `--auth sigv4`).
    CreateKey,
    ListKeys,
    DeleteKey {
        access_key_id: String,
    },
    /// `POST /_versa/keys/{id}/disable` and `…/enable`.
    SetKeyDisabled {
        access_key_id: String,
        disabled: bool,
    },
    /// Versa's own: `GET /_versa/functions/{name}/aliases/{alias}/history?limit=&before=`.
    AliasHistory {
        function: String,
        alias: String,
        query: Query,
    },
}

impl Endpoint {
    /// The AWS operation name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::CreateFunction => "CreateFunction",
            Endpoint::ListFunctions { .. } => "ListFunctions",
            Endpoint::GetFunction { .. } => "GetFunction",
            Endpoint::DeleteFunction { .. } => "DeleteFunction",
            Endpoint::GetFunctionConfiguration { .. } => "GetFunctionConfiguration",
            Endpoint::UpdateFunctionConfiguration { .. } => "UpdateFunctionConfiguration",
            Endpoint::UpdateFunctionCode { .. } => "UpdateFunctionCode",
            Endpoint::PublishVersion { .. } => "PublishVersion",
            Endpoint::ListVersionsByFunction { .. } => "ListVersionsByFunction",
            Endpoint::CreateAlias { .. } => "CreateAlias",
            Endpoint::ListAliases { .. } => "ListAliases",
            Endpoint::GetAlias { .. } => "GetAlias",
            Endpoint::UpdateAlias { .. } => "UpdateAlias",
            Endpoint::DeleteAlias { .. } => "DeleteAlias",
            Endpoint::TagResource { .. } => "TagResource",
            Endpoint::UntagResource { .. } => "UntagResource",
            Endpoint::ListTags { .. } => "ListTags",
            Endpoint::GetAccountSettings => "GetAccountSettings",
            Endpoint::Invoke { .. } => "Invoke",
            Endpoint::InvokeAsync { .. } => "InvokeAsync",
            Endpoint::PutFunctionEventInvokeConfig { .. } => "PutFunctionEventInvokeConfig",
            Endpoint::UpdateFunctionEventInvokeConfig { .. } => "UpdateFunctionEventInvokeConfig",
            Endpoint::GetFunctionEventInvokeConfig { .. } => "GetFunctionEventInvokeConfig",
            Endpoint::DeleteFunctionEventInvokeConfig { .. } => "DeleteFunctionEventInvokeConfig",
            Endpoint::ListFunctionEventInvokeConfigs { .. } => "ListFunctionEventInvokeConfigs",
            Endpoint::PutFunctionConcurrency { .. } => "PutFunctionConcurrency",
            Endpoint::GetFunctionConcurrency { .. } => "GetFunctionConcurrency",
            Endpoint::DeleteFunctionConcurrency { .. } => "DeleteFunctionConcurrency",
            Endpoint::PutProvisionedConcurrencyConfig { .. } => "PutProvisionedConcurrencyConfig",
            Endpoint::GetProvisionedConcurrencyConfig { .. } => "GetProvisionedConcurrencyConfig",
            Endpoint::DeleteProvisionedConcurrencyConfig { .. } => "DeleteProvisionedConcurrencyConfig",
            Endpoint::ListProvisionedConcurrencyConfigs { .. } => "ListProvisionedConcurrencyConfigs",
            Endpoint::AddPermission { .. } => "AddPermission",
            Endpoint::RemovePermission { .. } => "RemovePermission",
            Endpoint::GetPolicy { .. } => "GetPolicy",
            Endpoint::CreateFunctionUrlConfig { .. } => "CreateFunctionUrlConfig",
            Endpoint::GetFunctionUrlConfig { .. } => "GetFunctionUrlConfig",
            Endpoint::UpdateFunctionUrlConfig { .. } => "UpdateFunctionUrlConfig",
            Endpoint::DeleteFunctionUrlConfig { .. } => "DeleteFunctionUrlConfig",
            Endpoint::ListFunctionUrlConfigs { .. } => "ListFunctionUrlConfigs",
            Endpoint::PublishLayerVersion { .. } => "PublishLayerVersion",
            Endpoint::ListLayerVersions { .. } => "ListLayerVersions",
            Endpoint::GetLayerVersion { .. } => "GetLayerVersion",
            Endpoint::DeleteLayerVersion { .. } => "DeleteLayerVersion",
            Endpoint::ListLayers { .. } => "ListLayers",
            Endpoint::GetLayerVersionByArn { .. } => "GetLayerVersionByArn",
            Endpoint::AddLayerVersionPermission { .. } => "AddLayerVersionPermission",
            Endpoint::GetLayerVersionPolicy { .. } => "GetLayerVersionPolicy",
            Endpoint::RemoveLayerVersionPermission { .. } => "RemoveLayerVersionPermission",
            Endpoint::GetFunctionCodeSigningConfig { .. } => "GetFunctionCodeSigningConfig",
            Endpoint::ListCodeSigningConfigs { .. } => "ListCodeSigningConfigs",
            Endpoint::GetCodeSigningConfig { .. } => "GetCodeSigningConfig",
            Endpoint::ListFunctionsByCodeSigningConfig { .. } => "ListFunctionsByCodeSigningConfig",
            Endpoint::CreateEventSourceMapping => "CreateEventSourceMapping",
            Endpoint::ListEventSourceMappings { .. } => "ListEventSourceMappings",
            Endpoint::GetEventSourceMapping { .. } => "GetEventSourceMapping",
            Endpoint::UpdateEventSourceMapping { .. } => "UpdateEventSourceMapping",
            Endpoint::DeleteEventSourceMapping { .. } => "DeleteEventSourceMapping",
            Endpoint::DownloadCode { .. } => "DownloadCode",
            Endpoint::Health => "Health",
            Endpoint::CreateKey => "CreateKey",
            Endpoint::ListKeys => "ListKeys",
            Endpoint::DeleteKey { .. } => "DeleteKey",
            Endpoint::SetKeyDisabled { disabled: true, .. } => "DisableKey",
            Endpoint::SetKeyDisabled { disabled: false, .. } => "EnableKey",
            Endpoint::AliasHistory { .. } => "AliasHistory",
        }
    }

    /// For the operations that a resource-based policy can open to another account (AWS's list
    /// for functions): the IAM action a statement must allow, and the function or resource the
    /// request names. `None` for every other operation: another account's ARN stays refused.
    pub(crate) fn resource_policy(&self) -> Option<(&'static str, Foreign<'_>)> {
        Some(match self {
            Endpoint::Invoke { function, query } => ("lambda:InvokeFunction", qualified(function, query)),
            Endpoint::GetFunction { function, query } => ("lambda:GetFunction", qualified(function, query)),
            Endpoint::GetFunctionConfiguration { function, query } => {
                ("lambda:GetFunctionConfiguration", qualified(function, query))
            }
            Endpoint::UpdateFunctionCode { function } => ("lambda:UpdateFunctionCode", named(function)),
            Endpoint::DeleteFunction { function, query } => ("lambda:DeleteFunction", qualified(function, query)),
            Endpoint::PublishVersion { function } => ("lambda:PublishVersion", named(function)),
            Endpoint::ListVersionsByFunction { function, .. } => ("lambda:ListVersionsByFunction", named(function)),
            Endpoint::CreateAlias { function } => ("lambda:CreateAlias", named(function)),
            Endpoint::GetAlias { function, .. } => ("lambda:GetAlias", named(function)),
            // Versa's alias history reads like GetAlias, and opens to the same grant.
            Endpoint::AliasHistory { function, .. } => ("lambda:GetAlias", named(function)),
            Endpoint::ListAliases { function, .. } => ("lambda:ListAliases", named(function)),
            Endpoint::UpdateAlias { function, .. } => ("lambda:UpdateAlias", named(function)),
            Endpoint::DeleteAlias { function, .. } => ("lambda:DeleteAlias", named(function)),
            Endpoint::GetPolicy { function, query } => ("lambda:GetPolicy", qualified(function, query)),
            Endpoint::PutFunctionConcurrency { function } => ("lambda:PutFunctionConcurrency", named(function)),
            Endpoint::DeleteFunctionConcurrency { function } => ("lambda:DeleteFunctionConcurrency", named(function)),
            Endpoint::ListTags { resource } => ("lambda:ListTags", Foreign::Resource(resource)),
            Endpoint::TagResource { resource } => ("lambda:TagResource", Foreign::Resource(resource)),
            Endpoint::UntagResource { resource, .. } => ("lambda:UntagResource", Foreign::Resource(resource)),
            _ => return None,
        })
    }

    pub fn parse(method: &Method, path: &str, raw_query: Option<&str>) -> Result<Endpoint, ApiError> {
        let unknown = || ApiError::UnknownOperation { method: method.to_string(), path: path.to_owned() };
        let trimmed = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
        let raw: Vec<&str> = trimmed.split('/').skip(1).collect();
        let mut segs = Vec::with_capacity(raw.len());
        for s in &raw {
            segs.push(percent_decode(s, false).ok_or_else(unknown)?);
        }
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let query = || Query::parse(raw_query);
        let m = method.clone();
        let e = match (m, segs.as_slice()) {
            (Method::POST, ["2015-03-31", "functions"]) => Endpoint::CreateFunction,
            (Method::GET, ["2015-03-31", "functions"]) => Endpoint::ListFunctions { query: query() },
            (Method::GET, ["2015-03-31", "functions", f]) => {
                Endpoint::GetFunction { function: (*f).to_owned(), query: query() }
            }
            (Method::DELETE, ["2015-03-31", "functions", f]) => {
                Endpoint::DeleteFunction { function: (*f).to_owned(), query: query() }
            }
            (Method::GET, ["2015-03-31", "functions", f, "configuration"]) => {
                Endpoint::GetFunctionConfiguration { function: (*f).to_owned(), query: query() }
            }
            (Method::PUT, ["2015-03-31", "functions", f, "configuration"]) => {
                Endpoint::UpdateFunctionConfiguration { function: (*f).to_owned() }
            }
            (Method::PUT, ["2015-03-31", "functions", f, "code"]) => {
                Endpoint::UpdateFunctionCode { function: (*f).to_owned() }
            }
            (Method::POST, ["2015-03-31", "functions", f, "versions"]) => {
                Endpoint::PublishVersion { function: (*f).to_owned() }
            }
            (Method::GET, ["2015-03-31", "functions", f, "versions"]) => {
                Endpoint::ListVersionsByFunction { function: (*f).to_owned(), query: query() }
            }
            (Method::POST, ["2015-03-31", "functions", f, "aliases"]) => {
                Endpoint::CreateAlias { function: (*f).to_owned() }
            }
            (Method::GET, ["2015-03-31", "functions", f, "aliases"]) => {
                Endpoint::ListAliases { function: (*f).to_owned(), query: query() }
            }
            (Method::GET, ["2015-03-31", "functions", f, "aliases", a]) => {
                Endpoint::GetAlias { function: (*f).to_owned(), alias: (*a).to_owned() }
            }
            (Method::PUT, ["2015-03-31", "functions", f, "aliases", a]) => {
                Endpoint::UpdateAlias { function: (*f).to_owned(), alias: (*a).to_owned() }
            }
            (Method::DELETE, ["2015-03-31", "functions", f, "aliases", a]) => {
                Endpoint::DeleteAlias { function: (*f).to_owned(), alias: (*a).to_owned() }
            }
            (Method::POST, ["2017-03-31", "tags", r]) => Endpoint::TagResource { resource: (*r).to_owned() },
            (Method::DELETE, ["2017-03-31", "tags", r]) => {
                Endpoint::UntagResource { resource: (*r).to_owned(), query: query() }
            }
            (Method::GET, ["2017-03-31", "tags", r]) => Endpoint::ListTags { resource: (*r).to_owned() },
            (Method::GET, ["2016-08-19", "account-settings"]) => Endpoint::GetAccountSettings,
            (Method::POST, ["2015-03-31", "functions", f, "invocations"]) => {
                Endpoint::Invoke { function: (*f).to_owned(), query: query() }
            }
            (Method::POST, ["2014-11-13", "functions", f, "invoke-async"]) => {
                Endpoint::InvokeAsync { function: (*f).to_owned() }
            }
            (Method::PUT, ["2019-09-25", "functions", f, "event-invoke-config"]) => {
                Endpoint::PutFunctionEventInvokeConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::POST, ["2019-09-25", "functions", f, "event-invoke-config"]) => {
                Endpoint::UpdateFunctionEventInvokeConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::GET, ["2019-09-25", "functions", f, "event-invoke-config"]) => {
                Endpoint::GetFunctionEventInvokeConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::DELETE, ["2019-09-25", "functions", f, "event-invoke-config"]) => {
                Endpoint::DeleteFunctionEventInvokeConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::GET, ["2019-09-25", "functions", f, "event-invoke-config", "list"]) => {
                Endpoint::ListFunctionEventInvokeConfigs { function: (*f).to_owned(), query: query() }
            }
            (Method::PUT, ["2017-10-31", "functions", f, "concurrency"]) => {
                Endpoint::PutFunctionConcurrency { function: (*f).to_owned() }
            }
            (Method::GET, ["2019-09-30", "functions", f, "concurrency"]) => {
                Endpoint::GetFunctionConcurrency { function: (*f).to_owned() }
            }
            (Method::DELETE, ["2017-10-31", "functions", f, "concurrency"]) => {
                Endpoint::DeleteFunctionConcurrency { function: (*f).to_owned() }
            }
            (Method::PUT, ["2019-09-30", "functions", f, "provisioned-concurrency"]) => {
                Endpoint::PutProvisionedConcurrencyConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::GET, ["2019-09-30", "functions", f, "provisioned-concurrency"]) => {
                let query = query();
                if query.get("List") == Some("ALL") {
                    Endpoint::ListProvisionedConcurrencyConfigs { function: (*f).to_owned(), query }
                } else {
                    Endpoint::GetProvisionedConcurrencyConfig { function: (*f).to_owned(), query }
                }
            }
            (Method::DELETE, ["2019-09-30", "functions", f, "provisioned-concurrency"]) => {
                Endpoint::DeleteProvisionedConcurrencyConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::POST, ["2015-03-31", "functions", f, "policy"]) => {
                Endpoint::AddPermission { function: (*f).to_owned(), query: query() }
            }
            (Method::GET, ["2015-03-31", "functions", f, "policy"]) => {
                Endpoint::GetPolicy { function: (*f).to_owned(), query: query() }
            }
            (Method::DELETE, ["2015-03-31", "functions", f, "policy", sid]) => Endpoint::RemovePermission {
                function: (*f).to_owned(),
                statement_id: (*sid).to_owned(),
                query: query(),
            },
            (Method::POST, ["2021-10-31", "functions", f, "url"]) => {
                Endpoint::CreateFunctionUrlConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::GET, ["2021-10-31", "functions", f, "url"]) => {
                Endpoint::GetFunctionUrlConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::PUT, ["2021-10-31", "functions", f, "url"]) => {
                Endpoint::UpdateFunctionUrlConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::DELETE, ["2021-10-31", "functions", f, "url"]) => {
                Endpoint::DeleteFunctionUrlConfig { function: (*f).to_owned(), query: query() }
            }
            (Method::GET, ["2021-10-31", "functions", f, "urls"]) => {
                Endpoint::ListFunctionUrlConfigs { function: (*f).to_owned(), query: query() }
            }
            (Method::POST, ["2018-10-31", "layers", l, "versions"]) => {
                Endpoint::PublishLayerVersion { layer: (*l).to_owned() }
            }
            (Method::GET, ["2018-10-31", "layers", l, "versions"]) => {
                Endpoint::ListLayerVersions { layer: (*l).to_owned(), query: query() }
            }
            (Method::GET, ["2018-10-31", "layers", l, "versions", v]) => {
                Endpoint::GetLayerVersion { layer: (*l).to_owned(), version: (*v).to_owned() }
            }
            (Method::DELETE, ["2018-10-31", "layers", l, "versions", v]) => {
                Endpoint::DeleteLayerVersion { layer: (*l).to_owned(), version: (*v).to_owned() }
            }
            (Method::GET, ["2018-10-31", "layers"]) => {
                let query = query();
                if query.get("find") == Some("LayerVersion") {
                    Endpoint::GetLayerVersionByArn { query }
                } else {
                    Endpoint::ListLayers { query }
                }
            }
            (Method::POST, ["2018-10-31", "layers", l, "versions", v, "policy"]) => {
                Endpoint::AddLayerVersionPermission { layer: (*l).to_owned(), version: (*v).to_owned(), query: query() }
            }
            (Method::GET, ["2018-10-31", "layers", l, "versions", v, "policy"]) => {
                Endpoint::GetLayerVersionPolicy { layer: (*l).to_owned(), version: (*v).to_owned() }
            }
            (Method::DELETE, ["2018-10-31", "layers", l, "versions", v, "policy", sid]) => {
                Endpoint::RemoveLayerVersionPermission {
                    layer: (*l).to_owned(),
                    version: (*v).to_owned(),
                    statement_id: (*sid).to_owned(),
                    query: query(),
                }
            }
            (Method::GET, ["2020-06-30", "functions", f, "code-signing-config"]) => {
                Endpoint::GetFunctionCodeSigningConfig { function: (*f).to_owned() }
            }
            (Method::GET, ["2020-04-22", "code-signing-configs"]) => {
                Endpoint::ListCodeSigningConfigs { query: query() }
            }
            (Method::GET, ["2020-04-22", "code-signing-configs", a]) => {
                Endpoint::GetCodeSigningConfig { arn: (*a).to_owned() }
            }
            (Method::GET, ["2020-04-22", "code-signing-configs", a, "functions"]) => {
                Endpoint::ListFunctionsByCodeSigningConfig { arn: (*a).to_owned(), query: query() }
            }
            (Method::POST, ["2015-03-31", "event-source-mappings"]) => Endpoint::CreateEventSourceMapping,
            (Method::GET, ["2015-03-31", "event-source-mappings"]) => {
                Endpoint::ListEventSourceMappings { query: query() }
            }
            (Method::GET, ["2015-03-31", "event-source-mappings", u]) => {
                Endpoint::GetEventSourceMapping { uuid: (*u).to_owned() }
            }
            (Method::PUT, ["2015-03-31", "event-source-mappings", u]) => {
                Endpoint::UpdateEventSourceMapping { uuid: (*u).to_owned() }
            }
            (Method::DELETE, ["2015-03-31", "event-source-mappings", u]) => {
                Endpoint::DeleteEventSourceMapping { uuid: (*u).to_owned() }
            }
            (Method::GET, ["_versa", "code", account, sha]) => {
                Endpoint::DownloadCode { account: (*account).to_owned(), sha256: (*sha).to_owned(), query: query() }
            }
            (Method::GET, ["_versa", "health"]) => Endpoint::Health,
            (Method::POST, ["_versa", "keys"]) => Endpoint::CreateKey,
            (Method::GET, ["_versa", "keys"]) => Endpoint::ListKeys,
            (Method::DELETE, ["_versa", "keys", id]) => Endpoint::DeleteKey { access_key_id: (*id).to_owned() },
            (Method::POST, ["_versa", "keys", id, action @ ("disable" | "enable")]) => {
                Endpoint::SetKeyDisabled { access_key_id: (*id).to_owned(), disabled: *action == "disable" }
            }
            (Method::GET, ["_versa", "functions", f, "aliases", a, "history"]) => {
                Endpoint::AliasHistory { function: (*f).to_owned(), alias: (*a).to_owned(), query: query() }
            }
            _ => return Err(unknown()),
        };
        Ok(e)
    }
}

/// A `FunctionName` of an operation on the function as a whole.
fn named(function: &str) -> Foreign<'_> {
    Foreign::WholeFunction { function_name: function }
}

/// A `FunctionName` with the request's `Qualifier` parameter.
fn qualified<'a>(function: &'a str, query: &'a Query) -> Foreign<'a> {
    Foreign::Function { function_name: function, qualifier: query.get("Qualifier") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(line: &str, expect: &str) {
        let (method, target) = line.split_once(' ').unwrap();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let got = match Endpoint::parse(&method, path, query) {
            Ok(e) => format!("{e:?}"),
            Err(e) => format!("error {e:?}"),
        };
        assert_eq!(got, expect, "{line}");
    }

    /// Request lines as botocore and the AWS SDK for Rust send them.
    #[test]
    fn sdk_request_lines() {
        check("POST /2015-03-31/functions", "CreateFunction");
        check("GET /2015-03-31/functions/", "ListFunctions { query: Query([]) }");
        check(
            "GET /2015-03-31/functions?FunctionVersion=ALL&MaxItems=5",
            r#"ListFunctions { query: Query([("FunctionVersion", "ALL"), ("MaxItems", "5")]) }"#,
        );
        check(
            "GET /2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afn%3Aalias1?Qualifier=%24LATEST",
            r#"GetFunction { function: "arn:aws:lambda:us-east-1:123456789012:function:fn:alias1", query: Query([("Qualifier", "$LATEST")]) }"#,
        );
        check("PUT /2015-03-31/functions/fn%3A3/configuration", r#"UpdateFunctionConfiguration { function: "fn:3" }"#);
        check("GET /2015-03-31/functions/fn/aliases/live", r#"GetAlias { function: "fn", alias: "live" }"#);
        check("DELETE /2015-03-31/functions/fn/aliases/live", r#"DeleteAlias { function: "fn", alias: "live" }"#);
        check("POST /2015-03-31/functions/fn/versions", r#"PublishVersion { function: "fn" }"#);
        check(
            "GET /_versa/functions/fn/aliases/prod/history?limit=5&before=9",
            r#"AliasHistory { function: "fn", alias: "prod", query: Query([("limit", "5"), ("before", "9")]) }"#,
        );
        check(
            "POST /2015-03-31/functions/fn/policy?Qualifier=prod",
            r#"AddPermission { function: "fn", query: Query([("Qualifier", "prod")]) }"#,
        );
        check(
            "DELETE /2015-03-31/functions/fn/policy/s3.1?RevisionId=r",
            r#"RemovePermission { function: "fn", statement_id: "s3.1", query: Query([("RevisionId", "r")]) }"#,
        );
        check("GET /2015-03-31/functions/fn/policy", r#"GetPolicy { function: "fn", query: Query([]) }"#);
        check(
            "POST /2021-10-31/functions/fn/url?Qualifier=prod",
            r#"CreateFunctionUrlConfig { function: "fn", query: Query([("Qualifier", "prod")]) }"#,
        );
        check("GET /2021-10-31/functions/fn/urls", r#"ListFunctionUrlConfigs { function: "fn", query: Query([]) }"#);
        check(
            "DELETE /2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afn?tagKeys=a&tagKeys=b",
            r#"UntagResource { resource: "arn:aws:lambda:us-east-1:123456789012:function:fn", query: Query([("tagKeys", "a"), ("tagKeys", "b")]) }"#,
        );
        check("GET /2016-08-19/account-settings/", "GetAccountSettings");
        check(
            "PATCH /2015-03-31/functions/fn",
            r#"error UnknownOperation { method: "PATCH", path: "/2015-03-31/functions/fn" }"#,
        );
        check(
            "GET /2015-03-31/functions/fn/invocations",
            r#"error UnknownOperation { method: "GET", path: "/2015-03-31/functions/fn/invocations" }"#,
        );
        check("POST /2018-10-31/layers/my-layer/versions", r#"PublishLayerVersion { layer: "my-layer" }"#);
        check(
            "GET /2018-10-31/layers/my-layer/versions?CompatibleRuntime=python3.12&MaxItems=2",
            r#"ListLayerVersions { layer: "my-layer", query: Query([("CompatibleRuntime", "python3.12"), ("MaxItems", "2")]) }"#,
        );
        check(
            "GET /2018-10-31/layers/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Alayer%3Amy-layer/versions/3",
            r#"GetLayerVersion { layer: "arn:aws:lambda:us-east-1:123456789012:layer:my-layer", version: "3" }"#,
        );
        check(
            "DELETE /2018-10-31/layers/my-layer/versions/3",
            r#"DeleteLayerVersion { layer: "my-layer", version: "3" }"#,
        );
        check(
            "GET /2018-10-31/layers?CompatibleArchitecture=arm64&Marker=6c",
            r#"ListLayers { query: Query([("CompatibleArchitecture", "arm64"), ("Marker", "6c")]) }"#,
        );
        check(
            "GET /2018-10-31/layers?find=LayerVersion&Arn=arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Alayer%3Al%3A1",
            r#"GetLayerVersionByArn { query: Query([("find", "LayerVersion"), ("Arn", "arn:aws:lambda:us-east-1:123456789012:layer:l:1")]) }"#,
        );
        check(
            "POST /2018-10-31/layers/my-layer/versions/1/policy?RevisionId=r",
            r#"AddLayerVersionPermission { layer: "my-layer", version: "1", query: Query([("RevisionId", "r")]) }"#,
        );
        check(
            "GET /2018-10-31/layers/my-layer/versions/1/policy",
            r#"GetLayerVersionPolicy { layer: "my-layer", version: "1" }"#,
        );
        check(
            "DELETE /2018-10-31/layers/my-layer/versions/1/policy/xaccount",
            r#"RemoveLayerVersionPermission { layer: "my-layer", version: "1", statement_id: "xaccount", query: Query([]) }"#,
        );
        check("GET /2020-06-30/functions/fn/code-signing-config", r#"GetFunctionCodeSigningConfig { function: "fn" }"#);
        check("GET /2020-04-22/code-signing-configs/", "ListCodeSigningConfigs { query: Query([]) }");
        check(
            "GET /2020-04-22/code-signing-configs/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Acode-signing-config%3Acsc-0123456789abcdefg",
            r#"GetCodeSigningConfig { arn: "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdefg" }"#,
        );
        check(
            "GET /2020-04-22/code-signing-configs/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Acode-signing-config%3Acsc-0123456789abcdefg/functions?MaxItems=5",
            r#"ListFunctionsByCodeSigningConfig { arn: "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdefg", query: Query([("MaxItems", "5")]) }"#,
        );
        check(
            "POST /2015-03-31/functions/fn%3Aprod/invocations?Qualifier=prod",
            r#"Invoke { function: "fn:prod", query: Query([("Qualifier", "prod")]) }"#,
        );
    }
}
