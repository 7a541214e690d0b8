//! The Lambda Runtime API (2018-06-01), server side, for one execution environment.
//!
//! Each environment gets its own [`Endpoint`] on its own listener: `127.0.0.1:9001` in the
//! sandbox's network namespace, opened there by the sandbox and served here, so the listener
//! itself says which environment is calling and no other environment can reach it. The invoke engine hands an [`Invocation`] to
//! [`Endpoint::invoke`] and gets the runtime's [`Outcome`] back on a channel; the runtime
//! long-polls `GET /runtime/invocation/next` and answers with `POST …/response` or
//! `POST …/error`, or reports a failed start with `POST /runtime/init/error`.
//!
//! **Boundary:** the only crate that knows the Runtime API's paths, headers and error bodies.

use std::io;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::sync::{mpsc, oneshot, watch};

/// Largest response a function may return: 6 MiB + 100 bytes, as on Lambda.
pub const RESPONSE_BYTES_MAX: usize = 6_291_556;
/// Invocations waiting for an environment's runtime: an environment runs one at a time, and the
/// engine hands one over only to an idle environment.
pub const QUEUED_INVOCATIONS_MAX: usize = 1;
/// Largest error report a runtime may post.
pub const ERROR_BYTES_MAX: usize = 1024 * 1024;

/// One invocation, as the runtime receives it from `/next`.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    /// Absolute deadline, Unix epoch milliseconds.
    pub deadline_ms: i64,
    pub invoked_function_arn: String,
    pub trace_id: String,
    /// The decoded client context JSON, for synchronous invokes that sent one.
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
}

/// How the runtime finished an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response(Bytes),
    /// The runtime tried to post a response over [`RESPONSE_BYTES_MAX`].
    ResponseTooLarge,
    /// `POST …/error`: the `Lambda-Runtime-Function-Error-Type` header and the body.
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
}

/// How the runtime's start went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// It asked for its first invocation.
    Ready,
    /// `POST /runtime/init/error`.
    InitError { error_type: Option<String>, body: Bytes },
}

type Job = (Invocation, oneshot::Sender<Outcome>);

struct Shared {
    /// Invocations waiting for the runtime. Capacity 1: an environment runs one at a time.
    queue: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    /// The invocation the runtime is working on.
    current: Mutex<Option<(String, oneshot::Sender<Outcome>)>>,
    start: watch::Sender<Option<Start>>,
}

/// The Runtime API of one environment. Dropping it stops serving.
pub struct Endpoint {
    jobs: mpsc::Sender<Job>,
    start: watch::Receiver<Option<Start>>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Endpoint {
    /// Serves the Runtime API on `listener` (a listening TCP socket).
    pub fn serve(listener: std::net::TcpListener) -> io::Result<Endpoint> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(|s| {
            // Small answers must not wait for Nagle's algorithm.
            let _ = s.set_nodelay(true);
        });
        let (jobs, queue) = mpsc::channel(QUEUED_INVOCATIONS_MAX);
        let (start_tx, start) = watch::channel(None);
        let shared =
            Arc::new(Shared { queue: tokio::sync::Mutex::new(queue), current: Mutex::new(None), start: start_tx });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
            .with_state(shared);
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::debug!(error = %e, "runtime API server ended");
            }
        });
        Ok(Endpoint { jobs, start, server })
    }

    /// Waits until the runtime has either asked for its first invocation or reported an init
    /// error. `None` if the endpoint went away first.
    pub async fn started(&self) -> Option<Start> {
        let mut rx = self.start.clone();
        rx.wait_for(Option::is_some).await.ok().and_then(|s| s.clone())
    }

    /// [`Endpoint::invoke`] without waiting: `Err(Some(invocation))` when the queue is full,
    /// `Err(None)` when the endpoint is gone.
    // The invocation comes back whole for the waiting path; it is moved, never copied large.
    #[allow(clippy::result_large_err)]
    pub fn try_invoke(&self, invocation: Invocation) -> Result<oneshot::Receiver<Outcome>, Option<Invocation>> {
        let (tx, rx) = oneshot::channel();
        match self.jobs.try_send((invocation, tx)) {
            Ok(()) => Ok(rx),
            Err(mpsc::error::TrySendError::Full((invocation, _))) => Err(Some(invocation)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(None),
        }
    }

    /// Hands `invocation` to the runtime; the receiver yields its outcome, or an error if the
    /// runtime never answers (it died, or asked for the next one without answering).
    pub async fn invoke(&self, invocation: Invocation) -> Result<oneshot::Receiver<Outcome>, Invocation> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send((invocation, tx)).await.map_err(|e| e.0.0)?;
        Ok(rx)
    }
}

