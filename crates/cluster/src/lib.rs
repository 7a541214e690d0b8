//! Several Versa nodes on one shared store (PostgreSQL), with no cluster protocol of their own.
//!
//! - **Membership:** each node has a `nodes` row (a new uuid per start) and beats every
//!   `heartbeat`; a node is live while its last beat is younger than `dead_after` by the
//!   *database's* clock. A node that could not beat for `dead_after` fences itself: it stops
//!   claiming events and refuses forwarded invocations, since the others count it as dead.
//! - **Reaper:** on every beat, each node frees the event claims of dead nodes
//!   (`WriteTx::reap_claims`; idempotent, so no leader), and removes rows dead for an hour.
//! - **Notices:** `versa_fn` (sent by `Control::write` in its transaction) drops other nodes'
//!   cached resolutions; `versa_events` (at most one per node per [`EVENTS_NOTICE_EVERY`]) wakes
//!   their event workers. See `Control::apply_notice`.
//! - **Routing:** an invocation of a function version is owned by the node with the highest
//!   rendezvous weight ([`hrw`]) among live nodes. Another node forwards it over HTTP
//!   (`POST /_versa/internal/invoke`, HMAC-signed with the cluster secret); an owner that is
//!   saturated answers 503 `x-versa-busy` and the next of the top [`SPILL_MAX`] is tried; after
//!   them, or when this node is next, it runs here; when this node cannot admit it either (no
//!   free environment, unreserved pool full), the nodes ranked after it are offered it, and
//!   only then does the caller get Lambda's 429 (`Placement::spill`). A function
//!   at its reserved concurrency is throttled by its owner (429, never spilled: a reservation
//!   is exact at the owner). Only a refused connection moves on: a request that was delivered
//!   is never sent again.

pub mod dynamodb_home;
pub mod hrw;
pub mod provisioned;

pub use dynamodb_home::{DYNAMODB_HOME_SETTING, INTERNAL_DYNAMODB_PATH, claim_dynamodb_home};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use control::Control;
use hmac::{KeyInit, Mac};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use invoke::{Engine, Forwarding, InvokeError, Placement, Request, Response, Target};
use model::name::Version;
use model::scope::{AccountId, Region, Scope};
use sha2::{Digest, Sha256};
use stdx::duty::{Duties, task};
use store::{Channel, NodeBeat, NodeRow, Store, StoreError};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The path forwarded invocations are posted to.
pub const INTERNAL_INVOKE_PATH: &str = "/_versa/internal/invoke";
/// Default interval between heartbeats (`--node-heartbeat-ms`).
pub const HEARTBEAT_DEFAULT: Duration = Duration::from_millis(1000);
/// Default silence after which a node counts as dead (`--node-dead-after-ms`).
pub const DEAD_AFTER_DEFAULT: Duration = Duration::from_millis(10_000);
/// Rows of nodes dead this long are removed (their claims were reaped long before).
pub const NODE_ROW_RETENTION: Duration = Duration::from_secs(3600);
/// Most nodes an invocation is offered to before it runs here: the owner and two spills.
pub const SPILL_MAX: usize = 3;
/// At most one `versa_events` notice per node per this interval.
pub const EVENTS_NOTICE_EVERY: Duration = Duration::from_millis(20);
/// How long a forward may take to connect before the next node is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Added to the function's timeout for a forwarded invocation's answer (a cold start, the hop).
pub const FORWARD_SLACK: Duration = Duration::from_secs(30);
/// How far a forwarded request's signed time may be from the receiver's clock.
pub const SIGNED_SKEW_MS: i64 = 60_000;
/// Largest forwarded answer read (a 6 MB payload, base64 tail, headers).
pub const ANSWER_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Largest forwarded request read (Lambda's 6 MB synchronous payload).
pub const REQUEST_BYTES_MAX: usize = 6_291_456;
/// Idle keep-alive connections kept per peer.
pub const IDLE_CONNECTIONS_PER_PEER: usize = 32;
/// The `Reason` of a 429 for a function at its reserved concurrency (the engine's).
const RESERVED_THROTTLE: &str = "ReservedFunctionConcurrentInvocationLimitExceeded";
/// Cluster setting: the secret forwarded requests are signed with.
pub const SECRET_SETTING: &str = "cluster_secret";
/// Cluster setting: the key `Code.Location` URLs are signed with.
pub const CODE_URL_KEY_SETTING: &str = "code_url_key";

/// How this node takes part.
#[derive(Debug, Clone)]
pub struct Options {
    /// The operator's name for the node (`--node-id`), shown in health and `x-versa-node`.
    pub name: String,
    /// Where other nodes reach this node's API (`--advertise`, default the listen address).
    pub addr: String,
    pub heartbeat: Duration,
    pub dead_after: Duration,
    /// The node (by name) whose files hold the DynamoDB tables ([`claim_dynamodb_home`]).
    pub dynamodb_home: String,
}

/// A node as this node last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    pub name: String,
    pub addr: String,
    pub live: bool,
    pub busy: u32,
    pub capacity: u32,
}

