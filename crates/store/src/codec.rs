//! How domain records are encoded in the database: store-private serde documents with explicit
//! conversions, so that the on-disk format changes only through a migration, never because a
//! domain type was refactored.

use std::collections::BTreeMap;

use model::function::{
    AdditionalVersion, Alias, Architecture, CodeRef, EventInvokeConfig, FunctionConfig, LoggingConfig, RevisionId,
    Sha256, SnapStartApplyOn, TracingMode, VersionRecord, VpcConfig,
};
use model::layer::{FunctionLayer, LayerPolicy, LayerPrincipal, LayerStatement, LayerVersion};
use model::name::Version;
use model::policy::{Cors, FunctionUrl, Policy, Principal, Statement, UrlAuthType};
use serde::{Deserialize, Serialize};

use crate::StoreError;

#[derive(Serialize, Deserialize)]
pub(crate) struct VersionDoc {
    config: ConfigDoc,
    code_sha256: String,
    code_size: u64,
    unzipped_size: u64,
    revision_id: String,
    last_modified_ms: i64,
    config_rev: u64,
}

#[derive(Serialize, Deserialize)]
struct ConfigDoc {
    runtime: Option<String>,
    handler: Option<String>,
    role: String,
    description: String,
    timeout_s: u32,
    memory_mb: u32,
    environment: Option<BTreeMap<String, String>>,
    architecture: String,
    ephemeral_storage_mb: u32,
    tracing_mode: String,
    dead_letter_target_arn: Option<String>,
    kms_key_arn: Option<String>,
    log_format: String,
    application_log_level: Option<String>,
    system_log_level: Option<String>,
    log_group: Option<String>,
    vpc: Option<VpcDoc>,
    snap_start: String,
    /// Absent in documents written before layers existed.
    #[serde(default)]
    layers: Vec<FunctionLayerDoc>,
}

#[derive(Serialize, Deserialize)]
struct FunctionLayerDoc {
    arn: String,
    code_sha256: String,
    code_size: u64,
    unzipped_size: u64,
}

