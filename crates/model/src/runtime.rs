//! Runtime identifiers Lambda accepts, and the environment variable names it reserves.

/// Runtimes accepted for new and updated functions, in the order AWS lists them in its
/// "enum value set" message.
pub const RUNTIMES: &[&str] = &[
    "nodejs20.x",
    "python3.14",
    "provided.al2023",
    "python3.12",
    "python3.13",
    "nodejs24.x",
    "nodejs22.x",
    "java17",
    "nodejs16.x",
    "java25",
    "dotnet8",
    "python3.10",
    "java11",
    "python3.11",
    "dotnet6",
    "java21",
    "nodejs18.x",
    "provided.al2",
    "ruby3.3",
    "ruby3.4",
    "java8.al2",
    "ruby3.2",
    "python3.8",
    "python3.9",
    "dotnet10",
    "ruby4.0",
];

/// Runtimes that exist in the API model but can no longer be used to create or update a
/// function.
pub const DEPRECATED_RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "java8",
    "python2.7",
    "python3.6",
    "python3.7",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "provided",
];

/// Environment variable names Lambda sets itself and refuses from users.
pub const RESERVED_ENV_KEYS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// What Lambda thinks of a runtime identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeStatus {
    Supported,
    Deprecated,
    Unknown,
}

pub fn status(runtime: &str) -> RuntimeStatus {
    if RUNTIMES.contains(&runtime) {
        RuntimeStatus::Supported
    } else if DEPRECATED_RUNTIMES.contains(&runtime) {
        RuntimeStatus::Deprecated
    } else {
        RuntimeStatus::Unknown
    }
}

/// Environment variable names: `[a-zA-Z]([a-zA-Z0-9_])+`.
pub fn is_valid_env_key(k: &str) -> bool {
    let b = k.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Revision of Versa's runtimes (its runtime clients and the AWS SDKs it ships), the `v<N>` of
/// a runtime version. Lambda numbers its runtime versions the same way (`python:3.13.v14`).
pub const RUNTIME_REVISION: u32 = 1;

/// The runtime version Lambda logs in `INIT_START`: `python:3.12.v1`, `nodejs:20.v1`,
/// `provided:al2023.v1` (the runtime identifier with `:` between language and release).
pub fn runtime_version(runtime: &str) -> String {
    let split = if let Some(rest) = runtime.strip_prefix("provided") {
        ("provided".to_owned(), rest.trim_start_matches('.').to_owned())
    } else {
        let at = runtime.find(|c: char| c.is_ascii_digit()).unwrap_or(runtime.len());
        (runtime[..at].to_owned(), runtime[at..].trim_end_matches(".x").to_owned())
    };
    match split {
        (language, release) if release.is_empty() => format!("{language}.v{RUNTIME_REVISION}"),
        (language, release) => format!("{language}:{release}.v{RUNTIME_REVISION}"),
    }
}

/// `arn:aws:lambda:<region>::runtime:<64 hex>`: the runtime version's ARN, a stable identifier
/// per runtime name. GetFunction reports it as `RuntimeVersionConfig.RuntimeVersionArn` and
/// every cold start logs it in `INIT_START`.
pub fn runtime_version_arn(region: &str, runtime: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    let digest = Sha256::digest(format!("versa-runtime:{runtime}").as_bytes());
    let mut arn = format!("arn:aws:lambda:{region}::runtime:");
    for b in digest.iter() {
        let _ = write!(arn, "{b:02x}");
    }
    arn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_versions_are_named_as_lambda_names_them() {
        assert_eq!(runtime_version("python3.12"), format!("python:3.12.v{RUNTIME_REVISION}"));
        assert_eq!(runtime_version("nodejs20.x"), format!("nodejs:20.v{RUNTIME_REVISION}"));
        assert_eq!(runtime_version("provided.al2023"), format!("provided:al2023.v{RUNTIME_REVISION}"));
        assert_eq!(runtime_version("java21"), format!("java:21.v{RUNTIME_REVISION}"));
        assert_eq!(runtime_version("provided"), format!("provided.v{RUNTIME_REVISION}"));
    }

    #[test]
    fn runtime_version_arns_are_stable_per_runtime_and_region() {
        let arn = runtime_version_arn("us-east-1", "python3.12");
        let hex = arn.strip_prefix("arn:aws:lambda:us-east-1::runtime:").unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(arn, runtime_version_arn("us-east-1", "python3.12"));
        assert_ne!(arn, runtime_version_arn("us-east-1", "python3.13"));
    }
}
