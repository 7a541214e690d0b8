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
