//! Server configuration: flags and environment variables, validated into [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use model::scope::Region;
use sandbox::Network;

/// A validated configuration of [`crate::run`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Versa keeps its database and code packages.
    pub data_dir: PathBuf,
    /// Where the control plane's store is (`--store`): the data dir's `versa.db` by default.
    pub store: StoreLocation,
    /// The region of requests that are not signed (or signed for a region name Lambda does not
    /// accept).
    pub region: Region,
    /// The account concurrency limit reported by GetAccountSettings.
    pub account_concurrency: u32,
    /// The program that runs as sandbox init: the `versa` binary. `None` uses the running
    /// executable (right for the binary itself; tests point at the built binary).
    pub init_program: Option<PathBuf>,
    /// Isolate functions with namespaces when the host allows (`true`), or run them as plain
    /// processes (`false`).
    pub sandbox: bool,
    /// The network functions see: loopback only (Versa's endpoints served in it), or the host's.
    pub function_network: Network,
    /// Idle execution environments are stopped after this long.
    pub environment_idle_timeout: Duration,
    /// Most execution environments alive at once.
    pub max_environments: usize,
    /// Extra places to look for Python and Node.js interpreters (first).
    pub interpreter_paths: Vec<PathBuf>,
    /// Also look in the standard places: `/usr/local/bin`, `/usr/bin`, `PATH`, pyenv, uv and
    /// nvm versions. Off: only `interpreter_paths`.
    pub interpreter_search: bool,
    /// Versa's runtimes directory, where `versa runtimes install` puts the AWS SDKs the
    /// runtimes carry; shared by every data dir.
    pub runtimes_dir: PathBuf,
    /// The asynchronous-invocation worker: retry and throttle delays, concurrency.
    pub events: invoke::events::EventSettings,
    /// Most events and payload bytes the asynchronous queue holds; Event invokes beyond get 429.
    pub queued_events_max: u64,
    pub queued_event_bytes_max: u64,
    /// Bounds of the S3 storage (largest object, parts, pages, XML bodies, ...).
    pub s3_limits: s3::S3Limits,
    /// What the log store keeps at most (per log group, in total, default retention).
    pub log_limits: logs::LogLimits,
    /// Whether requests are verified (`--auth`).
    pub auth: api::AuthMode,
    /// The root key to use instead of a generated one (`VERSA_ROOT_ACCESS_KEY_ID` and
    /// `VERSA_ROOT_SECRET_ACCESS_KEY`): stored at the first start under `--auth sigv4`.
    pub root_credentials: Option<(String, String)>,
    /// A fault injected for crash tests (`VERSA_FAULT`, see [`fault_from_env`]); `None` in
    /// production.
    pub fault: Option<s3::Fault>,
    /// The HTTP server's bounds: connections, header and body timeouts, head size (tests
    /// shorten them; the defaults are `api::listener`'s constants).
    pub http: api::listener::Limits,
    /// Serve HTTPS with this PEM certificate chain and private key (`--tls-cert`, `--tls-key`).
    pub tls: Option<TlsFiles>,
    /// How long a CodeDeploy lifecycle hook has to report its status (AWS: one hour;
    /// `--deploy-hook-timeout`, tests shorten it).
    pub deploy_hook_timeout: Duration,
    /// Count `rate()` schedules in seconds where they say minutes (hours become minutes, days
    /// 24 minutes): the hidden `--schedule-seconds`, for tests that watch ticks.
    pub schedule_seconds: bool,
    /// This node's name when several nodes share the store (`--node-id`); `None`: its address.
    pub node_name: Option<String>,
    /// Where other nodes reach this one (`--advertise`); `None`: the listen address.
    pub advertise: Option<String>,
    /// The node (by `--node-id` name) whose data dir holds the DynamoDB tables
    /// (`--dynamodb-home`); `None`: the first node to start claims it.
    pub dynamodb_home: Option<String>,
    /// Heartbeat interval and dead interval of cluster membership.
    pub node_heartbeat: Duration,
    pub node_dead_after: Duration,
    /// Where code packages live (`--blobs`, `VERSA_BLOBS`); `None`: the data dir's `blobs`
    /// directory.
    pub blobs: Option<blobs::BlobsUrl>,
    /// Keys for `s3://` blobs; `None`: the standard `AWS_*` environment variables (tests give
    /// keys: a test process's environment is not its own to change).
    pub blobs_credentials: Option<(String, String)>,
    /// How long an unreferenced blob of a shared (`s3://`) blob store is kept untouched before
    /// it is collected (the hidden `--blobs-gc-grace-ms`; tests shorten it).
    pub blobs_gc_grace: Duration,
    /// This node is the store's only user (`--single-node`): allows a shared store with
    /// node-local (`file://`) blobs.
    pub single_node: bool,
}

/// Where the store lives: `--store sqlite://PATH` or `--store postgres://…` (env `VERSA_STORE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `versa.db` in the data dir (the default).
    DataDir,
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (a libpq URL), which several nodes may share.
    Postgres(String),
}

/// The variable naming the store (`--store`).
pub const STORE_ENV: &str = "VERSA_STORE";

impl StoreLocation {
    /// Parses a `--store` URL: `sqlite://PATH` (`sqlite:///abs/path` or `sqlite://rel/path`),
    /// `postgres://…` or `postgresql://…`. An error names what is wrong.
    pub fn parse(url: &str) -> Result<StoreLocation, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(format!("--store {url}: the SQLite URL names no file (sqlite:///path/to/versa.db)"));
            }
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(url.to_owned()));
        }
        let shown = url.split('@').next_back().unwrap_or(url);
        Err(format!("--store {shown}: not a store URL; expected sqlite://PATH or postgres://USER@HOST/DB"))
    }
}

