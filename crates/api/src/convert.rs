//! Domain views → `wire` response shapes.

use std::collections::BTreeMap;

use control::{AliasView, Status, VersionView};
use model::scope::Scope;
use wire::alias::{AliasConfiguration, AliasRoutingConfiguration};
use wire::function::{
    DeadLetterConfig, Environment, EphemeralStorage, FunctionConfiguration, LoggingConfig, RuntimeVersionConfig,
    SnapStartResponse, TracingConfig, VpcConfig,
};

/// Which presentation a `FunctionConfiguration` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Single-function answers: with the state fields and `RuntimeVersionConfig`.
    Full,
    /// List entries: AWS leaves the state fields and `RuntimeVersionConfig` out.
    Listed,
}

const BEING_CREATED: &str = "The function is being created.";

pub(crate) fn configuration(scope: &Scope, v: &VersionView, detail: Detail) -> FunctionConfiguration {
    let r = &v.record;
    let c = &r.config;
    let full = detail == Detail::Full;
    let (state, state_reason, state_reason_code, update, update_reason, update_reason_code) = match v.status {
        Status::Creating => (Some("Pending"), Some(BEING_CREATED), Some("Creating"), None, None, None),
        Status::Updating => (Some("Active"), None, None, Some("InProgress"), Some(BEING_CREATED), Some("Creating")),
        Status::Active => (Some("Active"), None, None, Some("Successful"), None, None),
    };
    let s = |x: Option<&str>| if full { x.map(str::to_owned) } else { None };
    FunctionConfiguration {
        function_name: v.function_name.clone(),
        function_arn: v.arn.clone(),
        runtime: c.runtime.clone(),
        role: c.role.clone(),
        handler: c.handler.clone(),
        code_size: r.code.size,
        description: c.description.clone(),
        timeout: c.timeout_s,
        memory_size: c.memory_mb,
        last_modified: stdx::time::format_lambda_ms(r.last_modified_ms),
        code_sha256: control::base64_sha(&r.code.sha256),
        version: r.version.to_string(),
        vpc_config: c.vpc.as_ref().map(|vpc| VpcConfig {
            subnet_ids: Some(vpc.subnet_ids.clone()),
            security_group_ids: Some(vpc.security_group_ids.clone()),
            ipv6_allowed_for_dual_stack: Some(vpc.ipv6_allowed_for_dual_stack),
            vpc_id: Some(String::new()),
        }),
        dead_letter_config: c.dead_letter_target_arn.as_ref().map(|a| DeadLetterConfig { target_arn: Some(a.clone()) }),
        environment: c.environment.as_ref().map(|vars| Environment { variables: Some(vars.clone()) }),
        kms_key_arn: c.kms_key_arn.clone(),
        tracing_config: TracingConfig { mode: Some(c.tracing_mode.as_str().to_owned()) },
        revision_id: r.revision_id.0.clone(),
        state: s(state),
        state_reason: s(state_reason),
        state_reason_code: s(state_reason_code),
        last_update_status: s(update),
        last_update_status_reason: s(update_reason),
        last_update_status_reason_code: s(update_reason_code),
        package_type: "Zip".to_owned(),
        architectures: vec![c.architecture.as_str().to_owned()],
        ephemeral_storage: EphemeralStorage { size: Some(i64::from(c.ephemeral_storage_mb)) },
        snap_start: SnapStartResponse {
            apply_on: c.snap_start.as_str().to_owned(),
            optimization_status: "Off".to_owned(),
        },
        runtime_version_config: if full {
            c.runtime.as_deref().map(|rt| RuntimeVersionConfig {
                runtime_version_arn: model::runtime::runtime_version_arn(scope.region.as_str(), rt),
            })
        } else {
            None
        },
        logging_config: LoggingConfig {
            log_format: Some(c.logging.log_format.clone()),
            application_log_level: c.logging.application_log_level.clone(),
            system_log_level: c.logging.system_log_level.clone(),
            log_group: Some(c.logging.log_group.clone().unwrap_or_else(|| format!("/aws/lambda/{}", v.function_name))),
        },
        layers: (!c.layers.is_empty()).then(|| {
            c.layers.iter().map(|l| wire::function::Layer { arn: l.arn.clone(), code_size: l.code.size }).collect()
        }),
    }
}