#[derive(Serialize, Deserialize)]
struct VpcDoc {
    subnet_ids: Vec<String>,
    security_group_ids: Vec<String>,
    ipv6_allowed_for_dual_stack: bool,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct AliasDoc {
    function_version: String,
    description: String,
    routing: Option<(u32, f64)>,
    revision_id: String,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn encode_version(v: &VersionRecord) -> String {
    let c = &v.config;
    let doc = VersionDoc {
        config: ConfigDoc {
            runtime: c.runtime.clone(),
            handler: c.handler.clone(),
            role: c.role.clone(),
            description: c.description.clone(),
            timeout_s: c.timeout_s,
            memory_mb: c.memory_mb,
            environment: c.environment.clone(),
            architecture: c.architecture.as_str().to_owned(),
            ephemeral_storage_mb: c.ephemeral_storage_mb,
            tracing_mode: c.tracing_mode.as_str().to_owned(),
            dead_letter_target_arn: c.dead_letter_target_arn.clone(),
            kms_key_arn: c.kms_key_arn.clone(),
            log_format: c.logging.log_format.clone(),
            application_log_level: c.logging.application_log_level.clone(),
            system_log_level: c.logging.system_log_level.clone(),
            log_group: c.logging.log_group.clone(),
            vpc: c.vpc.as_ref().map(|v| VpcDoc {
                subnet_ids: v.subnet_ids.clone(),
                security_group_ids: v.security_group_ids.clone(),
                ipv6_allowed_for_dual_stack: v.ipv6_allowed_for_dual_stack,
            }),
            snap_start: c.snap_start.as_str().to_owned(),
            layers: c
                .layers
                .iter()
                .map(|l| FunctionLayerDoc {
                    arn: l.arn.clone(),
                    code_sha256: l.code.sha256.to_hex(),
                    code_size: l.code.size,
                    unzipped_size: l.code.unzipped_size,
                })
                .collect(),
        },
        code_sha256: v.code.sha256.to_hex(),
        code_size: v.code.size,
        unzipped_size: v.code.unzipped_size,
        revision_id: v.revision_id.0.clone(),
        last_modified_ms: v.last_modified_ms,
        config_rev: v.config_rev,
    };
    serde_json::to_string(&doc).expect("documents always serialize")
}

pub(crate) fn decode_version(version: Version, text: &str) -> Result<VersionRecord, StoreError> {
    let d: VersionDoc = serde_json::from_str(text).map_err(corrupt)?;
    let c = d.config;
    let config = FunctionConfig {
        runtime: c.runtime,
        handler: c.handler,
        role: c.role,
        description: c.description,
        timeout_s: c.timeout_s,
        memory_mb: c.memory_mb,
        environment: c.environment,
        architecture: Architecture::parse(&c.architecture).ok_or_else(|| corrupt(&c.architecture))?,
        ephemeral_storage_mb: c.ephemeral_storage_mb,
        tracing_mode: TracingMode::parse(&c.tracing_mode).ok_or_else(|| corrupt(&c.tracing_mode))?,
        dead_letter_target_arn: c.dead_letter_target_arn,
        kms_key_arn: c.kms_key_arn,
        logging: LoggingConfig {
            log_format: c.log_format,
            application_log_level: c.application_log_level,
            system_log_level: c.system_log_level,
            log_group: c.log_group,
        },
        vpc: c.vpc.map(|v| VpcConfig {
            subnet_ids: v.subnet_ids,
            security_group_ids: v.security_group_ids,
            ipv6_allowed_for_dual_stack: v.ipv6_allowed_for_dual_stack,
        }),
        snap_start: SnapStartApplyOn::parse(&c.snap_start).ok_or_else(|| corrupt(&c.snap_start))?,
        layers: c
            .layers
            .into_iter()
            .map(|l| {
                Ok(FunctionLayer {
                    code: CodeRef {
                        sha256: Sha256::from_hex(&l.code_sha256).ok_or_else(|| corrupt(&l.code_sha256))?,
                        size: l.code_size,
                        unzipped_size: l.unzipped_size,
                    },
                    arn: l.arn,
                })
            })
            .collect::<Result<_, StoreError>>()?,
    };
    Ok(VersionRecord {
        version,
        config,
        code: CodeRef {
            sha256: Sha256::from_hex(&d.code_sha256).ok_or_else(|| corrupt(&d.code_sha256))?,
            size: d.code_size,
            unzipped_size: d.unzipped_size,
        },
        revision_id: RevisionId(d.revision_id),
        last_modified_ms: d.last_modified_ms,
        config_rev: d.config_rev,
    })
}

pub(crate) fn encode_alias(a: &Alias) -> String {
    let doc = AliasDoc {
        function_version: a.function_version.to_string(),
        description: a.description.clone(),
        routing: a.routing.map(|r| (r.version, r.weight)),
        revision_id: a.revision_id.0.clone(),
    };
    serde_json::to_string(&doc).expect("documents always serialize")
}

pub(crate) fn decode_alias(name: String, text: &str) -> Result<Alias, StoreError> {
    let d: AliasDoc = serde_json::from_str(text).map_err(corrupt)?;
    Ok(Alias {
        name,
        function_version: Version::parse(&d.function_version).ok_or_else(|| corrupt(&d.function_version))?,
        description: d.description,
        routing: d.routing.map(|(version, weight)| AdditionalVersion { version, weight }),
        revision_id: RevisionId(d.revision_id),
    })
}

/// An alias history row's `before`/`after`.
#[derive(Serialize, Deserialize)]
struct AliasTargetDoc {
    v: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    w: Vec<(String, f64)>,
}

pub(crate) fn encode_alias_target(t: &crate::AliasTargetRow) -> String {
    let doc = AliasTargetDoc { v: t.function_version.clone(), w: t.weights.clone() };
    serde_json::to_string(&doc).expect("documents always serialize")
}

pub(crate) fn decode_alias_target(text: &str) -> Result<crate::AliasTargetRow, StoreError> {
    let d: AliasTargetDoc = serde_json::from_str(text).map_err(corrupt)?;
    Ok(crate::AliasTargetRow { function_version: d.v, weights: d.w })
}

pub(crate) fn encode_tags(tags: &BTreeMap<String, String>) -> String {
    serde_json::to_string(tags).expect("maps of strings always serialize")
}

pub(crate) fn decode_tags(text: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}

#[derive(Serialize, Deserialize)]
struct EventInvokeConfigDoc {
    maximum_retry_attempts: Option<u32>,
    maximum_event_age_s: Option<u32>,
    on_success: Option<String>,
    on_failure: Option<String>,
    last_modified_ms: i64,
}

pub(crate) fn encode_event_invoke_config(c: &EventInvokeConfig) -> String {
    let doc = EventInvokeConfigDoc {
        maximum_retry_attempts: c.maximum_retry_attempts,
        maximum_event_age_s: c.maximum_event_age_s,
        on_success: c.on_success.clone(),
        on_failure: c.on_failure.clone(),
        last_modified_ms: c.last_modified_ms,
    };
    serde_json::to_string(&doc).expect("documents always serialize")
}

pub(crate) fn decode_event_invoke_config(text: &str) -> Result<EventInvokeConfig, StoreError> {
    let d: EventInvokeConfigDoc = serde_json::from_str(text).map_err(corrupt)?;
    Ok(EventInvokeConfig {
        maximum_retry_attempts: d.maximum_retry_attempts,
        maximum_event_age_s: d.maximum_event_age_s,
        on_success: d.on_success,
        on_failure: d.on_failure,
        last_modified_ms: d.last_modified_ms,
    })
}

#[derive(Serialize, Deserialize)]
struct PolicyDoc {
    revision_id: String,
    statements: Vec<StatementDoc>,
}

#[derive(Serialize, Deserialize)]
struct StatementDoc {
    sid: String,
    /// `*`, `service:<name>` or `aws:<arn>`.
    principal: String,
    action: String,
    resource: String,
    source_account: Option<String>,
    source_arn: Option<String>,
    principal_org_id: Option<String>,
    function_url_auth_type: Option<String>,
    event_source_token: Option<String>,
    invoked_via_function_url: Option<bool>,
}

pub(crate) fn encode_policy(p: &Policy) -> String {
    let doc = PolicyDoc {
        revision_id: p.revision_id.clone(),
        statements: p
            .statements
            .iter()
            .map(|s| StatementDoc {
                sid: s.sid.clone(),
                principal: match &s.principal {
                    Principal::Any => "*".to_owned(),
                    Principal::Service(n) => format!("service:{n}"),
                    Principal::Aws(arn) => format!("aws:{arn}"),
                },
                action: s.action.clone(),
                resource: s.resource.clone(),
                source_account: s.source_account.clone(),
                source_arn: s.source_arn.clone(),
                principal_org_id: s.principal_org_id.clone(),
                function_url_auth_type: s.function_url_auth_type.clone(),
                event_source_token: s.event_source_token.clone(),
                invoked_via_function_url: s.invoked_via_function_url,
            })
            .collect(),
    };
    serde_json::to_string(&doc).expect("documents always serialize")
}

pub(crate) fn decode_policy(text: &str) -> Result<Policy, StoreError> {
    let d: PolicyDoc = serde_json::from_str(text).map_err(corrupt)?;
    let mut statements = Vec::with_capacity(d.statements.len());
    for s in d.statements {
        let principal = match s.principal.as_str() {
            "*" => Principal::Any,
            p => match (p.strip_prefix("service:"), p.strip_prefix("aws:")) {
                (Some(n), _) => Principal::Service(n.to_owned()),
                (_, Some(arn)) => Principal::Aws(arn.to_owned()),
                _ => return Err(corrupt(p)),
            },
        };
        statements.push(Statement {
            sid: s.sid,
            principal,
            action: s.action,
            resource: s.resource,
            source_account: s.source_account,
            source_arn: s.source_arn,
            principal_org_id: s.principal_org_id,
            function_url_auth_type: s.function_url_auth_type,
            event_source_token: s.event_source_token,
            invoked_via_function_url: s.invoked_via_function_url,
        });
    }
    Ok(Policy { revision_id: d.revision_id, statements })
}

#[derive(Serialize, Deserialize)]
struct FunctionUrlDoc {
    auth_type: String,
    cors: Option<CorsDoc>,
    invoke_mode: Option<String>,
    creation_ms: i64,
    last_modified_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct CorsDoc {
    allow_credentials: Option<bool>,
    allow_headers: Option<Vec<String>>,
    allow_methods: Option<Vec<String>>,
    allow_origins: Option<Vec<String>>,
    expose_headers: Option<Vec<String>>,
    max_age: Option<i64>,
}

pub(crate) fn encode_function_url(u: &FunctionUrl) -> String {
    let doc = FunctionUrlDoc {
        auth_type: u.auth_type.as_str().to_owned(),
        cors: u.cors.as_ref().map(|c| CorsDoc {
            allow_credentials: c.allow_credentials,
            allow_headers: c.allow_headers.clone(),
            allow_methods: c.allow_methods.clone(),
            allow_origins: c.allow_origins.clone(),
            expose_headers: c.expose_headers.clone(),
            max_age: c.max_age,
        }),
        invoke_mode: u.invoke_mode.clone(),
        creation_ms: u.creation_ms,
        last_modified_ms: u.last_modified_ms,
    };
    serde_json::to_string(&doc).expect("documents always serialize")
}

pub(crate) fn decode_function_url(url_id: String, text: &str) -> Result<FunctionUrl, StoreError> {
    let d: FunctionUrlDoc = serde_json::from_str(text).map_err(corrupt)?;
    Ok(FunctionUrl {
        url_id,
        auth_type: UrlAuthType::parse(&d.auth_type).ok_or_else(|| corrupt(&d.auth_type))?,
        cors: d.cors.map(|c| Cors {
            allow_credentials: c.allow_credentials,
            allow_headers: c.allow_headers,
            allow_methods: c.allow_methods,
            allow_origins: c.allow_origins,
            expose_headers: c.expose_headers,
            max_age: c.max_age,
        }),
        invoke_mode: d.invoke_mode,
        creation_ms: d.creation_ms,
        last_modified_ms: d.last_modified_ms,
    })
}

#[derive(Serialize, Deserialize)]
struct LayerVersionDoc {
    description: String,
    compatible_runtimes: Vec<String>,
    compatible_architectures: Vec<String>,
    license_info: Option<String>,
    code_sha256: String,
    code_size: u64,
    unzipped_size: u64,
    created_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct LayerPolicyDoc {
    revision_id: String,
    statements: Vec<LayerStatementDoc>,
}

#[derive(Serialize, Deserialize)]
struct LayerStatementDoc {
    sid: String,
    /// `*` or a 12-digit account.
    principal: String,
    organization_id: Option<String>,
}

/// The layer version document; its policy is stored beside it (see [`encode_layer_policy`]).
pub(crate) fn encode_layer_version(v: &LayerVersion) -> String {
    let doc = LayerVersionDoc {
        description: v.description.clone(),
        compatible_runtimes: v.compatible_runtimes.clone(),
        compatible_architectures: v.compatible_architectures.clone(),
        license_info: v.license_info.clone(),
        code_sha256: v.code.sha256.to_hex(),
        code_size: v.code.size,
        unzipped_size: v.code.unzipped_size,
        created_ms: v.created_ms,
    };
    serde_json::to_string(&doc).expect("documents always serialize")
}

pub(crate) fn decode_layer_version(version: u32, text: &str, policy: Option<&str>) -> Result<LayerVersion, StoreError> {
    let d: LayerVersionDoc = serde_json::from_str(text).map_err(corrupt)?;
    Ok(LayerVersion {
        version,
        description: d.description,
        compatible_runtimes: d.compatible_runtimes,
        compatible_architectures: d.compatible_architectures,
        license_info: d.license_info,
        code: CodeRef {
            sha256: Sha256::from_hex(&d.code_sha256).ok_or_else(|| corrupt(&d.code_sha256))?,
            size: d.code_size,
            unzipped_size: d.unzipped_size,
        },
        created_ms: d.created_ms,
        policy: policy.map(decode_layer_policy).transpose()?,
    })
}

pub(crate) fn encode_layer_policy(p: &LayerPolicy) -> String {
    let doc = LayerPolicyDoc {
        revision_id: p.revision_id.clone(),
        statements: p
            .statements
            .iter()
            .map(|s| LayerStatementDoc {
                sid: s.sid.clone(),
                principal: match &s.principal {
                    LayerPrincipal::Any => "*".to_owned(),
                    LayerPrincipal::Account(a) => a.clone(),
                },
                organization_id: s.organization_id.clone(),
            })
            .collect(),
    };
    serde_json::to_string(&doc).expect("documents always serialize")
}

fn decode_layer_policy(text: &str) -> Result<LayerPolicy, StoreError> {
    let d: LayerPolicyDoc = serde_json::from_str(text).map_err(corrupt)?;
    let mut statements = Vec::with_capacity(d.statements.len());
    for s in d.statements {
        let principal = LayerPrincipal::parse(&s.principal).ok_or_else(|| corrupt(&s.principal))?;
        statements.push(LayerStatement { sid: s.sid, principal, organization_id: s.organization_id });
    }
    Ok(LayerPolicy { revision_id: d.revision_id, statements })
}