/// Counters shown in health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Invocations this node sent to their owner, and those that owner answered.
    pub forwarded: u64,
    /// Forwarded invocations this node ran for others.
    pub served: u64,
    /// Offers refused as busy, and peers found unreachable.
    pub busy: u64,
    pub unreachable: u64,
}

/// This node's part in the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    options: Options,
    store: Store,
    secret: Vec<u8>,
    /// Every node row as last read, and the live ones (the HRW candidates).
    view: RwLock<Arc<Vec<Peer>>>,
    /// When this node started, and (in ms since then) when its last heartbeat was sent that
    /// committed: read on every forward, so an atomic rather than a lock.
    base: Instant,
    last_beat_ms: AtomicU64,
    /// Per singleton of [`task::ALL`], until when (ms since `base`) this node may act as its
    /// holder: the renewal's send time plus the lease's length less a heartbeat, so a holder
    /// that cannot renew stops a heartbeat before the database lets another node take over.
    held_until_ms: [AtomicU64; task::ALL.len()],
    client: Client<HttpConnector, Body>,
    forwarded: AtomicU64,
    served: AtomicU64,
    busy: AtomicU64,
    unreachable: AtomicU64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("id", &self.inner.id).field("options", &self.inner.options).finish()
    }
}

/// A random 32-byte value.
pub fn random_key() -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    k.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    k
}

/// The value of a shared setting: the first node's, created with a random value if none exists.
pub async fn shared_key(store: &Store, name: &'static str) -> Result<Vec<u8>, StoreError> {
    let candidate = random_key();
    store.write(move |tx| tx.init_cluster_setting(name, &candidate)).await
}

