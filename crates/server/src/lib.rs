//! The Versa daemon as a library: [`run`] serves the API on a bound listener until a shutdown
//! future resolves. The `versa` binary only parses flags, binds and calls it; tests call it
//! in-process.

mod alarm_actions;
mod config;
pub mod credentials;
mod esm_sources;
mod s3_bridge;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use control::{Control, Settings};
use store::{SqliteBackend, SqliteOptions, Store};
use tokio::net::TcpListener;

pub use crate::config::{
    Config, DataDir, FAULT_ENV, RUNTIMES_DIR_ENV, STORE_ENV, StoreLocation, TlsFiles, check_backends,
    default_runtimes_dir, fault_from_env,
};
pub use api::AuthMode;

/// Defaults shown in `--help`.
pub mod config_defaults {
    pub const LISTEN: &str = crate::config::DEFAULT_LISTEN;
    pub const REGION: &str = crate::config::DEFAULT_REGION;
}

/// Serves Versa on `listener` until `shutdown` resolves, then finishes in-flight requests and
/// returns. Everything Versa stores lives under `config.data_dir`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Server::open(config).await?.serve(listener, shutdown).await
}

/// A server whose data dir is open and locked, ready to serve.
pub struct Server {
    config: Config,
    control: Arc<Control>,
    engine: Arc<invoke::Engine>,
    logs: logs::Logs,
    s3: s3::S3,
    keys: Arc<control::Keys>,
    /// The root key created by this start (`--auth sigv4`, first start): shown once.
    new_root_key: Option<control::keys::NewKey>,
    /// The API router, once `serve` has built it: what functions reach as `AWS_ENDPOINT_URL`.
    router: Arc<std::sync::OnceLock<axum::Router>>,
    /// The TLS configuration, loaded from `config.tls` when the server opened.
    tls: Option<api::listener::Tls>,
    /// Platform metrics; flushed to the store by a task `serve` starts.
    metrics: metrics::Recorder,
    /// CloudWatch alarms; the evaluator is started by `serve` once the control plane exists.
    alarms: alarms::Alarms,
    /// The CloudWatch API over `metrics`.
    cloudwatch: cloudwatch::CloudWatch,
    /// CodeDeploy and its deployment engine (started by `serve`, after the alarms).
    codedeploy: codedeploy::CodeDeploy,
    /// DynamoDB and DynamoDB Streams, in their own SQLite files under `<data>/dynamodb`.
    dynamodb: dynamodb::DynamoDb,
    /// EventBridge rules and the ticker that fires them and Scheduler's schedules (started by
    /// `serve`, before the event worker).
    eventbridge: eventbridge::EventBridge,
    /// SQS (its retention purge started by `serve`).
    sqs: sqs::Sqs,
    /// API Gateway (REST and HTTP APIs) over the store.
    apigateway: apigateway::ApiGateway,
    /// Held for the server's lifetime: one server per data dir, because the store's single
    /// writer and the startup blob sweep depend on it.
    _lock: std::fs::File,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Reads function code from Versa's S3 for CreateFunction/UpdateFunctionCode.
fn s3_code(s3: s3::S3) -> control::S3CodeFetch {
    Arc::new(move |bucket: String, key: String, _version: Option<String>| {
        let s3 = s3.clone();
        Box::pin(async move {
            let max = model::limits::CODE_SIZE_UNZIPPED_MAX;
            s3.read_object(&bucket, &key, max).await.map_err(|e| match e {
                s3::ReadError::NoSuchBucket => control::S3CodeError::NoSuchBucket,
                s3::ReadError::NoSuchKey => control::S3CodeError::NoSuchKey,
                s3::ReadError::TooLarge { .. } => control::S3CodeError::TooLarge,
                s3::ReadError::Internal => control::S3CodeError::Other("internal error".to_owned()),
            })
        })
    })
}

/// Most connections to Versa's API from inside one function's sandbox (its own listener).
const FUNCTION_API_CONNECTIONS_MAX: usize = 256;

/// Opens (creating and migrating if needed) the store `location` names; `data_dir` holds the
/// default SQLite database. A PostgreSQL URL that is malformed, unreachable or of a newer
/// schema fails here, naming what is wrong, having written nothing.
pub async fn open_store(location: &StoreLocation, data_dir: &std::path::Path) -> anyhow::Result<Store> {
    let backend: Arc<dyn store::Backend> = match location {
        StoreLocation::DataDir => Arc::new(
            SqliteBackend::open(&SqliteOptions { path: data_dir.join("versa.db") }).context("cannot open the store")?,
        ),
        StoreLocation::Sqlite(path) => Arc::new(
            SqliteBackend::open(&SqliteOptions { path: path.clone() })
                .with_context(|| format!("cannot open the store {}", path.display()))?,
        ),
        StoreLocation::Postgres(url) => {
            let options = store::PgOptions::new(url.clone());
            let opened = tokio::task::spawn_blocking(move || store::PgBackend::open(&options)).await?;
            Arc::new(opened.map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL store: {e}"))?)
        }
    };
    Ok(Store::new(backend))
}

/// Opens the log store next to the store `location` names: its own tables in the same
/// PostgreSQL database (so every node's function logs are visible from every node), else its
/// own SQLite file in the data dir.
async fn open_logs(
    location: &StoreLocation,
    data_dir: &std::path::Path,
    limits: logs::LogLimits,
) -> anyhow::Result<logs::Logs> {
    let opened = match location {
        StoreLocation::Postgres(url) => {
            let url = url.clone();
            tokio::task::spawn_blocking(move || logs::Logs::open_postgres(&url, limits)).await?
        }
        StoreLocation::DataDir | StoreLocation::Sqlite(_) => logs::Logs::open(&data_dir.join("logs.db"), limits),
    };
    opened.map_err(|e| anyhow::anyhow!("cannot open the log store: {e}"))
}

/// Longest path of a Unix socket Versa creates (the kernel's limit is 108 bytes).
const SOCKET_PATH_MAX: usize = 100;

impl Server {
    /// Opens (creating if needed) the data dir: takes its lock, opens and migrates the store,
    /// removes code packages nothing references, and finds out how functions can be isolated.
    pub async fn open(mut config: Config) -> anyhow::Result<Server> {
        let shared_store = matches!(config.store, StoreLocation::Postgres(_));
        check_backends(shared_store, config.blobs.as_ref(), config.single_node).map_err(anyhow::Error::msg)?;
        if matches!(config.store, StoreLocation::Postgres(_)) {
            // A shared store: other nodes' claims are theirs; dead nodes' claims are reaped by
            // heartbeat (the cluster), or come back when their lease ends.
            config.events.reap_other_claims_at_start = false;
        }
        let tls = match &config.tls {
            Some(files) => {
                Some(api::listener::Tls::from_pem_files(&files.cert, &files.key).map_err(anyhow::Error::msg)?)
            }
            None => None,
        };
        match sandbox::raise_nofile_limit() {
            Ok(files) => tracing::debug!(files, "open-files limit"),
            Err(e) => tracing::warn!("cannot raise the open-files limit: {e}"),
        }
        // A shared blob store is checked before anything is written: a wrong or unreachable
        // bucket fails the start with nothing created.
        let s3_blobs = match &config.blobs {
            Some(blobs::BlobsUrl::S3(url)) => {
                let credentials = match &config.blobs_credentials {
                    Some((id, secret)) => {
                        blobs::s3::Credentials::Static { access_key_id: id.clone(), secret_access_key: secret.clone() }
                    }
                    None => blobs::s3::Credentials::Environment,
                };
                let s3 = blobs::S3Blobs::open(url, credentials).map_err(anyhow::Error::msg)?;
                s3.check().await.map_err(anyhow::Error::msg)?;
                tracing::info!(blobs = %url, "code packages in an S3 bucket");
                Some(Arc::new(s3))
            }
            _ => None,
        };
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data dir {}", dir.display()))?;
        let lock = std::fs::File::create(dir.join("versa.lock"))?;
        lock.try_lock().map_err(|_| anyhow::anyhow!("the data dir {} is in use by another Versa", dir.display()))?;

        let store = open_store(&config.store, dir).await?;
        let metrics = metrics::Recorder::new(store.clone());
        let alarms = alarms::Alarms::new(store.clone(), metrics.clone());
        let cloudwatch = cloudwatch::CloudWatch::new(store.clone(), metrics.clone()).with_alarms(alarms.clone());
        let keys = Arc::new(credentials::open_keys(dir, store.clone()).await?);
        // `warn` verifies too: it needs the keys `sigv4` has.
        let new_root_key = match (config.auth, &config.root_credentials) {
            (api::AuthMode::Off, _) => None,
            (api::AuthMode::Sigv4 | api::AuthMode::Warn, Some((id, secret))) => {
                keys.ensure_given_root(id, secret).await.map_err(|e| anyhow::anyhow!("the root key: {e}"))?;
                None
            }
            (api::AuthMode::Sigv4 | api::AuthMode::Warn, None) => {
                keys.ensure_root().await.map_err(|e| anyhow::anyhow!("cannot create the root key: {e}"))?
            }
        };
        if config.auth != api::AuthMode::Off {
            credentials::write_file_unless_present(dir, &keys, new_root_key.is_some())?;
        }
        // The S3 service follows the store and the blobs: its metadata in the same database,
        // its object bytes in the same bucket (under `<prefix>/s3`).
        let s3_backends = s3::Backends {
            metadata: match &config.store {
                StoreLocation::Postgres(url) => s3::Metadata::Postgres { url: url.clone() },
                _ => s3::Metadata::Sqlite,
            },
            bytes: match &s3_blobs {
                Some(b) => {
                    let (store, prefix) = b.shared_store("s3");
                    s3::ObjectBytes::ObjectStore { store, prefix }
                }
                None => s3::ObjectBytes::Files,
            },
        };
        let (blobs, code_gc): (Arc<dyn blobs::BlobBackend>, _) = match (s3_blobs, &config.blobs) {
            (Some(s3), _) => (s3, control::CodeGc::Shared { grace: config.blobs_gc_grace }),
            (None, Some(blobs::BlobsUrl::File(path))) => (
                Arc::new(
                    blobs::FsBlobs::open(path)
                        .with_context(|| format!("cannot open the code store {}", path.display()))?,
                ),
                control::CodeGc::Local,
            ),
            (None, _) => (
                Arc::new(blobs::FsBlobs::open(&dir.join("blobs")).context("cannot open the code store")?),
                control::CodeGc::Local,
            ),
        };

        let logs = open_logs(&config.store, dir, config.log_limits).await?;
        let notifier = Arc::new(s3_bridge::LambdaNotifier::default());
        let s3 = s3::S3::open_with(&dir.join("s3"), config.s3_limits.clone(), notifier.clone(), s3_backends)
            .map_err(|e| anyhow::anyhow!("cannot open the S3 storage: {e}"))?;
        let dynamodb = dynamodb::DynamoDb::open(&dir.join("dynamodb"))
            .map_err(|e| anyhow::anyhow!("cannot open the DynamoDB storage: {e}"))?;
        if let Some(fault) = config.fault {
            tracing::warn!(?fault, "a fault is injected ({FAULT_ENV}); for tests only");
            s3.inject_fault(fault);
        }

        // Per-environment sockets need short paths.
        let mut run_dir = dir.join("run");
        if run_dir.join("e0000000000/rt.sock").as_os_str().len() > SOCKET_PATH_MAX {
            run_dir = std::env::temp_dir().join(format!("versa-{}", std::process::id()));
        }
        std::fs::create_dir_all(&run_dir)?;
        let init_program = match &config.init_program {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("cannot find the versa executable")?,
        };
        let wanted = if config.sandbox {
            sandbox::Isolation::Namespaces { network: config.function_network }
        } else {
            sandbox::Isolation::None
        };
        let caps = sandbox::probe(init_program, wanted, &run_dir).await;
        for line in caps.summary() {
            tracing::info!("sandbox {line}");
        }
        for off in &caps.off {
            tracing::warn!("protection off: {off}");
        }
        let router: Arc<std::sync::OnceLock<axum::Router>> = Arc::default();
        let for_functions = router.clone();
        let function_limits =
            api::listener::Limits { connections_max: FUNCTION_API_CONNECTIONS_MAX, ..config.http.clone() };
        let serve_api: invoke::ServeApi = Arc::new(move |listener: std::net::TcpListener| {
            let app = for_functions.get()?.clone();
            listener.set_nonblocking(true).ok()?;
            let listener = TcpListener::from_std(listener).ok()?;
            let limits = function_limits.clone();
            Some(tokio::spawn(api::listener::serve(listener, app, limits, None, std::future::pending())))
        });
        let engine = invoke::Engine::start(
            invoke::EngineConfig {
                run_dir: run_dir.join("envs"),
                code_dir: dir.join("code"),
                runtime_dir: dir.join("runtime"),
                serve_api: Some(serve_api),
                idle_timeout: config.environment_idle_timeout,
                max_environments: config.max_environments,
                interpreter_paths: config.interpreter_paths.clone(),
                interpreter_search: config.interpreter_search,
                sdk: invoke::sdk::RuntimesDir::new(config.runtimes_dir.clone()),
                keys: Some(keys.clone()),
                metrics: Some(metrics.clone()),
            },
            caps,
            blobs.clone(),
            logs.clone(),
        )
        .context("cannot start the invocation engine")?;
        tracing::info!("{}", engine.runtimes().summary());
        let sdk = engine.sdk_status();
        let missing = sdk.missing();
        if missing.is_empty() {
            tracing::info!(
                "AWS SDK in the runtimes: python {}; nodejs {} ({})",
                sdk.python_summary(),
                sdk.node_summary(),
                config.runtimes_dir.display()
            );
        } else {
            tracing::warn!(
                "the AWS SDK is not installed for {} in {}: functions importing boto3 or @aws-sdk/* fail; run \
                 `versa runtimes install`",
                missing.join(" and "),
                config.runtimes_dir.display()
            );
        }
        let checker = engine.clone();
        let settings = Settings {
            account_concurrency: config.account_concurrency,
            runtime_check: Some(Arc::new(move |rt: &str| checker.check_runtime(rt))),
            s3_code: Some(s3_code(s3.clone())),
            queued_events_max: config.queued_events_max,
            queued_event_bytes_max: config.queued_event_bytes_max,
            metrics: Some(metrics.clone()),
            code_gc,
        };
        let control = Arc::new(Control::new(store.clone(), blobs, settings));
        control.set_keys(keys.clone());
        let _ = notifier.control.set(control.clone());
        let codedeploy = codedeploy::CodeDeploy::new(store.clone(), control.clone(), config.deploy_hook_timeout);
        let rate_scale = if config.schedule_seconds { 60 } else { 1 };
        if config.schedule_seconds {
            tracing::warn!(
                "rate() schedules count seconds where they say minutes (--schedule-seconds); for tests only"
            );
        }
        let eventbridge = eventbridge::EventBridge::with_metrics(
            store.clone(),
            control.clone(),
            eventbridge::Options { rate_scale },
            metrics.clone(),
        );
        let sqs = sqs::Sqs::new(store.clone());
        control.set_esm_sources(esm_sources::checks(sqs.clone(), dynamodb.clone()));
        let apigateway = apigateway::ApiGateway::new(store.clone());
        // A crash may have left event source mappings in a transitional state (Creating, Deleting…).
        control.settle_event_source_mappings().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let swept = control.sweep_unreferenced_code().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if swept > 0 {
            tracing::info!(swept, "removed unreferenced code packages");
        }
        Ok(Server {
            config,
            control,
            engine,
            logs,
            s3,
            keys,
            new_root_key,
            router,
            tls,
            metrics,
            cloudwatch,
            codedeploy,
            dynamodb,
            eventbridge,
            sqs,
            apigateway,
            alarms,
            _lock: lock,
        })
    }

    /// The root key this start created (first start with `--auth sigv4`), to show once.
    pub fn new_root_key(&self) -> Option<&control::keys::NewKey> {
        self.new_root_key.as_ref()
    }

    /// The root account's key id and secret, if one exists.
    pub fn root_key(&self) -> Option<(String, String)> {
        self.keys.root_key()
    }

    /// The platform metrics: recording handle and read API.
    pub fn metrics(&self) -> &metrics::Recorder {
        &self.metrics
    }

    /// The CloudWatch alarms engine (what `crates/cloudwatch` calls, and subscribers watch).
    pub fn alarms(&self) -> &alarms::Alarms {
        &self.alarms
    }

    /// SQS: the API's service, and `client()`, the in-process `sqs::QueueClient` pollers use.
    pub fn sqs(&self) -> &sqs::Sqs {
        &self.sqs
    }

    /// Whether requests are verified.
    pub fn auth_mode(&self) -> api::AuthMode {
        self.config.auth
    }

    /// What the sandbox can and cannot do on this host.
    pub fn capabilities(&self) -> &sandbox::Capabilities {
        self.engine.capabilities()
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes in-flight requests and
    /// stops every execution environment.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let listen: SocketAddr = listener.local_addr()?;
        let mut state = api::ApiState::new(
            self.control.clone(),
            self.engine.clone(),
            self.config.region.clone(),
            listen,
            self.s3.clone(),
            self.config.auth,
            self.keys.clone(),
        );
        state.tls = self.tls.is_some();
        state.cloudwatch = Some(self.cloudwatch.clone());
        state.codedeploy = Some(self.codedeploy.clone());
        state.dynamodb = Some(self.dynamodb.clone());
        state.eventbridge = Some(self.eventbridge.clone());
        state.scheduler = Some(scheduler::Scheduler::new(self.eventbridge.clone()));
        state.sqs = Some(self.sqs.clone());
        state.apigateway = Some(self.apigateway.clone());
        state.console = Some(Arc::new(console::Console::new(console::Parts {
            control: self.control.clone(),
            engine: self.engine.clone(),
            keys: self.keys.clone(),
            s3: self.s3.clone(),
            metrics: self.metrics.clone(),
            codedeploy: Some(self.codedeploy.clone()),
            apigateway: Some(self.apigateway.clone()),
            eventbridge: Some(self.eventbridge.clone()),
            region: self.config.region.clone(),
            login: self.config.auth == api::AuthMode::Sigv4,
            error_code: api::aws_error_code,
        })));
        // Code URLs signed by any node download from every node: one key, in the store.
        let code_url_key = cluster::shared_key(self.control.store(), cluster::CODE_URL_KEY_SETTING)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the code URL key: {e}"))?;
        state.set_code_url_key(&code_url_key);
        let node = if self.control.store().shared() {
            let addr = match &self.config.advertise {
                Some(a) => a.clone(),
                None if listen.ip().is_unspecified() => {
                    anyhow::bail!("listening on {listen}: give --advertise, the address other nodes reach this one at")
                }
                None => listen.to_string(),
            };
            let name = self.config.node_name.clone().unwrap_or_else(|| addr.clone());
            // DynamoDB's tables live in one node's files: the first node (or the one the
            // operator names) is their home, and the others forward to it.
            let wanted = self.config.dynamodb_home.clone().unwrap_or_else(|| name.clone());
            let dynamodb_home = cluster::claim_dynamodb_home(self.control.store(), &wanted)
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the DynamoDB home: {e}"))?;
            if self.config.dynamodb_home.as_ref().is_some_and(|w| *w != dynamodb_home) {
                anyhow::bail!(
                    "--dynamodb-home {wanted}: the DynamoDB home is already '{dynamodb_home}' (cluster setting {}); \
                     its tables are in that node's data dir. To move it, stop every node, move that data dir's \
                     dynamodb directory to the new home and update the setting (README, \"Running several nodes\")",
                    cluster::DYNAMODB_HOME_SETTING
                );
            }
            let options = cluster::Options {
                name,
                addr,
                heartbeat: self.config.node_heartbeat,
                dead_after: self.config.node_dead_after,
                dynamodb_home,
            };
            let c = cluster::Cluster::join(self.control.store().clone(), options)
                .await
                .map_err(|e| anyhow::anyhow!("cannot join the cluster: {e}"))?;
            self.engine.set_placement(c.placement());
            self.dynamodb.set_home(Arc::new(c.clone()));
            tracing::info!(home = c.dynamodb_home(), here = c.is_dynamodb_home(), "DynamoDB home");
            tracing::info!(node = c.name(), id = c.id(), "joined the nodes sharing the store");
            Some(c)
        } else {
            None
        };
        state.cluster = node.clone();
        let state = Arc::new(state);
        let app = api::router(state);
        let _ = self.router.set(app.clone());
        // Several nodes: singletons run where their lease is held, SQS mappings on their HRW owner
        // (ARCHITECTURE.md "Several nodes"); one node does everything.
        let duties = node.as_ref().map(cluster::Cluster::duties);
        if let Some(d) = &duties {
            self.alarms.set_duties(d.clone());
            self.codedeploy.set_duties(d.clone());
        }
        // Alarms first: after a restart, overdue alarms are evaluated before anything acts on them.
        let evaluator = self.alarms.start(Arc::new(alarm_actions::LambdaActions { control: self.control.clone() }));
        // Deployments after alarms: the scheduler evaluates a round of alarms before resuming.
        let deployer = self.codedeploy.start(self.alarms.clone());
        // Schedules before the worker: ticks missed while stopped are queued first.
        let ticker = self.eventbridge.start();
        let mut cluster_tasks =
            node.as_ref().map(|c| c.start(self.control.clone(), self.engine.clone())).unwrap_or_default();
        // Several nodes: keys created or deleted elsewhere arrive by notice and refresh.
        cluster_tasks.extend(self.keys.start_sync());
        let mut events = self.config.events.clone();
        if let Some(c) = &node {
            // Claims carry the node's id, so the others' reapers free them if it dies; claims
            // of other ids belong to live nodes or to their reapers.
            events.node_id = c.id().to_owned();
            events.reap_other_claims_at_start = false;
        }
        let sinks = esm_sources::Destinations { queues: self.sqs.client(), buses: self.eventbridge.clone() };
        let worker = invoke::events::start(self.control.clone(), self.engine.clone(), events, Some(Arc::new(sinks)));
        let provisioner = invoke::provisioned::start(self.control.clone(), self.engine.clone());
        // The control plane exists: S3's events left in its outbox can be delivered.
        let outbox = self.s3.start_outbox();
        let ttl = self.dynamodb.start_sweeper();
        let flusher = self.metrics.start_flusher();
        let retention = self.sqs.start_retention();
        let code_collector = self.control.start_code_collector();
        let pollers = invoke::esm::start(
            self.control.clone(),
            self.engine.clone(),
            invoke::esm::Sources {
                queues: Some(Arc::new(esm_sources::Queues(self.sqs.client()))),
                streams: Some(Arc::new(esm_sources::Streams(self.dynamodb.clone()))),
                duties,
            },
        );
        let tls = if self.tls.is_some() { "on" } else { "off" };
        let auth = self.config.auth.as_str();
        tracing::info!(%listen, data_dir = %self.config.data_dir.display(), tls, auth, "serving");
        // Long polls end when the stop begins: the listener waits for requests in flight.
        let sqs = self.sqs.clone();
        let shutdown = async move {
            shutdown.await;
            sqs.stop_long_polls();
        };
        api::listener::serve(listener, app, self.config.http.clone(), self.tls.clone(), shutdown).await;
        for t in &cluster_tasks {
            t.abort();
        }
        for t in cluster_tasks {
            let _ = t.await;
        }
        deployer.abort();
        ticker.abort();
        evaluator.abort();
        worker.abort();
        provisioner.abort();
        outbox.abort();
        ttl.abort();
        retention.abort();
        pollers.abort();
        if let Some(c) = code_collector {
            c.abort();
            let _ = c.await;
        }
        let _ = pollers.await;
        let _ = retention.await;
        let _ = deployer.await;
        let _ = ticker.await;
        let _ = evaluator.await;
        let _ = worker.await;
        let _ = provisioner.await;
        let _ = outbox.await;
        self.engine.shutdown();
        // The others re-home this node's keys at once instead of after the dead interval.
        if let Some(c) = &node {
            c.leave().await;
        }
        // Metrics are not acknowledged writes: a crash loses the last unflushed seconds; a
        // graceful stop keeps them.
        flusher.abort();
        let _ = flusher.await;
        if let Err(e) = self.metrics.flush().await {
            tracing::warn!("cannot flush the metrics: {e}");
        }
        // The stopped environments' last lines are queued; commit them before the store closes.
        if let Err(e) = self.logs.flush().await {
            tracing::warn!("cannot flush the log store: {e}");
        }
        if let Some(cg) = &self.engine.capabilities().cgroup {
            // Give the killed sandboxes a moment to leave their cgroups.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            cg.remove();
        }
        Ok(())
    }
}
