//! The reference of the warm rows (`--invoke`): a bare Runtime API loop, the least any
//! emulator must do to serve an invocation, measured in the same run and on the same CPUs.
//!
//! One HTTP front (`POST /invoke`, the body is the event) and, per runtime process, one Runtime
//! API listener (`next` and `response` only), all in this process on axum like Versa's own. The
//! runtimes are the same echo binary the warm rows run, started directly (no sandbox, no
//! alias, no signature, no metrics, no logs): a front request takes an idle runtime, hands it
//! the event through its `/next` and answers with what it posts to `/response`. The warm
//! rows' `Versa/bare` ratio is then a figure the machine's noise mostly cancels out of.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for one runtime's `/next` (one runs at a time; a front request only takes
/// an idle runtime, so at most one waits).
const QUEUE: usize = 1;

type Job = (Bytes, oneshot::Sender<Bytes>);

/// One runtime process and the server side of its Runtime API.
struct Runtime {
    jobs: mpsc::Sender<Job>,
}

struct RuntimeApi {
    queue: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    current: Mutex<Option<oneshot::Sender<Bytes>>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Front {
    idle: Mutex<Vec<Arc<Runtime>>>,
    /// Wakes a request waiting for an idle runtime.
    freed: tokio::sync::Notify,
}

/// The bare loop: its front's address; dropping it stops the runtimes.
pub struct Bare {
    pub addr: SocketAddr,
    children: Vec<std::process::Child>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Bare {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Bare {
    /// Starts `runtimes` processes of `bootstrap` and the front.
    pub async fn start(bootstrap: &Path, runtimes: usize) -> anyhow::Result<Bare> {
        let mut children = Vec::new();
        let mut tasks = Vec::new();
        let mut idle = Vec::new();
        for i in 0..runtimes {
            let (jobs, queue) = mpsc::channel(QUEUE);
            let api = Arc::new(RuntimeApi {
                queue: tokio::sync::Mutex::new(queue),
                current: Mutex::new(None),
                next_id: std::sync::atomic::AtomicU64::new(1),
            });
            let app = Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next))
                .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
                .with_state(api);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let port = listener.local_addr()?.port();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
            children.push(spawn(bootstrap, port, i).context("start a bare runtime")?);
            idle.push(Arc::new(Runtime { jobs }));
        }
        let front = Arc::new(Front { idle: Mutex::new(idle), freed: tokio::sync::Notify::new() });
        let app = Router::new().route("/invoke", post(invoke)).with_state(front);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
        Ok(Bare { addr, children, tasks })
    }
}

#[allow(clippy::disallowed_methods)] // a benchmark reference, not a function environment
fn spawn(bootstrap: &Path, port: u16, i: usize) -> std::io::Result<std::process::Child> {
    std::process::Command::new(bootstrap)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bare")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bare")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("bare-{i}"))
        .env("AWS_REGION", "us-east-1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
}

async fn invoke(State(front): State<Arc<Front>>, body: Bytes) -> Response {
    let runtime = loop {
        let freed = front.freed.notified();
        if let Some(r) = front.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            break r;
        }
        freed.await;
    };
    let (tx, rx) = oneshot::channel();
    let sent = runtime.jobs.send((body, tx)).await.is_ok();
    let answer = if sent { rx.await.ok() } else { None };
    front.idle.lock().unwrap_or_else(|e| e.into_inner()).push(runtime);
    front.freed.notify_one();
    match answer {
        Some(b) => (StatusCode::OK, [("content-type", "application/json")], b).into_response(),
        None => StatusCode::BAD_GATEWAY.into_response(),
    }
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    let Some((event, reply)) = api.queue.lock().await.recv().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    *api.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(reply);
    let id = api.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&format!("bare-{id}")) {
        h.insert("lambda-runtime-aws-request-id", v);
    }
    h.insert("lambda-runtime-deadline-ms", HeaderValue::from_static("99999999999999"));
    h.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:bare"),
    );
    (StatusCode::OK, h, event).into_response()
}

async fn response(State(api): State<Arc<RuntimeApi>>, body: Bytes) -> Response {
    if let Some(reply) = api.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = reply.send(body);
    }
    (StatusCode::ACCEPTED, [("content-type", "application/json")], r#"{"status":"OK"}"#).into_response()
}

/// Warm invokes per second through a bare loop of `clients` echo runtimes driven by as many
/// keep-alive clients (the yardstick of `--check`'s `warm.*.vs_bare`).
pub async fn ops_per_sec(clients: usize, length: std::time::Duration) -> anyhow::Result<f64> {
    let bare = Bare::start(&testkit::built_binary("fixture-rust-echo"), clients).await?;
    let s = crate::invoke::warm_bare(bare.addr, clients, length).await?;
    Ok(s.ok as f64 / s.elapsed.as_secs_f64().max(1e-9))
}