impl Cluster {
    /// Joins: reads (or creates) the cluster secret and writes the first heartbeat, so this node
    /// is in its own view before it serves.
    pub async fn join(store: Store, options: Options) -> Result<Cluster, StoreError> {
        let secret = shared_key(&store, SECRET_SETTING).await?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_PEER)
            .build(connector);
        let cluster = Cluster {
            inner: Arc::new(Inner {
                id: uuid::Uuid::new_v4().to_string(),
                options,
                store,
                secret,
                view: RwLock::new(Arc::new(Vec::new())),
                base: Instant::now(),
                last_beat_ms: AtomicU64::new(0),
                held_until_ms: std::array::from_fn(|_| AtomicU64::new(0)),
                client,
                forwarded: AtomicU64::new(0),
                served: AtomicU64::new(0),
                busy: AtomicU64::new(0),
                unreachable: AtomicU64::new(0),
            }),
        };
        cluster.beat(0, 0).await?;
        cluster.renew_leases().await;
        Ok(cluster)
    }

    /// This start's node id (a uuid).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The operator's name for this node.
    pub fn name(&self) -> &str {
        &self.inner.options.name
    }

    /// Every node as last read (live or not).
    pub fn nodes(&self) -> Arc<Vec<Peer>> {
        self.inner.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn counters(&self) -> Counters {
        let i = &self.inner;
        Counters {
            forwarded: i.forwarded.load(Ordering::Relaxed),
            served: i.served.load(Ordering::Relaxed),
            busy: i.busy.load(Ordering::Relaxed),
            unreachable: i.unreachable.load(Ordering::Relaxed),
        }
    }

    /// Whether this node could not prove it is alive for the dead interval: the others may
    /// have reaped its claims, so it takes no queued work and runs nothing for them.
    pub fn fenced(&self) -> bool {
        let since_start = self.inner.base.elapsed().as_millis() as u64;
        since_start.saturating_sub(self.inner.last_beat_ms.load(Ordering::Relaxed))
            >= self.inner.options.dead_after.as_millis() as u64
    }

    /// One heartbeat: writes this node's row, reads everyone's, and reaps dead nodes' claims.
    async fn beat(&self, busy: u32, capacity: u32) -> Result<(), StoreError> {
        let beat = NodeBeat {
            id: self.inner.id.clone(),
            name: self.inner.options.name.clone(),
            addr: self.inner.options.addr.clone(),
            capacity,
            busy,
        };
        // The beat proves this node alive from when it was sent, not from when it committed.
        let sent = self.inner.base.elapsed().as_millis() as u64;
        self.inner.store.write(move |tx| tx.heartbeat_node(&beat)).await?;
        self.inner.last_beat_ms.fetch_max(sent, Ordering::Relaxed);
        let dead_after = self.inner.options.dead_after.as_millis() as i64;
        let rows: Vec<NodeRow> = self.inner.store.read(move |tx| tx.nodes(dead_after)).await?;
        let peers: Vec<Peer> = rows
            .iter()
            .map(|r| Peer {
                id: r.id.clone(),
                name: r.name.clone(),
                addr: r.addr.clone(),
                live: r.live,
                busy: r.busy,
                capacity: r.capacity,
            })
            .collect();
        *self.inner.view.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(peers);
        let dead: Vec<String> = rows.iter().filter(|r| !r.live).map(|r| r.id.clone()).collect();
        if !dead.is_empty() {
            let retention = NODE_ROW_RETENTION.as_millis() as i64;
            let (reaped, removed) = self
                .inner
                .store
                .write(move |tx| {
                    let reaped = reap_claims(tx, &dead)?;
                    Ok::<_, StoreError>((reaped, tx.delete_dead_nodes(retention)?))
                })
                .await?;
            if reaped > 0 {
                tracing::info!(events = reaped, "released the event claims of dead nodes");
            }
            if removed > 0 {
                tracing::info!(nodes = removed, "removed rows of nodes dead for an hour");
            }
        }
        Ok(())
    }

    /// Takes or renews every singleton's lease (length: the dead interval), on the database's
    /// clock. A failed write keeps the old deadline, which then passes: self-fencing.
    async fn renew_leases(&self) {
        let ttl = self.inner.options.dead_after.as_millis() as i64;
        let margin = self.inner.options.heartbeat.as_millis() as u64;
        for (i, name) in task::ALL.iter().enumerate() {
            let sent = self.inner.base.elapsed().as_millis() as u64;
            let id = self.inner.id.clone();
            let held = &self.inner.held_until_ms[i];
            match self.inner.store.write(move |tx| tx.acquire_lease(name, &id, ttl)).await {
                Ok(true) => {
                    if held.swap((sent + ttl as u64).saturating_sub(margin), Ordering::Relaxed) == 0 {
                        tracing::info!(task = name, "this node now runs the cluster-wide task");
                    }
                }
                Ok(false) => {
                    if held.swap(0, Ordering::Relaxed) != 0 {
                        tracing::warn!(task = name, "another node took the cluster-wide task");
                    }
                }
                Err(e) => tracing::warn!(task = name, error = %e, "cannot renew a lease"),
            }
        }
    }

    /// The singletons' and partitions' owner checks for the background tasks.
    pub fn duties(&self) -> Arc<dyn Duties> {
        Arc::new(self.clone())
    }

    /// Starts the node's tasks: heartbeats and the reaper, the notice listener, and the
    /// coalesced `versa_events` notices. Abort the returned tasks to stop (then [`Cluster::leave`]).
    pub fn start(&self, control: Arc<Control>, engine: Arc<Engine>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let me = self.clone();
        let eng = engine.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.inner.options.heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                let busy = u32::try_from(eng.running_invocations()).unwrap_or(u32::MAX);
                let capacity = u32::try_from(eng.capacity()).unwrap_or(u32::MAX);
                let beat = me.beat(busy, capacity).await;
                me.renew_leases().await;
                match beat {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("heartbeats resumed");
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(error = %e, "cannot write this node's heartbeat");
                    }
                    Err(_) => {}
                }
            }
        }));
        if let Some(mut notices) = self.inner.store.subscribe() {
            let control = control.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(n) = notices.recv().await {
                    control.apply_notice(&n);
                }
            }));
        }
        tasks.extend(self.start_provisioned(control.clone(), engine.clone()));
        let store = self.inner.store.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                control.events_announce().notified().await;
                if let Err(e) = store.write(|tx| tx.notify(Channel::Events, "")).await {
                    tracing::warn!(error = %e, "cannot announce queued events");
                }
                // Events queued meanwhile are announced together, after the pause.
                tokio::time::sleep(EVENTS_NOTICE_EVERY).await;
            }
        }));
        tasks
    }

    /// Removes this node's row (a graceful stop): the others re-home its keys at once.
    pub async fn leave(&self) {
        for (i, name) in task::ALL.iter().enumerate() {
            if self.inner.held_until_ms[i].swap(0, Ordering::Relaxed) != 0 {
                let id = self.inner.id.clone();
                if let Err(e) = self.inner.store.write(move |tx| tx.release_lease(name, &id)).await {
                    tracing::warn!(task = name, error = %e, "cannot release a lease");
                }
            }
        }
        let id = self.inner.id.clone();
        if let Err(e) = self.inner.store.write(move |tx| tx.delete_node(&id)).await {
            tracing::warn!(error = %e, "cannot remove this node's row");
        }
    }

    /// The placement to give the engine.
    pub fn placement(&self) -> Arc<dyn Placement> {
        Arc::new(self.clone())
    }

    fn sign(&self, fields: &Fields, body_sha: &str) -> String {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&self.inner.secret).expect("HMAC takes any key length");
        m.update(fields.canonical(body_sha).as_bytes());
        stdx::hex::encode(&m.finalize().into_bytes())
    }

    fn signature_ok(&self, fields: &Fields, body_sha: &str, signature: &str) -> bool {
        let Some(tag) = stdx::hex::decode(signature) else { return false };
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&self.inner.secret).expect("HMAC takes any key length");
        m.update(fields.canonical(body_sha).as_bytes());
        m.verify_slice(&tag).is_ok()
    }

    /// Offers the invocation to `peer`.
    async fn offer(&self, peer: &Peer, fields: &Fields, payload: Bytes, timeout: Duration) -> Offered {
        let body_sha = stdx::hex::encode(&Sha256::digest(&payload));
        let signature = self.sign(fields, &body_sha);
        let mut b = http::Request::builder()
            .method("POST")
            .uri(format!("http://{}{INTERNAL_INVOKE_PATH}", peer.addr))
            .header("x-versa-signature", signature);
        for (name, value) in fields.headers() {
            b = b.header(name, value);
        }
        let Ok(req) = b.body(Body::from(payload)) else {
            return Offered::Answer(Err(InvokeError::Internal("cannot build the forwarded request".into())));
        };
        let sent = tokio::time::timeout(timeout, self.inner.client.request(req)).await;
        let resp = match sent {
            Err(_) => {
                return Offered::Answer(Err(InvokeError::Internal("the owner node did not answer in time".into())));
            }
            Ok(Err(e)) if e.is_connect() => return Offered::Unreachable,
            Ok(Err(e)) => {
                return Offered::Answer(Err(InvokeError::Internal(format!("the owner node failed to answer: {e}"))));
            }
            Ok(Ok(r)) => r,
        };
        let (parts, body) = resp.into_parts();
        let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if parts.headers.contains_key("x-versa-busy") || parts.headers.contains_key("x-versa-fenced") {
            return Offered::Busy;
        }
        if parts.headers.contains_key("x-versa-throttled") {
            return Offered::Answer(Err(InvokeError::Throttled { reason: RESERVED_THROTTLE }));
        }
        let bytes = match axum::body::to_bytes(Body::new(body), ANSWER_BYTES_MAX).await {
            Ok(b) => b,
            Err(e) => return Offered::Answer(Err(InvokeError::Internal(format!("the owner's answer broke off: {e}")))),
        };
        if parts.status == http::StatusCode::OK {
            let log_tail =
                header("x-versa-log-tail").and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok());
            return Offered::Answer(Ok(Response {
                payload: bytes,
                function_error: header("x-versa-function-error").is_some(),
                log_tail,
                executed_version: header("x-versa-executed-version").unwrap_or_default(),
                node: header("x-versa-node"),
            }));
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Offered::Answer(Err(match header("x-versa-error").as_deref() {
            Some("runtime") => InvokeError::RuntimeUnavailable(text),
            _ => InvokeError::Internal(text),
        }))
    }

    /// Offers the invocation down the ranking; `None` when it must run here.
    async fn forward_chain(
        self,
        peers: Vec<Peer>,
        fields: Fields,
        payload: Bytes,
        timeout: Duration,
    ) -> Option<Result<Response, InvokeError>> {
        for peer in &peers {
            match self.offer(peer, &fields, payload.clone(), timeout).await {
                Offered::Answer(a) => {
                    self.inner.forwarded.fetch_add(1, Ordering::Relaxed);
                    return Some(a);
                }
                Offered::Busy => {
                    self.inner.busy.fetch_add(1, Ordering::Relaxed);
                }
                Offered::Unreachable => {
                    self.inner.unreachable.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(node = %peer.name, addr = %peer.addr, "owner unreachable; trying the next");
                }
            }
        }
        None
    }

    /// Serves `POST /_versa/internal/invoke`: checks the signature, resolves the version the
    /// sender chose and runs it here (never forwarding again).
    pub async fn serve_internal(
        &self,
        control: &Control,
        engine: &Arc<Engine>,
        req: http::Request<Body>,
    ) -> http::Response<Body> {
        let (parts, body) = req.into_parts();
        let Some(fields) = Fields::from_headers(&parts.headers) else {
            return plain(http::StatusCode::BAD_REQUEST, "malformed forwarded invocation");
        };
        let now = stdx::time::now_ms();
        if (now - fields.time_ms).abs() > SIGNED_SKEW_MS {
            return plain(http::StatusCode::FORBIDDEN, "forwarded invocation signed too long ago");
        }
        let payload = match axum::body::to_bytes(body, REQUEST_BYTES_MAX).await {
            Ok(b) => b,
            Err(_) => return plain(http::StatusCode::PAYLOAD_TOO_LARGE, "forwarded payload too large"),
        };
        let signature = parts.headers.get("x-versa-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !self.signature_ok(&fields, &stdx::hex::encode(&Sha256::digest(&payload)), signature) {
            return plain(http::StatusCode::FORBIDDEN, "bad signature on a forwarded invocation");
        }
        if self.fenced() {
            let mut r = plain(http::StatusCode::SERVICE_UNAVAILABLE, "this node is fenced");
            r.headers_mut().insert("x-versa-fenced", http::HeaderValue::from_static("1"));
            return r;
        }
        let scope = Scope { account: fields.account.clone(), region: fields.region.clone() };
        let resolved = match control.resolve_invoke(&scope, &fields.function, Some(&fields.version)).await {
            Ok(t) if t.function_id.0 == fields.function_id => t,
            Ok(_) => return error(InvokeError::Internal("the function was replaced".into())),
            Err(e) => return error(InvokeError::Internal(e.to_string())),
        };
        let unreserved = match control.unreserved_concurrency(&scope).await {
            Ok(u) => u,
            Err(e) => return error(InvokeError::Internal(e.to_string())),
        };
        let target = Target {
            scope,
            function_id: resolved.function_id,
            function_name: resolved.function_name,
            version: resolved.version,
            record: resolved.record,
            invoked_arn: fields.invoked_arn.clone(),
            reserved_concurrency: resolved.reserved_concurrency,
            unreserved_concurrency: unreserved,
            provisioned_concurrency: resolved.provisioned_concurrency,
        };
        let request = Request {
            request_id: fields.request_id.clone(),
            payload,
            client_context: fields.client_context.clone(),
            log_tail: fields.log_tail,
        };
        self.inner.served.fetch_add(1, Ordering::Relaxed);
        match engine.invoke_forwarded(target, request).await {
            Ok(r) => {
                let mut resp = http::Response::new(Body::from(r.payload));
                let h = resp.headers_mut();
                if r.function_error {
                    h.insert("x-versa-function-error", http::HeaderValue::from_static("1"));
                }
                if let Ok(v) = http::HeaderValue::from_str(&r.executed_version) {
                    h.insert("x-versa-executed-version", v);
                }
                if let Some(t) = r.log_tail
                    && let Ok(v) = http::HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(t))
                {
                    h.insert("x-versa-log-tail", v);
                }
                self.node_header(&mut resp);
                resp
            }
            // A reservation is exact at the owner: spilling would run more than it allows.
            Err(InvokeError::Throttled { reason: RESERVED_THROTTLE }) => {
                let mut r = plain(http::StatusCode::TOO_MANY_REQUESTS, "reserved concurrency reached");
                r.headers_mut().insert("x-versa-throttled", http::HeaderValue::from_static("reserved"));
                self.node_header(&mut r);
                r
            }
            Err(InvokeError::Throttled { .. } | InvokeError::TooManyEnvironments) => {
                let mut r = plain(http::StatusCode::SERVICE_UNAVAILABLE, "busy");
                r.headers_mut().insert("x-versa-busy", http::HeaderValue::from_static("1"));
                self.node_header(&mut r);
                r
            }
            Err(e) => {
                let mut r = error(e);
                self.node_header(&mut r);
                r
            }
        }
    }

    /// Adds `x-versa-node: <name>`.
    pub fn node_header(&self, resp: &mut http::Response<Body>) {
        if let Ok(v) = http::HeaderValue::from_str(&self.inner.options.name) {
            resp.headers_mut().insert("x-versa-node", v);
        }
    }
}

