//! Function configuration as clients send it, its validation, and how an update applies.

use std::collections::BTreeMap;

use model::arn::is_partition;
use model::function::{Architecture, FunctionConfig, LoggingConfig, SnapStartApplyOn, TracingMode, VpcConfig};
use model::limits;
use model::runtime::{self, RuntimeStatus};
use model::validate::{Violation, compact_json_map, list_value};

use crate::{ControlError, Result};

/// Configuration members of CreateFunction and UpdateFunctionConfiguration, unvalidated.
/// `None` means "not in the request". Members whose absence inside a present parent means
/// something (`Environment` without `Variables`) use a nested `Option`.
#[derive(Debug, Clone, Default)]
pub struct ConfigPatch {
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub role: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    /// `Environment` present: its `Variables`, if any.
    pub environment: Option<Option<BTreeMap<String, String>>>,
    pub architectures: Option<Vec<String>>,
    /// `EphemeralStorage` present: its `Size`, if any.
    pub ephemeral_storage_size: Option<Option<i64>>,
    /// `TracingConfig` present: its `Mode`, if any.
    pub tracing_mode: Option<Option<String>>,
    /// `DeadLetterConfig` present: its `TargetArn`, if any.
    pub dead_letter_target_arn: Option<Option<String>>,
    pub kms_key_arn: Option<String>,
    pub layers: Option<Vec<String>>,
    pub logging: Option<LoggingPatch>,
    pub vpc: Option<VpcPatch>,
    /// `SnapStart` present: its `ApplyOn`, if any.
    pub snap_start_apply_on: Option<Option<String>>,
    /// How many `FileSystemConfigs` were sent.
    pub file_system_configs: Option<usize>,
    /// Whether an `ImageConfig` was sent.
    pub image_config: bool,
}

