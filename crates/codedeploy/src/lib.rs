//! CodeDeploy for compute platform Lambda (reference §1): the AWS JSON 1.1 API
//! (`X-Amz-Target: CodeDeploy_20141006.<Op>`, one [`CodeDeploy::handle`] entry) and the
//! deployment engine ([`engine`]) that shifts alias traffic durably.
//!
//! Catalogue (applications, groups, custom configs) and deployments live in the store
//! (migration 10) as JSON documents; see `engine` for the state machine.

pub mod appspec;
pub mod configs;
pub mod engine;
mod ops;

use std::sync::Arc;

use control::Control;
use model::scope::Scope;
use serde_json::{Value, json};
use store::Store;

/// The SigV4 service name.
pub const SERVICE: &str = "codedeploy";
/// The `X-Amz-Target` prefix of every operation.
pub const TARGET_PREFIX: &str = "CodeDeploy_20141006.";
/// Largest request body read (an AppSpec is at most `appspec::CONTENT_BYTES_MAX`).
pub const REQUEST_BYTES_MAX: usize = 256 * 1024;
/// Most deployments kept per deployment group: when a deployment is created, the group's
/// finished deployments beyond its newest this many are deleted, oldest first (AWS keeps the
/// whole history; Versa keeps a bounded one). Active deployments are never trimmed.
pub const DEPLOYMENTS_PER_GROUP_MAX: usize = 1_000;
/// Most active deployments one scheduler pass walks, earliest due first; a full pass is
/// followed at once by another.
pub const ACTIVE_PER_PASS_MAX: usize = 256;
/// How long a hook may take to call back by default (AWS: 1 hour).
pub const HOOK_TIMEOUT_DEFAULT: std::time::Duration = std::time::Duration::from_secs(3600);

/// A CodeDeploy error: 400 with `__type` and `message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
}

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }
}

impl From<store::StoreError> for Error {
    fn from(e: store::StoreError) -> Error {
        Error::new("InternalFailure", format!("internal error: {e}"))
    }
}

/// An answer: status and JSON body (`CONTENT_TYPE`).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub const CONTENT_TYPE: &'static str = "application/x-amz-json-1.1";

    pub fn error(e: &Error) -> Response {
        Response { status: 400, body: json!({"__type": e.code, "message": e.message}).to_string().into_bytes() }
    }
}

/// The CodeDeploy service: API and engine over one store.
#[derive(Clone)]
pub struct CodeDeploy {
    pub(crate) inner: Arc<engine::Inner>,
}

impl std::fmt::Debug for CodeDeploy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeDeploy").finish_non_exhaustive()
    }
}

impl CodeDeploy {
    /// `hook_timeout`: how long a lifecycle hook has to call back (AWS: one hour).
    pub fn new(store: Store, control: Arc<Control>, hook_timeout: std::time::Duration) -> CodeDeploy {
        CodeDeploy { inner: Arc::new(engine::Inner::new(store, control, hook_timeout)) }
    }

    /// Runs one operation on its JSON input (the same input and answer as over HTTP, with the
    /// same validation and errors): for in-process clients such as the console.
    pub async fn call(&self, scope: &Scope, operation: &str, input: &Value) -> Result<Value, Error> {
        ops::dispatch(self, scope, operation, input).await
    }

    /// A deployment of `scope` as the engine holds it — its alias steps and how many are done,
    /// the alias as last written, hooks and lifecycle events — read under the engine's lock as
    /// GetDeployment is; `DeploymentDoesNotExistException` for another scope's or none.
    pub async fn deployment(&self, scope: &Scope, id: &str) -> Result<engine::Deployment, Error> {
        ops::settled(self, scope, id).await
    }

    /// Serves one request: `target` is the `X-Amz-Target` header, `body` the JSON input.
    pub async fn handle(&self, scope: &Scope, target: Option<&str>, body: &[u8]) -> Response {
        let Some(op) = target.and_then(|t| t.strip_prefix(TARGET_PREFIX)) else {
            return Response::error(&Error::new("UnknownOperationException", "Missing or unknown X-Amz-Target"));
        };
        let Some(input) = stdx::json::object_body(body) else {
            return Response::error(&Error::new(
                "SerializationException",
                "Start of structure or map found where not expected.",
            ));
        };
        match ops::dispatch(self, scope, op, &input).await {
            Ok(v) => Response { status: 200, body: v.to_string().into_bytes() },
            Err(e) => Response::error(&e),
        }
    }
}