impl Duties for Cluster {
    fn leads(&self, name: &str) -> bool {
        let Some(i) = task::ALL.iter().position(|t| *t == name) else { return false };
        !self.fenced()
            && (self.inner.base.elapsed().as_millis() as u64) < self.inner.held_until_ms[i].load(Ordering::Relaxed)
    }

    fn owns(&self, key: &str) -> bool {
        if self.fenced() {
            return false;
        }
        let view = self.nodes();
        let live: Vec<&Peer> = view.iter().filter(|p| p.live).collect();
        hrw::owner_text(live.iter().map(|p| p.id.as_str()), key).is_some_and(|i| live[i].id == self.inner.id)
    }

    fn hosts_dynamodb(&self) -> bool {
        self.is_dynamodb_home()
    }
}

fn plain(status: http::StatusCode, text: &'static str) -> http::Response<Body> {
    let mut r = http::Response::new(Body::from(text));
    *r.status_mut() = status;
    r
}

fn error(e: InvokeError) -> http::Response<Body> {
    let (kind, text) = match e {
        InvokeError::RuntimeUnavailable(m) => ("runtime", m),
        other => ("internal", other.to_string()),
    };
    let mut r = http::Response::new(Body::from(text));
    *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert("x-versa-error", http::HeaderValue::from_static(kind));
    r
}