pub(crate) fn alias(v: &AliasView) -> AliasConfiguration {
    let a = &v.alias;
    AliasConfiguration {
        alias_arn: v.alias_arn.clone(),
        name: a.name.clone(),
        function_version: a.function_version.to_string(),
        description: a.description.clone(),
        routing_config: a.routing.map(|r| AliasRoutingConfiguration {
            additional_version_weights: Some(BTreeMap::from([(r.version.to_string(), Some(r.weight))])),
        }),
        revision_id: a.revision_id.0.clone(),
    }
}

pub(crate) fn event_config(v: &control::EventConfigView) -> wire::events::FunctionEventInvokeConfig {
    use wire::events::{Destination, DestinationConfig, FunctionEventInvokeConfig};
    let c = &v.config;
    FunctionEventInvokeConfig {
        last_modified: c.last_modified_ms as f64 / 1000.0,
        function_arn: v.function_arn.clone(),
        maximum_retry_attempts: c.maximum_retry_attempts,
        maximum_event_age_in_seconds: c.maximum_event_age_s,
        destination_config: DestinationConfig {
            on_success: Some(Destination { destination: c.on_success.clone() }),
            on_failure: Some(Destination { destination: c.on_failure.clone() }),
        },
    }
}

pub(crate) fn provisioned(
    v: &control::ProvisionedView,
    status: Option<invoke::provisioned::SetStatus>,
    with_arn: bool,
) -> wire::events::ProvisionedConcurrencyConfig {
    let (state, ready, reason) = match status {
        Some(s) => (s.status.as_str(), s.allocated, s.reason),
        None => ("IN_PROGRESS", 0, None),
    };
    wire::events::ProvisionedConcurrencyConfig {
        function_arn: with_arn.then(|| v.function_arn.clone()),
        requested_provisioned_concurrent_executions: v.config.requested,
        available_provisioned_concurrent_executions: ready,
        allocated_provisioned_concurrent_executions: ready,
        status: state.to_owned(),
        status_reason: reason,
        last_modified: stdx::time::format_lambda_secs(v.config.last_modified_ms),
    }
}

/// The host a function URL is served at: `<url-id>.lambda-url.<region>.localhost`, with the port
/// the caller used to reach Versa.
pub(crate) fn function_url_host(url_id: &str, region: &str, request_host: &str) -> String {
    let port = request_host.rsplit_once(':').map(|(_, p)| p).filter(|p| p.bytes().all(|b| b.is_ascii_digit()));
    match port {
        Some(p) if !p.is_empty() => format!("{url_id}.lambda-url.{region}.localhost:{p}"),
        _ => format!("{url_id}.lambda-url.{region}.localhost"),
    }
}

pub(crate) fn function_url(
    v: &control::UrlView,
    scope: &model::scope::Scope,
    request_host: &str,
    scheme: &str,
) -> wire::policy::FunctionUrlConfig {
    let u = &v.url;
    wire::policy::FunctionUrlConfig {
        function_url: format!("{scheme}://{}/", function_url_host(&u.url_id, scope.region.as_str(), request_host)),
        function_arn: v.function_arn.clone(),
        auth_type: u.auth_type.as_str().to_owned(),
        cors: u.cors.as_ref().map(|c| wire::policy::Cors {
            allow_credentials: c.allow_credentials,
            allow_headers: c.allow_headers.clone(),
            allow_methods: c.allow_methods.clone(),
            allow_origins: c.allow_origins.clone(),
            expose_headers: c.expose_headers.clone(),
            max_age: c.max_age,
        }),
        creation_time: stdx::time::format_iso8601_ms(u.creation_ms),
        last_modified_time: Some(stdx::time::format_iso8601_ms(u.last_modified_ms)),
        invoke_mode: Some(u.invoke_mode.clone().unwrap_or_else(|| "BUFFERED".to_owned())),
    }
}
