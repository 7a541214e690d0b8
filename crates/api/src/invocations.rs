//! Invoke: `POST /2015-03-31/functions/{fn}/invocations`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use base64::Engine as _;
use model::scope::Scope;

use crate::ApiState;
use crate::error::ApiError;
use crate::handlers::empty;

/// Largest synchronous request payload (6 MB).
pub(crate) const INVOKE_REQUEST_BYTES_MAX: usize = 6_291_456;
/// Largest `Event` payload (1 MB, Lambda's current limit).
pub(crate) const EVENT_PAYLOAD_BYTES_MAX: usize = 1_048_576;
/// Largest InvokeAsync payload (256 KB, the deprecated API's documented limit).
pub(crate) const INVOKE_ASYNC_PAYLOAD_BYTES_MAX: usize = 262_144;
/// Largest `X-Amz-Client-Context` (base64).
const CLIENT_CONTEXT_BYTES_MAX: usize = 3583;

/// Runs one synchronous invocation of a resolved target.
pub(crate) async fn run(
    state: &ApiState,
    scope: &Scope,
    target: control::InvokeTarget,
    request: invoke::Request,
) -> Result<invoke::Response, ApiError> {
    let t = invoke::Target {
        scope: scope.clone(),
        function_id: target.function_id,
        function_name: target.function_name,
        version: target.version,
        record: target.record,
        invoked_arn: target.invoked_arn,
        reserved_concurrency: target.reserved_concurrency,
        unreserved_concurrency: state.control.unreserved_concurrency(scope).await?,
        provisioned_concurrency: target.provisioned_concurrency,
    };
    state.engine.invoke(t, request).await.map_err(|e| match e {
        invoke::InvokeError::RuntimeUnavailable(m) => ApiError::InvalidRuntime(m),
        invoke::InvokeError::TooManyEnvironments => {
            ApiError::TooManyRequests { reason: "ConcurrentInvocationLimitExceeded" }
        }
        invoke::InvokeError::Throttled { reason } => ApiError::TooManyRequests { reason },
        invoke::InvokeError::Internal(m) => ApiError::Control(control::ControlError::Service(m)),
    })
}

pub(crate) async fn invoke(
    state: &ApiState,
    scope: &Scope,
    function: &str,
    qualifier: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    request_id: &str,
) -> Result<Response<Body>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let invocation_type = header("x-amz-invocation-type").unwrap_or("RequestResponse");
    if !matches!(invocation_type, "RequestResponse" | "Event" | "DryRun") {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to satisfy constraint: \
             Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        )));
    }
    let log_type = header("x-amz-log-type").unwrap_or("None");
    if !matches!(log_type, "None" | "Tail") {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value '{log_type}' at 'logType' failed to satisfy constraint: Member must \
             satisfy enum value set: [None, Tail]"
        )));
    }
    let client_context = match header("x-amz-client-context") {
        None => None,
        Some(c) if c.len() > CLIENT_CONTEXT_BYTES_MAX => {
            return Err(ApiError::Validation(format!(
                "1 validation error detected: Value '{c}' at 'clientContext' failed to satisfy constraint: Member \
                 must have length less than or equal to {CLIENT_CONTEXT_BYTES_MAX}"
            )));
        }
        Some(c) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|s| serde_json::from_str::<serde_json::Value>(s).is_ok_and(|v| v.is_object()));
            match decoded {
                Some(d) => Some(d),
                None => {
                    return Err(ApiError::InvalidRequestContent(
                        "Client context must be a valid Base64-encoded JSON object.".to_owned(),
                    ));
                }
            }
        }
    };

    let declared = header("content-length").and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::Control(control::ControlError::RequestTooLarge(format!(
            "Request must be smaller than {INVOKE_REQUEST_BYTES_MAX} bytes for the InvokeFunction operation"
        )))
    };
    if declared.is_some_and(|n| n > INVOKE_REQUEST_BYTES_MAX as u64) {
        return Err(too_large());
    }
    let payload = axum::body::to_bytes(body, INVOKE_REQUEST_BYTES_MAX).await.map_err(|_| too_large())?;
    if !payload.is_empty()
        && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload)
    {
        return Err(ApiError::InvalidRequestContent(format!(
            "Could not parse request body into json: Could not parse payload into json: {e}"
        )));
    }

    if invocation_type == "Event" {
        if payload.len() > EVENT_PAYLOAD_BYTES_MAX {
            return Err(event_too_large(payload.len(), EVENT_PAYLOAD_BYTES_MAX));
        }
        state.control.enqueue_invoke(scope, function, qualifier, payload.to_vec(), request_id).await?;
        return Ok(empty(StatusCode::ACCEPTED));
    }
    let target = state.control.resolve_invoke(scope, function, qualifier).await?;
    if invocation_type == "DryRun" {
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    let request =
        invoke::Request { request_id: request_id.to_owned(), payload, client_context, log_tail: log_type == "Tail" };
    let r = run(state, scope, target, request).await?;
    let mut resp = Response::new(Body::from(r.payload));
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&r.executed_version) {
        h.insert("x-amz-executed-version", v);
    }
    if r.function_error {
        h.insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
    }
    // Which node ran it, when several share the store.
    if let Some(c) = &state.cluster {
        if let Some(v) = r.node.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
            h.insert("x-versa-node", v);
        } else if let Ok(v) = HeaderValue::from_str(c.name()) {
            h.insert("x-versa-node", v);
        }
    }
    if let Some(tail) = r.log_tail
        && let Ok(v) = HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(tail))
    {
        h.insert("x-amz-log-result", v);
    }
    Ok(resp)
}

/// `<N> byte payload is too large for the Event invocation type (limit <L> bytes)`.
fn event_too_large(n: usize, limit: usize) -> ApiError {
    ApiError::Control(control::ControlError::RequestTooLarge(format!(
        "{n} byte payload is too large for the Event invocation type (limit {limit} bytes)"
    )))
}

/// InvokeAsync (deprecated): the body is the event; answers `{"Status": 202}`.
pub(crate) async fn invoke_async(
    state: &ApiState,
    scope: &Scope,
    function: &str,
    headers: &HeaderMap,
    body: Body,
    request_id: &str,
) -> Result<Response<Body>, ApiError> {
    let declared = headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared.filter(|n| *n > INVOKE_ASYNC_PAYLOAD_BYTES_MAX) {
        return Err(event_too_large(n, INVOKE_ASYNC_PAYLOAD_BYTES_MAX));
    }
    let payload = axum::body::to_bytes(body, INVOKE_ASYNC_PAYLOAD_BYTES_MAX)
        .await
        .map_err(|_| event_too_large(INVOKE_ASYNC_PAYLOAD_BYTES_MAX + 1, INVOKE_ASYNC_PAYLOAD_BYTES_MAX))?;
    if !payload.is_empty()
        && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload)
    {
        return Err(ApiError::InvalidRequestContent(format!(
            "Could not parse request body into json: Could not parse payload into json: {e}"
        )));
    }
    state.control.enqueue_invoke(scope, function, None, payload.to_vec(), request_id).await?;
    crate::handlers::json(StatusCode::ACCEPTED, &serde_json::json!({"Status": 202}))
}