/// Frees the event claims of `dead` nodes.
fn reap_claims(tx: &mut dyn store::WriteTx, dead: &[String]) -> Result<u64, StoreError> {
    tx.reap_claims(dead)
}

enum Offered {
    Answer(Result<Response, InvokeError>),
    Busy,
    Unreachable,
}

/// What a forwarded invocation carries besides its payload (all signed).
#[derive(Debug, Clone)]
struct Fields {
    time_ms: i64,
    account: AccountId,
    region: Region,
    function: String,
    function_id: i64,
    /// The version the sender resolved (`$LATEST` or a number): the owner runs exactly it.
    version: String,
    invoked_arn: String,
    request_id: String,
    log_tail: bool,
    client_context: Option<String>,
}

impl Fields {
    fn canonical(&self, body_sha: &str) -> String {
        let cc = self.client_context.as_deref().map(|c| base64::engine::general_purpose::STANDARD.encode(c));
        format!(
            "POST\n{INTERNAL_INVOKE_PATH}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{body_sha}",
            self.time_ms,
            self.account.as_str(),
            self.region.as_str(),
            self.function,
            self.function_id,
            self.version,
            self.invoked_arn,
            self.request_id,
            u8::from(self.log_tail),
            cc.unwrap_or_default(),
        )
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("x-versa-time", self.time_ms.to_string()),
            ("x-versa-account", self.account.as_str().to_owned()),
            ("x-versa-region", self.region.as_str().to_owned()),
            ("x-versa-function", self.function.clone()),
            ("x-versa-function-id", self.function_id.to_string()),
            ("x-versa-version", self.version.clone()),
            ("x-versa-invoked-arn", self.invoked_arn.clone()),
            ("x-versa-request-id", self.request_id.clone()),
            ("x-versa-log-tail", u8::from(self.log_tail).to_string()),
        ];
        if let Some(c) = &self.client_context {
            h.push(("x-versa-client-context", base64::engine::general_purpose::STANDARD.encode(c)));
        }
        h
    }

    fn from_headers(h: &http::HeaderMap) -> Option<Fields> {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
        let client_context = match get("x-versa-client-context") {
            Some(c) => Some(String::from_utf8(base64::engine::general_purpose::STANDARD.decode(c).ok()?).ok()?),
            None => None,
        };
        Some(Fields {
            time_ms: get("x-versa-time")?.parse().ok()?,
            account: AccountId::parse(get("x-versa-account")?)?,
            region: Region::parse(get("x-versa-region")?)?,
            function: get("x-versa-function")?.to_owned(),
            function_id: get("x-versa-function-id")?.parse().ok()?,
            version: get("x-versa-version")?.to_owned(),
            invoked_arn: get("x-versa-invoked-arn")?.to_owned(),
            request_id: get("x-versa-request-id")?.to_owned(),
            log_tail: get("x-versa-log-tail")? == "1",
            client_context,
        })
    }
}

