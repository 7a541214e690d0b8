//! Versa's HTTP/1.1 server: its own accept loop on hyper, hardened against hostile clients.
//!
//! - **Slow or idle heads.** hyper's header-read timeout ([`HEADER_READ_TIMEOUT`]) runs from
//!   the moment hyper waits for a request head, on a new connection and between keep-alive
//!   requests alike: a client that sends half a head, or an idle keep-alive connection, is
//!   closed when it expires (no response is written).
//! - **Huge heads.** A head larger than [`HEAD_BYTES_MAX`] or with more than [`HEADERS_MAX`]
//!   headers gets hyper's `431 Request Header Fields Too Large`, and the connection is closed.
//! - **Slow bodies.** Each request body frame must arrive within [`BODY_FRAME_TIMEOUT`] of the
//!   handler asking for it; otherwise the connection is closed at once, without an answer (the
//!   handler is dropped). Size limits stay per operation (the handlers').
//! - **Connection flood.** At most [`CONNECTIONS_MAX`] connections are served. When a new one
//!   arrives at the limit, a connection not in a request is closed to make room: first the
//!   oldest still waiting for its first request head (or its TLS handshake), then the one idle
//!   the longest between keep-alive requests. Only when every connection is in a request does
//!   the new one wait (accepted, not yet served) for a slot.
//! - **TLS** ([`Tls`]), optional, with rustls; the handshake must end within
//!   [`TLS_HANDSHAKE_TIMEOUT`].
//!
//! Every socket gets `TCP_NODELAY`; handlers find the peer address as
//! `ConnectInfo<PeerAddr>`. When the shutdown future resolves, the loop stops accepting, every
//! connection finishes its request in flight (idle ones close at once), and [`serve`] returns
//! once all are closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower_service::Service;

use crate::PeerAddr;

/// Most connections served at once (see the module docs for what happens at the limit).
pub const CONNECTIONS_MAX: usize = 4096;
/// Longest wait for a complete request head, from when the server starts waiting for it: on
/// a new connection, and between requests on a keep-alive one (the idle keep-alive timeout).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for the next frame of a request body.
pub const BODY_FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a response body may wait for the client to read it: a client that stops reading
/// an answer that is still being produced (a large S3 object) loses its connection.
pub const RESPONSE_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers), in bytes: hyper's read buffer.
pub const HEAD_BYTES_MAX: usize = 64 * 1024;
/// Most headers in a request head.
pub const HEADERS_MAX: usize = 100;
/// Pause after a failed `accept` (typically EMFILE), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The bounds of [`serve`]; [`Limits::default`] gives the constants above (tests shorten them).
#[derive(Debug, Clone)]
pub struct Limits {
    pub connections_max: usize,
    pub header_read_timeout: Duration,
    pub body_frame_timeout: Duration,
    pub response_stall_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub head_bytes_max: usize,
    pub headers_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections_max: CONNECTIONS_MAX,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_frame_timeout: BODY_FRAME_TIMEOUT,
            response_stall_timeout: RESPONSE_STALL_TIMEOUT,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            head_bytes_max: HEAD_BYTES_MAX,
            headers_max: HEADERS_MAX,
        }
    }
}

/// A TLS server configuration (rustls, ring), loaded from PEM files.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Reads a certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1 or
    /// SEC1). Errors name the file and what is wrong with it.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
        if certs.is_empty() {
            return Err(format!("the TLS certificate file {} holds no certificate", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("cannot read the TLS private key {}: {e}", key.display()))?;
        // ring, not aws-lc-rs (a long C build); rustls 0.23.48 deprecates it only because it
        // has no post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("the TLS certificate and key do not fit together: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) })
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// their request in flight and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let registry = Arc::new(Registry::default());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.head_bytes_max)
        .max_headers(limits.headers_max);
    // Each connection holds a receiver; `closed()` resolves once every connection is gone.
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    'accept: loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break 'accept,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        // Small responses must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let slot = loop {
            if let Some(slot) = registry.admit(limits.connections_max) {
                break slot;
            }
            // Every connection is in a request: wait for one to end or go idle.
            tokio::select! {
                () = &mut shutdown => break 'accept,
                () = registry.changed.notified() => {}
            }
        };
        let conn = Connection {
            http: http.clone(),
            app: app.clone(),
            peer,
            slot,
            body_frame_timeout: limits.body_frame_timeout,
            response_stall_timeout: limits.response_stall_timeout,
            stop: stopped.clone(),
            secure: false,
        };
        match &tls {
            None => {
                tokio::spawn(stdx::repoll::Repoll::new(conn.run(stream)));
            }
            Some(tls) => {
                let (acceptor, timeout) = (tls.acceptor.clone(), limits.tls_handshake_timeout);
                tokio::spawn(stdx::repoll::Repoll::new(conn.run_tls(stream, acceptor, timeout)));
            }
        }
    }
    drop(listener);
    drop(stopped);
    let _ = stop.send(true);
    stop.closed().await;
}

