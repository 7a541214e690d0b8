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

use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot, watch};

/// Largest response a function may return: 6 MiB + 100 bytes, as on Lambda.
pub const RESPONSE_BYTES_MAX: usize = 6_291_556;
/// Invocations waiting for an environment's runtime: an environment runs one at a time, and the
/// engine hands one over only to an idle environment.
pub const QUEUED_INVOCATIONS_MAX: usize = 1;
/// Largest error report a runtime may post.
pub const ERROR_BYTES_MAX: usize = 1024 * 1024;
/// Connections one environment's runtime may hold open at once; further ones are closed at
/// once (a runtime needs one, or a few).
pub const CONNECTIONS_MAX: usize = 64;
/// How long the listener pauses after a failed accept (e.g. out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

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
    ///
    /// Plain hyper with the four routes matched by hand (this runs twice per invocation, so no
    /// router): each connection is a task of the serving task's own set, so dropping the
    /// endpoint ends them all.
    pub fn serve(listener: std::net::TcpListener) -> io::Result<Endpoint> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (jobs, queue) = mpsc::channel(QUEUED_INVOCATIONS_MAX);
        let (start_tx, start) = watch::channel(None);
        let shared =
            Arc::new(Shared { queue: tokio::sync::Mutex::new(queue), current: Mutex::new(None), start: start_tx });
        let server = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            if connections.len() >= CONNECTIONS_MAX {
                                continue;
                            }
                            // Small answers must not wait for Nagle's algorithm.
                            let _ = stream.set_nodelay(true);
                            let shared = shared.clone();
                            // Repoll: hyper wakes its own task on each request body.
                            connections.spawn(stdx::repoll::Repoll::new(async move {
                                let service = hyper::service::service_fn(move |req| {
                                    let shared = shared.clone();
                                    async move { Ok::<_, Infallible>(route(&shared, req).await) }
                                });
                                let io = hyper_util::rt::TokioIo::new(stream);
                                if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await {
                                    tracing::debug!(error = %e, "runtime API connection ended");
                                }
                            }));
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "runtime API accept failed");
                            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        }
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
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

/// `/2018-06-01/runtime/…`: the four routes of the Runtime API.
async fn route(s: &Shared, req: Request<hyper::body::Incoming>) -> Response {
    let (parts, body) = req.into_parts();
    let body = Body::new(body);
    let Some(rest) = parts.uri.path().strip_prefix("/2018-06-01/runtime/") else { return not_found() };
    let post = parts.method == Method::POST;
    if rest == "invocation/next" {
        return if parts.method == Method::GET || parts.method == Method::HEAD {
            next(s).await
        } else {
            method_not_allowed("GET,HEAD")
        };
    }
    if rest == "init/error" {
        return if post { init_error(s, &parts.headers, body).await } else { method_not_allowed("POST") };
    }
    let Some(rest) = rest.strip_prefix("invocation/") else { return not_found() };
    let (id, answer) = if let Some(id) = rest.strip_suffix("/response") {
        (id, true)
    } else if let Some(id) = rest.strip_suffix("/error") {
        (id, false)
    } else {
        return not_found();
    };
    if id.is_empty() || id.contains('/') {
        return not_found();
    }
    if !post {
        return method_not_allowed("POST");
    }
    let Some(id) = percent_decoded(id) else { return invalid_request_id() };
    if answer { response(s, &id, &parts.headers, body).await } else { error(s, &id, &parts.headers, body).await }
}

/// A path segment with its `%XX` escapes decoded; `None` when it is not UTF-8 then.
fn percent_decoded(segment: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !segment.contains('%') {
        return Some(std::borrow::Cow::Borrowed(segment));
    }
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(std::borrow::Cow::Owned)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
    r.headers_mut().insert("allow", HeaderValue::from_static(allow));
    r
}

async fn next(s: &Shared) -> Response {
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
    set("lambda-runtime-invoked-function-arn", &inv.invoked_function_arn);
    set("lambda-runtime-trace-id", &inv.trace_id);
    if let Some(c) = &inv.client_context {
        set("lambda-runtime-client-context", c);
    }
    if let Some(c) = &inv.cognito_identity {
        set("lambda-runtime-cognito-identity", c);
    }
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(inv.deadline_ms));
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

async fn response(s: &Shared, id: &str, headers: &HeaderMap, body: Body) -> Response {
    if let Some(mode) = headers.get("lambda-runtime-function-response-mode")
        && mode.as_bytes() != b"streaming"
    {
        return json(StatusCode::BAD_REQUEST, "InvalidFunctionResponseMode", "Invalid function response mode");
    }
    let Some(reply) = take_current(s, id) else { return invalid_request_id() };
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

async fn error(s: &Shared, id: &str, headers: &HeaderMap, body: Body) -> Response {
    let Some(reply) = take_current(s, id) else { return invalid_request_id() };
    let body = axum::body::to_bytes(body, ERROR_BYTES_MAX).await.unwrap_or_default();
    let _ = reply.send(Outcome::Error { error_type: error_type(headers), body });
    accepted()
}

async fn init_error(s: &Shared, headers: &HeaderMap, body: Body) -> Response {
    let body = axum::body::to_bytes(body, ERROR_BYTES_MAX).await.unwrap_or_default();
    let set = s.start.send_if_modified(|v| {
        if v.is_none() {
            *v = Some(Start::InitError { error_type: error_type(headers), body });
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