impl Placement for Cluster {
    fn forward(&self, target: &Target, request: &Request) -> Option<Forwarding> {
        let (view, key) = self.ranking_input(target)?;
        let live: Vec<&Peer> = view.iter().filter(|p| p.live).collect();
        let order = hrw::ranked(live.iter().map(|p| p.id.as_str()), &key, SPILL_MAX);
        // Up to this node's own place: from there on, it runs here.
        let peers: Vec<Peer> = order.iter().map(|&i| live[i]).take_while(|p| p.id != self.inner.id).cloned().collect();
        self.offer_chain(target, request, peers)
    }

    fn spill(&self, target: &Target, request: &Request) -> Option<Forwarding> {
        let (view, key) = self.ranking_input(target)?;
        let live: Vec<&Peer> = view.iter().filter(|p| p.live).collect();
        let order = hrw::ranked(live.iter().map(|p| p.id.as_str()), &key, SPILL_MAX);
        // The nodes ranked after this one (the ones before it were offered it already).
        let peers: Vec<Peer> =
            order.iter().map(|&i| live[i]).skip_while(|p| p.id != self.inner.id).skip(1).cloned().collect();
        self.offer_chain(target, request, peers)
    }

    fn may_claim(&self) -> bool {
        !self.fenced()
    }

    fn node_id(&self) -> Option<&str> {
        Some(&self.inner.id)
    }