/// One accepted connection and what serving it needs.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    app: axum::Router,
    peer: SocketAddr,
    slot: Slot,
    body_frame_timeout: Duration,
    response_stall_timeout: Duration,
    stop: watch::Receiver<bool>,
    /// Whether the connection is TLS: its requests carry [`crate::Secure`].
    secure: bool,
}

impl Connection {
    async fn run_tls(mut self, stream: TcpStream, acceptor: tokio_rustls::TlsAcceptor, timeout: Duration) {
        let evicted = self.slot.evicted.clone();
        let handshake = tokio::time::timeout(timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            done = handshake => match done {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            },
            () = evicted.notified() => return,
            _ = self.stop.changed() => return,
        };
        self.secure = true;
        self.run(stream).await;
    }

    async fn run<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(mut self, io: I) {
        let evicted = self.slot.evicted.clone();
        let progress = Arc::new(WriteProgress::new());
        let service = ConnService {
            app: self.app,
            peer: self.peer,
            slot: self.slot.clone(),
            body_frame_timeout: self.body_frame_timeout,
            secure: self.secure,
            progress: progress.clone(),
        };
        let stall = self.response_stall_timeout;
        let mut check = tokio::time::interval((stall / 4).max(Duration::from_millis(10)));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let conn = self.http.serve_connection(TokioIo::new(io), service).with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let mut stopping = *self.stop.borrow();
        if stopping {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended");
                    }
                    break;
                }
                // Dropping the connection closes the socket.
                () = evicted.notified() => break,
                _ = check.tick() => if progress.stalled(stall) {
                    tracing::debug!(peer = %self.peer, "the client stopped reading its answer; closing");
                    break;
                },
                _ = self.stop.changed(), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Serves one connection's requests with the router, marking the connection busy from each
/// request head to the end of its response.
#[derive(Clone)]
struct ConnService {
    app: axum::Router,
    peer: SocketAddr,
    slot: Slot,
    body_frame_timeout: Duration,
    secure: bool,
    progress: Arc<WriteProgress>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<GuardedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<GuardedBody>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let guard = self.slot.begin_request();
        let (parts, body) = req.into_parts();
        let timed_out = Arc::new(AtomicBool::new(false));
        let body = FrameTimeout {
            inner: body,
            timeout: self.body_frame_timeout,
            sleep: None,
            timed_out: timed_out.clone(),
            close: self.slot.evicted.clone(),
        };
        let mut req = Request::from_parts(parts, Body::new(body));
        req.extensions_mut().insert(ConnectInfo(PeerAddr(self.peer)));
        if self.secure {
            req.extensions_mut().insert(crate::Secure);
        }
        let mut app = self.app.clone();
        let progress = self.progress.clone();
        Box::pin(async move {
            let response = match app.call(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if timed_out.load(Ordering::Relaxed) {
                // No answer: the connection is being closed.
                std::future::pending::<()>().await;
            }
            Ok(response.map(|body| GuardedBody { inner: body, progress, _guard: guard }))
        })
    }
}

/// A response body that tells the registry when it is done (written or abandoned).
struct GuardedBody {
    inner: Body,
    /// Touched whenever hyper asks for more: it asks only when the client has taken what
    /// was written.
    progress: Arc<WriteProgress>,
    _guard: RequestGuard,
}

impl Drop for GuardedBody {
    fn drop(&mut self) {
        self.progress.finished();
    }
}

/// When a connection's response body was last asked for, while one is being written.
struct WriteProgress {
    base: Instant,
    /// Milliseconds since `base` of the last ask; `u64::MAX` when no body is being written.
    last_ms: std::sync::atomic::AtomicU64,
}

impl WriteProgress {
    fn new() -> WriteProgress {
        WriteProgress { base: Instant::now(), last_ms: std::sync::atomic::AtomicU64::new(u64::MAX) }
    }

    fn touch(&self) {
        let now = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn finished(&self) {
        self.last_ms.store(u64::MAX, Ordering::Relaxed);
    }

    /// A body is being written and has not been asked for within `limit`.
    fn stalled(&self, limit: Duration) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        last != u64::MAX && self.base.elapsed().as_millis() > u128::from(last) + limit.as_millis()
    }
}

impl hyper::body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.progress.touch();
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) {
            self.progress.finished();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body whose every frame must come within a time of being asked for; when one
/// does not, the body fails and its connection is closed.
struct FrameTimeout {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
    /// Closes the connection.
    close: Arc<Notify>,
}

/// The error a request body fails with when the client stops sending it.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client sent no request body data in time")
    }
}