/// A PEM certificate chain (leaf first) and its private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            store: StoreLocation::DataDir,
            region: Region::parse(DEFAULT_REGION).expect("the default region is valid"),
            account_concurrency: model::limits::ACCOUNT_CONCURRENCY_DEFAULT,
            init_program: None,
            sandbox: true,
            function_network: Network::Isolated,
            environment_idle_timeout: DEFAULT_ENVIRONMENT_IDLE_TIMEOUT,
            max_environments: DEFAULT_MAX_ENVIRONMENTS,
            interpreter_paths: Vec::new(),
            interpreter_search: true,
            runtimes_dir: default_runtimes_dir(),
            events: invoke::events::EventSettings::default(),
            log_limits: logs::LogLimits::default(),
            s3_limits: s3::S3Limits::default(),
            queued_events_max: control::QUEUED_EVENTS_MAX,
            queued_event_bytes_max: control::QUEUED_EVENT_BYTES_MAX,
            auth: api::AuthMode::Off,
            root_credentials: None,
            fault: None,
            http: api::listener::Limits::default(),
            tls: None,
            deploy_hook_timeout: codedeploy::HOOK_TIMEOUT_DEFAULT,
            schedule_seconds: false,
            node_name: None,
            advertise: None,
            dynamodb_home: None,
            node_heartbeat: cluster::HEARTBEAT_DEFAULT,
            node_dead_after: cluster::DEAD_AFTER_DEFAULT,
            blobs: None,
            blobs_credentials: None,
            blobs_gc_grace: control::CODE_GC_GRACE_DEFAULT,
            single_node: false,
        }
    }
}

/// Refuses a store shared by several nodes (`postgres://`) with node-local (`file://`) blobs:
/// the other nodes could not read the code this one stores. `--single-node` allows it.
pub fn check_backends(store_is_shared: bool, blobs: Option<&blobs::BlobsUrl>, single_node: bool) -> Result<(), String> {
    let file_blobs = !matches!(blobs, Some(blobs::BlobsUrl::S3(_)));
    if store_is_shared && file_blobs && !single_node {
        return Err("a postgres:// store is shared by every node, but file:// blobs are this node's own: use --blobs \
                    s3://BUCKET/PREFIX?endpoint=URL&region=R, or --single-node if this is the only node"
            .to_owned());
    }
    Ok(())
}

/// `$VERSA_RUNTIMES_DIR`, else the per-user default (`$XDG_DATA_HOME/versa/runtimes`, else
/// `~/.local/share/versa/runtimes`): what the server and `versa runtimes install` agree on.
pub fn default_runtimes_dir() -> PathBuf {
    match std::env::var_os(RUNTIMES_DIR_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => invoke::sdk::RuntimesDir::default_path(|k| std::env::var_os(k)),
    }
}

/// The variable naming Versa's runtimes directory (`--runtimes-dir`).
pub const RUNTIMES_DIR_ENV: &str = "VERSA_RUNTIMES_DIR";

/// The environment variable that injects a fault, for crash tests only.
pub const FAULT_ENV: &str = "VERSA_FAULT";

/// The fault `VERSA_FAULT` names: unset or empty → none; `s3-crash-after-commit` → abort the
/// process right after an S3 write that has events commits, before the events are delivered.
/// Any other value is an error, so that a misspelt fault does not run a test without it.
pub fn fault_from_env() -> Result<Option<s3::Fault>, String> {
    match std::env::var(FAULT_ENV).unwrap_or_default().as_str() {
        "" => Ok(None),
        "s3-crash-after-commit" => Ok(Some(s3::Fault::CrashAfterCommit)),
        other => Err(format!("{FAULT_ENV}={other} is not a known fault (known: s3-crash-after-commit)")),
    }
}

pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ENVIRONMENT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_MAX_ENVIRONMENTS: usize = 128;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4566";

/// Where the data lives: a directory that persists, or a temporary one removed at exit.
#[derive(Debug)]
pub enum DataDir {
    Persistent(PathBuf),
    Ephemeral(tempfile::TempDir),
}

impl DataDir {
    pub fn path(&self) -> PathBuf {
        match self {
            DataDir::Persistent(p) => p.clone(),
            DataDir::Ephemeral(t) => t.path().to_owned(),
        }
    }

    /// The per-user default: `$XDG_DATA_HOME/versa`, else `~/.local/share/versa`, else
    /// `./versa-data`.
    pub fn default_path() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("versa");
        }
        if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            return PathBuf::from(h).join(".local/share/versa");
        }
        PathBuf::from("versa-data")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_store_needs_shared_blobs_unless_single_node() {
        let s3 = blobs::BlobsUrl::parse("s3://bucket/p?endpoint=http://127.0.0.1:9000").unwrap();
        let file = blobs::BlobsUrl::parse("file:///var/lib/versa/blobs").unwrap();
        assert!(check_backends(true, Some(&s3), false).is_ok());
        let err = check_backends(true, Some(&file), false).unwrap_err();
        assert!(err.contains("postgres://") && err.contains("--single-node"), "{err}");
        assert!(check_backends(true, None, false).is_err(), "the default is file blobs");
        assert!(check_backends(true, Some(&file), true).is_ok());
        assert!(check_backends(false, None, false).is_ok());
        assert!(check_backends(false, Some(&s3), false).is_ok());
    }
}