    fn live_nodes(&self) -> usize {
        self.nodes().iter().filter(|p| p.live).count().max(1)
    }
}

impl Cluster {
    /// The live view and the invocation's HRW key; `None` when this node routes nothing
    /// (fenced, or alone).
    fn ranking_input(&self, target: &Target) -> Option<(Arc<Vec<Peer>>, hrw::Key)> {
        if self.fenced() {
            return None;
        }
        let view = self.nodes();
        if view.iter().filter(|p| p.live).count() < 2 {
            return None;
        }
        let key = hrw::Key {
            function_id: target.function_id.0,
            version: match target.version {
                Version::Latest => u32::MAX,
                Version::Published(n) => n,
            },
            revision: if target.version == Version::Latest { target.record.config_rev } else { 0 },
        };
        Some((view, key))
    }

    fn offer_chain(&self, target: &Target, request: &Request, peers: Vec<Peer>) -> Option<Forwarding> {
        if peers.is_empty() {
            return None;
        }
        let fields = Fields {
            time_ms: stdx::time::now_ms(),
            account: target.scope.account.clone(),
            region: target.scope.region.clone(),
            function: target.function_name.clone(),
            function_id: target.function_id.0,
            version: target.version.to_string(),
            invoked_arn: target.invoked_arn.clone(),
            request_id: request.request_id.clone(),
            log_tail: request.log_tail,
            client_context: request.client_context.clone(),
        };
        let timeout = Duration::from_secs(u64::from(target.record.config.timeout_s)) + FORWARD_SLACK;
        let payload = request.payload.clone();
        Some(Box::pin(self.clone().forward_chain(peers, fields, payload, timeout)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_survive_headers_and_the_canonical_string_binds_them() {
        let f = Fields {
            time_ms: 42,
            account: AccountId::parse("123456789012").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            function: "f".into(),
            function_id: 7,
            version: "$LATEST".into(),
            invoked_arn: "arn:aws:lambda:us-east-1:123456789012:function:f:prod".into(),
            request_id: "r".into(),
            log_tail: true,
            client_context: Some("{\"a\":1}".into()),
        };
        let mut h = http::HeaderMap::new();
        for (n, v) in f.headers() {
            h.insert(n, http::HeaderValue::from_str(&v).unwrap());
        }
        let back = Fields::from_headers(&h).unwrap();
        assert_eq!(back.canonical("x"), f.canonical("x"));
        let other = Fields { version: "3".into(), ..f.clone() };
        assert_ne!(other.canonical("x"), f.canonical("x"));
        assert_ne!(f.canonical("y"), f.canonical("x"));
    }
}
