//! A bare Runtime API loop: the yardstick for warm invokes (`--check`'s `warm.*.vs_bare`).
//!
//! The same echo bootstrap Versa runs (the stock `lambda_runtime` fixture), started here
//! directly as plain processes, one per client, with no sandbox, no store, no auth, no metrics,
//! no logs; an HTTP/1.1 front on the same port takes `POST /invoke`, hands the body to the next
//! runtime waiting in `GET …/invocation/next`, and answers with what the runtime posts to
//! `…/invocation/{id}/response`. The clients are the same raw keep-alive clients as Versa's rows.
//! What Versa adds over this loop is its platform cost; the ratio of the two, measured minutes
//! apart on the same machine, is far steadier than either figure alone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use testkit::http::Client;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, Mutex, mpsc, oneshot};

/// Longest request head or body the loop accepts.
const MESSAGE_MAX: usize = 1 << 20;
/// Longest wait for the runtimes to have polled once.
const READY_MAX: Duration = Duration::from_secs(10);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>>;

struct Loop {
    next_id: AtomicU64,
    queue_tx: mpsc::Sender<(u64, Vec<u8>)>,
    queue_rx: Mutex<mpsc::Receiver<(u64, Vec<u8>)>>,
    pending: Pending,
    polls: AtomicU64,
}

/// Warm invokes per second through the bare loop with `clients` clients and as many runtimes.
pub async fn ops_per_sec(clients: usize, length: Duration) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (queue_tx, queue_rx) = mpsc::channel(clients.max(1) * 2);
    let state = Arc::new(Loop {
        next_id: AtomicU64::new(1),
        queue_tx,
        queue_rx: Mutex::new(queue_rx),
        pending: Arc::default(),
        polls: AtomicU64::new(0),
    });
    let server = {
        let state = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, state.clone()));
            }
        })
    };
    let mut runtimes = Runtimes(Vec::new());
    let bootstrap = testkit::built_binary("fixture-rust-echo");
    for _ in 0..clients {
        runtimes.0.push(spawn_runtime(&bootstrap, addr)?);
    }
    let began = Instant::now();
    while state.polls.load(Ordering::Relaxed) < clients as u64 {
        if began.elapsed() > READY_MAX {
            bail!("the bare loop's runtimes did not poll within {READY_MAX:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let result = drive(addr, clients, length).await;
    server.abort();
    drop(runtimes);
    result
}

async fn drive(addr: SocketAddr, clients: usize, length: Duration) -> anyhow::Result<f64> {
    let barrier = Arc::new(Barrier::new(clients));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(addr);
            let headers = [("content-type", "application/json")];
            let _ = c.send("POST", "/invoke", &headers, b"{}").await;
            barrier.wait().await;
            let (mut ok, start) = (0u64, Instant::now());
            while start.elapsed() < length {
                let r = c.send("POST", "/invoke", &headers, br#"{"hello":"world"}"#).await?;
                if r.status != 200 {
                    bail!("bare loop answered {}", r.status);
                }
                ok += 1;
            }
            Ok((ok, start.elapsed()))
        }));
    }
    let (mut ok, mut elapsed) = (0u64, Duration::ZERO);
    for t in tasks {
        let (n, e) = t.await??;
        ok += n;
        elapsed = elapsed.max(e);
    }
    Ok(ok as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// One keep-alive connection: a client's invokes or a runtime's polls and answers.
async fn serve(stream: TcpStream, state: Arc<Loop>) {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    while let Ok(Some((method, path, body))) = read_request(&mut r).await {
        let (status, headers, body) = handle(&state, &method, &path, body).await;
        let mut head = format!("HTTP/1.1 {status} OK\r\ncontent-length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if w.write_all(head.as_bytes()).await.is_err() || w.write_all(&body).await.is_err() {
            return;
        }
    }
}

async fn handle(state: &Loop, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    if method == "POST" && path == "/invoke" {
        let id = state.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        state.pending.lock().await.insert(id, tx);
        if state.queue_tx.send((id, body)).await.is_err() {
            return (500, Vec::new(), Vec::new());
        }
        return match rx.await {
            Ok(answer) => (200, Vec::new(), answer),
            Err(_) => (500, Vec::new(), Vec::new()),
        };
    }
    if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
        state.polls.fetch_add(1, Ordering::Relaxed);
        let next = state.queue_rx.lock().await.recv().await;
        let Some((id, event)) = next else { return (500, Vec::new(), Vec::new()) };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64 + 3000);
        let headers = vec![
            ("lambda-runtime-aws-request-id".to_owned(), format!("bare-{id}")),
            ("lambda-runtime-deadline-ms".to_owned(), deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn".to_owned(),
                "arn:aws:lambda:us-east-1:000000000000:function:bare".to_owned(),
            ),
            ("lambda-runtime-trace-id".to_owned(), "Root=1-00000000-000000000000000000000000".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ];
        return (200, headers, event);
    }
    let id = path
        .strip_prefix("/2018-06-01/runtime/invocation/bare-")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(id, _)| id.parse::<u64>().ok());
    match (method, id) {
        ("POST", Some(id)) => {
            if let Some(tx) = state.pending.lock().await.remove(&id) {
                let _ = tx.send(body);
            }
            (202, Vec::new(), br#"{"status":"OK"}"#.to_vec())
        }
        _ => (404, Vec::new(), Vec::new()),
    }
}

/// (method, path, body), or `None` at a clean end of the connection.
async fn read_request<R: AsyncBufReadExt + AsyncReadExt + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<(String, String, Vec<u8>)>> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
    let mut length = 0usize;
    let mut head = line.len();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        head += line.len();
        if head > MESSAGE_MAX {
            return Err(std::io::Error::other("head too long"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().map_err(std::io::Error::other)?;
        }
    }
    if length > MESSAGE_MAX {
        return Err(std::io::Error::other("body too long"));
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).await?;
    Ok(Some((method, path, body)))
}

/// The runtimes, killed when dropped.
struct Runtimes(Vec<Child>);

impl Drop for Runtimes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// JUSTIFICATION: the yardstick is the function's own bootstrap outside any sandbox, which means
// starting it as a plain process; this tool is not part of the daemon, so the "spawn only
// through sandbox" rule does not apply (moto.rs starts moto the same way).
#[allow(clippy::disallowed_methods)]
fn spawn_runtime(bootstrap: &std::path::Path, addr: SocketAddr) -> anyhow::Result<Child> {
    Command::new(bootstrap)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bare")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bare")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bare")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bootstrap.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_read_one_after_another_until_a_clean_end() {
        let wire = b"POST /invoke HTTP/1.1\r\nhost: x\r\nContent-Length: 5\r\n\r\nhelloGET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n";
        let mut r = BufReader::new(&wire[..]);
        let first = read_request(&mut r).await.expect("reads").expect("a request");
        assert_eq!(first, ("POST".to_owned(), "/invoke".to_owned(), b"hello".to_vec()));
        let second = read_request(&mut r).await.expect("reads").expect("a request");
        assert_eq!(second, ("GET".to_owned(), "/2018-06-01/runtime/invocation/next".to_owned(), Vec::new()));
        assert!(read_request(&mut r).await.expect("clean end").is_none());
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let wire = format!("POST /invoke HTTP/1.1\r\ncontent-length: {}\r\n\r\n", MESSAGE_MAX + 1);
        let mut r = BufReader::new(wire.as_bytes());
        assert!(read_request(&mut r).await.is_err());
    }
}