impl std::error::Error for BodyTimeout {}

impl hyper::body::Body for FrameTimeout {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.sleep = None;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.store(true, Ordering::Relaxed);
                this.close.notify_one();
                Poll::Ready(Some(Err(Box::new(BodyTimeout))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a connection is doing, for choosing whom to close at the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for its first request head (or its TLS handshake): closed first.
    Head,
    /// Between keep-alive requests: closed next.
    Idle,
    /// This many requests in flight (head read, response not yet written): never closed.
    Busy(u32),
}

struct Entry {
    phase: Phase,
    /// When the connection entered its phase.
    since: Instant,
    evicted: Arc<Notify>,
}

/// The open connections.
#[derive(Default)]
struct Registry {
    entries: Mutex<HashMap<u64, Entry>>,
    next_id: AtomicU64,
    /// Notified when a connection closes or becomes closable (idle).
    changed: Notify,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for a new connection: a free one, or one taken from the connection that waited
    /// longest for its first head, else from the one idle the longest. `None` when all
    /// `max` connections are in a request.
    fn admit(self: &Arc<Self>, max: usize) -> Option<Slot> {
        let mut entries = self.lock();
        if entries.len() >= max {
            let victim = entries
                .iter()
                .filter(|(_, e)| !matches!(e.phase, Phase::Busy(_)))
                .min_by_key(|(_, e)| (e.phase == Phase::Idle, e.since))
                .map(|(id, _)| *id)?;
            if let Some(e) = entries.remove(&victim) {
                tracing::debug!(phase = ?e.phase, "connection limit reached: closing a connection not in a request");
                e.evicted.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = Arc::new(Notify::new());
        entries.insert(id, Entry { phase: Phase::Head, since: Instant::now(), evicted: evicted.clone() });
        Some(Slot { inner: Arc::new(SlotInner { id, registry: self.clone() }), evicted })
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Entry)) {
        if let Some(e) = self.lock().get_mut(&id) {
            f(e);
        }
    }
}

/// A connection's place in the registry; the last clone leaving frees it.
#[derive(Clone)]
struct Slot {
    inner: Arc<SlotInner>,
    evicted: Arc<Notify>,
}

struct SlotInner {
    id: u64,
    registry: Arc<Registry>,
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        let removed = self.registry.lock().remove(&self.id);
        if removed.is_some() {
            self.registry.changed.notify_one();
        }
    }
}

impl Slot {
    fn begin_request(&self) -> RequestGuard {
        self.inner.registry.update(self.inner.id, |e| {
            e.phase = match e.phase {
                Phase::Busy(n) => Phase::Busy(n + 1),
                Phase::Head | Phase::Idle => Phase::Busy(1),
            };
            e.since = Instant::now();
        });
        RequestGuard { slot: self.inner.clone() }
    }
}

/// Held by a response until it is written (or dropped): the connection is busy meanwhile.
struct RequestGuard {
    slot: Arc<SlotInner>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut idle = false;
        self.slot.registry.update(self.slot.id, |e| {
            e.phase = match e.phase {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => {
                    idle = true;
                    Phase::Idle
                }
            };
            e.since = Instant::now();
        });
        if idle {
            self.slot.registry.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_limit_the_oldest_head_goes_first_then_the_longest_idle_and_never_a_busy_one() {
        let registry = Arc::new(Registry::default());
        let busy = registry.admit(3).expect("free");
        let _in_request = busy.begin_request();
        let idle = registry.admit(3).expect("free");
        drop(idle.begin_request());
        let head = registry.admit(3).expect("free");
        assert_eq!(registry.lock().len(), 3);

        // Full: the connection still waiting for its head is closed, though it is the newest.
        let newer = registry.admit(3).expect("a head connection is closable");
        assert!(!registry.lock().contains_key(&head.inner.id));
        assert!(registry.lock().contains_key(&idle.inner.id));
        // Full again: `newer` waits for its head too, so it goes before the idle one.
        let _newest = registry.admit(3).expect("closable");
        assert!(!registry.lock().contains_key(&newer.inner.id));
        assert!(registry.lock().contains_key(&idle.inner.id));
        drop(_newest);
        let _again = registry.admit(3).expect("a slot was freed");
        // Now: busy, idle, _again (head). Make the head busy; the idle one is the only choice.
        let _busy_again = _again.begin_request();
        let _last = registry.admit(3).expect("the idle connection is closable");
        assert!(!registry.lock().contains_key(&idle.inner.id));
        let _in_request_too = _last.begin_request();
        assert!(registry.admit(3).is_none(), "every connection is in a request");
        assert!(registry.lock().contains_key(&busy.inner.id));
    }
}