fn json(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string();
    let mut r = (status, body).into_response();
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn accepted() -> Response {
    let mut r = (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response();
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    if s.current.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
        return json(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition from Running to Ready failed for runtime. Error: the current invocation has not been answered",
        );
    }
    s.start.send_if_modified(|v| {
        if v.is_none() {
            *v = Some(Start::Ready);
            true
        } else {
            false
        }
    });
    let job = s.queue.lock().await.recv().await;
    let Some((inv, reply)) = job else {
        return json(StatusCode::INTERNAL_SERVER_ERROR, "Runtime.ExitError", "the environment is shutting down");
    };
    *s.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((inv.request_id.clone(), reply));
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v)
            && !v.is_empty()
        {
            headers.insert(k, v);
        }
    };
    set("content-type", "application/json");
    set("lambda-runtime-aws-request-id", &inv.request_id);
    set("lambda-runtime-deadline-ms", &inv.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", &inv.invoked_function_arn);
    set("lambda-runtime-trace-id", &inv.trace_id);
    if let Some(c) = &inv.client_context {
        set("lambda-runtime-client-context", c);
    }
    if let Some(c) = &inv.cognito_identity {
        set("lambda-runtime-cognito-identity", c);
    }
    (StatusCode::OK, headers, Body::from(inv.payload)).into_response()
}

/// Takes the current invocation if `id` names it.
fn take_current(s: &Shared, id: &str) -> Option<oneshot::Sender<Outcome>> {
    let mut cur = s.current.lock().unwrap_or_else(|e| e.into_inner());
    match cur.as_ref() {
        Some((current, _)) if current == id => cur.take().map(|(_, tx)| tx),
        _ => None,
    }
}

fn invalid_request_id() -> Response {
    json(StatusCode::BAD_REQUEST, "InvalidRequestID", "Invalid request ID")
}

async fn response(
    State(s): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(mode) = headers.get("lambda-runtime-function-response-mode")
        && mode.as_bytes() != b"streaming"
    {
        return json(StatusCode::BAD_REQUEST, "InvalidFunctionResponseMode", "Invalid function response mode");
    }
    let Some(reply) = take_current(&s, &id) else { return invalid_request_id() };
    match axum::body::to_bytes(body, RESPONSE_BYTES_MAX).await {
        Ok(bytes) => {
            let _ = reply.send(Outcome::Response(bytes));
            accepted()
        }
        Err(_) => {
            let _ = reply.send(Outcome::ResponseTooLarge);
            json(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({RESPONSE_BYTES_MAX} bytes)."),
            )
        }
    }
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers.get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn error(State(s): State<Arc<Shared>>, UrlPath(id): UrlPath<String>, headers: HeaderMap, body: Body) -> Response {
    let Some(reply) = take_current(&s, &id) else { return invalid_request_id() };
    let body = axum::body::to_bytes(body, ERROR_BYTES_MAX).await.unwrap_or_default();
    let _ = reply.send(Outcome::Error { error_type: error_type(&headers), body });
    accepted()
}

async fn init_error(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let body = axum::body::to_bytes(body, ERROR_BYTES_MAX).await.unwrap_or_default();
    let set = s.start.send_if_modified(|v| {
        if v.is_none() {
            *v = Some(Start::InitError { error_type: error_type(&headers), body });
            true
        } else {
            false
        }
    });
    if set {
        accepted()
    } else {
        json(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition from Ready to InitError failed for runtime. Error: the runtime has already started",
        )
    }
}