#[derive(Debug, Clone, Default)]
pub struct LoggingPatch {
    pub log_format: Option<String>,
    pub application_log_level: Option<String>,
    pub system_log_level: Option<String>,
    pub log_group: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct VpcPatch {
    pub subnet_ids: Option<Vec<String>>,
    pub security_group_ids: Option<Vec<String>>,
    pub ipv6_allowed_for_dual_stack: Option<bool>,
}

/// The `Code` member of CreateFunction, or the code members of UpdateFunctionCode.
#[derive(Debug, Clone, Default)]
pub struct CodeInput {
    /// The zip, already base64-decoded.
    pub zip_file: Option<Vec<u8>>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
    /// `SourceKMSKeyArn`: validated, otherwise unused (Versa does not encrypt packages).
    pub source_kms_key_arn: Option<String>,
}

pub(crate) const ROLE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+";
const HANDLER_PATTERN: &str = r"[^\s]+";
const KMS_KEY_ARN_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()";
const RESOURCE_ARN_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()";
const LOG_GROUP_PATTERN: &str = r"[\.\-_/#A-Za-z0-9]+";
const ENV_KEY_PATTERN: &str = r"[a-zA-Z]([a-zA-Z0-9_])+";
const SUBNETS_MAX: usize = 16;
const SECURITY_GROUPS_MAX: usize = 5;

/// `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`, matched in full.
pub(crate) fn is_valid_role(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("arn:") else { return false };
    let Some((partition, rest)) = rest.split_once(':') else { return false };
    if !is_partition(partition) {
        return false;
    }
    let Some(rest) = rest.strip_prefix("iam::") else { return false };
    if rest.len() < 12 || !rest.as_bytes()[..12].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let Some(path) = rest[12..].strip_prefix(":role") else { return false };
    !path.is_empty() && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-/".contains(&b))
}

/// `(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()`.
fn is_valid_resource_arn(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let Some(rest) = s.strip_prefix("arn:") else { return false };
    let Some((partition, rest)) = rest.split_once(':') else { return false };
    // The service `[a-z0-9-.]+` cannot contain ':', so it ends at the first one; Java's `.*`
    // takes the rest unless it has a line terminator.
    let Some((service, tail)) = rest.split_once(':') else { return false };
    is_partition(partition)
        && !service.is_empty()
        && service.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && tail.chars().all(model::validate::is_java_dot)
}

/// A `Layers` entry: 1–140 characters matching [`model::layer::FUNCTION_LAYER_ARN_PATTERN`].
fn is_valid_layer_arn(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= limits::LAYER_NAME_PARAM_LEN_MAX
        && model::layer::LayerVersionRef::parse_function_layer(s).is_some()
}

fn is_valid_log_group(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
}

fn check_enum(value: &str, field: &str, set: &[&str], out: &mut Vec<Violation>) {
    if !set.contains(&value) {
        out.push(Violation::enum_set(value, field, set));
    }
}

/// Model constraints on every configuration member present in `p`.
pub(crate) fn check_patch(p: &ConfigPatch, out: &mut Vec<Violation>) {
    if let Some(role) = &p.role
        && !is_valid_role(role)
    {
        out.push(Violation::pattern(role, "role", ROLE_PATTERN));
    }
    if let Some(h) = &p.handler {
        if h.is_empty() || h.chars().any(model::validate::is_java_space) {
            out.push(Violation::pattern(h, "handler", HANDLER_PATTERN));
        }
        if h.chars().count() > limits::HANDLER_LEN_MAX {
            out.push(Violation::len_max(h, "handler", limits::HANDLER_LEN_MAX));
        }
    }
    if let Some(d) = &p.description {
        check_description(d, out);
    }
    if let Some(t) = p.timeout {
        if t < i64::from(limits::TIMEOUT_S_MIN) {
            out.push(Violation::value_min(t, "timeout", i64::from(limits::TIMEOUT_S_MIN)));
        }
        if t > i64::from(limits::TIMEOUT_S_MAX) {
            out.push(Violation::value_max(t, "timeout", i64::from(limits::TIMEOUT_S_MAX)));
        }
    }
    if let Some(m) = p.memory_size {
        if m < i64::from(limits::MEMORY_MB_MIN) {
            out.push(Violation::value_min(m, "memorySize", i64::from(limits::MEMORY_MB_MIN)));
        }
        if m > i64::from(limits::MEMORY_MB_MAX) {
            out.push(Violation::value_max(m, "memorySize", i64::from(limits::MEMORY_MB_MAX)));
        }
    }
    if let Some(Some(vars)) = &p.environment
        && vars.keys().any(|k| !runtime::is_valid_env_key(k))
    {
        out.push(Violation::hidden(
            "environment.variables",
            format!(
                "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {ENV_KEY_PATTERN}]"
            ),
        ));
    }
    if let Some(archs) = &p.architectures {
        check_architectures(archs, out);
    }
    if let Some(size) = p.ephemeral_storage_size {
        match size {
            None => out.push(Violation::not_null("ephemeralStorage.size")),
            Some(s) if s < i64::from(limits::EPHEMERAL_STORAGE_MB_MIN) => {
                out.push(Violation::value_min(s, "ephemeralStorage.size", i64::from(limits::EPHEMERAL_STORAGE_MB_MIN)))
            }
            Some(s) if s > i64::from(limits::EPHEMERAL_STORAGE_MB_MAX) => {
                out.push(Violation::value_max(s, "ephemeralStorage.size", i64::from(limits::EPHEMERAL_STORAGE_MB_MAX)))
            }
            Some(_) => {}
        }
    }
    if let Some(Some(mode)) = &p.tracing_mode {
        check_enum(mode, "tracingConfig.mode", &["Active", "PassThrough"], out);
    }
    if let Some(Some(arn)) = &p.dead_letter_target_arn
        && !is_valid_resource_arn(arn)
    {
        out.push(Violation::pattern(arn, "deadLetterConfig.targetArn", RESOURCE_ARN_PATTERN));
    }
    if let Some(k) = &p.kms_key_arn {
        check_kms_key_arn(k, "kMSKeyArn", out);
    }
    if let Some(layers) = &p.layers
        && layers.iter().any(|l| !is_valid_layer_arn(l))
    {
        out.push(Violation::new(
            list_value(layers),
            "layers",
            format!(
                "Member must satisfy constraint: [Member must have length less than or equal to 140, Member must \
                     have length greater than or equal to 1, Member must satisfy regular expression pattern: \
                     {}, Member must not be null]",
                model::layer::FUNCTION_LAYER_ARN_PATTERN
            ),
        ));
    }
    if let Some(l) = &p.logging {
        if let Some(f) = &l.log_format {
            check_enum(f, "loggingConfig.logFormat", &["JSON", "Text"], out);
        }
        if let Some(a) = &l.application_log_level {
            check_enum(
                a,
                "loggingConfig.applicationLogLevel",
                &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"],
                out,
            );
        }
        if let Some(s) = &l.system_log_level {
            check_enum(s, "loggingConfig.systemLogLevel", &["DEBUG", "INFO", "WARN"], out);
        }
        if let Some(g) = &l.log_group {
            if !is_valid_log_group(g) {
                out.push(Violation::pattern(g, "loggingConfig.logGroup", LOG_GROUP_PATTERN));
            }
            if g.len() > 512 {
                out.push(Violation::len_max(g, "loggingConfig.logGroup", 512));
            }
        }
    }
    if let Some(v) = &p.vpc {
        if let Some(s) = &v.subnet_ids
            && s.len() > SUBNETS_MAX
        {
            out.push(Violation::len_max(&list_value(s), "vpcConfig.subnetIds", SUBNETS_MAX));
        }
        if let Some(g) = &v.security_group_ids
            && g.len() > SECURITY_GROUPS_MAX
        {
            out.push(Violation::len_max(&list_value(g), "vpcConfig.securityGroupIds", SECURITY_GROUPS_MAX));
        }
    }
    if let Some(Some(a)) = &p.snap_start_apply_on {
        check_enum(a, "snapStart.applyOn", &["PublishedVersions", "None"], out);
    }
}

/// A member of the model's `KMSKeyArn` shape (`KMSKeyArn`, `SourceKMSKeyArn`).
pub(crate) fn check_kms_key_arn(k: &str, field: &str, out: &mut Vec<Violation>) {
    if !is_valid_resource_arn(k) {
        out.push(Violation::pattern(k, field, KMS_KEY_ARN_PATTERN));
    }
}

pub(crate) fn check_description(d: &str, out: &mut Vec<Violation>) {
    if d.chars().count() > limits::DESCRIPTION_LEN_MAX {
        out.push(Violation::len_max(d, "description", limits::DESCRIPTION_LEN_MAX));
    }
}

pub(crate) fn check_architectures(archs: &[String], out: &mut Vec<Violation>) {
    let shown = list_value(archs);
    if archs.is_empty() {
        out.push(Violation::new(&shown, "architectures", "Member must have length greater than or equal to 1"));
    } else if archs.len() > 1 {
        out.push(Violation::new(&shown, "architectures", "Member must have length less than or equal to 1"));
    } else if archs.iter().any(|a| Architecture::parse(a).is_none()) {
        out.push(Violation::new(
            &shown,
            "architectures",
            "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
        ));
    }
}

/// The rules Lambda checks after the model constraints, reported as
/// InvalidParameterValueException.
pub(crate) fn check_semantics(p: &ConfigPatch) -> Result<()> {
    let ipve = |m: String| Err(ControlError::InvalidParameterValue(m));
    if let Some(rt) = &p.runtime {
        match runtime::status(rt) {
            RuntimeStatus::Supported => {}
            // The reference's wording; some recordings name a replacement runtime instead.
            RuntimeStatus::Deprecated => {
                return ipve(format!(
                    "The runtime parameter of {rt} is no longer supported for creating or updating AWS Lambda \
                     functions. We recommend you use a supported runtime while creating or updating functions."
                ));
            }
            RuntimeStatus::Unknown => {
                return ipve(format!(
                    "Value {rt} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] \
                     or be a valid ARN",
                    runtime::RUNTIMES.join(", ")
                ));
            }
        }
    }
    if let Some(Some(vars)) = &p.environment {
        let reserved: Vec<&str> =
            vars.keys().map(String::as_str).filter(|k| runtime::RESERVED_ENV_KEYS.contains(k)).collect();
        if !reserved.is_empty() {
            return ipve(format!(
                "Lambda was unable to configure your environment variables because the environment variables you have \
                 provided contains reserved keys that are currently not supported for modification. Reserved keys \
                 used in this request: {}",
                reserved.join(", ")
            ));
        }
        let measured = compact_json_map(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if measured.len() > limits::ENVIRONMENT_BYTES_MAX {
            return ipve(format!(
                "Lambda was unable to configure your environment variables because the environment variables you have \
                 provided exceeded the 4KB limit. String measured: {measured}"
            ));
        }
    }
    // Which layer versions the entries name, and whether the caller may use them, is checked
    // in the transaction that stores them (`layers::resolve_function_layers`).
    if let Some(layers) = &p.layers
        && layers.len() > limits::LAYERS_MAX
    {
        return ipve("Cannot reference more than 5 layers.".to_owned());
    }
    if p.file_system_configs.is_some_and(|n| n > 0) {
        return ipve("Versa does not support FileSystemConfigs (Amazon EFS mounts).".to_owned());
    }
    if p.image_config {
        return ipve("ImageConfig is only supported for functions with PackageType Image.".to_owned());
    }
    Ok(())
}

/// The configuration of a new function before the request is applied.
pub(crate) fn defaults() -> FunctionConfig {
    FunctionConfig {
        runtime: None,
        handler: None,
        role: String::new(),
        description: String::new(),
        timeout_s: limits::TIMEOUT_S_DEFAULT,
        memory_mb: limits::MEMORY_MB_DEFAULT,
        environment: None,
        architecture: Architecture::X86_64,
        ephemeral_storage_mb: limits::EPHEMERAL_STORAGE_MB_DEFAULT,
        tracing_mode: TracingMode::PassThrough,
        dead_letter_target_arn: None,
        kms_key_arn: None,
        logging: LoggingConfig::default(),
        vpc: None,
        snap_start: SnapStartApplyOn::None,
        layers: Vec::new(),
    }
}

/// Applies a validated patch. Only members present in the request change. `Layers` is not
/// applied here: the caller resolves it inside its write (`layers::resolve_function_layers`).
pub(crate) fn apply(mut c: FunctionConfig, p: ConfigPatch) -> FunctionConfig {
    if let Some(v) = p.runtime {
        c.runtime = Some(v);
    }
    if let Some(v) = p.handler {
        c.handler = Some(v);
    }
    if let Some(v) = p.role {
        c.role = v;
    }
    if let Some(v) = p.description {
        c.description = v;
    }
    if let Some(v) = p.timeout {
        c.timeout_s = v as u32;
    }
    if let Some(v) = p.memory_size {
        c.memory_mb = v as u32;
    }
    if let Some(env) = p.environment {
        c.environment = Some(env.unwrap_or_default());
    }
    if let Some(a) = p.architectures.as_ref().and_then(|a| a.first()).and_then(|a| Architecture::parse(a)) {
        c.architecture = a;
    }
    if let Some(Some(s)) = p.ephemeral_storage_size {
        c.ephemeral_storage_mb = s as u32;
    }
    if let Some(mode) = p.tracing_mode {
        c.tracing_mode = mode.as_deref().and_then(TracingMode::parse).unwrap_or(TracingMode::PassThrough);
    }
    if let Some(dlq) = p.dead_letter_target_arn {
        c.dead_letter_target_arn = dlq.filter(|a| !a.is_empty());
    }
    if let Some(k) = p.kms_key_arn {
        c.kms_key_arn = Some(k).filter(|k| !k.is_empty());
    }
    if let Some(l) = p.logging {
        if let Some(f) = l.log_format {
            c.logging.log_format = f;
        }
        if l.application_log_level.is_some() {
            c.logging.application_log_level = l.application_log_level;
        }
        if l.system_log_level.is_some() {
            c.logging.system_log_level = l.system_log_level;
        }
        if l.log_group.is_some() {
            c.logging.log_group = l.log_group;
        }
        // JSON logs have levels; text logs do not.
        if c.logging.log_format == "JSON" {
            c.logging.application_log_level.get_or_insert_with(|| "INFO".to_owned());
            c.logging.system_log_level.get_or_insert_with(|| "INFO".to_owned());
        } else {
            c.logging.application_log_level = None;
            c.logging.system_log_level = None;
        }
    }
    if let Some(v) = p.vpc {
        let old = c.vpc.take().unwrap_or_default();
        let new = VpcConfig {
            subnet_ids: v.subnet_ids.unwrap_or(old.subnet_ids),
            security_group_ids: v.security_group_ids.unwrap_or(old.security_group_ids),
            ipv6_allowed_for_dual_stack: v.ipv6_allowed_for_dual_stack.unwrap_or(old.ipv6_allowed_for_dual_stack),
        };
        c.vpc = Some(new);
    }
    if let Some(a) = p.snap_start_apply_on {
        c.snap_start = a.as_deref().and_then(SnapStartApplyOn::parse).unwrap_or(SnapStartApplyOn::None);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert!(is_valid_role("arn:aws:iam::123456789012:role/lambda-role"));
        assert!(is_valid_role("arn:aws:iam::123456789012:role/path/to/role"));
        assert!(is_valid_role("arn::iam::123456789012:role/x"));
        assert!(!is_valid_role("r1"));
        assert!(!is_valid_role("arn:aws:iam::12345678901:role/x"));
        assert!(!is_valid_role("arn:aws:iam::123456789012:role"));
        assert!(!is_valid_role("arn:aws:iam::123456789012:user/x"));
    }

    #[test]
    fn resource_arns() {
        assert!(is_valid_resource_arn(""));
        assert!(is_valid_resource_arn("arn:aws:sqs:us-east-1:123456789012:dlq"));
        assert!(is_valid_resource_arn("arn:aws:kms:us-east-1:123456789012:key/abc"));
        assert!(!is_valid_resource_arn("sqs"));
        assert!(!is_valid_resource_arn("arn:aws::x"));
    }

    #[test]
    fn layers() {
        assert!(is_valid_layer_arn("arn:aws:lambda:us-east-1:123456789012:layer:my-layer:3"));
        assert!(is_valid_layer_arn("arn:aws:lambda:::awslayer:AWSLambda-Python"));
        assert!(!is_valid_layer_arn("arn:aws:lambda:us-east-1:123456789012:layer:my-layer"));
        assert!(!is_valid_layer_arn("arn:aws:lambda:local:123456789012:layer:my-layer:3"));
        assert!(!is_valid_layer_arn(&format!("arn:aws:lambda:us-east-1:123456789012:layer:{}:1", "l".repeat(120))));
    }
}
