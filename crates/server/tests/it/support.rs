//! Helpers shared by the integration tests.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::FunctionCode;

pub const ROLE: &str = "arn:aws:iam::123456789012:role/lambda-role";
pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";

pub fn arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// Creates a Python function with the given package.
pub async fn create(
    c: &Client,
    name: &str,
    zip: Vec<u8>,
) -> aws_sdk_lambda::operation::create_function::CreateFunctionOutput {
    c.create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .expect("create_function")
}

/// An AWS error as (HTTP status, code, message).
#[derive(Debug, PartialEq, Eq)]
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: Option<String>,
}

/// The error of a failed SDK call; panics if the call succeeded.
pub fn err<T: std::fmt::Debug, E, R>(r: Result<T, aws_sdk_lambda::error::SdkError<E, R>>) -> AwsError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(aws_sdk_lambda::error::SdkError::ServiceError(se)) => AwsError {
            status: se.raw().status_u16(),
            code: se.err().code().unwrap_or_default().to_owned(),
            message: se.err().message().map(str::to_owned),
        },
        Err(other) => panic!("expected a service error, got {other:?}"),
    }
}

pub trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_sdk_lambda::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

#[track_caller]
pub fn assert_err(e: AwsError, status: u16, code: &str, message: &str) {
    assert_eq!((e.status, e.code.as_str(), e.message.as_deref().unwrap_or("")), (status, code, message));
}

/// Standard base64 of the SHA-256 of `data`, as `CodeSha256` shows it.
pub fn code_sha256(data: &[u8]) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

/// Records the HTTP status of every response a client receives: the SDK's outputs do not
/// show success statuses (201, 204), so tests that assert them read them here.
#[derive(Debug, Clone, Default)]
pub struct Statuses(std::sync::Arc<std::sync::Mutex<Vec<u16>>>);

impl Statuses {
    /// The status of the most recent response.
    #[track_caller]
    pub fn last(&self) -> u16 {
        *self.0.lock().unwrap().last().expect("no response recorded")
    }
}

impl aws_sdk_lambda::config::Intercept for Statuses {
    fn name(&self) -> &'static str {
        "Statuses"
    }

    fn read_before_deserialization(
        &self,
        ctx: &aws_sdk_lambda::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _: &aws_sdk_lambda::config::RuntimeComponents,
        _: &mut aws_sdk_lambda::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.lock().unwrap().push(ctx.response().status().as_u16());
        Ok(())
    }
}

/// A copy of `c` whose response statuses are recorded.
pub fn with_statuses(c: &Client) -> (Client, Statuses) {
    let statuses = Statuses::default();
    let config = c.config().to_builder().interceptor(statuses.clone()).build();
    (Client::from_conf(config), statuses)
}

/// An S3 client for `server` (path-style addressing: `*.localhost` may not resolve here).
pub fn s3_client(server: &testkit::TestServer) -> aws_sdk_s3::Client {
    s3_client_at(&server.endpoint())
}

/// An S3 client for the server at `endpoint`, like [`s3_client`].
pub fn s3_client_at(endpoint: &str) -> aws_sdk_s3::Client {
    s3_client_with(endpoint, &testkit::Key::new("test", "secret"))
}

/// An S3 client for the server at `endpoint`, signing with `key`.
pub fn s3_client_with(endpoint: &str, key: &testkit::Key) -> aws_sdk_s3::Client {
    let credentials =
        aws_sdk_s3::config::Credentials::new(key.id.clone(), key.secret.clone(), key.token.clone(), None, "tests");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Whether `python3` can import boto3; when it cannot, the test is skipped, unless
/// `VERSA_REQUIRE_AWS_CLI=1` (CI) makes that an error.
#[allow(clippy::disallowed_methods)] // tests run host tools (python3) directly
pub fn boto3_available() -> bool {
    let found =
        std::process::Command::new("python3").args(["-c", "import boto3"]).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("VERSA_REQUIRE_AWS_CLI").as_deref() != Ok("1"),
            "VERSA_REQUIRE_AWS_CLI=1 but python3 cannot import boto3"
        );
        eprintln!("skipping: boto3 is not installed (set VERSA_REQUIRE_AWS_CLI=1 to make this an error)");
    }
    found
}

/// A CloudWatch client (RPC v2 CBOR) of the account `id` spells, without retries.
pub fn cloudwatch_client(endpoint: &str, id: &str, secret: &str) -> aws_sdk_cloudwatch::Client {
    let credentials = aws_sdk_cloudwatch::config::Credentials::new(id, secret, None, None, "tests");
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatch::config::Region::new(REGION))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_cloudwatch::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

/// This crate's directory, read when the test runs (cargo and nextest set `CARGO_MANIFEST_DIR`
/// for the test process), so a test binary built in another checkout of the same target dir
/// reads this checkout's files; the compile-time path when the variable is absent.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// Runs `tests/it/py/<name>` with `args` (the endpoint first, by convention); echoes its stderr,
/// requires success and parses its stdout, one JSON document.
#[allow(clippy::disallowed_methods)] // tests run host tools (python3) directly
pub async fn boto3_script(name: &str, args: &[&str]) -> serde_json::Value {
    let script = manifest_dir().join("tests/it/py").join(name);
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script).args(args).env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}
